"""Whole HSDS records for the `/hsds` API, built from the rows the export writes.

The API and the export serve the same records: caremap's current values laid over the record
kept from an import, with the same ids (`hsds_export.export_rows`). What differs is only the
nesting. The reference's compiled schemas nest a record's parts under it (a service's phones,
schedules, service at locations with their location, contacts, funding, attributes...) and its
one-to-one records as objects (a service's organization and program, a service at location's
service and location). A table already on the way down is not nested again, so an organization
under a service lists no services and a service under a service at location lists no service at
locations, as in the reference.
"""

from collections import defaultdict
from typing import Any

from directory.hsds_export import NESTING, Rows
from directory.hsds_tables import EMBEDDED, LIST_KEY

# One-to-one records nested as objects: (key in the document, table, field naming the record).
_ONE: dict[str, tuple[tuple[str, str, str], ...]] = {
    **EMBEDDED,
    "service": (
        ("organization", "organization", "organization_id"),
        ("program", "program", "program_id"),
    ),
    "service_at_location": (
        ("service", "service", "service_id"),
        ("location", "location", "location_id"),
    ),
}
Key = tuple[str, str]


class Records:
    """Rows indexed by table and id, with each record's parts found once."""

    def __init__(self, rows: Rows) -> None:
        self.rows: dict[Key, dict[str, Any]] = {}
        tables_by_id: dict[str, str] = {}
        for table, table_rows in rows.items():
            for row in table_rows:
                self.rows[(table, str(row["id"]))] = row
                tables_by_id.setdefault(str(row["id"]), table)
        self.parts: dict[Key, list[Key]] = defaultdict(list)
        for (table, record_id), row in self.rows.items():
            for parent_table, field in NESTING.get(table, ()):
                parent_id = row.get(field)
                if parent_id is None:
                    continue
                if parent_table == "*":
                    parent_table = tables_by_id.get(str(parent_id), "")
                if (parent_table, str(parent_id)) in self.rows:
                    self.parts[(parent_table, str(parent_id))].append((table, record_id))

    def has(self, table: str, record_id: str) -> bool:
        return (table, str(record_id)) in self.rows

    def listed(self, table: str, record_id: str) -> dict[str, Any]:
        """A list's item: the record's own fields and its one-to-one records' own fields."""
        row = self.rows[(table, str(record_id))]
        document = dict(row)
        for key, target, field in _ONE.get(table, ()):
            found = self.rows.get((target, str(row.get(field))))
            if found is not None:
                document[key] = dict(found)
        return document

    def whole(
        self,
        table: str,
        record_id: str,
        *,
        listed: frozenset[str] = frozenset(),
        above: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The record with everything that hangs off it nested; parts from a table in `listed`
        come as list items (an organization's services unless asked for in full)."""
        row = self.rows[(table, str(record_id))]
        document = dict(row)
        path = above | {table}
        for part_table, part_id in self.parts.get((table, str(record_id)), ()):
            if part_table in path:
                continue
            part = (
                self.listed(part_table, part_id)
                if part_table in listed
                else self.whole(part_table, part_id, listed=listed, above=path)
            )
            document.setdefault(LIST_KEY[part_table], []).append(part)
        for key, target, field in _ONE.get(table, ()):
            if target not in path and (target, str(row.get(field))) in self.rows:
                document[key] = self.whole(target, str(row[field]), listed=listed, above=path)
        return document
