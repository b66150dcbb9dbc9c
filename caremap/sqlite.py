"""The SQLite client the app uses: Tortoise's own, plus a second connection for reads.

Tortoise gives a process one SQLite connection, and a transaction holds it until it commits:
across every await inside it, including a wait in SQLite's busy handler for another process's
write lock. Every query from every other request of the process queued behind that, so under
the load mix a service page often waited hundreds of milliseconds for somebody's referral.

WAL lets readers run beside a writer. So this client answers a SELECT made outside a
transaction on a read-only connection of its own, which never waits for the writer's lock, and
sends everything else to Tortoise's connection as before. Inside a transaction Tortoise uses
its transaction wrapper, not this client, so a transaction still reads its own writes. A read
outside a transaction starts after every earlier write of the process has committed, so it
sees them. PostgreSQL needs none of this: its pool gives each transaction its own connection.
"""

import asyncio
import sqlite3
from collections.abc import Sequence

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient, translate_exceptions


def reads_only(query: str) -> bool:
    """Whether a statement only reads. Tortoise writes its queries upper-case; anything else,
    a PRAGMA or a WITH, say, goes to the writer, which can run everything."""
    return query.lstrip().startswith("SELECT")


class SqliteWithReader(SqliteClient):
    def __init__(self, file_path: str, **kwargs: object) -> None:
        super().__init__(file_path, **kwargs)
        self._reader: aiosqlite.Connection | None = None
        self._reader_opening = asyncio.Lock()

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
        await super().close()

    @translate_exceptions
    async def _read(self, query: str, values: list | None) -> list[sqlite3.Row]:
        reader = self._reader or await self._open_reader()
        self.log.debug("%s: %s", query, values)
        return await reader.execute_fetchall(query.replace("\x00", "'||CHAR(0)||'"), values)

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
