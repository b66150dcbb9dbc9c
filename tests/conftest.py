"""Test set-up: a real database per test (SQLite or PostgreSQL) and the real app on top of it.

`CAREMAP_TEST_DATABASE` picks the database: unset or `sqlite` for SQLite files, or a PostgreSQL
URL such as `postgres://postgres@127.0.0.1:5432/test` (that database is used only to create and
drop one fresh database per test). The schema is built once per run by the real migrations into
a template, and every test gets its own copy: a file copy on SQLite; on PostgreSQL a database
created from the template once and then reset to the template's rows after each test, which
costs a few milliseconds where creating and dropping a database costs half a second.
"""

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.datastructures import Secret

from caremap import db
from caremap.app import create_app
from caremap.settings import Settings, normalize_database_url
from tests import hsds
from tests.processes import caremap, clean_env
from tests.redis import REDIS_SERVER, RedisServer
from tests.smtp import SmtpServer

TEST_DATABASE = normalize_database_url(os.environ.get("CAREMAP_TEST_DATABASE", "sqlite"))
ON_POSTGRES = TEST_DATABASE.startswith("postgres://")


def pytest_report_header() -> list[str]:
    return [
        f"caremap test database: {'PostgreSQL' if ON_POSTGRES else 'SQLite'}",
        f"official HSDS 3.0 files: {hsds.ROOT if hsds.AVAILABLE else 'absent, ' + hsds.MISSING}",
    ]


def pytest_configure(config: pytest.Config) -> None:
    """CI must validate against the official HSDS files, never skip those tests silently."""
    if hsds.REQUIRED and not hsds.AVAILABLE:
        raise pytest.UsageError(f"CAREMAP_REQUIRE_HSDS is set, but {hsds.MISSING}")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(TEST_DATABASE)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def base_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=Secret("test-secret-key-not-for-production"),
        base_url="http://testserver",
        mail_drainer="external",  # tests that send mail start an SMTP server and ask for it
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The migrated, empty schema that every test's database is copied from."""
    if ON_POSTGRES:
        name = f"caremap_template_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{name}"')
        url = _with_database(TEST_DATABASE, name)
        await db.upgrade(base_settings(tmp_path_factory.mktemp("template"), url))
        yield name
        await _drop_idle_copies()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        await db.upgrade(base_settings(path.parent, f"sqlite://{path}"))
        yield str(path)


@dataclass
class Snapshot:
    """A PostgreSQL database's rows and sequence positions, to put back after each test."""

    tables: list[str]
    rows: dict[str, list[asyncpg.Record]]
    sequences: list[tuple[str, int, bool]]

    @classmethod
    async def of(cls, connection: asyncpg.Connection) -> "Snapshot":
        tables = [
            row["tablename"]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        rows = {t: await connection.fetch(f'SELECT * FROM "{t}"') for t in tables}  # noqa: S608
        sequences = [
            (f'"{row["sequencename"]}"', row["last_value"] or 1, row["last_value"] is not None)
            for row in await connection.fetch(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            )
        ]
        return cls(tables, {t: r for t, r in rows.items() if r}, sequences)

    async def restore(self, connection: asyncpg.Connection) -> None:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        async with connection.transaction():
            # The rows go back in any order, so foreign keys are not checked meanwhile.
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute("; ".join(f'DELETE FROM "{t}"' for t in self.tables))  # noqa: S608
            for table, rows in self.rows.items():
                await connection.copy_records_to_table(
                    table, records=rows, columns=list(rows[0].keys())
                )
            for sequence, value, called in self.sequences:
                await connection.execute("SELECT setval($1, $2, $3)", sequence, value, called)


_snapshots: dict[str, Snapshot] = {}  # by source database
_idle: dict[str, list[str]] = {}  # by source database: copies reset and ready for a test


async def _connect(name: str) -> asyncpg.Connection:
    return await asyncpg.connect(_with_database(TEST_DATABASE, name))


async def _drop_idle_copies() -> None:
    for copies in _idle.values():
        while copies:
            await _admin(f'DROP DATABASE IF EXISTS "{copies.pop()}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def copy_of(source: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with `source`'s contents (a PostgreSQL database name or a SQLite file), for
    one test; yields its URL. PostgreSQL copies are reset to `source` afterwards and reused."""
    if not ON_POSTGRES:
        path = tmp_path / "caremap.sqlite3"
        shutil.copyfile(source, path)
        yield f"sqlite://{path}"
        return
    if source not in _snapshots:
        connection = await _connect(source)
        try:
            _snapshots[source] = await Snapshot.of(connection)
        finally:
            await connection.close()
    idle = _idle.setdefault(source, [])
    if idle:
        name = idle.pop()
    else:
        name = f"caremap_test_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    yield _with_database(TEST_DATABASE, name)
    connection = await _connect(name)
    try:
        await _snapshots[source].restore(connection)
    except asyncpg.PostgresError:  # a test that changed the schema: this copy is not reused
        await connection.close()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        await connection.close()
        idle.append(name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def demo_database(
    template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """The demo data, loaded once with `caremap seed`, for the tests that serve the demo to copy
    (`copy_of`) instead of loading it again each time (seconds a test)."""
    folder = tmp_path_factory.mktemp("demo")
    if ON_POSTGRES:
        source = f"caremap_demo_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{source}" TEMPLATE "{template_database}"')
        url = _with_database(TEST_DATABASE, source)
    else:
        source = str(folder / "demo.sqlite3")
        shutil.copyfile(template_database, source)
        url = f"sqlite://{source}"
    seeded = await asyncio.to_thread(
        caremap, "seed", env={**clean_env(folder / "data"), "DATABASE_URL": url}
    )
    assert seeded.returncode == 0, seeded.stderr
    yield source
    if ON_POSTGRES:
        await _admin(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)')


@pytest_asyncio.fixture
async def database_url(template_database: str, tmp_path: Path) -> AsyncIterator[str]:
    async with copy_of(template_database, tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return base_settings(tmp_path, database_url)


@pytest_asyncio.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The real app with its lifespan running (database connected, taxonomy present)."""
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def asgi_client(app: Starlette, base_url: str = "http://testserver") -> httpx.AsyncClient:
    """An HTTP client that calls the app in-process (its lifespan must already be running)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest_asyncio.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment for running `caremap` commands against this test's database."""
    env = clean_env(tmp_path / "data")
    if ON_POSTGRES:
        env["DATABASE_URL"] = database_url
    return env


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server on a free loopback port (Debian's redis-server; .ci/run installs it)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port, collecting what it receives."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def app_with(settings: Settings, **changes: object) -> Starlette:
    return create_app(replace(settings, **changes))
