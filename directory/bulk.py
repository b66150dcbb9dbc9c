"""Writing many rows at once, for the writes that come by the hundred thousand (an import, its
history and its search outbox rows).

Tortoise's `bulk_create` builds a model instance per row first, which costs more than the insert
itself at this scale; `insert_rows` goes from plain values to the model's own INSERT statement,
converting each value with the model's fields, the same conversions and checks a save does.
"""

import gc
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.data import DatetimeField
from tortoise.models import Model

T = TypeVar("T")
M = TypeVar("M", bound=Model)

BATCH = 1000  # rows per statement or query: few enough ids to name in one `IN (...)` anywhere


# CPython collects its youngest objects every 700 allocations, and now and then walks every object
# the process holds. A bulk command allocates tens of millions (records, plans, rows), nearly all
# freed by reference counting: at 20,000 services the import spent 5.3 s of its 30.7 in those
# walks (32 of them over the whole heap), and a reindex of 100,000 5.4 s of its 32.5. Young
# collections every 50,000 allocations: 0.9 s and 0.1 s.
_BULK_GC_THRESHOLDS = (50_000, 20, 100)


def for_bulk_work() -> None:
    """Tune this process's garbage collector for a bulk command (import, reindex), which holds
    many objects and allocates many more. Cyclic garbage is still collected, less often: turned
    off, the import's memory grew by half."""
    gc.set_threshold(*_BULK_GC_THRESHOLDS)


def chunks(items: Sequence[T], size: int = BATCH) -> list[Sequence[T]]:
    """`items` in slices of at most `size`."""
    return [items[start : start + size] for start in range(0, len(items), size)]


async def select_in(model: type[M], field: str, ids: Sequence[Any], **others: Any) -> list[M]:
    """The rows whose `field` is one of `ids` (and that match `others`), however many ids there
    are: asked 1,000 at a time, since a query holds a bounded number of parameters (asyncpg:
    32,767)."""
    found: list[M] = []
    for batch in chunks(ids):
        found += await model.filter(**{f"{field}__in": list(batch)}, **others)
    return found


async def insert_rows(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Insert rows given as field values; a field not given takes its default (or now, for a
    field set automatically on creation). Raises `ValueError` for a name the model lacks."""
    if not rows:
        return
    db = model._meta.db
    executor = db.executor_class(model=model, db=db)
    fields = [model._meta.fields_map[name] for name in executor.regular_columns]
    known = set(executor.regular_columns)
    now = datetime.now(UTC)
    defaults: dict[str, Any] = {}
    for field in fields:
        if isinstance(field, DatetimeField) and (field.auto_now or field.auto_now_add):
            defaults[field.model_field_name] = now
        elif field.default is not None and not callable(field.default):
            defaults[field.model_field_name] = field.default
    values = []
    for row in rows:
        if unknown := row.keys() - known:
            raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
        line = []
        for field in fields:
            name = field.model_field_name
            if name in row:
                value = row[name]
            else:
                value = field.default() if callable(field.default) else defaults.get(name)
            line.append(field.to_db_value(value, model))
        values.append(line)
    for batch in chunks(values):
        await db.execute_many(executor.insert_query, list(batch))


async def refresh_statistics(db: BaseDBAsyncClient, tables: Sequence[str]) -> None:
    """Let PostgreSQL's planner see tables a long transaction is filling.

    With no statistics, PostgreSQL takes each id in `IN (...)` to match 0.5% of a table, so a
    lookup of a thousand ids is planned as a scan of the whole table: an import that looks up
    each part's rows in the tables it is filling slowed as they filled (35 s of 250 at 100,000
    services). ANALYZE inside the transaction counts the transaction's own rows. SQLite's
    planner trusts its indexes without statistics: nothing to do there.
    """
    if db.capabilities.dialect == "postgres":
        for table in tables:
            await db.execute_script(f'ANALYZE "{table}"')
