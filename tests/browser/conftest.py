"""Browser tests: the real app served by `caremap serve` on loopback, driven in Debian's
chromium through Playwright (the system executable; no browser download).

Each test gets its own copy of a database loaded once with the demo data by `caremap seed`
(SQLite or PostgreSQL), and its own server process. Screenshots of each page go to
`test-artifacts/screenshots/` (CI keeps them as artifacts).
"""

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from tests.conftest import copy_of
from tests.processes import caremap, exited
from tests.smtp import SmtpServer, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PASSWORD = "browser test password 1"

pytestmark = pytest.mark.browser


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]

    def caremap(self, *args: str) -> str:
        done = caremap(*args, env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest_asyncio.fixture
async def live_server(
    demo_database: str, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[LiveServer]:
    """The demo, served; its mail goes to a real SMTP server on loopback (`smtp_server`)."""
    async with copy_of(demo_database, tmp_path) as database_url:
        async for server in _serve(database_url, tmp_path, smtp_server):
            yield server


async def _serve(
    database_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[LiveServer]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CAREMAP_DATA_DIR": str(tmp_path / "server"),
        "SECRET_KEY": "browser-test-secret-key",
        "BASE_URL": f"http://127.0.0.1:{port}",
        "MAIL_DRAINER": "external",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "LOG_LEVEL": "WARNING",
    }
    server = LiveServer(f"http://127.0.0.1:{port}", env)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "caremap.cli", "serve", "--port", str(port), env=env
    )
    try:
        async with httpx.AsyncClient(base_url=server.url) as client, asyncio.timeout(60):
            while True:  # up, and the search index built from the demo data
                try:
                    found = await client.get("/api/search", params={"q": "food"})
                    if found.status_code == 200 and found.json()["total"] > 0:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        yield server
    finally:
        process.terminate()
        await exited(process)


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def page(browser: Browser, request) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="en-US")
    opened = await context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    await context.close()


async def snapshot(page: Page, name: str) -> None:
    """A picture of the page for people to look at (an artifact, not a check). Chromium now and
    then cannot capture a whole tall page while the machine is busy ("Unable to capture
    screenshot"); then it is taken again, and at last of the viewport only."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = str(ARTIFACTS / f"{name}.png")
    for attempt in range(3):
        try:
            await page.screenshot(path=path, full_page=attempt < 2)
            return
        except PlaywrightError:
            if attempt == 2:
                raise
            await page.wait_for_timeout(500)


async def assert_accessible(page: Page) -> None:
    """axe-core (WCAG 2.2 A and AA rules) finds nothing on the page as it is now."""
    results = await Axe().run(
        page, options={"runOnly": {"type": "tag", "values": WCAG}, "resultTypes": ["violations"]}
    )
    assert results.violations_count == 0, results.generate_report()
