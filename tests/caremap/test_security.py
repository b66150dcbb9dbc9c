"""Security headers on every response; forms refuse a POST without their CSRF token, and the
API refuses a browser's cross-site write."""

import re
from dataclasses import replace

from caremap.accounts.models import UserSession
from caremap.security import content_security_policy
from directory.models import Service
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import CONSENT, PERSON


async def test_every_response_has_the_security_headers(app, client):
    for path in ("/", "/search?q=food", "/api/services", "/no/such/page"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
    assert "strict-transport-security" not in response.headers  # plain http in tests


def test_the_map_tiles_host_is_allowed_and_nothing_else(settings):
    policy = content_security_policy(
        replace(settings, map_tiles_url="https://tiles.example.org/{z}/{x}/{y}.png")
    )
    assert "img-src 'self' data: https://tiles.example.org;" in policy


async def test_a_form_post_needs_the_token_from_its_page(app, client):
    await client.get("/")  # the browser now holds cookies (language, CSRF)
    client.cookies.set("caremap_lang", "en")
    refused = await client.post("/help/some-token", data={"answer": "yes"})
    assert refused.status_code == 403
    assert "expired" in refused.text


async def test_a_signed_in_browser_cannot_be_made_to_write_to_the_api_from_another_site(
    app, client
):
    """CSRF on cookie-authenticated API writes: the browser's own origin headers decide."""
    partner_org = await factories.organization()
    partner = await factories.user(partner_org, "partner")
    listing = await factories.listing(partner_org)
    await factories.login(client, partner)
    rename = {"name": "Renamed from elsewhere", "version": listing.version}
    for headers in (
        {"Origin": "https://attacker.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver"},
    ):
        refused = await client.patch(f"/api/services/{listing.id}", json=rename, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"] == "cross_site"
    assert (await Service.get(id=listing.id)).name == listing.name  # nothing was written

    same_site = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    allowed = await client.patch(f"/api/services/{listing.id}", json=rename, headers=same_site)
    assert allowed.status_code == 200, allowed.text
    # Reads are not writes, and a bearer token is not ambient, so neither is refused.
    assert (
        await client.get("/api/services", headers={"Origin": "https://attacker.example"})
    ).status_code == 200
    client.cookies.clear()
    token = await factories.token_headers(partner)
    with_token = await client.post(
        f"/api/services/{listing.id}/verify",
        headers={**token, "Origin": "https://dashboard.example"},
    )
    assert with_token.status_code == 200, with_token.text


async def test_a_sign_in_from_another_site_is_refused(app, client):
    """Login CSRF: another site cannot sign a visitor's browser into an account of its own."""
    organization = await factories.organization()
    user = await factories.user(organization, "partner")
    refused = await client.post(
        "/api/auth/login",
        json={"email": user.email, "password": factories.PASSWORD},
        headers={"Origin": "https://attacker.example"},
    )
    assert refused.status_code == 403
    assert "caremap_session" not in refused.cookies


async def test_every_cross_site_form_post_is_refused_sign_in_included(app, client):
    """A forged sign-in form carries no cookie, so the form token is not checked: the browser's
    own word on where the post comes from refuses it, for every page as for the API."""
    organization = await factories.organization()
    user = await factories.user(organization, "partner")
    form = {"email": user.email, "password": factories.PASSWORD, "next": "/referrals"}
    for headers in (
        {"Origin": "https://attacker.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},  # without the browser's word on where it came from, refused
    ):
        refused = await client.post("/login", data=form, headers=headers)
        assert refused.status_code == 403
        assert "caremap_session" not in refused.cookies
        assert "another site" in refused.text
        asked = await client.post("/ask", data={"need": "food"}, headers=headers)
        assert asked.status_code == 403
    assert await UserSession.filter(user_id=user.id).count() == 0
    # The same form from caremap's own page signs in.
    page = await client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    own = await client.post(
        "/login",
        data={**form, "csrftoken": token},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert own.status_code == 303
    # A page whose referrer policy sends nothing posts with Origin "null": the browser still
    # says the form is its own site's, so it is not refused.
    client.cookies.clear()
    page = await client.get("/login")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    own = await client.post(
        "/login",
        data={**form, "csrftoken": token},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert own.status_code == 303


async def test_answers_with_personal_details_are_never_stored(app, client):
    """Whatever is answered to someone signed in, or to a write, says no-store; the public
    catalog stays cacheable."""
    school = await factories.organization("school")
    specialist = await factories.user(school, "specialist")
    assert "no-store" not in (await client.get("/")).headers.get("cache-control", "")
    assert "no-store" not in (await client.get("/api/services")).headers.get("cache-control", "")
    refused = await client.post("/api/auth/login", json={"email": "x@y.example", "password": "z"})
    assert refused.headers["cache-control"] == "no-store"
    await factories.login(client, specialist)
    for path in ("/referrals", "/api/referrals", "/api/auth/me", "/help-requests", "/"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
    bearer = await factories.token_headers(
        await factories.user(await factories.organization(), "partner")
    )
    client.cookies.clear()
    assert (await client.get("/api/referrals", headers=bearer)).headers[
        "cache-control"
    ] == "no-store"


async def test_addresses_never_come_from_the_host_header(app):
    """Whoever sends a request chooses its Host header: no page, share link or FHIR export
    may carry it. Links within the site are paths; addresses that leave it use BASE_URL."""
    agency = await factories.organization()
    listing = await factories.listing(agency, accepts_referrals=True)
    school = await factories.organization("school")
    specialist = await factories.user(school, "specialist")
    async with asgi_client(app, base_url="http://evil.example") as client:
        page = await client.get(f"/services/{listing.id}")
        assert "evil.example" not in page.text
        assert f'value="http://testserver/services/{listing.id}"' in page.text  # BASE_URL
        assert 'href="/static/caremap.css"' in page.text
        await factories.login(client, specialist)
        referral = await client.post(
            "/api/referrals",
            json={"service_id": str(listing.id), "person": PERSON, "needs": ["food-pantry"],
                  "consent": CONSENT},
        )  # fmt: skip
        bundle = await client.get(f"/api/referrals/{referral.json()['id']}/fhir")
        assert bundle.status_code == 200
        assert "evil.example" not in bundle.text
        assert "http://testserver" in bundle.text
