"""The FHIR surface over caremap's referrals, under the JSON API's rules: a caller reads only the
referrals it takes part in (`access`), sees the person only as far as consent allows, every read
is audited, and a Task changed through FHIR is a move of the one lifecycle table
(`service.transition`), so the same moves are allowed and refused, mailed and put on the
timeline.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.expressions import Q

from directory.actor import Actor
from directory.errors import Invalid, NotFound, PreconditionFailed
from directory.models import Location, Organization
from referrals import access, audit, fhir, service
from referrals.fhir import Systems
from referrals.models import Referral

KINDS = ("Task", "ServiceRequest", "Patient", "Consent")


async def _referral(actor: Actor | None, referral_id: UUID, purpose: str) -> Referral:
    referral = await service.get_referral(actor=actor, referral_id=referral_id, purpose=purpose)
    await referral.service.fetch_related("categories")
    return referral


def _shared(actor: Actor | None, referral: Referral) -> frozenset[str]:
    actor, _party = access.require_participant(actor, referral)
    return access.shared_with(actor, referral, referral.consent)


async def read(*, actor: Actor | None, kind: str, referral_id: UUID, systems: Systems) -> dict:
    """One part of a referral as a FHIR resource (audited as a FHIR read)."""
    referral = await _referral(actor, referral_id, audit.Action.EXPORT_FHIR)
    shared = _shared(actor, referral)
    if kind == "Task":
        return fhir.task(referral, shared, systems)
    if kind == "ServiceRequest":
        return fhir.service_request(referral, shared, systems)
    if kind == "Patient":
        return fhir.patient(referral, shared, systems)
    found = fhir.consent(referral, systems)
    if found is None:
        raise NotFound(f"No Consent with id {referral_id}.")
    return found


async def organization(*, organization_id: UUID, systems: Systems) -> dict[str, Any]:
    """An organization's public details (as `/api/organizations/{id}` gives them)."""
    found = await Organization.get_or_none(id=organization_id)
    if found is None:
        raise NotFound(f"No Organization with id {organization_id}.")
    return fhir.organization(found, await _address(found.id), systems)


async def _address(organization_id: UUID) -> dict[str, Any] | None:
    """The organization's first listed address, as FHIR writes one."""
    location = (
        await Location.filter(organization_id=organization_id, address_1__not_isnull=True)
        .order_by("name", "id")
        .first()
    )
    if location is None or not location.city:
        return None
    lines = [line for line in (location.address_1, location.address_2) if line]
    return {
        "use": "work",
        "line": lines,
        "city": location.city,
        "state": location.state_province,
        "postalCode": location.postal_code,
        "country": location.country,
    }


async def bundle(
    *, actor: Actor | None, referral_id: UUID, systems: Systems, base_url: str
) -> dict[str, Any]:
    """The referral's resources in one Bundle (`/api/referrals/{id}/fhir`)."""
    referral = await _referral(actor, referral_id, audit.Action.EXPORT_FHIR)
    shared = _shared(actor, referral)
    organizations = {}
    for organization_id in (referral.referring_organization_id, referral.receiving_organization_id):
        found = await Organization.get(id=organization_id)
        organizations[str(found.id)] = fhir.organization(found, await _address(found.id), systems)
    return fhir.referral_bundle(referral, organizations, shared, systems, base_url)


# --- the Task search: a partner's system polls for new and changed Tasks ---------------------


@dataclass(frozen=True)
class TaskQuery:
    owner: UUID | None = None
    statuses: tuple[str, ...] = ()  # FHIR Task statuses
    updated_after: datetime | None = None  # _lastUpdated=gt
    updated_from: datetime | None = None  # _lastUpdated=ge
    updated_before: datetime | None = None  # _lastUpdated=lt
    after: tuple[datetime, UUID] | None = None  # the page cursor: last (lastUpdated, id) seen
    count: int = 50


@dataclass(frozen=True)
class TaskPage:
    resources: list[dict[str, Any]]
    total: int
    last: tuple[datetime, UUID] | None  # the cursor of the next page, when there is one


async def tasks(*, actor: Actor | None, query: TaskQuery, systems: Systems) -> TaskPage:
    """The Tasks the caller may see, oldest change first: `(lastUpdated, id)` orders them
    strictly, so a poller paging on by the cursor and asking again from the last
    `lastUpdated` it saw misses none and sees none twice. Every read is audited."""
    actor = access.require_actor(actor)
    found = access.visible_referrals(actor)
    if query.owner is not None:
        found = found.filter(receiving_organization_id=query.owner)
    if query.statuses:
        wanted = [s for s, fhir_status in fhir.TASK_STATUS.items() if fhir_status in query.statuses]
        found = found.filter(status__in=wanted)
    if query.updated_after is not None:
        found = found.filter(updated_at__gt=query.updated_after)
    if query.updated_from is not None:
        found = found.filter(updated_at__gte=query.updated_from)
    if query.updated_before is not None:
        found = found.filter(updated_at__lt=query.updated_before)
    total = await found.count()
    if query.after is not None:
        moment, last_id = query.after
        found = found.filter(Q(updated_at__gt=moment) | Q(updated_at=moment, id__gt=last_id))
    page = await (
        found.order_by("updated_at", "id")
        .limit(query.count + 1)
        .prefetch_related("consent", "service__categories")
    )
    more, page = len(page) > query.count, page[: query.count]
    await audit.record(actor, [r.id for r in page], audit.Action.EXPORT_FHIR)
    resources = [fhir.task(r, access.shared_with(actor, r, r.consent), systems) for r in page]
    last = (page[-1].updated_at, page[-1].id) if more and page else None
    return TaskPage(resources, total, last)


# --- a Task changed through FHIR ----------------------------------------------------------------


async def change_task(
    *,
    actor: Actor | None,
    referral_id: UUID,
    version: int,
    changed: dict[str, Any],
    systems: Systems,
) -> dict[str, Any]:
    """Apply a changed Task (from PUT, or PATCH applied to the current one) as a lifecycle move.
    `version` is the one the caller changed (If-Match); a stale one is a `Conflict`."""
    referral = await _referral(actor, referral_id, audit.Action.EXPORT_FHIR)
    shared = _shared(actor, referral)
    current = fhir.task(referral, shared, systems)
    if version != referral.version:
        raise PreconditionFailed(
            "This Task was changed since that version; read it again.",
            current_version=referral.version,
        )
    move = fhir.task_move(current, changed, systems)
    if move.to is referral.status:
        if (move.reason, move.outcome) != (referral.reason, referral.outcome) and (
            move.reason or move.outcome
        ):
            raise Invalid({"statusReason": "changes only with a status change"})
        return current  # nothing to move
    await service.transition(
        actor=actor,
        referral_id=referral.id,
        to=move.to.value,
        version=version,
        reason=move.reason,
        outcome=move.outcome,
    )
    moved = await _referral(actor, referral_id, audit.Action.EXPORT_FHIR)
    return fhir.task(moved, _shared(actor, moved), systems)
