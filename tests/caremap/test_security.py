"""Security headers on every response; forms refuse a POST without their CSRF token."""

from dataclasses import replace

from caremap.security import content_security_policy


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
