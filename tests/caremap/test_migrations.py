"""The checked-in migrations build the schema the models describe, on SQLite and PostgreSQL."""

from tortoise import Tortoise, connections
from tortoise.migrations.autodetector import MigrationAutodetector

from caremap import db
from directory.models import TaxonomyTerm
from directory.taxonomy import CATEGORIES
from tests.conftest import ON_POSTGRES


async def _taxonomy_terms(settings) -> int:
    await db.connect(settings)
    try:
        return await TaxonomyTerm.all().count()
    finally:
        await db.disconnect()


async def test_upgrade_is_idempotent_and_loads_taxonomy(settings):
    """Without the app: its search drainer would query while the connections are closed,
    reopening one that nothing closes."""
    assert await _taxonomy_terms(settings) == len(CATEGORIES)
    await db.upgrade(settings)  # a second upgrade of an up-to-date database changes nothing
    assert await _taxonomy_terms(settings) == len(CATEGORIES)


async def test_models_and_migrations_agree(app):
    """Fails when a model changed without `tortoise makemigrations`."""
    config = db.tortoise_config("sqlite://:memory:")
    detector = MigrationAutodetector(Tortoise.apps, config["apps"])
    changes = await detector.changes()
    assert changes == [], [str(c) for c in changes]


async def _indexed_columns(table: str) -> set[tuple[str, ...]]:
    connection = connections.get("default")
    if ON_POSTGRES:
        rows = (
            await connection.execute_query(
                "SELECT array_agg(a.attname ORDER BY k.n) AS columns FROM pg_index i "
                "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE i.indrelid = $1::regclass GROUP BY i.indexrelid",
                [table],
            )
        )[1]
        return {tuple(row["columns"]) for row in rows}
    found = set()
    for index in (await connection.execute_query(f'PRAGMA index_list("{table}")'))[1]:
        info = (await connection.execute_query(f'PRAGMA index_info("{index["name"]}")'))[1]
        found.add(tuple(r["name"] for r in sorted(info, key=lambda r: r["seqno"])))
    return found


async def test_every_declared_index_exists(app):
    """Foreign keys, db_index fields and Meta indexes are indexed in the migrated database
    (Tortoise's SQLite table rebuilds drop them; `db.upgrade` puts them back)."""
    missing = []
    for model in Tortoise.apps[db.APP_LABEL].values():
        table = model._meta.db_table
        existing = await _indexed_columns(table)
        missing += [(table, c) for c in db.declared_indexes(model) if c not in existing]
    assert missing == []
