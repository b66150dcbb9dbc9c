"""Claiming rows of an outbox table, so several workers share the work and a crash loses none.

Used by the search outbox and the referral mail outbox. A worker claims a batch for a while
(`FOR UPDATE SKIP LOCKED` on PostgreSQL keeps two workers off the same rows), does the work,
and then deletes or finishes the rows. A batch that failed is released with exponential
backoff. A worker killed mid-batch leaves its claim to expire, and the rows come back.

An outbox model has `id`, `available_at`, `claimed_until`, `attempts` and `last_error`.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

MAX_BACKOFF_SECONDS = 300
Row = TypeVar("Row", bound=Any)


def now() -> datetime:
    return datetime.now(UTC)


async def claim(
    model: type[Row], *, limit: int, seconds: float, at: datetime | None = None, **filters: Any
) -> list[Row]:
    """Claim up to `limit` rows of `model` (matching `filters`) that are due and not claimed.

    The query is built inside the transaction: a query made outside it would run on another
    connection and, on SQLite, wait forever for the transaction's own lock.
    """
    at = at or now()
    async with in_transaction():
        rows = await (
            model.filter(available_at__lte=at, **filters)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=at))
            .order_by("id")
            .limit(limit)
            .select_for_update(skip_locked=True)
        )
        if rows:
            await model.filter(id__in=[row.id for row in rows]).update(
                claimed_until=at + timedelta(seconds=seconds)
            )
    return list(rows)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... seconds after each failure, at most five minutes."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 16)))


async def release(rows: list[Any], error: str, *, at: datetime | None = None) -> None:
    """Give failed rows back for a later try, each after its own backoff."""
    at = at or now()
    for row in rows:
        await (
            type(row)
            .filter(id=row.id)
            .update(
                attempts=row.attempts + 1,
                claimed_until=None,
                available_at=at + backoff(row.attempts),
                last_error=error[:300],
            )
        )
