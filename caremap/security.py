"""Browser-facing protections: security headers on every response and CSRF tokens on forms.

CSRF uses `asgi-csrf` (double-submit cookie, signed with the app's secret): every form POST
must carry the `csrftoken` field that the page put there. The JSON API takes JSON bodies only
(415 otherwise) and SameSite session cookies, which no cross-site form can meet; on top of that,
`SameOrigin` refuses any write (API or page) that a browser says comes from another site, so a
signed-in browser cannot be made to write from elsewhere even if one of those rules changes.
"""

from typing import Any
from urllib.parse import urlsplit

from asgi_csrf import asgi_csrf
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caremap.auth import SESSION_COOKIE
from caremap.settings import Settings

# The machine-facing paths: JSON only, CSRF-safe by `SameOrigin` rather than form tokens.
API_PREFIXES = ("/api/", "/hsds/", "/fhir/")
CROSS_SITE_PAGE = (
    b"<!doctype html><html lang='en'><meta charset='utf-8'><title>Refused</title>"
    b"<h1>This form was sent from another site</h1><p>Open caremap itself and send the form "
    b"from there.</p>"
)
CSRF_FAILED_PAGE = (
    b"<!doctype html><html lang='en'><meta charset='utf-8'><title>Form expired</title>"
    b"<h1>This form has expired</h1><p>Go back, reload the page and send the form again.</p>"
)


def content_security_policy(settings: Settings) -> str:
    tiles = urlsplit(settings.map_tiles_url.replace("{s}", "a"))
    tile_origin = f"{tiles.scheme}://{tiles.netloc}" if tiles.netloc else ""
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src 'self' data: {tile_origin}".strip(),
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware: the same protective headers on every response (pages and API)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.headers = {
            "content-security-policy": content_security_policy(settings),
            "x-content-type-options": "nosniff",
            "referrer-policy": "strict-origin-when-cross-origin",
            "x-frame-options": "DENY",
            "permissions-policy": "geolocation=(self), camera=(), microphone=()",
        }
        if settings.https:
            self.headers["strict-transport-security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:  # a page may set its own (no-referrer, say)
                        headers[name] = value
                if _personal(scope) and "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _personal(scope: Scope) -> bool:
    """Whether an answer may carry personal details, so no browser or proxy may keep a copy:
    anything answered to a request with credentials (a session cookie or an API token), and
    every answer to a write (a family's request for help, the follow-up answer, a sign-in)."""
    if scope["method"] not in ("GET", "HEAD"):
        return True
    headers = Headers(scope=scope)
    return "authorization" in headers or SESSION_COOKIE in headers.get("cookie", "")


async def _csrf_failed(scope: Scope, send: Send, message_id: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/html; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": CSRF_FAILED_PAGE})


def csrf_protection(app: ASGIApp, settings: Settings) -> ASGIApp:
    """Form tokens for the pages. The API paths bypass asgi-csrf altogether: they have no forms
    and no token to check, and asgi-csrf would sign a fresh token for each of their requests."""
    pages = asgi_csrf(
        app,
        signing_secret=str(settings.secret_key),
        cookie_secure=settings.https,
        send_csrf_failed=_csrf_failed,
    )

    async def by_path(scope: Scope, receive: Receive, send: Send) -> None:
        api = scope["type"] == "http" and scope["path"].startswith(API_PREFIXES)
        await (app if api else pages)(scope, receive, send)

    return by_path


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SameOrigin:
    """Refuse a browser's cross-site write, to the API or to a page, with a 403.

    It applies to every unsafe request that carries no `Authorization` header, which is to say
    those a browser's cookies could authenticate, or that could sign a browser in: a forged
    sign-in form carries no cookie at all, so the form token (which asgi-csrf checks only
    when cookies are sent) cannot stop it. Browsers say where a request comes from
    (`Sec-Fetch-Site`, and `Origin` on every POST); when they say another site, the write is
    refused before any handler runs. Programs that send neither header (scripts, curl) are not
    browsers and cannot be tricked into a cross-site write.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        base = urlsplit(settings.base_url)
        self.origin = f"{base.scheme}://{base.netloc}".lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._cross_site(scope):
            if not scope["path"].startswith(API_PREFIXES):
                page = Response(CROSS_SITE_PAGE, status_code=403, media_type="text/html")
                await page(scope, receive, send)
                return
            await _refuse(
                scope,
                receive,
                send,
                403,
                "Cross-site requests may not write to the API; sign in on this site or use "
                "an API token.",
                error="cross_site",
            )
            return
        await self.app(scope, receive, send)

    def _cross_site(self, scope: Scope) -> bool:
        if scope["method"] not in UNSAFE_METHODS:
            return False
        headers = Headers(scope=scope)
        if "authorization" in headers:
            return False
        fetched_from = headers.get("sec-fetch-site", "").lower()
        if fetched_from in ("cross-site", "same-site"):
            return True
        if fetched_from in ("same-origin", "none"):
            # The browser says where the form came from; its Origin may be "null" (a page
            # whose referrer policy sends nothing), which is not another site.
            return False
        origin = headers.get("origin", "").lower()
        if not origin:
            return False
        own = {self.origin, f"{scope.get('scheme', 'http')}://{headers.get('host', '').lower()}"}
        return origin not in own


def local_path(value: object, default: str) -> str:
    """Where a form or a link says to go next, if it is a path on this site; `default`
    otherwise (never an absolute URL or a `//host` an attacker chose)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return default
    return default if urlsplit(value).netloc else value


# For a page whose address holds a secret (a family's follow-up link, a password link): no
# copy kept, and the address never sent to another site. "same-origin" rather than
# "no-referrer", so the page's own form still carries its Origin to the same-site check.
SECRET_ADDRESS_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


class FormBodies:
    """The form layer's rules for what reaches a handler, in one place for every route:

    - no NUL character in a query string or a form body (400): PostgreSQL cannot store NUL in
      text, so one would fail deep inside a query as a 500. JSON bodies are checked where they
      are read (`directory.http.read_json`, naming the field);
    - pages take their forms as `application/x-www-form-urlencoded`, the way caremap's own
      forms send them; a multipart body (caremap has no file uploads) is refused with 415
      before the CSRF layer, which cannot parse one;
    - a form body is at most 1 MB (413).
    """

    MAX_FORM_BYTES = 1024 * 1024

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
            await _refuse(scope, receive, send, 400, "The address contains a NUL character.")
            return
        headers = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type", b"").lower()
        if content_type.startswith(b"multipart/") and not scope["path"].startswith(API_PREFIXES):
            await _refuse(
                scope,
                receive,
                send,
                415,
                "Send forms as application/x-www-form-urlencoded.",
                error="unsupported_media_type",
            )
            return
        if not content_type.startswith(b"application/x-www-form-urlencoded"):
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            chunks.append(message)
            size += len(message.get("body", b""))
            if size > self.MAX_FORM_BYTES:
                await _refuse(scope, receive, send, 413, "The form is too large.")
                return
            if not message.get("more_body"):
                break
        body = b"".join(message.get("body", b"") for message in chunks)
        if b"%00" in body or b"\x00" in body:
            await _refuse(scope, receive, send, 400, "The form contains a NUL character.")
            return

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    error: str = "bad_request",
) -> None:
    response = JSONResponse({"error": error, "message": message}, status_code=status)
    await response(scope, receive, send)
