"""Referral models. The person referred is kept to the minimum the partner needs to reach them:
a display name or initials, an age band, a language and how to make contact. No date of birth,
no student id, no free-text diagnosis."""

from enum import StrEnum
from uuid import UUID

from tortoise import fields
from tortoise.models import Model


class ReferralStatus(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Urgency(StrEnum):
    ROUTINE = "routine"
    SOON = "soon"
    URGENT = "urgent"


def short_reference(referral_id: UUID) -> str:
    """The short reference staff quote on the phone and search by: the id's first 8 characters.
    Kept on the referral (`reference`) so a list can be searched by it."""
    return str(referral_id)[:8].upper()


class Referral(Model):
    id = fields.UUIDField(primary_key=True)
    service = fields.ForeignKeyField(
        "models.Service", related_name="referrals", on_delete=fields.RESTRICT, db_index=True
    )
    receiving_organization_id = fields.UUIDField(db_index=True)
    referring_organization_id = fields.UUIDField(db_index=True)
    referring_user_id = fields.UUIDField()
    status = fields.CharEnumField(ReferralStatus, max_length=20, default=ReferralStatus.REQUESTED)
    urgency = fields.CharEnumField(Urgency, max_length=10, default=Urgency.ROUTINE)
    due_at = fields.DatetimeField(null=True)
    needs = fields.JSONField(default=list)
    person_name = fields.CharField(max_length=100)
    age_band = fields.CharField(max_length=20)
    preferred_language = fields.CharField(max_length=10, default="en")
    contact_method = fields.CharField(max_length=20)
    contact_value = fields.CharField(max_length=254, null=True)
    contact_times = fields.CharField(max_length=200, null=True)
    reason = fields.CharField(max_length=30, null=True)
    outcome = fields.CharField(max_length=40, null=True)
    client_report = fields.CharField(max_length=20, null=True)
    client_reported_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    # When the referral was sent to the agency (None while it is the school's draft, and for
    # ever if it is cancelled as one): the agency sees only referrals that were sent.
    sent_at = fields.DatetimeField(null=True)
    reference = fields.CharField(max_length=8, default="")  # `short_reference` of the id
    # The last timeline event (a move, a note, a reminder): the inbox's "last activity".
    last_activity_at = fields.DatetimeField(null=True)
    # New activity one side has not opened yet: set by the other side's moves and notes (and
    # caremap's reminders), cleared when someone of that side opens the referral.
    receiver_unread = fields.BooleanField(default=False)
    referrer_unread = fields.BooleanField(default=False)
    # Whether the agency may see (and search by) the name: the consent in force shares it.
    name_shared = fields.BooleanField(default=False)
    # When the retention sweep removed the person's details (`referrals.retention`).
    purged_at = fields.DatetimeField(null=True)

    class Meta:
        table = "referral"
        # The reminder sweep and the "overdue" filter look referrals up by status and date.
        indexes = (
            ("status", "due_at"),
            ("status", "updated_at"),
            ("receiving_organization_id", "sent_at"),
            ("receiving_organization_id", "receiver_unread"),
            ("referring_user_id", "referrer_unread"),
        )


class Consent(Model):
    """Who agreed to the referral, how, when and to sharing what. Withdrawal stops it."""

    id = fields.UUIDField(primary_key=True)
    referral = fields.OneToOneField(
        "models.Referral", related_name="consent", on_delete=fields.CASCADE
    )
    given_by = fields.CharField(max_length=30)
    method = fields.CharField(max_length=20)
    given_at = fields.DatetimeField()
    shares = fields.JSONField(default=list)
    follow_up = fields.BooleanField(default=False)
    recorded_by = fields.UUIDField()
    withdrawn_at = fields.DatetimeField(null=True)

    class Meta:
        table = "referral_consent"


class ReferralEvent(Model):
    """The timeline: append-only, no route or service updates or deletes these rows."""

    id = fields.BigIntField(primary_key=True)
    referral = fields.ForeignKeyField(
        "models.Referral", related_name="events", on_delete=fields.CASCADE, db_index=True
    )
    kind = fields.CharField(max_length=20)
    actor_user_id = fields.UUIDField(null=True)
    from_status = fields.CharField(max_length=20, null=True)
    to_status = fields.CharField(max_length=20, null=True)
    note = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "referral_event"
        ordering = ("id",)


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # the SMTP server refused it for good (5xx)
    SKIPPED = "skipped"  # nobody to send it to any more (no inbox, consent withdrawn)


class MailOutbox(Model):
    """An email to send about a referral or a listing, written in the same transaction as the
    change.

    It holds no address and no text: the recipient (the receiving organization, the referring
    specialist, the family, a listing's organization or the admins) and the message are worked
    out when it is sent, so the outbox
    copies no personal details and a withdrawn consent stops a follow-up still waiting here.
    `key` is the idempotency key: one row per notice, however often it is queued.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=200, unique=True)
    kind = fields.CharField(max_length=30)
    recipient = fields.CharField(max_length=20)
    referral = fields.ForeignKeyField(
        "models.Referral", related_name="mail", null=True, on_delete=fields.CASCADE, db_index=True
    )
    # Listing notices (verification reminders, flags, problem reports) name the listing instead.
    service = fields.ForeignKeyField(
        "models.Service", related_name=False, null=True, on_delete=fields.CASCADE, db_index=True
    )
    problem = fields.ForeignKeyField(
        "models.ProblemReport", related_name=False, null=True, on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(MailStatus, max_length=10, default=MailStatus.PENDING)
    created_at = fields.DatetimeField(auto_now_add=True)
    available_at = fields.DatetimeField(db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=300, null=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "referral_mail"


class HelpRequestStatus(StrEnum):
    NEW = "new"
    HANDLED = "handled"


class HelpRequest(Model):
    """A family's or student's "ask for help" from the public site, for their school's team.

    Anonymous requests carry no contact details at all. The message is short and optional.
    """

    id = fields.UUIDField(primary_key=True)
    school_organization_id = fields.UUIDField(db_index=True)
    need = fields.CharField(max_length=100)
    preferred_language = fields.CharField(max_length=10, default="en")
    contact_method = fields.CharField(max_length=20, null=True)
    contact_value = fields.CharField(max_length=254, null=True)
    message = fields.CharField(max_length=500, null=True)
    status = fields.CharEnumField(HelpRequestStatus, max_length=10, default=HelpRequestStatus.NEW)
    handled_by = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "help_request"


class AuditEntry(Model):
    """Append-only: who read or wrote a referral's personal details, when, and how.

    It holds ids and an action, never the details themselves. It has no foreign key, so the
    trail outlives a referral whose details were purged. No route or service updates or
    deletes these rows. Admins export them.
    """

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    referral_id = fields.UUIDField(db_index=True)
    action = fields.CharField(max_length=20)
    actor_user_id = fields.UUIDField(null=True, db_index=True)
    actor_organization_id = fields.UUIDField(null=True)
    actor_role = fields.CharField(max_length=20, null=True)

    class Meta:
        table = "referral_audit"
        ordering = ("id",)
