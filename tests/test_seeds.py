"""The demo data: what it covers, that it loads idempotently, and that it is valid HSDS 3.0."""

from collections import Counter

from caremap.accounts.models import User
from caremap.reports import REPORTS
from directory import serialize, service
from directory.geocoding import Geocoder, Point, distance_miles, nearest_zip, zip_info
from directory.models import Organization, Service
from directory.taxonomy import BY_CODE, TOP_LEVEL
from referrals.models import Referral
from search_index.models import UnmetSearch
from seeds.load import load_catalog, load_demo, read_documents
from seeds.streets import point_of
from tests import factories
from tests.hsds import hsds_validator, needs_hsds


def test_seed_files_cover_the_brief():
    documents = read_documents("organizations.json")
    providers = [d for d in documents if d["kind"] == "provider"]
    schools = [d for d in documents if d["kind"] == "school"]
    services = [s for d in documents for s in d["services"]]
    assert len(documents) >= 60
    assert len(services) >= 150
    assert len(schools) == 2
    assert len({d["id"] for d in providers}) == len(providers)
    codes = {a["taxonomy_term"]["code"] for s in services for a in s["attributes"]}
    tops = {BY_CODE[code].parent or code for code in codes}
    assert tops == {category.code for category in TOP_LEVEL}
    statuses = Counter(s["status"] for s in services)
    assert statuses["temporarily closed"] >= 3
    assert sum(any(lang["code"] == "es" for lang in s["languages"]) for s in services) >= 20
    virtual = [s for s in services if not s["service_at_locations"]]
    assert len(virtual) >= 4
    assert all(s["service_areas"] for s in virtual)
    cities = Counter()
    for document in documents:
        for location in document["locations"]:
            address = location["addresses"][0]
            info = zip_info(address["postal_code"])
            assert info is not None
            assert (info.city, info.state) == (address["city"], address["state_province"])
            cities[address["city"]] += 1
    assert set(cities) == {"Chicago", "Kansas City"}


def test_every_demo_address_zip_and_point_agree():
    """A demo pin lies in its address's ZIP code (the ZIP with the nearest centroid, from the
    offline ZIP data), and the street number read on the city's address grid puts the address
    within a few hundred feet of the pin, so no address shows in another neighbourhood."""
    checked = 0
    for document in read_documents("organizations.json"):
        for location in document["locations"]:
            address = location["addresses"][0]
            pin = Point(location["latitude"], location["longitude"])
            nearest = nearest_zip(pin)
            assert nearest is not None
            assert nearest.postal_code == address["postal_code"], (address, nearest)
            on_grid = point_of(address["city"], address["address_1"])
            assert distance_miles(pin, on_grid) < 0.1, (address, pin, on_grid)
            checked += 1
    assert checked >= 60


@needs_hsds
def test_seed_files_are_valid_hsds_organizations():
    validator = hsds_validator("organization")
    for document in read_documents("organizations.json"):
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, (document["name"], errors[:5])


def test_demo_accounts_carry_no_passwords():
    for account in read_documents("accounts.json"):
        assert set(account) == {"email", "name", "role", "organization_id"}


async def test_loading_twice_changes_nothing(app):
    first = await load_demo(geocoder=Geocoder())
    assert first.created["service"] >= 150
    assert len(first.logins) == first.created["user"] == 7
    counts = (
        await Organization.all().count(),
        await Service.all().count(),
        await User.all().count(),
    )
    assert first.created["referral"] == 240
    history = (await Referral.all().count(), await UnmetSearch.all().count())
    second = await load_demo(geocoder=Geocoder())
    assert sum(second.created.values()) == 0
    assert (await Referral.all().count(), await UnmetSearch.all().count()) == history
    assert second.logins == []
    assert (
        await Organization.all().count(),
        await Service.all().count(),
        await User.all().count(),
    ) == counts


async def test_every_report_has_figures_on_the_demo_data(app, client):
    """The demo year fills every table of every report in the district's view, and its shape is
    a believable one: most referrals answered, most of those ending with the service given."""
    await load_demo(geocoder=Geocoder())
    lead = await factories.user(await Organization.filter(kind="provider").first(), "admin")
    await factories.login(client, lead)
    for name in REPORTS:
        response = await client.get(f"/api/reports/{name}")
        assert response.status_code == 200, response.text
        for table in response.json()["tables"]:
            if table["key"] == "open_problems":
                continue  # the demo reports no problems
            assert table["rows"], f"{name}: {table['key']} is empty"
    [rates] = (await client.get("/api/reports/outcomes")).json()["tables"][0]["rows"]
    assert rates["made"] == 240
    assert 0.8 < rates["closure_rate"] <= 1
    assert 0.4 < rates["delivered_rate"] < 0.8


@needs_hsds
async def test_api_documents_validate_against_hsds(app, client):
    await load_catalog(geocoder=Geocoder())
    validator = hsds_validator("service")
    page = await service.list_services(actor=None, per_page=100)
    assert page.total >= 150
    for listing in page.items:
        document = serialize.service_document(listing)
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, (listing.name, errors[:5])
    one = (await client.get(f"/api/services/{page.items[0].id}")).json()
    assert not list(validator.iter_errors(one))


async def test_demo_search_by_category_and_zip(app, client):
    await load_catalog(geocoder=Geocoder())
    food = (await client.get("/api/services?category=food&per_page=100")).json()
    assert food["total_items"] >= 15
    assert all(
        any(c["code"] == "food" or c.get("parent_code") == "food" for c in s["categories"])
        for s in food["contents"]
    )
    # The county-wide crisis line reaches every Cook County ZIP.
    crisis = (await client.get("/api/services?category=crisis-support&postal_code=60640")).json()
    assert "Cook County Teen Crisis Text Line" in {s["name"] for s in crisis["contents"]}
