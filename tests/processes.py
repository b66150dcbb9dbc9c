"""caremap's own command line, run as the separate processes an operator would start."""

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx


def clean_env(data_dir: Path) -> dict[str, str]:
    """This process's environment without caremap's own settings, and a data folder."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DATABASE_", "CAREMAP_", "SEARCH_", "SMTP_", "GEOCODER", "MAIL_", "RATE_LIMIT_")
        )
    }
    env["CAREMAP_DATA_DIR"] = str(data_dir)
    return env


def caremap(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run one `caremap` command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "caremap.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def exited(process: asyncio.subprocess.Process, seconds: float = 30) -> int:
    """Wait for a process told to stop; one still running after `seconds` is killed and the
    test fails, rather than the whole run waiting on it forever."""
    try:
        return await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the process did not exit within {seconds} s") from None


def answered(check: Callable[[], bool], seconds: float, pause: float = 0.05) -> bool:
    """Whether `check` (a server that was just started answering) came true within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(pause)
    return False


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    """Wait for `/healthz` to answer 200; fail early if the server process has ended."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, f"the server ended with {process.returncode}"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


@contextlib.contextmanager
def signed_in(url: str, email: str, password: str) -> Iterator[httpx.Client]:
    """A client of the running server, signed in with a session cookie, closed afterwards."""
    with httpx.Client(base_url=url, timeout=30) as client:
        response = client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        yield client


def api_token(url: str, email: str, password: str) -> str:
    """A new API token of that user, from the running server."""
    with signed_in(url, email, password) as client:
        created = client.post("/api/tokens", json={"name": "tests"})
    assert created.status_code == 201, created.text
    return created.json()["token"]
