"""The referral timeline: the one place that appends to it. Nothing updates or deletes events.

Staff moves and notes carry the acting user; system events (reminders, the family's own
answer) carry none.
"""

from typing import Any
from uuid import UUID

from directory.actor import Actor
from referrals import audit
from referrals.models import ReferralEvent


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
    also a write of the referral, so it goes to the audit log with it."""
    await audit.record(actor, [referral_id], kind)
    await ReferralEvent.create(
        referral_id=referral_id,
        kind=kind,
        actor_user_id=actor.user_id if actor else None,
        from_status=getattr(from_status, "value", from_status),
        to_status=getattr(to_status, "value", to_status),
        note=note,
    )
