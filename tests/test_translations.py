"""Every catalog is complete: each message in the code and templates has its translation."""

import functools
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from starlette.requests import Request

from caremap.errors import _page
from caremap.i18n import bcp47, supported, text_direction
from tests import factories
from tests.conftest import asgi_client

ROOT = Path(__file__).resolve().parents[1]
METHODS = [
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.txt", "jinja2"),
    ("**.py", "python"),
]
CATALOGS = sorted(ROOT.glob("*/locales/*/LC_MESSAGES/messages.po"))


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalog_translates_every_message_in_its_package(po):
    package = po.relative_to(ROOT).parts[0]
    with po.open("rb") as handle:
        catalog = read_po(handle)
    used = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(ROOT / package, METHODS)
    }
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id
        and "fuzzy" not in m.flags
        and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    assert sorted(used - translated) == []


def test_every_package_speaks_every_language_of_the_pages():
    """Spanish, Vietnamese, Arabic, Somali and Simplified Chinese, in each package with texts."""
    languages = {"es", "vi", "ar", "so", "zh_Hans"}
    assert set(supported()) == {"en", *languages}
    for package in ("caremap", "referrals", "directory"):
        found = {p.parts[-3] for p in CATALOGS if p.relative_to(ROOT).parts[0] == package}
        assert found == languages, package


ERROR_STATUSES = (400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 500, 503)


async def test_every_error_page_speaks_every_language(app):
    """Each error page a visitor can meet, in each language caremap speaks: its title and words
    come from the catalog, and none is the English one on a page in another language."""
    english: dict[int, str] = {}
    for language in ["en", *sorted(set(supported()) - {"en"})]:
        for status in ERROR_STATUSES:
            scope = {  # a whole request's scope, as the server would give one
                "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
                "server": ("testserver", 80), "client": ("127.0.0.1", 50000), "root_path": "",
                "path": "/", "raw_path": b"/", "query_string": f"lang={language}".encode(),
                "headers": [(b"host", b"testserver"), (b"accept", b"text/html")],
                "app": app, "router": app.router, "state": {},
            }  # fmt: skip
            page = _page(Request(scope), status)
            text = page.body.decode()
            assert page.status_code == status
            html = f'<html lang="{bcp47(language)}" dir="{text_direction(language)}">'
            assert html in text
            title = text.split("<h1>", 1)[1].split("</h1>", 1)[0]
            if language == "en":
                english[status] = title
            else:
                assert title != english[status], (language, status, title)


class _Text(HTMLParser):
    """The text a visitor reads on a page (its title too), without the parts marked as in
    another language (the listings' own words carry `lang="en"`) and without scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        foreign = tag != "html" and any(name == "lang" for name, _ in attrs)
        unseen = ("aria-hidden", "true") in attrs  # the honeypot only bots fill in
        self._skip.append(tag if foreign or unseen or tag in ("script", "style") else "")

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._skip:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if not any(self._skip) and data.strip():
            self.nodes.append(" ".join(data.split()))


VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


def _words_left(node: str, data: set[str]) -> str:
    """What is left of a text node once the data it shows (names, addresses, codes, numbers,
    punctuation) is taken out: words of the page's own, which must be in its language."""
    for value in sorted(data, key=len, reverse=True):
        node = node.replace(value, " ")
    return " ".join(re.findall(r"[^\W\d_]{2,}", node))


async def test_every_page_is_in_the_page_language(app):
    """Every page a family, a specialist, an agency or an admin opens, rendered in English and in
    each other language: a text the two renders share is English left untranslated (or a code
    shown raw), unless it is data the page shows as it is."""
    school = await factories.organization("school", name="Lincoln Middle School")
    agency = await factories.organization(name="Westside Family Services")
    listing = await factories.listing(agency, schedules=[
        {"byday": "MO,TU,WE", "opens_at": "09:00", "closes_at": "17:00"}])  # fmt: skip
    people = {
        role: await factories.user(organization, role)
        for role, organization in (("specialist", school), ("partner", agency), ("admin", agency))
    }
    async with asgi_client(app) as specialist:
        await factories.login(specialist, people["specialist"])
        made = await specialist.post("/api/referrals", json={
            "service_id": str(listing.id), "needs": ["food-pantry"], "urgency": "soon",
            "person": {"name": "M.G.", "age_band": "11-13", "preferred_language": "es",
                       "contact_method": "phone", "contact_value": "(773) 555-0123"},
            "consent": {"given_by": "guardian", "method": "verbal",
                        "given_at": "2026-11-20T09:30:00Z"},
        })  # fmt: skip
        assert made.status_code == 201, made.text
    referral = made.json()["id"]
    pages = {
        None: ["/", "/search?category=food", "/search?q=zzqx", f"/services/{listing.id}",
               "/ask", "/list", "/login", "/no/such/page"],
        "specialist": ["/referrals", f"/referrals/{referral}",
                       f"/referrals/new?service_id={listing.id}", "/help-requests",
                       "/reports/outcomes", "/reports/unmet"],
        "partner": ["/referrals", f"/referrals/{referral}", "/portal",
                    f"/portal/services/{listing.id}", "/portal/problems", "/portal/tokens"],
        "admin": ["/admin/users", f"/admin/users/{people['specialist'].id}",
                  "/admin/organizations", f"/admin/organizations/{agency.id}", "/admin/audit",
                  "/reports/catalog"],
    }  # fmt: skip
    data = {
        "caremap", "ZIP", "JSON", "CSV", "API", "FHIR", "Bearer", "Authorization", "token",
        "mi", "M.G.", school.name, agency.name, listing.name, "Main site", "3210 W 26th St",
        "Chicago", "IL", "A test organization.", made.json()["reference"],
        *(person.email for person in people.values()),
        *(person.name for person in people.values()),
    }  # fmt: skip
    for who, paths in pages.items():
        async with asgi_client(app) as client:
            client.headers["accept"] = "text/html"  # as a browser asks
            if who:
                await factories.login(client, people[who])
            for path in paths:
                joiner = "&" if "?" in path else "?"  # (httpx's params would replace the query)
                english = await client.get(f"{path}{joiner}lang=en")
                assert english.status_code in (200, 404), (path, english.status_code)
                seen = {_words_left(n, data) for n in _text_nodes(english.text)} - {""}
                for language in sorted(set(supported()) - {"en"}):
                    page = await client.get(f"{path}{joiner}lang={language}")
                    left = {_words_left(n, data) for n in _text_nodes(page.text)} & seen
                    same = {_words_left(text, data) for text in _same_in(language)}
                    assert left - same == set(), (who, path, language, sorted(left - same))


@functools.cache
def _same_in(language: str) -> frozenset[str]:
    """Texts whose translation is the English itself ("Legal" in Spanish)."""
    same = set()
    for po in CATALOGS:
        if po.parts[-3] == language:
            with po.open("rb") as handle:
                same |= {m.id for m in read_po(handle) if m.id and m.string == m.id}
    return frozenset(same)


def _text_nodes(page: str) -> list[str]:
    parser = _Text()
    parser.feed(page)
    return parser.nodes
