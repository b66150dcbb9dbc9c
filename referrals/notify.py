"""Which emails caremap sends, to whom and when: the one place for notification rules.

Referral changes queue their notices in the change's own transaction (`queue`); time-driven
notices (overdue reminders, escalations, the family's "did you get help?", listings about to go
stale) come from `sweep` and `sweep_listings`, which the worker runs every few minutes. Listing
events (gone stale, flagged for re-verification, a problem reported) arrive as listing changes
(`on_listing_change`, installed as a catalog change listener). Every notice has an idempotency
key, so queueing it twice, or two workers sweeping at once, still sends it once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from directory import freshness
from directory.claims import now as _now
from directory.editing import Change
from referrals import timeline
from referrals.lifecycle import ENDED, WAITING, WORKING
from referrals.models import MailOutbox, Referral, ReferralStatus


class Recipient(StrEnum):
    ORGANIZATION = "organization"  # the receiving organization's referral inbox
    REFERRER = "referrer"  # the specialist who made the referral
    FAMILY = "family"  # the person referred, only with consent to follow up by email
    LISTING_OWNER = "listing_owner"  # the organization that runs the listing
    ADMINS = "admins"  # every caremap admin


class Notice(StrEnum):
    NEW_REFERRAL = "new_referral"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COMPLETED = "completed"
    FAILED = "failed"
    DUE_REMINDER = "due_reminder"
    DUE_ESCALATION = "due_escalation"
    STALE_REMINDER = "stale_reminder"
    STALE_ESCALATION = "stale_escalation"
    FOLLOW_UP = "follow_up"
    FAMILY_NO_HELP = "family_no_help"
    LISTING_STALE_SOON = "listing_stale_soon"
    LISTING_STALE = "listing_stale"
    LISTING_FLAGGED = "listing_flagged"
    PROBLEM_REPORTED = "problem_reported"
    PROBLEM_REPORTED_ADMINS = "problem_admins"


RECIPIENTS: dict[Notice, Recipient] = {
    Notice.NEW_REFERRAL: Recipient.ORGANIZATION,
    Notice.ACCEPTED: Recipient.REFERRER,
    Notice.REJECTED: Recipient.REFERRER,
    Notice.COMPLETED: Recipient.REFERRER,
    Notice.FAILED: Recipient.REFERRER,
    Notice.DUE_REMINDER: Recipient.ORGANIZATION,
    Notice.DUE_ESCALATION: Recipient.REFERRER,
    Notice.STALE_REMINDER: Recipient.ORGANIZATION,
    Notice.STALE_ESCALATION: Recipient.REFERRER,
    Notice.FOLLOW_UP: Recipient.FAMILY,
    Notice.FAMILY_NO_HELP: Recipient.REFERRER,
    Notice.LISTING_STALE_SOON: Recipient.LISTING_OWNER,
    Notice.LISTING_STALE: Recipient.LISTING_OWNER,
    Notice.LISTING_FLAGGED: Recipient.LISTING_OWNER,
    Notice.PROBLEM_REPORTED: Recipient.LISTING_OWNER,
    Notice.PROBLEM_REPORTED_ADMINS: Recipient.ADMINS,
}

# The notices a listing change sends, by its action (other changes send none).
ON_LISTING_CHANGE: dict[str, tuple[Notice, ...]] = {
    "stale": (Notice.LISTING_STALE,),
    "flag": (Notice.LISTING_FLAGGED,),
    "report": (Notice.PROBLEM_REPORTED, Notice.PROBLEM_REPORTED_ADMINS),
}

# The notice a move into each status sends (moves not listed send none).
ON_STATUS: dict[ReferralStatus, Notice] = {
    ReferralStatus.REQUESTED: Notice.NEW_REFERRAL,
    ReferralStatus.ACCEPTED: Notice.ACCEPTED,
    ReferralStatus.REJECTED: Notice.REJECTED,
    ReferralStatus.COMPLETED: Notice.COMPLETED,
    ReferralStatus.FAILED: Notice.FAILED,
}


@dataclass(frozen=True)
class ReminderRules:
    """How long before reminders, escalations and follow-ups (settings may change them)."""

    stale_days: int = 14  # an accepted referral with no update for this long is overdue
    escalate_after_days: int = 2  # a reminder left unanswered this long goes to the referrer
    follow_up_days: int = 3  # ask the family this long after completion or the due date


async def queue(
    referral_id: object,
    notice: Notice,
    key: str,
    at: datetime | None = None,
    *,
    service_id: object = None,
    problem_id: object = None,
) -> None:
    """Queue one notice about a referral (or, with `service_id`, a listing). Call it inside the
    change's transaction."""
    await MailOutbox.create(
        key=key,
        kind=notice.value,
        recipient=RECIPIENTS[notice].value,
        referral_id=referral_id,
        service_id=service_id,
        problem_id=problem_id,
        available_at=at or _now(),
    )


async def on_listing_change(changes: list[Change]) -> None:
    """Catalog change listener: the listing notices changes send, in their transaction."""
    for change in changes:
        for notice in ON_LISTING_CHANGE.get(change.action, ()):
            await queue(
                None,
                notice,
                f"{notice.value}:{change.entity_id}:{change.id}",
                service_id=change.service_id,
                problem_id=change.entity_id if change.entity == "problem_report" else None,
            )


async def sweep_listings(rules: freshness.FreshnessRules, at: datetime | None = None) -> int:
    """Mark listings that went stale (their notices follow from the change) and remind the
    organizations of listings going stale within the reminder period; returns reminders queued.

    A reminder's key names the verification it is about, so each period reminds once.
    """
    at = at or _now()
    await freshness.mark_stale(rules, at)
    queued = 0
    for row in await freshness.going_stale(rules, at):
        key = f"{Notice.LISTING_STALE_SOON.value}:{row['id']}:{row['basis'].isoformat()}"
        queued += await _queue_once(None, Notice.LISTING_STALE_SOON, key, None, row["id"])
    return queued


async def on_status(referral: Referral, status: ReferralStatus, version: int) -> None:
    """The notice for a referral that has just moved to `status` (at `version`), if any."""
    notice = ON_STATUS.get(status)
    if notice is not None:
        await queue(referral.id, notice, f"{notice.value}:{referral.id}:{version}")


async def _queue_once(
    referral_id: object, notice: Notice, key: str, note: str | None, service_id: object = None
) -> bool:
    """Queue a time-driven notice unless its key was queued before; say so on the referral's
    timeline (with a `note`)."""
    if await MailOutbox.exists(key=key):
        return False
    try:
        async with in_transaction():
            await queue(referral_id, notice, key, service_id=service_id)
            if note is not None:
                await timeline.append(referral_id, notice.value, note=note)
    except IntegrityError:  # another worker queued it first
        return False
    return True


async def sweep(rules: ReminderRules, at: datetime | None = None) -> int:
    """Queue the reminders, escalations and follow-ups that are due at `at`; returns how many."""
    at = at or _now()
    escalate = timedelta(days=rules.escalate_after_days)
    stale = timedelta(days=rules.stale_days)
    follow = timedelta(days=rules.follow_up_days)
    queued = 0

    waiting = await Referral.filter(status__in=WAITING, due_at__lt=at).values("id", "due_at")
    for row in waiting:
        due = row["due_at"].isoformat()
        queued += await _queue_once(
            row["id"], Notice.DUE_REMINDER, f"due_reminder:{row['id']}:{due}", "no response yet"
        )
        if row["due_at"] < at - escalate:
            queued += await _queue_once(
                row["id"],
                Notice.DUE_ESCALATION,
                f"due_escalation:{row['id']}:{due}",
                "still no response: the referrer was told",
            )

    working = await Referral.filter(status__in=WORKING, updated_at__lt=at - stale).values(
        "id", "updated_at"
    )
    for row in working:
        since = row["updated_at"].isoformat()
        queued += await _queue_once(
            row["id"],
            Notice.STALE_REMINDER,
            f"stale_reminder:{row['id']}:{since}",
            f"no update for {rules.stale_days} days",
        )
        if row["updated_at"] < at - stale - escalate:
            queued += await _queue_once(
                row["id"],
                Notice.STALE_ESCALATION,
                f"stale_escalation:{row['id']}:{since}",
                "still no update: the referrer was told",
            )

    followed = Referral.filter(
        contact_method="email",
        client_report__isnull=True,
        consent__follow_up=True,
        consent__withdrawn_at__isnull=True,
    )
    ended = await followed.filter(status__in=ENDED, updated_at__lt=at - follow).values_list(
        "id", flat=True
    )
    unanswered = await followed.filter(status__in=WAITING, due_at__lt=at - follow).values_list(
        "id", flat=True
    )
    for referral_id in dict.fromkeys([*ended, *unanswered]):
        queued += await _queue_once(
            referral_id, Notice.FOLLOW_UP, f"follow_up:{referral_id}", "the family was asked"
        )
    return queued
