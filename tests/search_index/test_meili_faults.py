"""Meilisearch's faults, against a real Meilisearch this test starts and stops (`MEILI_BIN`):
stopped during writes, killed mid-drain and restarted, a task that fails on a document, and a
reindex built aside and swapped in while searches run."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.datastructures import Secret

from caremap.app import create_app
from directory.geocoding import Geocoder
from directory.models import Service
from search_index.backend import SearchUnavailable
from search_index.documents import all_documents
from search_index.models import SearchOutbox
from search_index.outbox import Drainer
from search_index.query import BackendQuery
from seeds.load import load_catalog
from tests.meili import MASTER_KEY
from tests.processes import caremap
from tests.search_index.conftest import meili_settings

pytestmark = pytest.mark.meilisearch

EVERYTHING = BackendQuery(words=[], limit=1)


async def _public() -> int:
    return await Service.filter(status__in=["active", "temporarily closed"]).count()


async def _due_now() -> None:
    """The backoff has passed (tests do not wait minutes for it)."""
    await SearchOutbox.all().update(available_at=datetime.now(UTC) - timedelta(seconds=1))


async def test_stopped_during_writes_the_outbox_keeps_the_rows_and_catches_up(
    settings, meili_server
):
    app = create_app(meili_settings(settings, meili_server, search_drainer="external"))
    async with LifespanManager(app):
        backend = app.state.search_backend
        drainer = Drainer(backend, batch_size=40)
        await drainer.ensure_open()  # (a new index queues the whole catalog once)
        await load_catalog(geocoder=Geocoder())
        queued = await SearchOutbox.all().count()
        assert await drainer.drain_once() == 40  # some were indexed...
        meili_server.stop()  # ...then the engine went away during the writes
        with pytest.raises(SearchUnavailable):
            await drainer.drain_once()
        waiting = await SearchOutbox.all()
        assert len(waiting) == queued - 40  # nothing lost
        assert max(row.attempts for row in waiting) == 1
        assert all(row.claimed_until is None for row in waiting)

        meili_server.start()
        await _due_now()
        await drainer.drain_all()
        assert await SearchOutbox.all().count() == 0
        assert (await backend.search(EVERYTHING)).total == await _public() >= 150


async def test_killed_mid_drain_and_restarted_nothing_is_lost(settings, meili_server):
    app = create_app(meili_settings(settings, meili_server, search_drainer="external"))
    async with LifespanManager(app):
        backend = app.state.search_backend
        await load_catalog(geocoder=Geocoder())
        stop = asyncio.Event()
        running = asyncio.create_task(Drainer(backend, batch_size=50, poll_seconds=0.1).run(stop))
        queued = await SearchOutbox.all().count()
        async with asyncio.timeout(60):
            while await SearchOutbox.all().count() > queued - 200:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await asyncio.to_thread(meili_server.kill)  # mid-drain, no chance to finish
        await asyncio.sleep(1)  # the drainer meets the dead engine and backs off
        assert await SearchOutbox.all().count() > 0
        await asyncio.to_thread(meili_server.start)
        async with asyncio.timeout(120):
            while await SearchOutbox.all().count():
                await _due_now()
                await asyncio.sleep(0.2)
        stop.set()
        await running
        assert (await backend.search(EVERYTHING)).total == await _public()


async def test_failed_tasks_lose_nothing_and_a_reindex_heals_the_index(settings, meili_server):
    """Someone recreated the live index by hand with another primary key: every write task
    fails (Meilisearch refuses the documents). The drainer tries each listing of the batch on
    its own, each waits with its backoff and Meilisearch's error, nothing is dropped, and
    `reindex` (built aside with the right key, swapped in) lets the outbox catch up."""
    app = create_app(meili_settings(settings, meili_server, search_drainer="external"))
    async with LifespanManager(app):
        backend = app.state.search_backend
        await backend.client.delete_index_if_exists(backend.uid)
        await backend.client.create_index(backend.uid, primary_key="service_id")  # (waits)
        await load_catalog(geocoder=Geocoder())
        drainer = Drainer(backend, batch_size=30)
        await drainer.ensure_open()  # (an empty index queues the whole catalog once)
        queued = await SearchOutbox.all().count()

        assert await drainer.drain_once() == 0  # every task failed...
        waiting = await SearchOutbox.all()
        assert len(waiting) == queued  # ...and nothing was dropped
        tried = [row for row in waiting if row.attempts]
        assert len(tried) == 30
        assert all("index_primary_key_already_exists" in row.last_error for row in tried)
        assert all(row.available_at > datetime.now(UTC) for row in tried)  # each backs off

        assert await backend.rebuild(all_documents(batch_size=100)) > 0
        await _due_now()
        await drainer.drain_all()
        assert await SearchOutbox.all().count() == 0
        assert (await backend.search(EVERYTHING)).total == await _public()


async def test_a_reindex_is_built_aside_and_swapped_in_whole(settings, meili_server):
    """While `reindex` fills the index aside batch by batch, every search still sees the whole
    live index; after Meilisearch's index swap, every search sees the whole new one."""
    app = create_app(meili_settings(settings, meili_server, search_drainer="external"))
    async with LifespanManager(app):
        backend = app.state.search_backend
        await load_catalog(geocoder=Geocoder())
        await Drainer(backend).drain_all()
        public = await _public()
        assert (await backend.search(EVERYTHING)).total == public
        await Service.filter(id=(await Service.first()).id).update(status="inactive")

        async def slow_batches():
            async for batch in all_documents(batch_size=20):
                await asyncio.sleep(0.05)
                yield batch

        seen: list[int] = []
        rebuilding = asyncio.create_task(backend.rebuild(slow_batches()))
        while not rebuilding.done():
            seen.append((await backend.search(EVERYTHING)).total)
            await asyncio.sleep(0.02)
        await rebuilding
        assert len(seen) > 5  # searches ran throughout the rebuild
        assert set(seen) <= {public, public - 1}  # the old whole or the new whole, never half
        assert (await backend.search(EVERYTHING)).total == public - 1
        indexes = [index.uid for index in await backend.client.get_indexes()]
        assert indexes == [backend.uid]  # the one built aside is gone


async def test_the_app_runs_on_its_own_key_not_the_master_key(settings, meili_server, cli_env):
    """`caremap search key` makes (once) a key for caremap's indexes and actions only; the app
    and workers index, search and swap a rebuilt index in with it, and it opens nothing else."""
    env = {**cli_env, "MEILI_URL": meili_server.url, "MEILI_MASTER_KEY": MASTER_KEY,
           "SEARCH_INDEX_PREFIX": "caremap_faults"}  # fmt: skip
    first, again = caremap("search", "key", env=env), caremap("search", "key", env=env)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key == again.stdout.strip() != MASTER_KEY

    own = replace(meili_settings(settings, meili_server, search_drainer="external"),
                  meili_key=Secret(key))  # fmt: skip
    app = create_app(own)
    async with LifespanManager(app):
        backend = app.state.search_backend
        await load_catalog(geocoder=Geocoder())
        await Drainer(backend).drain_all()
        assert (await backend.search(EVERYTHING)).total == await _public()
        assert await backend.rebuild(all_documents(batch_size=100)) > 0
        assert (await backend.search(EVERYTHING)).total == await _public()
    async with httpx.AsyncClient(
        base_url=meili_server.url, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        assert (await client.get("/keys")).status_code == 403
        assert (await client.post("/indexes", json={"uid": "someone_else"})).status_code == 403


async def test_a_worker_starting_again_does_not_rewrite_settings_the_index_has(
    settings, meili_server
):
    """A settings task makes Meilisearch re-read every document (seconds on a large index), so
    opening an index that already has caremap's settings queues none; one that lost a setting
    gets them back."""
    app = create_app(meili_settings(settings, meili_server, search_drainer="external"))
    async with LifespanManager(app):
        backend = app.state.search_backend
        client = backend.client
        before = (await client.get_tasks(types=["settingsUpdate"])).total
        await backend.open()
        assert (await client.get_tasks(types=["settingsUpdate"])).total == before
        index = client.index(backend.uid)
        await client.wait_for_task((await index.reset_synonyms()).task_uid)
        await backend.open()
        assert (await client.get_tasks(types=["settingsUpdate"])).total == before + 2
        assert await index.get_synonyms()  # back
