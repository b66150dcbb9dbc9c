"""The family's "did you get help?" answer, through a signed link that needs no login.

The link carries only the referral id, signed with the app's secret and dated, so it cannot be
forged or guessed and stops working after `LINK_DAYS`. Opening it shows the question; the
answer is sent by a button (a POST), because mail scanners open links in emails on their own
and must not answer for the family. The answer goes on the timeline as client-reported.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from tortoise.transactions import in_transaction

from directory.claims import now as _now
from directory.errors import Gone, Invalid, NotFound
from referrals import timeline
from referrals.models import MailOutbox, Referral
from referrals.notify import Notice, queue

LINK_DAYS = 30
ANSWERS = ("yes", "partly", "no")
SALT = "caremap.referral-follow-up"


@dataclass(frozen=True)
class Question:
    referral_id: UUID
    language: str
    answered: str | None
    answered_at: datetime | None


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(secret: str, referral_id: UUID) -> str:
    return _serializer(secret).dumps(str(referral_id))


def read_token(secret: str, token: str) -> UUID:
    try:
        return UUID(_serializer(secret).loads(token, max_age=LINK_DAYS * 86400))
    except SignatureExpired:
        raise Gone("This link has expired. Your school contact can still help.") from None
    except (BadSignature, ValueError):
        raise NotFound("This link is not valid.") from None


async def question(secret: str, token: str) -> Question:
    """The question behind a link, while the family's consent to follow up is in force: a
    withdrawn consent (or details removed) ends the link, whatever its date."""
    referral_id = read_token(secret, token)
    referral = await Referral.get_or_none(id=referral_id).prefetch_related("consent")
    if referral is None:
        raise NotFound("This link is not valid.")
    consent = referral.consent
    if (
        consent is None
        or not consent.follow_up
        or consent.withdrawn_at is not None
        or referral.purged_at is not None
    ):
        raise Gone("This link no longer works. Your school contact can still help.")
    return Question(
        referral.id,
        referral.preferred_language,
        referral.client_report,
        referral.client_reported_at,
    )


async def answer(secret: str, token: str, value: str) -> Question:
    """Record the family's answer: one per referral. Answering again with the same answer
    changes nothing; a changed answer corrects it (the timeline keeps both), and the referrer
    hears of a "no" once, however often it is given or corrected."""
    asked = await question(secret, token)
    if value not in ANSWERS:
        raise Invalid({"answer": f"one of {', '.join(ANSWERS)}"})
    if asked.answered == value:
        return asked
    at = _now()
    async with in_transaction():
        await Referral.filter(id=asked.referral_id).update(
            client_report=value, client_reported_at=at
        )
        await timeline.append(asked.referral_id, "client_reported", note=f"got help: {value}")
        key = f"{Notice.FAMILY_NO_HELP.value}:{asked.referral_id}"
        if value == "no" and not await MailOutbox.exists(key=key):
            await queue(asked.referral_id, Notice.FAMILY_NO_HELP, key)
    return Question(asked.referral_id, asked.language, value, at)
