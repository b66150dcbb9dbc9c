"""The SQLite client (`caremap.sqlite`): reads outside a transaction run beside an open one
and never wait for it, while a transaction still reads its own writes; writers of every process
take turns through the lock file."""

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from caremap.sqlite import Lookups, SqliteWithReader, WriterLock, reads_only
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


def test_lookups_by_index_are_answered_here_and_scans_are_not(tmp_path: Path):
    path = str(tmp_path / "lookups.sqlite3")
    with contextlib.closing(sqlite3.connect(path)) as setup:
        setup.executescript(
            "CREATE TABLE place (id INTEGER PRIMARY KEY, zip TEXT, name TEXT);"
            "CREATE INDEX place_zip ON place (zip);"
            "INSERT INTO place (zip, name) VALUES ('60623', 'Pantry'), ('60608', 'Clinic');"
        )
    lookups = Lookups(path)
    try:
        by_id = lookups.answer('SELECT "name" FROM "place" WHERE "id" = ?', [2])
        assert by_id is not None
        assert [row["name"] for row in by_id] == ["Clinic"]
        by_zip = lookups.answer('SELECT "name" FROM "place" WHERE "zip" IN (?, ?)', ["60623", "1"])
        assert by_zip is not None
        assert [row["name"] for row in by_zip] == ["Pantry"]
        assert lookups.answer('SELECT "name" FROM "place" WHERE "name" = ?', ["Pantry"]) is None
        assert lookups.answer('SELECT COUNT(*) FROM "place"', []) is None
        with pytest.raises(sqlite3.OperationalError):  # read-only, whatever it is given
            lookups.answer('DELETE FROM "place" WHERE "id" = ?', [1])
    finally:
        lookups.close()


async def test_a_lookup_beside_an_open_transaction_sees_only_what_is_committed(app):
    """A read by id is answered on the loop's thread by a connection of its own (`Lookups`):
    like the reader's, it must see each commit at once and nothing uncommitted."""
    organization = await factories.organization(name="Committed Pantry")
    renamed = asyncio.Event()
    finish = asyncio.Event()

    async def writer() -> None:
        async with in_transaction():
            await Organization.filter(id=organization.id).update(name="Renamed Pantry")
            renamed.set()
            await finish.wait()

    task = asyncio.create_task(writer())
    try:
        await asyncio.wait_for(renamed.wait(), 5)
        outside = await asyncio.wait_for(Organization.get(id=organization.id), 2)
        assert outside.name == "Committed Pantry"
    finally:
        finish.set()
        await asyncio.wait_for(task, 5)
    assert (await Organization.get(id=organization.id)).name == "Renamed Pantry"


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


# Two WriterLocks on one path open the file twice, and flock treats two open files as two
# processes would: one waits for the other.


async def test_writers_take_turns_through_the_lock_file(tmp_path: Path):
    path = str(tmp_path / "db-writer.lock")
    first, second = WriterLock(path), WriterLock(path)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    first.release()
    await asyncio.wait_for(waiting, 2)
    assert not first.locked()
    with pytest.raises(sqlite3.OperationalError):  # now the first one waits
        await WriterLock(path, timeout=0.05).acquire()
    second.release()
    async with asyncio.timeout(2), first:
        pass
    first.close()
    second.close()


async def test_a_writer_gives_up_after_its_timeout_with_sqlites_own_error(tmp_path: Path):
    path = str(tmp_path / "db-writer.lock")
    holder, impatient = WriterLock(path), WriterLock(path, timeout=0.05)
    async with holder:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await impatient.acquire()
        assert not impatient.locked()  # its process's other tasks are not shut out
    async with asyncio.timeout(2), impatient:
        pass
    holder.close()
    impatient.close()


async def test_a_writer_cancelled_while_waiting_holds_nothing(tmp_path: Path):
    path = str(tmp_path / "db-writer.lock")
    holder, cancelled = WriterLock(path), WriterLock(path)
    await holder.acquire()
    waiting = asyncio.create_task(cancelled.acquire())
    await asyncio.sleep(0.02)
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    assert not cancelled.locked()
    holder.release()
    async with asyncio.timeout(2), holder:  # the cancelled one did not take it after all
        pass
    holder.close()
    cancelled.close()


async def test_a_transaction_holds_the_lock_every_process_writes_through(app):
    client = connections.get("default")
    other_process = WriterLock(f"{client.filename}-writer.lock", timeout=0.05)
    async with in_transaction():
        await factories.organization(name="Locked Pantry")
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await other_process.acquire()
    async with asyncio.timeout(2), other_process:
        pass
    other_process.close()


async def test_a_transaction_begins_even_where_the_connection_was_left_inside_one(app):
    async with connections.get("default").acquire_connection() as connection:
        await connection.execute("BEGIN")  # as a failed COMMIT could leave it
    async with in_transaction():
        await factories.organization(name="After a leftover")
    assert await Organization.filter(name="After a leftover").exists()


async def test_a_transaction_cancelled_while_it_begins_or_commits_gives_the_lock_back(app):
    """Cancelled after each number of event-loop turns in turn, so some cancellations land
    between taking the writer lock and the end of BEGIN, and some while COMMIT runs in its
    thread: the lock must not be given back before the connection is out of the transaction."""
    client = connections.get("default")

    async def write() -> None:
        async with in_transaction():
            await factories.organization(name="Cancelled Pantry")

    for turns in range(12):
        task = asyncio.create_task(write())
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        other_process = WriterLock(f"{client.filename}-writer.lock", timeout=2)
        async with other_process:  # raises "database is locked" if the lock was kept
            pass
        other_process.close()
        async with client.acquire_connection() as connection:
            assert not connection.in_transaction  # no BEGIN was left open either
    async with asyncio.timeout(5), in_transaction():
        await factories.organization(name="After the cancellations")
    assert await Organization.filter(name="After the cancellations").exists()


async def test_a_transaction_runs_from_begin_to_commit_without_giving_the_event_loop_away(app):
    """Its statements run on the loop's thread: no other task runs while it holds the lock
    every process writes through, except during COMMIT, which waits for the disk."""
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    try:
        async with in_transaction():
            before = turns
            for number in range(5):
                await factories.organization(name=f"Pantry {number}")
            during = turns - before
    finally:
        counter.cancel()
    assert during == 0
    assert await Organization.filter(name__startswith="Pantry ").count() == 5


async def test_a_commit_does_not_wait_behind_the_event_loops_shared_threads(app):
    """Geocoder calls run on the loop's shared threads and can take seconds; a transaction
    committing there would hold the writer lock of every process meanwhile."""
    loop = asyncio.get_running_loop()
    release = threading.Event()
    blockers = [loop.run_in_executor(None, release.wait) for _ in range(40)]  # over the pool
    loop.call_later(10, release.set)
    try:
        async with in_transaction():
            await factories.organization(name="Not behind the geocoder")
        assert not release.is_set()  # committed while every shared thread was still busy
    finally:
        release.set()
        await asyncio.gather(*blockers)
    assert await Organization.filter(name="Not behind the geocoder").exists()
