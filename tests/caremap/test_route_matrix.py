"""The authorization matrix, generated from the route table: every JSON route for every kind
of caller, against a world of two schools and two agencies.

Each route needs an entry in `RULES` (a new route without one fails here), saying who may call
it; everyone else gets 401 (anonymous) or 403 and changes nothing. Callers outside school A and
agency A never see A's referral or problem report in what they may read. Ids are random UUIDs,
so a guessed or next id finds nothing.
"""

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from caremap import db, openapi
from caremap.accounts import service as accounts
from caremap.accounts.models import ApiToken, User
from caremap.app import create_app
from caremap.auth import SESSION_COOKIE, SessionCookies
from caremap.reports import REPORTS
from caremap.settings import Settings
from directory import problems
from directory.models import ListingChange, Organization, ProblemReport
from referrals import fhir
from referrals import service as referrals
from referrals.models import ReferralEvent
from tests import factories
from tests.conftest import (
    ON_POSTGRES,
    TEST_DATABASE,
    _admin,
    _with_database,
    base_settings,
    copy_of,
)
from tests.factories import PASSWORD
from tests.referrals.conftest import CONSENT, PERSON

CALLERS = (
    "anonymous",
    "specialist_a",
    "specialist_b",
    "partner_a",
    "partner_b",
    "partner_admin_a",
    "admin",
)
EVERYONE = frozenset(CALLERS)
SIGNED_IN = EVERYONE - {"anonymous"}
EDITORS_A = frozenset({"partner_a", "partner_admin_a", "admin"})
RECEIVER_A = EDITORS_A  # the agency side of A's referral, and admins
REFERRER_A = frozenset({"specialist_a", "admin"})
PARTIES_A = REFERRER_A | RECEIVER_A
ADMIN = frozenset({"admin"})
TOKEN_ROLES = frozenset({"partner_a", "partner_b", "partner_admin_a", "admin"})
SEES_A = PARTIES_A  # who may see A's referral and problem report in a list


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    body: Any = None
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> world object
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _v(body: dict | None = None) -> dict:
    return {**(body or {}), "version": 1}


PART_IDS = {"phones": "phone", "schedules": "schedule", "service_areas": "area"}
RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/api/openapi.json"): Rule(EVERYONE),
    ("GET", "/api/services"): Rule(EVERYONE),
    ("POST", "/api/services"): Rule(
        EDITORS_A, {**factories.service_data(name="New"), "organization_id": "{org_a}"}
    ),
    ("GET", "/api/services/{id}"): Rule(EVERYONE, ids={"id": "service"}),
    ("PATCH", "/api/services/{id}"): Rule(EDITORS_A, _v({"name": "X"}), {"id": "service"}),
    ("DELETE", "/api/services/{id}"): Rule(EDITORS_A, _v(), {"id": "spare_service"}),
    ("GET", "/api/services/{id}/history"): Rule(EDITORS_A, ids={"id": "service"}),
    ("POST", "/api/services/{id}/verify"): Rule(EDITORS_A, ids={"id": "service"}),
    ("PUT", "/api/services/{id}/intake"): Rule(
        EDITORS_A, {"state": "waitlist", "wait_days": 14}, {"id": "service"}
    ),
    ("POST", "/api/services/{id}/problems"): Rule(
        EVERYONE, {"kind": "wrong_phone"}, {"id": "service"}
    ),
    ("POST", "/api/services/{id}/phones"): Rule(
        EDITORS_A, {"number": "773-555-0123"}, {"id": "service"}
    ),
    ("POST", "/api/services/{id}/schedules"): Rule(
        EDITORS_A, {"byday": "MO", "opens_at": "09:00", "closes_at": "10:00"}, {"id": "service"}
    ),
    ("POST", "/api/services/{id}/service_areas"): Rule(
        EDITORS_A,
        {"name": "Z", "extent_type": "postal_code", "extent": "60608"},
        {"id": "service"},
    ),
    ("PUT", "/api/services/{id}/locations/{location_id}"): Rule(
        EDITORS_A, None, {"id": "service", "location_id": "spare_location"}
    ),
    ("DELETE", "/api/services/{id}/locations/{location_id}"): Rule(
        EDITORS_A, None, {"id": "service", "location_id": "location"}
    ),
    ("GET", "/api/problems"): Rule(
        frozenset({"partner_a", "partner_b", "partner_admin_a", "admin"})
    ),
    ("POST", "/api/problems/{id}/resolve"): Rule(
        EDITORS_A, {"resolution": "Fixed."}, {"id": "problem"}
    ),
    ("POST", "/api/locations"): Rule(
        EDITORS_A, {"organization_id": "{org_a}", "postal_code": "60608"}
    ),
    ("GET", "/api/locations/{id}"): Rule(EVERYONE, ids={"id": "location"}),
    ("PATCH", "/api/locations/{id}"): Rule(EDITORS_A, _v({"name": "Moved"}), {"id": "location"}),
    ("DELETE", "/api/locations/{id}"): Rule(EDITORS_A, _v(), {"id": "spare_location"}),
    ("POST", "/api/locations/{id}/phones"): Rule(
        EDITORS_A, {"number": "773-555-0124"}, {"id": "location"}
    ),
    **{
        ("PATCH", f"/api/{path}/{{id}}"): Rule(EDITORS_A, _v({"description": "x"}), {"id": part})
        for path, part in PART_IDS.items()
    },
    **{
        ("DELETE", f"/api/{path}/{{id}}"): Rule(EDITORS_A, _v(), {"id": part})
        for path, part in PART_IDS.items()
    },
    ("GET", "/api/organizations"): Rule(EVERYONE),
    ("POST", "/api/organizations"): Rule(ADMIN, {"name": "New agency"}),
    ("GET", "/api/organizations/{id}"): Rule(EVERYONE, ids={"id": "org_a"}),
    ("PATCH", "/api/organizations/{id}"): Rule(
        frozenset({"partner_admin_a", "admin"}), _v({"description": "x"}), {"id": "org_a"}
    ),
    ("GET", "/api/taxonomy"): Rule(EVERYONE),
    ("GET", "/api/search"): Rule(EVERYONE, query={"q": "pantry"}),
    ("POST", "/api/referrals"): Rule(
        frozenset({"specialist_a", "specialist_b"}),
        {
            "service_id": "{service}",
            "person": PERSON,
            "needs": ["food-pantry"],
            "consent": CONSENT,
        },
    ),
    ("GET", "/api/referrals"): Rule(SIGNED_IN),
    ("GET", "/api/referrals/{id}"): Rule(PARTIES_A, ids={"id": "referral"}),
    ("POST", "/api/referrals/{id}/transitions"): Rule(
        RECEIVER_A, {"to": "accepted", "version": 1}, {"id": "referral"}
    ),
    ("POST", "/api/referrals/{id}/notes"): Rule(
        PARTIES_A, {"note": "Called, left a message."}, {"id": "referral"}
    ),
    ("POST", "/api/referrals/{id}/consent/withdraw"): Rule(REFERRER_A, ids={"id": "referral"}),
    ("GET", "/api/referrals/{id}/fhir"): Rule(PARTIES_A, ids={"id": "referral"}),
    ("GET", "/api/audit"): Rule(ADMIN),
    # Every signed-in caller reads reports, each over their own organization (tested in
    # test_reports); nobody signed out does.
    **{("GET", f"/api/reports/{name}"): Rule(SIGNED_IN) for name in REPORTS},
    ("POST", "/api/auth/login"): Rule(EVERYONE, {"email": "{login_email}", "password": PASSWORD}),
    ("POST", "/api/auth/logout"): Rule(EVERYONE),
    ("GET", "/api/auth/me"): Rule(SIGNED_IN),
    ("POST", "/api/users"): Rule(
        ADMIN,
        {
            "email": "new@test.example.org",
            "name": "New",
            "password": "x" * 16,
            "role": "partner",
            "organization_id": "{org_a}",
        },
    ),
    ("PATCH", "/api/users/{id}"): Rule(ADMIN, {"role": "partner_admin"}, {"id": "user_b"}),
    ("GET", "/api/tokens"): Rule(TOKEN_ROLES),
    ("POST", "/api/tokens"): Rule(
        frozenset({"partner_a", "partner_b", "partner_admin_a", "admin"}), {"name": "CRM"}
    ),
    ("DELETE", "/api/tokens/{id}"): Rule(frozenset({"partner_a", "admin"}), ids={"id": "token_a"}),
    # FHIR: the same rules as the JSON API's referral routes
    ("GET", "/fhir/metadata"): Rule(EVERYONE),
    ("GET", "/fhir/Task"): Rule(SIGNED_IN),
    **{
        ("GET", f"/fhir/{kind}/{{id}}"): Rule(PARTIES_A, ids={"id": "referral"})
        for kind in ("Task", "ServiceRequest", "Patient", "Consent")
    },
    ("GET", "/fhir/Organization/{id}"): Rule(EVERYONE, ids={"id": "org_a"}),
    ("PATCH", "/fhir/Task/{id}"): Rule(
        RECEIVER_A,
        [{"op": "replace", "path": "/status", "value": "accepted"}],
        {"id": "referral"},
        headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'},
    ),
    ("PUT", "/fhir/Task/{id}"): Rule(
        RECEIVER_A, "{task_accepted}", {"id": "referral"}, headers={"If-Match": 'W/"1"'}
    ),
}

# Routes again, where what a caller may do depends on the record's state or on the fields
# sent, not only on who they are: each is a case of its own.
STATES: dict[str, tuple[str, str, Rule]] = {
    "a draft is the school's alone": (
        "GET", "/api/referrals/{id}", Rule(REFERRER_A, ids={"id": "draft"})
    ),
    "a draft's FHIR export too": (
        "GET", "/api/referrals/{id}/fhir", Rule(REFERRER_A, ids={"id": "draft"})
    ),
    "notes on a draft": (
        "POST", "/api/referrals/{id}/notes", Rule(REFERRER_A, {"note": "x"}, {"id": "draft"})
    ),
    "notes after consent is withdrawn": (
        "POST",
        "/api/referrals/{id}/notes",
        Rule(REFERRER_A, {"note": "x"}, {"id": "withdrawn"}),
    ),
    "an organization's kind": (
        "PATCH", "/api/organizations/{id}", Rule(ADMIN, _v({"kind": "school"}), {"id": "org_a"})
    ),
}  # fmt: skip

ROUTES = [
    (method, path)
    for method, path, _ in openapi.json_routes(
        create_app(Settings(database_url="sqlite://:memory:")).routes
    )
]
CASES = [(f"{m} {p}", m, p, RULES[(m, p)]) for m, p in ROUTES if (m, p) in RULES] + [
    (f"{m} {p}: {label}", m, p, rule) for label, (m, p, rule) in STATES.items()
]


def test_every_route_has_a_rule_and_every_rule_a_route():
    assert sorted(set(ROUTES) - set(RULES)) == []
    assert sorted(set(RULES) - set(ROUTES)) == []


async def build_world() -> dict[str, Any]:
    org_a, org_b = await factories.organization(), await factories.organization()
    school_a = await factories.organization("school")
    school_b = await factories.organization("school")
    service = await factories.listing(
        org_a,
        phones=[{"number": "773-555-0100"}],
        schedules=[{"byday": "TU", "opens_at": "09:00", "closes_at": "11:00"}],
        service_areas=[{"name": "Z", "extent_type": "postal_code", "extent": "60623"}],
        accepts_referrals=True,
    )
    spare = await factories.listing(org_a, name="Spare listing")
    spare_location = await factories.located(org_a, name="Second site")
    users = {
        "specialist_a": await factories.user(school_a, "specialist"),
        "specialist_b": await factories.user(school_b, "specialist"),
        "partner_a": await factories.user(org_a, "partner"),
        "partner_b": await factories.user(org_b, "partner"),
        "partner_admin_a": await factories.user(org_a, "partner_admin"),
        "admin": await factories.user(school_a, "admin"),
    }
    referral = await referrals.create_referral(
        actor=factories.actor(users["specialist_a"]),
        data={
            "service_id": str(service.id),
            "person": PERSON,
            "needs": ["food-pantry"],
            "consent": CONSENT,
        },
    )
    token, _secret = await accounts.create_token(
        actor=factories.actor(users["partner_a"]), name="t", signed_in=True
    )
    draft = await referrals.create_referral(
        actor=factories.actor(users["specialist_a"]),
        data={"service_id": str(service.id), "person": PERSON, "needs": ["food-pantry"],
              "draft": True},
    )  # fmt: skip
    withdrawn = await referrals.create_referral(
        actor=factories.actor(users["specialist_a"]),
        data={"service_id": str(service.id), "person": PERSON, "needs": ["food-pantry"],
              "consent": CONSENT},
    )  # fmt: skip
    await referrals.withdraw_consent(
        actor=factories.actor(users["specialist_a"]), referral_id=withdrawn.id
    )
    report = await problems.report_problem(service_id=service.id, data={"kind": "moved"})
    await referral.fetch_related("service__categories")
    task = fhir.task(referral, frozenset(), fhir.systems_under(Settings().fhir_system_base))
    [link] = service.service_at_locations
    login_target = await factories.user(org_b, "partner")
    return {
        "sessions": {
            caller: await accounts.start_session(user=user, max_hours=12)
            for caller, user in users.items()
        },
        "org_a": str(org_a.id),
        "service": str(service.id),
        "spare_service": str(spare.id),
        "location": str(link.location_id),
        "spare_location": str(spare_location.id),
        "phone": str(service.phones[0].id),
        "schedule": str(service.schedules[0].id),
        "area": str(service.service_areas[0].id),
        "referral": str(referral.id),
        "draft": str(draft.id),
        "withdrawn": str(withdrawn.id),
        "user_b": str(users["partner_b"].id),
        "problem": str(report.id),
        "token_a": str(token.id),
        "login_email": login_target.email,
        "task_accepted": {**task, "status": "accepted"},
    }


@pytest.fixture(scope="module")
def world_database(template_database, tmp_path_factory) -> Iterator[tuple[str, dict[str, Any]]]:
    """The world, built once into a database that each test of this module gets a copy of
    (the per-test copy of the migrated template, one level up), so a test pays for one request,
    not for creating seven users."""
    if ON_POSTGRES:
        name = f"caremap_matrix_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
        url, source = _with_database(TEST_DATABASE, name), name
    else:
        path = tmp_path_factory.mktemp("matrix") / "world.sqlite3"
        shutil.copyfile(template_database, path)
        url, source = f"sqlite://{path}", str(path)

    async def build() -> dict[str, Any]:
        await db.connect(base_settings(Path(tmp_path_factory.mktemp("build")), url))
        try:
            return await build_world()
        finally:
            await db.disconnect()

    world = asyncio.run(build())
    yield source, world
    if ON_POSTGRES:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)'))


@pytest.fixture
def world(world_database) -> dict[str, Any]:
    return world_database[1]


@pytest_asyncio.fixture
async def database_url(world_database, tmp_path) -> AsyncIterator[str]:
    """Each test's own copy of the world (overrides the plain copy of the template)."""
    async with copy_of(world_database[0], tmp_path) as url:
        yield url


def sign_in(client, settings, world: dict[str, Any], caller: str) -> None:
    if caller != "anonymous":
        cookie = SessionCookies(settings).dump(world["sessions"][caller])
        client.cookies.set(SESSION_COOKIE, cookie)


def fill(template: Any, world: dict[str, Any]) -> Any:
    whole = world.get(template.strip("{}")) if isinstance(template, str) else None
    if isinstance(whole, dict):
        return whole  # a whole body from the world (a FHIR Task)
    if isinstance(template, str):
        names = {k: str(v) for k, v in world.items() if k != "sessions"}
        return template.format(**names) if "{" in template else template
    if isinstance(template, dict):
        return {key: fill(value, world) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, world) for value in template]
    return template


async def _footprint() -> tuple[Any, ...]:
    return (
        await ListingChange.all().count(),
        await ReferralEvent.all().count(),
        await ProblemReport.filter(resolved_at__isnull=False).count(),
        sorted(await Organization.all().values_list("id", "kind", "version")),
        sorted(await User.all().values_list("id", "role", "organization_id", "is_active")),
        await ApiToken.filter(revoked_at__isnull=True).count(),
    )


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_route_access(
    app, client, settings, world, method: str, path: str, rule: Rule, caller: str
):
    sign_in(client, settings, world, caller)
    url = path
    for name, key in rule.ids.items():
        url = url.replace(f"{{{name}}}", str(world[key]))
    before = await _footprint()
    response = await client.request(
        method,
        url,
        params=rule.query,
        json=fill(rule.body, world) if rule.body else None,
        headers=rule.headers,
    )
    if caller in rule.allowed:
        assert response.status_code < 300, response.text
        if caller not in SEES_A and method == "GET":
            for secret in ("referral", "problem"):
                assert str(world[secret]) not in response.text, f"{caller} saw A's {secret}"
        if caller not in REFERRER_A and method == "GET":
            assert str(world["draft"]) not in response.text, f"{caller} saw A's draft"
        return
    expected = 401 if caller == "anonymous" else 403
    assert response.status_code == expected, response.text
    assert await _footprint() == before  # a refused call changes nothing


@pytest.mark.parametrize("caller", sorted(SIGNED_IN))
async def test_guessed_and_neighbouring_ids_find_nothing(app, client, settings, world, caller):
    sign_in(client, settings, world, caller)
    referral = uuid.UUID(str(world["referral"]))
    assert referral.version == 4  # random, so the next one is no guess
    for guess in (uuid.UUID(int=referral.int + 1), uuid.uuid4()):
        response = await client.get(f"/api/referrals/{guess}")
        assert response.status_code == 404, response.text
    assert (await client.get("/api/referrals/1")).status_code == 404
