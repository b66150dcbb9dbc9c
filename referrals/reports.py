"""Referral figures for the reports: the funnel, how fast partners answer and finish, referrals by
need, school and partner, and the referrals turned away for lack of room or reach.

Everything is counted over the referrals in the caller's view (`access.visible_referrals`:
their agency's, their school's, or the whole district's for an admin) that were sent within the
period, from their timelines: a referral reaches a stage of the funnel if its timeline ever
did. The figures are raw counts and times, with no personal detail. Whether a small count may be
shown is for whoever shows it (`caremap.reports`).
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from directory.actor import Actor
from directory.models import Location
from directory.taxonomy import BY_CODE, top_levels, within
from referrals import access
from referrals.inbox import overdue_at
from referrals.lifecycle import DELIVERED, FINAL, REJECTION_REASONS
from referrals.models import Referral, ReferralEvent
from referrals.models import ReferralStatus as S

# How far along the work a status is; a referral that reached a later stage passed the earlier
# ones even if the partner skipped a step (accepted straight from requested is also received).
PROGRESS = {
    S.REQUESTED: 0,
    S.RECEIVED: 1,
    S.REJECTED: 1,  # declining it is answering it
    S.ACCEPTED: 2,
    S.IN_PROGRESS: 3,
    S.ON_HOLD: 3,
    S.COMPLETED: 4,
}
REACHED = {"received": 1, "accepted": 2, "in_progress": 3}
# The partner's first answer: acknowledging, taking on or turning down the referral.
ANSWERS = frozenset({S.RECEIVED, S.ACCEPTED, S.REJECTED})
TURNED_AWAY = ("no_capacity", "out_of_area")


@dataclass(frozen=True)
class Filters:
    start: datetime  # referrals sent at or after this
    end: datetime  # and before this
    school_id: UUID | None = None
    partner_id: UUID | None = None
    category: str | None = None  # a category code of either level


@dataclass
class Sent:
    """One sent referral as the figures need it: ids, codes and times, nothing about the person."""

    id: UUID
    status: S
    reason: str | None
    outcome: str | None
    needs: list[str]
    school_id: UUID
    partner_id: UUID
    sent_at: datetime
    reached: int = 0  # the furthest PROGRESS its timeline reached
    answered_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def delivered(self) -> bool:
        return self.status is S.COMPLETED and self.outcome in DELIVERED

    @property
    def categories(self) -> list[str]:
        """The top-level categories of its needs, each once."""
        return top_levels(self.needs)

    @property
    def subcategories(self) -> list[str]:
        return sorted({code for code in self.needs if code in BY_CODE and BY_CODE[code].parent})

    @property
    def hours_to_answer(self) -> float | None:
        if self.answered_at is None:
            return None
        return (self.answered_at - self.sent_at).total_seconds() / 3600

    @property
    def days_to_complete(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.sent_at).total_seconds() / 86400


async def sent_referrals(actor: Actor, filters: Filters) -> list[Sent]:
    """The referrals in the caller's view sent within the period, with their timelines read."""
    # Sent on or after creation, so nothing created after the period can have been sent in it.
    query = (
        _narrowed(access.visible_referrals(actor), filters)
        .filter(created_at__lt=filters.end)
        .exclude(status=S.DRAFT)
    )
    rows = await query.values(
        "id",
        "status",
        "reason",
        "outcome",
        "needs",
        "referring_organization_id",
        "receiving_organization_id",
        "created_at",
    )
    events = await (
        ReferralEvent.filter(
            referral_id__in=Subquery(query.values("id")),
            to_status__isnull=False,
        )
        .order_by("id")
        .values("referral_id", "to_status", "created_at")
    )
    timelines: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        timelines[event["referral_id"]].append(event)
    found = []
    for row in rows:
        referral = _read(row, timelines[row["id"]])
        if not filters.start <= referral.sent_at < filters.end:
            continue
        if filters.category and not within(filters.category, referral.needs):
            continue
        found.append(referral)
    return found


def _narrowed(query: QuerySet[Referral], filters: Filters) -> QuerySet[Referral]:
    """Only the referrals from the filters' school and to their partner, when they name one."""
    if filters.school_id:
        query = query.filter(referring_organization_id=filters.school_id)
    if filters.partner_id:
        query = query.filter(receiving_organization_id=filters.partner_id)
    return query


def _read(row: dict[str, Any], timeline: list[dict[str, Any]]) -> Sent:
    referral = Sent(
        id=row["id"],
        status=S(row["status"]),
        reason=row["reason"],
        outcome=row["outcome"],
        needs=list(row["needs"] or []),
        school_id=row["referring_organization_id"],
        partner_id=row["receiving_organization_id"],
        sent_at=row["created_at"],
    )
    sent = next((e["created_at"] for e in timeline if e["to_status"] == S.REQUESTED), None)
    referral.sent_at = sent or row["created_at"]  # sent when it was requested, not drafted
    for event in timeline:
        status = S(event["to_status"])
        referral.reached = max(referral.reached, PROGRESS.get(status, 0))
        if status in ANSWERS and referral.answered_at is None:
            referral.answered_at = event["created_at"]
        if status is S.COMPLETED:
            referral.completed_at = event["created_at"]
    return referral


# --- the figures ------------------------------------------------------------------------------


@dataclass
class Funnel:
    made: int = 0
    received: int = 0
    accepted: int = 0
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    rejected: int = 0
    cancelled: int = 0
    open: int = 0
    closed: int = 0  # with a final outcome: completed, failed, rejected or cancelled
    delivered: int = 0  # completed with the service provided, fully or in part
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def rate(self, count: int) -> float | None:
        return round(count / self.made, 4) if self.made else None


def funnel(referrals: Iterable[Sent]) -> Funnel:
    counts = Funnel(rejected_by_reason=dict.fromkeys(REJECTION_REASONS, 0))
    for referral in referrals:
        counts.made += 1
        for stage, level in REACHED.items():
            if referral.reached >= level:
                setattr(counts, stage, getattr(counts, stage) + 1)
        if referral.final:
            setattr(counts, referral.status.value, getattr(counts, referral.status.value) + 1)
        if referral.status is S.REJECTED:
            reason = referral.reason if referral.reason in REJECTION_REASONS else "other"
            counts.rejected_by_reason[reason] += 1
        counts.closed += referral.final
        counts.open += not referral.final
        counts.delivered += referral.delivered
    return counts


def by_month(referrals: Iterable[Sent]) -> dict[str, Funnel]:
    """The funnel of the referrals sent in each month ("2026-03"), oldest first."""
    months: dict[str, list[Sent]] = defaultdict(list)
    for referral in referrals:
        months[referral.sent_at.strftime("%Y-%m")].append(referral)
    return {month: funnel(months[month]) for month in sorted(months)}


def grouped(
    referrals: Iterable[Sent], keys: Callable[[Sent], Iterable[Any]]
) -> dict[Any, list[Sent]]:
    """The referrals under each of their keys (a referral for two needs counts under both)."""
    groups: dict[Any, list[Sent]] = defaultdict(list)
    for referral in referrals:
        for key in keys(referral):
            groups[key].append(referral)
    return dict(groups)


@dataclass
class Speed:
    answered: int  # how many were answered (the base of the answer times)
    answer_median_hours: float | None
    answer_p90_hours: float | None
    completed: int
    complete_median_days: float | None
    complete_p90_days: float | None


def speed(referrals: Iterable[Sent]) -> Speed:
    """Median and 90th percentile (linear interpolation between ranks, numpy's default) of the
    time from sending to the partner's first answer, and to completion."""
    referrals = list(referrals)
    answers = [r.hours_to_answer for r in referrals if r.hours_to_answer is not None]
    completions = [r.days_to_complete for r in referrals if r.days_to_complete is not None]
    return Speed(
        len(answers),
        _percentile(answers, 50),
        _percentile(answers, 90),
        len(completions),
        _percentile(completions, 50),
        _percentile(completions, 90),
    )


def _percentile(values: list[float], percent: int) -> float | None:
    return round(float(numpy.percentile(values, percent)), 2) if values else None


async def overdue_now(actor: Actor, filters: Filters, now: datetime) -> int:
    """Referrals in the caller's view overdue at `now` (whenever they were sent), within the
    school, partner and category filters."""
    query = _narrowed(access.visible_referrals(actor), filters).filter(overdue_at(now))
    if not filters.category:
        return await query.count()
    needs = await query.values_list("needs", flat=True)
    return sum(within(filters.category, codes) for codes in needs)


async def turned_away(referrals: Iterable[Sent]) -> Counter[tuple[str, str, str]]:
    """Referrals rejected for no capacity or out of area, by (reason, top-level category, the
    referring school's ZIP code): where families were sent and could not be served."""
    rejected = [r for r in referrals if r.status is S.REJECTED and r.reason in TURNED_AWAY]
    zips = await school_zip_codes({r.school_id for r in rejected})
    counts: Counter[tuple[str, str, str]] = Counter()
    for referral in rejected:
        for category in referral.categories or ["unknown"]:
            counts[(str(referral.reason), category, zips.get(referral.school_id, ""))] += 1
    return counts


async def school_zip_codes(school_ids: set[UUID]) -> dict[UUID, str]:
    """Each school's ZIP code (of its first site that has one)."""
    rows = await (
        Location.filter(organization_id__in=list(school_ids), postal_code__isnull=False)
        .order_by("created_at")
        .values("organization_id", "postal_code")
    )
    found: dict[UUID, str] = {}
    for row in rows:
        found.setdefault(row["organization_id"], (row["postal_code"] or "")[:5])
    return found
