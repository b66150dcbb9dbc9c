"""Throttling: failed sign-ins per account and per address, and public search per address."""

import re
from ipaddress import ip_network

from asgi_lifespan import LifespanManager

from caremap.accounts.models import User
from directory.models import ProblemReport
from tests import factories
from tests.conftest import app_with, asgi_client
from tests.factories import PASSWORD


async def _login(client, email: str, password: str):
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_failed_sign_ins_lock_the_account_for_a_while_even_with_the_right_password(
    app, client
):
    organization = await factories.organization()
    user = await factories.user(organization, "partner")
    other = await factories.user(organization, "partner")
    for _ in range(5):
        assert (await _login(client, user.email, "wrong password")).status_code == 401
    locked = await _login(client, user.email, PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"] == "too_many_requests"
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert "minute" in locked.json()["message"]
    # The same address may still sign in to another account (this one is under its limits).
    assert (await _login(client, other.email, PASSWORD)).status_code == 200
    # The account's spelling does not matter.
    assert (await _login(client, user.email.upper(), PASSWORD)).status_code == 429
    assert (await User.get(id=user.id)).last_login_at is None


async def test_one_address_guessing_many_accounts_is_stopped(settings):
    app = app_with(settings, login_limit_per_address="3/15 minutes")
    async with LifespanManager(app), asgi_client(app) as client:
        organization = await factories.organization()
        users = [await factories.user(organization, "partner") for _ in range(4)]
        for user in users[:3]:
            assert (await _login(client, user.email, "guess")).status_code == 401
        assert (await _login(client, users[3].email, PASSWORD)).status_code == 429

        page = await client.get("/login")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        form = {"email": users[3].email, "password": PASSWORD, "csrftoken": token}
        refused = await client.post("/login", data=form)
        assert refused.status_code == 429
        assert "Too many failed sign-in attempts" in refused.text
        assert "retry-after" in refused.headers


async def test_public_search_is_limited_per_address(settings):
    app = app_with(settings, search_rate_limit="3/minute")
    async with LifespanManager(app), asgi_client(app) as client:
        for _ in range(3):
            assert (await client.get("/api/search", params={"q": "food"})).status_code == 200
        limited = await client.get("/api/search", params={"q": "food"})
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "60"
        assert limited.json()["error"] == "too_many_requests"
        page = await client.get("/search?q=food", headers={"accept": "text/html"})
        assert page.status_code == 429
        assert "<html" in page.text
        assert (await client.get("/api/services")).status_code == 200  # other reads are not

    unlimited = app_with(settings, search_rate_limit="off")
    async with LifespanManager(unlimited), asgi_client(unlimited) as client:
        for _ in range(10):
            assert (await client.get("/api/search", params={"q": "food"})).status_code == 200


async def test_a_forwarded_header_counts_only_from_a_trusted_proxy(settings):
    """Rotating X-Forwarded-For gets a client nowhere unless the direct peer is a configured
    proxy; behind one, each client is counted by the address the proxy appended."""
    app = app_with(settings, login_limit_per_address="3/15 minutes")
    async with LifespanManager(app), asgi_client(app) as client:
        organization = await factories.organization()
        users = [await factories.user(organization, "partner") for _ in range(4)]
        for number, user in enumerate(users[:3]):
            forged = {"X-Forwarded-For": f"203.0.113.{number}"}
            response = await client.post(
                "/api/auth/login", json={"email": user.email, "password": "guess"}, headers=forged
            )
            assert response.status_code == 401
        rotated = await client.post(
            "/api/auth/login",
            json={"email": users[3].email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.77"},
        )
        assert rotated.status_code == 429

    # The test client's peer is 127.0.0.1: trusted, the header names the client.
    behind = app_with(
        settings, login_limit_per_address="3/15 minutes", trusted_proxies=(ip_network("127.0.0.1"),)
    )
    async with LifespanManager(behind), asgi_client(behind) as client:
        organization = await factories.organization()
        users = [await factories.user(organization, "partner") for _ in range(4)]
        for user in users[:3]:
            # A client's own forged entry comes first; the proxy appends the real one.
            forwarded = {"X-Forwarded-For": "10.9.9.9, 203.0.113.5"}
            response = await client.post(
                "/api/auth/login",
                json={"email": user.email, "password": "guess"},
                headers=forwarded,
            )
            assert response.status_code == 401
        same_client = await client.post(
            "/api/auth/login",
            json={"email": users[3].email, "password": PASSWORD},
            headers={"X-Forwarded-For": "172.16.0.1, 203.0.113.5"},
        )
        assert same_client.status_code == 429
        other_client = await client.post(
            "/api/auth/login",
            json={"email": users[3].email, "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.6"},
        )
        assert other_client.status_code == 200


async def test_problem_reports_are_limited_per_address_by_page_and_api_together(app, client):
    """The README promises 10 an hour per address: the API and the page's form share them,
    and a rotated X-Forwarded-For does not reset the count."""
    organization = await factories.organization()
    listing = await factories.listing(organization)
    for number in range(10):
        reported = await client.post(
            f"/api/services/{listing.id}/problems",
            json={"kind": "wrong_phone"},
            headers={"X-Forwarded-For": f"203.0.113.{number}"},
        )
        assert reported.status_code == 201, reported.text
    refused = await client.post(f"/api/services/{listing.id}/problems", json={"kind": "moved"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    page = await client.get(f"/services/{listing.id}")
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    form = await client.post(
        f"/services/{listing.id}/report",
        data={"kind": "moved", "csrftoken": token},
        headers={"accept": "text/html"},
    )
    assert form.status_code == 429
    assert await ProblemReport.all().count() == 10


async def test_nodes_sharing_a_redis_server_share_their_limits(settings, redis_server):
    """Two app nodes behind a load balancer: five failed sign-ins spread over both lock the
    account on both. With the Redis server down, sign-in and search are served uncounted
    rather than refused, and counting starts again when it is back."""
    shared = {"rate_limit_storage": redis_server.url, "search_rate_limit": "3/minute"}
    node_a, node_b = app_with(settings, **shared), app_with(settings, **shared)
    async with (
        LifespanManager(node_a),
        LifespanManager(node_b),
        asgi_client(node_a) as a,
        asgi_client(node_b) as b,
    ):
        user = await factories.user(await factories.organization(), "partner")
        for client in (a, b, a, b, a):
            assert (await _login(client, user.email, "wrong password")).status_code == 401
        assert (await _login(b, user.email, PASSWORD)).status_code == 429
        assert (await _login(a, user.email, PASSWORD)).status_code == 429
        searched = [(await c.get("/api/search?q=food")).status_code for c in (a, b, a, b)]
        assert searched == [200, 200, 200, 429]

        redis_server.stop()
        other = await factories.user(await factories.organization(), "partner")
        assert (await _login(a, other.email, PASSWORD)).status_code == 200
        assert (await b.get("/api/search?q=food")).status_code == 200

        redis_server.start()  # empty again: it kept nothing on disk
        for _ in range(5):
            assert (await _login(b, other.email, "wrong password")).status_code == 401
        assert (await _login(a, other.email, PASSWORD)).status_code == 429
