"""Builders for test data, going through the same service layer the app uses."""

from typing import Any
from uuid import UUID

import httpx

from caremap.accounts import service as accounts
from caremap.accounts.models import User
from directory import details, service
from directory.actor import SYSTEM, Actor, Role
from directory.geocoding import Geocoder
from directory.models import Location, Organization, Service

PASSWORD = "correct horse battery staple"
_counter = iter(range(1, 1_000_000))


async def organization(kind: str = "provider", name: str | None = None) -> Organization:
    number = next(_counter)
    return await service.create_organization(
        actor=SYSTEM,
        data={
            "name": name or f"Test {kind} {number}",
            "kind": kind,
            "description": "A test organization.",
        },
    )


async def user(organization: Organization, role: Role | str, email: str | None = None) -> User:
    role = Role(role)
    return await accounts.create_user(
        by_system=True,
        email=email or f"{role.value}{next(_counter)}@test.example.org",
        name=f"Test {role.value}",
        password=PASSWORD,
        role=role.value,
        organization_id=organization.id,
    )


def actor(user: User) -> Actor:
    return accounts.actor_for(user)


def service_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Weekly Grocery Pantry",
        "description": "Free groceries every week.",
        "categories": ["food-pantry"],
        "free": True,
        "accepts_referrals": True,
        "languages": ["en", "es"],
    }
    data.update(overrides)
    return data


async def listing(organization: Organization, **overrides: Any) -> Service:
    """A service with one located site in Chicago (60623)."""
    location = await located(organization)
    data = service_data(
        organization_id=str(organization.id), location_ids=[str(location.id)], **overrides
    )
    return await service.create_service(actor=SYSTEM, data=data)


async def located(organization: Organization, **overrides: Any) -> Location:
    data = {
        "name": "Main site",
        "address_1": "3210 W 26th St",
        "city": "Chicago",
        "state_province": "IL",
        "postal_code": "60623",
        "latitude": 41.8445,
        "longitude": -87.7062,
        "organization_id": str(organization.id),
    }
    data.update(overrides)
    return await details.create_location(actor=SYSTEM, data=data, geocoder=Geocoder())


async def login(client: httpx.AsyncClient, user: User, password: str = PASSWORD) -> None:
    """Sign the client in with a session cookie, as a browser would."""
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": password}
    )
    assert response.status_code == 200, response.text


async def token_headers(user: User) -> dict[str, str]:
    _token, secret = await accounts.create_token(actor=actor(user), name="test", signed_in=True)
    return {"Authorization": f"Bearer {secret}"}


def ids(response: httpx.Response) -> list[UUID]:
    return [UUID(item["id"]) for item in response.json()["contents"]]
