"""Every catalog write endpoint, for every kind of caller, against listings of organization A.

Allowed calls succeed; refused ones get 401 (anonymous) or 403 (signed in) as JSON and change
nothing. Organization B's partner can never touch A's listings, whatever id it sends.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from directory.models import ListingChange
from tests import factories

CALLERS = [
    "anonymous",
    "specialist",
    "partner_a",
    "partner_b",
    "partner_admin_a",
    "partner_admin_b",
    "admin",
]
LISTING_EDITORS = {"partner_a", "partner_admin_a", "admin"}


@dataclass
class World:
    org_a: Any
    org_b: Any
    service: Any
    location: Any
    phone: dict
    schedule: dict
    area: dict


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: dict | None
    allowed: frozenset[str]


def endpoints() -> list[Endpoint]:
    editors = frozenset(LISTING_EDITORS)
    return [
        Endpoint(
            "create service",
            "POST",
            "/api/services",
            {**factories.service_data(), "organization_id": "{org_a}"},
            editors,
        ),
        Endpoint(
            "update service",
            "PATCH",
            "/api/services/{service}",
            {"name": "X", "version": 1},
            editors,
        ),
        Endpoint("delete service", "DELETE", "/api/services/{service}", {"version": 1}, editors),
        Endpoint("verify service", "POST", "/api/services/{service}/verify", None, editors),
        Endpoint(
            "set intake",
            "PUT",
            "/api/services/{service}/intake",
            {"state": "waitlist", "wait_days": 14},
            editors,
        ),
        Endpoint(
            "add service phone",
            "POST",
            "/api/services/{service}/phones",
            {"number": "773-555-0123"},
            editors,
        ),
        Endpoint(
            "add schedule",
            "POST",
            "/api/services/{service}/schedules",
            {"byday": "MO", "opens_at": "09:00", "closes_at": "10:00"},
            editors,
        ),
        Endpoint(
            "add service area",
            "POST",
            "/api/services/{service}/service_areas",
            {"name": "Z", "extent_type": "postal_code", "extent": "60608"},
            editors,
        ),
        Endpoint(
            "unlink location",
            "DELETE",
            "/api/services/{service}/locations/{location}",
            None,
            editors,
        ),
        Endpoint(
            "create location",
            "POST",
            "/api/locations",
            {"organization_id": "{org_a}", "postal_code": "60608"},
            editors,
        ),
        Endpoint(
            "update location",
            "PATCH",
            "/api/locations/{location}",
            {"name": "Moved", "version": 1},
            editors,
        ),
        Endpoint("delete location", "DELETE", "/api/locations/{location}", {"version": 1}, editors),
        Endpoint(
            "add location phone",
            "POST",
            "/api/locations/{location}/phones",
            {"number": "773-555-0124"},
            editors,
        ),
        Endpoint(
            "update phone", "PATCH", "/api/phones/{phone}", {"type": "text", "version": 1}, editors
        ),
        Endpoint("delete phone", "DELETE", "/api/phones/{phone}", {"version": 1}, editors),
        Endpoint(
            "update schedule",
            "PATCH",
            "/api/schedules/{schedule}",
            {"description": "x", "version": 1},
            editors,
        ),
        Endpoint("delete schedule", "DELETE", "/api/schedules/{schedule}", {"version": 1}, editors),
        Endpoint(
            "update service area",
            "PATCH",
            "/api/service_areas/{area}",
            {"name": "y", "version": 1},
            editors,
        ),
        Endpoint(
            "delete service area", "DELETE", "/api/service_areas/{area}", {"version": 1}, editors
        ),
        Endpoint(
            "update organization",
            "PATCH",
            "/api/organizations/{org_a}",
            {"description": "x", "version": 1},
            frozenset({"partner_admin_a", "admin"}),
        ),
        Endpoint(
            "create organization",
            "POST",
            "/api/organizations",
            {"name": "New agency"},
            frozenset({"admin"}),
        ),
        Endpoint(
            "create user",
            "POST",
            "/api/users",
            {
                "email": "new@test.example.org",
                "name": "New",
                "password": "x" * 16,
                "role": "partner",
                "organization_id": "{org_a}",
            },
            frozenset({"admin"}),
        ),
        Endpoint(
            "create API token",
            "POST",
            "/api/tokens",
            {"name": "CRM"},
            frozenset({"partner_a", "partner_b", "partner_admin_a", "partner_admin_b", "admin"}),
        ),
    ]


async def build_world(client) -> World:
    org_a = await factories.organization()
    org_b = await factories.organization()
    service = await factories.listing(
        org_a,
        phones=[{"number": "773-555-0100"}],
        schedules=[{"byday": "TU", "opens_at": "09:00", "closes_at": "11:00"}],
        service_areas=[{"name": "Z", "extent_type": "postal_code", "extent": "60623"}],
    )
    [link] = service.service_at_locations
    return World(
        org_a,
        org_b,
        service,
        link.location,
        {"id": service.phones[0].id},
        {"id": service.schedules[0].id},
        {"id": service.service_areas[0].id},
    )


async def sign_in(client, world: World, caller: str) -> None:
    if caller == "anonymous":
        return
    school = await factories.organization("school")
    organizations = {
        "specialist": school,
        "partner_a": world.org_a,
        "partner_b": world.org_b,
        "partner_admin_a": world.org_a,
        "partner_admin_b": world.org_b,
        "admin": school,
    }
    role = caller.removesuffix("_a").removesuffix("_b")
    await factories.login(client, await factories.user(organizations[caller], role))


def fill(template: Any, world: World) -> Any:
    names = {
        "org_a": world.org_a.id,
        "service": world.service.id,
        "location": world.location.id,
        "phone": world.phone["id"],
        "schedule": world.schedule["id"],
        "area": world.area["id"],
    }
    if isinstance(template, str):
        return template.format(**{k: str(v) for k, v in names.items()})
    if isinstance(template, dict):
        return {key: fill(value, world) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, world) for value in template]
    return template


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", endpoints(), ids=lambda e: e.name)
async def test_write_access(app, client, endpoint: Endpoint, caller: str):
    world = await build_world(client)
    await sign_in(client, world, caller)
    changes_before = await ListingChange.all().count()
    response = await client.request(
        endpoint.method, fill(endpoint.path, world), json=fill(endpoint.body, world)
    )
    if caller in endpoint.allowed:
        assert response.status_code in (200, 201, 204), response.text
        return
    expected = 401 if caller == "anonymous" else 403
    assert response.status_code == expected, response.text
    assert response.json()["error"] == ("unauthenticated" if expected == 401 else "forbidden")
    assert await ListingChange.all().count() == changes_before


async def test_partner_b_cannot_reach_a_through_its_own_ids(app, client):
    """Moving a part of A's listing, or linking A's location, from B's account is refused."""
    world = await build_world(client)
    b_service = await factories.listing(world.org_b, name="B's pantry")
    await sign_in(client, world, "partner_b")
    attempts = [
        ("PUT", f"/api/services/{b_service.id}/locations/{world.location.id}", None, 422),
        ("PUT", f"/api/services/{world.service.id}/locations/{world.location.id}", None, 403),
        (
            "POST",
            f"/api/services/{b_service.id}/schedules",
            {
                "byday": "MO",
                "opens_at": "09:00",
                "closes_at": "10:00",
                "location_id": str(world.location.id),
            },
            422,
        ),
        (
            "POST",
            "/api/services",
            {**factories.service_data(), "organization_id": str(world.org_a.id)},
            403,
        ),
        (
            "POST",
            "/api/services",
            {**factories.service_data(), "location_ids": [str(world.location.id)]},
            422,
        ),
    ]
    for method, url, body, status in attempts:
        response = await client.request(method, url, json=body)
        assert response.status_code == status, (url, response.text)
    a = (await client.get(f"/api/services/{world.service.id}")).json()
    assert [link["location_id"] for link in a["service_at_locations"]] == [str(world.location.id)]


async def test_public_reads_need_no_account(app, client):
    world = await build_world(client)
    for url in [
        "/api/services",
        f"/api/services/{world.service.id}",
        f"/api/organizations/{world.org_a.id}",
        "/api/organizations",
        f"/api/locations/{world.location.id}",
        "/api/taxonomy",
    ]:
        assert (await client.get(url)).status_code == 200, url
