"""The catalog's JSON API: thin handlers that parse, call the service layer and serialize."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from directory import access, details, problems, serialize, service
from directory.errors import Invalid
from directory.http import (
    actor_of,
    json_document,
    page_document,
    query_int,
    query_uuid,
    read_json,
    read_json_object,
    version_of,
)
from directory.models import Organization
from directory.taxonomy import BY_CODE


async def list_services(request: Request) -> JSONResponse:
    page = await service.list_services(
        actor=actor_of(request),
        category=request.query_params.get("category") or None,
        postal_code=request.query_params.get("postal_code") or None,
        organization_id=query_uuid(request, "organization_id"),
        page=query_int(request, "page", 1),
        per_page=query_int(request, "per_page", 25),
    )
    items = [serialize.service_document(s) for s in page.items]
    return JSONResponse(
        page_document(items, total=page.total, page=page.page, per_page=page.per_page)
    )


async def get_service(request: Request) -> JSONResponse:
    found = await service.get_service(actor=actor_of(request), service_id=request.path_params["id"])
    return json_document(serialize.service_document(found))


async def create_service(request: Request) -> JSONResponse:
    created = await service.create_service(actor=actor_of(request), data=await read_json(request))
    return json_document(serialize.service_document(created), status_code=201)


async def update_service(request: Request) -> JSONResponse:
    body = await read_json(request)
    updated = await service.update_service(
        actor=actor_of(request),
        service_id=request.path_params["id"],
        version=version_of(request, body),
        data=body,
    )
    return json_document(serialize.service_document(updated))


async def delete_service(request: Request) -> Response:
    body = await read_json(request, required=False)
    await service.delete_service(
        actor=actor_of(request),
        service_id=request.path_params["id"],
        version=version_of(request, body),
    )
    return Response(status_code=204)


async def verify_service(request: Request) -> JSONResponse:
    verified = await service.verify_service(
        actor=actor_of(request), service_id=request.path_params["id"]
    )
    return json_document(serialize.service_document(verified))


async def report_problem(request: Request) -> JSONResponse:
    """Anyone, signed in or not, reports that a public listing is wrong."""
    report = await problems.report_problem(
        service_id=request.path_params["id"], data=await read_json_object(request)
    )
    return JSONResponse({"id": str(report.id), "status": "open"}, status_code=201)


async def list_problems(request: Request) -> JSONResponse:
    status = request.query_params.get("status", "open")
    if status not in ("open", "all"):
        raise Invalid({"status": "must be open or all"})
    found = await problems.list_problems(
        actor=actor_of(request),
        organization_id=query_uuid(request, "organization_id"),
        service_id=query_uuid(request, "service_id"),
        include_resolved=status == "all",
        page=query_int(request, "page", 1, 1, 10_000),
        per_page=query_int(request, "per_page", 50, 1, service.MAX_PER_PAGE),
    )
    items = [serialize.problem_document(r) for r in found.items]
    paged = page_document(items, total=found.total, page=found.page, per_page=found.per_page)
    # `items` is the list's name from before it was paged; `contents` is HSDS's paging shape.
    return JSONResponse({**paged, "items": items, "open": found.open_count})


async def resolve_problem(request: Request) -> JSONResponse:
    resolved = await problems.resolve_problem(
        actor=actor_of(request),
        problem_id=request.path_params["id"],
        data=await read_json_object(request),
    )
    return JSONResponse(serialize.problem_document(resolved))


async def set_intake(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    updated = await service.set_intake(
        actor=actor_of(request),
        service_id=request.path_params["id"],
        state=body.get("state"),
        wait_days=body.get("wait_days"),
    )
    return json_document(serialize.service_document(updated))


async def add_service_phone(request: Request) -> JSONResponse:
    phone = await details.add_phone(
        actor=actor_of(request), service_id=request.path_params["id"], data=await read_json(request)
    )
    return json_document(serialize.phone_document(phone), status_code=201)


async def add_schedule(request: Request) -> JSONResponse:
    schedule = await details.add_schedule(
        actor=actor_of(request), service_id=request.path_params["id"], data=await read_json(request)
    )
    return json_document(serialize.schedule_document(schedule), status_code=201)


async def add_service_area(request: Request) -> JSONResponse:
    area = await details.add_service_area(
        actor=actor_of(request), service_id=request.path_params["id"], data=await read_json(request)
    )
    return json_document(serialize.service_area_document(area), status_code=201)


async def link_location(request: Request) -> JSONResponse:
    body = await read_json(request, required=False)
    description = body.get("description") if isinstance(body, dict) else None
    link = await details.link_location(
        actor=actor_of(request),
        service_id=request.path_params["id"],
        location_id=request.path_params["location_id"],
        description=description if isinstance(description, str) else None,
    )
    return JSONResponse(
        {
            "id": str(link.id),
            "service_id": str(link.service_id),
            "location_id": str(link.location_id),
        },
        status_code=201,
    )


async def unlink_location(request: Request) -> Response:
    await details.unlink_location(
        actor=actor_of(request),
        service_id=request.path_params["id"],
        location_id=request.path_params["location_id"],
    )
    return Response(status_code=204)


async def create_location(request: Request) -> JSONResponse:
    location = await details.create_location(
        actor=actor_of(request), data=await read_json(request), geocoder=request.app.state.geocoder
    )
    return json_document(serialize.location_document(location), status_code=201)


async def get_location(request: Request) -> JSONResponse:
    location = await details.get_location(location_id=request.path_params["id"])
    return json_document(serialize.location_document(location, list(location.phones)))


async def update_location(request: Request) -> JSONResponse:
    body = await read_json(request)
    location = await details.update_location(
        actor=actor_of(request),
        location_id=request.path_params["id"],
        version=version_of(request, body),
        data=body,
        geocoder=request.app.state.geocoder,
    )
    return json_document(serialize.location_document(location))


async def delete_location(request: Request) -> Response:
    body = await read_json(request, required=False)
    await details.delete_location(
        actor=actor_of(request),
        location_id=request.path_params["id"],
        version=version_of(request, body),
    )
    return Response(status_code=204)


async def add_location_phone(request: Request) -> JSONResponse:
    phone = await details.add_phone(
        actor=actor_of(request),
        location_id=request.path_params["id"],
        data=await read_json(request),
    )
    return json_document(serialize.phone_document(phone), status_code=201)


_PART_DOCUMENTS = {
    "phone": serialize.phone_document,
    "schedule": serialize.schedule_document,
    "service_area": serialize.service_area_document,
}


def _part_routes(kind: str, path: str) -> list[Route]:
    async def update(request: Request) -> JSONResponse:
        body = await read_json(request)
        part = await details.update_part(
            actor=actor_of(request),
            kind=kind,
            part_id=request.path_params["id"],
            version=version_of(request, body),
            data=body,
        )
        return json_document(_PART_DOCUMENTS[kind](part))

    async def delete(request: Request) -> Response:
        body = await read_json(request, required=False)
        await details.delete_part(
            actor=actor_of(request),
            kind=kind,
            part_id=request.path_params["id"],
            version=version_of(request, body),
        )
        return Response(status_code=204)

    return [
        Route(f"/{path}/{{id:uuid}}", update, methods=["PATCH"], name=f"update_{kind}"),
        Route(f"/{path}/{{id:uuid}}", delete, methods=["DELETE"], name=f"delete_{kind}"),
    ]


async def list_organizations(request: Request) -> JSONResponse:
    page = await service.list_organizations(
        page=query_int(request, "page", 1), per_page=query_int(request, "per_page", 50)
    )
    items = [serialize.organization_document(o) for o in page.items]
    return JSONResponse(
        page_document(items, total=page.total, page=page.page, per_page=page.per_page)
    )


async def get_organization(request: Request) -> JSONResponse:
    organization = await service.get_organization(organization_id=request.path_params["id"])
    return json_document(_organization_document(request, organization))


def _organization_document(request: Request, organization: Organization) -> dict[str, Any]:
    staff = access.can_edit_listings(actor_of(request), organization.id)
    return serialize.organization_document(organization, staff=staff)


async def create_organization(request: Request) -> JSONResponse:
    organization = await service.create_organization(
        actor=actor_of(request), data=await read_json(request)
    )
    return json_document(_organization_document(request, organization), status_code=201)


async def update_organization(request: Request) -> JSONResponse:
    body = await read_json(request)
    organization = await service.update_organization(
        actor=actor_of(request),
        organization_id=request.path_params["id"],
        version=version_of(request, body),
        data=body,
    )
    return json_document(_organization_document(request, organization))


def change_document(change: Any) -> dict[str, Any]:
    return {
        "at": change.created_at.isoformat(),
        "entity": change.entity,
        "entity_id": str(change.entity_id),
        "action": change.action,
        "changed_fields": change.changed_fields,
        "actor_user_id": str(change.actor_user_id) if change.actor_user_id else None,
    }


async def service_history(request: Request) -> JSONResponse:
    changes = await service.listing_history(
        actor=actor_of(request), service_id=request.path_params["id"]
    )
    return JSONResponse({"contents": [change_document(c) for c in changes]})


async def taxonomy(request: Request) -> JSONResponse:
    language = "es" if request.query_params.get("lang") == "es" else "en"
    terms = await service.taxonomy_terms()
    items = []
    for term in terms:
        document = serialize.category_document(term)
        category = BY_CODE.get(term.code)
        if category:
            document["name"] = category.name_in(language)
        items.append(document)
    return JSONResponse({"language": language, "categories": items})


routes = [
    Route("/services", list_services, methods=["GET"]),
    Route("/services", create_service, methods=["POST"]),
    Route("/services/{id:uuid}", get_service, methods=["GET"]),
    Route("/services/{id:uuid}", update_service, methods=["PATCH"]),
    Route("/services/{id:uuid}", delete_service, methods=["DELETE"]),
    Route("/services/{id:uuid}/history", service_history, methods=["GET"]),
    Route("/services/{id:uuid}/verify", verify_service, methods=["POST"]),
    Route("/services/{id:uuid}/intake", set_intake, methods=["PUT"]),
    Route("/services/{id:uuid}/problems", report_problem, methods=["POST"]),
    Route("/problems", list_problems, methods=["GET"]),
    Route("/problems/{id:uuid}/resolve", resolve_problem, methods=["POST"]),
    Route("/services/{id:uuid}/phones", add_service_phone, methods=["POST"]),
    Route("/services/{id:uuid}/schedules", add_schedule, methods=["POST"]),
    Route("/services/{id:uuid}/service_areas", add_service_area, methods=["POST"]),
    Route("/services/{id:uuid}/locations/{location_id:uuid}", link_location, methods=["PUT"]),
    Route("/services/{id:uuid}/locations/{location_id:uuid}", unlink_location, methods=["DELETE"]),
    Route("/locations", create_location, methods=["POST"]),
    Route("/locations/{id:uuid}", get_location, methods=["GET"]),
    Route("/locations/{id:uuid}", update_location, methods=["PATCH"]),
    Route("/locations/{id:uuid}", delete_location, methods=["DELETE"]),
    Route("/locations/{id:uuid}/phones", add_location_phone, methods=["POST"]),
    *_part_routes("phone", "phones"),
    *_part_routes("schedule", "schedules"),
    *_part_routes("service_area", "service_areas"),
    Route("/organizations", list_organizations, methods=["GET"]),
    Route("/organizations", create_organization, methods=["POST"]),
    Route("/organizations/{id:uuid}", get_organization, methods=["GET"]),
    Route("/organizations/{id:uuid}", update_organization, methods=["PATCH"]),
    Route("/taxonomy", taxonomy, methods=["GET"]),
]
