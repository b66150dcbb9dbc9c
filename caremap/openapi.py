"""The OpenAPI 3.1 description of caremap's JSON API, served at `/api/openapi.json`.

One table (`OPERATIONS`) says, for every JSON route, what it takes and what it answers; request
bodies come from the same pydantic input models the services validate with, so the document
cannot drift from the rules. `document()` walks the app's route table and refuses to build if a
route has no entry or an entry has no route, and a test builds it, so a new route without a
description fails the suite. Fuzzing (`tests/caremap/test_fuzzing.py`) drives every operation
from this document and checks the answers against it.
"""

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Mount, Route

from caremap.reports import REPORTS
from directory.models import ProblemKind
from directory.schemas import (
    LocationInput,
    OrganizationInput,
    PhoneInput,
    ScheduleInput,
    ServiceAreaInput,
    ServiceInput,
)
from referrals.inbox import DUE, Sort, Tab
from referrals.lifecycle import OUTCOMES, REJECTION_REASONS
from referrals.models import ReferralStatus, Urgency
from referrals.schemas import ReferralInput

JSON = "application/json"
FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
# The paths this document describes: caremap's JSON API and its FHIR surface (the /hsds API is
# described by HSDS's own OpenAPI document).
DOCUMENTED_PREFIXES = ("/api/", "/fhir/")
UUID_SCHEMA = {"type": "string", "format": "uuid"}
VERSION = {"type": "integer", "minimum": 1, "description": "the version you edited"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    """An object with these properties; answers may carry more (new fields are not breaking)."""
    return {"type": "object", "required": list(required), "properties": properties}


def _closed(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    """A request body with exactly these properties."""
    return {**_obj(required, **properties), "additionalProperties": False}


def _page(item: str) -> dict[str, Any]:
    """HSDS's paging shape."""
    return _obj(
        ("total_items", "total_pages", "page_number", "size", "contents"),
        total_items={"type": "integer"},
        total_pages={"type": "integer"},
        page_number={"type": "integer"},
        size={"type": "integer"},
        first_page={"type": "boolean"},
        last_page={"type": "boolean"},
        empty={"type": "boolean"},
        contents={"type": "array", "items": ref(item)},
    )


# --- components -------------------------------------------------------------------------------

_INPUTS = (
    ServiceInput,
    LocationInput,
    OrganizationInput,
    PhoneInput,
    ScheduleInput,
    ServiceAreaInput,
    ReferralInput,
)


def _input_schemas() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(model, "validation") for model in _INPUTS],
        ref_template="#/components/schemas/{model}",
    )
    return schemas.get("$defs", {})


def _partial(schema: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body: any of the fields, plus the version edited."""
    return {
        "type": "object",
        "properties": {**schema["properties"], "version": VERSION},
        "required": ["version"],
        "additionalProperties": False,
    }


@functools.cache  # the same for every app: built once per process, not at each create_app
def components() -> dict[str, Any]:
    inputs = _input_schemas()
    nested = {
        "organization_id": UUID_SCHEMA,
        "phones": {"type": "array", "items": ref("PhoneInput")},
        "schedules": {"type": "array", "items": ref("ScheduleInput")},
        "service_areas": {"type": "array", "items": ref("ServiceAreaInput")},
        "location_ids": {"type": "array", "items": UUID_SCHEMA},
    }
    service = inputs["ServiceInput"]
    location = inputs["LocationInput"]
    entity = {"id": UUID_SCHEMA, "version": {"type": "integer"}}
    return {
        **inputs,
        "ServiceCreate": {
            **service,
            "properties": {**service["properties"], **nested},
            "additionalProperties": False,
        },
        "ServicePatch": _partial(service),
        "LocationCreate": {
            **location,
            "properties": {**location["properties"], "organization_id": UUID_SCHEMA},
            "additionalProperties": False,
        },
        "LocationPatch": _partial(location),
        "OrganizationPatch": _partial(inputs["OrganizationInput"]),
        "PhonePatch": _partial(inputs["PhoneInput"]),
        "SchedulePatch": _partial(inputs["ScheduleInput"]),
        "ServiceAreaPatch": _partial(inputs["ServiceAreaInput"]),
        "VersionOnly": _closed((), version=VERSION),
        "Error": _obj(
            ("error", "message"),
            error={"type": "string"},
            message={"type": "string"},
            fields={"type": "object", "additionalProperties": {"type": "string"}},
        ),
        "OperationOutcome": _obj(
            ("resourceType", "issue"),
            resourceType={"const": "OperationOutcome"},
            issue={
                "type": "array",
                "minItems": 1,
                "items": _obj(
                    ("severity", "code"),
                    severity={"type": "string"},
                    code={"type": "string"},
                    diagnostics={"type": "string"},
                    expression={"type": "array", "items": {"type": "string"}},
                ),
            },
        ),
        "FhirResource": _obj(
            ("resourceType",),
            resourceType={"type": "string"},
            id={"type": "string"},
            meta=_obj(versionId={"type": "string"}, lastUpdated={"type": "string"}),
        ),
        "Service": _obj(
            ("id", "organization_id", "name", "status", "version"),
            **entity,
            organization_id=UUID_SCHEMA,
            name={"type": "string"},
            status={"type": "string"},
            stale={"type": "boolean"},
        ),
        "Location": _obj(("id", "version"), **entity),
        "Organization": _obj(("id", "name"), **entity, name={"type": "string"}),
        "Part": _obj(("id",), **entity),
        "Link": _obj(
            ("id", "service_id", "location_id"),
            id=UUID_SCHEMA,
            service_id=UUID_SCHEMA,
            location_id=UUID_SCHEMA,
        ),
        "Change": _obj(
            ("action", "entity", "at"),
            action={"type": "string"},
            entity={"type": "string"},
            at={"type": "string", "format": "date-time"},
        ),
        "Problem": _obj(
            ("id", "kind", "status"),
            id=UUID_SCHEMA,
            kind={"type": "string", "enum": [k.value for k in ProblemKind]},
            status={"type": "string", "enum": ["open", "resolved"]},
        ),
        "Referral": _obj(
            ("id", "status", "version"),
            id=UUID_SCHEMA,
            status={"type": "string", "enum": [s.value for s in ReferralStatus]},
            version={"type": "integer"},
        ),
        "User": _obj(
            ("id", "email", "role", "organization_id"),
            id=UUID_SCHEMA,
            email={"type": "string"},
            role={"type": "string"},
            organization_id=UUID_SCHEMA,
        ),
        "Token": _obj(("id", "name"), id=UUID_SCHEMA, name={"type": ["string", "null"]}),
        "SearchResults": _obj(
            ("results", "total", "page", "per_page"),
            results={
                "type": "array",
                "items": _obj(
                    ("service_id", "name"), service_id=UUID_SCHEMA, name={"type": "string"}
                ),
            },
            total={"type": "integer"},
            page={"type": "integer"},
            per_page={"type": "integer"},
            ignored_words={"type": "array", "items": {"type": "string"}},
            did_you_mean={
                "type": ["string", "null"],
                "description": "the nearest known words, when the words matched no listing",
            },
            understood={
                "type": ["object", "null"],
                "description": "the categories the question names, and its words that named "
                "them; the results are those categories' listings",
                "properties": {
                    "categories": {"type": "array", "items": {"type": "string"}},
                    "words": {"type": "array", "items": {"type": "string"}},
                },
            },
            suggested_categories={
                "type": "array",
                "description": "when nothing was found: the categories the question may mean",
                "items": _obj(("code", "name"), code={"type": "string"}, name={"type": "string"}),
            },
        ),
        "ServicePage": _page("Service"),
        "OrganizationPage": _page("Organization"),
        "AuditEntry": _obj(
            ("at", "referral_id", "action"),
            at={"type": "string"},
            referral_id=UUID_SCHEMA,
            action={"type": "string"},
        ),
        "AuditPage": _page("AuditEntry"),
        "ReferralPage": _page("Referral"),
    }


# --- operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    summary: str
    body: dict[str, Any] | None = None  # the JSON request body's schema
    body_required: bool = True
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    answer: dict[str, Any] | None = None  # the success body's schema (None: no body)
    media_type: str = JSON
    csv: bool = False  # also answers text/csv (with format=csv)
    tag: str = "catalog"
    body_media_types: tuple[str, ...] = (JSON,)
    if_match: bool = False  # the If-Match header (a FHIR version) is required


PAGING = {
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
}
OBJECT = {"type": "object"}
INTAKE = _closed(
    ("state",),
    state={"type": "string", "enum": ["open", "waitlist", "full"]},
    wait_days={"type": ["integer", "null"], "minimum": 1, "maximum": 365},
)

REPORT_QUERY = {
    "format": {"type": "string", "enum": ["json", "csv"]},
    "table": {"type": "string", "description": "one table's key (CSV of that table alone)"},
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "school": UUID_SCHEMA,
    "partner": UUID_SCHEMA,
    "category": {"type": "string", "description": "a category code of either level"},
}
REPORT = _obj(
    ("report", "filters", "tables"),
    report={"type": "string"},
    filters=OBJECT,
    tables={
        "type": "array",
        "items": _obj(
            ("key", "title", "columns", "rows", "hidden"),
            key={"type": "string"},
            title={"type": "string"},
            columns={"type": "array", "items": OBJECT},
            rows={"type": "array", "items": OBJECT},
            hidden={"type": "array", "items": OBJECT},
            hides_counts_below={"type": ["integer", "null"]},
        ),
    },
)

FHIR_RESOURCE = ref("FhirResource")
SEARCH_BUNDLE = _obj(
    ("resourceType", "type", "entry"),
    resourceType={"const": "Bundle"},
    type={"const": "searchset"},
    total={"type": "integer"},
    link={"type": "array", "items": _obj(("relation", "url"))},
    entry={"type": "array", "items": _obj(("fullUrl", "resource"), resource=FHIR_RESOURCE)},
)
JSON_PATCH_BODY = {
    "type": "array",
    "items": _obj(
        ("op", "path"),
        op={"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
        path={"type": "string"},
        value={},
    ),
}

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/api/openapi.json"): Op("This document", answer=OBJECT, tag="meta"),
    # catalog: services
    ("GET", "/api/services"): Op(
        "List public services",
        query={
            "category": {"type": "string"},
            "postal_code": {"type": "string"},
            "organization_id": UUID_SCHEMA,
            **PAGING,
        },
        answer=ref("ServicePage"),
    ),
    ("POST", "/api/services"): Op(
        "Create a service with its phones, hours, areas and sites",
        body=ref("ServiceCreate"),
        status=201,
        answer=ref("Service"),
    ),
    ("GET", "/api/services/{id}"): Op("Read a service", answer=ref("Service")),
    ("PATCH", "/api/services/{id}"): Op(
        "Change some fields of a service", body=ref("ServicePatch"), answer=ref("Service")
    ),
    ("DELETE", "/api/services/{id}"): Op(
        "Delete a service", body=ref("VersionOnly"), body_required=False, status=204
    ),
    ("GET", "/api/services/{id}/history"): Op(
        "Who changed the listing, what and when",
        answer=_obj(("contents",), contents={"type": "array", "items": ref("Change")}),
    ),
    ("POST", "/api/services/{id}/verify"): Op(
        '"Still accurate": restart the verification clock', answer=ref("Service")
    ),
    ("PUT", "/api/services/{id}/intake"): Op(
        "Say whether the service takes new people", body=INTAKE, answer=ref("Service")
    ),
    ("POST", "/api/services/{id}/problems"): Op(
        "Report a problem with a public listing (no sign-in)",
        body=_closed(
            ("kind",),
            kind={"type": "string", "enum": [k.value for k in ProblemKind]},
            details={"type": "string", "maxLength": 1000},
        ),
        status=201,
        answer=_obj(("id", "status"), id=UUID_SCHEMA, status={"type": "string"}),
    ),
    ("POST", "/api/services/{id}/phones"): Op(
        "Add a phone to a service", body=ref("PhoneInput"), status=201, answer=ref("Part")
    ),
    ("POST", "/api/services/{id}/schedules"): Op(
        "Add opening hours to a service", body=ref("ScheduleInput"), status=201, answer=ref("Part")
    ),
    ("POST", "/api/services/{id}/service_areas"): Op(
        "Add an area served", body=ref("ServiceAreaInput"), status=201, answer=ref("Part")
    ),
    ("PUT", "/api/services/{id}/locations/{location_id}"): Op(
        "Offer the service at a site",
        body=_closed((), description={"type": "string"}),
        body_required=False,
        status=201,
        answer=ref("Link"),
    ),
    ("DELETE", "/api/services/{id}/locations/{location_id}"): Op(
        "Stop offering the service at a site", status=204
    ),
    # catalog: problem reports
    ("GET", "/api/problems"): Op(
        "Problem reports of your organization's listings (admins: everyone's)",
        query={
            "status": {"type": "string", "enum": ["open", "all"]},
            "organization_id": UUID_SCHEMA,
            "service_id": UUID_SCHEMA,
            **PAGING,
        },
        answer={
            **_page("Problem"),
            "required": [*_page("Problem")["required"], "items", "open"],
            "properties": {
                **_page("Problem")["properties"],
                "items": {"type": "array", "items": ref("Problem")},
                "open": {"type": "integer"},
            },
        },
    ),
    ("POST", "/api/problems/{id}/resolve"): Op(
        "Resolve a problem report with a note",
        body=_closed(("resolution",), resolution={"type": "string", "maxLength": 1000}),
        answer=ref("Problem"),
    ),
    # catalog: locations and parts
    ("POST", "/api/locations"): Op(
        "Create a site (geocoded)", body=ref("LocationCreate"), status=201, answer=ref("Location")
    ),
    ("GET", "/api/locations/{id}"): Op("Read a site", answer=ref("Location")),
    ("PATCH", "/api/locations/{id}"): Op(
        "Change a site", body=ref("LocationPatch"), answer=ref("Location")
    ),
    ("DELETE", "/api/locations/{id}"): Op(
        "Delete a site", body=ref("VersionOnly"), body_required=False, status=204
    ),
    ("POST", "/api/locations/{id}/phones"): Op(
        "Add a phone to a site", body=ref("PhoneInput"), status=201, answer=ref("Part")
    ),
    **{
        (method, f"/api/{path}/{{id}}"): Op(
            f"{'Change' if method == 'PATCH' else 'Delete'} a {label}",
            body=ref(f"{schema}Patch" if method == "PATCH" else "VersionOnly"),
            body_required=method == "PATCH",
            status=200 if method == "PATCH" else 204,
            answer=ref("Part") if method == "PATCH" else None,
        )
        for path, label, schema in (
            ("phones", "phone", "Phone"),
            ("schedules", "schedule", "Schedule"),
            ("service_areas", "service area", "ServiceArea"),
        )
        for method in ("PATCH", "DELETE")
    },
    # catalog: organizations and taxonomy
    ("GET", "/api/organizations"): Op(
        "List organizations", query=PAGING, answer=ref("OrganizationPage")
    ),
    ("POST", "/api/organizations"): Op(
        "Create an organization (admins)",
        body=ref("OrganizationInput"),
        status=201,
        answer=ref("Organization"),
    ),
    ("GET", "/api/organizations/{id}"): Op("Read an organization", answer=ref("Organization")),
    ("PATCH", "/api/organizations/{id}"): Op(
        "Change an organization's profile (its partner admin, admins)",
        body=ref("OrganizationPatch"),
        answer=ref("Organization"),
    ),
    ("GET", "/api/taxonomy"): Op(
        "The service categories",
        query={"lang": {"type": "string", "enum": ["en", "es"]}},
        answer=OBJECT,
    ),
    # search
    ("GET", "/api/search"): Op(
        "Search public services",
        query={
            "q": {"type": "string", "maxLength": 200},
            "near": {"type": "string", "description": "a ZIP code or latitude,longitude"},
            "radius": {"type": "string", "description": "5, 5mi or 8km"},
            "category": {"type": "string"},
            "language": {"type": "string"},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "free": {"type": "boolean"},
            "open_now": {"type": "boolean"},
            "accepts_referrals": {"type": "boolean"},
            "understand": {
                "type": "boolean",
                "description": "read the question for the needs it names (default); false "
                "searches every listing for its words",
            },
            "sort": {"type": "string", "enum": ["relevance", "distance"]},
            **PAGING,
        },
        answer=ref("SearchResults"),
        tag="search",
    ),
    # referrals
    ("POST", "/api/referrals"): Op(
        "Refer a family to a service (with consent)",
        body=ref("ReferralInput"),
        status=201,
        answer=ref("Referral"),
        tag="referrals",
    ),
    ("GET", "/api/referrals"): Op(
        "Your organization's referrals (sent or received): an inbox tab, filters, a search by "
        "name or reference, paged with the total and each tab's count",
        query={
            "tab": {"type": "string", "enum": [t.value for t in Tab]},
            "sort": {"type": "string", "enum": [s.value for s in Sort]},
            "q": {"type": "string", "maxLength": 100, "description": "a name or a reference"},
            "status": {"type": "string", "enum": [s.value for s in ReferralStatus]},
            "urgency": {"type": "string", "enum": [u.value for u in Urgency]},
            "overdue": {"type": "boolean"},
            "due": {"type": "string", "enum": list(DUE)},
            "unread": {"type": "boolean"},
            "service_id": UUID_SCHEMA,
            "school_id": UUID_SCHEMA,
            "agency_id": UUID_SCHEMA,
            "created_after": {"type": "string", "format": "date-time"},
            "created_before": {"type": "string", "format": "date-time"},
            **PAGING,
        },
        answer=ref("ReferralPage"),
        tag="referrals",
    ),
    ("GET", "/api/referrals/{id}"): Op("Read a referral", answer=ref("Referral"), tag="referrals"),
    ("POST", "/api/referrals/{id}/transitions"): Op(
        "Move a referral along its lifecycle",
        body=_closed(
            ("to", "version"),
            to={"type": "string", "enum": [s.value for s in ReferralStatus]},
            version=VERSION,
            reason={"type": "string", "enum": list(REJECTION_REASONS)},
            outcome={"type": "string", "enum": list(OUTCOMES)},
            note={"type": "string", "maxLength": 2000},
        ),
        answer=ref("Referral"),
        tag="referrals",
    ),
    ("POST", "/api/referrals/{id}/notes"): Op(
        "Add a note to the timeline",
        body=_closed(("note",), note={"type": "string", "maxLength": 2000}),
        status=201,
        answer=ref("Referral"),
        tag="referrals",
    ),
    ("POST", "/api/referrals/{id}/consent/withdraw"): Op(
        "Record that consent was withdrawn", answer=ref("Referral"), tag="referrals"
    ),
    ("GET", "/api/referrals/{id}/fhir"): Op(
        "The referral as an HL7 FHIR ServiceRequest and Task bundle",
        answer=OBJECT,
        media_type="application/fhir+json",
        tag="referrals",
    ),
    ("GET", "/api/audit"): Op(
        "The audit log of referrals' personal details (admins), as JSON or CSV",
        query={
            "format": {"type": "string", "enum": ["json", "csv"]},
            "referral_id": UUID_SCHEMA,
            "reference": {"type": "string", "maxLength": 8},
            "user_id": UUID_SCHEMA,
            "action": {"type": "string", "maxLength": 20},
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
        answer=ref("AuditPage"),
        csv=True,
        tag="referrals",
    ),
    **{
        ("GET", f"/api/reports/{name}"): Op(
            f"The {name} report for your organization (admins: the district), as JSON or CSV",
            query=REPORT_QUERY,
            answer=REPORT,
            csv=True,
            tag="reports",
        )
        for name in REPORTS
    },
    # accounts
    ("POST", "/api/auth/login"): Op(
        "Sign in (sets the session cookie)",
        body=_closed(("email", "password"), email={"type": "string"}, password={"type": "string"}),
        answer=ref("User"),
        tag="accounts",
    ),
    ("POST", "/api/auth/logout"): Op("Sign out", status=204, tag="accounts"),
    ("GET", "/api/auth/me"): Op("Who you are", answer=ref("User"), tag="accounts"),
    ("POST", "/api/users"): Op(
        "Create a user (admins, or partner admins for their organization)",
        body=_closed(
            ("email", "name", "password", "role"),
            email={"type": "string", "format": "email"},
            name={"type": "string"},
            password={"type": "string"},
            role={"type": "string", "enum": ["specialist", "partner", "partner_admin", "admin"]},
            organization_id=UUID_SCHEMA,
            language={"type": "string"},
        ),
        status=201,
        answer=ref("User"),
        tag="accounts",
    ),
    ("PATCH", "/api/users/{id}"): Op(
        "Change a user's role, organization or whether they may sign in (admins); the user's "
        "sessions and API tokens end",
        body=_closed(
            (),
            role={"type": "string", "enum": ["specialist", "partner", "partner_admin", "admin"]},
            organization_id=UUID_SCHEMA,
            active={"type": "boolean"},
        ),
        answer=ref("User"),
        tag="accounts",
    ),
    ("GET", "/api/tokens"): Op(
        "Your API tokens",
        answer=_obj(("contents",), contents={"type": "array", "items": ref("Token")}),
        tag="accounts",
    ),
    ("POST", "/api/tokens"): Op(
        "Create an API token (its secret is shown once)",
        body=_closed((), name={"type": "string", "maxLength": 100}),
        body_required=False,
        status=201,
        answer=ref("Token"),
        tag="accounts",
    ),
    ("DELETE", "/api/tokens/{id}"): Op("Revoke an API token", status=204, tag="accounts"),
    # FHIR R4 (SDOH Clinical Care): referrals as Tasks a partner's case system reads and works
    ("GET", "/fhir/metadata"): Op(
        "The FHIR CapabilityStatement", answer=FHIR_RESOURCE, media_type=FHIR_JSON, tag="fhir"
    ),
    ("GET", "/fhir/Task"): Op(
        "The Tasks you may see, oldest change first (page on with the next link)",
        query={
            "owner": {"type": "string", "description": "Organization/{id}: the receiver"},
            "status": {"type": "string", "description": "Task statuses, comma-separated"},
            "_lastUpdated": {"type": "string", "description": "gt, ge or lt and a date-time"},
            "_count": {"type": "integer", "minimum": 1, "maximum": 100},
            "_cursor": {"type": "string", "description": "from a next link, unchanged"},
        },
        answer=SEARCH_BUNDLE,
        media_type=FHIR_JSON,
        tag="fhir",
    ),
    **{
        ("GET", f"/fhir/{kind}/{{id}}"): Op(
            f"A referral's {kind} (SDOH Clinical Care profile)",
            answer=FHIR_RESOURCE,
            media_type=FHIR_JSON,
            tag="fhir",
        )
        for kind in ("Task", "ServiceRequest", "Patient", "Consent")
    },
    ("GET", "/fhir/Organization/{id}"): Op(
        "An organization", answer=FHIR_RESOURCE, media_type=FHIR_JSON, tag="fhir"
    ),
    ("PATCH", "/fhir/Task/{id}"): Op(
        "Move a Task: JSON Patch of status, businessStatus, statusReason",
        body=JSON_PATCH_BODY,
        body_media_types=(JSON_PATCH,),
        if_match=True,
        answer=FHIR_RESOURCE,
        media_type=FHIR_JSON,
        tag="fhir",
    ),
    ("PUT", "/fhir/Task/{id}"): Op(
        "Move a Task: the whole Task with its status, businessStatus, statusReason changed",
        body=ref("FhirResource"),
        body_media_types=(FHIR_JSON, JSON),
        if_match=True,
        answer=FHIR_RESOURCE,
        media_type=FHIR_JSON,
        tag="fhir",
    ),
}


# --- the document -----------------------------------------------------------------------------


def json_routes(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, str, Route]]:
    """(method, OpenAPI path, route) of every route under `/api` and `/fhir`."""
    found = []
    for route in routes:
        if isinstance(route, Mount):
            found += json_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route) and (prefix + route.path).startswith(DOCUMENTED_PREFIXES):
            path = prefix + route.path
            for name, convertor in route.param_convertors.items():
                path = path.replace(f"{{{name}:{_convertor_name(convertor)}}}", f"{{{name}}}")
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, path, route))
    return found


def _convertor_name(convertor: Any) -> str:
    return {"UUIDConvertor": "uuid", "StringConvertor": "str", "IntegerConvertor": "int"}[
        type(convertor).__name__
    ]


class Undocumented(Exception):
    """A route without an operation, or an operation without a route."""


def _parameters(path: str, op: Op) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": UUID_SCHEMA} for name in names
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in op.query.items()
    ]
    if op.if_match:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": 'the version changed, as its ETag gave it: W/"3"',
                "schema": {"type": "string"},
            }
        )
    return parameters


def _operation(method: str, path: str, op: Op) -> dict[str, Any]:
    success: dict[str, Any] = {"description": op.summary}
    if op.answer is not None:
        success["content"] = {op.media_type: {"schema": op.answer}}
        if op.csv:
            success["content"]["text/csv"] = {"schema": {"type": "string"}}
    # The FHIR surface answers every error as an OperationOutcome.
    error = {FHIR_JSON: {"schema": ref("OperationOutcome")}} if op.tag == "fhir" else None
    error = error or {JSON: {"schema": ref("Error")}}
    operation: dict[str, Any] = {
        "operationId": method.lower() + path.replace("/", "_").replace("{", "").replace("}", ""),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(path, op),
        "responses": {
            str(op.status): success,
            "4XX": {"description": "The request was refused; the body says why.", "content": error},
            "503": {
                "description": "A backing service (database, search, geocoder) is down; try again.",
                "content": error,
            },
        },
    }
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.body_required,
            "content": {media: {"schema": op.body} for media in op.body_media_types},
        }
    return operation


def document(routes: list[BaseRoute]) -> dict[str, Any]:
    """The whole document for the app's routes; raises `Undocumented` if the two disagree."""
    paths: dict[str, dict[str, Any]] = {}
    seen = set()
    for method, path, _route in json_routes(routes):
        op = OPERATIONS.get((method, path))
        if op is None:
            raise Undocumented(f"{method} {path} has no entry in caremap.openapi.OPERATIONS")
        seen.add((method, path))
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op)
    if extra := set(OPERATIONS) - seen:
        raise Undocumented(f"documented but not routed: {sorted(extra)}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "caremap",
            "version": "1",
            "description": "Community resource directory and closed-loop referrals.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "caremap_session"},
            },
        },
        "security": [{}, {"token": []}, {"session": []}],
    }
