"""Catalog records as HSDS 3.0 shaped JSON documents.

The JSON API, the HSDS export and the seed files all use these shapes, so a service read from
`/api/services/{id}` validates against the HSDS `service` schema. caremap's own fields (`free`,
`accepts_referrals`, `categories`, `version`, `geocode_status`) are extension properties.
"""

from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from babel import Locale, UnknownLocaleError

from directory.geocoding import time_zone
from directory.models import (
    Location,
    Organization,
    Phone,
    ProblemReport,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    TaxonomyTerm,
)
from directory.taxonomy import BY_CODE, TAXONOMY_NAME, category_id

TAXONOMY_ID = str(category_id("__taxonomy__"))


def without_nulls(value: Any) -> Any:
    """HSDS types its fields without null: an unknown value is left out rather than sent as null."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def derived_id(parent: UUID, kind: str, key: str = "") -> str:
    """Stable ids for HSDS sub-objects caremap stores as columns (address, language)."""
    return str(uuid5(NAMESPACE_URL, f"caremap:{parent}:{kind}:{key}"))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def language_name(code: str) -> str:
    try:
        return Locale.parse(code.replace("-", "_")).english_name or code
    except (UnknownLocaleError, ValueError):
        return code


def languages_document(codes: list[str], **link: UUID) -> list[dict[str, Any]]:
    owner_key, owner_id = next(iter(link.items()))
    return [
        {
            "id": derived_id(owner_id, "language", code),
            owner_key: str(owner_id),
            "name": language_name(code),
            "code": code,
        }
        for code in codes
    ]


def organization_document(organization: Organization, *, staff: bool = False) -> dict[str, Any]:
    """The public HSDS organization; `staff` (its own staff, admins) adds the private fields."""
    document = without_nulls(
        {
            "id": str(organization.id),
            "name": organization.name,
            "alternate_name": organization.alternate_name,
            "description": organization.description,
            "email": organization.email,
            "website": organization.website,
            "kind": organization.kind.value,
            "version": organization.version,
        }
    )
    if staff:
        document["referral_email"] = organization.referral_email
    return document


def category_document(term: TaxonomyTerm) -> dict[str, Any]:
    category = BY_CODE.get(term.code)
    return without_nulls(
        {
            "id": str(term.id),
            "code": term.code,
            "name": term.name,
            "parent_code": category.parent if category else None,
        }
    )


def taxonomy_document() -> dict[str, Any]:
    return {
        "id": TAXONOMY_ID,
        "name": TAXONOMY_NAME,
        "description": "caremap's categories: the Open Eligibility top level and a second level.",
        "version": "1",
    }


def taxonomy_term_document(code: str) -> dict[str, Any]:
    """One of caremap's categories as an HSDS taxonomy term."""
    category = BY_CODE[code]
    return without_nulls(
        {
            "id": str(category.id),
            "code": category.code,
            "name": category.name,
            "description": category.description,
            "parent_id": str(category_id(category.parent)) if category.parent else None,
            "taxonomy": TAXONOMY_NAME,
            "taxonomy_id": TAXONOMY_ID,
            "language": "en",
        }
    )


def phone_document(phone: Phone) -> dict[str, Any]:
    owner = {"service_id": str(phone.service_id)} if phone.service_id else {}
    if phone.location_id:
        owner["location_id"] = str(phone.location_id)
    return without_nulls(
        {
            "id": str(phone.id),
            **owner,
            "number": phone.number,
            "extension": phone.extension,
            "type": phone.type,
            "description": phone.description,
            "languages": languages_document(phone.languages, phone_id=phone.id),
            "version": phone.version,
        }
    )


def schedule_document(schedule: Schedule) -> dict[str, Any]:
    owner: dict[str, str] = {}
    if schedule.service_id:
        owner["service_id"] = str(schedule.service_id)
    if schedule.service_at_location_id:
        owner["service_at_location_id"] = str(schedule.service_at_location_id)
    offset = datetime.now(time_zone(schedule.timezone_name)).utcoffset()
    return without_nulls(
        {
            "id": str(schedule.id),
            **owner,
            "freq": schedule.freq,
            "byday": schedule.byday,
            "opens_at": schedule.opens_at,
            "closes_at": schedule.closes_at,
            "valid_from": schedule.valid_from.isoformat() if schedule.valid_from else None,
            "valid_to": schedule.valid_to.isoformat() if schedule.valid_to else None,
            "description": schedule.description,
            "timezone": offset.total_seconds() / 3600 if offset is not None else 0,
            "timezone_name": schedule.timezone_name,
            "version": schedule.version,
        }
    )


def service_area_document(area: ServiceArea) -> dict[str, Any]:
    return without_nulls(
        {
            "id": str(area.id),
            "service_id": str(area.service_id),
            "name": area.name,
            "description": area.description,
            "extent_type": area.extent_type.value,
            "extent": area.extent,
            "state_province": area.state_province,
            "version": area.version,
        }
    )


def location_document(location: Location, phones: list[Phone] | None = None) -> dict[str, Any]:
    addresses = []
    if location.address_1 and location.city and location.state_province and location.postal_code:
        addresses.append(
            {
                "id": derived_id(location.id, "address"),
                "location_id": str(location.id),
                "address_1": location.address_1,
                "address_2": location.address_2,
                "city": location.city,
                "state_province": location.state_province,
                "postal_code": location.postal_code,
                "country": location.country,
                "address_type": "physical",
            }
        )
    document: dict[str, Any] = {
        "id": str(location.id),
        "organization_id": str(location.organization_id),
        "location_type": location.location_type.value,
        "name": location.name,
        "description": location.description,
        "url": location.url,
        "transportation": location.transportation,
        "latitude": location.latitude,
        "longitude": location.longitude,
        "addresses": addresses,
        "accessibility": [
            {
                "id": derived_id(location.id, "accessibility"),
                "location_id": str(location.id),
                "description": location.accessibility,
            }
        ]
        if location.accessibility
        else [],
        "postal_code": location.postal_code,
        "geocode_status": location.geocode_status.value,
        "version": location.version,
    }
    if phones is not None:
        document["phones"] = [phone_document(phone) for phone in phones]
    return without_nulls(document)


def service_at_location_document(link: ServiceAtLocation) -> dict[str, Any]:
    return without_nulls(
        {
            "id": str(link.id),
            "service_id": str(link.service_id),
            "location_id": str(link.location_id),
            "description": link.description,
            "schedules": [schedule_document(s) for s in link.schedules],
            "location": location_document(link.location, list(link.location.phones)),
        }
    )


def service_document(service: Service) -> dict[str, Any]:
    """A service with everything a reader needs; expects `SERVICE_PREFETCH` to be loaded."""
    return without_nulls(
        {
            "id": str(service.id),
            "organization_id": str(service.organization_id),
            "name": service.name,
            "alternate_name": service.alternate_name,
            "description": service.description,
            "url": service.url,
            "email": service.email,
            "status": service.status.value,
            "interpretation_services": service.interpretation_services,
            "application_process": service.application_process,
            "fees_description": service.fees_description,
            "eligibility_description": service.eligibility_description,
            "minimum_age": service.minimum_age,
            "maximum_age": service.maximum_age,
            "assured_date": service.last_verified_at.date().isoformat()
            if service.last_verified_at
            else None,
            "last_modified": _iso(service.updated_at),
            "languages": languages_document(service.languages, service_id=service.id),
            "phones": [phone_document(p) for p in service.phones],
            "schedules": [schedule_document(s) for s in service.schedules],
            "service_areas": [service_area_document(a) for a in service.service_areas],
            "service_at_locations": [
                service_at_location_document(link) for link in service.service_at_locations
            ],
            "organization": organization_document(service.organization),
            "free": service.free,
            "accepts_referrals": service.accepts_referrals,
            "intake": {
                "state": service.intake_state.value,
                "wait_days": service.intake_wait_days,
                "updated_at": _iso(service.intake_updated_at),
            },
            "categories": sorted(
                (category_document(term) for term in service.categories), key=lambda c: c["code"]
            ),
            "last_verified_at": _iso(service.last_verified_at),
            # Who vouched: someone at caremap (the organization's staff or an admin), or the
            # data set it was imported from. Never which person: that is for the portal.
            "verified_by": ("staff" if service.last_verified_by else "data_source")
            if service.last_verified_at
            else None,
            "stale": service.stale_since is not None,
            "stale_since": _iso(service.stale_since),
            "version": service.version,
        }
    )


def problem_document(report: ProblemReport) -> dict[str, Any]:
    """A problem report for the organization and the admins (expects `service` loaded)."""
    return {
        "id": str(report.id),
        "service": {"id": str(report.service_id), "name": report.service.name},
        "organization_id": str(report.organization_id),
        "kind": report.kind.value,
        "details": report.details,
        "status": "resolved" if report.resolved_at else "open",
        "created_at": _iso(report.created_at),
        "resolved_at": _iso(report.resolved_at),
        "resolution": report.resolution,
    }
