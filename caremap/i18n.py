"""The language of a page: chosen by the visitor, else their browser, else English.

`?lang=es` on any page switches and is remembered in a cookie; otherwise Accept-Language is
negotiated against the catalogs in `caremap/locales` (Babel). Templates get `_`/`gettext`/
`ngettext` for that language through the context processor, so `{% trans %}` and `_()` work.
"""

import gettext
from pathlib import Path
from typing import Any

from babel import Locale
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directory.i18n import catalog, languages
from referrals.messages import label_helpers

LOCALES = Path(__file__).parent / "locales"
COOKIE = "caremap_lang"


def supported() -> tuple[str, ...]:
    return languages(LOCALES)


def language_of(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(COOKIE)
    if chosen in supported():
        return chosen
    wanted = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag:
            wanted.append((weight, tag.split("-")[0].lower()))
    for _weight, tag in sorted(wanted, key=lambda w: -w[0]):
        if tag in supported():
            return tag
    return "en"


def page_words(request: Request) -> gettext.NullTranslations:
    """The caremap catalog in the request's language: for words a handler writes itself (a
    note, an email) as the pages would."""
    return catalog(LOCALES, language_of(request))


def template_context(request: Request) -> dict[str, Any]:
    """Every page's language helpers (a Jinja2Templates context processor)."""
    language = language_of(request)
    translations = catalog(LOCALES, language)
    return {
        "lang": language,
        "languages": [(code, Locale.parse(code).get_display_name(code)) for code in supported()],
        "_": translations.gettext,
        "gettext": translations.gettext,
        "ngettext": translations.ngettext,
        **label_helpers(language),
    }


class RememberLanguage:
    """ASGI middleware: a page asked for with `?lang=xx` sets the language cookie for a year."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = QueryParams(scope.get("query_string", b"").decode("latin-1")).get("lang")
        if chosen not in supported():
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append(
                    "set-cookie",
                    f"{COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Lax",
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)
