"""Database set-up: the Tortoise configuration, schema migrations and the reference data.

The same code runs on SQLite (the embedded default) and PostgreSQL (production). The schema
only changes through the checked-in migrations in `caremap/migrations` (Tortoise's own migration
framework, whose operations are database-neutral, so one migration history serves both).
"""

import asyncio
import os
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import DBConnectionError
from tortoise.indexes import Index
from tortoise.migrations.api.migrate import migrate
from tortoise.models import Model

from caremap.settings import Settings
from directory.models import Organization
from directory.service import sync_taxonomy

MODEL_MODULES = [
    "directory.models",
    "search_index.models",
    "referrals.models",
    "caremap.accounts.models",
]
APP_LABEL = "models"

# What a query raises when the database cannot be reached: refused or dropped connections, a
# server shutting down or starting up, no connection slots left. Requests answer these with 503.
# asyncpg's InternalClientError is here because a connection the server dropped mid-query fails
# that way when the pool resets it ("another operation is in progress"), as the restart test saw.
UNREACHABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InternalClientError,
)


def unreachable(error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached, itself or as what it was raised
    while handling (a rollback on a connection the server already closed, say)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, UNREACHABLE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "caremap.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def config_for_another_process(database_url: str) -> dict[str, Any] | None:
    """The config a second process connects to the same database with (an import checks its
    next parts in one); None for an in-memory database, which only this process sees."""
    if database_url.startswith("sqlite://") and _sqlite_path(database_url) is None:
        return None
    return tortoise_config(database_url)


def _connection(database_url: str) -> str | dict[str, Any]:
    """A SQLite file gets the client with a connection for reads beside transactions
    (`caremap.sqlite`); an in-memory database cannot have two connections to it."""
    if _sqlite_path(database_url) is None:
        return database_url
    return {**expand_db_url(database_url), "engine": "caremap.sqlite"}


def _sqlite_path(database_url: str) -> Path | None:
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://")
    return None if path == ":memory:" else Path(path)


class DatabaseSettingError(Exception):
    """`DATABASE_URL` names a database that cannot be used; the message says why."""


def prepare_sqlite_file(settings: Settings) -> None:
    """The SQLite file, readable by its owner only (it holds families' details), like the
    secret key: created so, and an older file (with its WAL and shared-memory files, which
    SQLite creates with the database's own permissions) tightened.

    Only the data folder (`CAREMAP_DATA_DIR`) is created when missing: a database elsewhere
    must be in a folder that exists, so a mistyped path is an error, not a new empty database.
    """
    path = _sqlite_path(settings.database_url)
    if path is None:
        return
    folder = path.parent
    if not folder.exists() and folder.resolve() == settings.data_dir.resolve():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not folder.is_dir():
        raise DatabaseSettingError(f"DATABASE_URL: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseSettingError(f"DATABASE_URL: the folder {folder} is not writable")
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if companion.exists():
                companion.chmod(0o600)
    except OSError as error:
        raise DatabaseSettingError(f"DATABASE_URL: cannot open {path} ({error.strerror})") from None


async def upgrade(settings: Settings) -> None:
    """Bring the schema to the latest migration and refresh the reference data (idempotent)."""
    prepare_sqlite_file(settings)
    config = tortoise_config(settings.database_url)
    try:
        await migrate(config=config)
    finally:
        await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        if settings.is_sqlite:
            await _restore_sqlite_indexes()
        await sync_taxonomy()
    finally:
        await Tortoise.close_connections()


def declared_indexes(model: type[Model]) -> list[tuple[str, ...]]:
    """The columns of every non-unique index a model declares (db_index, foreign keys, Meta)."""
    meta = model._meta

    def column(name: str) -> str:
        return meta.fields_map[name].source_field or name

    found = [
        (column(name),)
        for name, field in meta.fields_map.items()
        if getattr(field, "index", False)
        and not field.pk
        and not field.unique
        and name in meta.fields_db_projection
    ]
    for index in meta.indexes:
        names = index.fields if isinstance(index, Index) else index
        found.append(tuple(column(name) for name in names))
    return found


async def _restore_sqlite_indexes() -> None:
    """Put back indexes that Tortoise's SQLite migrations drop.

    To add or alter a column, Tortoise rebuilds a SQLite table and loses its indexes on the way
    (PostgreSQL alters in place and keeps them). This creates, if missing, every index the
    models declare; it is idempotent and runs after each upgrade.
    """
    connection = connections.get("default")
    for model in Tortoise.apps[APP_LABEL].values():
        table = model._meta.db_table
        existing = set()
        for index in (await connection.execute_query(f'PRAGMA index_list("{table}")'))[1]:
            info = (await connection.execute_query(f'PRAGMA index_info("{index["name"]}")'))[1]
            existing.add(tuple(row["name"] for row in sorted(info, key=lambda r: r["seqno"])))
        for columns in declared_indexes(model):
            if columns in existing:
                continue
            quoted = ", ".join(f'"{c}"' for c in columns)
            name = f"idx_{table}_{'_'.join(columns)}"
            await connection.execute_script(f'CREATE INDEX "{name}" ON "{table}" ({quoted})')


# SQLite's page cache for a command that writes hundreds of thousands of rows (KiB; SQLite's own
# is 2 MB). An import inserts into indexes keyed by random UUIDs, so each row touches pages all
# over them: at 100,000 services, 64 MB took its writes from 92 to 78 s and 128 MB to 71 s. 64 MB,
# since the import's second process (`directory.hsds_parts`) shares its memory budget: with 128 MB
# the two held 525 to 550 MB together, with 64 MB 453 MB.
BULK_WRITE_CACHE_KIB = 65_536


async def for_bulk_writes() -> None:
    """Give this process's SQLite writer a page cache fit for a bulk write (an import). The
    cache is memory the process holds until it ends, so only such commands ask for it;
    PostgreSQL keeps its own shared buffers, and nothing changes there."""
    connection = Tortoise.get_connection("default")
    if isinstance(connection, SqliteClient):
        await connection.execute_script(f"PRAGMA cache_size = -{BULK_WRITE_CACHE_KIB}")


async def has_schema() -> bool:
    """Whether the connected database holds caremap's tables (`upgrade` has run on it)."""
    connection = connections.get("default")
    table = Organization._meta.db_table
    if connection.capabilities.dialect == "sqlite":
        query = "SELECT count(*) AS found FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        query = (
            "SELECT count(*) AS found FROM pg_tables "
            "WHERE schemaname = current_schema() AND tablename = $1"
        )
    _, rows = await connection.execute_query(query, [table])
    return bool(rows[0]["found"])


async def connect(settings: Settings) -> None:
    await Tortoise.init(config=tortoise_config(settings.database_url))


async def disconnect() -> None:
    await Tortoise.close_connections()


# What `tortoise makemigrations` reads (see pyproject's [tool.tortoise]): it compares the models
# with the migration files, so an in-memory database is enough.
MIGRATIONS_CONFIG = tortoise_config("sqlite://:memory:")


async def reachable(seconds: float = 2.0) -> bool:
    """Whether the database answers a trivial query within `seconds` (for `/healthz`)."""
    try:
        async with asyncio.timeout(seconds):
            await Tortoise.get_connection("default").execute_query("SELECT 1")
    except Exception as error:
        if isinstance(error, TimeoutError) or unreachable(error):
            return False
        raise
    return True
