"""Database set-up: the Tortoise configuration, schema migrations and the reference data.

The same code runs on SQLite (the embedded default) and PostgreSQL (production). The schema
only changes through the checked-in migrations in `caremap/migrations` (Tortoise's own migration
framework, whose operations are database-neutral, so one migration history serves both).
"""

from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate

from caremap.settings import Settings
from directory.service import sync_taxonomy

MODEL_MODULES = [
    "directory.models",
    "search_index.models",
    "referrals.models",
    "caremap.accounts.models",
]
APP_LABEL = "models"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
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


def _sqlite_path(database_url: str) -> Path | None:
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://")
    return None if path == ":memory:" else Path(path)


async def upgrade(settings: Settings) -> None:
    """Bring the schema to the latest migration and refresh the reference data (idempotent)."""
    if (path := _sqlite_path(settings.database_url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = tortoise_config(settings.database_url)
    try:
        await migrate(config=config)
    finally:
        await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        await sync_taxonomy()
    finally:
        await Tortoise.close_connections()


async def connect(settings: Settings) -> None:
    await Tortoise.init(config=tortoise_config(settings.database_url))


async def disconnect() -> None:
    await Tortoise.close_connections()


# What `tortoise makemigrations` reads (see pyproject's [tool.tortoise]): it compares the models
# with the migration files, so an in-memory database is enough.
MIGRATIONS_CONFIG = tortoise_config("sqlite://:memory:")
