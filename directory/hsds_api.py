"""The read API of the HSDS 3.0 API reference (`/hsds/...`), so HSDS tools can read caremap.

Same documents as caremap's own API (`directory.serialize`), in the reference's shapes: lists
carry the one-to-one fields of each record (`?full=true` for nested services, `?minimal=true`
for ids and modification times), in the reference's paging shape.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from directory import serialize, service
from directory.errors import Invalid, NotFound
from directory.http import (
    actor_of,
    json_document,
    page_document,
    query_datetime,
    query_int,
    query_uuid,
)
from directory.taxonomy import BY_ID, CATEGORIES

HSDS_VERSION = "3.0"
OPENAPI_URL = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json"
# The one-to-one fields of a service: what the reference's service lists carry.
NESTED = {
    "phones",
    "schedules",
    "service_areas",
    "service_at_locations",
    "languages",
    "attributes",
    "contacts",
    "funding",
    "cost_options",
    "required_documents",
    "capacities",
    "organization",
    "categories",
    "intake",
}


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise Invalid({name: "true or false"})


async def about(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "version": HSDS_VERSION,
            "profile": "https://docs.openreferral.org/en/latest/hsds/overview.html",
            "openapi_url": OPENAPI_URL,
        }
    )


async def services(request: Request) -> JSONResponse:
    term = query_uuid(request, "taxonomy_term_id")
    category = BY_ID.get(term) if term else None
    if term and category is None:
        raise Invalid({"taxonomy_term_id": "no such taxonomy term"})
    page, per_page = query_int(request, "page", 1), query_int(request, "per_page", 25)
    full, minimal = _flag(request, "full"), _flag(request, "minimal")
    found = await service.list_services(
        actor=actor_of(request),
        category=category.code if category else None,
        organization_id=query_uuid(request, "organization_id"),
        text=(request.query_params.get("search") or "").strip()[:200] or None,
        modified_after=query_datetime(request, "modified_after"),
        page=page,
        per_page=per_page,
    )
    items = []
    for listing in found.items:
        document = serialize.service_document(listing)
        if minimal:
            items.append({"id": document["id"], "last_modified": document.get("last_modified")})
        elif full:
            items.append(document)
        else:
            items.append({k: v for k, v in document.items() if k not in NESTED})
    return JSONResponse(page_document(items, total=found.total, page=page, per_page=per_page))


async def service_detail(request: Request) -> JSONResponse:
    found = await service.get_service(actor=actor_of(request), service_id=request.path_params["id"])
    return json_document(serialize.service_document(found))


async def organizations(request: Request) -> JSONResponse:
    page, per_page = query_int(request, "page", 1), query_int(request, "per_page", 50)
    found = await service.list_organizations(page=page, per_page=per_page)
    items = [serialize.organization_document(o) for o in found.items]
    return JSONResponse(page_document(items, total=found.total, page=page, per_page=per_page))


async def organization_detail(request: Request) -> JSONResponse:
    found = await service.get_organization(organization_id=request.path_params["id"])
    return json_document(serialize.organization_document(found))


async def taxonomies(request: Request) -> JSONResponse:
    return JSONResponse(page_document([serialize.taxonomy_document()], total=1, page=1, per_page=1))


async def taxonomy_detail(request: Request) -> JSONResponse:
    if str(request.path_params["id"]) != serialize.TAXONOMY_ID:
        raise NotFound(f"No taxonomy with id {request.path_params['id']}.")
    return json_document(serialize.taxonomy_document())


async def taxonomy_terms(request: Request) -> JSONResponse:
    page, per_page = query_int(request, "page", 1), query_int(request, "per_page", 100)
    if not 1 <= per_page <= 500:
        raise Invalid({"per_page": "must be between 1 and 500"})
    codes = [c.code for c in CATEGORIES]
    chosen = codes[(page - 1) * per_page : page * per_page]
    items = [serialize.taxonomy_term_document(code) for code in chosen]
    return JSONResponse(page_document(items, total=len(codes), page=page, per_page=per_page))


async def taxonomy_term_detail(request: Request) -> JSONResponse:
    wanted = request.path_params["id"]
    if wanted not in BY_ID:
        raise NotFound(f"No taxonomy term with id {wanted}.")
    return json_document(serialize.taxonomy_term_document(BY_ID[wanted].code))


routes = [
    Route("/", about, methods=["GET"]),
    Route("/services", services, methods=["GET"]),
    Route("/services/{id:uuid}", service_detail, methods=["GET"]),
    Route("/organizations", organizations, methods=["GET"]),
    Route("/organizations/{id:uuid}", organization_detail, methods=["GET"]),
    Route("/taxonomies", taxonomies, methods=["GET"]),
    Route("/taxonomies/{id:uuid}", taxonomy_detail, methods=["GET"]),
    Route("/taxonomy_terms", taxonomy_terms, methods=["GET"]),
    Route("/taxonomy_terms/{id:uuid}", taxonomy_term_detail, methods=["GET"]),
]
