"""The referral service layer: create, read, move through the lifecycle, notes and consent.

Every change appends to the referral's timeline in the same transaction; versions guard against
two staff moving the same referral at once (the loser gets 409).
"""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from directory import text
from directory.access import PUBLIC_STATUSES, require_actor
from directory.actor import Actor
from directory.errors import Conflict, Forbidden, Invalid, NotFound
from directory.models import IntakeState, Service
from directory.schemas import validate
from referrals import access, audit, help_requests, notify, timeline
from referrals.inbox import mark_seen
from referrals.lifecycle import (
    FINAL,
    OUTCOMES_FOR,
    REJECTION_REASONS,
    TRANSITIONS,
    allowed_from,
)
from referrals.models import Consent, Referral, ReferralStatus, Urgency, short_reference
from referrals.schemas import ReferralInput

FIRST_CONTACT_DAYS = {Urgency.URGENT: 1, Urgency.SOON: 3, Urgency.ROUTINE: 7}


def _now() -> datetime:
    return datetime.now(UTC)


async def create_referral(*, actor: Actor | None, data: Any) -> Referral:
    """A specialist's referral, sent with consent or kept as the school's draft. Started from a
    family's help request, it answers that request in the same transaction, and only if the
    request was sent to the specialist's own school: a refused request writes nothing."""
    actor = access.require_referrer_role(actor)
    validated = validate(ReferralInput, data)
    help_request_id = validated.help_request_id
    if help_request_id is not None:
        await help_requests.get_help_request(actor=actor, help_request_id=help_request_id)
    service = await Service.get_or_none(id=validated.service_id)
    if service is None or service.status not in PUBLIC_STATUSES:
        raise Invalid({"service_id": "no public service with that id"})
    if not service.accepts_referrals:
        raise Invalid({"service_id": "this service does not take referrals through caremap"})
    if service.intake_state == IntakeState.FULL and not validated.confirm_full:
        raise Invalid(
            {
                "confirm_full": "this service says it is full; send confirm_full: true "
                "to refer anyway"
            }
        )
    person = validated.person
    status = ReferralStatus.DRAFT if validated.draft else ReferralStatus.REQUESTED
    due_at = validated.due_at or _now() + timedelta(days=FIRST_CONTACT_DAYS[validated.urgency])
    async with in_transaction():
        if help_request_id is not None:
            await help_requests.mark_handled(actor=actor, help_request_id=help_request_id)
        referral_id = uuid4()
        referral = await Referral.create(
            id=referral_id,
            reference=short_reference(referral_id),
            name_shared=validated.consent is not None and "name" in validated.consent.shares,
            service_id=service.id,
            receiving_organization_id=service.organization_id,
            referring_organization_id=actor.organization_id,
            referring_user_id=actor.user_id,
            status=status,
            sent_at=_now() if status is ReferralStatus.REQUESTED else None,
            urgency=validated.urgency,
            due_at=due_at,
            needs=validated.needs,
            person_name=person.name,
            age_band=person.age_band,
            preferred_language=person.preferred_language,
            contact_method=person.contact_method,
            contact_value=person.contact_value,
            contact_times=person.contact_times,
        )
        if validated.consent is not None:
            consent = validated.consent
            await Consent.create(
                id=uuid4(),
                referral_id=referral.id,
                given_by=consent.given_by,
                method=consent.method,
                given_at=consent.given_at,
                shares=consent.shares,
                follow_up=consent.follow_up,
                recorded_by=actor.user_id,
            )
        await timeline.append(
            referral.id, "created", actor=actor, to_status=status, note=validated.note
        )
        await notify.on_status(referral, status, referral.version)
    return await _participant_referral(actor, referral.id)


async def get_referral(
    *, actor: Actor | None, referral_id: UUID, purpose: str = audit.Action.READ
) -> Referral:
    """One referral with its details for the caller; the read is audited (`purpose` names it)."""
    referral = await _participant_referral(actor, referral_id)
    await audit.record(actor, [referral.id], purpose)
    await mark_seen(require_actor(actor), referral)  # the access check passed above
    return referral


async def _participant_referral(
    actor: Actor | None, referral_id: UUID, *, details: bool = True
) -> Referral:
    """The referral, if the actor takes part in it; for changes, which audit themselves (the
    change's timeline entry also covers the answer that shows the changed referral). Without
    `details`, only its own row: enough to check a change, three queries fewer."""
    query = Referral.get_or_none(id=referral_id)
    if details:
        query = query.prefetch_related("consent", "events", "service")
    referral = await query
    try:
        if referral is None:
            raise NotFound(f"No referral with id {referral_id}.")
        access.require_participant(actor, referral)
    except (NotFound, Forbidden):
        # A refused look is as telling as an allowed one: who tried which referral, and when.
        if actor is not None:
            await audit.record(actor, [referral_id], audit.Action.REFUSED)
        raise
    return referral


async def transition(
    *,
    actor: Actor | None,
    referral_id: UUID,
    to: str,
    version: int,
    reason: str | None = None,
    outcome: str | None = None,
    note: str | None = None,
) -> Referral:
    referral = await _participant_referral(actor, referral_id, details=False)
    actor, party = access.require_participant(actor, referral)
    try:
        target = ReferralStatus(to)
    except ValueError:
        raise Invalid({"to": f"one of {', '.join(s.value for s in ReferralStatus)}"}) from None
    move = TRANSITIONS.get((referral.status, target))
    if move is None:
        raise Conflict(
            f"A {referral.status.value} referral cannot become {target.value}.",
            allowed=allowed_from(referral.status),
        )
    if not move.allows(party):
        raise Forbidden(f"Only the {move.by.value} side can make this referral {target.value}.")
    if target is ReferralStatus.REQUESTED and not await _has_consent(referral):
        raise Invalid({"consent": "a referral cannot be sent without recorded consent"})
    errors: dict[str, str] = {}
    if move.needs_reason and reason not in REJECTION_REASONS:
        errors["reason"] = f"one of {', '.join(REJECTION_REASONS)}"
    if move.needs_outcome and outcome not in OUTCOMES_FOR[target]:
        errors["outcome"] = f"one of {', '.join(OUTCOMES_FOR[target])}"
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        errors["note"] = "text up to 2000 characters"
    elif note is not None and (wrong := text.problem(note, multiline=True)):
        errors["note"] = wrong
    if errors:
        raise Invalid(errors)
    async with in_transaction():
        updated = await Referral.filter(id=referral.id, version=version).update(
            status=target,
            version=F("version") + 1,
            updated_at=_now(),
            reason=reason if move.needs_reason else referral.reason,
            outcome=outcome if move.needs_outcome else referral.outcome,
            sent_at=referral.sent_at or (_now() if target is ReferralStatus.REQUESTED else None),
        )
        if not updated:
            current = await Referral.get(id=referral.id)
            raise Conflict(
                "This referral was changed by someone else; reload it.",
                current_version=current.version,
            )
        await timeline.append(
            referral.id,
            "transition",
            actor=actor,
            from_status=referral.status,
            to_status=target,
            note=note or reason or outcome,
        )
        await notify.on_status(referral, target, version + 1)
    return await _participant_referral(actor, referral.id)


async def _has_consent(referral: Referral) -> bool:
    return await Consent.exists(referral_id=referral.id, withdrawn_at=None)


async def add_note(*, actor: Actor | None, referral_id: UUID, note: Any) -> Referral:
    referral = await _participant_referral(actor, referral_id, details=False)
    actor, _party = access.require_participant(actor, referral)
    access.require_note_writer(actor, referral, await Consent.get_or_none(referral_id=referral.id))
    if not isinstance(note, str) or not note.strip() or len(note) > 2000:
        raise Invalid({"note": "text of 1 to 2000 characters"})
    if wrong := text.problem(note, multiline=True):
        raise Invalid({"note": wrong})
    async with in_transaction():
        # A note is an update: it keeps an accepted referral from being reported as stale.
        await Referral.filter(id=referral.id).update(updated_at=_now())
        await timeline.append(referral.id, "note", actor=actor, note=note.strip())
    return await _participant_referral(actor, referral.id)


async def withdraw_consent(*, actor: Actor | None, referral_id: UUID) -> Referral:
    """The family withdrew consent: the referral stops and the partner no longer sees contact
    details. Recorded by the referring side (or an admin)."""
    referral = await _participant_referral(actor, referral_id, details=False)
    actor, party = access.require_participant(actor, referral)
    if party is access.Party.RECEIVER:
        raise Forbidden("Consent is withdrawn through the school that made the referral.")
    async with in_transaction():
        withdrawn = await Consent.filter(referral_id=referral.id, withdrawn_at=None).update(
            withdrawn_at=_now()
        )
        if not withdrawn:
            raise Conflict("There is no active consent on this referral.")
        await Referral.filter(id=referral.id).update(name_shared=False)
        await timeline.append(referral.id, "consent_withdrawn", actor=actor)
        if referral.status not in FINAL:
            await Referral.filter(id=referral.id).update(
                status=ReferralStatus.CANCELLED, version=F("version") + 1, updated_at=_now()
            )
            await timeline.append(
                referral.id,
                "transition",
                actor=actor,
                from_status=referral.status,
                to_status=ReferralStatus.CANCELLED,
                note="consent withdrawn",
            )
    return await _participant_referral(actor, referral.id)
