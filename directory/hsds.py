"""HSDS 3.0 documents to the inputs of caremap's service layer.

The seed loader uses this today and the HSDS importer builds on it, so a document from another
directory goes through exactly the validation and access rules of a partner's own edit.
"""

from datetime import UTC, date, datetime
from typing import Any

from directory.taxonomy import BY_CODE

_ORGANIZATION_FIELDS = ("name", "alternate_name", "description", "email", "website", "kind")
_SERVICE_FIELDS = (
    "name",
    "alternate_name",
    "description",
    "url",
    "email",
    "status",
    "application_process",
    "fees_description",
    "free",
    "eligibility_description",
    "minimum_age",
    "maximum_age",
    "interpretation_services",
    "accepts_referrals",
)
_SCHEDULE_FIELDS = (
    "freq",
    "byday",
    "opens_at",
    "closes_at",
    "valid_from",
    "valid_to",
    "description",
    "timezone_name",
)
_AREA_FIELDS = ("name", "description", "extent_type", "extent", "state_province")


def _pick(document: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: document[key] for key in keys if document.get(key) is not None}


def _language_codes(languages: list[dict[str, Any]] | None) -> list[str]:
    return [language["code"] for language in languages or [] if language.get("code")]


def organization_input(document: dict[str, Any]) -> dict[str, Any]:
    return _pick(document, _ORGANIZATION_FIELDS)


def location_input(document: dict[str, Any]) -> dict[str, Any]:
    values = _pick(
        document,
        ("name", "description", "location_type", "url", "transportation", "latitude", "longitude"),
    )
    addresses = document.get("addresses") or []
    physical = next(
        (a for a in addresses if a.get("address_type") == "physical"),
        addresses[0] if addresses else None,
    )
    if physical:
        values.update(
            _pick(
                physical,
                ("address_1", "address_2", "city", "state_province", "postal_code", "country"),
            )
        )
    accessibility = [
        a["description"] for a in document.get("accessibility") or [] if a.get("description")
    ]
    if accessibility:
        values["accessibility"] = " ".join(accessibility)
    return values


def phone_input(document: dict[str, Any]) -> dict[str, Any]:
    values = _pick(document, ("number", "extension", "type", "description"))
    values["languages"] = _language_codes(document.get("languages"))
    return values


def schedule_input(document: dict[str, Any]) -> dict[str, Any]:
    return _pick(document, _SCHEDULE_FIELDS)


def category_codes(document: dict[str, Any]) -> list[str]:
    """caremap categories named by a service's HSDS attributes (taxonomy terms)."""
    codes = []
    for attribute in document.get("attributes") or []:
        code = (attribute.get("taxonomy_term") or {}).get("code")
        if code in BY_CODE and code not in codes:
            codes.append(code)
    return codes


def service_input(document: dict[str, Any]) -> dict[str, Any]:
    """A `create_service` payload, with phones, schedules, areas and location links nested."""
    values = _pick(document, _SERVICE_FIELDS)
    values["organization_id"] = document.get("organization_id")
    values["languages"] = _language_codes(document.get("languages"))
    values["categories"] = category_codes(document)
    values["phones"] = [phone_input(p) for p in document.get("phones") or []]
    values["schedules"] = [schedule_input(s) for s in document.get("schedules") or []]
    values["service_areas"] = [_pick(a, _AREA_FIELDS) for a in document.get("service_areas") or []]
    values["location_ids"] = []
    for link in document.get("service_at_locations") or []:
        location_id = link.get("location_id") or (link.get("location") or {}).get("id")
        values["location_ids"].append(location_id)
        values["schedules"].extend(
            {**schedule_input(s), "location_id": location_id} for s in link.get("schedules") or []
        )
    return values


def assured_at(document: dict[str, Any]) -> datetime | None:
    """HSDS `assured_date` (when the listing was last checked) as a UTC timestamp."""
    raw = document.get("assured_date")
    if not raw:
        return None
    try:
        day = date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
