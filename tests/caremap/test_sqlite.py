"""The SQLite client's read connection (`caremap.sqlite`): reads outside a transaction run
beside an open one and never wait for it, while a transaction still reads its own writes."""

import asyncio
import contextlib
import threading
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from caremap.sqlite import SqliteWithReader, reads_only
from directory.models import Organization
from tests import factories
from tests.conftest import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL's pool needs no read connection")


async def test_the_app_reads_a_sqlite_file_through_the_read_connection(app):
    assert isinstance(connections.get("default"), SqliteWithReader)


async def test_a_read_runs_beside_an_open_transaction_and_sees_only_what_is_committed(app):
    before = await Organization.all().count()
    written = asyncio.Event()
    finish = asyncio.Event()
    seen_inside: list[int] = []

    async def writer() -> None:
        async with in_transaction():
            await factories.organization(name="Uncommitted Pantry")
            seen_inside.append(await Organization.all().count())
            written.set()
            await finish.wait()  # holds the transaction, as a write waiting for a lock would

    task = asyncio.create_task(writer())
    try:
        await asyncio.wait_for(written.wait(), 5)
        # Tortoise's one connection is held by the transaction: this read must not queue
        # behind it.
        outside = await asyncio.wait_for(Organization.all().count(), 2)
        assert outside == before
        assert not await Organization.filter(name="Uncommitted Pantry").exists()
        assert seen_inside == [before + 1]
    finally:  # a failure above must not leave the transaction holding the connection
        finish.set()
        await asyncio.wait_for(task, 5)
    assert await Organization.filter(name="Uncommitted Pantry").exists()


async def test_a_write_outside_a_transaction_is_seen_by_the_next_read(app):
    organization = await factories.organization(name="Before")
    await Organization.filter(id=organization.id).update(name="After")
    assert (await Organization.get(id=organization.id)).name == "After"
    await Organization.filter(id=organization.id).delete()
    assert not await Organization.filter(id=organization.id).exists()


def _connection_threads() -> set[threading.Thread]:
    """aiosqlite's worker threads: one a connection, until it is closed."""
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


async def test_a_read_cancelled_while_opening_leaves_no_connection_behind(tmp_path: Path):
    """A request or a drainer cancelled during its first read must not leave the read
    connection open: its thread would keep the process from ever exiting."""
    before = _connection_threads()
    for delay_ms in range(40):  # cancelled at every point of opening, from before to after
        client = SqliteWithReader(str(tmp_path / "cancel.sqlite3"), connection_name="default")
        read = asyncio.create_task(client.execute_query("SELECT 1"))
        await asyncio.sleep(delay_ms / 4000)
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read
        await client.close()
    async with asyncio.timeout(5):
        while _connection_threads() - before:  # noqa: ASYNC110 (threads, not tasks)
            await asyncio.sleep(0.01)


def test_only_selects_go_to_the_read_connection():
    assert reads_only('SELECT "id" FROM "organization"')
    assert reads_only("  SELECT 1")
    assert not reads_only('UPDATE "organization" SET "name"=?')
    assert not reads_only("PRAGMA index_list('organization')")
    assert not reads_only("WITH x AS (SELECT 1) DELETE FROM organization")
