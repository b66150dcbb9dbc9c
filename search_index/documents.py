"""Search documents: what the index knows about a listing, built from the catalog.

One document per place a service is offered (HSDS service_at_location), or one for a service
offered only remotely; searches return each service once (the best or nearest of its places).
Only public listings are indexed, and a document holds nothing about people, only listings.
"""

from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any
from uuid import UUID

from directory.access import PUBLIC_STATUSES
from directory.models import (
    Organization,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAreaType,
    ServiceAtLocation,
    ServiceStatus,
)
from directory.taxonomy import BY_CODE, expand_with_parents
from search_index.query import term, weekly_slots, words_of

NO_MAXIMUM_AGE = 999
# A word every document holds (in `every_listing`): a search whose words only rank (a need
# already named by its categories) puts it first, so that with Meilisearch's "last" matching
# strategy a listing of those categories that holds none of the words is still found.
EVERY_LISTING = "cmlisting"


def category_token(code: str) -> str:
    """A category as a word only its listings hold (`category_tokens`), for Meilisearch to rank
    a search's first category first (`BackendQuery.first_category`)."""
    return "cmcat" + code.replace("-", "")


# The text a listing is found by, whose words' stems go into `stems`.
TEXT_FIELDS = (
    "name",
    "alternate_name",
    "organization_name",
    "description",
    "eligibility",
    "category_names",
)


def standing(status: str, stale: bool) -> int:
    """Where a listing ranks before relevance or distance: 0 open and verified, 1 stale (not
    verified within the period), 2 temporarily closed. Lower comes first."""
    if status != ServiceStatus.ACTIVE:
        return 2
    return 1 if stale else 0


def document_id(service_id: UUID | str, location_id: UUID | str | None) -> str:
    return f"{service_id}_{location_id or 'remote'}"


def stems_of(document: dict[str, Any]) -> str:
    """The document's words and their stems (`query.term`), once each: the one field the
    embedded index matches words in (exactly, with typos, by prefix), and the field that lets a
    search for "evicted" find "eviction" on both engines."""
    forms = [
        form
        for name in TEXT_FIELDS
        if name != "category_names"
        for form in _forms_of(document.get(name) or "")
    ]
    forms.extend(_category_forms(tuple(document["category_codes"])))
    return " ".join(dict.fromkeys(forms))


@lru_cache(maxsize=16_384)
def _forms_of(text: str) -> tuple[str, ...]:
    """A text's words and stems; kept, since listings share much of their wording."""
    forms: dict[str, None] = {}
    for word in words_of(text):
        forms[word] = None
        forms[term(word)] = None
    return tuple(forms)


@lru_cache(maxsize=1_024)
def _category_forms(codes: tuple[str, ...]) -> tuple[str, ...]:
    """The words and stems of these categories' names in every language (few combinations)."""
    return tuple(
        dict.fromkeys(
            form for code in codes for name in BY_CODE[code].names() for form in _forms_of(name)
        )
    )


def county_key(county: str, state: str) -> str:
    return f"{county.strip().lower()}|{state.strip().lower()}"


def _schedule(row: dict[str, Any]) -> dict[str, Any]:
    """What search needs of a schedule: its weekly hours (see `query.is_open`)."""
    return {
        "freq": row["freq"],
        "byday": row["byday"],
        "opens_at": row["opens_at"],
        "closes_at": row["closes_at"],
        "valid_from": row["valid_from"].isoformat() if row["valid_from"] else None,
        "valid_to": row["valid_to"].isoformat() if row["valid_to"] else None,
        "timezone_name": row["timezone_name"],
    }


_SCHEDULE_COLUMNS = (
    "freq",
    "byday",
    "opens_at",
    "closes_at",
    "valid_from",
    "valid_to",
    "timezone_name",
)


def _group(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row[key], []).append(row)
    return grouped


async def documents_for(service_ids: list[UUID]) -> tuple[list[dict[str, Any]], list[UUID]]:
    """(documents to write, ids of services to drop: deleted or no longer public)."""
    documents, kept = await _documents({"id__in": service_ids}, {"service_id__in": service_ids})
    return documents, [service_id for service_id in service_ids if service_id not in kept]


async def _documents(
    selected: dict[str, Any], children: dict[str, Any]
) -> tuple[list[dict[str, Any]], set[UUID]]:
    """Documents of the public services `selected` picks; `children` picks their rows in the
    other tables by `service_id` (an id list, or an id range for a full reindex).

    Reads plain rows, one query per table, and joins them here: linear in the batch, which
    matters for a full reindex of 100k listings.
    """
    services = await Service.filter(
        **selected, status__in=[s.value for s in PUBLIC_STATUSES]
    ).values(
        "id",
        "organization_id",
        "name",
        "alternate_name",
        "description",
        "eligibility_description",
        "languages",
        "free",
        "accepts_referrals",
        "status",
        "minimum_age",
        "maximum_age",
        "last_verified_at",
        "stale_since",
        "intake_state",
        "intake_wait_days",
    )
    organizations = dict(
        await Organization.filter(id__in={row["organization_id"] for row in services}).values_list(
            "id", "name"
        )
    )
    categories = _group(await Service.filter(**selected).values("id", "categories__code"), "id")
    phones = _group(
        await Phone.filter(**children).order_by("created_at", "id").values("service_id", "number"),
        "service_id",
    )
    schedules = _group(
        await Schedule.filter(**children).values("service_id", *_SCHEDULE_COLUMNS), "service_id"
    )
    areas = _group(
        await ServiceArea.filter(**children).values(
            "service_id", "extent_type", "extent", "state_province"
        ),
        "service_id",
    )
    links = _group(
        await ServiceAtLocation.filter(**children)
        .order_by("id")
        .values(
            "id",
            "service_id",
            "location_id",
            "location__name",
            "location__address_1",
            "location__city",
            "location__state_province",
            "location__postal_code",
            "location__latitude",
            "location__longitude",
        ),
        "service_id",
    )
    through_links = {f"service_at_location__{key}": value for key, value in children.items()}
    link_schedules = _group(
        await Schedule.filter(**through_links).values("service_at_location_id", *_SCHEDULE_COLUMNS),
        "service_at_location_id",
    )
    documents = []
    for row in services:
        service_id = row["id"]
        codes = [
            c["categories__code"] for c in categories.get(service_id, []) if c["categories__code"]
        ]
        base = _base_document(
            row,
            organizations[row["organization_id"]],
            codes,
            phones.get(service_id, []),
            areas.get(service_id, []),
        )
        own_schedules = [_schedule(s) for s in schedules.get(service_id, [])]
        places = [
            (
                {key.removeprefix("location__"): value for key, value in link.items()}
                | {"id": link["location_id"]},
                own_schedules + [_schedule(s) for s in link_schedules.get(link["id"], [])],
            )
            for link in links.get(service_id, [])
        ]
        documents.extend(_place_documents(base, own_schedules, places))
    return documents, {row["id"] for row in services}


def _base_document(
    row: dict[str, Any],
    organization_name: str,
    codes: list[str],
    phones: list[dict[str, Any]],
    areas: list[dict[str, Any]],
) -> dict[str, Any]:
    expanded = sorted(expand_with_parents(codes))
    postal_codes, counties, states = [], [], []
    for area in areas:
        if area["extent_type"] == ServiceAreaType.POSTAL_CODE:
            postal_codes.append(area["extent"])
        elif area["extent_type"] == ServiceAreaType.COUNTY:
            counties.append(county_key(area["extent"], area["state_province"] or ""))
        else:
            states.append(area["extent"])
    document = {
        "service_id": str(row["id"]),
        "organization_id": str(row["organization_id"]),
        "name": row["name"],
        "alternate_name": row["alternate_name"] or "",
        "organization_name": organization_name,
        "description": row["description"],
        "eligibility": row["eligibility_description"] or "",
        "category_codes": expanded,
        "category_names": sorted({name for c in expanded for name in BY_CODE[c].names()}),
        "languages": list(row["languages"]),
        "free": row["free"],
        "accepts_referrals": row["accepts_referrals"],
        "status": row["status"],
        "stale": row["stale_since"] is not None,
        "standing": standing(row["status"], row["stale_since"] is not None),
        "minimum_age": row["minimum_age"] or 0,
        "maximum_age": row["maximum_age"] if row["maximum_age"] is not None else NO_MAXIMUM_AGE,
        "phone": phones[0]["number"] if phones else "",
        "intake_state": getattr(row["intake_state"], "value", row["intake_state"]),
        "intake_wait_days": row["intake_wait_days"],
        "last_verified_at": row["last_verified_at"].isoformat() if row["last_verified_at"] else "",
        "area_postal_codes": postal_codes,
        "area_counties": counties,
        "area_states": states,
        "everywhere": not (postal_codes or counties or states),
        "every_listing": EVERY_LISTING,
        "category_tokens": [category_token(code) for code in expanded],
    }
    document["stems"] = stems_of(document)
    return document


def _place_documents(
    base: dict[str, Any],
    own_schedules: list[dict[str, Any]],
    places: list[tuple[dict[str, Any], list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    """One document per place the service is offered, or one for a remote-only service."""
    documents = []
    for location, schedules in places:
        document = {
            **base,
            "id": document_id(base["service_id"], location["id"]),
            "location_id": str(location["id"]),
            "location_name": location["name"] or "",
            "address": ", ".join(
                p
                for p in (location["address_1"], location["city"], location["state_province"])
                if p
            ),
            "postal_code": location["postal_code"] or "",
            "schedules": schedules,
            "open_slots": weekly_slots(schedules),
            "timezone": _timezone(schedules),
            "everywhere": False,
        }
        if location["latitude"] is not None and location["longitude"] is not None:
            document["_geo"] = {"lat": location["latitude"], "lng": location["longitude"]}
        documents.append(document)
    if not documents:
        documents.append(
            {
                **base,
                "id": document_id(base["service_id"], None),
                "location_id": "",
                "location_name": "",
                "address": "",
                "postal_code": "",
                "schedules": own_schedules,
                "open_slots": weekly_slots(own_schedules),
                "timezone": _timezone(own_schedules),
            }
        )
    return documents


def _timezone(schedules: list[dict[str, Any]]) -> str:
    return next((s["timezone_name"] for s in schedules), "America/Chicago")


async def all_documents(batch_size: int = 1000) -> AsyncIterator[list[dict[str, Any]]]:
    """Every public listing's documents, a batch at a time (for a full reindex).

    Batches are ranges of service ids, so each table is read with two bounds, not a long list.
    """
    public = Service.filter(status__in=[s.value for s in PUBLIC_STATUSES])
    ids = await public.order_by("id").values_list("id", flat=True)
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        bounds = {"gte": batch[0], "lte": batch[-1]}
        documents, _kept = await _documents(
            {f"id__{op}": value for op, value in bounds.items()},
            {f"service_id__{op}": value for op, value in bounds.items()},
        )
        yield documents
