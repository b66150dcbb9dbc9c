"""The FHIR REST surface for referrals (`/fhir/...`): a partner's case system reads and works
caremap referrals as SDOH Clinical Care Tasks. Thin handlers over `fhir_service`; every error is
an OperationOutcome (`caremap.errors`), every read audited, every change a lifecycle move.

    GET   /fhir/metadata                   the CapabilityStatement of what follows
    GET   /fhir/Task?owner=&status=&_lastUpdated=&_count=   Tasks the caller may see, oldest first
    GET   /fhir/Task/{id}, /ServiceRequest/{id}, /Patient/{id}, /Consent/{id}, /Organization/{id}
    PATCH /fhir/Task/{id}                  JSON Patch (application/json-patch+json), If-Match
    PUT   /fhir/Task/{id}                  the whole Task, If-Match
"""

import base64
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import jsonpatch
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from directory.errors import Invalid, PreconditionFailed, PreconditionRequired
from directory.http import actor_of, read_json
from referrals import fhir, fhir_service
from referrals.fhir_service import TaskQuery

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"  # RFC 6902
MAX_COUNT = 100
SEARCH_PARAMETERS = ("owner", "status", "_lastUpdated", "_count", "_cursor")


def _systems(request: Request) -> fhir.Systems:
    return fhir.systems_under(request.app.state.settings.fhir_system_base)


def _base(request: Request) -> str:
    return request.app.state.settings.base_url.rstrip("/")


def _answer(resource: dict[str, Any], status_code: int = 200) -> JSONResponse:
    headers = {}
    if version := resource.get("meta", {}).get("versionId"):
        headers["ETag"] = f'W/"{version}"'
    if updated := resource.get("meta", {}).get("lastUpdated"):
        headers["Last-Modified"] = updated
    return JSONResponse(resource, status_code=status_code, media_type=FHIR_JSON, headers=headers)


def _id(request: Request) -> UUID:
    return request.path_params["id"]


# --- reads --------------------------------------------------------------------------------------


async def metadata(request: Request) -> JSONResponse:
    return JSONResponse(capability_statement(_base(request)), media_type=FHIR_JSON)


def capability_statement(base_url: str) -> dict[str, Any]:
    read = [{"code": "read"}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-04",
        "kind": "instance",
        "software": {"name": "caremap"},
        "implementation": {"description": "caremap referrals", "url": f"{base_url}/fhir"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "patchFormat": [JSON_PATCH],
        "implementationGuide": [
            "http://hl7.org/fhir/us/sdoh-clinicalcare/ImplementationGuide/hl7.fhir.us.sdoh-clinicalcare"
        ],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "An API token of a caremap account: Authorization: Bearer ..."
                },
                "resource": [
                    {
                        "type": "Task",
                        "supportedProfile": [fhir.PROFILES["Task"]],
                        "interaction": [
                            {"code": "read"},
                            {"code": "search-type"},
                            {"code": "update"},
                            {"code": "patch"},
                        ],
                        "versioning": "versioned-update",
                        "updateCreate": False,
                        "conditionalUpdate": False,
                        "searchParam": [
                            {"name": "owner", "type": "reference"},
                            {"name": "status", "type": "token"},
                            {"name": "_lastUpdated", "type": "date"},
                            {"name": "_count", "type": "number"},
                        ],
                    },
                    *(
                        {
                            "type": kind,
                            "supportedProfile": [fhir.PROFILES[kind]],
                            "interaction": read,
                        }
                        for kind in ("ServiceRequest", "Patient", "Consent", "Organization")
                    ),
                ],
            }
        ],
    }


async def read_resource(request: Request) -> JSONResponse:
    kind = request.url.path.split("/")[-2]
    resource = await fhir_service.read(
        actor=actor_of(request), kind=kind, referral_id=_id(request), systems=_systems(request)
    )
    return _answer(resource)


async def read_organization(request: Request) -> JSONResponse:
    found = await fhir_service.organization(organization_id=_id(request), systems=_systems(request))
    return _answer(found)


async def search_tasks(request: Request) -> JSONResponse:
    query = _task_query(request)
    page = await fhir_service.tasks(actor=actor_of(request), query=query, systems=_systems(request))
    base = _base(request)
    links = [{"relation": "self", "url": str(request.url)}]
    if page.last is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
        params.append(("_cursor", _cursor(page.last)))
        links.append({"relation": "next", "url": f"{base}/fhir/Task?{urlencode(params)}"})
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/fhir/Task/{task['id']}",
                "resource": task,
                "search": {"mode": "match"},
            }
            for task in page.resources
        ],
    }
    return JSONResponse(bundle, media_type=FHIR_JSON)


def _task_query(request: Request) -> TaskQuery:
    """The search's parameters, each checked; one the search does not take is named (FHIR's
    strict handling), never ignored."""
    params = request.query_params
    unknown = sorted(set(params) - set(SEARCH_PARAMETERS))
    if unknown:
        raise Invalid({name: "not a search parameter of Task here" for name in unknown})
    values: dict[str, Any] = {}
    if owner := params.get("owner"):
        values["owner"] = _uuid("owner", owner.removeprefix("Organization/"))
    if status := params.get("status"):
        statuses = tuple(s.strip() for s in status.split(",") if s.strip())
        allowed = set(fhir.TASK_STATUS.values())
        if not statuses or not set(statuses) <= allowed:
            raise Invalid({"status": f"Task statuses from: {', '.join(sorted(allowed))}"})
        values["statuses"] = statuses
    for raw in params.getlist("_lastUpdated"):
        match = re.fullmatch(r"(gt|ge|lt)(.+)", raw)
        if not match:
            raise Invalid(
                {"_lastUpdated": "gt, ge or lt and a date-time, e.g. gt2026-12-01T00:00:00Z"}
            )
        moment = _moment(match.group(2))
        key = {"gt": "updated_after", "ge": "updated_from", "lt": "updated_before"}[match.group(1)]
        values[key] = moment
    if (count := params.get("_count")) is not None:
        if not count.isdigit() or not 1 <= int(count) <= MAX_COUNT:
            raise Invalid({"_count": f"a whole number from 1 to {MAX_COUNT}"})
        values["count"] = int(count)
    if cursor := params.get("_cursor"):
        values["after"] = _read_cursor(cursor)
    return TaskQuery(**values)


def _uuid(name: str, raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise Invalid({name: "Organization/ and an organization's id"}) from None


def _moment(raw: str) -> datetime:
    try:
        # A "+hh:mm" sent unescaped in a query string arrives as a space.
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Invalid({"_lastUpdated": "a date-time such as 2026-12-01T00:00:00Z"}) from None
    if moment.tzinfo is None:
        raise Invalid({"_lastUpdated": "a date-time with its time zone (Z or +hh:mm)"})
    return moment


def _cursor(last: tuple[datetime, UUID]) -> str:
    return base64.urlsafe_b64encode(f"{last[0].isoformat()}|{last[1]}".encode()).decode()


def _read_cursor(raw: str) -> tuple[datetime, UUID]:
    try:
        moment, _, last_id = base64.urlsafe_b64decode(raw.encode()).decode().partition("|")
        return datetime.fromisoformat(moment), UUID(last_id)
    except (ValueError, UnicodeDecodeError):
        raise Invalid({"_cursor": "the value of a next link, unchanged"}) from None


# --- changes ------------------------------------------------------------------------------------


def _if_match(request: Request) -> int:
    """The version the caller changed, from If-Match (W/"3" or "3")."""
    raw = request.headers.get("if-match")
    if raw is None:
        raise PreconditionRequired(
            'Send If-Match with the Task\'s version (its ETag, such as W/"3") to change it.'
        )
    match = re.fullmatch(r'\s*(?:W/)?"(\d{1,9})"\s*', raw)
    if not match:
        raise PreconditionFailed('If-Match must be a Task version, such as W/"3".')
    return int(match.group(1))


async def patch_task(request: Request) -> JSONResponse:
    version = _if_match(request)
    operations = await read_json(request, media_types=(JSON_PATCH,))
    actor, systems = actor_of(request), _systems(request)
    current = await fhir_service.read(
        actor=actor, kind="Task", referral_id=_id(request), systems=systems
    )
    try:
        changed = jsonpatch.JsonPatch(operations).apply(current)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as error:
        raise Invalid({"patch": f"cannot be applied: {error}"[:200]}) from None
    return await _changed(request, version, changed)


async def put_task(request: Request) -> JSONResponse:
    version = _if_match(request)
    changed = await read_json(request, media_types=(FHIR_JSON, "application/json"))
    if not isinstance(changed, dict) or str(changed.get("id")) != str(_id(request)):
        raise Invalid({"id": "the Task's own id, as in the address"})
    return await _changed(request, version, changed)


async def _changed(request: Request, version: int, changed: Any) -> JSONResponse:
    task = await fhir_service.change_task(
        actor=actor_of(request),
        referral_id=_id(request),
        version=version,
        changed=changed,
        systems=_systems(request),
    )
    return _answer(task)


routes = [
    Route("/metadata", metadata, methods=["GET"]),
    Route("/Task", search_tasks, methods=["GET"]),
    Route("/Task/{id:uuid}", read_resource, methods=["GET"]),
    Route("/Task/{id:uuid}", patch_task, methods=["PATCH"]),
    Route("/Task/{id:uuid}", put_task, methods=["PUT"]),
    Route("/ServiceRequest/{id:uuid}", read_resource, methods=["GET"]),
    Route("/Patient/{id:uuid}", read_resource, methods=["GET"]),
    Route("/Consent/{id:uuid}", read_resource, methods=["GET"]),
    Route("/Organization/{id:uuid}", read_organization, methods=["GET"]),
]
