"""The service layer for a listing's parts: locations, phones, schedules and service areas.

Same rules as `directory.service`: access checked, input validated, write and change record in one
transaction. Geocoding happens before the transaction, so a slow provider never holds a lock.
"""

from typing import Any
from uuid import UUID, uuid4

from tortoise.transactions import in_transaction

from directory import access, text
from directory.actor import Actor
from directory.editing import (
    current_values,
    delete_versioned,
    get_or_404,
    merge_patch,
    record_change,
    update_versioned,
)
from directory.errors import Conflict, Invalid, NotFound
from directory.geocoding import Geocoder, Placement, Point
from directory.models import (
    GeocodeStatus,
    Location,
    LocationType,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
)
from directory.schemas import (
    LocationInput,
    PhoneInput,
    ScheduleInput,
    ServiceAreaInput,
    validate,
)

ADDRESS_FIELDS = ("address_1", "city", "state_province", "postal_code", "country")


# --- locations --------------------------------------------------------------------------------


async def get_location(*, location_id: UUID) -> Location:
    location = await get_or_404(Location, location_id, "location")
    await location.fetch_related("phones")
    return location


async def create_location(
    *, actor: Actor | None, data: Any, geocoder: Geocoder, location_id: UUID | None = None
) -> Location:
    actor = access.require_actor(actor)
    if not isinstance(data, dict):
        raise Invalid({"body": "must be a JSON object"})
    data = dict(data)
    raw_organization = data.pop("organization_id", None)
    try:
        organization_id = UUID(str(raw_organization)) if raw_organization else actor.organization_id
    except ValueError:
        raise Invalid({"organization_id": "must be a UUID"}) from None
    access.require_listing_editor(actor, organization_id)
    values = validate(LocationInput, data).values()
    values.update(await placement(values, geocoder))
    async with in_transaction():
        return await _new_location(actor, organization_id, values, location_id)


async def add_site(
    *, actor: Actor | None, service_id: UUID, data: Any, geocoder: Geocoder
) -> Location:
    """A new site for a listing, in the listing's own organization, created and linked to it in
    one transaction: a refused link leaves no stray location behind."""
    service = await get_or_404(Service, service_id, "service")
    actor = access.require_listing_editor(actor, service.organization_id)
    if not isinstance(data, dict):
        raise Invalid({"body": "must be a JSON object"})
    values = validate(LocationInput, data).values()
    values.update(await placement(values, geocoder))
    async with in_transaction():
        location = await _new_location(actor, service.organization_id, values, None)
        await _new_link(actor, service, location, None)
    return location


async def _new_location(
    actor: Actor, organization_id: UUID, values: dict[str, Any], location_id: UUID | None
) -> Location:
    """Write a checked location and its history entry; inside the caller's transaction."""
    location = await Location.create(
        id=location_id or uuid4(), organization_id=organization_id, **values
    )
    await record_change(
        actor=actor,
        organization_id=organization_id,
        entity="location",
        entity_id=location.id,
        action="create",
    )
    return location


async def update_location(
    *, actor: Actor | None, location_id: UUID, version: int, data: Any, geocoder: Geocoder
) -> Location:
    location = await get_or_404(Location, location_id, "location")
    access.require_listing_editor(actor, location.organization_id)
    current = current_values(LocationInput, location)
    moved = isinstance(data, dict) and any(key in data for key in ADDRESS_FIELDS)
    if moved and "latitude" not in data and "longitude" not in data:
        current["latitude"] = current["longitude"] = None
    validated, changed = merge_patch(LocationInput, current, data)
    values = validated.values()
    if moved or "location_type" in changed or "latitude" in changed:
        values.update(await placement(values, geocoder))
    async with in_transaction():
        await update_versioned(Location, location.id, version, values, "location")
        await record_change(
            actor=actor,
            organization_id=location.organization_id,
            entity="location",
            entity_id=location.id,
            action="update",
            changed_fields=changed,
        )
    return await Location.get(id=location.id)


async def delete_location(*, actor: Actor | None, location_id: UUID, version: int) -> None:
    location = await get_or_404(Location, location_id, "location")
    access.require_listing_editor(actor, location.organization_id)
    async with in_transaction():
        links = await ServiceAtLocation.filter(location_id=location.id)
        await delete_versioned(Location, location.id, version, "location")
        await record_change(
            actor=actor,
            organization_id=location.organization_id,
            entity="location",
            entity_id=location.id,
            action="delete",
        )
        for link in links:  # the links went with the location: say so for each service
            await record_change(
                actor=actor,
                organization_id=location.organization_id,
                service_id=link.service_id,
                entity="service_at_location",
                entity_id=link.id,
                action="delete",
            )


async def placement(values: dict[str, Any], geocoder: Geocoder) -> dict[str, Any]:
    """The coordinate and geocoding columns for a location's validated values."""
    return _placement_values(await _place(values, geocoder))


async def _place(values: dict[str, Any], geocoder: Geocoder) -> Placement:
    if values["latitude"] is not None:
        return Placement(Point(values["latitude"], values["longitude"]), GeocodeStatus.OK, "given")
    if values["location_type"] == LocationType.VIRTUAL and not values.get("postal_code"):
        return Placement(None, GeocodeStatus.NOT_NEEDED, None)
    return await geocoder.place_listing(**{key: values.get(key) for key in ADDRESS_FIELDS})


def _placement_values(placement: Placement) -> dict[str, Any]:
    return {
        "latitude": placement.point.latitude if placement.point else None,
        "longitude": placement.point.longitude if placement.point else None,
        "geocode_status": placement.status,
        "geocode_source": placement.source,
    }


async def retry_pending_geocodes(*, geocoder: Geocoder, limit: int = 100) -> int:
    """Ask the provider again for locations left pending; returns how many are now placed."""
    placed = 0
    for location in await Location.filter(geocode_status=GeocodeStatus.PENDING).limit(limit):
        values = {key: getattr(location, key) for key in ADDRESS_FIELDS}
        placement = await geocoder.place_listing(**values)
        if placement.status is GeocodeStatus.PENDING:
            break
        async with in_transaction():
            await Location.filter(id=location.id, version=location.version).update(
                **_placement_values(placement)
            )
            await record_change(
                actor=None,
                organization_id=location.organization_id,
                entity="location",
                entity_id=location.id,
                action="geocode",
                changed_fields=["latitude", "longitude"],
            )
        placed += 1
    return placed


# --- service <-> location ---------------------------------------------------------------------


async def link_location(
    *, actor: Actor | None, service_id: UUID, location_id: UUID, description: str | None = None
) -> ServiceAtLocation:
    if description is not None and (wrong := text.problem(description, multiline=True)):
        raise Invalid({"description": wrong})
    service = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, service.organization_id)
    location = await Location.get_or_none(id=location_id)
    if location is None or location.organization_id != service.organization_id:
        raise Invalid({"location_id": "no location with that id in this organization"})
    if await ServiceAtLocation.exists(service_id=service.id, location_id=location.id):
        raise Conflict("This service is already offered at that location.")
    async with in_transaction():
        return await _new_link(actor, service, location, description)


async def _new_link(
    actor: Actor | None, service: Service, location: Location, description: str | None
) -> ServiceAtLocation:
    """Offer the service at the location, with its history entry; in the caller's transaction."""
    link = await ServiceAtLocation.create(
        id=uuid4(), service_id=service.id, location_id=location.id, description=description
    )
    await record_change(
        actor=actor,
        organization_id=service.organization_id,
        service_id=service.id,
        entity="service_at_location",
        entity_id=link.id,
        action="create",
    )
    return link


async def unlink_location(*, actor: Actor | None, service_id: UUID, location_id: UUID) -> None:
    service = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, service.organization_id)
    link = await ServiceAtLocation.get_or_none(service_id=service.id, location_id=location_id)
    if link is None:
        raise NotFound("This service is not offered at that location.")
    async with in_transaction():
        await link.delete()
        await record_change(
            actor=actor,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="service_at_location",
            entity_id=link.id,
            action="delete",
        )


# --- phones, schedules, service areas ---------------------------------------------------------


async def add_phone(
    *,
    actor: Actor | None,
    data: Any,
    service_id: UUID | None = None,
    location_id: UUID | None = None,
    prefix: str = "",
) -> Phone:
    if service_id is not None:
        owner = await get_or_404(Service, service_id, "service")
    else:
        assert location_id is not None
        owner = await get_or_404(Location, location_id, "location")
    access.require_listing_editor(actor, owner.organization_id)
    values = validate(PhoneInput, data, prefix).values()
    async with in_transaction():
        phone = await Phone.create(
            id=uuid4(), service_id=service_id, location_id=location_id, **values
        )
        await record_change(
            actor=actor,
            organization_id=owner.organization_id,
            service_id=service_id,
            entity="phone",
            entity_id=phone.id,
            action="create",
        )
    return phone


async def add_schedule(
    *, actor: Actor | None, service_id: UUID, data: Any, prefix: str = ""
) -> Schedule:
    """A schedule for the service, or for one of its locations when `location_id` is given."""
    service = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, service.organization_id)
    if not isinstance(data, dict):
        raise Invalid({prefix.rstrip(".") or "body": "must be a JSON object"})
    data = dict(data)
    link_id = None
    if (raw_location := data.pop("location_id", None)) is not None:
        link = await _link_of(service.id, raw_location, prefix)
        link_id = link.id
    values = validate(ScheduleInput, data, prefix).values()
    async with in_transaction():
        schedule = await Schedule.create(
            id=uuid4(),
            service_id=None if link_id else service.id,
            service_at_location_id=link_id,
            **values,
        )
        await record_change(
            actor=actor,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="schedule",
            entity_id=schedule.id,
            action="create",
        )
    return schedule


async def _link_of(service_id: UUID, raw_location: Any, prefix: str) -> ServiceAtLocation:
    try:
        location_id = UUID(str(raw_location))
    except ValueError:
        raise Invalid({prefix + "location_id": "must be a UUID"}) from None
    link = await ServiceAtLocation.get_or_none(service_id=service_id, location_id=location_id)
    if link is None:
        raise Invalid({prefix + "location_id": "this service is not offered at that location"})
    return link


async def add_service_area(
    *, actor: Actor | None, service_id: UUID, data: Any, prefix: str = ""
) -> ServiceArea:
    service = await get_or_404(Service, service_id, "service")
    access.require_listing_editor(actor, service.organization_id)
    values = validate(ServiceAreaInput, data, prefix).values()
    async with in_transaction():
        area = await ServiceArea.create(id=uuid4(), service_id=service.id, **values)
        await record_change(
            actor=actor,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="service_area",
            entity_id=area.id,
            action="create",
        )
    return area


async def add_nested(*, actor: Actor, service: Service, nested: dict[str, list[Any]]) -> None:
    """Parts sent along with a new service; errors are named like `phones.0.number`."""
    for key in nested:
        if not isinstance(nested[key], list):
            raise Invalid({key: "must be a list"})
    for index, raw in enumerate(nested["location_ids"]):
        try:
            location_id = UUID(str(raw))
        except ValueError:
            raise Invalid({f"location_ids.{index}": "must be a UUID"}) from None
        try:
            await link_location(actor=actor, service_id=service.id, location_id=location_id)
        except Invalid:
            raise Invalid(  # noqa: B904 (the nested error names the list item instead)
                {f"location_ids.{index}": "no location with that id in this organization"}
            )
    for index, phone in enumerate(nested["phones"]):
        await add_phone(actor=actor, service_id=service.id, data=phone, prefix=f"phones.{index}.")
    for index, schedule in enumerate(nested["schedules"]):
        await add_schedule(
            actor=actor, service_id=service.id, data=schedule, prefix=f"schedules.{index}."
        )
    for index, area in enumerate(nested["service_areas"]):
        await add_service_area(
            actor=actor, service_id=service.id, data=area, prefix=f"service_areas.{index}."
        )


# Each part's schema, label, and how to find the service and organization it belongs to.
PARTS: dict[str, tuple[type, Any, str]] = {
    "phone": (Phone, PhoneInput, "phone"),
    "schedule": (Schedule, ScheduleInput, "schedule"),
    "service_area": (ServiceArea, ServiceAreaInput, "service area"),
}


async def _owner_of(part: Any) -> tuple[UUID, UUID | None]:
    """(organization id, service id) of a phone, schedule or service area."""
    service_id = getattr(part, "service_id", None)
    if service_id is None and getattr(part, "service_at_location_id", None):
        link = await ServiceAtLocation.get(id=part.service_at_location_id)
        service_id = link.service_id
    if service_id is not None:
        service = await Service.get(id=service_id)
        return service.organization_id, service_id
    location = await Location.get(id=part.location_id)
    return location.organization_id, None


async def update_part(
    *, actor: Actor | None, kind: str, part_id: UUID, version: int, data: Any
) -> Any:
    model, schema, label = PARTS[kind]
    part = await get_or_404(model, part_id, label)
    organization_id, service_id = await _owner_of(part)
    access.require_listing_editor(actor, organization_id)
    validated, changed = merge_patch(schema, current_values(schema, part), data)
    async with in_transaction():
        await update_versioned(model, part.id, version, validated.values(), label)
        await record_change(
            actor=actor,
            organization_id=organization_id,
            service_id=service_id,
            entity=kind,
            entity_id=part.id,
            action="update",
            changed_fields=changed,
        )
    return await model.get(id=part.id)


async def delete_part(*, actor: Actor | None, kind: str, part_id: UUID, version: int) -> None:
    model, _schema, label = PARTS[kind]
    part = await get_or_404(model, part_id, label)
    organization_id, service_id = await _owner_of(part)
    access.require_listing_editor(actor, organization_id)
    async with in_transaction():
        await delete_versioned(model, part.id, version, label)
        await record_change(
            actor=actor,
            organization_id=organization_id,
            service_id=service_id,
            entity=kind,
            entity_id=part.id,
            action="delete",
        )
