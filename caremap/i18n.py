"""The language of a page: chosen by the visitor, else their browser, else English.

`?lang=es` on any page switches and is remembered in a cookie; otherwise Accept-Language is
negotiated against the catalogs in `caremap/locales` (Babel). Templates get `_`/`gettext`/
`ngettext` for that language through the context processor, so `{% trans %}` and `_()` work.
"""

import functools
import gettext
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from markupsafe import Markup
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directory.i18n import best_language, catalog, languages
from referrals.messages import label_helpers

LOCALES = Path(__file__).parent / "locales"
COOKIE = "caremap_lang"


def supported() -> tuple[str, ...]:
    return languages(LOCALES)


def language_of(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(COOKIE)
    if chosen and (known := best_language(chosen, supported())):
        return known
    wanted = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag:
            wanted.append((weight, tag))
    for _weight, tag in sorted(wanted, key=lambda w: -w[0]):
        if known := best_language(tag, supported()):
            return known
    return "en"


@functools.cache  # every page names every language; Babel's locale data is slow to read
def language_menu_name(code: str) -> str:
    """A language named in itself, capitalised as a menu item ("Español", "中文 (简体)")."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def bcp47(code: str) -> str:
    """A catalog code as HTML's lang attribute wants it: zh_Hans is zh-Hans."""
    return code.replace("_", "-")


@functools.cache
def text_direction(code: str) -> str:
    """ "rtl" for a language written right to left (Arabic), else "ltr" (from Babel's data)."""
    try:
        return Locale.parse(code).text_direction
    except (UnknownLocaleError, ValueError):
        return "ltr"


def page_words(request: Request) -> gettext.NullTranslations:
    """The caremap catalog in the request's language: for words a handler writes itself (a
    note, an email) as the pages would."""
    return catalog(LOCALES, language_of(request))


def template_context(request: Request) -> dict[str, Any]:
    """Every page's language helpers (a Jinja2Templates context processor)."""
    language = language_of(request)
    translations = catalog(LOCALES, language)
    data_language = request.app.state.settings.catalog_language
    return {
        "lang": language,
        # Listing text is in the catalog's language: marked so on pages in another language,
        # and set in its own direction (English in an Arabic page reads left to right).
        "listing_lang": Markup(' lang="{}" dir="auto"').format(bcp47(data_language))
        if best_language(data_language, (language,)) is None
        else "",
        "languages": [(code, language_menu_name(code)) for code in supported()],
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
        asked = QueryParams(scope.get("query_string", b"").decode("latin-1")).get("lang")
        chosen = best_language(asked, supported())
        if chosen is None:
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
