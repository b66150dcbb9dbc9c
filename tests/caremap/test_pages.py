"""The public pages render from the catalog without an account."""

from tests import factories


async def test_home_lists_services_and_filters(app, client):
    organization = await factories.organization(name="Pilsen Pantry Test")
    await factories.listing(organization, name="Weekly Grocery Pantry")
    await factories.listing(organization, name="Legal clinic", categories=["legal-aid"])
    page = await client.get("/")
    assert page.status_code == 200
    assert "Weekly Grocery Pantry" in page.text
    assert "Legal clinic" in page.text
    filtered = await client.get("/?category=legal&postal_code=60623")
    assert "Legal clinic" in filtered.text
    assert "Weekly Grocery Pantry" not in filtered.text


async def test_home_shows_filter_errors_next_to_the_field(app, client):
    page = await client.get("/?postal_code=abc")
    assert page.status_code == 422
    assert 'id="postal_code-error"' in page.text
    assert 'value="abc"' in page.text


async def test_service_page(app, client):
    organization = await factories.organization()
    listing = await factories.listing(
        organization,
        eligibility_description="Families in 60623",
        phones=[{"number": "(773) 555-0142"}],
    )
    page = await client.get(f"/services/{listing.id}")
    assert page.status_code == 200
    assert "Families in 60623" in page.text
    assert 'href="tel:(773) 555-0142"' in page.text
    assert "3210 W 26th St" in page.text


async def test_missing_page_is_html_for_browsers_and_json_for_the_api(app, client):
    missing = "00000000-0000-4000-8000-000000000000"
    page = await client.get(f"/services/{missing}", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = await client.get(f"/api/services/{missing}", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"
    assert (await client.get("/no/such/page", headers={"Accept": "text/html"})).status_code == 404
