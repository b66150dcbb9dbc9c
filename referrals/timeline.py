"""The referral timeline: the one place that appends to it. Nothing updates or deletes events.

Staff moves and notes carry the acting user; system events (reminders, the family's own
answer) carry none.
"""

from typing import Any
from uuid import UUID

from directory.actor import SYSTEM, Actor, Role
from referrals import audit
from referrals.models import Referral, ReferralEvent


async def append(
    referral_id: UUID,
    kind: str,
    *,
    actor: Actor | None = None,
    from_status: Any = None,
    to_status: Any = None,
    note: str | None = None,
) -> None:
    """Add one event; call it inside the transaction of the change it records. The change is
    also a write of the referral, so it goes to the audit log with it, and it is new activity
    for the other side (`unread_for`)."""
    await audit.record(actor, [referral_id], kind)
    event = await ReferralEvent.create(
        referral_id=referral_id,
        kind=kind,
        actor_user_id=actor.user_id if actor else None,
        from_status=getattr(from_status, "value", from_status),
        to_status=getattr(to_status, "value", to_status),
        note=note,
    )
    await Referral.filter(id=referral_id).update(
        last_activity_at=event.created_at, **unread_for(actor)
    )


def unread_for(actor: Actor | None) -> dict[str, bool]:
    """Whose inbox an event lights up: the agency's when the school acts, the school's when the
    agency acts, both when caremap itself (a reminder, the family's answer) or an admin does."""
    role = actor.role if actor is not None and actor != SYSTEM else None
    if role in (Role.PARTNER, Role.PARTNER_ADMIN):
        return {"referrer_unread": True}
    if role is Role.SPECIALIST:
        return {"receiver_unread": True}
    return {"receiver_unread": True, "referrer_unread": True}
