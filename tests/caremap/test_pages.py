"""The public pages render from the catalog without an account."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from directory.models import Location
from tests import factories
from tests.search_index.conftest import indexed


async def test_home_has_the_search_boxes_and_category_tiles(app, client):
    page = await client.get("/")
    assert page.status_code == 200
    assert 'name="q"' in page.text
    assert 'name="near"' in page.text
    assert '/search?category=food"' in page.text


async def test_results_list_and_filter(app, client):
    organization = await factories.organization(name="Pilsen Pantry Test")
    await factories.listing(organization, name="Weekly Grocery Pantry")
    await factories.listing(organization, name="Legal clinic", categories=["legal-aid"])
    await indexed()
    page = await client.get("/search", params={"near": "60623"})
    assert page.status_code == 200
    assert "Weekly Grocery Pantry" in page.text
    assert "Legal clinic" in page.text
    filtered = await client.get("/search", params={"category": "legal", "near": "60623"})
    assert "Legal clinic" in filtered.text
    assert "Weekly Grocery Pantry" not in filtered.text
    assert '"points": [{"lat": 41.8445' in filtered.text  # the map's data, for the script


async def test_results_show_errors_next_to_the_field(app, client):
    page = await client.get("/search", params={"near": "nowhere at all"})
    assert page.status_code == 422
    assert 'id="near-error"' in page.text
    assert 'value="nowhere at all"' in page.text


async def test_pages_speak_the_visitors_language(app, client):
    spanish = await client.get("/", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert '<html lang="es" dir="ltr">' in spanish.text
    assert "¿Qué necesita?" in spanish.text
    chosen = await client.get("/?lang=en", headers={"Accept-Language": "es"})
    assert "What do you need?" in chosen.text
    remembered = await client.get("/?lang=es")
    assert remembered.cookies.get("caremap_lang") == "es"
    assert "¿Qué necesita?" in (await client.get("/")).text


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
    assert 'href="tel:+17735550142"' in page.text  # normalised, as phones dial it
    assert "3210 W 26th St" in page.text


async def test_listing_text_is_marked_as_the_catalogs_language_on_other_pages(app, client):
    """Screen readers read a listing's English words as English on a Spanish or Arabic page
    (WCAG 3.1.2), in their own direction; on an English page nothing needs marking."""
    listing = await factories.listing(await factories.organization(), description="Free food.")
    english = await client.get(f"/services/{listing.id}?lang=en")
    arabic = await client.get(f"/services/{listing.id}?lang=ar")
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert '<p lang="en" dir="auto">Free food.</p>' in arabic.text
    assert '<p class="address" lang="en" dir="auto">3210 W 26th St' in arabic.text
    assert "<p>Free food.</p>" in english.text
    assert 'lang="en" dir="auto"' not in english.text


async def test_missing_page_is_html_for_browsers_and_json_for_the_api(app, client):
    missing = "00000000-0000-4000-8000-000000000000"
    page = await client.get(f"/services/{missing}", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = await client.get(f"/api/services/{missing}", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"
    assert (await client.get("/no/such/page", headers={"Accept": "text/html"})).status_code == 404


async def test_service_page_says_whether_it_is_open_and_can_be_shared(app, client):
    organization = await factories.organization()
    always = [{"byday": "MO,TU,WE,TH,FR,SA,SU", "opens_at": "00:00", "closes_at": "23:59"}]
    listing = await factories.listing(organization, schedules=always)
    page = await client.get(f"/services/{listing.id}?lang=es")
    assert "Abierto ahora" in page.text
    assert "lun, mar, mié" in page.text  # the days, in the page's language
    assert f'value="http://testserver/services/{listing.id}"' in page.text  # the link to share


async def test_results_offer_the_search_apis_filters_and_keep_them(app, client):
    organization = await factories.organization()
    await factories.listing(organization, name="Weekly Grocery Pantry", free=True)
    await factories.listing(organization, name="Paid tutoring", free=False, categories=["tutoring"])
    await indexed()
    page = await client.get(
        "/search", params={"near": "60623", "radius": "25", "free": "true", "language": "es"}
    )
    assert "Weekly Grocery Pantry" in page.text
    assert "Paid tutoring" not in page.text
    assert '<option value="25" selected>' in page.text
    assert 'name="free" value="true" checked' in page.text
    # The filters stay folded, so the results come first on a phone; the button says how many
    # are on. A plain search sends no distance, so it counts none.
    assert '<details class="more-filters">' in page.text
    assert '<span class="badge">3 on</span>' in page.text
    plain = await client.get("/search", params={"q": "pantry", "near": "60623", "radius": ""})
    assert "<summary>More filters</summary>" in plain.text
    refused = await client.get("/search", params={"near": "60623", "age": "old", "lang": "es"})
    assert '<details class="more-filters" open>' in refused.text  # a filter to fix is shown
    unknown = await client.get("/search", params={"near": "00000", "lang": "es"})
    assert "código postal desconocido" in unknown.text  # the field's message in Spanish
    home = await client.get("/", params={"lang": "en"})
    assert "Mental health counseling" in home.text  # a tile of its own


async def test_a_closed_service_says_when_it_opens(app, client):
    tomorrow = datetime.now(ZoneInfo("America/Chicago")) + timedelta(days=1)
    day = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][tomorrow.weekday()]
    organization = await factories.organization()
    listing = await factories.listing(
        organization, schedules=[{"byday": day, "opens_at": "09:00", "closes_at": "17:00"}]
    )
    page = await client.get(f"/services/{listing.id}")
    assert "Closed now" in page.text
    assert f"Opens {tomorrow.strftime('%a')} 09:00" in page.text


async def test_the_service_page_says_how_to_get_there_and_calls_crisis_lines(app, client):
    organization = await factories.organization()
    listing = await factories.listing(
        organization,
        description="Talk to a counselor. In a crisis call 988, or 911 in an emergency.",
    )
    [link] = listing.service_at_locations
    await Location.filter(id=link.location_id).update(
        accessibility="Step-free entrance on 26th St; lift to floor 2",
        transportation="Bus 60 to Kedzie",
    )
    page = (await client.get(f"/services/{listing.id}", params={"lang": "en"})).text
    # Directions by the written address (not only stored coordinates), and a geo: link.
    assert "openstreetmap.org/search?query=3210%20W%2026th%20St" in page
    assert 'href="geo:' in page
    assert "Step-free entrance on 26th St; lift to floor 2" in page
    assert "Bus 60 to Kedzie" in page
    assert '<a href="tel:988">988</a>' in page
    assert '<a href="tel:911">911</a>' in page

    form = await client.get(f"/services/{listing.id}")
    token = form.text.split('name="csrftoken" value="', 1)[1].split('"', 1)[0]
    sent = await client.post(
        f"/services/{listing.id}/report", data={"csrftoken": token, "kind": "wrong_phone"}
    )
    thanks = await client.get(sent.headers["location"])
    # The thank-you is a status message on the page, not inside the folded report section.
    before_details = thanks.text.split('<details class="report', 1)[0]
    assert 'role="status" id="report-thanks"' in before_details


async def test_error_pages_speak_the_visitors_language(app, client):
    missing = "00000000-0000-4000-8000-000000000000"
    html = {"Accept": "text/html"}
    spanish = await client.get(f"/services/{missing}", params={"lang": "es"}, headers=html)
    assert spanish.status_code == 404
    assert "Página no encontrada" in spanish.text
    assert "Page not found" not in spanish.text
    expired = await client.get("/help/not-a-real-link", headers=html)
    assert expired.status_code == 404
    assert "No encontramos esa página, o este enlace no es válido." in expired.text
    assert "This link is not valid." not in expired.text  # the English detail stays English
    assert '<a href="tel:988">988</a>' in expired.text
    english = await client.get("/help/not-a-real-link", params={"lang": "en"}, headers=html)
    assert "This link is not valid." in english.text
    no_route = await client.get("/no-such-page", params={"lang": "es"}, headers=html)
    assert "Página no encontrada" in no_route.text


async def test_robots_favicon_and_manifest(app, client):
    robots = await client.get("/robots.txt")
    assert robots.status_code == 200
    assert "Disallow: /referrals" in robots.text
    assert "Disallow: /admin" in robots.text
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 301
    assert (await client.get(icon.headers["location"])).status_code == 200
    home = await client.get("/")
    assert 'rel="manifest"' in home.text
    manifest = await client.get("/static/manifest.webmanifest")
    assert manifest.json()["icons"][0]["src"] == "/static/favicon.svg"


async def test_a_misspelled_search_offers_the_word_it_may_mean(app, client):
    organization = await factories.organization()
    await factories.listing(
        organization, name="Teen Counseling Center", categories=["mental-health-counseling"]
    )
    await indexed()
    page = await client.get("/search", params={"q": "cunslinng", "lang": "es"})
    offered = page.text.split('id="did-you-mean">', 1)[1].split("</p>", 1)[0]
    assert offered.startswith("¿Quiso decir <a href=")
    assert "q=counseling" in offered
    assert ">counseling</a>?" in offered
