"""Wiring mail into the app and the worker: SMTP settings, who a user is, and the loops.

`MAIL_DRAINER=inprocess` (the default, for a one-command install) sends mail and runs the
reminder sweep (referral reminders, listing freshness and quality) inside the app process;
`external` leaves both to `caremap worker`.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

from caremap.accounts.models import User
from caremap.settings import Settings
from directory.actor import Role
from directory.freshness import FreshnessRules
from referrals.listing_quality import QualityRules, flag_struggling
from referrals.mail import Address, MailConfig, MailDrainer
from referrals.notify import ReminderRules, sweep, sweep_listings
from referrals.retention import purge_closed, purge_help_requests

logger = logging.getLogger(__name__)


def mail_config(settings: Settings) -> MailConfig:
    return MailConfig(
        base_url=settings.base_url,
        secret=str(settings.secret_key),
        sender=settings.mail_from,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_tls=settings.smtp_tls,
        smtp_username=settings.smtp_username,
        smtp_password=str(settings.smtp_password) if settings.smtp_password else None,
        timeout=settings.smtp_timeout,
        time_zone=settings.time_zone,
        stale_days=settings.stale_days,
        listing_stale_days=settings.listing_stale_days,
    )


def freshness_rules(settings: Settings) -> FreshnessRules:
    return FreshnessRules(
        stale_days=settings.listing_stale_days, reminder_days=settings.listing_reminder_days
    )


def quality_rules(settings: Settings) -> QualityRules:
    return QualityRules(
        threshold=settings.listing_flag_threshold,
        window_days=settings.listing_flag_window_days,
    )


def reminder_rules(settings: Settings) -> ReminderRules:
    return ReminderRules(
        stale_days=settings.stale_days,
        escalate_after_days=settings.escalate_after_days,
        follow_up_days=settings.follow_up_days,
    )


async def user_address(user_id: UUID) -> Address | None:
    """Where a referral's specialist gets their mail, in their language (active users only)."""
    user = await User.get_or_none(id=user_id, is_active=True)
    return Address(user.email, user.language) if user else None


async def admin_addresses() -> list[Address]:
    """Where admins get problem reports: every active admin."""
    admins = await User.filter(role=Role.ADMIN, is_active=True).order_by("email")
    return [Address(user.email, user.language) for user in admins]


def mail_drainer(settings: Settings) -> MailDrainer:
    return MailDrainer(mail_config(settings), user_address, admins=admin_addresses)


async def sweep_once(settings: Settings, at: datetime | None = None) -> int:
    """One pass of every time-driven rule: referral reminders, listings gone or going stale,
    listings whose referral outcomes ask for a re-verification, and the retention purge.
    Returns the notices queued."""
    await flag_struggling(quality_rules(settings), at)
    purged = await purge_closed(settings.retention_days, at)
    purged += await purge_help_requests(settings.retention_days, at)
    if purged:
        logger.info("removed the personal details of %d closed referrals and requests", purged)
    return await sweep(reminder_rules(settings), at) + await sweep_listings(
        freshness_rules(settings), at
    )


async def sweep_reminders(settings: Settings, stop: asyncio.Event) -> None:
    """Run `sweep_once` every few minutes until stopped."""
    while not stop.is_set():
        try:
            queued = await sweep_once(settings)
            if queued:
                logger.info("queued %d reminders and follow-ups", queued)
        except Exception:
            logger.exception("reminder sweep failed; trying again later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.reminder_sweep_seconds)


@contextlib.asynccontextmanager
async def mail_loops(settings: Settings) -> AsyncIterator[None]:
    """Run the mail drainer and the reminder sweep until the block ends."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(mail_drainer(settings).run(stop)),
        asyncio.create_task(sweep_reminders(settings, stop)),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


@contextlib.asynccontextmanager
async def running_mail(settings: Settings) -> AsyncIterator[None]:
    if settings.mail_drainer != "inprocess":
        yield
        return
    async with mail_loops(settings):
        yield
