"""HSDS 3.0 import and export: the official examples without loss, the seed data round trip,
bad data refused with every error named, and updates in place by HSDS id."""

import csv
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import jsonschema
import pytest

from directory import details, serialize
from directory.actor import SYSTEM
from directory.geocoding import Geocoder
from directory.hsds_export import export_rows, nest
from directory.hsds_import import ImportRefused, import_package, read_taxonomy_map
from directory.hsds_package import Package, read_package, write_csv_package
from directory.hsds_tables import REFERENCES
from directory.models import (
    GeocodeStatus,
    KeptRecord,
    ListingChange,
    Location,
    Organization,
    Phone,
    Schedule,
    Service,
    ServiceAtLocation,
)
from directory.service import SERVICE_PREFETCH
from directory.taxonomy import BY_ID, category_id
from search_index.models import SearchOutbox
from seeds.load import load_catalog
from tests.directory.test_geocoding import nominatim, nominatim_geocoder  # noqa: F401
from tests.hsds import EXAMPLES, needs_hsds, schema, tabular_errors


def _normal(name: str, value: Any) -> Any:
    """Values as an export writes them: times with seconds (HH:MM:SS, the tabular `time`)."""
    if name in ("opens_at", "closes_at") and isinstance(value, str) and len(value) == 5:
        return value + ":00"
    return value


def points_at_nothing(package: Package, name: str, value: Any) -> bool:
    """A reference to a record the data set does not hold (and caremap's taxonomy is not)."""
    if name not in REFERENCES or value in (None, ""):
        return False
    if REFERENCES[name] == "taxonomy_term" and UUID(str(value)) in BY_ID:
        return False  # caremap's own taxonomy is always there
    if REFERENCES[name] == "taxonomy" and str(value) == serialize.TAXONOMY_ID:
        return False
    return package.get(REFERENCES[name], str(value)) is None


def missing_from(original: Package, exported: Package) -> list[str]:
    """Every table, record and field value of `original` that `exported` lacks."""
    lost = []
    for table, records in original.tables.items():
        for record_id, record in records.items():
            copy = exported.get(table, record_id)
            if copy is None:
                lost.append(f"{table} {record_id}")
                continue
            for name, value in record.values.items():
                if points_at_nothing(original, name, value):
                    # The import warns of it and exports leave it out (or, for a location,
                    # name the organization caremap placed it with).
                    if copy.values.get(name) == value:
                        lost.append(f"{table} {record_id} {name}: points at nothing, written")
                    continue
                if _normal(name, copy.values.get(name)) != _normal(name, value) and not (
                    value == "" and name not in copy.values  # a CSV cell cannot tell
                ):
                    lost.append(
                        f"{table} {record_id} {name}: {value!r} != {copy.values.get(name)!r}"
                    )
    return lost


def schema_errors_in_csv_package(folder: Path) -> list[str]:
    """Each exported table's rows checked against the HSDS 3.0 tabular schema."""
    package = read_package(folder)
    assert not package.errors, package.errors
    errors = []
    tabular = schema("tabular")["properties"]
    for table, records in package.tables.items():
        validator = jsonschema.Draft202012Validator(tabular[table]["items"])
        for record in records.values():
            errors += [f"{record.where}: {e.message}" for e in validator.iter_errors(record.values)]
    return errors


async def run_import(path: Path, **options: Any):
    return await import_package(read_package(path), actor=SYSTEM, geocoder=Geocoder(), **options)


async def export_to(tmp_path: Path, name: str) -> tuple[Path, Path]:
    rows = await export_rows()
    folder = tmp_path / name
    write_csv_package(folder, rows)
    document = tmp_path / f"{name}.json"
    document.write_text(json.dumps(nest(rows)))
    return folder, document


# --- the official examples ----------------------------------------------------------------------


@needs_hsds
async def test_official_csv_example_imports_without_loss(app, tmp_path):
    report = await run_import(EXAMPLES / "csv", default_category="mental-health-counseling")
    assert report.totals()["created"] == 21
    # Valid HSDS that caremap cannot use is named, kept and exported as it came.
    warned = {(p.where, p.field) for p in report.warnings}
    assert ("locations.csv row 2", "postal_code") in warned
    assert ("locations.csv row 2", "latitude") in warned
    assert ("service_areas.csv row 2", "record") in warned
    folder, _document = await export_to(tmp_path, "export")
    assert missing_from(read_package(EXAMPLES / "csv"), read_package(folder)) == []
    assert schema_errors_in_csv_package(folder) == []
    assert tabular_errors(folder) == []
    # What caremap does use is in the catalog.
    listing = await Service.get(id="ac148810-d857-441c-9679-408f346de14b").prefetch_related(
        *SERVICE_PREFETCH
    )
    assert listing.languages == ["ur"]
    assert [p.number for p in await Phone.filter(service_id=listing.id)] == ["+44 1234 234567"]
    assert (listing.minimum_age, listing.maximum_age) == (12, 100)
    location = await Location.get(id="3a19ff88-4620-4d17-9830-ac1d859eb5d5")
    assert (location.address_1, location.city, location.latitude) == (
        "1-30 Main Street",
        "MyCity",
        None,
    )


@needs_hsds
@pytest.mark.parametrize("example", ["organization_full.json", "service_full.json"])
async def test_official_json_examples_import_without_loss(app, tmp_path, example):
    await run_import(EXAMPLES / example, default_category="mental-health-counseling")
    _folder, document = await export_to(tmp_path, "export")
    exported = json.loads(document.read_text())
    validator = jsonschema.Draft202012Validator(schema("organization_package"))
    assert [e.message for e in validator.iter_errors(exported)][:3] == []
    original = read_package(EXAMPLES / example)
    # The example's metadata record names no record in it, so it cannot nest in a package.
    original.tables.pop("metadata", None)
    assert missing_from(original, read_package(document)) == []


# --- the seed data round trip -------------------------------------------------------------------


async def catalog_documents() -> list[dict[str, Any]]:
    services = await Service.all().order_by("id").prefetch_related(*SERVICE_PREFETCH)
    documents = []
    for listing in services:
        document = serialize.service_document(listing)
        for key in ("last_modified", "version"):
            document.pop(key)
        documents.append(json.loads(json.dumps(document).replace('"version": ', '"v": ')))
    return documents


def _without_versions(value: Any) -> Any:
    """A document without its version numbers, its nested records (phones, schedules, sites)
    in a fixed order: HSDS gives them none, and a database may return them in any."""
    if isinstance(value, dict):
        return {k: _without_versions(v) for k, v in value.items() if k not in ("v", "version")}
    if isinstance(value, list):
        items = [_without_versions(v) for v in value]
        if all(isinstance(item, dict) for item in items):
            return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
        return items
    return value


@needs_hsds
@pytest.mark.parametrize("form", ["csv", "json"])
async def test_seed_data_exports_and_reimports_identically(app, tmp_path, form):
    await load_catalog(geocoder=Geocoder())
    before = _without_versions(await catalog_documents())
    folder, document = await export_to(tmp_path, "first")
    assert schema_errors_in_csv_package(folder) == []
    assert tabular_errors(folder) == []
    await Organization.all().delete()
    assert await Service.all().count() == 0
    path = folder if form == "csv" else document
    report = await run_import(path)
    assert report.warnings == []
    assert report.totals()["created"] > 0
    assert report.totals()["skipped"] == 0
    assert _without_versions(await catalog_documents()) == before
    second, _ = await export_to(tmp_path, "second")
    assert missing_from(read_package(folder), read_package(second)) == []
    again = await run_import(path)
    assert set(again.totals()) == {"unchanged"}


# --- bad data -----------------------------------------------------------------------------------

ORG = "0b6c7d0e-1111-4a8e-9f00-000000000001"
SERVICE = "0b6c7d0e-2222-4a8e-9f00-000000000001"


def write_tables(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    folder.mkdir()
    for name, rows in tables.items():
        with (folder / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return folder


def good_tables() -> dict[str, list[dict[str, Any]]]:
    return {
        "organizations.csv": [{"id": ORG, "name": "Northside Pantry", "description": "Food."}],
        "services.csv": [
            {
                "id": SERVICE,
                "organization_id": ORG,
                "name": "Saturday groceries",
                "status": "active",
                "minimum_age": "",
            }
        ],
        "phones.csv": [
            {
                "id": "0b6c7d0e-3333-4a8e-9f00-000000000001",
                "service_id": SERVICE,
                "number": "312-555-0100",
            },
            {
                "id": "0b6c7d0e-3333-4a8e-9f00-000000000002",
                "service_id": SERVICE,
                "number": "312-555-0101",
            },
        ],
        "attributes.csv": [
            {
                "id": "0b6c7d0e-4444-4a8e-9f00-000000000001",
                "link_id": SERVICE,
                "link_entity": "service",
                "taxonomy_term_id": str(category_id("food-pantry")),
            }
        ],
    }


async def test_a_bad_csv_package_is_refused_with_every_error_named(app, tmp_path):
    tables = good_tables()
    tables["organizations.csv"] += [
        {"id": "not-a-uuid", "name": "Bad id", "description": "x"},
        {"id": "0b6c7d0e-1111-4a8e-9f00-000000000002", "name": "", "description": "x"},
    ]
    tables["services.csv"] += [
        {
            "id": SERVICE,
            "organization_id": ORG,
            "name": "Twice",
            "status": "active",
            "minimum_age": "",
        },
        {
            "id": "0b6c7d0e-2222-4a8e-9f00-000000000003",
            "organization_id": ORG,
            "name": "Bad values",
            "status": "open",
            "minimum_age": "twelve",
        },
        {
            "id": "0b6c7d0e-2222-4a8e-9f00-000000000004",
            "organization_id": "0b6c7d0e-9999-4a8e-9f00-000000000009",
            "name": "Orphan",
            "status": "active",
            "minimum_age": "",
        },
    ]
    tables["schedules.csv"] = [
        {
            "id": "0b6c7d0e-5555-4a8e-9f00-000000000001",
            "service_id": SERVICE,
            "valid_from": "2024-13-01",
        }
    ]
    folder = write_tables(tmp_path / "bad", tables)
    with pytest.raises(ImportRefused) as refused:
        await run_import(folder)
    named = {(p.where, p.field) for p in refused.value.problems if not p.warning}
    assert named == {
        ("organizations.csv row 3", "id"),
        ("organizations.csv row 4", "name"),
        ("services.csv row 3", "id"),
        ("services.csv row 4", "status"),
        ("services.csv row 4", "minimum_age"),
        ("services.csv row 5", "organization_id"),
        ("schedules.csv row 2", "valid_from"),
    }
    assert "services.csv row 4, minimum_age: 'twelve' is not a number" in [
        str(p) for p in refused.value.problems
    ]
    assert await Organization.all().count() == 0
    assert await KeptRecord.all().count() == 0
    assert await ListingChange.all().count() == 0


async def test_a_newer_version_updates_in_place_by_id(app, tmp_path):
    first = await run_import(write_tables(tmp_path / "v1", good_tables()))
    assert first.counts["service"]["created"] == 1
    assert first.counts["phone"]["created"] == 2
    tables = good_tables()
    tables["services.csv"][0]["name"] = "Saturday and Sunday groceries"
    tables["phones.csv"].pop()
    second = await run_import(write_tables(tmp_path / "v2", tables))
    assert second.counts["service"] == {"updated": 1}
    assert second.counts["organization"] == {"unchanged": 1}
    listing = await Service.get(id=SERVICE)
    assert (listing.name, listing.version) == ("Saturday and Sunday groceries", 2)
    assert await Phone.filter(service_id=SERVICE).count() == 1
    actions = await ListingChange.filter(service_id=SERVICE).values_list("entity", "action")
    assert ("service", "import") in actions
    assert ("phone", "delete") in actions


async def test_dry_run_checks_and_writes_nothing(app, tmp_path):
    report = await run_import(write_tables(tmp_path / "v1", good_tables()), dry_run=True)
    assert report.totals()["checked"] > 0
    assert await Service.all().count() == 0


async def test_other_vocabularies_map_to_categories_through_the_mapping_file(app, tmp_path):
    tables = good_tables()
    term = "0b6c7d0e-6666-4a8e-9f00-000000000001"
    tables["attributes.csv"][0]["taxonomy_term_id"] = term
    tables["taxonomy_terms.csv"] = [
        {
            "id": term,
            "code": "BD-1800.2000",
            "name": "Food Pantries",
            "description": "x",
            "taxonomy": "AIRS",
        }
    ]
    folder = write_tables(tmp_path / "airs", tables)
    skipped = await run_import(folder)
    assert skipped.counts["service"] == {"skipped": 1}
    assert await Service.all().count() == 0

    mapping = tmp_path / "map.csv"
    mapping.write_text("taxonomy,code,category\nAIRS,BD-1800.2000,food-pantry\n")
    await run_import(folder, taxonomy_map=read_taxonomy_map(mapping))
    listing = await Service.get(id=SERVICE).prefetch_related("categories")
    assert [c.code for c in listing.categories] == ["food-pantry"]
    rows = await export_rows()
    assert term in {row["id"] for row in rows["taxonomy_term"]}  # the other term is kept

    mapping.write_text("taxonomy,code,category\nAIRS,BD-1800.2000,groceries\n")
    with pytest.raises(ImportRefused) as refused:
        read_taxonomy_map(mapping)
    assert [str(p) for p in refused.value.problems] == [
        "map.csv row 2, category: 'groceries' is not a caremap category"
    ]


async def test_imported_addresses_are_geocoded_in_the_background(app, tmp_path, nominatim):  # noqa: F811
    tables = good_tables()
    location = "0b6c7d0e-7777-4a8e-9f00-000000000001"
    tables["locations.csv"] = [
        {"id": location, "organization_id": ORG, "location_type": "physical"}
    ]
    tables["addresses.csv"] = [
        {
            "id": "0b6c7d0e-8888-4a8e-9f00-000000000001",
            "location_id": location,
            "address_1": "1600 W Pershing Rd",
            "city": "Chicago",
            "state_province": "IL",
            "postal_code": "60609",
            "country": "US",
            "address_type": "physical",
        }
    ]
    geocoder = nominatim_geocoder(nominatim)
    report = await import_package(
        read_package(write_tables(tmp_path / "located", tables)), actor=SYSTEM, geocoder=geocoder
    )
    assert report.pending_geocodes == 1
    placed = await Location.get(id=location)
    assert placed.geocode_status is GeocodeStatus.PENDING
    assert placed.latitude is not None  # the ZIP centroid until the provider answers
    assert await details.retry_pending_geocodes(geocoder=geocoder) == 1
    assert (await Location.get(id=location)).geocode_status is GeocodeStatus.OK


async def test_a_newer_version_drops_a_location_link_and_its_hours(app, tmp_path):
    tables = good_tables()
    location, link = "0b6c7d0e-7777-4a8e-9f00-000000000002", "0b6c7d0e-9999-4a8e-9f00-000000000001"
    tables["locations.csv"] = [
        {
            "id": location,
            "organization_id": ORG,
            "location_type": "physical",
            "latitude": "41.8",
            "longitude": "-87.6",
        }
    ]
    tables["service_at_location.csv"] = [
        {"id": link, "service_id": SERVICE, "location_id": location}
    ]
    tables["schedules.csv"] = [
        {
            "id": "0b6c7d0e-5555-4a8e-9f00-000000000002",
            "service_at_location_id": link,
            "byday": "SA",
            "opens_at": "09:00",
            "closes_at": "12:00",
        }
    ]
    await run_import(write_tables(tmp_path / "v1", tables))
    assert await Schedule.filter(service_at_location_id=link).count() == 1
    del tables["service_at_location.csv"], tables["schedules.csv"]
    report = await run_import(write_tables(tmp_path / "v2", tables))
    assert report.counts["location"] == {"unchanged": 1}
    assert not await ServiceAtLocation.exists(id=link)
    assert await Schedule.all().count() == 0
    removed = await ListingChange.filter(action="delete").values_list("entity", "service_id")
    assert sorted(removed) == [("schedule", UUID(SERVICE)), ("service_at_location", UUID(SERVICE))]


def many_services(count: int, category: str = "food-pantry") -> dict[str, list[dict[str, Any]]]:
    """`count` services of one organization, each at its own location, with a category."""

    def uuid(kind: int, number: int) -> str:
        return str(UUID(int=(kind << 64) + number + 1, version=4))

    tables: dict[str, list[dict[str, Any]]] = {
        "organizations.csv": [{"id": ORG, "name": "Northside Pantry", "description": "Food."}],
        "services.csv": [], "locations.csv": [], "service_at_location.csv": [],
        "attributes.csv": [],
    }  # fmt: skip
    for n in range(count):
        service, location = uuid(1, n), uuid(2, n)
        tables["services.csv"].append(
            {"id": service, "organization_id": ORG, "name": f"Groceries {n}", "status": "active"}
        )
        tables["locations.csv"].append({
            "id": location, "organization_id": ORG, "location_type": "physical",
            "latitude": "41.8", "longitude": "-87.6",
        })  # fmt: skip
        tables["service_at_location.csv"].append(
            {"id": uuid(3, n), "service_id": service, "location_id": location}
        )
        tables["attributes.csv"].append({
            "id": uuid(4, n), "link_id": service, "link_entity": "service",
            "taxonomy_term_id": str(category_id(category)),
        })  # fmt: skip
    return tables


async def test_a_data_set_larger_than_a_write_batch_imports_whole_and_again_in_place(app, tmp_path):
    """Records are written a batch at a time (bulk inserts); every batch, its history, its
    categories and its search outbox rows must be there, and a re-import change nothing."""
    count = 1_100  # more than one batch of 1,000
    tables = many_services(count)
    first = await run_import(write_tables(tmp_path / "v1", tables))
    assert first.counts["service"] == {"created": count}
    assert first.counts["service_at_location"] == {"created": count}
    assert await Service.filter(categories__code="food-pantry").count() == count
    assert await ListingChange.filter(entity="service", action="import").count() == count
    assert await KeptRecord.filter(hsds_table="attribute").count() == count
    queued = set(await SearchOutbox.all().values_list("service_id", flat=True))
    assert queued == set(await Service.all().values_list("id", flat=True))

    again = await run_import(write_tables(tmp_path / "v2", tables))
    assert again.counts["service"] == {"unchanged": count}
    assert again.totals()["created"] == again.totals()["updated"] == 0

    last = tables["attributes.csv"][-1]
    last["taxonomy_term_id"] = str(category_id("meals"))
    third = await run_import(write_tables(tmp_path / "v3", tables))
    assert third.counts["service"] == {"unchanged": count - 1, "updated": 1}
    changed = await Service.get(id=last["link_id"]).prefetch_related("categories")
    assert [term.code for term in changed.categories] == ["meals"]
    assert await Service.filter(categories__code="food-pantry").count() == count - 1


# --- what an export gives back ------------------------------------------------------------------


def _id(n: int) -> str:
    return f"0b6c7d0e-9999-4a8e-9f00-{n:012d}"


def places_tables() -> dict[str, list[dict[str, Any]]]:
    """A California service and a UK one, neither schedule naming a time zone; a language with
    a name but no code; a web address without a path; a location with no coordinates."""
    food = str(category_id("food-pantry"))
    tables: dict[str, list[dict[str, Any]]] = {
        "organizations.csv": [{"id": ORG, "name": "Two Shores", "description": "Food."}],
        "services.csv": [],
        "locations.csv": [],
        "addresses.csv": [],
        "service_at_location.csv": [],
        "schedules.csv": [],
        "attributes.csv": [],
    }
    for n, (city, state, postcode, country) in enumerate(
        [("San Francisco", "CA", "94103", "US"), ("Leeds", "West Yorkshire", "LS1 4AP", "GB")],
        start=1,
    ):
        service, location = _id(10 + n), _id(20 + n)
        tables["services.csv"].append(
            {
                "id": service,
                "organization_id": ORG,
                "name": f"Pantry {city}",
                "status": "active",
                "url": "http://example.org",
            }
        )
        tables["locations.csv"].append(
            {"id": location, "organization_id": ORG, "location_type": "physical", "name": city}
        )
        tables["addresses.csv"].append(
            {
                "id": _id(30 + n),
                "location_id": location,
                "address_1": "1 Main St",
                "city": city,
                "state_province": state,
                "postal_code": postcode,
                "country": country,
                "address_type": "physical",
            }
        )
        link = _id(40 + n)
        tables["service_at_location.csv"].append(
            {"id": link, "service_id": service, "location_id": location}
        )
        tables["schedules.csv"].append(
            {
                "id": _id(50 + n),
                "service_at_location_id": link,
                "freq": "WEEKLY",
                "byday": "MO",
                "opens_at": "09:00",
                "closes_at": "17:00",
            }
        )
        tables["attributes.csv"].append(
            {
                "id": _id(60 + n),
                "link_id": service,
                "link_entity": "service",
                "taxonomy_term_id": food,
            }
        )
    tables["languages.csv"] = [{"id": _id(70), "service_id": _id(11), "name": "Ohlone", "code": ""}]
    return tables


@needs_hsds
async def test_an_export_gives_back_places_times_and_languages_as_they_came(app, tmp_path):
    source = write_tables(tmp_path / "in", places_tables())
    try:
        await run_import(source)
    except ImportRefused as refused:
        raise AssertionError([str(p) for p in refused.problems]) from None
    folder, document = await export_to(tmp_path, "out")
    exported = read_package(folder)
    schedules = {r.values["service_at_location_id"]: r.values for r in exported.records("schedule")}
    california, leeds = schedules[_id(41)], schedules[_id(42)]
    assert california["timezone_name"] == "America/Los_Angeles"
    assert california["timezone"] in (-8, -7)
    assert leeds["timezone_name"] == "Europe/London"
    assert leeds["timezone"] in (0, 1)
    assert california["opens_at"] == "09:00:00"
    language = exported.get("language", _id(70))
    assert language is not None
    assert language.values["name"] == "Ohlone"
    assert json.dumps(_id(70)) in document.read_text()
    for record in exported.records("service"):
        assert record.values["url"] == "http://example.org"
    # Coordinates caremap took from a ZIP centroid are not the source's: not exported.
    san_francisco = exported.get("location", _id(21))
    assert san_francisco is not None
    assert "latitude" not in san_francisco.values
    assert (await Location.get(id=_id(21))).latitude is not None  # caremap still maps it
    assert missing_from(read_package(source), exported) == []
    assert tabular_errors(folder) == []


@needs_hsds
async def test_an_empty_catalog_exports_both_forms(app, tmp_path):
    await Organization.all().delete()
    folder, document = await export_to(tmp_path, "empty")
    assert json.loads(document.read_text()) == []
    assert read_package(folder).records("organization") == []
    assert tabular_errors(folder) == []


@needs_hsds
async def test_a_service_with_no_category_is_reported_with_the_fix_and_kept(app, tmp_path):
    """The official example's service names no term caremap knows: the import goes ahead, says
    which flags would place it, keeps it (and the location only it was offered at) for export,
    rather than refusing the set over the location's organization."""
    report = await run_import(EXAMPLES / "csv")
    assert report.counts["service"]["skipped"] == 1
    said = {(p.where, p.field): p.message for p in report.warnings}
    assert "--default-category" in said[("services.csv row 2", "attributes")]
    assert "skipped for want of a category" in said[("locations.csv row 2", "record")]
    assert not await Service.exists()
    folder, document = await export_to(tmp_path, "out")
    assert missing_from(read_package(EXAMPLES / "csv"), read_package(folder)) == []
    assert tabular_errors(folder) == []
    assert "Community Counselling" in document.read_text()
