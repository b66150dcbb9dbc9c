"""Data sets of every kind caremap meets, written here in the shape of each (with its quirks):
an HSDS 3.0 set in the Open Referral UK profile's shape, an HSDS 3.1 set, an HSDS 1.x package
and an Ohana API CSV export. Each is imported, exported in both forms, validated against the
official schemas and with frictionless against the official tabular descriptor, and compared
field by field with what went in. What does not come through is named here, as in the README.
"""

import csv
import json
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import jsonschema
import pytest

from directory.hsds_import import ImportRefused
from directory.hsds_package import read_package
from directory.models import KeptRecord, Location, Schedule, Service, ServiceArea
from directory.taxonomy import category_id
from tests.directory.test_hsds_exchange import (
    export_to,
    missing_from,
    run_import,
    schema_errors_in_csv_package,
)
from tests.hsds import needs_hsds, schema, tabular_errors

pytestmark = needs_hsds

FOOD = str(category_id("food-pantry"))


def write(folder: Path, files: dict[str, list[dict[str, Any]]]) -> Path:
    """CSV files as a producer wrote them: each with its own header."""
    folder.mkdir(parents=True)
    for name, rows in files.items():
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return folder


async def imported(source: Path, **options: Any):
    try:
        return await run_import(source, **options)
    except ImportRefused as refused:
        raise AssertionError([str(p) for p in refused.problems if not p.warning]) from None


def json_errors(document: Path) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema("organization_package"))
    return [error.message for error in validator.iter_errors(json.loads(document.read_text()))]


def u(n: int) -> str:
    return f"6a1f0c3e-0000-4000-8000-{n:012d}"


# --- HSDS 3.0 in the UK profile's shape ----------------------------------------------------------


def uk_profile() -> dict[str, list[dict[str, Any]]]:
    """Singular and plural files of one table side by side, a column the profile adds, a
    reference to an organization the set does not hold."""
    address = {
        "id": u(5),
        "location_id": u(3),
        "attention": "Reception",
        "address_1": "1 Main St",
        "city": "Springfield",
        "state_province": "IL",
        "postal_code": "62701",
        "country": "US",
        "address_type": "physical",
    }
    schedule = {
        "id": u(6),
        "service_id": u(2),
        "freq": "WEEKLY",
        "byday": "MO,WE",
        "opens_at": "09:00:00",
        "closes_at": "17:00:00",
        "timezone": -6,
    }
    return {
        "organizations.csv": [{"id": u(1), "name": "Springfield Aid", "description": "Help."}],
        "services.csv": [
            {
                "id": u(2),
                "organization_id": u(1),
                "name": "Food parcels",
                "status": "active",
                "url": "https://example.org",
                "last_modified": "2024-03-15T10:30:45.123Z",
            }
        ],
        "locations.csv": [
            {"id": u(3), "organization_id": u(1), "location_type": "physical", "name": "Hall"}
        ],
        "service_at_location.csv": [{"id": u(4), "service_id": u(2), "location_id": u(3)}],
        "address.csv": [{k: v for k, v in address.items() if k != "attention"}],
        "addresses.csv": [address],
        "schedule.csv": [{k: v for k, v in schedule.items() if k != "timezone"}],
        "schedules.csv": [schedule],
        "attribute.csv": [
            {"id": u(7), "link_id": u(2), "taxonomy_term_id": FOOD, "link_entity": "service"}
        ],
        "accessibility.csv": [
            {"id": u(8), "location_id": u(3), "description": "Step-free", "accessibility": "yes"}
        ],
        "contacts.csv": [
            {"id": u(9), "organization_id": u(99), "service_id": u(2), "name": "Desk"}
        ],
    }


async def test_a_uk_profile_data_set_comes_back_whole(app, tmp_path):
    source = write(tmp_path / "uk", uk_profile())
    report = await imported(source)
    said = {(p.where, p.field): p.message for p in report.warnings}
    assert "the address table again" in said[("addresses.csv", "file")]
    assert "names no organization" in said[("contacts.csv row 2", "organization_id")]
    folder, document = await export_to(tmp_path, "out")
    assert missing_from(read_package(source), read_package(folder)) == []
    assert missing_from(read_package(source), read_package(document)) == []
    assert schema_errors_in_csv_package(folder) == []
    assert tabular_errors(folder, frozenset({("accessibility", "accessibility")})) == []
    assert json_errors(document) == []
    contact = read_package(folder).get("contact", u(9))
    assert contact is not None
    assert "organization_id" not in contact.values  # points at nothing: not written


# --- HSDS 3.1 ------------------------------------------------------------------------------------


def hsds_3_1() -> dict[str, list[dict[str, Any]]]:
    return {
        "organizations.csv": [{"id": u(11), "name": "Shelter Network", "description": "Beds."}],
        "services.csv": [
            {"id": u(12), "organization_id": u(11), "name": "Night shelter", "status": "active"}
        ],
        "attributes.csv": [
            {
                "id": u(13),
                "link_id": u(12),
                "taxonomy_term_id": str(category_id("shelter")),
                "link_entity": "service",
                "label": "Shelter",
            }
        ],
        "units.csv": [{"id": u(14), "name": "Bed", "scheme": "local", "identifier": "bed"}],
        "service_capacity.csv": [
            {
                "id": u(15),
                "service_id": u(12),
                "unit_id": u(14),
                "available": 12,
                "maximum": 40,
                "updated": "2026-11-30T18:00:00Z",
            }
        ],
        "url.csv": [
            {"id": u(16), "service_id": u(12), "label": "Booking", "url": "https://beds.example"}
        ],
        "service_areas.csv": [
            {"id": u(17), "service_id": u(12), "name": "Cook", "extent": "Cook County, IL"}
        ],
    }


@pytest.mark.parametrize("form", ["csv", "json"])
async def test_an_hsds_3_1_data_set_keeps_its_new_tables(app, tmp_path, form):
    source = write(tmp_path / "in", hsds_3_1())
    if form == "json":  # the same set nested, as a 3.1 producer's API would give it
        await imported(source)
        _folder, nested = await export_to(tmp_path, "nested")
        await KeptRecord.all().delete()
        await Service.all().delete()
        source = nested
    report = await imported(source)
    assert report.version == "3.1"
    folder, document = await export_to(tmp_path, "out")
    original = read_package(source)
    # The one difference: an area given in words comes back as the county caremap read.
    read = f"service_area {u(17)} extent: 'Cook County, IL' != 'Cook County'"
    assert [m for m in missing_from(original, read_package(folder)) if m != read] == []
    assert [m for m in missing_from(original, read_package(document)) if m != read] == []
    service = json.loads(document.read_text())[0]["services"][0]
    assert service["capacities"][0]["unit"]["name"] == "Bed"
    assert service["additional_urls"][0]["url"] == "https://beds.example"
    assert tabular_errors(folder) == []
    assert json_errors(document) == []
    # "Cook County, IL" in words is the county caremap serves searches by.
    area = await ServiceArea.get(id=u(17))
    assert (area.extent_type, area.extent, area.state_province) == (
        "county",
        "Cook County",
        "IL",
    )


# --- older formats: what each source cell became -------------------------------------------------


def _cells(folder: Path) -> list[tuple[str, str, str]]:
    cells = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                cells += [(path.name, k, v) for k, v in row.items() if v and k != "id"]
    return cells


def not_carried(source: Path, export: Path, converted: dict[tuple[str, str], str]) -> list[str]:
    """Each source value found nowhere in the export's CSV files, unless its column is one the
    format's mapping converts or cannot carry (`converted`, with the reason: the README's
    loss table). Ids and references are checked by the tests themselves."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in export.glob("*.csv"))
    return [
        f"{name} {column}: {value!r}"
        for name, column, value in _cells(source)
        if (name, column) not in converted and not column.endswith("_id") and value not in text
    ]


def hsds_1() -> dict[str, list[dict[str, Any]]]:
    """An HSDS 1.x package: ids that are not UUIDs, 1.x's file and column names, a holiday
    schedule with the same id as a weekly one (as Open Referral's sample has)."""
    return {
        "organizations.csv": [
            {
                "id": "org-1",
                "name": "Valley Food Bank",
                "description": "Food.",
                "url": "http://valley.example",
            }
        ],
        "services.csv": [
            {
                "id": "svc-1",
                "organization_id": "org-1",
                "name": "Pantry",
                "description": "Groceries weekly.",
                "status": "active",
                "fees": "None",
                "taxonomy_ids": "101",
            }
        ],
        "locations.csv": [{"id": "loc-1", "organization_id": "org-1", "name": "Warehouse"}],
        "physical_addresses.csv": [
            {
                "id": "adr-1",
                "location_id": "loc-1",
                "address_1": "12 Oak St",
                "address_2": "Unit 4",
                "address_3": "Rear door",
                "city": "Fresno",
                "state_province": "CA",
                "postal_code": "93721",
                "country": "US",
            }
        ],
        "services_at_location.csv": [
            {"id": "sal-1", "service_id": "svc-1", "location_id": "loc-1"}
        ],
        "regular_schedules.csv": [
            {
                "id": u(50),
                "service_id": "svc-1",
                "weekday": "1",
                "opens_at": "9:00",
                "closes_at": "17:00",
            }
        ],
        "holiday_schedules.csv": [
            {
                "id": u(50),
                "service_id": "svc-1",
                "closed": "true",
                "start_date": "2026-12-25",
                "end_date": "2026-12-26",
            }
        ],
        "eligibility.csv": [
            {"id": "el-1", "service_id": "svc-1", "eligibility": "County residents"}
        ],
        "languages.csv": [{"id": "lang-1", "service_id": "svc-1", "language": "Spanish"}],
        "phones.csv": [
            {
                "id": "ph-1",
                "service_id": "svc-1",
                "number": "559-555-0100",
                "language": "en, es",
                "department": "Intake",
            }
        ],
        "taxonomy.csv": [
            {
                "id": "101",
                "name": "Food Pantry",
                "parent_id": "",
                "parent_name": "",
                "vocabulary": "Valley",
            }
        ],
        "payments_accepted.csv": [{"id": "pay-1", "service_id": "svc-1", "payment": "Cash"}],
        "metadata.csv": [
            {
                "id": "md-1",
                "resource_id": "svc-1",
                "last_action_date": "2026-01-05T10:00:00Z",
                "last_action_type": "update",
                "field_name": "name",
                "previous_value": "Food pantry",
                "replacement_value": "Pantry",
                "updated_by": "Data team",
            }
        ],
    }


HSDS_1_CONVERTED = {
    ("services.csv", "taxonomy_ids"): "an attribute linking the term",
    ("regular_schedules.csv", "weekday"): "byday (1 = MO)",
    ("regular_schedules.csv", "opens_at"): "HH:MM:SS",
    ("holiday_schedules.csv", "closed"): "the description 'Closed (holiday)'",
    ("physical_addresses.csv", "address_2"): "address_2, 3 and 4 joined into address_2",
    ("physical_addresses.csv", "address_3"): "address_2, 3 and 4 joined into address_2",
    ("eligibility.csv", "eligibility"): "the service's eligibility_description",
    ("phones.csv", "language"): "a language record per code",
    ("phones.csv", "department"): "no 3.0 field: kept in caremap, not exported",
    ("taxonomy.csv", "parent_name"): "derived from parent_id",
    ("payments_accepted.csv", "payment"): "no 3.0 table: named in a warning, not imported",
    ("metadata.csv", "last_action_date"): "a date (3.0's type), not a date-time",
}


def stable(format_key: str, table: str, source_id: str) -> str:
    return str(uuid5(NAMESPACE_URL, f"caremap:{format_key}:{table}:{source_id}"))


async def test_an_hsds_1_package_imports_with_every_field_accounted_for(app, tmp_path):
    source = write(tmp_path / "v1", hsds_1())
    report = await imported(source, taxonomy_map=None, default_category="food-pantry")
    assert report.version == "HSDS 1.x/2.0"
    said = {(p.where, p.field) for p in report.warnings}
    assert ("payments_accepted.csv", "file") in said
    assert ("phones.csv", "department") in said
    assert ("regular_schedules.csv row 2", "id") in said  # the id the holiday also has
    service_id = stable("hsds1", "service", "svc-1")
    service = await Service.get(id=service_id)
    assert service.eligibility_description == "County residents"
    assert service.languages == ["es"]
    kept = await KeptRecord.get(hsds_table="service", record_id=service_id)
    assert kept.data["source_id"] == "svc-1"
    hours = await Schedule.filter(service_id=service_id).order_by("valid_from")
    assert [(h.byday, h.opens_at) for h in hours if h.valid_from is None] == [("MO", "09:00")]
    location = await Location.get(id=stable("hsds1", "location", "loc-1"))
    assert location.address_2 == "Unit 4, Rear door"

    folder, document = await export_to(tmp_path, "out")
    assert not_carried(source, folder, HSDS_1_CONVERTED) == []
    exported = read_package(folder)
    assert (
        exported.get("metadata", stable("hsds1", "metadata", "md-1")).values["resource_type"]
        == "service"
    )
    assert "source_id" not in (folder / "services.csv").read_text()
    assert tabular_errors(folder) == []
    assert json_errors(document) == []
    again = await imported(source, default_category="food-pantry")  # same ids: in place
    assert set(again.totals()) == {"unchanged"}


def ohana() -> dict[str, list[dict[str, Any]]]:
    """The Ohana API's CSV files (its San Mateo sample's shape): integer ids, a service that
    names its location, comma lists, weekday names, 12-hour times, staff emails."""
    return {
        "organizations.csv": [
            {
                "id": "1",
                "name": "Peninsula Family Service",
                "description": "Support for families.",
                "website": "http://pfs.example",
                "date_incorporated": "March 3, 1950",
                "funding_sources": "County, Donations",
                "licenses": "CA-123",
            }
        ],
        "locations.csv": [
            {
                "id": "1",
                "organization_id": "1",
                "name": "Fair Oaks Center",
                "description": "A walk-in center.",
                "short_desc": "Walk-in center",
                "accessibility": "ramp, restroom",
                "languages": "English, Spanish",
                "admin_emails": "staff@pfs.example",
                "website": "http://pfs.example/fair-oaks",
            }
        ],
        "addresses.csv": [
            {
                "id": "1",
                "location_id": "1",
                "address_1": "2600 Middlefield Road",
                "city": "Redwood City",
                "state_province": "CA",
                "postal_code": "94063",
                "country": "US",
            }
        ],
        "mail_addresses.csv": [
            {
                "id": "1",
                "location_id": "1",
                "attention": "Front desk",
                "address_1": "PO Box 12",
                "city": "Redwood City",
                "state_province": "CA",
                "postal_code": "94064",
                "country": "US",
            }
        ],
        "phones.csv": [
            {"id": "1", "location_id": "1", "number": "650 780-7525", "number_type": "tty"}
        ],
        "regular_schedules.csv": [
            {
                "id": "1",
                "location_id": "1",
                "weekday": "Monday",
                "opens_at": "9am",
                "closes_at": "4:30 PM",
            }
        ],
        "services.csv": [
            {
                "id": "1",
                "location_id": "1",
                "name": "Older adult services",
                "description": "Activities and meals.",
                "status": "active",
                "eligibility": "Age 55 or over",
                "fees": "None",
                "keywords": "seniors, meals",
                "languages": "English",
                "required_documents": "Photo ID",
                "service_areas": "San Mateo County, Belmont",
                "website": "http://pfs.example/older",
                "taxonomy_ids": "101",
            }
        ],
        "taxonomy.csv": [
            {"taxonomy_id": "101", "name": "Food", "parent_id": "", "parent_name": ""}
        ],
    }


OHANA_CONVERTED = {
    ("organizations.csv", "date_incorporated"): "year_incorporated (the year)",
    ("organizations.csv", "funding_sources"): "a funding record per source",
    ("organizations.csv", "licenses"): "no 3.0 field for an organization: kept, not exported",
    ("locations.csv", "short_desc"): "no 3.0 field: kept, not exported",
    ("locations.csv", "accessibility"): "an accessibility record",
    ("locations.csv", "languages"): "a language record per language",
    ("locations.csv", "admin_emails"): "staff addresses: not imported",
    ("phones.csv", "number_type"): "type (tty as textphone)",
    ("regular_schedules.csv", "weekday"): "byday",
    ("regular_schedules.csv", "opens_at"): "HH:MM:SS, 24-hour",
    ("regular_schedules.csv", "closes_at"): "HH:MM:SS, 24-hour",
    ("services.csv", "keywords"): "no 3.0 field: kept, not exported",
    ("services.csv", "languages"): "a language record per language",
    ("services.csv", "required_documents"): "a required_document record per document",
    ("services.csv", "service_areas"): "a service_area record per area",
    ("services.csv", "taxonomy_ids"): "an attribute linking the term",
}


async def test_an_ohana_export_imports_with_every_field_accounted_for(app, tmp_path):
    source = write(tmp_path / "ohana", ohana())
    report = await imported(source, default_category="food-pantry")
    assert report.version == "Ohana API CSV"
    said = {(p.where, p.field): p.message for p in report.warnings}
    assert "staff" in said[("locations.csv", "admin_emails")]
    assert "Belmont" in next(m for (w, f), m in said.items() if "service_area" in w)
    service = await Service.get(id=stable("ohana", "service", "1"))
    assert service.organization_id == __import__("uuid").UUID(stable("ohana", "organization", "1"))
    assert service.eligibility_description == "Age 55 or over"
    areas = await ServiceArea.filter(service_id=service.id)
    assert [(a.extent_type, a.extent, a.state_province) for a in areas] == [
        ("county", "San Mateo County", "CA")
    ]
    # Ohana keeps hours on the location: they are its one service's hours there.
    hours = await Schedule.filter(service_at_location__service_id=service.id)
    assert [(h.byday, h.opens_at, h.closes_at) for h in hours] == [("MO", "09:00", "16:30")]
    folder, document = await export_to(tmp_path, "out")
    assert not_carried(source, folder, OHANA_CONVERTED) == []
    text = (folder / "schedules.csv").read_text()
    assert "09:00:00" in text
    assert "16:30:00" in text
    assert "staff@pfs.example" not in (folder / "locations.csv").read_text()
    addresses = [r.values for r in read_package(folder).records("address")]
    assert sorted(a["address_type"] for a in addresses) == ["physical", "postal"]
    assert tabular_errors(folder) == []
    assert json_errors(document) == []
    again = await imported(source, default_category="food-pantry")
    assert set(again.totals()) == {"unchanged"}
