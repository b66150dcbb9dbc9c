"""What text caremap accepts from people and data sets: the one rule for every field.

A name travels further than its field: into an email's subject, a file name, a page title, a
CSV. So one-line text (names, phone descriptions, addresses) refuses every control character,
line breaks included, and longer text (descriptions, notes, messages) allows only line breaks
and tabs. No text may hold invisible formatting characters (direction overrides and isolates,
zero-width spaces, soft hyphens), which can make a listing read as another one, nor lone
surrogates, which no database can store. The zero-width joiner and non-joiner stay allowed:
Persian, Arabic and Indic scripts and emoji need them.

Text on its way out to a spreadsheet (`spreadsheet_cell`, `PeopleCsv`) is kept from being read
as a formula.
"""

import csv
import unicodedata
from collections.abc import Iterable
from typing import Any

ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner and joiner
LINE_BREAKS = frozenset({"\n", "\r", "\t"})
ONE_LINE = "must be one line, without line breaks or control characters"
NO_CONTROLS = "must not contain control characters"
INVISIBLE = "must not contain invisible formatting characters, such as direction overrides"
NOT_TEXT = "must be valid Unicode text"


def problem(value: str, *, multiline: bool = False) -> str | None:
    """What is wrong with `value` as text, or None."""
    if value.isprintable():
        return None  # the common case, in one pass: no control, format or separator characters
    for char in value:
        if char.isprintable() and char not in "\u2028\u2029":
            continue  # the common case: letters, digits, punctuation, spaces
        category = unicodedata.category(char)
        if category == "Cc" or category in ("Zl", "Zp"):
            if multiline and (char in LINE_BREAKS or category in ("Zl", "Zp")):
                continue
            return NO_CONTROLS if multiline else ONE_LINE
        if category == "Cf" and char not in ALLOWED_FORMAT:
            return INVISIBLE
        if category == "Cs":
            return NOT_TEXT
    return None


def check(value: str, *, multiline: bool = False) -> str:
    """`value`, or ValueError saying what is wrong (pydantic turns it into the field's error)."""
    found = problem(value, multiline=multiline)
    if found is not None:
        raise ValueError(found)
    return value


def check_all(value: Any, *, multiline: bool = False) -> Any:
    """Every string inside `value` (a string, or lists and dicts of them) checked."""
    if isinstance(value, str):
        return check(value, multiline=multiline)
    if isinstance(value, list | tuple):
        for item in value:
            check_all(item, multiline=multiline)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_all(key)
            check_all(item, multiline=multiline)
    return value


# --- text leaving for a spreadsheet ---------------------------------------------------------

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets, and a
# formula can run commands or send the sheet's data away (the OWASP "CSV injection" rule).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """A value for a CSV meant to be opened by people: text that a spreadsheet would read as a
    formula gets a leading apostrophe, which shows it as the text it is. Numbers stay numbers.
    (The HSDS data package is data interchange and keeps values exact; it does not use this.)"""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class PeopleCsv:
    """A `csv.writer` whose every cell goes through `spreadsheet_cell`."""

    def __init__(self, out: Any) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
