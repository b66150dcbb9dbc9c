"""A Meilisearch server this test starts, stops, kills and restarts itself, for the fault tests.

`MEILI_BIN` names a Meilisearch binary (built from Meilisearch's public source; see the README).
Each server gets a free loopback port and its own database folder, kept across restarts, so a
restart finds what was indexed before it stopped.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("Meilisearch did not start")

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
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the port is free again for a restart
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)
