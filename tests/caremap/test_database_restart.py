"""PostgreSQL restarted under load: requests fail cleanly and the app recovers by itself.

The real app (`caremap serve`) runs in its own process with the demo data while client threads
keep reading and writing. The test stops the PostgreSQL server, waits, and starts it again.
While it is down every answer must be a 503 naming the problem (never a 500, a hang or a
dropped connection); once it is back the same app process must answer 200 again.

It restarts the machine's PostgreSQL server, so it runs only on PostgreSQL, as root, with the
Debian cluster tools (as CI does).
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ON_POSTGRES
from tests.processes import api_token, caremap, signed_in, wait_until_serving
from tests.smtp import free_port

CLIENTS = 6
PG_ISREADY = shutil.which("pg_isready") or "pg_isready"
PG_CTLCLUSTER = shutil.which("pg_ctlcluster") or "pg_ctlcluster"
PASSWORD = "restart-test-password-1"

pytestmark = pytest.mark.skipif(
    not (ON_POSTGRES and shutil.which("pg_ctlcluster") and os.geteuid() == 0),
    reason="restarts the local PostgreSQL server: needs PostgreSQL, root and pg_ctlcluster",
)


def _cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])
    command = [PG_CTLCLUSTER, "--skip-systemctl-redirect", version[-1], "main", action]
    if action == "stop":
        command += ["-m", "fast"]  # end the open connections now, as a crash or failover would
    subprocess.run(command, check=True, timeout=60)


def _wait_for_postgres() -> None:
    for _ in range(60):
        ready = subprocess.run([PG_ISREADY, "-q", "-h", "127.0.0.1", "-p", "5432"], check=False)
        if ready.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


@dataclass
class Answers:
    """What the clients saw: (monotonic time, status or the transport error's name)."""

    seen: list[tuple[float, int | str]] = field(default_factory=list)
    bodies: dict[int, dict] = field(default_factory=dict)  # one body per status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, response: httpx.Response | None, error: str | None = None) -> None:
        with self.lock:
            if response is None:
                self.seen.append((time.monotonic(), error or "error"))
                return
            self.seen.append((time.monotonic(), response.status_code))
            if response.status_code not in self.bodies:
                body = response.json() if "json" in response.headers["content-type"] else {}
                self.bodies[response.status_code] = {**body, **response.headers}

    def between(self, start: float, end: float) -> list[int | str]:
        with self.lock:
            return [status for at, status in self.seen if start <= at < end]


def _client(url: str, token: str, service_id: str, answers: Answers, stop: threading.Event):
    """Reads (the catalog, one listing) and writes ("still accurate") in turn, as a partner."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=15, headers=headers) as client:
        requests = [
            ("GET", "/api/services?per_page=5"),
            ("GET", f"/api/services/{service_id}"),
            ("POST", f"/api/services/{service_id}/verify"),
        ]
        turn = 0
        while not stop.is_set():
            method, path = requests[turn % len(requests)]
            turn += 1
            try:
                answers.add(client.request(method, path))
            except httpx.TransportError as error:
                answers.add(None, type(error).__name__)
            time.sleep(0.02)


def test_the_app_survives_a_database_restart(cli_env, tmp_path: Path) -> None:
    env = {**cli_env, "MAIL_DRAINER": "external", "SEARCH_DRAINER": "external"}
    assert caremap("seed", env=env).returncode == 0
    organization = "Pilsen Community Pantry"
    added = caremap(
        "user", "add", "--email", "restart@example.org", "--name", "Restart", "--role",
        "partner", "--organization", organization, "--password", PASSWORD, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "caremap.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    answers = Answers()
    try:
        wait_until_serving(url, server)
        token = api_token(url, "restart@example.org", PASSWORD)
        with signed_in(url, "restart@example.org", PASSWORD) as setup:
            partner = setup.get("/api/auth/me").json()["organization_id"]
            listings = setup.get("/api/services", params={"organization_id": partner}).json()
            service_id = listings["contents"][0]["id"]
        clients = [
            threading.Thread(target=_client, args=(url, token, service_id, answers, stop))
            for _ in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        time.sleep(2)
        stopping = time.monotonic()
        _cluster("stop")
        down = time.monotonic()
        # A load balancer asking this node sees it cannot serve without its database.
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 503
        time.sleep(3)
        starting = time.monotonic()
        _cluster("start")
        _wait_for_postgres()
        back = time.monotonic()
        time.sleep(5)
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
        end = time.monotonic()
        assert server.poll() is None, "the app process ended"
        after = httpx.get(f"{url}/api/services/{service_id}")
    finally:
        stop.set()
        _wait_for_postgres()  # whatever happened, leave the server running for the next tests
        server.terminate()
        server.wait(timeout=30)
        log.close()

    before = answers.between(0, stopping)
    outage = answers.between(down, starting)
    recovered = answers.between(back + 2, end)
    every = answers.between(0, end)
    assert before
    assert set(before) == {200}
    assert outage
    assert set(outage) == {503}, f"while the database was down: {sorted(set(outage), key=str)}"
    assert answers.bodies[503]["error"] == "database_unavailable"
    assert answers.bodies[503]["retry-after"] == "5"
    assert recovered
    assert set(recovered) == {200}, f"after it came back: {sorted(set(recovered), key=str)}"
    assert set(every) <= {200, 503}, "every answer is a success or a clean 503"
    assert after.status_code == 200
