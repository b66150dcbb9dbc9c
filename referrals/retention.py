"""Retention: a closed referral keeps the family's details only as long as it must.

After the retention period (settings, two years by default) from when a referral closed, the
worker's sweep removes who the person is and how to reach them, and the free text of notes, in
one transaction per referral. What reports count stays: service, organizations, needs, urgency,
age band, status, reason or outcome, and the dates. The audit log records each purge.
Handled "ask for help" requests lose their contact details and message after the same period.
"""

from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from directory.claims import now as _now
from referrals import audit
from referrals.lifecycle import FINAL
from referrals.models import HelpRequest, HelpRequestStatus, Referral, ReferralEvent

REMOVED = ""  # what a purged name reads as; pages say the details were removed


async def purge_closed(retention_days: int, at: datetime | None = None) -> int:
    """Remove the personal details of referrals closed more than `retention_days` ago."""
    at = at or _now()
    due = await Referral.filter(
        status__in=list(FINAL),
        updated_at__lt=at - timedelta(days=retention_days),
        purged_at__isnull=True,
    ).values_list("id", flat=True)
    for referral_id in due:
        async with in_transaction():
            # A plain UPDATE: `updated_at` would move with a model save, and it dates the close.
            await Referral.filter(id=referral_id, purged_at__isnull=True).update(
                person_name=REMOVED,
                contact_value=None,
                contact_times=None,
                purged_at=at,
            )
            await ReferralEvent.filter(referral_id=referral_id, note__isnull=False).update(
                note=None
            )
            await audit.record(None, [referral_id], audit.Action.PURGE)
    return len(due)


async def purge_help_requests(retention_days: int, at: datetime | None = None) -> int:
    """Remove the contact details and message of handled help requests past the period."""
    at = at or _now()
    return (
        await HelpRequest.filter(
            status=HelpRequestStatus.HANDLED,
            created_at__lt=at - timedelta(days=retention_days),
        )
        .filter(Q(contact_value__isnull=False) | Q(message__isnull=False))
        .update(contact_value=None, message=None)
    )
