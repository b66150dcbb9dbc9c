"""Who may see and move a referral. Every referral permission check goes through here.

- The receiving side: partners and partner admins of the organization that runs the service.
- The referring side: specialists of the school organization that made the referral.
- Admins see all and may correct any move in the lifecycle table.
Anyone else, including staff of other organizations guessing ids, is refused with 403.
"""

from tortoise.queryset import QuerySet

from directory.access import require_actor
from directory.actor import Actor, Role
from directory.errors import Forbidden
from referrals.lifecycle import Party
from referrals.models import Referral


def party_of(actor: Actor, referral: Referral) -> Party | None:
    if actor.role in (Role.PARTNER, Role.PARTNER_ADMIN) and (
        actor.organization_id == referral.receiving_organization_id
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
        raise Forbidden("This referral belongs to other organizations.")
    return actor, party


def require_referrer_role(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if actor.role is not Role.SPECIALIST:
        raise Forbidden("Only school specialists make referrals.")
    return actor


def visible_referrals(actor: Actor) -> QuerySet[Referral]:
    """The caller's view: referrals to their agency, or from their school (admins: all)."""
    query = Referral.all()
    if actor.role in (Role.PARTNER, Role.PARTNER_ADMIN):
        return query.filter(receiving_organization_id=actor.organization_id)
    if actor.role is Role.SPECIALIST:
        return query.filter(referring_organization_id=actor.organization_id)
    if actor.role is Role.ADMIN:
        return query
    return query.none()
