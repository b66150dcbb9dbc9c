"""Exporting the catalog as an HSDS 3.0 data set: the CSV package and the nested JSON package.

Rows are built from caremap's records with the same documents the API serves
(`directory.serialize`), then laid over the records kept from an import (`KeptRecord`), so what
caremap does not model comes back as it came and what partners edited comes back edited. The CSV
package holds every record. The JSON package (an array of organizations with their services and
locations nested) holds every record that hangs off an organization; records that name none
(such as an unused taxonomy) travel only in the CSV package.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.functions import Max
from tortoise.models import Model

from directory import serialize
from directory.bulk import chunks, select_in
from directory.geocoding import ZIP_CENTROID
from directory.hsds_package import is_uuid
from directory.hsds_tables import EMBEDDED, LIST_KEY, PROVENANCE, REFERENCES, TABLES
from directory.models import (
    KeptRecord,
    ListingChange,
    Location,
    Organization,
    Phone,
    Service,
    ServiceAtLocation,
)
from directory.service import SERVICE_PREFETCH
from directory.taxonomy import CATEGORIES

Rows = dict[str, list[dict[str, Any]]]
# caremap's internal fields that are not part of an exported record.
_INTERNAL = {
    "version",
    "geocode_status",
    "postal_code",
    "intake",
    "last_verified_at",
    "verified_by",
    "stale",
    "stale_since",
}
# Tables whose rows caremap builds; a kept record of these goes out only through its row.
_BUILT = {"organization", "service", "location", "service_at_location", "phone", "schedule"}
_BUILT |= {"service_area", "address", "accessibility", "language", "attribute"}
# caremap derives these only from complete columns; a kept one with unusable values goes as kept.
_PARTIAL = {"address", "accessibility"}


def _flat(document: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in document.items()
        if key not in _INTERNAL and not isinstance(value, list | dict)
    }


async def export_rows(
    organization_ids: Collection[UUID] | None = None,
    readable: Callable[[Service], bool] | None = None,
    service_ids: Collection[UUID] | None = None,
) -> Rows:
    """Catalog records as HSDS rows by table: every one (an export), or those of some
    organizations (a page of the `/hsds` API), with only the services given if any are, and
    without the services the reader may not see."""
    return _with_seconds(await _rows(organization_ids, readable, service_ids))


async def _rows(
    organization_ids: Collection[UUID] | None,
    readable: Callable[[Service], bool] | None,
    service_ids: Collection[UUID] | None,
) -> Rows:
    rows: Rows = defaultdict(list)
    phones: set[str] = set()  # a phone of a service at a location comes with both
    organizations = Organization.all()
    services = Service.all()
    if organization_ids is not None:
        organizations = organizations.filter(id__in=list(organization_ids))
        services = services.filter(organization_id__in=list(organization_ids))
    if service_ids is not None:
        services = services.filter(id__in=list(service_ids))
    for organization in await organizations.order_by("name", "id"):
        rows["organization"].append(_flat(serialize.organization_document(organization)))
    listings = [
        listing
        for listing in await services.order_by("name", "id").prefetch_related(*SERVICE_PREFETCH)
        if readable is None or readable(listing)
    ]
    locations = Location.all()
    # An organization's records include the places its services are offered that another lists.
    offered_at = {link.location_id for s in listings for link in s.service_at_locations}
    if organization_ids is not None:
        locations = locations.filter(
            Q(organization_id__in=list(organization_ids)) | Q(id__in=list(offered_at))
        )
    for location in await locations.order_by("id").prefetch_related("phones"):
        document = serialize.location_document(location, list(location.phones))
        row = _flat(document)
        if location.geocode_source == ZIP_CENTROID:
            # caremap's stand-in until the address is placed, not coordinates the source gave
            row.pop("latitude", None)
            row.pop("longitude", None)
        rows["location"].append(row)
        rows["address"].extend(document.get("addresses", []))
        rows["accessibility"].extend(document.get("accessibility", []))
        _phones(rows, document.get("phones", []), phones)
    for listing in listings:
        document = serialize.service_document(listing)
        rows["service"].append(_flat(document))
        rows["language"].extend(document.get("languages", []))
        _phones(rows, document.get("phones", []), phones)
        rows["schedule"].extend(_flat(s) for s in document.get("schedules", []))
        rows["service_area"].extend(_flat(a) for a in document.get("service_areas", []))
        for link in document.get("service_at_locations", []):
            rows["service_at_location"].append(_flat(link))
            rows["schedule"].extend(_flat(s) for s in link.get("schedules", []))
        for category in document.get("categories", []):
            rows["attribute"].append(
                {
                    "id": serialize.derived_id(listing.id, "attribute", category["code"]),
                    "link_id": str(listing.id),
                    "link_type": "category",
                    "link_entity": "service",
                    "taxonomy_term_id": category["id"],
                }
            )
    rows["taxonomy"].append(serialize.taxonomy_document())
    rows["taxonomy_term"].extend(serialize.taxonomy_term_document(c.code) for c in CATEGORIES)
    unchanged = await _unchanged_since_import([listing.id for listing in listings])
    if organization_ids is None:
        kept_records = await KeptRecord.all().order_by("id")
        return await _without_dangling_references(_with_kept_records(rows, kept_records, unchanged))
    shown = [listing.id for listing in listings]
    kept = await KeptRecord.filter(
        Q(organization_id__in=list(organization_ids)) | Q(location_id__in=list(offered_at)),
        Q(service_id__isnull=True) | Q(service_id__in=shown),
    ).order_by("id")
    rows = _with_kept_records(rows, kept, unchanged)
    # The imported taxonomies the records' attributes name, as the export carries them.
    for table, key in (("taxonomy_term", "taxonomy_term_id"), ("taxonomy", "taxonomy_id")):
        wanted = {str(row.get(key)) for source in ("attribute", table) for row in rows[source]}
        wanted -= {row["id"] for row in rows[table]}
        wanted_ids = [i for i in wanted if is_uuid(i)]
        for record in await select_in(KeptRecord, "record_id", wanted_ids, hsds_table=table):
            rows[table].append(as_came(record))
    return await _without_dangling_references(rows)


def _with_seconds(rows: Rows) -> Rows:
    """Schedule times as HH:MM:SS, the tabular format's `time` (caremap holds HH:MM, and so
    did many data sets)."""
    for row in rows.get("schedule", []):
        for key in ("opens_at", "closes_at"):
            if isinstance(row.get(key), str) and re.fullmatch(r"\d\d:\d\d", row[key]):
                row[key] += ":00"
    return rows


async def _unchanged_since_import(service_ids: list[UUID]) -> set[str]:
    """The services nobody has changed since they were imported: their `last_modified` is the
    source's, not the time caremap wrote them."""
    latest = [
        row["last"]
        for batch in chunks(service_ids)
        for row in await ListingChange.filter(service_id__in=list(batch))
        .group_by("service_id")
        .annotate(last=Max("id"))
        .values("last")
    ]
    imported = await select_in(ListingChange, "id", latest, action="import")
    return {str(change.service_id) for change in imported}


def _phones(rows: Rows, phones: list[dict[str, Any]], seen: set[str]) -> None:
    for phone in phones:
        if phone["id"] in seen:
            continue
        seen.add(phone["id"])
        rows["phone"].append(_flat(phone))
        rows["language"].extend(phone.get("languages", []))


def _with_kept_records(rows: Rows, records: list[KeptRecord], unchanged: set[str]) -> Rows:
    """Lay each row over the record kept from an import, and add the kept records caremap does
    not use. Sub-records caremap stores as columns (addresses, languages, category attributes)
    are matched by what they describe, since caremap's own ids for them are derived."""
    kept: dict[str, dict[str, KeptRecord]] = defaultdict(dict)
    by_subject: dict[tuple[str, ...], KeptRecord] = {}
    for record in records:
        kept[record.hsds_table][str(record.record_id)] = record
        if record.unused != ["*"]:
            for subject in _subjects(record.hsds_table, record.data):
                by_subject.setdefault(subject, record)
    used: set[int] = set()
    for table, table_rows in rows.items():
        laid_over = []
        for row in table_rows:
            match = kept[table].get(row["id"])
            for subject in _subjects(table, row) if match is None else ():
                match = match or by_subject.get(subject)
            if match is None:
                laid_over.append(row)
            elif match.id not in used:  # one kept language can stand for a service's and a phone's
                used.add(match.id)
                laid_over.append(_overlay(table, row, match, row["id"] in unchanged))
        rows[table] = laid_over
    for table, records in kept.items():
        for record in records.values():
            if record.id not in used and (
                record.unused == ["*"] or table not in _BUILT or table in _PARTIAL
            ):
                rows[table].append(as_came(record))
    return rows


def _subjects(table: str, values: dict[str, Any]) -> list[tuple[str, ...]]:
    """What a derived sub-record describes, to match it to the record it was imported from."""
    if table in ("address", "accessibility"):
        return [(table, str(values.get("location_id")))]
    if table == "language":
        owners = [values.get(key) for key in ("phone_id", "service_id") if values.get(key)]
        return [(table, str(owner), str(values.get("code"))) for owner in owners]
    if table == "attribute":
        return [(table, str(values.get("link_id")), str(values.get("taxonomy_term_id")))]
    return []


def _overlay(
    table: str, current: dict[str, Any], kept: KeptRecord, unchanged: bool
) -> dict[str, Any]:
    """The kept record with caremap's current values for the fields caremap holds; a value
    caremap could not use (`unused`), or holds in its own spelling (a URL without its trailing
    slash), goes out as it came, and so does the modification time of a record nobody changed."""
    modelled = TABLES[table].modelled
    merged = dict(current, id=str(kept.record_id))
    for key, value in as_came(kept).items():
        if key in REFERENCES and key in modelled and current.get(key):
            continue  # where caremap placed it (a location whose organization was not there)
        if (
            key not in modelled
            or key in kept.unused
            or (key == "last_modified" and unchanged)
            or _spelt_differently(value, current.get(key))
        ):
            merged[key] = value
    return merged


def as_came(record: KeptRecord) -> dict[str, Any]:
    """A kept record's HSDS fields (without what the import noted of an older format)."""
    return {key: value for key, value in record.data.items() if key not in PROVENANCE}


def _spelt_differently(source: Any, current: Any) -> bool:
    """Whether caremap holds the source's value in its own spelling: trimmed, without a
    spreadsheet's quotes, a bare web address with its slash."""
    if not isinstance(source, str) or not isinstance(current, str) or source == current:
        return False
    plain = source.strip().strip("\"'")
    return current in (plain, plain + "/")


async def _without_dangling_references(rows: Rows) -> Rows:
    """Leave out the references to records the catalog does not hold: a data set may name
    records it does not hold (the import warns of each), and an export or the API must not."""
    present = {(table, str(row["id"])) for table, table_rows in rows.items() for row in table_rows}
    pointing = [
        (row, key, (REFERENCES[key], str(row[key]).lower()))
        for table_rows in rows.values()
        for row in table_rows
        for key in row
        if key in REFERENCES and row[key] not in (None, "")
    ]
    elsewhere = {target for _row, _key, target in pointing if target not in present}
    held = await catalog_holds(elsewhere)
    for row, key, target in pointing:
        if target not in present and target not in held:
            del row[key]
    return rows


# Where the catalog holds each HSDS table's records besides the kept ones.
_MODELS: dict[str, type[Model]] = {
    "organization": Organization,
    "service": Service,
    "location": Location,
    "service_at_location": ServiceAtLocation,
    "phone": Phone,
}


async def catalog_holds(wanted: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (table, id) records the catalog holds: in caremap's own tables, among
    the records kept from imports, or as caremap's own taxonomy."""
    by_table: dict[str, set[str]] = defaultdict(set)
    for table, record_id in wanted:
        if is_uuid(record_id):
            by_table[table].add(record_id.lower())
    held = {("taxonomy", serialize.TAXONOMY_ID)} | {
        ("taxonomy_term", str(c.id)) for c in CATEGORIES
    }
    for table, ids in by_table.items():
        ids -= {i for t, i in held if t == table}
        for record in await select_in(KeptRecord, "record_id", sorted(ids), hsds_table=table):
            held.add((table, str(record.record_id)))
        if table in _MODELS:
            for row in await select_in(_MODELS[table], "id", sorted(ids)):
                held.add((table, str(row.id)))
    return held


# --- the nested JSON package --------------------------------------------------------------------

# Where each table's records nest: (parent table, the field naming the parent).
NESTING: dict[str, tuple[tuple[str, str], ...]] = {
    "service": (("organization", "organization_id"),),
    "location": (("organization", "organization_id"),),
    "program": (("organization", "organization_id"),),
    "organization_identifier": (("organization", "organization_id"),),
    "funding": (("service", "service_id"), ("organization", "organization_id")),
    "contact": (
        ("service", "service_id"),
        ("service_at_location", "service_at_location_id"),
        ("location", "location_id"),
        ("organization", "organization_id"),
    ),
    "phone": (
        ("service", "service_id"),
        ("location", "location_id"),
        ("service_at_location", "service_at_location_id"),
        ("contact", "contact_id"),
        ("organization", "organization_id"),
    ),
    "schedule": (
        ("service", "service_id"),
        ("service_at_location", "service_at_location_id"),
        ("location", "location_id"),
    ),
    "service_at_location": (("service", "service_id"),),
    "service_area": (("service", "service_id"),),
    "cost_option": (("service", "service_id"),),
    "required_document": (("service", "service_id"),),
    "language": (("service", "service_id"), ("location", "location_id"), ("phone", "phone_id")),
    "address": (("location", "location_id"),),
    "accessibility": (("location", "location_id"),),
    "attribute": (("*", "link_id"),),
    "metadata": (("*", "resource_id"),),
    "service_capacity": (("service", "service_id"),),
    "url": (("service", "service_id"), ("organization", "organization_id")),
}


def nest(rows: Rows) -> list[dict[str, Any]]:
    """The rows as an HSDS organization package: organizations with everything nested."""
    documents: dict[tuple[str, str], dict[str, Any]] = {}
    for table, table_rows in rows.items():
        for row in table_rows:
            documents[(table, row["id"])] = dict(row)
    by_id = {record_id: document for (_t, record_id), document in documents.items()}
    offered_by = {
        str(link.get("location_id")): documents.get(("service", str(link.get("service_id"))))
        for link in rows.get("service_at_location", [])
    }
    for (table, _record_id), document in documents.items():
        for parent_table, key in NESTING.get(table, ()):
            parent_id = document.get(key)
            if table == "location" and ("organization", str(parent_id)) not in documents:
                # A location naming an organization outside the data set goes with the
                # organization whose service is offered there, as caremap stores it.
                service = offered_by.get(document["id"])
                parent_id = service.get("organization_id") if service else None
            parent = (
                by_id.get(str(parent_id))
                if parent_table == "*"
                else documents.get((parent_table, str(parent_id)))
            )
            if parent is not None:
                parent.setdefault(LIST_KEY[table], []).append(document)
        for key, target, field in EMBEDDED.get(table, ()):
            embedded = documents.get((target, str(document.get(field))))
            if embedded is not None:
                document[key] = embedded
    return [documents[("organization", row["id"])] for row in rows.get("organization", [])]
