"""The read API of the HSDS 3.0 API reference (`/hsds/...`), so HSDS tools can read caremap.

Every endpoint and parameter of the reference's `openapi.json` is implemented; a parameter the
endpoint does not take is refused with a 422 naming it rather than ignored. Records are the
export's (`hsds_export.export_rows`: caremap's current values laid over the record kept from an
import, same ids), nested as the reference nests them (`hsds_documents`). Lists come in the
reference's paging shape, or with `format=ndjson` as one record a line, all of them, unpaged.
Listings a reader may not see (hidden ones, for anyone but their organization) are left out
everywhere, as in caremap's own API.
"""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tortoise.expressions import Subquery

from directory import service
from directory.actor import Actor
from directory.errors import Invalid, NotFound
from directory.geocoding import Point, bounding_box, distance_miles, zip_info
from directory.hsds_documents import Records
from directory.hsds_export import as_came, export_rows
from directory.http import (
    actor_of,
    json_document,
    page_document,
    query_datetime,
    query_int,
    query_uuid,
)
from directory.models import KeptRecord, ServiceAtLocation
from directory.serialize import TAXONOMY_ID, taxonomy_document, taxonomy_term_document
from directory.taxonomy import BY_ID, CATEGORIES

HSDS_VERSION = "3.0"
OPENAPI_URL = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json"
PAGING = ("page", "per_page", "format")
METERS_PER_MILE = 1609.344
MAX_PROXIMITY_METERS = 500_000

Items = Callable[[int, int], Awaitable[tuple[list[dict[str, Any]], int]]]


# --- parameters ---------------------------------------------------------------------------------


def _only(request: Request, *names: str) -> None:
    """Refuse, naming them, the parameters this endpoint does not take."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        takes = ", ".join(names) if names else "no parameters"
        raise Invalid(
            {name: f"not a parameter of this endpoint (it takes {takes})" for name in unknown}
        )


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise Invalid({name: "true or false"})


def _search(request: Request) -> str | None:
    return (request.query_params.get("search") or "").strip()[:200] or None


async def _answer(
    request: Request, items: Items, default_per_page: int, most: int = service.MAX_PER_PAGE
) -> Response:
    """A page of `items` in the reference's paging shape (at most `most` a page), or every item
    as ndjson."""
    form = request.query_params.get("format") or "json"
    if form not in ("json", "ndjson"):
        raise Invalid({"format": "json or ndjson"})
    page = query_int(request, "page", 1, maximum=10_000)
    per_page = query_int(request, "per_page", default_per_page, maximum=most)
    if form == "json":
        contents, total = await items(page, per_page)
        return JSONResponse(page_document(contents, total=total, page=page, per_page=per_page))
    first, _total = await items(1, service.MAX_PER_PAGE)  # errors before the stream starts

    async def lines() -> AsyncIterator[bytes]:
        contents, number = first, 1
        while contents:
            yield b"".join(json.dumps(item).encode() + b"\n" for item in contents)
            if len(contents) < service.MAX_PER_PAGE:
                return
            number += 1
            contents, _ = await items(number, service.MAX_PER_PAGE)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def _records(
    actor: Actor | None, organization_ids: set[UUID], service_ids: set[UUID] | None = None
) -> Records:
    rows = await export_rows(organization_ids, service.readable(actor), service_ids)
    return Records(rows)


# --- taxonomies: caremap's own and those imported ------------------------------------------------


async def _kept(table: str) -> list[dict[str, Any]]:
    return [as_came(r) for r in await KeptRecord.filter(hsds_table=table).order_by("id")]


async def _all_taxonomies() -> list[dict[str, Any]]:
    return [taxonomy_document(), *await _kept("taxonomy")]


async def _all_terms() -> list[dict[str, Any]]:
    return [taxonomy_term_document(c.code) for c in CATEGORIES] + await _kept("taxonomy_term")


async def _services_tagged(term_ids: set[str]) -> set[UUID]:
    """Services an imported attribute links to one of these imported taxonomy terms."""
    attributes = await KeptRecord.filter(
        hsds_table="attribute", service_id__isnull=False
    ).values_list("service_id", "data")
    return {sid for sid, data in attributes if str(data.get("taxonomy_term_id")) in term_ids}


async def _service_filters(request: Request) -> dict[str, Any]:
    """The service filters of the reference (`search`, taxonomy, organization, time) as
    `service.matching_services` takes them; an id that names nothing is a 422, not a no-op."""
    narrowed: dict[str, Any] = {
        "organization_id": query_uuid(request, "organization_id"),
        "text": _search(request),
        "modified_after": query_datetime(request, "modified_after"),
    }
    among: set[UUID] | None = None
    if term := query_uuid(request, "taxonomy_term_id"):
        if term in BY_ID:
            narrowed["category"] = BY_ID[term].code
        elif any(str(t.get("id")) == str(term) for t in await _kept("taxonomy_term")):
            among = await _services_tagged({str(term)})
        else:
            raise Invalid({"taxonomy_term_id": "no such taxonomy term"})
    if taxonomy := query_uuid(request, "taxonomy_id"):
        if str(taxonomy) == TAXONOMY_ID:
            narrowed["any_category"] = True
        elif any(str(t.get("id")) == str(taxonomy) for t in await _kept("taxonomy")):
            terms = {
                str(t["id"])
                for t in await _kept("taxonomy_term")
                if str(t.get("taxonomy_id")) == str(taxonomy)
            }
            tagged = await _services_tagged(terms)
            among = tagged if among is None else among & tagged
        else:
            raise Invalid({"taxonomy_id": "no such taxonomy"})
    narrowed["among"] = among
    return narrowed


# --- endpoints ----------------------------------------------------------------------------------


async def about(request: Request) -> JSONResponse:
    _only(request)
    return JSONResponse(
        {
            "version": HSDS_VERSION,
            "profile": "https://docs.openreferral.org/en/latest/hsds/overview.html",
            "openapi_url": OPENAPI_URL,
        }
    )


# The filters of the two lists of services (HSDS's /services and /service_at_locations).
SERVICE_FILTERS = (
    "search",
    "taxonomy_term_id",
    "taxonomy_id",
    "organization_id",
    "modified_after",
    "full",
)


async def services(request: Request) -> Response:
    _only(request, *PAGING, *SERVICE_FILTERS, "minimal")
    full, minimal = _flag(request, "full"), _flag(request, "minimal")
    if full and minimal:
        raise Invalid({"minimal": "not with full=true: a record is either whole or minimal"})
    actor, narrowed = actor_of(request), await _service_filters(request)

    async def items(page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        found = await service.list_services(actor=actor, page=page, per_page=per_page, **narrowed)
        ids = [str(s.id) for s in found.items]
        records = await _records(
            actor, {s.organization_id for s in found.items}, {s.id for s in found.items}
        )
        if minimal:
            rows = [records.rows[("service", i)] for i in ids]
            return [
                {"id": r["id"], "last_modified": r.get("last_modified")} for r in rows
            ], found.total
        shape = records.whole if full else records.listed
        return [shape("service", i) for i in ids], found.total

    return await _answer(request, items, 25)


async def service_detail(request: Request) -> JSONResponse:
    _only(request)
    actor = actor_of(request)
    found = await service.get_service(actor=actor, service_id=request.path_params["id"])
    records = await _records(actor, {found.organization_id}, {found.id})
    return json_document(records.whole("service", str(found.id)))


async def service_at_locations(request: Request) -> Response:
    _only(
        request,
        *PAGING,
        *SERVICE_FILTERS,
        "postcode",
        "proximity",
    )
    full, actor = _flag(request, "full"), actor_of(request)
    narrowed = await _service_filters(request)
    postcode = (request.query_params.get("postcode") or "").strip() or None
    proximity = _proximity(request, postcode)
    if postcode and proximity is None:
        narrowed["postal_code"] = postcode  # served there: a location in it or an area covering it
    links = ServiceAtLocation.filter(
        service_id__in=Subquery(service.matching_services(actor, **narrowed).values("id"))
    )
    if proximity is None:
        found = links.order_by("service__name", "service_id", "id")
        total = await found.count()
    else:
        chosen_all = await _near(links, proximity)
        total = len(chosen_all)

    async def items(page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        start = (page - 1) * per_page
        chosen: list[tuple[UUID, UUID, UUID]]  # link, service, organization
        if proximity is None:
            chosen = (
                await found.offset(start)
                .limit(per_page)
                .values_list("id", "service_id", "service__organization_id")
            )
        else:
            chosen = chosen_all[start : start + per_page]
        records = await _records(actor, {o for _l, _s, o in chosen}, {s for _l, s, _o in chosen})
        shape = records.whole if full else records.listed
        return [shape("service_at_location", str(link)) for link, _s, _o in chosen], total

    return await _answer(request, items, 25)


def _proximity(request: Request, postcode: str | None) -> tuple[Point, float] | None:
    """`proximity` (meters from the centroid of `postcode`) as a point and miles, or None."""
    raw = request.query_params.get("proximity")
    if postcode and zip_info(postcode) is None:
        raise Invalid({"postcode": "unknown or malformed ZIP code"})
    if not raw:
        return None
    if not postcode:
        raise Invalid({"proximity": "needs a postcode: it is meters from the postcode's centre"})
    try:
        meters = float(raw)
    except ValueError:
        raise Invalid({"proximity": "a distance in meters, such as 5000"}) from None
    if not 0 < meters <= MAX_PROXIMITY_METERS:
        raise Invalid({"proximity": f"meters from 1 to {MAX_PROXIMITY_METERS}"})
    info = zip_info(postcode)
    assert info is not None
    return info.point, meters / METERS_PER_MILE


async def _near(links: Any, proximity: tuple[Point, float]) -> list[tuple[UUID, UUID, UUID]]:
    """The links whose location is within the distance, nearest first."""
    center, miles = proximity
    south, north, west, east = bounding_box(center, miles)
    rows = await links.filter(
        location__latitude__gte=south,
        location__latitude__lte=north,
        location__longitude__gte=west,
        location__longitude__lte=east,
    ).values_list(
        "id", "service_id", "service__organization_id", "location__latitude", "location__longitude"
    )
    measured = [
        (distance_miles(center, Point(lat, lng)), str(link), link, sid, oid)
        for link, sid, oid, lat, lng in rows
    ]
    return [(link, sid, oid) for d, _k, link, sid, oid in sorted(measured) if d <= miles]


async def service_at_location_detail(request: Request) -> JSONResponse:
    _only(request)
    actor = actor_of(request)
    link = await ServiceAtLocation.get_or_none(id=request.path_params["id"])
    if link is None:
        raise NotFound(f"No service at location with id {request.path_params['id']}.")
    found = await service.get_service(actor=actor, service_id=link.service_id)
    records = await _records(actor, {found.organization_id}, {found.id})
    return json_document(records.whole("service_at_location", str(link.id)))


async def organizations(request: Request) -> Response:
    _only(request, *PAGING, "search", "full", "full_service")
    full_service = _flag(request, "full_service")
    full = _flag(request, "full") or full_service
    actor, words = actor_of(request), _search(request)

    async def items(page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        found = await service.list_organizations(words=words, page=page, per_page=per_page)
        ids = {o.id for o in found.items}
        if not full:  # the organizations' own fields: no services to read
            records = Records(await export_rows(ids, service_ids=()))
            return [records.listed("organization", str(o.id)) for o in found.items], found.total
        records = await _records(actor, ids)
        listed = frozenset() if full_service else frozenset({"service"})
        return [
            records.whole("organization", str(o.id), listed=listed) for o in found.items
        ], found.total

    return await _answer(request, items, 50)


async def organization_detail(request: Request) -> JSONResponse:
    _only(request, "full_service")
    listed = frozenset() if _flag(request, "full_service") else frozenset({"service"})
    found = await service.get_organization(organization_id=request.path_params["id"])
    records = await _records(actor_of(request), {found.id})
    return json_document(records.whole("organization", str(found.id), listed=listed))


def _matches(record: dict[str, Any], words: str | None) -> bool:
    if not words:
        return True
    text = " ".join(str(record.get(k) or "") for k in ("name", "code", "description")).lower()
    return all(word in text for word in words.lower().split())


def _paged(found: list[dict[str, Any]]) -> Items:
    async def items(page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        return found[(page - 1) * per_page : page * per_page], len(found)

    return items


async def taxonomies(request: Request) -> Response:
    _only(request, *PAGING, "search")
    words = _search(request)
    found = [t for t in await _all_taxonomies() if _matches(t, words)]
    return await _answer(request, _paged(found), 50, most=500)


async def taxonomy_detail(request: Request) -> JSONResponse:
    _only(request)
    wanted = str(request.path_params["id"])
    for taxonomy in await _all_taxonomies():
        if str(taxonomy.get("id")) == wanted:
            return json_document(taxonomy)
    raise NotFound(f"No taxonomy with id {wanted}.")


async def taxonomy_terms(request: Request) -> Response:
    _only(request, *PAGING, "search", "taxonomy_id", "top_only", "parent_id")
    words, top_only = _search(request), _flag(request, "top_only")
    taxonomy, parent = query_uuid(request, "taxonomy_id"), query_uuid(request, "parent_id")
    terms = await _all_terms()
    if taxonomy and str(taxonomy) not in {str(t.get("id")) for t in await _all_taxonomies()}:
        raise Invalid({"taxonomy_id": "no such taxonomy"})
    if parent and str(parent) not in {str(t.get("id")) for t in terms}:
        raise Invalid({"parent_id": "no such taxonomy term"})
    found = [
        t
        for t in terms
        if _matches(t, words)
        and (taxonomy is None or str(t.get("taxonomy_id")) == str(taxonomy))
        and (parent is None or str(t.get("parent_id")) == str(parent))
        and not (top_only and t.get("parent_id"))
    ]
    return await _answer(request, _paged(found), 100, most=500)


async def taxonomy_term_detail(request: Request) -> JSONResponse:
    _only(request)
    wanted = str(request.path_params["id"])
    for term in await _all_terms():
        if str(term.get("id")) == wanted:
            return json_document(term)
    raise NotFound(f"No taxonomy term with id {wanted}.")


routes = [
    Route("/", about, methods=["GET"]),
    Route("/services", services, methods=["GET"]),
    Route("/services/{id:uuid}", service_detail, methods=["GET"]),
    Route("/service_at_locations", service_at_locations, methods=["GET"]),
    Route("/service_at_locations/{id:uuid}", service_at_location_detail, methods=["GET"]),
    Route("/organizations", organizations, methods=["GET"]),
    Route("/organizations/{id:uuid}", organization_detail, methods=["GET"]),
    Route("/taxonomies", taxonomies, methods=["GET"]),
    Route("/taxonomies/{id:uuid}", taxonomy_detail, methods=["GET"]),
    Route("/taxonomy_terms", taxonomy_terms, methods=["GET"]),
    Route("/taxonomy_terms/{id:uuid}", taxonomy_term_detail, methods=["GET"]),
]
