"""The SQLite client the app uses: Tortoise's own, plus a connection for reads and a writer
connection that runs on the event loop's thread.

Tortoise gives a process one SQLite connection, and a transaction holds it until it commits:
across every await inside it, including a wait in SQLite's busy handler for another process's
write lock. Every query from every other request of the process queued behind that, so under
the load mix a service page often waited hundreds of milliseconds for somebody's referral.

WAL lets readers run beside a writer. So this client answers a SELECT made outside a
transaction on a read-only connection of its own, which never waits for the writer's lock, and
sends everything else to Tortoise's connection as before. A SELECT that SQLite answers through
indexes alone (its plan scans no table) runs at once on the event loop's thread; one that scans
goes to the reader's thread, so a report's long scan never stops the loop (`Lookups`).
Inside a transaction Tortoise uses its transaction wrapper, not this client, so a transaction
still reads its own writes. A read
outside a transaction starts after every earlier write of the process has committed, so it
sees them. PostgreSQL needs none of this: its pool gives each transaction its own connection.

Writers of several processes (uvicorn's workers, `caremap worker`) take turns through a lock
file beside the database (`WriterLock`) before they touch Tortoise's connection. SQLite's own
busy handler would also make them take turns, but a writer it turns away sleeps in steps of up
to 100 ms, holding its connection, however soon the lock is free: under the load mix those
sleeps, not the writes, used up the lock's time, and writes queued for seconds.

The writer's statements run on the event loop's own thread (`InlineConnection`), so a
transaction holds that lock only as long as its own work takes, not that work plus a wait in
the event loop's queue after each statement.
"""

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import aiosqlite
from cachetools import LRUCache
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
    translate_exceptions,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError


def reads_only(query: str) -> bool:
    """Whether a statement only reads. Tortoise writes its queries upper-case; anything else,
    a PRAGMA or a WITH, say, goes to the writer, which can run everything."""
    return query.lstrip().startswith("SELECT")


class WriterLock:
    """asyncio.Lock's interface over one lock for every process using a database file.

    A task first takes its process's own asyncio lock, so at most one task of a process waits
    for the file, then takes an exclusive flock on `path`, asking again every millisecond: a
    free lock is taken within about a millisecond of its release, and a task cancelled while
    it waits simply stops asking. The kernel drops the flock of a process that dies. Waiting
    longer than `timeout` raises SQLite's own "database is locked", as its busy handler would.
    """

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self._path = path
        self._timeout = timeout
        self._local = asyncio.Lock()
        self._fd: int | None = None

    def locked(self) -> bool:
        return self._local.locked()

    async def acquire(self) -> bool:
        await self._local.acquire()
        try:
            await self._lock_file()
        except BaseException:
            self._local.release()
            raise
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def close(self) -> None:
        """Closing the file also drops its lock. Only while no task holds it."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    async def _lock_file(self) -> None:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
            await asyncio.sleep(0.001)


class InlineConnection:
    """The writer connection: the part of aiosqlite's interface Tortoise uses, run at once on
    the calling thread rather than on a thread of the connection's own.

    A write holds the lock every process writes through from BEGIN to COMMIT. Through aiosqlite
    each statement went to its thread and came back through the event loop, and under load each
    return waited behind whatever the loop ran meanwhile (a page render, a search): at 80 writes
    a second each write held the lock about 12 ms, and the writers of every process queued. Run
    here, SQLite answers each of our statements in microseconds, and a transaction goes from
    BEGIN to COMMIT without giving the loop away.

    Only COMMIT goes to a thread: its fsync (0.4 ms, sometimes over 1 ms, on the load machine)
    and, every thousand pages written, a checkpoint (5 to 10 ms) would stop the loop. The thread
    is the connection's own, not the loop's shared ones, where a commit holding the lock could
    wait behind geocoder calls that take seconds. A single write outside a transaction commits
    where it runs, on the loop; those are few (an audit entry of a read, a session). The loop
    also waits in SQLite's busy handler (`timeout`) if a program that does not take
    `WriterLock`, the sqlite3 shell say, holds the write lock.
    """

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        # Any thread may close it; only one task uses it at a time (Tortoise's lock).
        self._conn = sqlite3.connect(
            path, isolation_level=None, timeout=timeout, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row  # Tortoise reads rows by column name
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes

    async def execute(self, sql: str, parameters: Sequence | None = None) -> None:
        """Unlike aiosqlite's, returns no cursor: Tortoise only ever closed it."""
        self._conn.execute(sql, parameters or ()).close()

    async def execute_fetchall(self, sql: str, parameters: Sequence | None = None) -> list:
        return self._conn.execute(sql, parameters or ()).fetchall()

    async def execute_insert(self, sql: str, parameters: Sequence | None = None) -> tuple:
        """Like aiosqlite's: the new row's rowid, in a row of one."""
        return (self._conn.execute(sql, parameters or ()).lastrowid,)

    async def executemany(self, sql: str, parameters: Sequence) -> None:
        self._conn.executemany(sql, parameters)

    async def executescript(self, sql: str) -> None:
        self._conn.executescript(sql)

    async def commit(self) -> None:
        """In a thread (see above). A caller cancelled meanwhile still waits for the commit to
        end: the lock it then gives back must not be taken while the connection commits."""
        committing = asyncio.get_running_loop().run_in_executor(self._committer, self._conn.commit)
        try:
            await asyncio.shield(committing)
        except asyncio.CancelledError:
            await committing
            raise

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._committer.shutdown()  # after a commit still running, if any
        self._conn.close()


class _Transaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        """Tortoise commits before every BEGIN in case the connection was left inside a
        transaction. It almost never is, and that trip through the event loop is made holding
        the writer lock, so here it is made only when needed."""
        try:
            if self._connection.in_transaction:
                await self._connection.commit()
            await self._connection.execute("BEGIN")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class _TransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> SqliteTransactionWrapper:
        """Tortoise's, except that a failure or cancellation between taking the writer lock
        and BEGIN gives the lock back. Tortoise's would keep it, and every writer of every
        process would then wait on it until that process exits."""
        await self._trxlock.acquire()
        token = None
        try:
            await self.ensure_connection()
            token = self.token = get_connections().set(self.connection_name, self.connection)
            await self.connection.begin()
        except BaseException:
            if token is not None:
                get_connections().reset(token)
            # Shielded, so that a second cancellation cannot stop it halfway; the first error
            # is the one to report.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._abandon())
            raise
        return self.connection

    async def _abandon(self) -> None:
        """Undoes a BEGIN that may have run though its caller stopped waiting for it (the
        connection's thread runs what it was given), then frees the lock."""
        try:
            if self.connection._connection is not None:
                await self.connection._connection.rollback()
        finally:
            self._trxlock.release()


class Lookups:
    """Read-only statements answered on the calling thread when SQLite finds their rows through
    indexes: a service page's nine queries by id, a session, an inbox's page.

    Through aiosqlite's thread each statement cost about 120 us of CPU in the hand-over alone
    (a queue, a future, waking the loop), against 6 us to run it here: a service page spent
    about 1 ms of its 5 in hand-overs. Whether a statement only looks rows up is SQLite's own
    answer (EXPLAIN QUERY PLAN: no SCAN step), asked once per statement text, which Tortoise
    writes with placeholders, so the answers stay few.
    """

    KEPT = 2048  # statement texts whose plans are remembered; a bound, not a tuning

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA query_only=ON")
        self._plans: LRUCache[str, bool] = LRUCache(self.KEPT)

    def answer(self, query: str, values: Sequence | None) -> list[sqlite3.Row] | None:
        """The rows, if `query` only looks rows up; None for the reader's thread."""
        indexed = self._plans.get(query)
        if indexed is None:
            plan = self._conn.execute(f"EXPLAIN QUERY PLAN {query}", values or ()).fetchall()
            indexed = self._plans[query] = not any(
                str(step["detail"]).startswith("SCAN") for step in plan
            )
        return self._conn.execute(query, values or ()).fetchall() if indexed else None

    def close(self) -> None:
        self._conn.close()


class SqliteWithReader(SqliteClient):
    def __init__(self, file_path: str, **kwargs: object) -> None:
        super().__init__(file_path, **kwargs)
        # Tortoise takes this lock for every use of its connection: transactions and single
        # statements alike.
        self._lock = WriterLock(f"{file_path}-writer.lock")  # type: ignore[assignment]
        self._reader: aiosqlite.Connection | None = None
        self._reader_opening = asyncio.Lock()
        self._lookups: Lookups | None = None

    async def create_connection(self, with_db: bool) -> None:
        """Tortoise's, with `InlineConnection` in place of aiosqlite's."""
        if self._connection is None:
            connection = InlineConnection(self.filename)
            for pragma, value in self.pragmas.items():
                await connection.execute(f"PRAGMA {pragma}={value}")
            self._connection = connection  # type: ignore[assignment]
            await self._post_connect()

    async def _open_reader(self) -> aiosqlite.Connection:
        async with self._reader_opening:
            if self._reader is None:
                reader = await aiosqlite.connect(self.filename, isolation_level=None)
                # Held from here, before the next await: if this task is cancelled while the
                # pragma runs, close() still closes it. A connection nobody closes keeps its
                # thread, and that thread keeps the process from exiting.
                self._reader = reader
                reader._conn.row_factory = sqlite3.Row
                await reader.execute("PRAGMA query_only=ON")
        return self._reader

    async def close(self) -> None:
        async with self._reader_opening:  # not while another task is opening it
            reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        lookups, self._lookups = self._lookups, None
        if lookups is not None:
            lookups.close()
        await super().close()
        self._lock.close()  # type: ignore[attr-defined]

    def _in_transaction(self) -> TransactionContext:
        return _TransactionContext(_Transaction(self), self._lock)

    @translate_exceptions
    async def _read(self, query: str, values: list | None) -> list[sqlite3.Row]:
        self.log.debug("%s: %s", query, values)
        query = query.replace("\x00", "'||CHAR(0)||'")
        if self._lookups is None:
            await self._open_reader()  # first: it makes the database file if there is none
            self._lookups = self._lookups or Lookups(self.filename)
        rows = self._lookups.answer(query, values)
        if rows is not None:
            return rows
        reader = self._reader or await self._open_reader()
        return await reader.execute_fetchall(query, values)

    async def execute_query(
        self, query: str, values: list | None = None
    ) -> tuple[int, Sequence[dict]]:
        if not reads_only(query):
            return await super().execute_query(query, values)
        rows = await self._read(query, values)
        return len(rows), rows

    async def execute_query_dict(self, query: str, values: list | None = None) -> list[dict]:
        if not reads_only(query):
            return await super().execute_query_dict(query, values)
        return list(map(dict, await self._read(query, values)))


client_class = SqliteWithReader  # what Tortoise looks for in an engine module
