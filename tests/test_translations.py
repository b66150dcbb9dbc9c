"""Every catalog is complete: each message in the code and templates has its translation."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from starlette.requests import Request

from caremap.errors import _page
from caremap.i18n import supported

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


def test_there_are_catalogs():
    assert {p.parts[-3] for p in CATALOGS} == {"es"}
    assert len(CATALOGS) == 2


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
            assert f'<html lang="{language}">' in text
            title = text.split("<h1>", 1)[1].split("</h1>", 1)[0]
            if language == "en":
                english[status] = title
            else:
                assert title != english[status], (language, status, title)
