"""The checked-in migrations build the schema the models describe, on SQLite and PostgreSQL."""

from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from caremap import db
from directory.models import TaxonomyTerm
from directory.taxonomy import CATEGORIES


async def test_upgrade_is_idempotent_and_loads_taxonomy(app, settings):
    assert await TaxonomyTerm.all().count() == len(CATEGORIES)
    await db.disconnect()
    await db.upgrade(settings)  # a second upgrade of an up-to-date database changes nothing
    await db.connect(settings)
    assert await TaxonomyTerm.all().count() == len(CATEGORIES)


async def test_models_and_migrations_agree(app):
    """Fails when a model changed without `tortoise makemigrations`."""
    config = db.tortoise_config("sqlite://:memory:")
    detector = MigrationAutodetector(Tortoise.apps, config["apps"])
    changes = await detector.changes()
    assert changes == [], [str(c) for c in changes]
