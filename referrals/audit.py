"""The audit log of referrals' personal details: every read and write, who, when, what.

Reads are recorded where the service hands details out (one referral, a list, a FHIR export);
writes where the timeline records a change, so no path skips it. Entries carry ids only, so the
log itself holds nothing to protect but who looked at what.
"""

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from tortoise.queryset import QuerySet

from directory.access import require_admin
from directory.actor import SYSTEM, Actor
from directory.service import Page
from referrals.models import AuditEntry


class Action(StrEnum):
    READ = "read"
    LIST = "list"
    EXPORT_FHIR = "export_fhir"
    PURGE = "purge"
    REFUSED = "refused"  # a look at a referral the caller may not see (403) or that is not (404)
    # Writes are named by the timeline event they come with: created, transition, note,
    # consent_withdrawn, and the system's reminders and follow-ups.


async def record(actor: Actor | None, referral_ids: Iterable[UUID], action: str) -> None:
    """Append one entry per referral. `actor` None (or SYSTEM) is caremap itself."""
    person = actor if actor is not None and actor != SYSTEM else None
    await AuditEntry.bulk_create(
        [
            AuditEntry(
                referral_id=referral_id,
                action=str(action),
                actor_user_id=person.user_id if person else None,
                actor_organization_id=person.organization_id if person else None,
                actor_role=person.role.value if person else None,
            )
            for referral_id in referral_ids
        ]
    )


@dataclass(frozen=True)
class AuditFilter:
    """Which entries an admin asks for: by referral, by person, by action, in a time range."""

    referral_ids: tuple[UUID, ...] | None = None
    user_id: UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


EXPORT_CHUNK = 1000


def _matching(where: AuditFilter) -> QuerySet[AuditEntry]:
    query = AuditEntry.all()
    if where.referral_ids is not None:
        query = query.filter(referral_id__in=where.referral_ids)
    if where.user_id is not None:
        query = query.filter(actor_user_id=where.user_id)
    if where.action is not None:
        query = query.filter(action=where.action)
    if where.since is not None:
        query = query.filter(at__gte=where.since)
    if where.until is not None:
        query = query.filter(at__lt=where.until)
    return query


async def page_of(
    *, actor: Actor | None, where: AuditFilter, page: int = 1, per_page: int = 50
) -> Page:
    """One page of the log for admins, newest first, with how many entries match."""
    require_admin(actor)
    query = _matching(where)
    total = await query.count()
    found = await query.order_by("-id").offset((page - 1) * per_page).limit(per_page)
    return Page(list(found), total, page, per_page)


async def export(*, actor: Actor | None, where: AuditFilter) -> AsyncIterator[list[AuditEntry]]:
    """Every matching entry, oldest first, in chunks read by id (never an offset, never the
    whole log in memory), for the download."""
    require_admin(actor)
    after = 0
    while True:
        chunk = list(await _matching(where).filter(id__gt=after).order_by("id").limit(EXPORT_CHUNK))
        if not chunk:
            return
        yield chunk
        after = chunk[-1].id
