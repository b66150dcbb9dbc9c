"""Bad input over the JSON API: 4xx naming each bad field, never a 500, nothing written."""

import pytest

from directory.models import Location, Service
from tests import factories


@pytest.fixture
async def partner(app, client):
    organization = await factories.organization()
    user = await factories.user(organization, "partner")
    await factories.login(client, user)
    return organization


async def _refused(client, method, url, body, status=422):
    response = await client.request(method, url, json=body)
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.parametrize(
    ("overrides", "field", "message_part"),
    [
        ({"categories": ["food-pantry", "spaceships"]}, "categories", "spaceships"),
        ({"categories": []}, "categories", "choose at least one"),
        ({"minimum_age": 18, "maximum_age": 12}, "minimum_age", "greater than maximum_age"),
        ({"minimum_age": -1}, "minimum_age", "must be at least 0"),
        ({"name": ""}, "name", "required"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"description": "x" * 5001}, "description", "at most 5000"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"url": "javascript:alert(1)"}, "url", "web address"),
        ({"status": "open"}, "status", "active"),
        ({"languages": ["English!"]}, "languages.0", "format"),
        ({"free": "sometimes"}, "free", "true or false"),
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"organization_id": "not-a-uuid"}, "organization_id", "UUID"),
        ({"phones": [{"number": "call us"}]}, "phones.0.number", "format"),
        (
            {"schedules": [{"byday": "MO", "opens_at": "17:00", "closes_at": "09:00"}]},
            "schedules.0.closes_at",
            "after opens_at",
        ),
        ({"schedules": [{"byday": "Funday"}]}, "schedules.0.byday", "day codes"),
        (
            {"schedules": [{"opens_at": "25:00", "closes_at": "26:00"}]},
            "schedules.0.opens_at",
            "format",
        ),
        (
            {"schedules": [{"timezone_name": "Mars/Olympus"}]},
            "schedules.0.timezone_name",
            "time zone",
        ),
        (
            {"service_areas": [{"name": "x", "extent_type": "postal_code", "extent": "6062"}]},
            "service_areas.0.extent",
            "ZIP",
        ),
        (
            {"service_areas": [{"name": "x", "extent_type": "county", "extent": "Cook County"}]},
            "service_areas.0.state_province",
            "state",
        ),
        ({"location_ids": ["nope"]}, "location_ids.0", "UUID"),
        # Text that could reach a mail header or disguise a listing.
        ({"name": "Pantry\r\nBcc: x@example.com"}, "name", "one line"),
        ({"name": "Pantry\u2028Bcc"}, "name", "one line"),
        ({"name": "Free \u202emeals\u202c"}, "name", "invisible formatting"),
        ({"name": "Pan\u200btry"}, "name", "invisible formatting"),
        ({"alternate_name": "tab\there"}, "alternate_name", "one line"),
        ({"description": "bell \x07 here"}, "description", "control characters"),
        (
            {"phones": [{"number": "773-555-0100", "description": "a\nb"}]},
            "phones.0.description",
            "one line",
        ),
        ({"languages": ["en\u202e"]}, "languages.0", "format"),
    ],
)
async def test_service_field_errors(client, partner, overrides, field, message_part):
    body = await _refused(client, "POST", "/api/services", factories.service_data(**overrides))
    assert body["error"] == "invalid"
    assert field in body["fields"], body
    assert message_part.lower() in body["fields"][field].lower()
    assert await Service.all().count() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"latitude": 91, "longitude": 10}, "latitude"),
        ({"latitude": 41.8, "longitude": -187}, "longitude"),
        ({"latitude": 41.8}, "longitude"),
        ({"postal_code": "6062A"}, "postal_code"),
        (
            {"postal_code": None, "latitude": None, "longitude": None, "address_1": None},
            "postal_code",
        ),
        ({"state_province": "Illinois"}, "state_province"),
        ({"location_type": "underwater"}, "location_type"),
    ],
)
async def test_location_field_errors(client, partner, overrides, field):
    data = {
        "name": "Site",
        "address_1": "1 Main St",
        "city": "Chicago",
        "state_province": "IL",
        "postal_code": "60623",
        **overrides,
    }
    body = await _refused(client, "POST", "/api/locations", data)
    assert field in body["fields"], body
    assert await Location.all().count() == 0


async def test_several_bad_fields_are_all_named(client, partner):
    body = await _refused(
        client, "POST", "/api/services", {"name": "", "categories": ["nope"], "minimum_age": "ten"}
    )
    assert {"name", "categories", "minimum_age"} <= set(body["fields"])


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b"[" * 50 + b"]" * 50, "nested deeper"),
        (b"", "required"),
    ],
)
async def test_unreadable_bodies(client, partner, content, message_part):
    response = await client.post(
        "/api/services", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert message_part in response.json()["fields"]["body"]


async def test_body_must_be_an_object(client, partner):
    body = await _refused(client, "POST", "/api/services", ["a", "list"])
    assert body["fields"] == {"body": "must be a JSON object"}


async def test_oversized_body_is_refused(client, partner):
    response = await client.post(
        "/api/services",
        content=b'{"name": "' + b"x" * 300_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("category=spaceships", "category"),
        ("postal_code=abcde", "postal_code"),
        ("postal_code=00000", "postal_code"),
        ("page=0", "page"),
        ("page=99999999999999999999", "page"),
        ("per_page=1000", "per_page"),
        ("per_page=ten", "per_page"),
        ("organization_id=42", "organization_id"),
    ],
)
async def test_list_filters_are_checked(client, app, query, field):
    response = await client.get(f"/api/services?{query}")
    assert response.status_code == 422
    assert field in response.json()["fields"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/organizations?page=99999999999999999999",
        "/api/referrals?page=10000000000",
        "/hsds/services?page=10000000000",
        "/hsds/organizations?per_page=-1",
    ],
)
async def test_page_numbers_are_bounded_everywhere(client, partner, url):
    response = await client.get(url)
    assert response.status_code == 422, response.text


async def test_unknown_ids_are_404(client, partner):
    missing = "00000000-0000-4000-8000-000000000000"
    for method, url in [
        ("GET", f"/api/services/{missing}"),
        ("GET", f"/api/locations/{missing}"),
        ("GET", f"/api/organizations/{missing}"),
        ("PATCH", f"/api/services/{missing}"),
        ("DELETE", f"/api/phones/{missing}"),
        ("GET", "/api/services/not-a-uuid"),
    ]:
        response = await client.request(method, url, json={"version": 1})
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"] == "not_found"


async def test_missing_or_bad_version(client, partner):
    listing = await factories.listing(partner)
    url = f"/api/services/{listing.id}"
    body = await _refused(client, "PATCH", url, {"name": "New"})
    assert "version" in body["fields"]
    body = await _refused(client, "PATCH", url, {"name": "New", "version": "latest"})
    assert body["fields"]["version"] == "must be a whole number"
    huge = 3853549927461267963904  # found by the fuzzer: it overflowed the database (a 500)
    body = await _refused(client, "PATCH", url, {"name": "New", "version": huge})
    assert body["fields"]["version"] == "is too large a number"  # wider than 64 bits
    body = await _refused(client, "PATCH", url, {"name": "New", "version": 2**40})
    assert body["fields"]["version"].startswith("must be from 1 to")
    response = await client.patch(url, json={"name": "New"}, headers={"If-Match": f'"{huge}"'})
    assert response.status_code == 422


async def test_only_json_bodies_are_read(client, partner):
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""]:
        response = await client.post(
            "/api/services", content=b'{"name": "x"}', headers={"content-type": content_type}
        )
        assert response.status_code == 415, content_type
    assert await Service.all().count() == 0


async def test_nul_characters_are_refused_everywhere(client, partner):
    """PostgreSQL cannot store NUL in text (the fuzzer found the 500): JSON, forms, queries."""
    response = await client.post("/api/organizations", json={"name": "A\u0000B"})
    assert response.status_code == 422
    assert response.json()["fields"] == {"name": "must not contain a NUL character (\\u0000)"}
    nested = await client.post(
        "/api/services", json={**factories.service_data(), "phones": [{"number": "1\u0000"}]}
    )
    assert nested.status_code == 422
    assert list(nested.json()["fields"]) == ["phones[0].number"]
    assert (await client.get("/api/services?postal_code=606%0023")).status_code == 400
    form = await client.post(
        "/login",
        content=b"email=a%00b%40example.org&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400


async def test_text_rules_hold_for_every_writer_and_keep_what_languages_need(client, partner):
    """Organizations, problem reports and notes obey the same text rule; long texts keep their
    line breaks, and the joiners Persian, Arabic and emoji need are kept."""
    admin = await factories.user(await factories.organization("school"), "admin")
    await factories.login(client, admin)
    refused = await client.post("/api/organizations", json={"name": "Agency\nX-Evil: 1"})
    assert refused.status_code == 422
    assert "name" in refused.json()["fields"]
    kept = await client.post(
        "/api/organizations",
        json={"name": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f469\u200d\U0001f467",
              "description": "First line\nSecond line"},
    )  # fmt: skip
    assert kept.status_code == 201, kept.text
    assert kept.json()["description"] == "First line\nSecond line"
    listing = await factories.listing(partner)
    report = await client.post(
        f"/api/services/{listing.id}/problems", json={"kind": "other", "details": "x\u202ey"}
    )
    assert report.status_code == 422
    assert "details" in report.json()["fields"]
    assert await Service.filter(name__contains="\n").count() == 0
