"""The catalog's service layer for organizations and services: every write goes through here.

Functions are keyword-only, take the acting user as an `Actor` (or None for anonymous), check
access through `directory.access`, validate through `directory.schemas`, and run each write in
one transaction together with its `ListingChange` record.
"""

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from directory import access, details
from directory.actor import Actor, Role
from directory.editing import (
    current_values,
    delete_versioned,
    get_or_404,
    merge_patch,
    now,
    record_change,
    update_versioned,
)
from directory.errors import Invalid, NotFound
from directory.geocoding import zip_info
from directory.models import (
    ListingChange,
    Organization,
    Service,
    ServiceAreaType,
    TaxonomyTerm,
)
from directory.schemas import IntakeInput, OrganizationInput, ServiceInput, validate
from directory.taxonomy import BY_CODE, CATEGORIES, TAXONOMY_NAME, category_id

MAX_PER_PAGE = 100
# A service's own rows; with its organization, everything a reader needs.
SERVICE_RELATIONS = (
    "categories",
    "phones",
    "schedules",
    "service_areas",
    "service_at_locations__location__phones",
    "service_at_locations__schedules",
)
SERVICE_PREFETCH = ("organization", *SERVICE_RELATIONS)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def total_pages(self) -> int:
        """For the pager on the public pages."""
        return max(1, -(-self.total // self.per_page))


# --- taxonomy ---------------------------------------------------------------------------------


async def sync_taxonomy() -> None:
    """Write the categories from `directory.taxonomy` to the database (idempotent).

    Only terms that differ are written, so an ordinary start writes nothing: on SQLite, the app
    and its worker starting together would otherwise both take the write lock and one fail.
    """
    stored = {term.id: term for term in await TaxonomyTerm.all()}
    for category in CATEGORIES:
        values = {
            "code": category.code,
            "name": category.name,
            "description": category.description,
            "parent_id": category_id(category.parent) if category.parent else None,
            "taxonomy": TAXONOMY_NAME,
        }
        term = stored.get(category.id)
        if term is None:
            await TaxonomyTerm.create(id=category.id, **values)
        elif any(getattr(term, name) != value for name, value in values.items()):
            await TaxonomyTerm.filter(id=category.id).update(**values)


async def taxonomy_terms() -> list[TaxonomyTerm]:
    return await TaxonomyTerm.all().order_by("code")


# --- organizations ----------------------------------------------------------------------------


async def create_organization(
    *, actor: Actor | None, data: Any, organization_id: UUID | None = None
) -> Organization:
    access.require_admin(actor)
    values = validate(OrganizationInput, data).values()
    async with in_transaction():
        organization = await Organization.create(id=organization_id or uuid4(), **values)
        await record_change(
            actor=actor,
            organization_id=organization.id,
            entity="organization",
            entity_id=organization.id,
            action="create",
        )
    return organization


async def update_organization(
    *, actor: Actor | None, organization_id: UUID, version: int, data: Any
) -> Organization:
    organization = await get_or_404(Organization, organization_id, "organization")
    access.require_organization_admin(actor, organization.id)
    validated, changed = merge_patch(
        OrganizationInput, current_values(OrganizationInput, organization), data
    )
    access.require_organization_change(actor, changed)
    async with in_transaction():
        await update_versioned(
            Organization, organization.id, version, validated.values(), "organization"
        )
        await record_change(
            actor=actor,
            organization_id=organization.id,
            entity="organization",
            entity_id=organization.id,
            action="update",
            changed_fields=changed,
        )
    return await Organization.get(id=organization.id)


async def list_organizations(
    *, words: str | None = None, kind: str | None = None, page: int = 1, per_page: int = 50
) -> Page:
    """Organizations by name, a page at a time; `words` finds them by their names (the admin
    area's lists and pickers), `kind` keeps schools or agencies."""
    _check_paging(page, per_page, {})
    query = Organization.all()
    if words:
        query = query.filter(Q(name__icontains=words) | Q(alternate_name__icontains=words))
    if kind:
        query = query.filter(kind=kind)
    total = await query.count()
    found = await query.order_by("name", "id").offset((page - 1) * per_page).limit(per_page)
    return Page(list(found), total, page, per_page)


def _check_paging(page: int, per_page: int, errors: dict[str, str]) -> None:
    if not 1 <= page <= 10_000:
        errors["page"] = "must be between 1 and 10000"
    if not 1 <= per_page <= MAX_PER_PAGE:
        errors["per_page"] = f"must be between 1 and {MAX_PER_PAGE}"
    if errors:
        raise Invalid(errors)


async def organization_names(ids: Iterable[UUID]) -> dict[UUID, str]:
    """The names of the given organizations (for reports and lists that hold only ids)."""
    rows = await Organization.filter(id__in=list(set(ids))).values("id", "name")
    return {row["id"]: row["name"] for row in rows}


async def organizations_of_kind(kind: str) -> list[Organization]:
    """Every school, or every provider, by name (for pickers)."""
    return await Organization.filter(kind=kind).order_by("name", "id")


async def get_organization(*, organization_id: UUID) -> Organization:
    return await get_or_404(Organization, organization_id, "organization")


# --- services: reads --------------------------------------------------------------------------


async def get_service(*, actor: Actor | None, service_id: UUID) -> Service:
    service = (
        await Service.get_or_none(id=service_id)
        .select_related("organization")  # joined: one query fewer for every page and API read
        .prefetch_related(*SERVICE_RELATIONS)
    )
    if service is None:
        raise NotFound(f"No service with id {service_id}.")
    access.require_readable_listing(actor, service.organization_id, service.status)
    return service


async def list_services(
    *,
    actor: Actor | None,
    page: int = 1,
    per_page: int = 25,
    **narrowed: Any,
) -> Page:
    """Public listings, optionally narrowed (see `matching_services`). An organization's
    editors also see its hidden ones."""
    _check_paging(page, per_page, {})
    matching = matching_services(actor, **narrowed).order_by("name", "id")
    total = await matching.count()
    chosen = (
        await matching.offset((page - 1) * per_page).limit(per_page).values_list("id", flat=True)
    )
    services = await Service.filter(id__in=chosen).prefetch_related(*SERVICE_PREFETCH)
    by_id = {service.id: service for service in services}
    return Page([by_id[i] for i in chosen], total, page, per_page)


def matching_services(
    actor: Actor | None,
    *,
    category: str | None = None,
    any_category: bool = False,
    among: Collection[UUID] | None = None,
    postal_code: str | None = None,
    organization_id: UUID | None = None,
    text: str | None = None,
    modified_after: datetime | None = None,
) -> QuerySet[Service]:
    """The services the actor may read that match every filter given: a caremap category (or,
    `any_category`, one of them at all), one of the services `among`, a ZIP they serve, an
    organization, words in the name or description, a change after a time."""
    errors: dict[str, str] = {}
    if category is not None and category not in BY_CODE:
        errors["category"] = "unknown category code"
    if postal_code is not None and zip_info(postal_code) is None:
        errors["postal_code"] = "unknown or malformed ZIP code"
    if errors:
        raise Invalid(errors)
    query = _visible_services(actor, organization_id)
    if category is not None:
        query = query.filter(Q(categories__code=category) | Q(categories__parent__code=category))
    if any_category:
        query = query.filter(categories__code__isnull=False)
    if among is not None:
        query = query.filter(id__in=list(among))
    if postal_code is not None:
        query = query.filter(_serves_postal_code(postal_code))
    if text:
        query = query.filter(Q(name__icontains=text) | Q(description__icontains=text))
    if modified_after is not None:
        query = query.filter(updated_at__gt=modified_after)
    # Filters over joins can repeat a service: select the matching ids in a subquery, so the
    # caller orders and pages the services themselves in SQL.
    return Service.filter(id__in=Subquery(query.values("id")))


def readable(actor: Actor | None) -> Callable[[Service], bool]:
    """Whether the actor may read a listing: the rule of `get_service`, for lists in memory."""
    return lambda listing: access.can_read_listing(actor, listing.organization_id, listing.status)


def _visible_services(actor: Actor | None, organization_id: UUID | None) -> QuerySet[Service]:
    """Public listings; an organization's editors also see its hidden ones, admins every one."""
    query = Service.all()
    if actor is not None and actor.role is Role.ADMIN:
        return query.filter(organization_id=organization_id) if organization_id else query
    if organization_id is not None:
        query = query.filter(organization_id=organization_id)
        if access.can_edit_listings(actor, organization_id):
            return query
    return query.filter(status__in=[s.value for s in access.PUBLIC_STATUSES])


def _serves_postal_code(postal_code: str) -> Q:
    """A service is in a ZIP if one of its locations is, or its service area covers it."""
    info = zip_info(postal_code)
    assert info is not None
    covered = Q(service_at_locations__location__postal_code=info.postal_code) | Q(
        service_areas__extent_type=ServiceAreaType.POSTAL_CODE,
        service_areas__extent=info.postal_code,
    )
    if info.county:
        covered |= Q(
            service_areas__extent_type=ServiceAreaType.COUNTY,
            service_areas__extent=info.county,
            service_areas__state_province=info.state,
        )
    return covered | Q(
        service_areas__extent_type=ServiceAreaType.STATE, service_areas__extent=info.state
    )


# --- services: writes -------------------------------------------------------------------------

_NESTED = ("phones", "schedules", "service_areas", "location_ids")


async def create_service(
    *,
    actor: Actor | None,
    data: Any,
    service_id: UUID | None = None,
    verified_at: datetime | None = None,
) -> Service:
    """Create a service, optionally with its phones, schedules, service areas and location links.

    All of it is written in one transaction, or none of it.
    """
    actor = access.require_actor(actor)
    if not isinstance(data, dict):
        raise Invalid({"body": "must be a JSON object"})
    data = dict(data)
    organization_id = _organization_id(data.pop("organization_id", None), actor)
    nested = {key: data.pop(key, None) or [] for key in _NESTED}
    access.require_listing_editor(actor, organization_id)
    await get_or_404(Organization, organization_id, "organization")
    values = validate(ServiceInput, data).values()
    codes = values.pop("categories")
    async with in_transaction():
        service = await Service.create(
            id=service_id or uuid4(),
            organization_id=organization_id,
            last_verified_at=verified_at,
            **values,
        )
        await _set_categories(service, codes)
        await record_change(
            actor=actor,
            organization_id=organization_id,
            service_id=service.id,
            entity="service",
            entity_id=service.id,
            action="create",
        )
        await details.add_nested(actor=actor, service=service, nested=nested)
    return await get_service(actor=actor, service_id=service.id)


def _organization_id(raw: Any, actor: Actor) -> UUID:
    if raw is None:
        return actor.organization_id
    try:
        return UUID(str(raw))
    except ValueError:
        raise Invalid({"organization_id": "must be a UUID"}) from None


async def update_service(
    *, actor: Actor | None, service_id: UUID, version: int, data: Any
) -> Service:
    service = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, service.organization_id)
    current = current_values(ServiceInput, service)
    current["categories"] = [term.code for term in await service.categories.all()]
    validated, changed = merge_patch(ServiceInput, current, data)
    values = validated.values()
    codes = values.pop("categories")
    async with in_transaction():
        await update_versioned(Service, service.id, version, values, "service")
        if "categories" in changed:
            await _set_categories(service, codes)
        await record_change(
            actor=actor,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="service",
            entity_id=service.id,
            action="update",
            changed_fields=changed,
        )
    return await get_service(actor=actor, service_id=service.id)


async def delete_service(*, actor: Actor | None, service_id: UUID, version: int) -> None:
    service = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, service.organization_id)
    async with in_transaction():
        await delete_versioned(Service, service.id, version, "service")
        await record_change(
            actor=actor,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="service",
            entity_id=service.id,
            action="delete",
        )


async def verify_service(*, actor: Actor | None, service_id: UUID) -> Service:
    """ "Still accurate": reset the verification clock without changing the listing."""
    service = await get_or_404(Service, service_id, "service")
    actor = access.require_listing_editor(actor, service.organization_id)
    async with in_transaction():  # recording a person's "verify" restarts the clock
        await record_change(
            actor=actor,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="service",
            entity_id=service.id,
            action="verify",
        )
    return await get_service(actor=actor, service_id=service.id)


async def set_intake(
    *, actor: Actor | None, service_id: UUID, state: Any, wait_days: Any = None
) -> Service:
    """A partner says whether the service can take new people: open, waitlist (how long), full."""
    service = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, service.organization_id)
    intake = validate(IntakeInput, {"state": state, "wait_days": wait_days})
    async with in_transaction():
        await Service.filter(id=service.id).update(
            intake_state=intake.state,
            intake_updated_at=now(),
            intake_wait_days=intake.wait_days,
        )
        await record_change(
            actor=actor,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="service",
            entity_id=service.id,
            action="intake",
            changed_fields=["intake"],
        )
    return await get_service(actor=actor, service_id=service.id)


async def _set_categories(service: Service, codes: list[str]) -> None:
    terms = await TaxonomyTerm.filter(code__in=codes)
    if len(terms) != len(codes):
        raise Invalid({"categories": "the taxonomy is not loaded; run `caremap db upgrade`"})
    await service.categories.clear()
    await service.categories.add(*terms)


async def listing_history(
    *, actor: Actor | None, service_id: UUID, limit: int = 100
) -> list[ListingChange]:
    """Who changed what in a listing and when, newest first: for its organization and admins."""
    listing = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, listing.organization_id)
    return list(await ListingChange.filter(service_id=listing.id).order_by("-id").limit(limit))
