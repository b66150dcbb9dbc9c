"""Small helpers that every domain's route handlers share: reading JSON, the actor, versions.

They hold no business rule; they turn an HTTP request into the plain values services take.
"""

import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from directory import untrusted_json
from directory.actor import Actor
from directory.editing import parse_version
from directory.errors import DomainError, Invalid

MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 20


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


def actor_of(request: Request) -> Actor | None:
    user = request.scope.get("user")
    return user if isinstance(user, Actor) else None


async def read_json(
    request: Request, *, required: bool = True, media_types: tuple[str, ...] = ("application/json",)
) -> Any:
    """The request body as JSON, refusing bodies that are too large, too deep or not JSON.
    `media_types` are the JSON types the route reads (FHIR's, JSON Patch); none of them is one
    a cross-site HTML form can send."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not body.strip():
        if required:
            raise Invalid({"body": "a JSON body is required"})
        return {}
    # Only JSON is read: a cross-site HTML form cannot send this content type without CORS.
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in media_types:
        raise UnsupportedMediaType(
            f"Send the body as JSON with Content-Type: {' or '.join(media_types)}."
        )
    try:
        data = untrusted_json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Invalid({"body": "is not valid UTF-8"}) from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise Invalid(
            {"body": f"is not valid JSON ({getattr(error, 'msg', 'too deep')})"}
        ) from None
    except ValueError:  # an integer of thousands of digits, or NaN / Infinity
        raise Invalid({"body": "holds a number too large, or not a number"}) from None
    if untrusted_json.deeper_than(data, MAX_JSON_DEPTH):
        raise Invalid({"body": f"is nested deeper than {MAX_JSON_DEPTH} levels"})
    if found := _unstorable(data, "body"):
        where, problem = found
        raise Invalid({where: problem})
    return data


LARGEST_INTEGER = 2**63 - 1  # the widest integer column any database here holds


def _unstorable(value: Any, path: str) -> tuple[str, str] | None:
    """The dotted path of the first value no database can store, and why: a NUL character
    in a string or key (PostgreSQL refuses it) or an integer wider than 64 bits."""
    if isinstance(value, str):
        return (path, "must not contain a NUL character (\\u0000)") if "\x00" in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return (path, "is too large a number") if abs(value) > LARGEST_INTEGER else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{key}" if path == "body" else f"{path}.{key}"
            if "\x00" in str(key):
                return inner, "must not contain a NUL character (\\u0000)"
            if found := _unstorable(item, inner):
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if found := _unstorable(item, f"{path}[{index}]"):
                return found
    return None


def version_of(request: Request, body: Any = None) -> int:
    """The edited version: the If-Match header wins over a `version` body field."""
    header = request.headers.get("if-match")
    if header is not None:
        return parse_version(header)
    if isinstance(body, dict) and "version" in body:
        return parse_version(body.pop("version"))
    return parse_version(None)


MAX_QUERY_INT = 1_000_000  # no page number or count goes near this; bigger ones are refused


def query_int(
    request: Request, name: str, default: int, minimum: int = 1, maximum: int = MAX_QUERY_INT
) -> int:
    """A whole-number query parameter within bounds, or a 422 naming it (never a huge offset)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid({name: "must be a whole number"}) from None
    if not minimum <= value <= maximum:
        raise Invalid({name: f"must be from {minimum} to {maximum}"})
    return value


def query_date(request: Request, name: str, earliest: date, latest: date) -> date | None:
    """A calendar date query parameter within bounds, or a 422 naming it."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise Invalid({name: "a date such as 2026-11-23"}) from None
    if not earliest <= value <= latest:
        raise Invalid({name: f"a date from {earliest} to {latest}"})
    return value


def query_datetime(request: Request, name: str) -> datetime | None:
    """An ISO date or date-time query parameter, or a 422 naming it."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid({name: "an ISO date or date-time, such as 2026-11-23"}) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # a bare date-time is UTC


def query_uuid(request: Request, name: str) -> UUID | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise Invalid({name: "must be a UUID"}) from None


def form_text(form: Any, name: str) -> str | None:
    """A form field, trimmed; an empty field is None, as a missing JSON field would be."""
    value = str(form.get(name, "")).strip()
    return value or None


def form_uuid(value: Any, field: str) -> UUID:
    """An id posted by a form, or a 422 naming the field."""
    try:
        return UUID(str(value))
    except ValueError:
        raise Invalid({field: "not a valid id"}) from None


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body, which must be a JSON object."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise Invalid({"body": "must be a JSON object"})
    return body


class FastJSONResponse(JSONResponse):
    """Starlette's compact UTF-8 JSON, written by orjson: several times faster for the large
    documents the hot paths answer with (search results, referrals)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_document(document: dict[str, Any], status_code: int = 200) -> JSONResponse:
    """A JSON response; a versioned document also gets an ETag so clients can send If-Match."""
    headers = {"ETag": f'"{document["version"]}"'} if "version" in document else None
    return FastJSONResponse(document, status_code=status_code, headers=headers)


def page_document(items: list[dict[str, Any]], *, total: int, page: int, per_page: int) -> dict:
    """HSDS 3.0's paging shape, used by every list endpoint."""
    total_pages = max(1, -(-total // per_page))
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": page,
        "size": len(items),
        "first_page": page == 1,
        "last_page": page >= total_pages,
        "empty": not items,
        "contents": items,
    }
