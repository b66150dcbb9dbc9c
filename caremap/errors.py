"""Exceptions to HTTP responses, in one place.

Domain errors carry their own status; Tortoise's DoesNotExist, IntegrityError and field
ValidationError map to 404, 409 and 422; Starlette's HTTPException keeps its status; a
database that cannot be reached is a 503 (`DatabaseUnavailable`). Anything else is a bug and
stays a 500.
"""

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tortoise.exceptions import DoesNotExist, IntegrityError
from tortoise.exceptions import ValidationError as FieldValidationError

from caremap.db import unreachable
from caremap.security import API_PREFIXES
from caremap.templating import templates
from directory.errors import DomainError, Invalid

logger = logging.getLogger(__name__)


def _wants_page(request: Request) -> bool:
    """Browsers on pages get an HTML error; the API always answers JSON."""
    return not request.url.path.startswith(API_PREFIXES) and "text/html" in request.headers.get(
        "accept", ""
    )


def _page(
    request: Request, status: int, message: str = "", headers: dict | None = None
) -> Response:
    """The error as a page in the visitor's language (titles and words by status, in
    `error.html`); the service's own English message is added on English pages."""
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message},
        status_code=status,
        headers=headers,
    )


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    if _wants_page(request):
        return _page(request, exc.status, exc.message, headers)
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def does_not_exist(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "not_found", "message": "Not found."}, status_code=404)


async def integrity_error(request: Request, exc: Exception) -> Response:
    # The message may quote values; log only the type, never the data.
    logger.info("integrity error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error": "conflict", "message": "This change conflicts with existing data."},
        status_code=409,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    if _wants_page(request) and exc.status_code in (404, 405):
        return _page(request, 404)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"error": code, "message": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )


async def field_too_long(request: Request, exc: Exception) -> Response:
    """A value the database field cannot hold that no input rule caught first (a query by a
    value longer than its column, say): a 422 naming the field, never quoting the value."""
    field = str(exc).split(":", 1)[0].strip() or "body"
    logger.info("field validation failed on %s %s: %s", request.method, request.url.path, field)
    error = Invalid({field: "is too long or not valid for this field"})
    return await domain_error(request, error)


async def server_error(request: Request, exc: Exception) -> Response:
    """A fault caremap did not foresee, answered as a page in the visitor's language, or as
    JSON for the API; logged here by its type only (never the data)."""
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    if _wants_page(request):
        return _page(request, 500)
    return JSONResponse(
        {"error": "server_error", "message": "Something went wrong on our side."}, status_code=500
    )


exception_handlers = {
    500: server_error,
    DomainError: domain_error,
    DoesNotExist: does_not_exist,
    IntegrityError: integrity_error,
    FieldValidationError: field_too_long,
    HTTPException: http_error,
}


UNAVAILABLE_PAGE = (
    "<!doctype html><html lang='en'><meta charset='utf-8'><title>Back in a moment</title>"
    "<h1>caremap is back in a moment</h1><p>We cannot reach our database right now. Nothing you "
    "sent was saved; please try again in a minute.</p>"
)


class DatabaseUnavailable:
    """ASGI middleware: a request that meets an unreachable database gets a 503, not a 500.

    It wraps the whole app because the session lookup runs in middleware, before the exception
    handlers above. Nothing is half-written: the failed request's transaction never commits.
    The connection pool opens new connections once the database is back, so the app recovers
    without a restart.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as error:
            if started or not unreachable(error):
                raise
            logger.warning("database unreachable (%s) on %s", type(error).__name__, scope["path"])
            request = Request(scope)
            headers = {"Retry-After": "5"}
            response: Response
            if _wants_page(request):
                response = HTMLResponse(UNAVAILABLE_PAGE, status_code=503, headers=headers)
            else:
                body = {
                    "error": "database_unavailable",
                    "message": "The database cannot be reached right now; try again shortly.",
                }
                response = JSONResponse(body, status_code=503, headers=headers)
            await response(scope, receive, send)


# FHIR's issue types for caremap's HTTP statuses.
FHIR_ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    428: "required",
    429: "throttled",
    503: "transient",
}


def operation_outcome(body: dict, status: int) -> dict:
    """A caremap error body as a FHIR OperationOutcome: the message, and an issue per field
    named (with the field as its `expression`)."""
    issues = [
        {
            "severity": "error",
            "code": FHIR_ISSUE_TYPES.get(status, "exception" if status >= 500 else "processing"),
            "diagnostics": str(body.get("message") or body.get("error") or "error"),
        }
    ]
    for name, problem in (body.get("fields") or {}).items():
        issues.append(
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": f"{name}: {problem}",
                "expression": [name],
            }
        )
    return {"resourceType": "OperationOutcome", "issue": issues}


class FhirErrors:
    """ASGI middleware: every error the FHIR surface (`/fhir/`) answers is an OperationOutcome,
    wherever it came from (a handler, authentication, a rate limit, a route that is not there),
    as FHIR clients expect; the JSON error caremap's other APIs give is rewritten here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/fhir/"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await self._outcome(start, b"".join(chunks), send)

        await self.app(scope, receive, rewrite)

    @staticmethod
    async def _outcome(start: Message, body: bytes, send: Send) -> None:
        status = start["status"]
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        if parsed.get("resourceType") != "OperationOutcome":
            parsed = operation_outcome(parsed, status)
        payload = json.dumps(parsed).encode()
        headers = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.lower() not in (b"content-type", b"content-length")
        ]
        headers += [
            (b"content-type", b"application/fhir+json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
