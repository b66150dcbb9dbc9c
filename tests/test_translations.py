"""Every catalog is complete: each message in the code and templates has its translation."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
CATALOGS = sorted(ROOT.glob("*/locales/*/LC_MESSAGES/messages.po"))


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalog_translates_every_message_in_its_package(po):
    package = po.relative_to(ROOT).parts[0]
    with po.open("rb") as handle:
        catalog = read_po(handle)
    used = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(ROOT / package, METHODS)
    }
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id
        and "fuzzy" not in m.flags
        and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    assert sorted(used - translated) == []


def test_there_are_catalogs():
    assert {p.parts[-3] for p in CATALOGS} == {"es"}
    assert len(CATALOGS) == 2
