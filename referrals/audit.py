"""The audit log of referrals' personal details: every read and write, who, when, what.

Reads are recorded where the service hands details out (one referral, a list, a FHIR export);
writes where the timeline records a change, so no path skips it. Entries carry ids only, so the
log itself holds nothing to protect but who looked at what.
"""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from directory.access import require_admin
from directory.actor import SYSTEM, Actor
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


async def entries(
    *,
    actor: Actor | None,
    referral_id: UUID | None = None,
    user_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 10_000,
) -> list[AuditEntry]:
    """The log for admins, oldest first, filtered by referral, user and time."""
    require_admin(actor)
    query = AuditEntry.all()
    if referral_id is not None:
        query = query.filter(referral_id=referral_id)
    if user_id is not None:
        query = query.filter(actor_user_id=user_id)
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    return list(await query.order_by("id").limit(limit))
