"""Who may see and move a referral, and how much of it. Every referral permission check goes
through here.

- The receiving side: partners and partner admins of the organization that runs the service,
  once the referral was sent. A draft is the school's own: the agency never sees it, nor a
  draft cancelled as one.
- The referring side: specialists of the school organization that made the referral.
- Admins see all and may correct any move in the lifecycle table.
Anyone else, including staff of other organizations guessing ids, is refused with 403.

What the receiving side sees of the person follows the consent: the parts it shares, while it
is in force. Once it is withdrawn the agency keeps only what the record needs (status, dates,
reason and outcome codes): no part of the person, no notes, and it cannot add notes.
"""

from tortoise.queryset import QuerySet

from directory.access import require_actor
from directory.actor import Actor, Role
from directory.errors import Forbidden
from referrals.lifecycle import Party
from referrals.models import Consent, Referral
from referrals.schemas import SHARABLE

OTHERS = "This referral belongs to other organizations."


def party_of(actor: Actor, referral: Referral) -> Party | None:
    if (
        actor.role in (Role.PARTNER, Role.PARTNER_ADMIN)
        and actor.organization_id == referral.receiving_organization_id
        and referral.sent_at is not None
    ):
        return Party.RECEIVER
    if (
        actor.role is Role.SPECIALIST
        and actor.organization_id == referral.referring_organization_id
    ):
        return Party.REFERRER
    return None


def require_participant(actor: Actor | None, referral: Referral) -> tuple[Actor, Party | None]:
    """The actor and their side of the referral (None for an admin, who is on neither)."""
    actor = require_actor(actor)
    party = party_of(actor, referral)
    if party is None and actor.role is not Role.ADMIN:
        raise Forbidden(OTHERS)
    return actor, party


def require_referrer_role(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if actor.role is not Role.SPECIALIST:
        raise Forbidden("Only school specialists make referrals.")
    return actor


def visible_referrals(actor: Actor) -> QuerySet[Referral]:
    """The caller's view: referrals sent to their agency, or from their school (admins: all)."""
    query = Referral.all()
    if actor.role in (Role.PARTNER, Role.PARTNER_ADMIN):
        return query.filter(
            receiving_organization_id=actor.organization_id, sent_at__not_isnull=True
        )
    if actor.role is Role.SPECIALIST:
        return query.filter(referring_organization_id=actor.organization_id)
    if actor.role is Role.ADMIN:
        return query
    return query.none()


def in_force(consent: Consent | None) -> bool:
    return consent is not None and consent.withdrawn_at is None


def shared_with(actor: Actor, referral: Referral, consent: Consent | None) -> frozenset[str]:
    """Which parts of the person the actor may see (see `referrals.schemas.SHARABLE`).

    The referring school and admins see everything; the receiving agency what the consent in
    force shares, and nothing once it is withdrawn.
    """
    if party_of(actor, referral) is not Party.RECEIVER:
        return frozenset(SHARABLE)
    return frozenset(consent.shares) if in_force(consent) else frozenset()


def may_read_notes(actor: Actor, referral: Referral, consent: Consent | None) -> bool:
    """Notes are the family's details too: the agency reads them only under consent."""
    return party_of(actor, referral) is not Party.RECEIVER or in_force(consent)


def require_note_writer(actor: Actor, referral: Referral, consent: Consent | None) -> None:
    if not may_read_notes(actor, referral, consent):
        raise Forbidden("The family withdrew consent: notes are closed to the agency.")
