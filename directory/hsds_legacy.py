"""Older data sets read as HSDS 3.0 records: Open Referral HSDS 1.x and 2.0 CSV packages and the
Ohana API's CSV files, so a directory moving to caremap imports what it has as it is.

Each old file maps to a 3.0 table with some columns renamed (`FileMap`); the fields that changed
shape (weekday numbers, comma-separated lists, address lines 3 and 4, a service's one location
in Ohana, eligibility in its own file) are converted by the functions below. Ids that are not
UUIDs become UUIDs derived from the format, table and source id: the same every time, so
importing the data again updates in place. The source id stays in the kept record
(`source_id`). A column with no 3.0 home is named in a warning and kept with its record, and a
file with no 3.0 table is named in a warning; nothing is dropped without a word.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from babel import Locale

from directory.hsds_tables import DATES, REFERENCES, SOURCE_FIELDS, SOURCE_ID, TABLES

Emit = Callable[[str, dict[str, Any]], None]  # adds another 3.0 record (table, values)
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # HSDS 1.x: 1 = Monday, 7 = Sunday


@dataclass(frozen=True)
class FileMap:
    table: str
    renamed: dict[str, str] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)  # values every record of it takes
    convert: Callable[["Reading", dict[str, Any], Emit], None] | None = None
    derived: frozenset[str] = frozenset()  # columns dropped without a warning: 3.0 derives them
    private: frozenset[str] = frozenset()  # columns never imported (staff addresses)
    # Whose ids these are, when two files fill one table (mail addresses beside addresses):
    # ids are derived within it, so "1" in each stays two records.
    id_space: str = ""


@dataclass(frozen=True)
class Format:
    key: str
    name: str
    files: dict[str, FileMap]
    unmapped: dict[str, str]  # files with no 3.0 table, and why


@dataclass
class Reading:
    """One old data set being read: its format, and the records that need others to finish."""

    format: Format
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    eligibility: dict[str, list[str]] = field(default_factory=dict)
    located: dict[str, str] = field(default_factory=dict)  # Ohana service -> its location
    location_owner: dict[str, str] = field(default_factory=dict)  # source ids

    def id(self, table: str, raw: Any) -> str:
        """A UUID for a source id: as given when it is one, else derived, stable."""
        text = str(raw).strip()
        if re.fullmatch(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", text):
            return text.lower()
        return str(uuid5(NAMESPACE_URL, f"caremap:{self.format.key}:{table}:{text}"))


# --- conversions --------------------------------------------------------------------------------


def _items(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


@cache
def _language_codes() -> dict[str, str]:
    english = Locale("en").languages
    return {name.lower(): code for code, name in english.items() if "_" not in code}


def language_record(name_or_code: str, **owner: str) -> dict[str, Any]:
    """A 3.0 language from an old field that held a code or an English name."""
    codes = _language_codes()
    text = name_or_code.strip()
    if text.lower() in Locale("en").languages:
        return {"code": text.lower(), "name": Locale("en").languages[text.lower()], **owner}
    code = codes.get(text.lower())
    return {"name": text, **({"code": code} if code else {}), **owner}


def _languages(owner_key: str, column: str) -> Callable[[Reading, dict[str, Any], Emit], None]:
    def convert(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
        for index, item in enumerate(_items(values.pop(column, None))):
            emit(
                "language",
                {
                    "id": f"{values['id']}:{column}:{index}",
                    **language_record(item, **{owner_key: values["id"]}),
                },
            )

    return convert


def _address(kind: str) -> Callable[[Reading, dict[str, Any], Emit], None]:
    def convert(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
        lines = [values.pop(k, None) for k in ("address_2", "address_3", "address_4")]
        if any(lines):
            values["address_2"] = ", ".join(str(line) for line in lines if line)
        values["address_type"] = kind

    return convert


def _weekly(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    """A 1.x regular schedule (one weekday's hours) as a 3.0 weekly schedule."""
    day = str(values.pop("weekday", "")).strip()
    by_name = {name.lower(): code for code, name in zip(WEEKDAYS, _DAY_NAMES, strict=True)}
    if day.isdigit() and 1 <= int(day) <= 7:
        values["byday"] = WEEKDAYS[int(day) - 1]
    elif day.lower() in by_name:
        values["byday"] = by_name[day.lower()]
    elif day:
        values["weekday"] = day  # kept and named: not a day caremap reads
    values["freq"] = "WEEKLY"
    _clock(values)


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _clock(values: dict[str, Any]) -> None:
    """Times as HH:MM: "9:00", "9am" and "4:00 PM" are how older data sets wrote them."""
    for key in ("opens_at", "closes_at"):
        text = str(values.get(key) or "").strip().lower()
        match = re.fullmatch(r"(\d{1,2})(?::(\d\d))?(?::\d\d)?\s*(?:([ap])\.?m\.?)?", text)
        if not match:
            continue
        hour, minute, half = int(match.group(1)), match.group(2) or "00", match.group(3)
        if half:
            hour = hour % 12 + (12 if half == "p" else 0)
        elif match.group(2) is None:
            continue  # a bare number is not a time
        if hour < 24:
            values[key] = f"{hour:02d}:{minute}"


def _holiday(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    """A 1.x holiday schedule as a 3.0 schedule valid for its dates."""
    for old, new in (("start_date", "valid_from"), ("end_date", "valid_to")):
        day = _date(values.pop(old, None))
        if day:
            values[new] = day
    closed = str(values.pop("closed", "")).lower() == "true"
    values["description"] = "Closed (holiday)" if closed else "Holiday hours"
    if closed:
        values.pop("opens_at", None)
        values.pop("closes_at", None)
    _clock(values)


def _date(raw: Any) -> str | None:
    text = str(raw or "").strip()
    for form in ("%Y-%m-%d", "%B %d, %Y", "%m/%d/%Y"):
        try:
            day = datetime.strptime(text, form).date()
        except ValueError:
            continue
        return day.isoformat() if day.year > 1 else None  # Ohana writes 0001 for "every year"
    return None


def _service_terms(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    for term in _items(values.pop("taxonomy_ids", None)):
        emit(
            "attribute",
            {
                "id": f"{values['id']}:term:{term}",
                "link_id": values["id"],
                "link_type": "service",
                "link_entity": "service",
                "taxonomy_term_id": reading.id("taxonomy_term", term),
            },
        )


def _hsds1_service(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    _service_terms(reading, values, emit)
    reading.services[values["id"]] = values


def _eligibility(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    text = values.pop("eligibility", None)
    if text and values.get("service_id"):
        reading.eligibility.setdefault(values["service_id"], []).append(str(text))


def _program(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    values.setdefault("description", values.get("name"))  # required in 3.0, not before


def _term(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    values.setdefault("description", values.get("name"))  # required in 3.0
    values.setdefault("taxonomy", reading.format.name)


def _ohana_organization(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    founded = str(values.pop("date_incorporated", "") or "")
    if year := re.search(r"\b(1[89]\d\d|20\d\d)\b", founded):
        values["year_incorporated"] = int(year.group(1))
    for index, source in enumerate(_items(values.pop("funding_sources", None))):
        emit(
            "funding",
            {
                "id": f"{values['id']}:funding:{index}",
                "organization_id": values["id"],
                "source": source,
            },
        )


def _ohana_location(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    virtual = str(values.pop("virtual", "")).lower() == "true"
    values["location_type"] = "virtual" if virtual else "physical"
    features = _items(values.pop("accessibility", None))
    if features:
        emit(
            "accessibility",
            {
                "id": f"{values['id']}:accessibility",
                "location_id": values["id"],
                "description": ", ".join(f.replace("_", " ") for f in features),
            },
        )
    _languages("location_id", "languages")(reading, values, emit)
    reading.location_owner[values["id"]] = values.get("organization_id", "")


def _ohana_service(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    """An Ohana service belongs to one location (and through it to an organization)."""
    location = values.pop("location_id", None)
    if location:
        reading.located[values["id"]] = location
        emit(
            "service_at_location",
            {
                "id": f"{values['id']}:at:{location}",
                "service_id": values["id"],
                "location_id": location,
            },
        )
    _service_terms(reading, values, emit)
    _languages("service_id", "languages")(reading, values, emit)
    for index, document in enumerate(_items(values.pop("required_documents", None))):
        emit(
            "required_document",
            {
                "id": f"{values['id']}:document:{index}",
                "service_id": values["id"],
                "document": document,
            },
        )
    for index, area in enumerate(_items(values.pop("service_areas", None))):
        emit(
            "service_area",
            {
                "id": f"{values['id']}:area:{index}",
                "service_id": values["id"],
                "name": area,
                "extent": area,
            },
        )
    for index, source in enumerate(_items(values.pop("funding_sources", None))):
        emit(
            "funding",
            {"id": f"{values['id']}:funding:{index}", "service_id": values["id"], "source": source},
        )
    values["status"] = str(values.get("status") or "active").lower()
    reading.services[values["id"]] = values


def _language(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    values.update(language_record(str(values.pop("language", ""))))


def _phone(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    _languages("phone_id", "language")(reading, values, emit)


# Ohana's phone types beside RFC 6350's, which HSDS 3.0 uses.
_PHONE_TYPES = {"tty": "textphone", "sms": "text", "hotline": "voice"}


def _ohana_phone(reading: Reading, values: dict[str, Any], emit: Emit) -> None:
    kind = str(values.get("type") or "").lower()
    if kind in _PHONE_TYPES:
        values["type"] = _PHONE_TYPES[kind]
        if kind == "hotline":
            values.setdefault("description", "Hotline")


# --- the formats --------------------------------------------------------------------------------

_SCHEDULE = FileMap("schedule", convert=_weekly)
_HOLIDAY = FileMap("schedule", convert=_holiday, id_space="holiday_schedule")

HSDS_1 = Format(
    "hsds1",
    "HSDS 1.x/2.0",
    {
        "organizations.csv": FileMap("organization", {"url": "website"}),
        "programs.csv": FileMap("program", convert=_program),
        "services.csv": FileMap("service", {"fees": "fees_description"}, convert=_hsds1_service),
        "services_at_location.csv": FileMap("service_at_location"),
        "service_at_location.csv": FileMap("service_at_location"),
        "locations.csv": FileMap("location", fixed={"location_type": "physical"}),
        "phones.csv": FileMap("phone", convert=_phone),
        "contacts.csv": FileMap("contact"),
        "physical_addresses.csv": FileMap("address", convert=_address("physical")),
        "postal_addresses.csv": FileMap(
            "address", convert=_address("postal"), id_space="postal_address"
        ),
        "regular_schedules.csv": _SCHEDULE,
        "holiday_schedules.csv": _HOLIDAY,
        "schedules.csv": FileMap("schedule"),
        "funding.csv": FileMap("funding"),
        "eligibility.csv": FileMap("", convert=_eligibility),
        "service_areas.csv": FileMap("service_area", {"service_area": "name"}),
        "required_documents.csv": FileMap("required_document"),
        "languages.csv": FileMap("language", convert=_language),
        "accessibility_for_disabilities.csv": FileMap(
            "accessibility", {"accessibility": "description"}
        ),
        "services_taxonomy.csv": FileMap(
            "attribute",
            {
                "service_id": "link_id",
                "taxonomy_id": "taxonomy_term_id",
                "taxonomy_detail": "value",
            },
            fixed={"link_type": "service", "link_entity": "service"},
        ),
        "service_attributes.csv": FileMap(
            "attribute",
            {"service_id": "link_id"},
            fixed={"link_type": "service", "link_entity": "service"},
        ),
        "other_attributes.csv": FileMap("attribute"),
        "taxonomy.csv": FileMap(
            "taxonomy_term",
            {"vocabulary": "taxonomy"},
            convert=_term,
            derived=frozenset({"parent_name"}),
        ),
        "taxonomy_terms.csv": FileMap("taxonomy_term", {"term": "name"}, convert=_term),
        "metadata.csv": FileMap("metadata"),
        "meta_table_descriptions.csv": FileMap("meta_table_description"),
    },
    {
        "payments_accepted.csv": "HSDS 3.0 has no table for accepted payments",
        "fees.csv": "HSDS 3.0 keeps fees in the service's fees_description",
        "interpretation_services.csv": "HSDS 3.0 keeps these in interpretation_services",
    },
)

OHANA = Format(
    "ohana",
    "Ohana API CSV",
    {
        "organizations.csv": FileMap("organization", convert=_ohana_organization),
        "programs.csv": FileMap("program", convert=_program),
        "locations.csv": FileMap(
            "location",
            {"website": "url"},
            convert=_ohana_location,
            private=frozenset({"admin_emails"}),
        ),
        "addresses.csv": FileMap("address", convert=_address("physical")),
        "mail_addresses.csv": FileMap(
            "address", convert=_address("postal"), id_space="postal_address"
        ),
        "contacts.csv": FileMap("contact"),
        "phones.csv": FileMap("phone", {"number_type": "type"}, convert=_ohana_phone),
        "regular_schedules.csv": _SCHEDULE,
        "holiday_schedules.csv": _HOLIDAY,
        "services.csv": FileMap(
            "service",
            {
                "website": "url",
                "eligibility": "eligibility_description",
                "fees": "fees_description",
            },
            convert=_ohana_service,
        ),
        "taxonomy.csv": FileMap(
            "taxonomy_term",
            {"taxonomy_id": "id"},
            fixed={"taxonomy": "Ohana"},
            convert=_term,
            derived=frozenset({"parent_name"}),
        ),
    },
    {},
)

_HSDS_1_FILES = {
    "physical_addresses.csv",
    "postal_addresses.csv",
    "regular_schedules.csv",
    "holiday_schedules.csv",
    "services_at_location.csv",
    "services_taxonomy.csv",
    "service_attributes.csv",
    "accessibility_for_disabilities.csv",
    "eligibility.csv",
    "payments_accepted.csv",
}


def detect(headers: dict[str, list[str]]) -> tuple[Format | None, str]:
    """The older format a CSV folder is in (None: HSDS 3.x), and the evidence, for the report."""
    if "mail_addresses.csv" in headers or {"location_id", "keywords"} <= set(
        headers.get("services.csv", [])
    ):
        return OHANA, "mail_addresses.csv and services.csv's location_id and keywords columns"
    old = sorted(_HSDS_1_FILES & set(headers))
    if old:
        return HSDS_1, ", ".join(old)
    if "url" in headers.get("organizations.csv", []) and "website" not in headers.get(
        "organizations.csv", []
    ):
        return HSDS_1, "organizations.csv's url column"
    return None, ""


# --- reading ------------------------------------------------------------------------------------


def convert_row(
    reading: Reading, file: FileMap, raw: dict[str, Any], emit: Emit
) -> tuple[str, dict[str, Any], list[str]] | None:
    """One old row as a 3.0 record (table, values) and the columns that have no 3.0 home;
    None when its values went into another record (eligibility)."""
    values = {file.renamed.get(key, key): value for key, value in raw.items()}
    for key, value in file.fixed.items():
        values.setdefault(key, value)
    source = values.get("id")
    for key in DATES & set(values):  # a date-time where 3.0 has a date (metadata's)
        if re.fullmatch(r"\d{4}-\d\d-\d\dT.*", str(values[key])):
            values[key] = str(values[key])[:10]
    if file.convert is not None:
        file.convert(reading, values, emit)
    if not file.table:
        return None
    values = finish_ids(reading, file.table, values, source, file.id_space)
    return file.table, values, _unmapped(file, values)


def finish_ids(
    reading: Reading, table: str, values: dict[str, Any], source: Any, id_space: str = ""
) -> dict[str, Any]:
    """The record's id and references as UUIDs (derived where the source's are not)."""
    if source not in (None, ""):
        values["id"] = reading.id(id_space or table, values["id"])
        if values["id"] != str(source).lower():
            values[SOURCE_ID] = str(source)
    for key, target in REFERENCES.items():
        if values.get(key) not in (None, ""):
            values[key] = reading.id(target, values[key])
    if table == "attribute" and values.get("link_id"):
        values["link_id"] = reading.id(values.get("link_entity") or "service", values["link_id"])
    if table == "metadata" and values.get("resource_id"):
        values["resource_id"] = reading.id(
            values.get("resource_type") or "service", values["resource_id"]
        )
    return values


def _unmapped(file: FileMap, values: dict[str, Any]) -> list[str]:
    """Set aside (in `source_fields`) the columns with no 3.0 home, and name them."""
    table = TABLES[file.table]
    known = {*table.columns, *table.extensions, SOURCE_ID}
    for name in file.derived | file.private:
        values.pop(name, None)
    unmapped = sorted(key for key in values if key not in known)
    if unmapped:
        values[SOURCE_FIELDS] = {key: values.pop(key) for key in unmapped}
    return unmapped


def finish(reading: Reading, records: dict[str, dict[str, dict[str, Any]]]) -> None:
    """What needs the whole data set: eligibility into its service, an Ohana service's
    organization from its location's, the kind of record a 1.x metadata entry is about."""
    services = records.get("service", {})
    tables = {record_id: table for table, rows in records.items() for record_id in rows}
    for entry in records.get("metadata", {}).values():
        if not entry.get("resource_type") and entry.get("resource_id") in tables:
            entry["resource_type"] = tables[entry["resource_id"]]
    for source_id, lines in reading.eligibility.items():
        service = services.get(reading.id("service", source_id))
        if service is not None:
            service.setdefault("eligibility_description", " ".join(lines))
    for service_id, location in reading.located.items():
        service = services.get(reading.id("service", service_id))
        owner = reading.location_owner.get(location)
        if service is not None and owner and not service.get("organization_id"):
            service["organization_id"] = reading.id("organization", owner)
