"""Signing in and out, session cookies, idle timeout and API tokens, through the real app."""

from datetime import UTC, datetime, timedelta

from asgi_lifespan import LifespanManager

from caremap.accounts import service as accounts
from caremap.accounts.models import ApiToken, User, UserSession
from caremap.auth import SESSION_COOKIE
from tests import factories
from tests.conftest import app_with, asgi_client


async def _partner(client):
    organization = await factories.organization()
    return organization, await factories.user(organization, "partner")


async def test_login_sets_a_safe_cookie_and_me_works(app, client):
    _organization, user = await _partner(client)
    response = await client.post(
        "/api/auth/login", json={"email": user.email.upper(), "password": factories.PASSWORD}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over plain HTTP in tests
    me = await client.get("/api/auth/me")
    assert me.json()["email"] == user.email
    assert "password_hash" not in me.json()


async def test_wrong_password_and_unknown_email_look_the_same(app, client):
    _organization, user = await _partner(client)
    wrong = await client.post("/api/auth/login", json={"email": user.email, "password": "nope"})
    unknown = await client.post(
        "/api/auth/login", json={"email": "ghost@test.example.org", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    missing = await client.post("/api/auth/login", json={"email": user.email})
    assert missing.status_code == 422


async def test_logout_ends_the_session(app, client):
    _organization, user = await _partner(client)
    await factories.login(client, user)
    cookie = client.cookies[SESSION_COOKIE]
    assert (await client.post("/api/auth/logout")).status_code == 204
    assert await UserSession.all().count() == 0
    client.cookies[SESSION_COOKIE] = cookie  # replaying the old cookie does not work
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_login_rotates_the_session(app, client):
    _organization, user = await _partner(client)
    await factories.login(client, user)
    first = client.cookies[SESSION_COOKIE]
    await factories.login(client, user)
    assert client.cookies[SESSION_COOKIE] != first
    assert await UserSession.all().count() == 1


async def test_secure_cookie_over_https(settings, tmp_path):
    application = app_with(settings, base_url="https://caremap.example.org")
    async with LifespanManager(application):
        user = await factories.user(await factories.organization(), "partner")
        async with asgi_client(application, "https://testserver") as client:
            response = await client.post(
                "/api/auth/login", json={"email": user.email, "password": factories.PASSWORD}
            )
    assert "Secure" in response.headers["set-cookie"]


async def test_tampered_cookie_is_anonymous(app, client):
    _organization, user = await _partner(client)
    await factories.login(client, user)
    cookie = client.cookies[SESSION_COOKIE]
    # Change the first character: unlike the last ones, all of its bits count.
    client.cookies[SESSION_COOKIE] = ("B" if cookie[0] == "A" else "A") + cookie[1:]
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_idle_session_expires(app, client):
    _organization, user = await _partner(client)
    await factories.login(client, user)
    idle = datetime.now(UTC) - timedelta(minutes=app.state.settings.session_idle_minutes + 1)
    await UserSession.all().update(last_seen_at=idle)
    assert (await client.get("/api/auth/me")).status_code == 401
    assert await UserSession.all().count() == 0


async def test_deactivated_user_is_signed_out(app, client):
    _organization, user = await _partner(client)
    await factories.login(client, user)
    await User.filter(id=user.id).update(is_active=False)
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_api_token_lifecycle(app, client):
    organization, user = await _partner(client)
    await factories.login(client, user)
    created = await client.post("/api/tokens", json={"name": "Case system"})
    assert created.status_code == 201
    secret = created.json()["token"]
    stored = await ApiToken.get(id=created.json()["id"])
    assert secret not in stored.token_hash
    listed = (await client.get("/api/tokens")).json()["contents"]
    assert [t["name"] for t in listed] == ["Case system"]
    assert "token" not in listed[0]
    await client.post("/api/auth/logout")

    bearer = {"Authorization": f"Bearer {secret}"}
    listing = await factories.listing(organization)
    edit = await client.patch(
        f"/api/services/{listing.id}", json={"name": "Via token", "version": 1}, headers=bearer
    )
    assert edit.status_code == 200
    assert (await client.delete(f"/api/tokens/{stored.id}", headers=bearer)).status_code == 204
    refused = await client.get("/api/auth/me", headers=bearer)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["message"]


async def test_bad_authorization_headers(app, client):
    for header in ["Bearer", "Basic dXNlcjpwYXNz", "Bearer cm_made_up", "Bearer nonsense"]:
        response = await client.get("/api/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"] == "unauthenticated"


async def test_cannot_revoke_someone_elses_token(app, client):
    organization, user = await _partner(client)
    other = await factories.user(organization, "partner")
    headers = await factories.token_headers(other)
    token = await ApiToken.get(user_id=other.id)
    await factories.login(client, user)
    assert (await client.delete(f"/api/tokens/{token.id}")).status_code == 403
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200


async def test_user_rules(app, client):
    school = await factories.organization("school")
    admin = await factories.user(school, "admin")
    await factories.login(client, admin)
    provider = await factories.organization()
    base = {"name": "New", "password": "long enough password", "organization_id": str(school.id)}
    wrong_kind = await client.post(
        "/api/users", json={**base, "email": "a@test.example.org", "role": "partner"}
    )
    assert wrong_kind.status_code == 422
    assert "role" in wrong_kind.json()["fields"]
    short = await client.post(
        "/api/users",
        json={**base, "email": "b@test.example.org", "role": "specialist", "password": "short"},
    )
    assert "password" in short.json()["fields"]
    bad_org = await client.post(
        "/api/users",
        json={
            **base,
            "email": "c@test.example.org",
            "role": "specialist",
            "organization_id": "nope",
        },
    )
    assert "organization_id" in bad_org.json()["fields"]
    ok = await client.post(
        "/api/users",
        json={
            **base,
            "email": "d@test.example.org",
            "role": "partner",
            "organization_id": str(provider.id),
        },
    )
    assert ok.status_code == 201
    duplicate = await client.post(
        "/api/users", json={**base, "email": "D@test.example.org", "role": "specialist"}
    )
    assert duplicate.status_code == 409


async def test_a_token_cannot_make_tokens(app, client):
    _organization, user = await _partner(client)
    bearer = await factories.token_headers(user)
    refused = await client.post("/api/tokens", json={"name": "Another"}, headers=bearer)
    assert refused.status_code == 403
    assert await ApiToken.filter(user_id=user.id).count() == 1


async def _signed_in_everywhere(app, user) -> tuple[dict[str, str], object]:
    """A token and a signed-in browser for `user`."""
    browser = asgi_client(app)
    await factories.login(browser, user)
    return await factories.token_headers(user), browser


async def _still_in(client, bearer, browser) -> tuple[int, int]:
    return (
        (await client.get("/api/auth/me", headers=bearer)).status_code,
        (await browser.get("/api/auth/me")).status_code,
    )


async def test_every_change_of_access_ends_sessions_and_tokens(app, client):
    """A new password, deactivation, and a change of role or organization each sign the user
    out everywhere: sessions and the API tokens they made."""
    organization, user = await _partner(client)
    other_agency = await factories.organization()
    admin = await factories.user(await factories.organization("school"), "admin")
    admin_client = asgi_client(app)
    await factories.login(admin_client, admin)
    changes = [
        {"role": "partner_admin"},
        {"organization_id": str(other_agency.id)},
        {"active": False},
    ]
    for change in changes:
        await User.filter(id=user.id).update(is_active=True)
        bearer, browser = await _signed_in_everywhere(app, user)
        assert await _still_in(client, bearer, browser) == (200, 200)
        changed = await admin_client.patch(f"/api/users/{user.id}", json=change)
        assert changed.status_code == 200, changed.text
        assert await _still_in(client, bearer, browser) == (401, 401), change
        await browser.aclose()
    assert (await User.get(id=user.id)).organization_id == other_agency.id

    await User.filter(id=user.id).update(is_active=True)
    bearer, browser = await _signed_in_everywhere(app, user)
    await accounts.set_password(user_id=user.id, password="a brand new password")
    assert await _still_in(client, bearer, browser) == (401, 401)
    await browser.aclose()

    # Only admins change users; a wrong role for the organization is named.
    partner_admin = await factories.user(organization, "partner_admin")
    await factories.login(client, partner_admin)
    refused = await client.patch(f"/api/users/{user.id}", json={"active": False})
    assert refused.status_code == 403
    wrong = await admin_client.patch(f"/api/users/{user.id}", json={"role": "specialist"})
    assert wrong.status_code == 422
    assert "role" in wrong.json()["fields"]
    unknown = await admin_client.patch(f"/api/users/{user.id}", json={"password": "x"})
    assert unknown.status_code == 422
    await admin_client.aclose()


async def test_an_organizations_kind_is_an_admins_and_changing_it_signs_its_staff_out(app, client):
    organization, user = await _partner(client)
    partner_admin = await factories.user(organization, "partner_admin")
    bearer, browser = await _signed_in_everywhere(app, user)
    await factories.login(client, partner_admin)
    refused = await client.patch(
        f"/api/organizations/{organization.id}", json={"kind": "school", "version": 1}
    )
    assert refused.status_code == 403
    assert "kind" in refused.json()["message"]
    renamed = await client.patch(
        f"/api/organizations/{organization.id}",
        json={"description": "We feed families.", "version": 1},
    )
    assert renamed.status_code == 200, renamed.text  # the rest is theirs to edit
    assert await _still_in(client, bearer, browser) == (200, 200)

    admin = await factories.user(await factories.organization("school"), "admin")
    await factories.login(client, admin)
    changed = await client.patch(
        f"/api/organizations/{organization.id}", json={"kind": "school", "version": 2}
    )
    assert changed.status_code == 200, changed.text
    client.cookies.clear()
    assert await _still_in(client, bearer, browser) == (401, 401)
    await browser.aclose()
