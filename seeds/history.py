"""A year of demo referral history and unmet searches, so the reports have something to show.

Each demo school sends referrals to the services in its own city that take referrals, spread
over the twelve months before the day the demo is loaded, and each referral's timeline plays
out the way referrals do: most are answered within a day or two, most accepted ones end with
the service provided, some are declined for lack of room or reach, a few are still open. The
families are fictional initials; nobody can be contacted. The same seed gives the same history
(relative to the loading day), and loading twice adds nothing.

The rows are written directly rather than through the referral service, because the service
stamps every change with the present moment and this history happened in the past.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from tortoise.transactions import in_transaction

from caremap.accounts.models import User
from directory.models import Location, Service
from directory.taxonomy import BY_CODE
from referrals.lifecycle import FINAL, REJECTION_REASONS
from referrals.models import Consent, Referral, ReferralEvent, Urgency, short_reference
from referrals.models import ReferralStatus as S
from referrals.schemas import SHARABLE
from search_index.models import UnmetSearch

NAMESPACE = UUID("0b7b2f7e-3f7f-4d8e-a2a4-5a8a1c6a2d10")
SEED = 2026
REFERRALS_PER_SCHOOL = 120
UNMET_SEARCHES = 160
# Each school by its id, with the first ZIP digits of its city (its partners are there).
SCHOOLS = {
    UUID("cf51ed23-0e36-57f4-a756-07832487dc35"): ("606", "specialist@pilsen-hs.example.org"),
    UUID("26ddc017-5c73-5a74-a0af-7bd6fb5a2c6d"): ("661", "specialist@wyandotte-ms.example.org"),
}
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# How far back the history reaches, in days: all of it inside the reports' default period (the
# last 365 days, today included, from midnight UTC), whatever the time of day it is loaded.
DAYS_BACK = 364


@dataclass
class Partner:
    service_id: UUID
    organization_id: UUID
    needs: list[str]


def demo_id(*parts: object) -> UUID:
    return uuid5(NAMESPACE, ":".join(str(part) for part in parts))


async def load_history(*, now: datetime | None = None) -> int:
    """Write the demo history unless it is there already; returns how many referrals."""
    now = now or datetime.now(UTC)
    first = demo_id("referral", next(iter(SCHOOLS)), 0)
    if await Referral.exists(id=first):
        return 0
    rng = random.Random(SEED)
    made = 0
    async with in_transaction():
        for school_id, (zip_prefix, specialist_email) in SCHOOLS.items():
            partners = await _partners(zip_prefix)
            specialist = await _user_id(specialist_email)
            if not partners or specialist is None:
                continue
            for number in range(REFERRALS_PER_SCHOOL):
                await _referral(rng, now, school_id, specialist, number, rng.choice(partners))
                made += 1
        await _unmet_searches(rng, now)
    return made


async def _partners(zip_prefix: str) -> list[Partner]:
    """The services in the city that take referrals, with their categories."""
    located = await Location.filter(postal_code__startswith=zip_prefix).values_list(
        "organization_id", flat=True
    )
    services = await Service.filter(
        accepts_referrals=True, organization_id__in=list(set(located))
    ).prefetch_related("categories")
    return [
        Partner(s.id, s.organization_id, sorted(c.code for c in s.categories))
        for s in sorted(services, key=lambda s: str(s.id))
        if s.categories
    ]


async def _user_id(email: str) -> UUID | None:
    user = await User.get_or_none(email=email)
    return user.id if user else None


def _timeline(rng: random.Random, sent: datetime, now: datetime) -> tuple[list, dict]:
    """How one referral went: [(status, when)] and its reason or outcome."""
    steps: list[tuple[S, datetime]] = [(S.REQUESTED, sent)]
    answered = sent + HOUR * rng.choice([1, 2, 3, 5, 8, 20, 26, 30, 48, 70, 96])
    if rng.random() < 0.35:
        steps.append((S.RECEIVED, sent + (answered - sent) / 3))
    roll = rng.random()
    if roll < 0.05:
        return [*steps, (S.CANCELLED, sent + DAY)], {}
    if roll < 0.2:
        reason = rng.choices(REJECTION_REASONS, weights=[3, 5, 4, 2, 1])[0]
        return [*steps, (S.REJECTED, answered)], {"reason": reason}
    steps.append((S.ACCEPTED, answered))
    started = answered + DAY * rng.choice([0.5, 1, 2, 3])
    steps.append((S.IN_PROGRESS, started))
    ended = started + DAY * rng.choice([1, 2, 3, 5, 7, 10, 14, 21, 30])
    outcome_roll = rng.random()
    if outcome_roll < 0.7:
        outcome = "service_provided" if rng.random() < 0.85 else "partially_provided"
        steps.append((S.COMPLETED, ended))
    else:  # closed without service: only a delivered service completes a referral
        outcome = rng.choice(
            [
                "family_declined",
                "referred_elsewhere",
                "could_not_reach",
                "not_eligible_after_intake",
            ],
        )
        steps.append((S.FAILED, ended))
    return steps, {"outcome": outcome}


async def _referral(
    rng: random.Random,
    now: datetime,
    school_id: UUID,
    specialist: UUID,
    number: int,
    partner: Partner,
) -> None:
    sent = now - DAY * rng.uniform(1, DAYS_BACK)
    steps, ending = _timeline(rng, sent, now)
    steps = [(status, when) for status, when in steps if when < now]  # the rest is to come
    status = steps[-1][0]
    fields = ending if status in FINAL else {}  # an open referral has no outcome yet
    referral = await Referral.create(
        id=demo_id("referral", school_id, number),
        service_id=partner.service_id,
        receiving_organization_id=partner.organization_id,
        referring_organization_id=school_id,
        referring_user_id=specialist,
        status=status,
        urgency=rng.choice(list(Urgency)),
        due_at=sent + DAY * rng.choice([3, 7, 14]),
        needs=rng.sample(partner.needs, k=min(len(partner.needs), rng.choice([1, 1, 2]))),
        person_name=f"{rng.choice('ABCDEFGHJKLMNPRSTVW')}.{rng.choice('ABCDEFGHJKLMNPRSTVW')}.",
        age_band=rng.choice(["5-10", "11-13", "14-17", "14-17"]),
        preferred_language=rng.choice(["en", "en", "es"]),
        contact_method="school",
        name_shared=True,  # the consent below shares everything
        **fields,
    )
    await Referral.filter(id=referral.id).update(updated_at=steps[-1][1])
    await Consent.create(
        referral=referral,
        given_by="guardian",
        method="verbal",
        given_at=sent,
        shares=list(SHARABLE),
        recorded_by=specialist,
    )
    await write_timeline(referral, steps)


async def write_timeline(referral: Referral, steps: list[tuple[S, datetime]]) -> None:
    """The referral's timeline as it happened: an event per (status, when), the first being
    its sending. Events are dated when written, so each is dated again after."""
    sent = next((when for step, when in steps if step == S.REQUESTED), None)
    await Referral.filter(id=referral.id).update(
        created_at=steps[0][1],
        sent_at=sent,
        reference=short_reference(referral.id),
        last_activity_at=steps[-1][1],
    )
    previous = None
    for step, when in steps:
        event = await ReferralEvent.create(
            referral=referral,
            kind="created" if previous is None else "transition",
            from_status=previous,
            to_status=step,
        )
        await ReferralEvent.filter(id=event.id).update(created_at=when)
        previous = step


async def _unmet_searches(rng: random.Random, now: datetime) -> None:
    """Searches that found nothing: most often in a few ZIP codes and categories, as gaps are."""
    gaps = [
        ("60623", "dental"), ("60623", "childcare"), ("60609", "eviction-defense"),
        ("60632", "mental-health-counseling"), ("66104", "dental"), ("66105", "shelter"),
        ("66102", "tutoring"), ("66106", "job-training"),
    ]  # fmt: skip
    for _ in range(UNMET_SEARCHES):
        zip_code, code = rng.choice(gaps) if rng.random() < 0.8 else _anywhere(rng)
        search = await UnmetSearch.create(
            query="", categories=[code], postal_code=zip_code, radius_miles=rng.choice([2, 5, 10])
        )
        await UnmetSearch.filter(id=search.id).update(
            created_at=now - DAY * rng.uniform(1, DAYS_BACK)
        )


def _anywhere(rng: random.Random) -> tuple[str, str]:
    code = rng.choice([c for c in BY_CODE if BY_CODE[c].parent])
    return rng.choice(["60608", "60612", "60616", "66101", "66103", "66111"]), code
