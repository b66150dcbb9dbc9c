"""A data set's records on disk while an import checks and writes them, one part at a time.

A state's data set is close to a million records; held as Python dictionaries, with the plan of
what to write beside them, it took 1.5 GB. The spool keeps the records in a temporary SQLite file
(Python's own sqlite3, not the catalog's database), with the ids each one names, and hands the
importer parts of the data set that are closed under references: every record that a part's
records name, or that names one of them, is in the same part (an organization, its services,
their locations, phones, schedules and so on). So each part is planned exactly as the whole data
set would be, and memory holds one part.

Taxonomies and their terms (and 3.1's units) are named by records of every organization: they
are not followed when parts are made, every part looks them up (`Package.shared`), and they are
planned once, as a part of their own.
"""

import json
import sqlite3
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson

from directory.hsds_package import Package, Problem, Record, check_record, combine, has_id
from directory.hsds_tables import REFERENCES

SHARED = ("taxonomy", "taxonomy_term", "unit")
# The fields that tie a record to another one in the same part.
_TIES = (
    *(key for key, table in REFERENCES.items() if table not in SHARED),
    "link_id",
    "resource_id",
)
_BATCH = 1_000  # records written to the spool in one statement
PART_RECORDS = 8_000  # records in a part (a part holds whole groups, so it may hold more)

# What the catalog held of a record before the import began (`Record.held`).
HELD_ROW = 1  # its caremap row (organization, service, location, ...)
HELD_KEPT = 2  # the HSDS record as kept for export

_SCHEMA = """
CREATE TABLE record (
    seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, id TEXT NOT NULL, place TEXT NOT NULL,
    data BLOB NOT NULL, shared INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX record_key ON record (tbl, id);
CREATE TABLE tie (seq INTEGER NOT NULL, id TEXT NOT NULL);
-- Which part each record not shared goes in (a narrow table: the records are not rewritten).
CREATE TABLE placement (part INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (part, seq))
    WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Handover:
    """A filled spool, for another process to open (`Spool(handed)`)."""

    path: str
    version: str
    evidence: str
    checked: bool


class Spool:
    """A data set's records in a temporary file; reading fills it (`directory.hsds_package`
    `read_into`), then `parts()` hands them out. Close it (or use `with`) to remove the file."""

    def __init__(self, handed: "Handover | None" = None) -> None:
        """A new spool in a temporary file, or (`handed`) the one another process filled and
        handed over (`handover`), which that process removes."""
        if handed is None:
            # Removed when it closes, in `close`.
            self._handle = tempfile.NamedTemporaryFile(prefix="caremap-import-", suffix=".sqlite")  # noqa: SIM115
            path = self._handle.name
        else:
            self._handle = None
            path = handed.path
        self._db = sqlite3.connect(path)
        self._db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;"
            + (_SCHEMA if handed is None else "")
        )
        self.problems: list[Problem] = []
        self.version = "3.0" if handed is None else handed.version
        self.evidence = "" if handed is None else handed.evidence
        # Records were checked as they were read (`of`).
        self.checked = False if handed is None else handed.checked
        self._pending: list[tuple[Record, bool]] = []
        self._shared: dict[tuple[str, str], Record] = {}  # (table, id): shared records read
        self._grown: set[tuple[str, str]] = set()  # shared records that merged in more values
        self._next_seq = 1
        self._parted = handed is not None  # a spool is handed over with its parts assigned

    @classmethod
    def of(cls, package: Package) -> "Spool":
        """A package already read into memory (and checked), spooled as it is."""
        spool = cls()
        spool.problems = list(package.problems)
        spool.version, spool.evidence, spool.checked = package.version, package.evidence, True
        for records in package.tables.values():
            for record in records.values():
                spool.add(record, merge=False)
        spool._flush()
        return spool

    def __enter__(self) -> "Spool":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        if self._handle is not None:
            self._handle.close()

    def handover(self, size: int = PART_RECORDS) -> "Handover":
        """What another process needs to open this spool and hand out its parts of about
        `size` records (`parts`), with the parts assigned and everything on disk. This process
        must not use the spool meanwhile."""
        self._flush()
        if not self._parted:
            self._assign_parts(size)
            self._parted = True
        self._db.commit()
        assert self._handle is not None, "a spool handed over is handed on by its owner"
        return Handover(self._handle.name, self.version, self.evidence, self.checked)

    # --- reading (the `hsds_package.Sink` a reader fills) --------------------------------------

    def add(self, record: Record, *, merge: bool) -> None:
        """Add a record; the same id twice is an error in CSV and merged in nested JSON."""
        if not has_id(record, self.problems):
            return
        if record.table in SHARED:
            # Nested JSON repeats a taxonomy term under every attribute that uses it: the
            # repeats are merged here, in memory (there are few such records), not in the file.
            key = (record.table, record.id)
            earlier = self._shared.get(key)
            if earlier is not None:
                size = len(earlier.values)
                merged = combine(earlier, record, merge=merge, problems=self.problems)
                if merged and len(earlier.values) != size:
                    self._grown.add(key)
                return
            self._shared[key] = record
        self._pending.append((record, merge))
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        """Write the records added since the last flush in one statement; one whose table and
        id are already there is folded into that record (`combine`) or named."""
        pending, self._pending = self._pending, []
        if pending:
            self._write(pending)
        if self._grown:
            self._db.executemany(
                "UPDATE record SET data = ? WHERE tbl = ? AND id = ?",
                [(_dumps(self._shared[key].values), *key) for key in self._grown],
            )
            self._grown.clear()

    def _write(self, pending: list[tuple[Record, bool]]) -> None:
        first = self._next_seq
        self._next_seq += len(pending)
        before = self._db.total_changes
        self._db.executemany(
            "INSERT OR IGNORE INTO record (seq, tbl, id, place, data, shared) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (first + n, r.table, r.id, r.where, _dumps(r.values), r.table in SHARED)
                for n, (r, _merge) in enumerate(pending)
            ],
        )
        written: range | set[int] = range(first, self._next_seq)
        if self._db.total_changes - before != len(pending):  # some were there already
            written = {
                seq
                for (seq,) in self._db.execute(
                    "SELECT seq FROM record WHERE seq BETWEEN ? AND ?", (first, self._next_seq - 1)
                )
            }
        ties: list[tuple[int, str]] = []
        for n, (record, merge) in enumerate(pending):
            seq: int | None = first + n
            if seq not in written:
                seq = self._again(record, merge)
            if seq is None:
                continue
            if record.table not in SHARED:
                ties += [(seq, v) for key in _TIES if isinstance(v := record.values.get(key), str)]
        self._db.executemany("INSERT INTO tie (seq, id) VALUES (?, ?)", ties)

    def _again(self, record: Record, merge: bool) -> int | None:
        """The row a record whose table and id were already there went to: the earlier one,
        with this record merged into it; None when it was an error."""
        found, data, where = self._db.execute(
            "SELECT seq, data, place FROM record WHERE tbl = ? AND id = ?",
            (record.table, record.id),
        ).fetchone()
        earlier = Record(record.table, _loads(data), where)
        if not combine(earlier, record, merge=merge, problems=self.problems):
            return None
        self._db.execute(
            "UPDATE record SET data = ? WHERE seq = ?", (_dumps(earlier.values), found)
        )
        return found

    def error(self, record: Record | str, name: str, message: str) -> None:
        where = record.where if isinstance(record, Record) else record
        self.problems.append(Problem(where, name, message))

    def table_names(self) -> set[str]:
        self._flush()
        return {table for (table,) in self._db.execute("SELECT DISTINCT tbl FROM record")}

    def get(self, table: str, record_id: Any) -> Record | None:
        self._flush()
        row = self._db.execute(
            "SELECT tbl, data, place, held FROM record WHERE tbl = ? AND id = ?",
            (table, str(record_id)),
        ).fetchone()
        return _record(row) if row else None

    def count(self) -> int:
        self._flush()
        return self._db.execute("SELECT count(*) FROM record").fetchone()[0]

    # --- what the catalog holds ----------------------------------------------------------------

    def ids(self, table: str, size: int) -> Iterator[list[str]]:
        """The ids of a table's records, `size` at a time."""
        self._flush()
        cursor = self._db.execute("SELECT id FROM record WHERE tbl = ? ORDER BY seq", (table,))
        while batch := cursor.fetchmany(size):
            yield [row[0] for row in batch]

    def mark_held(self, table: str, ids: Iterable[str], flag: int) -> None:
        """Note that the catalog holds these records (`HELD_ROW`, `HELD_KEPT`)."""
        self._db.executemany(
            "UPDATE record SET held = held | ? WHERE tbl = ? AND id = ?",
            [(flag, table, record_id) for record_id in ids],
        )

    # --- handing out parts ---------------------------------------------------------------------

    def parts(self, size: int = PART_RECORDS) -> Iterator[Package]:
        """The data set in parts closed under references, of about `size` records: the shared
        records first (when there are any), then the rest, each record in exactly one part.
        Every part's records are checked against the standard's rules (`check_record`)."""
        self._flush()
        if not self._parted:
            self._assign_parts(size)
            self._parted = True
        shared: dict[str, dict[str, Record]] = {}
        for row in self._db.execute("SELECT tbl, data, place, held FROM record WHERE shared"):
            record = _record(row)
            shared.setdefault(record.table, {})[record.id] = record
        if shared:
            yield self._part({table: dict(records) for table, records in shared.items()}, {})
        cursor = self._db.execute(
            "SELECT part, tbl, data, place, held FROM placement JOIN record USING (seq) "
            "ORDER BY part, seq"
        )
        tables: dict[str, dict[str, Record]] = {}
        current = None
        for part, *row in cursor:
            if part != current and tables:
                yield self._part(tables, shared)
                tables = {}
            current = part
            record = _record(row)
            tables.setdefault(record.table, {})[record.id] = record
        if tables:
            yield self._part(tables, shared)

    def _part(
        self, tables: dict[str, dict[str, Record]], shared: dict[str, dict[str, Record]]
    ) -> Package:
        package = Package(tables, version=self.version, evidence=self.evidence, shared=shared)
        if not self.checked:
            for records in tables.values():
                for record in records.values():
                    check_record(record, package)
        return package

    def _assign_parts(self, size: int) -> None:
        """Join every record with the records it names (union-find over the spool's row
        numbers), then fill parts with whole groups, in the order the data set lists them."""
        db = self._db
        db.execute("CREATE INDEX record_id ON record (id)")
        last = db.execute("SELECT max(seq) FROM record").fetchone()[0] or 0
        parent = array("q", range(last + 1))

        def root(seq: int) -> int:
            while parent[seq] != seq:
                parent[seq] = parent[parent[seq]]
                seq = parent[seq]
            return seq

        for one, other in db.execute(
            "SELECT tie.seq, record.seq FROM tie JOIN record ON record.id = tie.id "
            "WHERE NOT record.shared"
        ):
            a, b = root(one), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
        group_size = array("q", bytes(8 * (last + 1)))
        for (seq,) in db.execute("SELECT seq FROM record WHERE NOT shared"):
            group_size[root(seq)] += 1
        part_of = array("q", bytes(8 * (last + 1)))  # by group root
        part, filled = 0, size
        moves = []
        for (seq,) in db.execute("SELECT seq FROM record WHERE NOT shared"):
            group = root(seq)
            if not part_of[group]:
                if filled >= size:
                    part, filled = part + 1, 0
                part_of[group] = part
                filled += group_size[group]
            moves.append((part_of[group], seq))
            if len(moves) >= 10_000:
                db.executemany("INSERT INTO placement (part, seq) VALUES (?, ?)", moves)
                moves.clear()
        db.executemany("INSERT INTO placement (part, seq) VALUES (?, ?)", moves)


def _dumps(values: dict[str, Any]) -> bytes | str:
    """orjson's bytes (a BLOB), or json's text where orjson cannot write a value: an integer
    past 64 bits, which the checks then name. orjson would read such a number back as a float,
    so each is read back by the library that wrote it (`_loads`)."""
    try:
        return orjson.dumps(values)
    except orjson.JSONEncodeError:
        return json.dumps(values)


def _loads(data: bytes | str) -> dict[str, Any]:
    return json.loads(data) if isinstance(data, str) else orjson.loads(data)


def _record(row: tuple[str, bytes | str, str, int]) -> Record:
    table, data, where, held = row
    return Record(table, _loads(data), where, held)
