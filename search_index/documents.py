"""Search documents: what the index knows about a listing, built from the catalog.

One document per place a service is offered (HSDS service_at_location), or one for a service
offered only remotely; searches return each service once (the best or nearest of its places).
Only public listings are indexed, and a document holds nothing about people, only listings.
"""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from directory.access import PUBLIC_STATUSES
from directory.models import Service, ServiceAreaType, ServiceStatus
from directory.serialize import schedule_document
from directory.service import SERVICE_PREFETCH
from directory.taxonomy import BY_CODE, expand_with_parents
from search_index.query import weekly_slots

NO_MAXIMUM_AGE = 999


def document_id(service_id: UUID | str, location_id: UUID | str | None) -> str:
    return f"{service_id}_{location_id or 'remote'}"


def _area_fields(service: Service) -> dict[str, Any]:
    postal_codes, counties, states = [], [], []
    for area in service.service_areas:
        if area.extent_type is ServiceAreaType.POSTAL_CODE:
            postal_codes.append(area.extent)
        elif area.extent_type is ServiceAreaType.COUNTY:
            counties.append(county_key(area.extent, area.state_province or ""))
        else:
            states.append(area.extent)
    return {"area_postal_codes": postal_codes, "area_counties": counties, "area_states": states}


def county_key(county: str, state: str) -> str:
    return f"{county.strip().lower()}|{state.strip().lower()}"


def service_documents(service: Service) -> list[dict[str, Any]]:
    """The documents for one service (expects `SERVICE_PREFETCH`)."""
    codes = sorted(expand_with_parents([term.code for term in service.categories]))
    schedules = [schedule_document(s) for s in service.schedules]
    base: dict[str, Any] = {
        "service_id": str(service.id),
        "organization_id": str(service.organization_id),
        "name": service.name,
        "alternate_name": service.alternate_name or "",
        "organization_name": service.organization.name,
        "description": service.description,
        "eligibility": service.eligibility_description or "",
        "category_codes": codes,
        "category_names": sorted(
            {BY_CODE[c].name for c in codes} | {BY_CODE[c].name_es for c in codes}
        ),
        "languages": list(service.languages),
        "free": service.free,
        "accepts_referrals": service.accepts_referrals,
        "status": service.status.value,
        "closed_rank": 0 if service.status is ServiceStatus.ACTIVE else 1,
        "minimum_age": service.minimum_age or 0,
        "maximum_age": service.maximum_age if service.maximum_age is not None else NO_MAXIMUM_AGE,
        "phone": service.phones[0].number if service.phones else "",
        "last_verified_at": service.last_verified_at.isoformat()
        if service.last_verified_at
        else "",
        **_area_fields(service),
    }
    base["everywhere"] = not any(
        base[key] for key in ("area_postal_codes", "area_counties", "area_states")
    )
    documents = []
    for link in service.service_at_locations:
        location = link.location
        link_schedules = schedules + [schedule_document(s) for s in link.schedules]
        document = {
            **base,
            "id": document_id(service.id, location.id),
            "location_id": str(location.id),
            "location_name": location.name or "",
            "address": ", ".join(
                p for p in (location.address_1, location.city, location.state_province) if p
            ),
            "postal_code": location.postal_code or "",
            "schedules": link_schedules,
            "open_slots": weekly_slots(link_schedules),
            "timezone": _timezone(link_schedules),
            "everywhere": False,
        }
        if location.latitude is not None and location.longitude is not None:
            document["_geo"] = {"lat": location.latitude, "lng": location.longitude}
        documents.append(document)
    if not documents:
        documents.append(
            {
                **base,
                "id": document_id(service.id, None),
                "location_id": "",
                "location_name": "",
                "address": "",
                "postal_code": "",
                "schedules": schedules,
                "open_slots": weekly_slots(schedules),
                "timezone": _timezone(schedules),
            }
        )
    return documents


def _timezone(schedules: list[dict[str, Any]]) -> str:
    return next((s["timezone_name"] for s in schedules), "America/Chicago")


async def documents_for(service_ids: list[UUID]) -> tuple[list[dict[str, Any]], list[UUID]]:
    """(documents to write, ids of services to drop: deleted or no longer public)."""
    services = await Service.filter(
        id__in=service_ids, status__in=[s.value for s in PUBLIC_STATUSES]
    ).prefetch_related(*SERVICE_PREFETCH)
    documents = [document for service in services for document in service_documents(service)]
    kept = {service.id for service in services}
    return documents, [service_id for service_id in service_ids if service_id not in kept]


async def all_documents(batch_size: int = 500) -> AsyncIterator[list[dict[str, Any]]]:
    """Every public listing's documents, a batch at a time (for a full reindex)."""
    public = Service.filter(status__in=[s.value for s in PUBLIC_STATUSES])
    ids = await public.order_by("id").values_list("id", flat=True)
    for start in range(0, len(ids), batch_size):
        documents, _dropped = await documents_for(ids[start : start + batch_size])
        yield documents
