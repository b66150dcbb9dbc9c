"""The import's spool: a data set on disk, handed out in parts closed under references, and
imported a part at a time with the same result as all at once, or not at all."""

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from caremap.db import config_for_another_process
from directory.actor import SYSTEM
from directory.geocoding import Geocoder
from directory.hsds_import import ImportRefused, import_package
from directory.hsds_package import Package, read_into, read_package
from directory.hsds_parts import CheckingFailed, checked_elsewhere
from directory.hsds_spool import SHARED, Spool
from directory.models import (
    KeptRecord,
    ListingChange,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
)
from directory.taxonomy import category_id
from search_index.models import SearchOutbox
from tests.directory.test_hsds_exchange import write_tables
from tests.hsds import EXAMPLES, needs_hsds


def uid(kind: int, number: int) -> str:
    return f"0b6c7d0e-{kind:04d}-4a8e-9f00-{number:012d}"


def agencies(count: int) -> dict[str, list[dict[str, Any]]]:
    """`count` organizations, each with a service at a location of its own (phone, hours,
    language, category), and two that reach across: the first organization's service is also
    offered at the second's location, and a location names no organization but is where the
    third organization's service is offered."""
    tables: dict[str, list[dict[str, Any]]] = {
        name: []
        for name in (
            "organizations.csv",
            "services.csv",
            "locations.csv",
            "addresses.csv",
            "service_at_locations.csv",
            "phones.csv",
            "schedules.csv",
            "languages.csv",
            "attributes.csv",
        )
    }
    for n in range(count):
        org, service, location, link = uid(1, n), uid(2, n), uid(3, n), uid(4, n)
        tables["organizations.csv"].append({"id": org, "name": f"Agency {n}", "description": "x"})
        tables["services.csv"].append(
            {"id": service, "organization_id": org, "name": f"Pantry {n}", "status": "active"}
        )
        tables["locations.csv"].append(
            {"id": location, "organization_id": org, "name": f"Site {n}", "location_type": "postal"}
        )
        tables["addresses.csv"].append(
            {
                "id": uid(5, n),
                "location_id": location,
                "address_1": f"{n} W Test St",
                "city": "Chicago",
                "state_province": "IL",
                "postal_code": "60623",
                "country": "US",
                "address_type": "physical",
            }
        )
        tables["service_at_locations.csv"].append(
            {"id": link, "service_id": service, "location_id": location}
        )
        phone = {"id": uid(6, n), "service_id": service, "number": "312-555-0100"}
        tables["phones.csv"].append(phone)
        tables["schedules.csv"].append(
            {
                "id": uid(7, n),
                "service_at_location_id": link,
                "freq": "WEEKLY",
                "byday": "MO",
                "opens_at": "09:00",
                "closes_at": "17:00",
            }
        )
        tables["languages.csv"].append({"id": uid(8, n), "service_id": service, "code": "es"})
        tables["attributes.csv"].append(
            {
                "id": uid(9, n),
                "link_id": service,
                "link_entity": "service",
                "taxonomy_term_id": str(category_id("food-pantry")),
            }
        )
    # The first organization's service is also offered at the second's location (caremap keeps
    # that link but does not use it), and the third's service at a location of no organization.
    tables["service_at_locations.csv"].append(
        {"id": uid(4, 900), "service_id": uid(2, 0), "location_id": uid(3, 1)}
    )
    tables["locations.csv"].append(
        {"id": uid(3, 900), "name": "Borrowed", "location_type": "physical", "organization_id": ""}
    )
    tables["addresses.csv"].append(
        {**tables["addresses.csv"][0], "id": uid(5, 900), "location_id": uid(3, 900)}
    )
    tables["service_at_locations.csv"].append(
        {"id": uid(4, 901), "service_id": uid(2, 2), "location_id": uid(3, 900)}
    )
    return tables


def parts_of(path: Path, size: int) -> list[dict[str, set[str]]]:
    """The records of each part, by table."""
    with Spool() as spool:
        read_into(path, spool)
        assert not [p for p in spool.problems if not p.warning], spool.problems
        return [
            {table: set(records) for table, records in part.tables.items()}
            for part in spool.parts(size)
        ]


@pytest.mark.parametrize("size", [1, 30, 1000])
def test_every_record_is_in_one_part_with_every_record_it_names(tmp_path, size):
    folder = write_tables(tmp_path / "agencies", agencies(5))
    whole = read_package(folder)
    parts = parts_of(folder, size)
    where: dict[tuple[str, str], int] = {}
    for number, part in enumerate(parts):
        for table, ids in part.items():
            for record_id in ids:
                assert (table, record_id) not in where, f"{table} {record_id} in two parts"
                where[(table, record_id)] = number
    assert set(where) == {(t, i) for t, records in whole.tables.items() for i in records}
    ties = ("organization_id", "service_id", "location_id", "service_at_location_id", "link_id")
    for (table, record_id), number in where.items():
        values = whole.tables[table][record_id].values
        for key in ties:
            named = [k for k in where if k[1] == values.get(key) and k[0] not in SHARED]
            assert all(where[k] == number for k in named), (table, record_id, key)
    if size == 1:
        # Agencies 0 and 1 share a location's link, 2 and the borrowed location go together,
        # 3 and 4 stand alone: four parts, however small a part is asked to be.
        assert len(parts) == 4
        assert {uid(1, 0), uid(1, 1)} <= parts[0]["organization"]
    else:
        assert len(parts) == (2 if size == 30 else 1)


async def import_in_parts(path: Path, size: int, **options: Any):
    with Spool() as spool:
        read_into(path, spool)
        return await import_package(
            spool, actor=SYSTEM, geocoder=Geocoder(), part_size=size, **options
        )


@pytest.fixture(params=["here", "elsewhere"])
def checking(request, database_url) -> dict[str, Any]:
    """Parts checked in this process, or in a second one while this one writes."""
    if request.param == "here":
        return {}
    return {"database": config_for_another_process(database_url)}


async def test_an_import_in_parts_writes_what_one_in_one_part_writes(app, tmp_path, checking):
    """Imported a group at a time, then again in one part, nothing differs: every row, link
    and kept record the second import meets is the one the first wrote."""
    folder = write_tables(tmp_path / "agencies", agencies(5))
    first = await import_in_parts(folder, 1, **checking)
    assert first.counts["organization"] == {"created": 5}
    assert first.counts["service"] == {"created": 5}
    assert first.counts["location"] == {"created": 6}
    # The link to another organization's location is kept but not used.
    assert await ServiceAtLocation.filter(service_id=uid(2, 0)).count() == 1
    borrowed = await Location.get(id=uid(3, 900))
    assert str(borrowed.organization_id) == uid(1, 2)
    again = await import_in_parts(folder, 100_000, **checking)
    outcomes = {outcome for counts in again.counts.values() for outcome in counts}
    assert outcomes == {"unchanged"}, again.counts
    assert again.totals()["unchanged"] == first.totals()["created"]
    assert {(p.where, p.field) for p in again.warnings} == {
        (p.where, p.field) for p in first.warnings
    }


async def test_an_error_in_a_later_part_leaves_nothing_of_the_earlier_ones(app, tmp_path, checking):
    tables = agencies(5)
    tables["services.csv"][4]["status"] = "open"
    tables["phones.csv"][0]["number"] = ""  # a second error, in the first part
    folder = write_tables(tmp_path / "agencies", tables)
    with pytest.raises(ImportRefused) as refused:
        await import_in_parts(folder, 1, **checking)
    named = {(p.where, p.field) for p in refused.value.problems if not p.warning}
    assert named == {("services.csv row 6", "status"), ("phones.csv row 2", "number")}
    assert await Organization.all().count() == 0
    assert await KeptRecord.all().count() == 0
    assert await ListingChange.all().count() == 0
    assert await SearchOutbox.all().count() == 0
    dry = None
    with pytest.raises(ImportRefused):
        dry = await import_in_parts(folder, 1, dry_run=True)
    assert dry is None


async def test_a_checking_process_that_fails_leaves_nothing_written(app, tmp_path):
    """The second process cannot reach the catalog (which a re-import asks about the records
    it held): the import fails saying so, and the parts written meanwhile are rolled back."""
    tables = agencies(3)
    await import_in_parts(write_tables(tmp_path / "before", tables), 1)
    history = await ListingChange.all().count()
    for service in tables["services.csv"]:
        service["name"] += " (renamed)"
    unreachable = config_for_another_process(f"sqlite://{tmp_path / 'missing' / 'db.sqlite3'}")
    with pytest.raises(CheckingFailed) as failed:
        await import_in_parts(write_tables(tmp_path / "after", tables), 1, database=unreachable)
    assert "Traceback" in str(failed.value)
    names = await Service.all().values_list("name", flat=True)
    assert sorted(names) == ["Pantry 0", "Pantry 1", "Pantry 2"]
    assert await ListingChange.all().count() == history


async def fail_on_the_second_part(part: Package) -> int:
    """A check for `checked_elsewhere` that counts a part's records, and fails on the second
    part (the one of agency 2, see `agencies`)."""
    if uid(1, 2) in part.tables.get("organization", {}):
        raise RuntimeError("the second part could not be checked")
    return sum(len(records) for records in part.tables.values())


async def test_a_part_that_fails_to_be_checked_elsewhere_stops_the_parts(
    app, tmp_path, database_url
):
    folder = write_tables(tmp_path / "agencies", agencies(5))
    config = config_for_another_process(database_url)
    assert config is not None
    received: list[int] = []

    async def receive(spool: Spool) -> None:
        parts = checked_elsewhere(spool, 1, fail_on_the_second_part, config)
        async with contextlib.aclosing(parts):
            async for size in parts:
                received.append(size)

    with Spool() as spool:
        read_into(folder, spool)
        with pytest.raises(CheckingFailed) as failed:
            await receive(spool)
    assert "RuntimeError: the second part could not be checked" in str(failed.value)
    assert received == [19]  # agencies 0 and 1, tied by a link (see `agencies`)


@needs_hsds
async def test_the_official_example_imports_the_same_in_parts(app, tmp_path):
    report = await import_in_parts(EXAMPLES / "csv", 1, default_category="mental-health-counseling")
    assert report.totals()["created"] == 21
    assert {outcome for counts in report.counts.values() for outcome in counts} == {"created"}


def test_a_list_of_organizations_is_read_an_item_at_a_time_and_a_broken_one_named(tmp_path):
    organizations = [
        {"id": uid(1, n), "name": f"Agency {n}", "description": "x", "services": []}
        for n in range(3)
    ]
    document = tmp_path / "data.json"
    document.write_text(json.dumps(organizations))
    assert {r.id for r in read_package(document).records("organization")} == {
        uid(1, n) for n in range(3)
    }
    document.write_text(json.dumps(organizations)[:-40])
    errors = [str(p) for p in read_package(document).errors]
    assert len(errors) == 1
    assert errors[0].startswith("data.json, file: is not valid JSON ("), errors


@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_the_spool_holds_what_memory_holds_repeats_merged_or_named(tmp_path, monkeypatch, batch):
    """Nested JSON repeats a record wherever it is used: the copies are merged, and a copy that
    disagrees is named, whether the repeat is written to the spool with the first copy or later.
    """
    monkeypatch.setattr("directory.hsds_spool._BATCH", batch)
    site = {"id": uid(3, 1), "name": "Shared site", "location_type": "physical"}
    # A taxonomy term (a record every part shares) repeated under each service's attribute:
    # the second copy adds a field, the third disagrees.
    term = {"id": uid(10, 1), "code": "food", "name": "Food"}
    terms = [term, {**term, "description": "Meals"}, {**term, "name": "Comida"}]
    services = [
        {
            "id": uid(2, n),
            "name": f"Pantry {n}",
            "status": "active",
            "service_at_locations": [
                {"id": uid(4, n), "location": {**site, "description": f"copy {n}"} if n else site}
            ],
            "attributes": [{"id": uid(9, n), "taxonomy_term": terms[n]}],
        }
        for n in range(3)
    ]
    organization = {"id": uid(1, 0), "name": "Agency", "description": "x", "services": services}
    document = tmp_path / "data.json"
    document.write_text(json.dumps([organization]))
    memory = read_package(document)
    with Spool() as spool:
        read_into(document, spool)
        assert sorted(map(str, spool.problems)) == sorted(map(str, memory.problems))
        assert spool.count() == sum(len(records) for records in memory.tables.values())
        for table, records in memory.tables.items():
            for record_id, record in records.items():
                copy = spool.get(table, record_id)
                assert copy is not None
                assert (copy.values, copy.where) == (record.values, record.where)
    disagreements = [(p.where, p.field) for p in memory.problems]
    assert disagreements == [
        ("data.json /0/services/2/service_at_locations/0/location", "description"),
        ("data.json /0/services/2/attributes/0/taxonomy_term", "name"),
    ]
    assert memory.get("taxonomy_term", uid(10, 1)).values["description"] == "Meals"
