"""A search world: the real app with the embedded backend, or Meilisearch when MEILI_URL is set.

Every contract test runs against each backend; the Meilisearch run is skipped, saying why, when
no server is configured.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.datastructures import Secret

from caremap.app import create_app
from caremap.settings import Settings
from search_index.models import SearchOutbox
from tests.conftest import asgi_client
from tests.meili import MASTER_KEY, MEILI_BIN, MeiliServer

MEILI_URL = os.environ.get("MEILI_URL")
MEILI_KEY = os.environ.get("MEILI_KEY") or os.environ.get("MEILI_MASTER_KEY")


def backend_settings(settings: Settings, backend: str) -> Settings:
    if backend == "embedded":
        return settings
    if not MEILI_URL:
        pytest.skip("MEILI_URL is not set: no Meilisearch server to test against")
    return replace(
        settings,
        search_backend="meilisearch",
        meili_url=MEILI_URL,
        meili_key=Secret(MEILI_KEY) if MEILI_KEY else None,
        search_index_prefix=f"caremap_test_{uuid.uuid4().hex[:10]}",
    )


@pytest_asyncio.fixture(
    params=["embedded", pytest.param("meilisearch", marks=pytest.mark.meilisearch)]
)
async def search_app(request, settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(backend_settings(settings, request.param))
    async with LifespanManager(application):
        yield application
        if request.param == "meilisearch":
            backend = application.state.search_backend
            await backend.client.delete_index_if_exists(backend.uid)
            await backend.client.delete_index_if_exists(f"{backend.uid}_rebuild")


@pytest.fixture
def meili_server(tmp_path) -> Iterator[MeiliServer]:
    """A Meilisearch of this test's own, to stop, kill and restart (`MEILI_BIN`)."""
    if MEILI_BIN is None:
        pytest.skip("MEILI_BIN is not set: no Meilisearch binary to start and stop")
    server = MeiliServer(tmp_path / "meili")
    server.start()
    yield server
    server.kill()


def meili_settings(settings: Settings, server: MeiliServer, **changes: object) -> Settings:
    return replace(
        settings,
        search_backend="meilisearch",
        meili_url=server.url,
        meili_key=Secret(MASTER_KEY),
        search_index_prefix="caremap_faults",
        **changes,
    )


@pytest_asyncio.fixture
async def search_client(search_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(search_app) as http:
        yield http


async def indexed() -> None:
    """Wait (up to 20 s) until the in-process drainer has emptied the outbox."""
    async with asyncio.timeout(20):
        while await SearchOutbox.all().count():  # noqa: ASYNC110 (polls another task's work)
            await asyncio.sleep(0.05)
