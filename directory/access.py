"""Who may do what to the catalog. Every catalog permission check goes through this module.

- Anyone, signed in or not, reads public listings (status active or temporarily closed).
- A partner or partner admin changes only its own organization's listings; an admin changes any.
- Only a partner admin (of that organization) or an admin edits an organization's profile;
  only an admin creates organizations.
- Specialists read; they change no listings.
- Anyone may report a problem with a public listing; those who may change the listing (its
  organization's partners, admins) read and resolve the reports.
Denials raise: `Unauthenticated` (401) for anonymous callers, `Forbidden` (403) otherwise.
"""

from uuid import UUID

from directory.actor import Actor, Role
from directory.errors import Forbidden, Unauthenticated
from directory.models import ServiceStatus

PUBLIC_STATUSES = (ServiceStatus.ACTIVE, ServiceStatus.TEMPORARILY_CLOSED)
LISTING_EDITORS = (Role.PARTNER, Role.PARTNER_ADMIN)


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise Unauthenticated("Sign in or send an API token to do this.")
    return actor


def can_edit_listings(actor: Actor | None, organization_id: UUID) -> bool:
    if actor is None:
        return False
    if actor.role is Role.ADMIN:
        return True
    return actor.role in LISTING_EDITORS and actor.organization_id == organization_id


def require_listing_editor(actor: Actor | None, organization_id: UUID) -> Actor:
    actor = require_actor(actor)
    if not can_edit_listings(actor, organization_id):
        raise Forbidden("You can change only your own organization's listings.")
    return actor


def require_organization_admin(actor: Actor | None, organization_id: UUID) -> Actor:
    actor = require_actor(actor)
    if actor.role is Role.ADMIN:
        return actor
    if actor.role is Role.PARTNER_ADMIN and actor.organization_id == organization_id:
        return actor
    raise Forbidden("Only your organization's partner admin or a caremap admin can do this.")


# Fields of an organization that decide what its staff may do or where it appears (a school
# is listed on "ask for help", an agency's staff edit listings): a caremap admin's to change.
ADMIN_ONLY_ORGANIZATION_FIELDS = frozenset({"kind"})


def require_organization_change(actor: Actor | None, changed: list[str]) -> None:
    """A partner admin edits their organization's details, but not its kind."""
    actor = require_actor(actor)
    reserved = sorted(set(changed) & ADMIN_ONLY_ORGANIZATION_FIELDS)
    if reserved and actor.role is not Role.ADMIN:
        raise Forbidden(f"Only a caremap admin can change an organization's {', '.join(reserved)}.")


def require_admin(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only a caremap admin can do this.")
    return actor


def can_read_listing(actor: Actor | None, organization_id: UUID, status: str) -> bool:
    """Non-public listings (inactive, defunct) are visible only to those who may edit them."""
    return status in PUBLIC_STATUSES or can_edit_listings(actor, organization_id)


def require_readable_listing(actor: Actor | None, organization_id: UUID, status: str) -> None:
    if not can_read_listing(actor, organization_id, status):
        raise Forbidden("This listing is not public.")
