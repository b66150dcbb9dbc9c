"""Reading and writing HSDS 3.0 data sets: the CSV package and the nested JSON forms.

Both forms are read into the same tables of flat records (the CSV layout), each remembering
where it came from, so every problem can be reported with its file, row and field. Nothing here
touches the database: `directory.hsds_import` decides what the records mean for the catalog.
"""

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from uuid import UUID

import ijson

from directory import hsds_legacy, untrusted_json
from directory.hsds_tables import (
    BOOLEANS,
    BY_FILE,
    DATES,
    DATETIMES,
    ENUMS,
    LISTS,
    NUMBERS,
    OBJECTS,
    REFERENCES,
    SOURCE_ID,
    TABLES,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Problem:
    """Something wrong with one field of one record; `warning` ones do not stop an import."""

    where: str
    field: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.where}, {self.field}: {self.message}"


@dataclass(slots=True)
class Record:
    table: str
    values: dict[str, Any]
    where: str
    held: int = 0  # what the catalog held of it before an import began (`directory.hsds_spool`)

    @property
    def id(self) -> str:
        return str(self.values.get("id", ""))


@dataclass
class Package:
    """The records of a data set by table and id, and the problems found reading it.

    A part of a larger data set (`directory.hsds_spool`) also sees the records every part
    shares (`shared`: taxonomies and their terms) through `get`, but does not list them.
    """

    tables: dict[str, dict[str, Record]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    version: str = "3.0"  # the HSDS version (or older format) the data set was read as
    evidence: str = ""  # what said so, for the report
    shared: dict[str, dict[str, Record]] = field(default_factory=dict)

    def records(self, table: str) -> list[Record]:
        return list(self.tables.get(table, {}).values())

    def get(self, table: str, record_id: Any) -> Record | None:
        if not record_id:
            return None
        found = self.tables.get(table, {}).get(str(record_id))
        return found if found is not None else self.shared.get(table, {}).get(str(record_id))

    def table_names(self) -> set[str]:
        return set(self.tables)

    def error(self, record: Record | str, name: str, message: str) -> None:
        where = record.where if isinstance(record, Record) else record
        self.problems.append(Problem(where, name, message))

    def warn(self, record: Record, name: str, message: str) -> None:
        self.problems.append(Problem(record.where, name, message, warning=True))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    def add(self, record: Record, *, merge: bool) -> None:
        """Add a record; the same id twice is an error in CSV and merged in nested JSON."""
        if not has_id(record, self.problems):
            return
        table = self.tables.setdefault(record.table, {})
        earlier = table.get(record.id)
        if earlier is None:
            table[record.id] = record
        else:
            combine(earlier, record, merge=merge, problems=self.problems)


def has_id(record: Record, problems: list[Problem]) -> bool:
    """Whether a record has an id to be kept by (a UUID, as HSDS requires); if not, says so."""
    if is_uuid(record.values.get("id")):
        return True
    problems.append(Problem(record.where, "id", "required, a UUID"))
    return False


def combine(earlier: Record, record: Record, *, merge: bool, problems: list[Problem]) -> bool:
    """A second record with the same id as `earlier`: in nested JSON the same record written
    again in another place, whose values go into the first (True); anywhere else an error."""
    if not merge or (" row " in record.where and _file_of(earlier.where) == _file_of(record.where)):
        problems.append(Problem(record.where, "id", f"the same id as {earlier.where}"))
        return False
    for key, value in record.values.items():
        if key in earlier.values and earlier.values[key] != value:
            problems.append(Problem(record.where, key, f"differs from the copy at {earlier.where}"))
        else:
            earlier.values.setdefault(key, value)
    return True


def _file_of(where: str) -> str:
    return where.split(" row ")[0] if " row " in where else ""


# --- reading ------------------------------------------------------------------------------------


class Sink(Protocol):
    """Where a data set's records go as they are read: a `Package` in memory, or, for an
    import, a `directory.hsds_spool.Spool` on disk."""

    problems: list[Problem]
    version: str
    evidence: str

    def add(self, record: Record, *, merge: bool) -> None: ...

    def error(self, record: Record | str, name: str, message: str) -> None: ...

    def table_names(self) -> set[str]: ...


def read_package(path: Path) -> Package:
    """Read a CSV package (a folder, or its datapackage.json) or a JSON file into memory, each
    record checked against the standard's rules."""
    package = Package()
    read_into(path, package)
    for table in package.tables.values():
        for record in table.values():
            check_record(record, package)
    return package


def read_into(path: Path, sink: Sink) -> None:
    """Read a data set's records into `sink`, naming in it what cannot be read."""
    if path.is_file() and path.name == "datapackage.json":
        path = path.parent
    if path.is_dir():
        _read_csv_folder(path, sink)
    elif path.is_file():
        _read_json_file(path, sink)
    else:
        sink.error(str(path), "path", "no such file or folder")
    later = sorted({"service_capacity", "unit", "url"} & sink.table_names())
    if sink.version == "3.0" and later:
        sink.version, sink.evidence = "3.1", f"its {', '.join(later)} records"


def _read_csv_folder(folder: Path, package: Sink) -> None:
    files = sorted(folder.glob("*.csv"))
    headers = {path.name: _header(path) for path in files}
    legacy, evidence = hsds_legacy.detect(headers)
    if legacy is not None:
        package.version, package.evidence = legacy.name, evidence
        # An older format is read whole (ids and records are settled across its files), then
        # handed on: such data sets come from before HSDS 3.0 and are small.
        whole = package if isinstance(package, Package) else Package()
        _read_legacy_folder(files, legacy, whole)
        if whole is not package:
            package.problems.extend(whole.problems)
            for records in whole.tables.values():
                for record in records.values():
                    package.add(record, merge=False)
        return
    later = sorted(set(headers) & _HSDS_3_1_FILES)
    if later or "label" in headers.get("attribute.csv", headers.get("attributes.csv", [])):
        package.version, package.evidence = "3.1", ", ".join(later) or "attributes' label column"
    known = [f for f in files if f.name in BY_FILE]
    for unknown in sorted(set(files) - set(known)):
        package.problems.append(
            Problem(unknown.name, "file", "not an HSDS 3.0 table; ignored", warning=True)
        )
    if not known:
        package.error(folder.name, "folder", "holds no HSDS tables (organizations.csv, ...)")
    read_from: dict[str, str] = {}
    for path in known:
        table = BY_FILE[path.name]
        first = read_from.setdefault(table.name, path.name)
        if first != path.name:
            message = (
                f"the {table.name} table again (as {first}): read together, a record in both merged"
            )
            package.problems.append(Problem(path.name, "file", message, warning=True))
        for where, values in _csv_rows(path, package):
            package.add(Record(table.name, values, where), merge=first != path.name)


_HSDS_3_1_FILES = {"service_capacity.csv", "units.csv", "unit.csv", "url.csv", "urls.csv"}


def _header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except (UnicodeDecodeError, csv.Error):
        return []  # the rows' reader names the problem


def _read_legacy_folder(files: list[Path], legacy: hsds_legacy.Format, package: Package) -> None:
    """An older format's files as 3.0 records (`directory.hsds_legacy`)."""
    reading = hsds_legacy.Reading(legacy)
    set_aside: dict[tuple[str, str], int] = {}
    for path in files:
        file = legacy.files.get(path.name)
        if file is None:
            reason = legacy.unmapped.get(path.name, f"not a file of {legacy.name}")
            package.problems.append(
                Problem(path.name, "file", f"{reason}; not imported", warning=True)
            )
            continue
        for column in sorted(file.private & set(_header(path))):
            message = "left out: staff details are not imported from a shared data set"
            package.problems.append(Problem(path.name, column, message, warning=True))
        for where, raw in _csv_rows(path, package):
            made: list[tuple[str, dict[str, Any]]] = []

            def emit(
                table: str, values: dict[str, Any], made: list = made, name: str = path.name
            ) -> None:
                space = f"{name}:{table}"  # made from this file's row: its own ids
                made.append(
                    (table, hsds_legacy.finish_ids(reading, table, values, values["id"], space))
                )

            converted = hsds_legacy.convert_row(reading, file, raw, emit)
            if converted is not None:
                table, values, unmapped = converted
                earlier = package.get(table, values.get("id"))
                if earlier is not None and _file_of(earlier.where) != path.name:
                    # Two old tables became one (holiday and regular hours): an id both
                    # use is two records, so this one gets an id of its own.
                    values[SOURCE_ID] = values["id"]
                    values["id"] = hsds_legacy.Reading(legacy).id(
                        path.name, f"again:{values['id']}"
                    )
                    message = f"the same id as {earlier.where}; given one of its own"
                    package.problems.append(Problem(where, "id", message, warning=True))
                package.add(Record(table, values, where), merge=False)
                for column in unmapped:
                    set_aside[(path.name, column)] = set_aside.get((path.name, column), 0) + 1
            for table, values in made:
                package.add(Record(table, values, f"{where} ({table})"), merge=False)
    for (name, column), rows in sorted(set_aside.items()):
        message = f"no HSDS 3.0 field for it: kept with the record (rows: {rows}), not exported"
        package.problems.append(Problem(name, column, message, warning=True))
    hsds_legacy.finish(
        reading,
        {
            table: {i: r.values for i, r in records.items()}
            for table, records in package.tables.items()
        },
    )


def _csv_rows(path: Path, package: Sink) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        package.error(path.name, "file", f"is not UTF-8 text (byte {error.start})")
        return
    reader = csv.DictReader(text.splitlines())
    line = 1
    while True:
        line += 1
        where = f"{path.name} row {line}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # a cell over the csv module's limit, say
            package.error(where, "row", f"cannot be read as CSV ({error})")
            return
        if None in row:
            package.error(where, "row", "has more cells than the header has columns")
        values = {}
        for name, raw in row.items():
            if name is None or raw is None or raw.strip() == "":
                continue
            values[name.strip()] = _cell(raw.strip(), name.strip())
        yield where, values


def _cell(raw: str, name: str) -> Any:
    """A CSV cell as the JSON value its field holds; one that is not stays text for the checks."""
    if name in NUMBERS:
        try:
            number = float(raw)
        except ValueError:
            return raw
        if not math.isfinite(number):
            return raw  # the checks name it: "1e999" or a thousand digits is no number here
        return int(number) if number.is_integer() and "." not in raw else number
    if name in BOOLEANS and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw


MAX_JSON_DEPTH = 32  # an HSDS organization package nests about eight levels
LARGEST_NUMBER = 2**53  # no HSDS number (coordinates, ages, amounts) comes near this


def _read_json_file(path: Path, package: Sink) -> None:
    """A JSON file: a list of organizations (or services) is read one item at a time, so a
    state's data set never sits in memory whole; one object (a record or tables) is read whole."""
    with path.open("rb") as handle:
        if handle.read(4096).lstrip()[:1] == b"[":
            handle.seek(0)
            _read_json_items(handle, path.name, package)
            return
    try:
        document = untrusted_json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        package.error(path.name, "file", f"is not valid JSON ({error})")
        return
    except RecursionError:
        package.error(path.name, "file", "is nested too deeply to be an HSDS data set")
        return
    except ValueError as error:  # a number of thousands of digits, NaN or Infinity
        package.error(path.name, "file", f"holds a value that is not valid here ({error})")
        return
    if untrusted_json.deeper_than(document, MAX_JSON_DEPTH):
        package.error(path.name, "file", f"is nested deeper than {MAX_JSON_DEPTH} levels")
        return
    if isinstance(document, dict) and _is_tabular(document):
        for key, rows in document.items():
            table = BY_FILE.get(key) or TABLES.get(key)
            if table is None or not isinstance(rows, list):
                package.error(path.name, key, "not an HSDS 3.0 table")
                continue
            for index, row in enumerate(rows):
                where = f"{path.name} {key} row {index + 1}"
                if isinstance(row, dict):
                    package.add(Record(table.name, dict(row), where), merge=False)
                else:
                    package.error(where, "row", "must be an object")
        return
    if isinstance(document, dict):
        flatten(_kind_of(document), document, f"{path.name} ", package)
    else:
        package.error(f"{path.name} /", "record", "must be an object")


def _read_json_items(handle: BinaryIO, name: str, package: Sink) -> None:
    """The items of a top-level JSON list, each flattened as it is read (ijson's C parser)."""
    index = 0
    try:
        for index, item in enumerate(ijson.items(handle, "item", use_float=True)):
            where = f"{name} /{index}"
            if untrusted_json.deeper_than(item, MAX_JSON_DEPTH):
                package.error(name, "file", f"is nested deeper than {MAX_JSON_DEPTH} levels")
                return
            if isinstance(item, dict):
                flatten(_kind_of(item), item, where, package)
            else:
                package.error(where, "record", "must be an object")
    except ijson.JSONError as error:
        said = str(error).strip().splitlines()
        near = f" near item {index}" if index else ""
        if "overflow" in said[0]:  # a number of thousands of digits, or 1e999
            package.error(name, "file", f"holds a value that is not valid here ({said[0]}{near})")
        else:
            package.error(name, "file", f"is not valid JSON ({' '.join(said)}{near})")


def _is_tabular(document: dict[str, Any]) -> bool:
    return bool(document) and all(k in BY_FILE or k in TABLES for k in document)


def _kind_of(item: dict[str, Any]) -> str:
    """Which record a top-level JSON object is: the packages hold services or organizations."""
    if "status" in item:
        return "service"
    if "name" not in item and ("service" in item or "service_id" in item):
        return "service_at_location"
    return "organization"


def flatten(table: str, item: dict[str, Any], where: str, package: Sink) -> str | None:
    """Add a nested record and everything inside it; returns its id."""
    values: dict[str, Any] = {}
    children: list[tuple[str, str, dict[str, Any], str]] = []
    for key, value in item.items():
        if key in LISTS and isinstance(value, list):
            for index, child in enumerate(value):
                if isinstance(child, dict):
                    children.append((LISTS[key], key, child, f"{where}/{key}/{index}"))
                else:
                    package.error(f"{where}/{key}/{index}", key, "must be an object")
        elif key in OBJECTS and isinstance(value, dict):
            child_id = flatten(OBJECTS[key], value, f"{where}/{key}", package)
            if child_id:
                values.setdefault(f"{OBJECTS[key]}_id", child_id)
        else:
            values[key] = value
    record = Record(table, values, where)
    package.add(record, merge=True)
    for child_table, _key, child, child_where in children:
        child = dict(child)
        if child_table == "attribute":
            child.setdefault("link_id", record.id)
            child.setdefault("link_entity", table)
        elif child_table == "metadata":
            child.setdefault("resource_id", record.id)
            child.setdefault("resource_type", table)
        else:
            child.setdefault(f"{table}_id", record.id)
        flatten(child_table, child, child_where, package)
    return record.id or None


# --- the standard's own rules -------------------------------------------------------------------


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)


def is_uuid(value: Any) -> bool:
    """A UUID written as text, as HSDS ids are (any form `uuid.UUID` reads)."""
    if not isinstance(value, str) or len(value) < 32:
        return False  # 32 hex digits at the least: no exception raised for most non-ids
    if _CANONICAL_UUID.fullmatch(value):
        return True  # the usual form, checked without making a UUID (an import checks millions)
    try:
        UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def check_record(record: Record, package: Package) -> None:
    """The rules HSDS 3.0 itself sets: required fields, formats, enums and id references."""
    table = TABLES[record.table]
    values = record.values
    for name in table.required:
        if name != "id" and values.get(name) in (None, ""):
            package.error(record, name, "required")
    for name, value in values.items():
        if value is None:
            continue
        if name in REFERENCES and not is_uuid(value):
            package.error(record, name, f"{value!r} is not a UUID")
        elif name in NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)):
            package.error(record, name, f"{_short(value)} is not a number")
        elif name in NUMBERS and not (math.isfinite(value) and abs(value) <= LARGEST_NUMBER):
            package.error(record, name, "is not a number caremap can hold (too large)")
        elif name in BOOLEANS and not isinstance(value, bool):
            package.error(record, name, f"{value!r} is not true or false")
        elif name in DATES and not _parses(date.fromisoformat, value, 10):
            package.error(record, name, f"{value!r} is not a date (YYYY-MM-DD)")
        elif name in DATETIMES and not _parses(datetime.fromisoformat, value, 40):
            package.error(record, name, f"{value!r} is not a date and time (ISO 8601)")
        elif (record.table, name) in ENUMS and value not in ENUMS[(record.table, name)]:
            allowed = ", ".join(ENUMS[(record.table, name)])
            package.error(record, name, f"{value!r} is not one of: {allowed}")
        elif name.endswith("email") and not (isinstance(value, str) and _EMAIL.match(value)):
            package.error(record, name, f"{value!r} is not an email address")


def _short(value: Any) -> str:
    """A value quoted in an error, cut to a readable length."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"
    return text if len(text) <= 80 else text[:77] + "..."


def _parses(parse: Any, value: Any, longest: int) -> bool:
    if not isinstance(value, str) or len(value) > longest:
        return False
    try:
        parse(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# --- writing ------------------------------------------------------------------------------------


def write_csv_package(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    """One CSV per table (HSDS columns first, then extensions) and a datapackage.json."""
    folder.mkdir(parents=True, exist_ok=True)
    resources = []
    for name, table in TABLES.items():
        rows = tables.get(name, [])
        extra = sorted({key for row in rows for key in row} - set(table.columns))
        columns = [*table.columns, *[c for c in table.extensions if c not in extra], *extra]
        with (folder / table.file).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="raise")
            writer.writeheader()
            for row in rows:
                writer.writerow({key: _csv_value(value) for key, value in row.items()})
        resources.append(
            {
                "name": name,
                "path": table.file,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": [{"name": c, "type": _field_type(c)} for c in columns],
                    "primaryKey": "id",
                },
            }
        )
    descriptor = {
        "name": "caremap-hsds-export",
        "profile": "tabular-data-package",
        "title": "HSDS 3.0 data package exported by caremap",
        "resources": resources,
    }
    (folder / "datapackage.json").write_text(json.dumps(descriptor, indent=2) + "\n")


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _field_type(column: str) -> str:
    if column in NUMBERS:
        return "number"
    if column in BOOLEANS:
        return "boolean"
    if column in DATES:
        return "date"
    if column in DATETIMES:
        return "datetime"
    return "string"
