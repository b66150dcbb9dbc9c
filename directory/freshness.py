"""How fresh a listing is: the verification clock, stale marking and re-verification flags.

A listing is fresh for `stale_days` after someone last vouched for it: a partner's "still
accurate", a partner's edit, or (for imported data) the source's `assured_date`. A listing never
vouched for counts from when it was created (`editing.record_change` restarts the clock on
every person's edit). Past that it is stale: still public, but ranked
below fresh listings and shown with its date. The sweep (`mark_stale`) records the change, so
the search index re-ranks the listing and the mail rules can tell its organization.

Referral outcomes may also ask for a re-verification (`flag_for_review`); vouching clears that
too. This module only keeps the state. Who gets told and when is `referrals.notify`.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from directory.access import PUBLIC_STATUSES
from directory.editing import now, record_change
from directory.models import ProblemReport, Service


@dataclass(frozen=True)
class FreshnessRules:
    stale_days: int = 180  # a listing nobody vouched for in this long is stale
    reminder_days: int = 14  # its organization is reminded this long before

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.stale_days)


def stale_at(service: Any, rules: FreshnessRules) -> datetime:
    """When the listing goes stale: the period after its clock started (its last
    verification, or its creation)."""
    return (service.last_verified_at or service.created_at) + rules.period


def _older_than(cut: datetime) -> Q:
    """Listings whose clock started before `cut`."""
    return Q(last_verified_at__lt=cut) | Q(last_verified_at__isnull=True, created_at__lt=cut)


def _since(cut: datetime) -> Q:
    """Listings whose clock started at or after `cut`: the complement of `_older_than`, spelt
    out, because SQL's NOT of a comparison with a NULL `last_verified_at` is not true."""
    return Q(last_verified_at__gte=cut) | Q(last_verified_at__isnull=True, created_at__gte=cut)


async def mark_stale(rules: FreshnessRules, at: datetime | None = None) -> list[UUID]:
    """Mark public listings that passed their period as stale; returns the ids newly marked.

    Also un-marks listings that are within the period again (the period was made longer), so the
    mark always matches the rules. Each mark is a recorded change, one transaction per listing.
    """
    at = at or now()
    cut = at - rules.period
    public = Service.filter(status__in=PUBLIC_STATUSES)
    expired = await public.filter(_older_than(cut), stale_since__isnull=True).values(
        "id", "organization_id"
    )
    for row in expired:
        await _set_stale(row, at, "stale")
    renewed = await public.filter(_since(cut), stale_since__isnull=False).values(
        "id", "organization_id"
    )
    for row in renewed:
        await _set_stale(row, None, "fresh")
    return [row["id"] for row in expired]


async def _set_stale(row: dict[str, Any], since: datetime | None, action: str) -> None:
    async with in_transaction():
        await Service.filter(id=row["id"]).update(stale_since=since)
        await record_change(
            actor=None,
            organization_id=row["organization_id"],
            service_id=row["id"],
            entity="service",
            entity_id=row["id"],
            action=action,
        )


async def going_stale(rules: FreshnessRules, at: datetime | None = None) -> list[dict[str, Any]]:
    """Public listings that go stale within `reminder_days`: id, organization and basis."""
    at = at or now()
    soon = at - rules.period + timedelta(days=rules.reminder_days)
    rows = await (
        Service.filter(status__in=PUBLIC_STATUSES, stale_since__isnull=True)
        .filter(_older_than(soon), _since(at - rules.period))
        .values("id", "organization_id", "last_verified_at", "created_at")
    )
    return [{**row, "basis": row["last_verified_at"] or row["created_at"]} for row in rows]


async def flag_for_review(
    service_id: UUID, signals: dict[str, int], at: datetime | None = None
) -> bool:
    """Ask for a re-verification, saying why (counts by reason); False if already asked."""
    service = await Service.get_or_none(id=service_id)
    if service is None or service.review_requested_at is not None:
        return False
    async with in_transaction():
        updated = await Service.filter(id=service_id, review_requested_at__isnull=True).update(
            review_signals=signals, review_requested_at=at or now()
        )
        if not updated:
            return False
        await record_change(
            actor=None,
            organization_id=service.organization_id,
            service_id=service_id,
            entity="service",
            entity_id=service_id,
            action="flag",
        )
    return True


@dataclass
class CatalogHealth:
    """How current the public catalog is, per organization: listings, fresh (vouched for within
    the period), stale, and open problem reports by kind."""

    listings: Counter[UUID] = field(default_factory=Counter)
    fresh: Counter[UUID] = field(default_factory=Counter)
    stale: Counter[UUID] = field(default_factory=Counter)
    problems: Counter[tuple[UUID, str]] = field(default_factory=Counter)


async def catalog_health(
    rules: FreshnessRules, at: datetime, organization_id: UUID | None = None
) -> CatalogHealth:
    """The public listings' freshness at `at` (of one organization, or all of them)."""
    listings = Service.filter(status__in=PUBLIC_STATUSES)
    problems = ProblemReport.filter(resolved_at__isnull=True)
    if organization_id is not None:
        listings = listings.filter(organization_id=organization_id)
        problems = problems.filter(organization_id=organization_id)
    health = CatalogHealth()
    for row in await listings.values("organization_id", "stale_since"):
        health.listings[row["organization_id"]] += 1
        health.stale[row["organization_id"]] += row["stale_since"] is not None
    fresh = listings.filter(_since(at - rules.period))
    for organization in await fresh.values_list("organization_id", flat=True):
        health.fresh[organization] += 1
    for row in await problems.values("organization_id", "kind"):
        health.problems[(row["organization_id"], str(row["kind"]))] += 1
    return health
