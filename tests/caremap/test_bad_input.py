"""Bad input the outside review answered with a 500, each now a 4xx naming the problem at the
layer that owns it: the JSON body, the schemas, the form layer and the chart labels."""

import re

from directory.models import Organization, Service
from tests import factories
from tests.caremap.test_reports import PERIOD, world  # noqa: F401
from tests.conftest import asgi_client


async def test_json_numbers_no_database_can_hold_are_named(app, client):
    organization = await factories.organization()
    partner_admin = await factories.user(organization, "partner_admin")
    await factories.login(client, partner_admin)
    listing = await factories.listing(organization)
    for body in (
        '{"state": "waitlist", "wait_days": ' + "9" * 5000 + "}",
        '{"state": "waitlist", "wait_days": NaN}',
        '{"state": "waitlist", "wait_days": 99999999999999999999999}',
    ):
        response = await client.put(
            f"/api/services/{listing.id}/intake",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert set(response.json()["fields"]) <= {"body", "wait_days"}


async def test_a_list_where_text_is_expected_is_named(app, client):
    organization = await factories.organization()
    await factories.login(client, await factories.user(organization, "partner"))
    listing = await factories.listing(organization)
    intake = await client.put(f"/api/services/{listing.id}/intake", json={"state": ["open"]})
    assert intake.status_code == 422
    assert "state" in intake.json()["fields"]
    waiting = await client.put(
        f"/api/services/{listing.id}/intake", json={"state": "waitlist", "wait_days": "14"}
    )
    assert waiting.status_code == 422
    assert (await Service.get(id=listing.id)).intake_state.value == "open"


async def test_a_users_language_is_a_language_code(app, client):
    school = await factories.organization("school")
    await factories.login(client, await factories.user(school, "admin"))
    for language in ("x" * 300, ["en"], "english"):
        response = await client.post(
            "/api/users",
            json={
                "email": "new@test.example.org",
                "name": "New",
                "password": "a long enough password",
                "role": "specialist",
                "organization_id": str(school.id),
                "language": language,
            },
        )
        assert response.status_code == 422, response.text
        assert "language" in response.json()["fields"]


async def test_a_multipart_post_to_a_page_is_refused_not_a_crash(app, client):
    page = await client.get("/login")  # the form's cookie is now sent with every post
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    for fields in ({"email": "a@b.example", "password": "x"}, {"need": "fo\x00od"}):
        parts = {"csrftoken": (None, token), **{k: (None, v) for k, v in fields.items()}}
        response = await client.post("/login", files=parts)
        assert response.status_code == 415
        assert "x-www-form-urlencoded" in response.json()["message"]


async def test_a_sign_in_with_an_email_longer_than_any_is_refused(app, client):
    refused = await client.post(
        "/api/auth/login", json={"email": "x" * 5000 + "@example.org", "password": "x"}
    )
    assert refused.status_code == 401


async def test_names_that_look_like_chart_markup_are_drawn_as_text(app, world):  # noqa: F811
    for key, name in (("P", "Meals $\\undefinedcmd$"), ("Q", "Pay $\\frac{1}{$ here")):
        await Organization.filter(id=world[key].id).update(name=name)
    async with asgi_client(app) as client:
        await factories.login(client, world["admin"])
        page = await client.get("/reports/needs", params=PERIOD)
    assert page.status_code == 200
    assert "Meals $\\undefinedcmd$" in page.text
