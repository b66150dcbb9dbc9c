"""Reading gettext catalogs straight from their .po files (Babel), for any package's texts.

Each package keeps its own catalog (`<package>/locales/<lang>/LC_MESSAGES/messages.po`); reading
the .po at start-up means there is no compile step to forget on install.
"""

import functools
import gettext
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations


def N_(message: str) -> str:
    """Marks a message for extraction (`pybabel extract` knows the name); it is translated
    where it is shown."""
    return message


@functools.cache
def catalog(locales: Path, language: str) -> gettext.NullTranslations:
    """The translations for `language` in the folder `locales` (none: the English source)."""
    path = locales / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        parsed = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, parsed)
    compiled.seek(0)
    return Translations(compiled)


def best_language(tag: str | None, available: tuple[str, ...]) -> str | None:
    """The catalog in `available` for a language tag as people and browsers write it ("es",
    "es-MX", "zh-CN", "zh_Hans"): the same code, else the first catalog of the same language
    (so every Chinese tag gets the Simplified Chinese catalog), else None."""
    if not tag:
        return None
    wanted = tag.strip().replace("-", "_")
    by_lower = {code.lower(): code for code in available}
    if wanted.lower() in by_lower:
        return by_lower[wanted.lower()]
    primary = wanted.split("_")[0].lower()
    return next((code for code in available if code.split("_")[0].lower() == primary), None)


@functools.cache
def languages(locales: Path) -> tuple[str, ...]:
    """English, then every language with a catalog in `locales`."""
    found = sorted(p.name for p in locales.iterdir() if p.is_dir()) if locales.exists() else []
    return ("en", *found)
