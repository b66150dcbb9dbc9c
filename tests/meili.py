"""A Meilisearch server this test starts, stops, kills and restarts itself, for the fault tests.

`MEILI_BIN` names a Meilisearch binary (built from Meilisearch's public source; see the README).
Each server gets a free loopback port and its own database folder, kept across restarts, so a
restart finds what was indexed before it stopped.
"""

import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx

from tests.processes import answered
from tests.smtp import free_port

MEILI_BIN = os.environ.get("MEILI_BIN")
MASTER_KEY = "caremap-fault-test-master-key-0123456789"


class MeiliServer:
    def __init__(self, folder: Path) -> None:
        assert MEILI_BIN is not None
        self.folder = folder
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [MEILI_BIN, "--http-addr", f"127.0.0.1:{self.port}", "--master-key", MASTER_KEY,
             "--db-path", str(self.folder / "data.ms"), "--dump-dir", str(self.folder / "dumps"),
             "--no-analytics", "--log-level", "WARN"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not answered(self._answers, seconds=60, pause=0.1):
            self.kill()
            raise RuntimeError("Meilisearch did not start")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        """A clean stop (SIGTERM): Meilisearch finishes what it must and exits."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """No chance to clean up (SIGKILL), as a crash or an out-of-memory kill."""
        self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> None:
        if self._process is not None:
            self._process.send_signal(how)
            self._process.wait(timeout=30)
            self._process = None
        answered(self._port_free, seconds=10)  # so a restart can take it again

    def _port_free(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) != 0
