"""A referral world: a school with a signed-in specialist, an agency with a signed-in partner,
and a service of the agency that takes referrals."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from caremap.accounts.models import User
from caremap.app import create_app
from tests import factories
from tests.conftest import asgi_client

CONSENT = {"given_by": "guardian", "method": "verbal", "given_at": "2026-11-20T15:00:00Z"}
PERSON = {
    "name": "J.R.",
    "age_band": "14-17",
    "preferred_language": "es",
    "contact_method": "phone",
    "contact_value": "(773) 555-0199",
}


@dataclass
class Loop:
    specialist: httpx.AsyncClient
    partner: httpx.AsyncClient
    service: Any
    school: Any
    agency: Any
    specialist_user: User
    partner_user: User


@contextlib.asynccontextmanager
async def mailing_app(settings, smtp_server) -> AsyncIterator[Any]:
    """The app sending mail itself (MAIL_DRAINER=inprocess) to the test's SMTP server: a
    module's `app` fixture when its tests read the emails the app sends."""
    application = create_app(
        replace(settings, mail_drainer="inprocess", smtp_port=smtp_server.port)
    )
    async with LifespanManager(application):
        yield application


@pytest.fixture
def mail(settings, smtp_server):
    """Settings that send mail to the test's SMTP server on loopback."""
    return replace(settings, smtp_port=smtp_server.port)


@pytest.fixture
async def loop(app):
    school = await factories.organization("school")
    agency = await factories.organization()
    service = await factories.listing(agency, accepts_referrals=True)
    specialist_user = await factories.user(school, "specialist")
    partner_user = await factories.user(agency, "partner")
    specialist, partner = asgi_client(app), asgi_client(app)
    await factories.login(specialist, specialist_user)
    await factories.login(partner, partner_user)
    yield Loop(specialist, partner, service, school, agency, specialist_user, partner_user)
    await specialist.aclose()
    await partner.aclose()


def referral_body(loop: Loop, **overrides: Any) -> dict[str, Any]:
    body = {
        "service_id": str(loop.service.id),
        "person": dict(PERSON),
        "needs": ["food-pantry"],
        "urgency": "soon",
        "consent": dict(CONSENT),
    }
    body.update(overrides)
    return body


async def refer(loop: Loop, **overrides: Any) -> dict[str, Any]:
    response = await loop.specialist.post("/api/referrals", json=referral_body(loop, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def move(
    client: httpx.AsyncClient, referral: dict[str, Any], to: str, **extra: Any
) -> httpx.Response:
    current = (await client.get(f"/api/referrals/{referral['id']}")).json()
    return await client.post(
        f"/api/referrals/{referral['id']}/transitions",
        json={"to": to, "version": current.get("version", 1), **extra},
    )
