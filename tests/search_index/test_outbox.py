"""The outbox: no update is lost when the search engine is down or the worker is killed."""

import asyncio
import signal
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from caremap.search import backend_for
from directory import service
from directory.actor import SYSTEM
from directory.models import Service
from search_index.backend import SearchUnavailable
from search_index.documents import all_documents
from search_index.embedded import EmbeddedBackend
from search_index.models import SearchOutbox
from search_index.outbox import Drainer
from search_index.query import BackendQuery
from tests import factories
from tests.conftest import app_with, asgi_client
from tests.processes import exited


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def test_search_engine_down_loses_nothing(settings, tmp_path):
    down = app_with(
        settings,
        search_backend="meilisearch",
        meili_url=closed_port_url(),
        search_drainer="external",
    )
    async with (
        LifespanManager(down),
        asgi_client(down) as client,
    ):
        organization = await factories.organization()
        await factories.login(client, await factories.user(organization, "partner"))
        created = await client.post("/api/services", json=factories.service_data())
        assert created.status_code == 201  # the catalog write does not wait for search
        searched = await client.get("/api/search", params={"q": "pantry"})
        assert searched.status_code == 503
        assert searched.json()["error"] == "unavailable"

        unreachable = Drainer(down.state.search_backend)
        with pytest.raises(SearchUnavailable):
            await unreachable.drain_once()
        [row] = await SearchOutbox.all()
        assert row.attempts == 1
        assert row.available_at > datetime.now(UTC)  # backing off
        assert row.claimed_until is None

        # The engine is back (here: the embedded one) and the backoff has passed.
        await SearchOutbox.all().update(available_at=datetime.now(UTC) - timedelta(seconds=1))
        working = backend_for(settings, writer=True)
        await Drainer(working).drain_all()
        assert await SearchOutbox.all().count() == 0
        found = await working.search(BackendQuery(words=["pantry"]))
        assert [hit.document["name"] for hit in found.hits] == ["Weekly Grocery Pantry"]
        await working.close()


async def _outbox_count() -> int:
    return await SearchOutbox.all().count()


async def _caremap(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "caremap.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_killed_worker_loses_no_update(settings, cli_env, tmp_path: Path):
    env = {**cli_env, "OUTBOX_BATCH_SIZE": "10", "OUTBOX_CLAIM_SECONDS": "2"}
    seeding = await _caremap("seed", env=env)
    _out, errors = await seeding.communicate()
    assert seeding.returncode == 0, errors
    data_dir = Path(env["CAREMAP_DATA_DIR"])
    local = app_with(
        settings,
        search_drainer="external",
        data_dir=data_dir,
        database_url=settings.database_url
        if "DATABASE_URL" in env
        else f"sqlite://{data_dir / 'caremap.sqlite3'}",
    )
    async with LifespanManager(local):
        queued = await _outbox_count()
        assert queued > 100
        worker = await _caremap("worker", env=env)
        try:
            async with asyncio.timeout(60):
                while await _outbox_count() >= queued:  # noqa: ASYNC110 (another process)
                    await asyncio.sleep(0.02)
        finally:
            worker.send_signal(signal.SIGKILL)  # mid-drain: no chance to clean up
            await exited(worker)
        left = await _outbox_count()
        assert 0 < left < queued

        restarted = await _caremap("worker", env=env)
        try:
            async with asyncio.timeout(90):
                while await _outbox_count():  # noqa: ASYNC110 (another process)
                    await asyncio.sleep(0.1)
        finally:
            restarted.terminate()
            await exited(restarted)
        assert restarted.returncode == 0  # stops cleanly on SIGTERM

        reader = EmbeddedBackend(data_dir / "search", writer=False)
        await reader.open()
        found = await reader.search(BackendQuery(words=[], limit=1))
        public = await Service.filter(status__in=["active", "temporarily closed"]).count()
        assert found.total == public >= 150


async def test_reindex_builds_aside_and_swaps(app, settings):
    organization = await factories.organization()
    for number in range(3):
        await factories.listing(organization, name=f"Pantry {number}")
    backend = app.state.search_backend
    before = (backend.root / "CURRENT").read_text()

    assert await backend.rebuild(all_documents(batch_size=2)) == 3
    after = (backend.root / "CURRENT").read_text()
    assert after != before
    assert not (backend.root / before).exists()
    found = await backend.search(BackendQuery(words=["pantry"]))
    assert found.total == 3
    await service.create_service(
        actor=SYSTEM,
        data=factories.service_data(
            name="Pantry after the swap", organization_id=str(organization.id)
        ),
    )
    async with asyncio.timeout(10):
        while (await backend.search(BackendQuery(words=["swap"]))).total == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_reader_forgets_kept_searches_when_the_index_changes(app):
    """Another process's reader keeps what its searches decided; a commit by the writer must
    reach it all the same, and no caller's answer may change another's."""
    organization = await factories.organization()
    for number in range(3):
        await factories.listing(organization, name=f"Pantry {number}")
    async with asyncio.timeout(30):  # the app's drainer is done: no later write undoes ours
        while await _outbox_count():  # noqa: ASYNC110 (the drainer is another task)
            await asyncio.sleep(0.05)
    writer = app.state.search_backend
    reader = EmbeddedBackend(writer.root, writer=False)
    await reader.open()
    query = BackendQuery(words=["pantry"])

    first = await reader.search(query)
    assert first.total == 3
    name, categories = first.hits[0].document["name"], dict(first.facets["categories"])
    first.hits[0].document["name"] = "changed by a caller"
    first.facets["categories"].clear()
    again = await reader.search(query)
    assert again.hits[0].document["name"] == name
    assert again.facets["categories"] == categories != {}

    gone = first.hits[0].document["service_id"]
    await writer.apply([], [gone])
    assert (await writer.search(query)).total == 2  # the writer sees its own commit at once
    async with asyncio.timeout(5):
        while (await reader.search(query)).total != 2:  # noqa: ASYNC110 (polls the files)
            await asyncio.sleep(0.05)
    assert gone not in {hit.document["service_id"] for hit in (await reader.search(query)).hits}


async def test_an_index_of_an_older_schema_is_rebuilt(tmp_path):
    root = tmp_path / "search"
    (root / "index-1700000000000").mkdir(parents=True)
    (root / "CURRENT").write_text("index-1700000000000")
    reader = EmbeddedBackend(root, writer=False)
    assert await reader.open() is False
    with pytest.raises(SearchUnavailable):
        await reader.search(BackendQuery(words=["pantry"]))
    writer = EmbeddedBackend(root, writer=True)
    assert await writer.open() is True  # new and empty: the drainer refills it from the catalog
    assert (await writer.search(BackendQuery(words=["pantry"]))).total == 0
    await writer.rebuild(_no_batches())
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [(root / "CURRENT").read_text()]


async def _no_batches():
    for batch in ([],):
        yield batch
