"""Sending the mail outbox (referral and listing notices) over SMTP with aiosmtplib, at least
once and never lost.

The drainer claims due rows (`directory.claims`), works out each recipient and message at send
time, sends them over one SMTP connection, and marks each row sent only after the server took
it. If the server is down or answers with a temporary error, the rows go back with backoff and
are sent later. A message the server refuses for good (5xx for that message) is marked failed
and not retried. A worker that dies between the server's "OK" and marking the row sends that
one message again; its Message-ID is the same (made from the idempotency key), so mail systems
that de-duplicate drop the copy. Logs name the row and the notice, never an address.
"""

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape
from tortoise.exceptions import BaseORMException

from directory import freshness, text
from directory.claims import claim, release
from directory.claims import now as _now
from directory.models import Organization, ProblemReport, Service
from referrals import followup
from referrals.messages import Facts, ListingFacts, Message, compose, compose_listing
from referrals.models import MailOutbox, MailStatus, Referral, short_reference
from referrals.notify import Notice, Recipient

logger = logging.getLogger(__name__)
# A message that cannot be written (a template or header error) is tried this many times, with
# backoff, before it is marked failed; one whose recipient the server turns down for now
# (greylisting, a full mailbox) keeps trying for about a day (backoff tops out at 5 minutes).
MAX_ATTEMPTS = 5
MAX_RECIPIENT_ATTEMPTS = 300
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class MailConfig:
    base_url: str
    secret: str
    sender: str
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_tls: str = "none"  # none, starttls or tls
    smtp_username: str | None = None
    smtp_password: str | None = None
    timeout: float = 30.0
    time_zone: str = "UTC"
    organization_language: str = "en"
    stale_days: int = 14
    listing_stale_days: int = 180


@dataclass(frozen=True)
class Address:
    email: str
    language: str


UserLookup = Callable[[UUID], Awaitable[Address | None]]
AdminLookup = Callable[[], Awaitable[list[Address]]]


async def no_admins() -> list[Address]:
    return []


class Undeliverable(Exception):
    """Nobody to send this notice to any more; the row is marked skipped."""


class Unsendable(Exception):
    """This message can never be sent as it stands (its address is not one address, say); the
    row is marked failed at once."""


class TemporaryFailure(Exception):
    """The SMTP server cannot take mail now; try again later."""


def message_id(key: str, base_url: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{urlsplit(base_url).hostname or 'caremap'}>"


async def _recipient(row: MailOutbox, referral: Referral, config: MailConfig, users: UserLookup):
    recipient = Recipient(row.recipient)
    if recipient is Recipient.ORGANIZATION:
        organization = await Organization.get(id=referral.receiving_organization_id)
        email = organization.referral_email or organization.email
        if not email:
            raise Undeliverable("the organization has no referral inbox address")
        return Address(email, config.organization_language)
    if recipient is Recipient.REFERRER:
        address = await users(referral.referring_user_id)
        if address is None:
            raise Undeliverable("the referring user is no longer active")
        return address
    consent = referral.consent
    if (
        consent is None
        or not consent.follow_up
        or consent.withdrawn_at is not None
        or referral.contact_method != "email"
        or not referral.contact_value
    ):
        raise Undeliverable("the family did not agree to an email follow-up")
    return Address(referral.contact_value, referral.preferred_language)


async def prepare(
    row: MailOutbox, config: MailConfig, users: UserLookup, admins: AdminLookup = no_admins
) -> EmailMessage:
    """The email for an outbox row, as it should read now."""
    if row.referral_id is None:
        return await _prepare_listing(row, config, admins)
    referral = await Referral.get(id=row.referral_id).prefetch_related("service", "consent")
    address = await _recipient(row, referral, config, users)
    names = dict(
        await Organization.filter(
            id__in=[referral.receiving_organization_id, referral.referring_organization_id]
        ).values_list("id", "name")
    )
    notice = Notice(row.kind)
    facts = Facts(
        reference=short_reference(referral.id),
        service=referral.service.name,
        agency=names.get(referral.receiving_organization_id, ""),
        school=names.get(referral.referring_organization_id, ""),
        urgency=referral.urgency.value,
        due_at=referral.due_at,
        reason=referral.reason,
        outcome=referral.outcome,
        stale_days=config.stale_days,
        link_days=followup.LINK_DAYS,
    )
    text = compose(notice, facts, address.language, config.time_zone)
    if notice is Notice.FOLLOW_UP:
        link = f"{config.base_url}/help/{followup.make_token(config.secret, referral.id)}"
    else:
        link = f"{config.base_url}/referrals/{referral.id}"
    return _email(row, config, text, link, to=address.email)


async def _prepare_listing(row: MailOutbox, config: MailConfig, admins: AdminLookup):
    """A listing notice: to the organization that runs it, or to every admin (in Bcc)."""
    if row.service_id is None:
        raise Undeliverable("the listing is gone")
    service = await Service.get(id=row.service_id).prefetch_related("organization")
    problem = await ProblemReport.get_or_none(id=row.problem_id) if row.problem_id else None
    rules = freshness.FreshnessRules(stale_days=config.listing_stale_days)
    facts = ListingFacts(
        service=service.name,
        organization=service.organization.name,
        stale_on=freshness.stale_at(service, rules),
        stale_days=config.listing_stale_days,
        signals=service.review_signals or {},
        problem=problem.kind.value if problem else None,
    )
    text = compose_listing(Notice(row.kind), facts, config.organization_language)
    if Recipient(row.recipient) is Recipient.ADMINS:
        addresses = [address.email for address in await admins()]
        if not addresses:
            raise Undeliverable("there is no active admin")
        link = f"{config.base_url}/portal/problems"
        return _email(row, config, text, link, to="undisclosed-recipients:;", bcc=addresses)
    email = service.organization.email or service.organization.referral_email
    if not email:
        raise Undeliverable("the organization has no email address")
    return _email(
        row, config, text, f"{config.base_url}/portal/services/{service.id}/edit", to=email
    )


def _email(
    row: MailOutbox,
    config: MailConfig,
    text: Message,
    link: str,
    *,
    to: str,
    bcc: list[str] | None = None,
) -> EmailMessage:
    context = {"message": text, "link": link}
    email = _headed(config, to=to, subject=text.subject)
    if bcc:
        email["Bcc"] = ", ".join(_address(one) for one in bcc)
    email["Message-ID"] = message_id(row.key, config.base_url)
    email.set_content(TEMPLATES.get_template("mail.txt").render(context))
    email.add_alternative(TEMPLATES.get_template("mail.html").render(context), subtype="html")
    email["Content-Language"] = text.language.replace("_", "-")  # after: parts take Content-*
    return email


def _headed(config: MailConfig, *, to: str, subject: str) -> EmailMessage:
    """A message with the headers every caremap email carries: one checked recipient, a
    subject made safe for a header, and word that a program sent it."""
    email = EmailMessage()
    email["From"] = config.sender
    email["To"] = _address(to)
    email["Subject"] = header_text(subject)
    email["Date"] = formatdate(localtime=False)
    email["Auto-Submitted"] = "auto-generated"
    return email


def header_text(value: str) -> str:
    """A value made safe for a header: every control and invisible formatting character (a
    line break would start a header of the sender's choosing) becomes a space. Input is
    already refused with such characters; this holds for data that came in before that rule."""
    return " ".join("".join(" " if text.problem(char) else char for char in value).split())


def _address(value: str) -> str:
    """A recipient address exactly as stored, or Undeliverable: never a repaired one."""
    if text.problem(value) or "," in value or not value.strip():
        raise Unsendable("the recipient is not one valid address")
    return value.strip()


async def send_now(config: MailConfig, *, to: str, subject: str, body: str, language: str) -> None:
    """Send one plain-text message at once, outside the outbox: for mail whose recipient may
    not be stored (a family's own address for a list it asked for). Raises TemporaryFailure
    when the server cannot take it, so the caller can say so; logs never name the address."""
    email = _headed(config, to=to, subject=subject)
    email.set_content(body)
    email["Content-Language"] = language.replace("_", "-")
    try:
        async with _smtp(config) as smtp:
            await smtp.send_message(email)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        logger.warning("a message sent at once was not taken: %s", _kind(error))
        raise TemporaryFailure(_kind(error)) from None


def _smtp(config: MailConfig) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=config.smtp_host,
        port=config.smtp_port,
        username=config.smtp_username,
        password=config.smtp_password,
        use_tls=config.smtp_tls == "tls",
        start_tls=config.smtp_tls == "starttls",
        timeout=config.timeout,
    )


def _kind(error: Exception) -> str:
    """An unexpected error by its class alone: its text may quote an address or a name."""
    return type(error).__name__


def _describe(error: Exception) -> str:
    """The error without what the server may have quoted back (addresses stay out of logs)."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return f"recipients refused ({', '.join(str(e.code) for e in error.recipients)})"
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{type(error).__name__} {error.code}"
    return f"{type(error).__name__}: {error}"


def _permanent(error: Exception) -> bool:
    """Did the server refuse this one message for good (as opposed to being unavailable)?"""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(e.code >= 500 for e in error.recipients)
    if isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return error.code >= 500
    return False


def _about_this_message(error: Exception) -> bool:
    """Did the server turn down this message's recipients for now (a 4xx: greylisting, a full
    mailbox), while it may still take others? A 4xx to DATA is the server's own state."""
    return isinstance(error, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPRecipientRefused)


def _infrastructure(error: Exception) -> bool:
    """The database or the network, not the message: nothing to hold against the row."""
    return isinstance(error, BaseORMException | OSError | TimeoutError)


class MailDrainer:
    def __init__(
        self,
        config: MailConfig,
        users: UserLookup,
        *,
        admins: AdminLookup = no_admins,
        batch_size: int = 50,
        claim_seconds: float = 300,
        poll_seconds: float = 1.0,
    ) -> None:
        self.config = config
        self.users = users
        self.admins = admins
        self.batch_size = batch_size
        self.claim_seconds = claim_seconds
        self.poll_seconds = poll_seconds

    async def drain_once(self, at: datetime | None = None) -> int:
        """Send one batch; returns how many rows it finished (sent, failed or skipped).

        Raises `TemporaryFailure` when the SMTP server could not be used; the unsent rows of
        the batch are released for a later try.
        """
        rows = await claim(
            MailOutbox,
            limit=self.batch_size,
            seconds=self.claim_seconds,
            at=at,
            status=MailStatus.PENDING,
        )
        if not rows:
            return 0
        finished = 0
        smtp = _smtp(self.config)
        try:
            for index, row in enumerate(rows):
                try:
                    email = await prepare(row, self.config, self.users, self.admins)
                except Undeliverable as why:
                    await self._finish(row, MailStatus.SKIPPED, str(why))
                    finished += 1
                    continue
                except Unsendable as why:
                    logger.warning("mail %s (%s) cannot be sent: %s", row.id, row.kind, why)
                    await self._finish(row, MailStatus.FAILED, str(why))
                    finished += 1
                    continue
                except Exception as error:
                    if _infrastructure(error):
                        await release(rows[index:], _describe(error), at=at)
                        raise
                    # A message that cannot be written (a template or header error) is this
                    # row's fault alone: it is retried a few times, then failed, and the rest
                    # of the batch goes on.
                    finished += await self._retry_or_fail(row, f"composing: {_kind(error)}", at)
                    continue
                try:
                    if not smtp.is_connected:
                        await smtp.connect()
                    await smtp.send_message(email)
                except (aiosmtplib.SMTPException, OSError) as error:
                    why = _describe(error)
                    if _permanent(error):
                        logger.warning("mail %s (%s) refused: %s", row.id, row.kind, why)
                        await self._finish(row, MailStatus.FAILED, why)
                        finished += 1
                        continue
                    if _about_this_message(error):
                        finished += await self._retry_or_fail(
                            row, why, at, limit=MAX_RECIPIENT_ATTEMPTS
                        )
                        continue
                    await release(rows[index:], why, at=at)
                    raise TemporaryFailure(why) from error
                except Exception as error:  # the message could not be serialised, say
                    finished += await self._retry_or_fail(row, f"sending: {_kind(error)}", at)
                    continue
                await self._finish(row, MailStatus.SENT, None)
                finished += 1
        finally:
            try:
                if smtp.is_connected:
                    await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass
            finally:
                # Closed even when the drainer is cancelled part way (the app shutting down):
                # a connection left to the collector is an unclosed socket.
                smtp.close()
        return finished

    async def _retry_or_fail(
        self, row: MailOutbox, error: str, at: datetime | None, limit: int = MAX_ATTEMPTS
    ) -> int:
        """One more failed attempt for this row alone: later again with backoff, or failed for
        good after `limit` attempts. Returns 1 when the row is finished."""
        logger.warning(
            "mail %s (%s) not sent (attempt %d): %s", row.id, row.kind, row.attempts + 1, error
        )
        if row.attempts + 1 >= limit:
            await self._finish(row, MailStatus.FAILED, error)
            return 1
        await release([row], error, at=at)
        return 0

    async def _finish(self, row: MailOutbox, status: MailStatus, error: str | None) -> None:
        await MailOutbox.filter(id=row.id).update(
            status=status,
            claimed_until=None,
            attempts=row.attempts + 1,
            last_error=error[:300] if error else None,
            sent_at=_now() if status is MailStatus.SENT else None,
        )

    async def drain_all(self, at: datetime | None = None) -> int:
        total = 0
        while done := await self.drain_once(at):
            total += done
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, polling the outbox and backing off while SMTP is down.

        An SMTP server that is down is said once (and again when it is back), not at every
        poll: on a demo machine with no mail server, mail simply waits in the outbox."""
        server = f"{self.config.smtp_host}:{self.config.smtp_port}"
        logger.info("mail goes to the SMTP server at %s; it waits in the outbox until sent", server)
        down = False
        while not stop.is_set():
            try:
                done = await self.drain_once()
            except TemporaryFailure as error:
                if not down:
                    logger.warning(
                        "SMTP server at %s unavailable (%s); mail waits and is sent when it "
                        "returns",
                        server,
                        error,
                    )
                down, done = True, 0
            except Exception:
                logger.exception("mail outbox drain failed; retrying")
                done = 0
            else:
                if down and done:  # something was sent: the server is back
                    logger.info("SMTP server at %s is back; sending the mail that waited", server)
                    down = False
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
