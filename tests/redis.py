"""A real Redis server on loopback (Debian's `redis-server`), for the limits shared by nodes.

Started per test on a free port with nothing saved to disk; it can be stopped and started
again on the same port (an outage).
"""

import shutil
import socket
import subprocess

from tests.processes import answered
from tests.smtp import free_port

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    def __init__(self) -> None:
        assert REDIS_SERVER is not None
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        if not answered(self._answers, seconds=10):
            self.stop()
            raise RuntimeError("redis-server did not start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
