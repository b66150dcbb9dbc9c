"""Organization B's partner can never touch A's listings, whatever ids it sends: its own
listing with A's location, A's listing with its own account. (Every route for every kind of
caller is `test_route_matrix.py`.)"""

from dataclasses import dataclass
from typing import Any

from tests import factories


@dataclass
class World:
    org_a: Any
    org_b: Any
    service: Any
    location: Any
    phone: dict
    schedule: dict
    area: dict


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
