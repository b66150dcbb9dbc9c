"""Where the tests find the official HSDS 3.0 files (schemas and examples), and what they do
without them.

The files are the Open Referral specification's, not the project's: they come from the
`hsds-3.0` folder beside the project (`../shared/hsds-3.0`) or from `CAREMAP_HSDS_DIR`. A fresh
clone without them still runs the whole suite; the tests that validate against the official
files are skipped with the reason below. CI sets `CAREMAP_REQUIRE_HSDS=1`, and then a missing
folder stops the run instead of skipping (see `tests/conftest.py`).
"""

import json
import os
from pathlib import Path

import jsonschema
import pytest

PROJECT = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("CAREMAP_HSDS_DIR") or PROJECT.parent / "shared" / "hsds-3.0")
SCHEMAS = ROOT / "schema" / "compiled"
SIMPLE = ROOT / "schema"  # the uncompiled schemas refer to each other by file name
EXAMPLES = ROOT / "examples"
AVAILABLE = (SCHEMAS / "service.json").is_file() and EXAMPLES.is_dir()
REQUIRED = os.environ.get("CAREMAP_REQUIRE_HSDS", "") not in ("", "0")
MISSING = (
    f"the official HSDS 3.0 files are not at {ROOT}: set CAREMAP_HSDS_DIR to a copy of the "
    "Open Referral specification repository (openreferral/specification on GitHub) at its "
    "3.0 tag, or put its folder at ../shared/hsds-3.0"
)

needs_hsds = pytest.mark.skipif(not AVAILABLE, reason=MISSING)


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def hsds_validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


def tabular_errors(
    folder: Path, source_columns: frozenset[tuple[str, str]] = frozenset()
) -> list[str]:
    """A CSV package checked with frictionless against the official 3.0 tabular descriptor
    (`datapackage.json`: column types, required fields, foreign keys). The only extra labels
    let pass are those the standard allows after its own columns: caremap's extensions and
    3.1's, and `source_columns` (table, column), a data set's own that come back with it."""
    from frictionless import Package  # imported here: it takes a second, and few tests use it

    from directory.hsds_tables import TABLES

    descriptor = json.loads((ROOT / "datapackage.json").read_text())
    report = Package(descriptor, basepath=str(folder)).validate()
    extensions = {(table.name, column) for table in TABLES.values() for column in table.extensions}
    return [
        f"{task.name}: {error.message}"
        for task in report.tasks
        for error in task.errors
        if not (
            error.type == "extra-label" and (task.name, error.label) in extensions | source_columns
        )
    ]
