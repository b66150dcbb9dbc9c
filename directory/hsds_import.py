"""Importing an HSDS 3.0 data set into the catalog: all of it, or nothing and every error named.

The data set comes spooled to disk (`directory.hsds_spool`) and is taken a part at a time, each
part closed under references (an organization with everything of it), so memory holds one part
however large the data set. For each part a plan reads its records against the catalog and
caremap's field rules (`directory.schemas`, the same rules as a partner's own edit) and collects
every problem. Errors (the data set breaks HSDS, or a record caremap needs cannot be made) refuse
the whole import. Warnings (valid HSDS that caremap cannot use, such as a non-US postal code or a
geojson service area) let it go ahead: that value or record is kept as it came, so an export gives
it back, but caremap does not use it. Every part is written inside one transaction, recording
each change in the listing history (which also feeds the search outbox); after the first error
the rest is only checked, and the transaction is rolled back, so nothing is half-written.

Records are matched by their HSDS id, so importing the same data again changes nothing and a newer
version of it updates the catalog in place.
"""

import contextlib
import csv
import functools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from pypika_tortoise import Table
from tortoise.models import Model
from tortoise.transactions import in_transaction

from directory import access, details, hsds
from directory.actor import Actor
from directory.bulk import chunks, insert_rows, refresh_statistics, select_in
from directory.editing import record_change, record_changes
from directory.errors import DomainError, Invalid
from directory.geocoding import Geocoder, area_from_text, place_time_zone, time_zone
from directory.hsds_export import catalog_holds
from directory.hsds_package import Package, Problem, Record, is_uuid
from directory.hsds_parts import checked_elsewhere
from directory.hsds_spool import HELD_KEPT, HELD_ROW, PART_RECORDS, Spool
from directory.hsds_tables import REFERENCES, TABLES
from directory.models import (
    KeptRecord,
    Location,
    Organization,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    TaxonomyTerm,
)
from directory.schemas import (
    Input,
    LocationInput,
    OrganizationInput,
    PhoneInput,
    ScheduleInput,
    ServiceAreaInput,
    ServiceInput,
    validate,
)
from directory.taxonomy import BY_CODE, BY_ID, category_id

OUTCOMES = ("created", "updated", "unchanged", "skipped")
# Coordinates only make sense together: when one is unusable, neither is used.
_PAIRED = {"latitude": "longitude", "longitude": "latitude"}
_ADDRESS = ("address_1", "address_2", "city", "state_province", "postal_code", "country")


class ImportRefused(DomainError):
    """The data set has errors; nothing was written. `problems` names each one."""

    status = 422
    code = "import_refused"

    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if not p.warning]
        super().__init__(
            f"The data set has {len(errors)} error(s); nothing was written.",
            problems=[str(p) for p in errors],
        )
        self.problems = problems


@dataclass
class ImportReport:
    version: str = "3.0"  # what the data set was read as (HSDS 3.0, 3.1, 1.x/2.0, Ohana API)
    evidence: str = ""  # what in the data set said so
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    pending_geocodes: int = 0

    def count(self, table: str, outcome: str) -> None:
        self.counts.setdefault(table, Counter())[outcome] += 1

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total


# --- the taxonomy mapping file ------------------------------------------------------------------

TaxonomyMap = dict[str, str]


def read_taxonomy_map(path: Path) -> TaxonomyMap:
    """A CSV of `taxonomy,code,category` (or `term_id,category`) rows: another vocabulary's
    terms and the caremap category each one means. A blank taxonomy matches any vocabulary."""
    mapping: TaxonomyMap = {}
    problems: list[Problem] = []
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as error:
        raise ImportRefused([Problem(path.name, "file", f"cannot be read ({error})")]) from None
    for line, row in enumerate(rows, start=2):
        where = f"{path.name} row {line}"
        category = (row.get("category") or "").strip()
        if category not in BY_CODE:
            problems.append(Problem(where, "category", f"{category!r} is not a caremap category"))
        term_id = (row.get("term_id") or "").strip()
        code = (row.get("code") or "").strip()
        if not (term_id or code):
            problems.append(Problem(where, "code", "give a term code or a term_id"))
        key = term_id.lower() if term_id else _term_key((row.get("taxonomy") or "").strip(), code)
        mapping[key] = category
    if problems:
        raise ImportRefused(problems)
    return mapping


def _term_key(taxonomy: str, code: str) -> str:
    return f"{taxonomy.lower()}|{code.lower()}"


# --- planning -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Write:
    """One record to write: a caremap row (`model`) and the HSDS record kept beside it."""

    record: Record
    model: type[Model] | None
    values: dict[str, Any] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    organization_id: UUID | None = None
    service_id: UUID | None = None
    location_id: UUID | None = None
    categories: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.record.table, self.record.id)


def _modelled(writes: dict[tuple[str, str], _Write], table: str, record_id: Any) -> _Write | None:
    """The write of a record that becomes a caremap row, if the plan has one."""
    write = writes.get((table, str(record_id)))
    return write if write and write.model else None


@dataclass
class _Plan:
    package: Package
    taxonomy_map: TaxonomyMap
    default_category: str | None = None
    writes: dict[tuple[str, str], _Write] = field(default_factory=dict)
    skipped: set[tuple[str, str]] = field(default_factory=set)  # (table, id)
    existing: dict[str, dict[str, Any]] = field(default_factory=dict)
    _index: dict[tuple[str, str], dict[str, list[Record]]] = field(default_factory=dict)

    def linked(self, table: str, key: str, record_id: str) -> list[Record]:
        """The records of `table` whose `key` names `record_id` (indexed on first use)."""
        index = self._index.get((table, key))
        if index is None:
            index = self._index[(table, key)] = {}
            for record in self.package.records(table):
                if record.values.get(key) is not None:
                    index.setdefault(str(record.values[key]), []).append(record)
        return index.get(record_id, [])

    def modelled(self, table: str, record_id: Any) -> _Write | None:
        return _modelled(self.writes, table, record_id)

    def add(self, write: _Write) -> _Write:
        self.writes[(write.record.table, write.record.id)] = write
        return write

    def consumed(self, records: Iterable[Record], owner: dict[str, Any], unused: bool) -> None:
        """Records whose values went into another record's columns (languages, category
        attributes): an export lays the current values over them instead of repeating them."""
        for record in records:
            self.add(_Write(record, None, unused=["*"] if unused else [], **owner))

    def keep(self, record: Record, reason: str | None = None, **owner: UUID | None) -> _Write:
        """Keep a record caremap does not use (`unused` "*"), to export it as it came."""
        if reason:
            self.package.warn(record, "record", reason)
        return self.add(_Write(record, None, unused=["*"], **owner))


async def plan_import(
    package: Package,
    taxonomy_map: TaxonomyMap | None = None,
    default_category: str | None = None,
) -> _Plan:
    """What to write for one part of a data set (`directory.hsds_spool`), its problems named
    in the part. The catalog is asked only about records it held before the import began
    (`Record.held`) and ids the data set names but does not hold."""
    plan = _Plan(package, taxonomy_map or {}, default_category)
    named = _named_ids(package)
    part_ids = {record_id for records in package.tables.values() for record_id in records}
    models = {"organization": Organization, "service": Service, "location": Location}
    for table, model in models.items():
        ids = sorted(i for i in named[table] if _may_hold(package, table, i, part_ids))
        plan.existing[table] = {str(row.id): row for row in await select_in(model, "id", ids)}
    for record in package.records("organization"):
        _plan_organization(plan, record)
    services = [_plan_service(plan, record) for record in package.records("service")]
    for record in package.records("location"):
        _plan_location(plan, record)
    for write in services:
        if write is not None:
            _plan_service_links(plan, write)
    for record in package.records("phone"):
        _plan_phone(plan, record)
    for record in package.records("schedule"):
        _plan_schedule(plan, record)
    for record in package.records("service_area"):
        _plan_area(plan, record)
    for table in TABLES:
        for record in package.records(table):
            key = (table, record.id)
            if key not in plan.writes and key not in plan.skipped:
                plan.keep(record, **_owner_of(plan, record))
    await _warn_of_references_to_nothing(plan)
    return plan


async def _warn_of_references_to_nothing(plan: _Plan) -> None:
    """Name each reference to a record neither the data set nor the catalog holds (a contact's
    organization, a term's taxonomy): HSDS data sets do this, so it is a warning, not an error,
    and the export leaves the reference out rather than write one that points at nothing."""
    package = plan.package
    named = {(p.where, p.field) for p in package.problems}
    dangling: list[tuple[Record, str, str, str]] = []  # record, field, table, id
    for table in TABLES:
        for record in package.records(table):
            for key, value in record.values.items():
                target = REFERENCES.get(key)
                if (
                    target is not None
                    and is_uuid(value)
                    and package.get(target, value) is None
                    and (record.where, key) not in named
                ):
                    dangling.append((record, key, target, value.lower()))
    found = await catalog_holds((target, value) for _r, _k, target, value in dangling)
    for record, key, target, value in dangling:
        if (target, value) not in found:
            package.warn(
                record,
                key,
                f"names no {target} in the data set or the catalog; kept, and left out of exports",
            )


def _may_hold(package: Package, table: str, record_id: str, part_ids: set[str]) -> bool:
    """Whether the catalog may hold this row: it held this record of the part before the import
    began, or no record of the part has the id (a part holds every record of the data set its
    records name, so that one is not in the data set). Nothing else is asked about: on
    PostgreSQL a lookup in a table the import is filling can be planned as a scan of it."""
    record = package.get(table, record_id)
    if record is not None:
        return bool(record.held & HELD_ROW)
    return record_id not in part_ids


def _named_ids(package: Package) -> dict[str, set[str]]:
    """Every organization, service and location id the data set names, to look up at once."""
    named: dict[str, set[str]] = {"organization": set(), "service": set(), "location": set()}
    for table in TABLES:
        for record in package.records(table):
            if table in named:
                named[table].add(record.id)
            values = record.values
            for key in ("organization_id", "service_id", "location_id"):
                if key in values and is_uuid(values[key]):
                    named[key.removesuffix("_id")].add(values[key])
            for key in ("link_id", "resource_id"):
                if key in values and is_uuid(values[key]):
                    for ids in named.values():
                        ids.add(values[key])
    return named


def _pick(record: Record, names: Iterable[str]) -> dict[str, Any]:
    return {name: record.values[name] for name in names if record.values.get(name) is not None}


def _lenient(
    package: Package, record: Record, schema: type[Input], values: dict[str, Any]
) -> tuple[Input | None, list[str], dict[str, str]]:
    """Validate with caremap's rules, leaving unused (with a warning) any optional field that
    breaks them. Returns the valid input (or None), the unused fields and the fatal errors."""
    values, unused = dict(values), []
    while True:
        try:
            return validate(schema, values), unused, {}
        except Invalid as invalid:
            fatal = {}
            for name, message in invalid.fields.items():
                base = name.split(".")[0]
                required = schema.model_fields.get(base)
                if base not in values or (required and required.is_required()):
                    fatal[base] = message
                    continue
                values.pop(base)
                unused.append(base)
                package.warn(record, base, f"{message}; kept for export but not used by caremap")
                if (pair := _PAIRED.get(base)) in values:
                    values.pop(pair)
                    unused.append(pair)
                    package.warn(record, pair, f"not used without a usable {base}")
            if fatal:
                return None, unused, fatal


def _plan_organization(plan: _Plan, record: Record) -> None:
    values = _pick(record, OrganizationInput.model_fields)
    valid, unused, fatal = _lenient(plan.package, record, OrganizationInput, values)
    for name, message in fatal.items():
        plan.package.error(record, name, message)
    if valid is not None:
        columns = valid.values()
        columns.pop("referral_email")  # private: never taken from a shared data set
        plan.add(_Write(record, Organization, columns, unused, organization_id=UUID(record.id)))


def _organization_known(plan: _Plan, organization_id: Any) -> bool:
    """In the data set (and valid) or already in the catalog."""
    if not organization_id:
        return False
    return bool(plan.modelled("organization", organization_id)) or (
        str(organization_id) in plan.existing["organization"]
    )


def _plan_service(plan: _Plan, record: Record) -> _Write | None:
    package = plan.package
    organization_id = record.values.get("organization_id")
    if not organization_id:
        package.error(record, "organization_id", "required: the organization providing it")
        return None
    if not _organization_known(plan, organization_id):
        package.error(
            record, "organization_id", f"no organization {organization_id} in the data set"
        )
        return None
    categories = _categories(plan, record)
    if not categories and plan.default_category:
        categories = [plan.default_category]
        package.warn(
            record, "attributes", f"no caremap category; given the default, {categories[0]}"
        )
    if not categories:
        terms = _term_names(plan, record)
        package.warn(
            record,
            "attributes",
            f"no caremap category for its terms ({terms}): import again with "
            "--default-category CODE, or map the terms to categories with --taxonomy-map FILE "
            "(rows of taxonomy,code,category); service skipped, kept for export"
            if terms
            else "no taxonomy terms, so no caremap category: import again with "
            "--default-category CODE; service skipped, kept for export",
        )
        plan.skipped.add((record.table, record.id))
        plan.keep(record, organization_id=UUID(str(organization_id)))
        return None
    values = _pick(record, ServiceInput.model_fields)
    values["languages"] = [
        r.values["code"]
        for r in plan.linked("language", "service_id", record.id)
        if r.values.get("code")
    ]
    values["categories"] = categories
    valid, unused, fatal = _lenient(package, record, ServiceInput, values)
    for name, message in fatal.items():
        package.error(record, name, message)
    if valid is None:
        return None
    columns = valid.values()
    owner = {"organization_id": UUID(str(organization_id)), "service_id": UUID(record.id)}
    columns["organization_id"] = owner["organization_id"]
    columns["last_verified_at"] = hsds.assured_at(record.values)
    _languages(plan, plan.linked("language", "service_id", record.id), owner, "languages" in unused)
    plan.consumed(
        [a for a in plan.linked("attribute", "link_id", record.id) if _caremap_term(a)],
        owner,
        unused=False,
    )
    categories = columns.pop("categories")
    return plan.add(_Write(record, Service, columns, unused, categories=categories, **owner))


def _caremap_term(attribute: Record) -> bool:
    term_id = str(attribute.values.get("taxonomy_term_id") or "")
    return is_uuid(term_id) and UUID(term_id) in BY_ID


def _categories(plan: _Plan, record: Record) -> list[str]:
    """caremap categories from the service's attributes: caremap's own terms, or other
    vocabularies' terms through the mapping file."""
    codes = []
    for attribute in plan.linked("attribute", "link_id", record.id):
        term_id = str(attribute.values.get("taxonomy_term_id") or "").lower()
        category = BY_ID.get(UUID(term_id)) if is_uuid(term_id) else None
        code = category.code if category else plan.taxonomy_map.get(term_id)
        term = plan.package.get("taxonomy_term", term_id)
        if code is None and term is not None:
            term_code = str(term.values.get("code") or "")
            taxonomy = str(term.values.get("taxonomy") or "")
            code = plan.taxonomy_map.get(_term_key(taxonomy, term_code)) or plan.taxonomy_map.get(
                _term_key("", term_code)
            )
            if code is None and taxonomy == "caremap" and term_code in BY_CODE:
                code = term_code
        if code and code not in codes:
            codes.append(code)
    return codes


def _term_names(plan: _Plan, record: Record) -> str:
    """A service's taxonomy terms as the data set names them (code or name), for a report."""
    names = []
    for attribute in plan.linked("attribute", "link_id", record.id):
        term = plan.package.get("taxonomy_term", attribute.values.get("taxonomy_term_id"))
        values = term.values if term else {}
        names.append(
            str(
                values.get("code") or values.get("name") or attribute.values.get("taxonomy_term_id")
            )
        )
    return ", ".join(dict.fromkeys(names))


def _plan_location(plan: _Plan, record: Record) -> None:
    package = plan.package
    organization_id = record.values.get("organization_id")
    if not organization_id or not _organization_known(plan, organization_id):
        links = plan.linked("service_at_location", "location_id", record.id)
        offered = [plan.modelled("service", link.values.get("service_id")) for link in links]
        owner = next((w.organization_id for w in offered if w), None)
        skipped = [
            str(link.values.get("service_id"))
            for link in links
            if ("service", str(link.values.get("service_id"))) in plan.skipped
        ]
        if owner is None and skipped:
            plan.keep(
                record,
                f"no organization {organization_id or '(none)'} in the data set, and the "
                f"services offered here ({', '.join(skipped)}) were skipped for want of a "
                "category (see their warnings); location kept for export but not used",
            )
            return
        if owner is None:
            package.error(
                record,
                "organization_id",
                "names no organization in the data set, and no service in it is offered here",
            )
            return
        package.warn(
            record,
            "organization_id",
            f"no organization {organization_id or '(none)'} in the data set; the location "
            f"belongs to {owner}, whose service is offered here",
        )
        organization_id, borrowed = owner, True
    else:
        borrowed = False
    values = _pick(
        record,
        ["name", "description", "location_type", "url", "transportation", "latitude", "longitude"],
    )
    if values.get("location_type") == "postal":
        values["location_type"] = "physical"
    addresses = plan.linked("address", "location_id", record.id)
    address = next((a for a in addresses if a.values.get("address_type") == "physical"), None)
    address = address or (addresses[0] if addresses else None)
    if address:
        values.update(_pick(address, _ADDRESS))
    access_rows = plan.linked("accessibility", "location_id", record.id)
    if access_rows and access_rows[0].values.get("description"):
        values["accessibility"] = access_rows[0].values["description"]
    valid, unused, fatal = _lenient(package, record, LocationInput, values)
    if list(fatal) == ["postal_code"] and "postal_code" not in values:
        # Nowhere to place it (no address, ZIP code or coordinates): real data sets have such
        # locations, and caremap cannot map or search them, so they are kept, not refused.
        plan.keep(
            record,
            "no address, ZIP code or coordinates, which caremap needs to place a location "
            "(HSDS does not require them); location kept for export but not used",
        )
        return
    for name, message in fatal.items():
        package.error(record, name, message)
    if valid is None:
        return
    owner = {"organization_id": UUID(str(organization_id)), "location_id": UUID(record.id)}
    columns = {**valid.values(), "organization_id": owner["organization_id"]}
    unused = [*unused, "organization_id"] if borrowed else unused
    plan.add(_Write(record, Location, columns, unused, **owner))
    # The address and accessibility rows caremap took its columns from; any others are kept.
    if address:
        plan.add(_Write(address, None, unused=[u for u in unused if u in _ADDRESS], **owner))
    if access_rows:
        plan.add(_Write(access_rows[0], None, **owner))


def _plan_service_links(plan: _Plan, service: _Write) -> None:
    for record in plan.linked("service_at_location", "service_id", service.record.id):
        location_id = record.values.get("location_id")
        location = plan.modelled("location", location_id)
        organization_id = location.organization_id if location else None
        if location is None and str(location_id) in plan.existing["location"]:
            organization_id = plan.existing["location"][str(location_id)].organization_id
        owner = {"organization_id": service.organization_id, "service_id": service.service_id}
        if organization_id is None and plan.package.get("location", location_id) is not None:
            plan.keep(record, "its location is kept but not used (see its warning); link kept")
        elif organization_id is None:
            plan.package.error(record, "location_id", f"no location {location_id} in the data set")
        elif organization_id != service.organization_id:
            plan.keep(
                record,
                "caremap links a service only to its own organization's "
                "locations; link kept for export but not used",
                **owner,
            )
        else:
            values = {
                "service_id": service.service_id,
                "location_id": UUID(str(location_id)),
                "description": record.values.get("description"),
            }
            plan.add(_Write(record, ServiceAtLocation, values, **owner))


def _service_of(plan: _Plan, record: Record) -> _Write | None:
    return plan.modelled("service", record.values.get("service_id"))


def _plan_part(
    plan: _Plan,
    record: Record,
    model: type[Model],
    schema: type[Input],
    service: _Write | None,
    values: dict[str, Any] | None = None,
    owner: dict[str, Any] | None = None,
) -> None:
    """A phone, schedule or service area: used when caremap's rules allow, else kept."""
    if service is None and owner is None:
        return
    owner = owner or {"organization_id": service.organization_id, "service_id": service.service_id}
    if values is None:
        values = _pick(record, schema.model_fields)
    valid, unused, fatal = _lenient(plan.package, record, schema, values)
    if valid is None:
        reason = "; ".join(f"{k}: {v}" for k, v in fatal.items())
        plan.keep(record, f"{reason}; kept for export but not used by caremap", **owner)
        return
    links = {k: v for k, v in owner.items() if k in ("service_id", "location_id")}
    plan.add(_Write(record, model, {**valid.values(), **links}, unused, **owner))


def _plan_area(plan: _Plan, record: Record) -> None:
    """A service area: caremap uses one that names a ZIP code, county or state. HSDS leaves
    `extent_type` optional, so one given only in words ("San Mateo County") is read from them."""
    service = _service_of(plan, record)
    if service is None:
        return
    values = _pick(record, ServiceAreaInput.model_fields)
    if not values.get("extent_type"):
        words = str(values.get("extent") or values.get("name") or "")
        found = area_from_text(words, _service_state(plan, service))
        if found is None:
            owner = {"organization_id": service.organization_id, "service_id": service.service_id}
            plan.keep(
                record,
                f"caremap uses a service area that names a ZIP code, a county or a state "
                f"(extent_type postal_code, county or state, which HSDS leaves optional); "
                f"{words!r} names none it knows; kept for export but not used",
                **owner,
            )
            return
        values["extent_type"], values["extent"], state = found
        if state:
            values["state_province"] = state
    values.setdefault("name", values.get("extent"))
    _plan_part(plan, record, ServiceArea, ServiceAreaInput, service, values)


def _service_state(plan: _Plan, service: _Write) -> str | None:
    """The state of a service's first location with one, to read "Orange County" by."""
    for link in plan.linked("service_at_location", "service_id", service.record.id):
        for address in plan.linked("address", "location_id", str(link.values.get("location_id"))):
            state = str(address.values.get("state_province") or "").strip().upper()
            if len(state) == 2:
                return state
    return None


def _plan_phone(plan: _Plan, record: Record) -> None:
    service = _service_of(plan, record)
    location = plan.modelled("location", record.values.get("location_id"))
    values = _pick(record, ("number", "extension", "type", "description"))
    if isinstance(values.get("number"), str):
        values["number"] = values["number"].strip().strip("\"'")  # spreadsheet quoting
    values["languages"] = [
        r.values["code"]
        for r in plan.linked("language", "phone_id", record.id)
        if r.values.get("code")
    ]
    if service is not None:
        owner = {"organization_id": service.organization_id, "service_id": service.service_id}
        if location is not None:
            owner["location_id"] = location.location_id
    elif location is not None:
        owner = {"organization_id": location.organization_id, "location_id": location.location_id}
    else:
        return
    _plan_part(plan, record, Phone, PhoneInput, service, values, owner)
    write = plan.modelled("phone", record.id)
    languages = plan.linked("language", "phone_id", record.id)
    _languages(plan, languages, owner, write is None or "languages" in write.unused)


def _languages(plan: _Plan, languages: list[Record], owner: dict[str, Any], unused: bool) -> None:
    """Languages went into their service's or phone's codes; one with no code (a name only)
    had nothing to go in, so it is kept whole and exported as it came."""
    plan.consumed([r for r in languages if r.values.get("code")], owner, unused)
    for record in languages:
        if not record.values.get("code"):
            plan.keep(record, **owner)


def _plan_schedule(plan: _Plan, record: Record) -> None:
    link = plan.modelled("service_at_location", record.values.get("service_at_location_id"))
    if link is None and not record.values.get("service_id"):
        link = _only_service_at(plan, record.values.get("location_id"))
    service = plan.modelled("service", link.service_id) if link else _service_of(plan, record)
    if service is None:
        return
    values = _pick(record, ScheduleInput.model_fields)
    for name in ("opens_at", "closes_at"):
        if isinstance(values.get(name), str) and len(values[name]) == 8:
            values[name] = values[name][:5]  # HH:MM:SS
    if not values.get("timezone_name"):
        values["timezone_name"] = _schedule_zone(plan, record, link, service)
    owner = {"organization_id": service.organization_id, "service_id": service.service_id}
    _plan_part(plan, record, Schedule, ScheduleInput, service, values, owner)
    write = plan.modelled("schedule", record.id)
    if write is not None:
        write.values["service_id"] = None if link else service.service_id
        write.values["service_at_location_id"] = UUID(link.record.id) if link else None


def _only_service_at(plan: _Plan, location_id: Any) -> _Write | None:
    """The one service offered at a location, as its link: a location's hours (the Ohana API
    keeps hours on locations) are that service's hours there. With several, they stay kept."""
    if not location_id:
        return None
    links = [
        plan.modelled("service_at_location", link.id)
        for link in plan.linked("service_at_location", "location_id", str(location_id))
    ]
    found = [link for link in links if link is not None]
    return found[0] if len(found) == 1 else None


def _schedule_zone(plan: _Plan, record: Record, link: _Write | None, service: _Write) -> str:
    """A schedule's time zone when the data set names none (`timezone_name` is caremap's own):
    its location's (from the address's ZIP code, state or country) if that agrees with the UTC
    offset HSDS `timezone` gives, else a zone of that offset; with neither, UTC, as HSDS assumes."""
    place = _place_zone(plan, link, service)
    offset = record.values.get("timezone")
    if isinstance(offset, int | float) and not isinstance(offset, bool):
        if place and offset in _offsets(place):
            return place
        if float(offset).is_integer() and -12 <= offset <= 14:
            return "UTC" if offset == 0 else f"Etc/GMT{-int(offset):+d}"  # Etc's sign is reversed
        plan.package.warn(
            record, "timezone", f"{offset} is not a whole number of hours; {place or 'UTC'} used"
        )
        return place or "UTC"
    if place:
        return place
    plan.package.warn(
        record, "timezone", "no time zone and no location to take one from: UTC, as HSDS assumes"
    )
    return "UTC"


def _place_zone(plan: _Plan, link: _Write | None, service: _Write) -> str | None:
    """The time zone of where a schedule applies: its location, or its service's first."""
    if link is not None:
        location_ids = [str(link.record.values.get("location_id"))]
    else:
        links = plan.linked("service_at_location", "service_id", service.record.id)
        location_ids = [str(r.values.get("location_id")) for r in links]
    for location_id in location_ids:
        for address in plan.linked("address", "location_id", location_id):
            zone = place_time_zone(*(address.values.get(k) for k in _PLACE))
            if zone:
                return zone
        known = plan.existing["location"].get(location_id)
        if known is not None and (zone := place_time_zone(*(getattr(known, k) for k in _PLACE))):
            return zone
    return None


_PLACE = ("postal_code", "state_province", "country")


def _offsets(zone: str) -> set[float]:
    """A zone's UTC offsets in hours, in winter and in summer."""
    year = datetime.now(UTC).year
    return {
        datetime(year, month, 1, tzinfo=time_zone(zone)).utcoffset().total_seconds() / 3600  # type: ignore[union-attr]
        for month in (1, 7)
    }


def _owner_of(plan: _Plan, record: Record) -> dict[str, UUID | None]:
    """The organization, service and location a kept record goes with (deleted with them)."""
    values = record.values
    owner: dict[str, UUID | None] = {}
    linked = values.get("link_id") or values.get("resource_id")
    for table, key in (("service", "service_id"), ("location", "location_id")):
        target = values.get(key) or linked
        write = plan.modelled(table, target)
        if write is not None:
            owner[key] = UUID(write.record.id)
            owner["organization_id"] = write.organization_id
        elif target and str(target) in plan.existing[table]:
            owner[key] = UUID(str(target))
            owner["organization_id"] = plan.existing[table][str(target)].organization_id
    organization = values.get("organization_id") or linked
    if "organization_id" not in owner and _organization_known(plan, organization):
        owner["organization_id"] = UUID(str(organization))
    return owner


# --- writing ------------------------------------------------------------------------------------

# Tables a part's writes look rows up in (its search outbox listener, its categories) while the
# import fills them.
_LOOKED_UP = (
    Service._meta.db_table,
    ServiceAtLocation._meta.db_table,
    Service._meta.fields_map["categories"].through,
)

# The caremap rows an import writes, in the order they are written (what a row names first).
_WRITE_ORDER: dict[str, type[Model]] = {
    "organization": Organization,
    "location": Location,
    "service": Service,
    "service_at_location": ServiceAtLocation,
    "phone": Phone,
    "schedule": Schedule,
    "service_area": ServiceArea,
}


async def import_package(
    source: Spool | Package,
    *,
    actor: Actor | None,
    geocoder: Geocoder,
    taxonomy_map: TaxonomyMap | None = None,
    default_category: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    part_size: int = PART_RECORDS,
    database: dict[str, Any] | None = None,
) -> ImportReport:
    """Check the data set and, if it has no errors, write it in one transaction.

    The data set is checked and written a part at a time (`Spool.parts`), inside the one
    transaction: once a part has an error nothing more is written, the rest is only checked so
    that every error is named, and the transaction is rolled back. Services whose terms map to
    no caremap category get `default_category`, or are skipped. Raises `ImportRefused` naming
    every error. `progress` is called with the number of records checked (and written).

    With `database` (the catalog's Tortoise config), a second process checks the next parts
    while this one writes (`directory.hsds_parts`); the result is the same.
    """
    actor = access.require_admin(actor)
    if default_category is not None and default_category not in BY_CODE:
        raise Invalid({"default_category": f"{default_category!r} is not a caremap category"})
    await _check_terms_loaded()
    check = functools.partial(
        check_part,
        geocoder=geocoder.deferring(),
        taxonomy_map=taxonomy_map or {},
        default_category=default_category,
    )
    with contextlib.ExitStack() as stack:
        spool = source if isinstance(source, Spool) else stack.enter_context(Spool.of(source))
        await _mark_held(spool)
        report = ImportReport(version=spool.version, evidence=spool.evidence)
        problems = list(spool.problems)
        if dry_run:
            for part in spool.parts(part_size):
                checked = await check(part)
                _take(checked, problems, report, count="checked", progress=progress)
        else:
            async with (
                in_transaction(),
                contextlib.aclosing(_checked_parts(spool, part_size, check, database)) as parts,
            ):
                number = 0
                async for checked in parts:
                    if _take(checked, problems, report, progress=progress):
                        await _write_plan(checked, actor, report)
                    number += 1
                    if number & (number - 1) == 0:  # 1, 2, 4, 8...: within 2x of the truth
                        await refresh_statistics(Service._meta.db, _LOOKED_UP)
                if _any_error(problems):
                    raise ImportRefused(problems)  # rolls the transaction back
    if _any_error(problems):
        raise ImportRefused(problems)
    report.warnings = [p for p in problems if p.warning]
    return report


def _any_error(problems: list[Problem]) -> bool:
    return any(not problem.warning for problem in problems)


@dataclass(slots=True)
class _Checked:
    """One part checked and planned: what writing it needs. It may come from the process
    that checks parts while this one writes (`directory.hsds_parts`), so it holds plain
    values, not the part or the catalog's rows."""

    writes: dict[tuple[str, str], _Write]
    skipped: set[tuple[str, str]]
    problems: list[Problem]
    size: int  # records in the part

    def modelled(self, table: str, record_id: Any) -> _Write | None:
        return _modelled(self.writes, table, record_id)


async def check_part(
    part: Package,
    *,
    geocoder: Geocoder,
    taxonomy_map: TaxonomyMap,
    default_category: str | None,
) -> _Checked:
    """Check and plan one part of a data set, its locations placed (`geocoder` defers the
    provider, so nothing waits on the network)."""
    plan = await plan_import(part, taxonomy_map, default_category)
    if not _any_error(part.problems):
        for planned in plan.writes.values():
            if planned.model is Location:
                await _place(planned, plan, geocoder)
    size = sum(len(records) for records in part.tables.values())
    return _Checked(plan.writes, plan.skipped, part.problems, size)


def _checked_parts(
    spool: Spool,
    size: int,
    check: Callable[[Package], Awaitable[_Checked]],
    database: dict[str, Any] | None,
) -> AsyncIterator[_Checked]:
    """Each part checked: in a second process while this one writes (`database`, the
    catalog's Tortoise config), or here, one part after the other."""
    if database is not None:
        return checked_elsewhere(spool, size, check, database)
    return _checked_here(spool, size, check)


async def _checked_here(
    spool: Spool, size: int, check: Callable[[Package], Awaitable[_Checked]]
) -> AsyncIterator[_Checked]:
    for part in spool.parts(size):
        yield await check(part)


def _take(
    checked: _Checked,
    problems: list[Problem],
    report: ImportReport,
    *,
    count: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> bool:
    """Add a checked part's problems to `problems` and its outcomes known before writing to
    the report; True while no part (this one included) has had an error, so it may be
    written."""
    problems.extend(checked.problems)
    if progress:
        progress(checked.size)
    if _any_error(problems):
        return False
    for table, _record_id in checked.skipped:
        report.count(table, "skipped")
    if count:
        for planned in checked.writes.values():
            report.count(planned.record.table, count)
    return True


async def _write_plan(plan: _Checked, actor: Actor, report: ImportReport) -> None:
    """Write one part: its rows table by table, their history, the parts a record no longer
    lists removed, and every record kept as it came."""
    there = _already_there(plan)
    changes: list[dict[str, Any]] = []
    for table in _WRITE_ORDER:
        writes = [w for w in plan.writes.values() if w.record.table == table and w.model]
        for batch in chunks(writes):
            for outcome in await _write_rows(batch, there[table], changes):
                report.count(table, outcome)
    # The part's history at once: its listeners (the search outbox) hear each listing once.
    await record_changes(actor, changes)
    await _remove_parts_left_out(plan, actor, there)
    for batch in chunks(list(plan.writes.values())):
        for write, outcome in zip(batch, await _keep(batch, there), strict=True):
            if write.model is None and write.key not in plan.skipped:
                report.count(write.record.table, outcome)
    report.pending_geocodes += sum(
        1
        for w in plan.writes.values()
        if w.model is Location and w.values.get("geocode_status") == "pending"
    )


async def _check_terms_loaded() -> None:
    if not await TaxonomyTerm.exists():
        raise Invalid({"taxonomy": "the taxonomy is not loaded; run `caremap db upgrade`"})


async def _place(write: _Write, plan: _Plan, geocoder: Geocoder) -> None:
    """Coordinates for a location without them: its ZIP centroid now, the provider later."""
    current = plan.existing["location"].get(write.record.id)
    given = write.values.get("latitude") is not None
    if (
        not given
        and current is not None
        and all(getattr(current, k) == write.values.get(k) for k in _ADDRESS if k in write.values)
        and current.latitude is not None
    ):
        write.values.update(
            latitude=current.latitude,
            longitude=current.longitude,
            geocode_status=current.geocode_status,
            geocode_source=current.geocode_source,
        )
        return
    write.values.update(await details.placement(write.values, geocoder))


async def _mark_held(spool: Spool) -> None:
    """Note in the spool which of the data set's records the catalog holds, asked before
    anything is written.

    Written batches then read back only rows that were there before. Looking up each batch in
    tables the import is filling would make PostgreSQL plan for the tables as they were at the
    start (empty, on a first import) and scan them whole, batch after batch.
    """
    for table in sorted(spool.table_names()):
        model = _WRITE_ORDER.get(table)
        any_kept = await KeptRecord.filter(hsds_table=table).exists()
        any_rows = model is not None and await model.exists()
        if not (any_kept or any_rows):
            continue  # a first import: nothing to ask about record by record
        for ids in spool.ids(table, 1_000):
            uuids = [UUID(record_id) for record_id in ids]
            if any_kept:
                kept = KeptRecord.filter(hsds_table=table, record_id__in=uuids)
                held = await kept.values_list("record_id", flat=True)
                spool.mark_held(table, (str(record_id) for record_id in held), HELD_KEPT)
            if any_rows and model is not None:
                rows = await model.filter(id__in=uuids).values_list("id", flat=True)
                spool.mark_held(table, (str(row_id) for row_id in rows), HELD_ROW)


def _already_there(plan: _Checked) -> dict[str, set[UUID]]:
    """The ids of a part's records the catalog held before the import, per table (and per HSDS
    table, kept, under "kept:" + table)."""
    there: dict[str, set[UUID]] = {table: set() for table in _WRITE_ORDER}
    for write in plan.writes.values():
        record = write.record
        there.setdefault(f"kept:{record.table}", set())
        if record.held & HELD_KEPT:
            there[f"kept:{record.table}"].add(UUID(record.id))
        if record.held & HELD_ROW and record.table in there:
            there[record.table].add(UUID(record.id))
    return there


async def _write_rows(
    batch: Sequence[_Write], there: set[UUID], changes: list[dict[str, Any]]
) -> list[str]:
    """Write one table's records: new rows in one bulk insert, changed rows one update each.
    Adds each change to `changes` (for the listing history) and returns each record's outcome,
    in order."""
    model, table = batch[0].model, batch[0].record.table
    assert model is not None
    ids = [UUID(write.record.id) for write in batch]
    before = [row_id for row_id in ids if row_id in there]
    current = {row.id: row for row in await model.filter(id__in=before)} if before else {}
    if table == "service" and current:
        await model.fetch_for_list(list(current.values()), "categories")
    created: list[dict[str, Any]] = []
    categorized: dict[UUID, list[str]] = {}
    outcomes: list[str] = []
    for write, row_id in zip(batch, ids, strict=True):
        row = current.get(row_id)
        if row is None:
            created.append({"id": row_id, **write.values})
            changed: list[str] = []
            outcomes.append("created")
            if table == "service":
                categorized[row_id] = write.categories
        else:
            changed = [k for k, v in write.values.items() if _differs(getattr(row, k), v)]
            if table == "service" and sorted(t.code for t in row.categories) != sorted(
                write.categories
            ):
                changed.append("categories")
                categorized[row_id] = write.categories
            if not changed:
                outcomes.append("unchanged")
                continue
            values = {k: write.values[k] for k in changed if k in write.values}
            if hasattr(row, "version"):
                values["version"] = row.version + 1
            await model.filter(id=row_id).update(**values)
            outcomes.append("updated")
        changes.append(
            {
                "organization_id": write.organization_id,
                "service_id": write.service_id,
                "entity": table,
                "entity_id": row_id,
                "action": "import",
                "changed_fields": changed,
            }
        )
    await insert_rows(model, created)
    await _set_categories(categorized)
    return outcomes


async def _set_categories(categorized: dict[UUID, list[str]]) -> None:
    """Give services exactly these categories, in two statements for the whole batch."""
    if not categorized:
        return
    relation = Service._meta.fields_map["categories"]
    through = Table(relation.through)
    service_key, term_key = through[relation.backward_key], through[relation.forward_key]
    db = Service._meta.db
    service_pk = Service._meta.pk.to_db_value
    services = [service_pk(service_id, None) for service_id in categorized]
    await db.execute_query(
        *db.query_class.from_(through).where(service_key.isin(services)).delete()
        .get_parameterized_sql()
    )  # fmt: skip
    insert = db.query_class.into(through).columns(service_key, term_key)
    pairs = [
        (service_pk(service_id, None), service_pk(category_id(code), None))
        for service_id, codes in categorized.items()
        for code in dict.fromkeys(codes)
    ]
    if pairs:
        for service, term in pairs:
            insert = insert.insert(service, term)
        await db.execute_query(*insert.get_parameterized_sql())


def _differs(current: Any, new: Any) -> bool:
    if hasattr(current, "value"):
        current = current.value
    if hasattr(new, "value"):
        new = new.value
    if isinstance(current, datetime) and isinstance(new, datetime):
        return current.astimezone(UTC) != new.astimezone(UTC)
    return current != new


async def _remove_parts_left_out(plan: _Checked, actor: Actor, there: dict[str, set[UUID]]) -> None:
    """A service or location in the data set is the whole record: parts it no longer lists go.
    Only a record that was in the catalog before (`there`) can have such parts."""
    owners = {
        UUID(w.record.id): w.organization_id
        for w in plan.writes.values()
        if w.model in (Service, Location)
    }
    services = [k for k in owners if plan.modelled("service", k) and k in there["service"]]
    locations = [k for k in owners if plan.modelled("location", k) and k in there["location"]]
    links = await select_in(ServiceAtLocation, "service_id", services)
    service_of_link = {link.id: link.service_id for link in links}
    left_out = [
        ("phone", await select_in(Phone, "service_id", services)),
        ("phone", await select_in(Phone, "location_id", locations, service_id=None)),
        ("schedule", await select_in(Schedule, "service_id", services)),
        ("schedule", await select_in(Schedule, "service_at_location_id", list(service_of_link))),
        ("service_area", await select_in(ServiceArea, "service_id", services)),
        # Links last: removing one takes its schedules with it.
        ("service_at_location", links),
    ]
    for table, rows in left_out:
        for row in rows:
            if plan.modelled(table, row.id):
                continue
            service_id = getattr(row, "service_id", None) or service_of_link.get(
                getattr(row, "service_at_location_id", None)
            )
            await row.delete()
            await record_change(
                actor=actor,
                organization_id=owners[service_id or row.location_id],
                service_id=service_id,
                entity=table,
                entity_id=row.id,
                action="delete",
            )


async def _keep(batch: Sequence[_Write], there: dict[str, set[UUID]]) -> list[str]:
    """Keep each record as it came (new ones in one bulk insert); returns each one's outcome."""
    current: dict[tuple[str, UUID], KeptRecord] = {}
    tables: dict[str, list[UUID]] = {}
    for write in batch:
        record_id = UUID(write.record.id)
        if record_id in there[f"kept:{write.record.table}"]:
            tables.setdefault(write.record.table, []).append(record_id)
    for table, ids in tables.items():
        for row in await KeptRecord.filter(hsds_table=table, record_id__in=ids):
            current[(table, row.record_id)] = row
    new: list[dict[str, Any]] = []
    outcomes: list[str] = []
    for write in batch:
        record = write.record
        values = {
            "data": record.values,
            "unused": write.unused,
            "organization_id": write.organization_id,
            "service_id": write.service_id,
            "location_id": write.location_id,
        }
        row = current.get((record.table, UUID(record.id)))
        if row is None:
            new.append({"hsds_table": record.table, "record_id": UUID(record.id), **values})
            outcomes.append("created")
        elif all(not _differs(getattr(row, k), v) for k, v in values.items()):
            outcomes.append("unchanged")
        else:
            await KeptRecord.filter(id=row.id).update(**values)
            outcomes.append("updated")
    await insert_rows(KeptRecord, new)
    return outcomes
