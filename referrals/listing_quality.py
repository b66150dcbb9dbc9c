"""Referral outcomes as a signal of listing quality.

When a listing's referrals keep being declined for no capacity, or closed because the family
could not be reached or turned out not to be eligible, the listing probably says something
that is no longer true (its capacity, its phone, its eligibility). Past a threshold within a
window (settings), `flag_struggling` asks its organization to re-verify it, saying which
outcomes and how many. Only outcomes since the listing was last verified count, so a fresh
verification starts the count again.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from directory import freshness
from directory.claims import now as _now
from directory.models import Service
from referrals.models import ReferralEvent, ReferralStatus

# (status a referral moved to, its reason or outcome) -> the signal it counts as
SIGNALS: dict[tuple[ReferralStatus, str], str] = {
    (ReferralStatus.REJECTED, "no_capacity"): "no_capacity",
    (ReferralStatus.FAILED, "could_not_reach"): "could_not_reach",
    (ReferralStatus.FAILED, "not_eligible_after_intake"): "not_eligible_after_intake",
}


@dataclass(frozen=True)
class QualityRules:
    threshold: int = 3  # this many signals within the window flag the listing
    window_days: int = 90


async def signals_by_service(
    rules: QualityRules, at: datetime | None = None
) -> dict[UUID, Counter[str]]:
    """Signals within the window, per service, counting only those after its verification."""
    at = at or _now()
    since = at - timedelta(days=rules.window_days)
    events = await ReferralEvent.filter(
        kind="transition",
        to_status__in=list({status.value for status, _code in SIGNALS}),
        created_at__gte=since,
        created_at__lte=at,
    ).values(
        "created_at",
        "to_status",
        "referral__service_id",
        "referral__reason",
        "referral__outcome",
    )
    found: dict[UUID, list[tuple[datetime, str]]] = defaultdict(list)
    for event in events:
        status = ReferralStatus(event["to_status"])
        code = event[
            "referral__reason" if status is ReferralStatus.REJECTED else "referral__outcome"
        ]
        signal = SIGNALS.get((status, code))
        if signal is not None:
            found[event["referral__service_id"]].append((event["created_at"], signal))
    verified = dict(await Service.filter(id__in=list(found)).values_list("id", "last_verified_at"))
    return {
        service_id: Counter(
            signal
            for when, signal in rows
            if verified.get(service_id) is None or when > verified[service_id]
        )
        for service_id, rows in found.items()
    }


async def flag_struggling(rules: QualityRules, at: datetime | None = None) -> list[UUID]:
    """Flag the listings whose signals reached the threshold; returns those newly flagged."""
    flagged = []
    for service_id, counts in (await signals_by_service(rules, at)).items():
        if sum(counts.values()) >= rules.threshold and await freshness.flag_for_review(
            service_id, dict(sorted(counts.items())), at
        ):
            flagged.append(service_id)
    return flagged
