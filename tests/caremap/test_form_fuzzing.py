"""Fuzzing the pages: every page route, with form posts (urlencoded and multipart) and query
strings made of hostile values, as every kind of caller. No answer may be a 500.

The JSON API is fuzzed from its OpenAPI document (`test_fuzzing.py`); pages have no such
document, so the fields come from the templates' own `name="..."` attributes, and the values
from a list of what broke things before: NUL and control characters, direction overrides,
numbers of thousands of digits, lists where text is expected, very long text, markup and
math markup. The random choices have a fixed seed, so a run is repeatable.
"""

import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from starlette.routing import Route

from referrals import service as referrals
from referrals.followup import make_token
from referrals.models import HelpRequest
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import CONSENT, PERSON

TEMPLATES = Path(__file__).resolve().parents[2] / "caremap" / "templates"
FIELDS = sorted(
    {
        name
        for path in TEMPLATES.glob("*.html")
        for name in re.findall(r'name="([a-z_]+)"', path.read_text())
    }
    - {"csrftoken"}
)
HOSTILE = [
    "",
    " ",
    "food",
    "waitlist",
    "accepted",
    "completed",
    "rejected",
    "service_provided",
    "no_capacity",
    "1",
    "-1",
    "0",
    "14",
    "9" * 5000,
    "1e999",
    "NaN",
    "x" * 20_000,
    "a\x00b",
    "line\r\nBcc: attacker@example.com",
    "\u202eevil\u202c",
    "\ud7ff\uffff",
    "$\\frac{1}{$",
    "<script>alert(1)</script>",
    '=HYPERLINK("x")',
    "2026-02-30",
    "2026-11-20T09:30",
    "00000000-0000-4000-8000-000000000000",
    "not-a-uuid",
    "../../etc/passwd",
    "en",
    "zz-" + "x" * 40,
    "phone",
    "email",
    "family@example.net",
    "(773) 555-0199",
]
REQUESTS_PER_ROUTE = 12
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def page_routes(app) -> list[tuple[str, str]]:
    """Every (method, path template) of a page: not the API, static files or the HSDS API."""
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


async def world() -> dict[str, Any]:
    school = await factories.organization("school")
    agency = await factories.organization()
    listing = await factories.listing(
        agency,
        phones=[{"number": "773-555-0100"}],
        schedules=[{"byday": "TU", "opens_at": "09:00", "closes_at": "11:00"}],
        accepts_referrals=True,
    )
    users = {
        "specialist": await factories.user(school, "specialist"),
        "partner": await factories.user(agency, "partner"),
        "partner_admin": await factories.user(agency, "partner_admin"),
        "admin": await factories.user(school, "admin"),
    }
    referral = await referrals.create_referral(
        actor=factories.actor(users["specialist"]),
        data={
            "service_id": str(listing.id),
            "person": {**PERSON, "contact_method": "email", "contact_value": "f@example.net"},
            "needs": ["food-pantry"],
            "consent": {**CONSENT, "follow_up": True},
        },
    )
    asked = await HelpRequest.create(
        id=uuid4(), school_organization_id=school.id, need="food", message="hi"
    )
    return {
        "users": users,
        "id": [str(listing.id), str(referral.id), str(asked.id), str(uuid4())],
        "token": [make_token("test-secret-key-not-for-production", referral.id), "bogus"],
        "name": ["outcomes", "needs", "nope"],
        "kind": ["phone", "schedule", "service_area", "location", "nope"],
        "action": ["move", "note", "verify", "intake", "nope"],
    }


def fill_path(path: str, things: dict[str, Any], rng: random.Random) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return rng.choice(things.get(name, things["id"]))

    return re.sub(r"\{([^}]+)\}", one, path)


def hostile_fields(rng: random.Random) -> list[tuple[str, str]]:
    """Some of the forms' field names, each once or several times (a list where text is
    expected), with hostile values."""
    fields = []
    for name in rng.sample(FIELDS, rng.randint(1, 12)):
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            fields.append((name, rng.choice(HOSTILE)))
    return fields


@pytest.mark.parametrize("caller", ["anonymous", "specialist", "partner", "partner_admin", "admin"])
async def test_no_page_answers_500_whatever_is_posted(app, caller):
    rng = random.Random(f"caremap-forms-{caller}")
    things = await world()
    failures = []
    async with asgi_client(app) as client:
        if caller != "anonymous":
            await factories.login(client, things["users"][caller])
        login = await client.get("/login")
        csrf = re.search(r'name="csrftoken" value="([^"]+)"', login.text).group(1)
        for method, template in page_routes(app):
            for number in range(REQUESTS_PER_ROUTE):
                path = fill_path(template, things, rng)
                fields = hostile_fields(rng)
                if method == "GET":  # an address holds a few thousand characters at most
                    query = [(name, value[:2000]) for name, value in fields]
                    response = await client.get(path, params=query)
                elif number % 3 == 2:
                    parts = [("csrftoken", csrf), *fields]
                    files = [(name, (None, _bytes(value))) for name, value in parts]
                    response = await client.post(path, files=files)
                else:
                    body = urlencode([("csrftoken", csrf), *fields], errors="surrogatepass")
                    response = await client.post(path, content=body, headers=FORM)
                if response.status_code >= 500:
                    failures.append((method, path, fields, response.status_code))
    assert failures == []
