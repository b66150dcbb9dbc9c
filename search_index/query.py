"""What a search asks for, checked once, plus the clock rules both backends share.

`SearchQuery` is built from request parameters by `parse_query`, which raises `Invalid` naming
each bad parameter. Distances are great-circle (haversine); "open now" is computed in each
service's own time zone from its weekly schedules.
"""

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import snowballstemmer

from directory.errors import Invalid
from directory.geocoding import Point, time_zone
from directory.taxonomy import BY_CODE

KM_PER_MILE = 1.609344
MAX_RADIUS_MILES = 100.0
DEFAULT_RADIUS_MILES = 10.0
MAX_PER_PAGE = 50
MAX_PAGE = 200
MAX_QUERY_LENGTH = 200
SLOT_MINUTES = 15
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SYNONYMS_FILE = Path(__file__).with_name("synonyms.json")
# The longest synonym phrase: Meilisearch looks synonyms up for terms of one to three words.
MAX_PHRASE_WORDS = 3
# Letters and digits of any script (Arabic, Chinese...), after folding.
_WORD = re.compile(r"[^\W_]+")
_ZIP_IN_TEXT = re.compile(r"\b(\d{5})\b")


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    near: str | None = None
    radius_miles: float = DEFAULT_RADIUS_MILES
    categories: tuple[str, ...] = ()
    language: str | None = None
    age: int | None = None
    free: bool | None = None
    open_now: bool = False
    accepts_referrals: bool | None = None
    page: int = 1
    per_page: int = 20
    sort: str = "relevance"
    # Read the question for the needs it names (search_index.needs); off shows every listing
    # holding its words, as the results page's "search all listings" link asks.
    understand: bool = True


@dataclass(frozen=True)
class Place:
    """Where the searcher is: a point, and the ZIP, county and state used for service areas."""

    point: Point
    postal_code: str | None = None
    county: str | None = None
    state: str | None = None


@dataclass
class BackendQuery:
    """A search as a backend runs it: words resolved, place resolved, one page requested."""

    words: list[str]
    categories: tuple[str, ...] = ()
    language: str | None = None
    age: int | None = None
    free: bool | None = None
    accepts_referrals: bool | None = None
    open_slots: dict[str, str] = field(default_factory=dict)
    place: Place | None = None
    radius_miles: float = DEFAULT_RADIUS_MILES
    sort: str = "relevance"
    offset: int = 0
    limit: int = 20
    prefix_last: bool = True  # the last word may be a prefix (search as you type)
    # Words rank listings but none is required: the categories (a need the question was
    # understood to ask for) already say which listings answer it.
    words_optional: bool = False
    # Listings of this category come first, as if it were the question's first word: the need
    # the question named first ("tutoring" before the after-school programs it also covers).
    first_category: str | None = None


def _flag(params: Any, name: str, errors: dict[str, str]) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    lowered = str(raw).lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    errors[name] = "must be true or false"
    return None


def _int(
    params: Any, name: str, default: int | None, low: int, high: int, errors: dict[str, str]
) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors[name] = "must be a whole number"
        return default
    if not low <= value <= high:
        errors[name] = f"must be between {low} and {high}"
        return default
    return value


def _radius(raw: str | None, errors: dict[str, str]) -> float:
    """`10`, `10mi`, `5 miles`, `8km` or `8 km`; miles unless km is said."""
    if raw is None or raw.strip() == "":
        return DEFAULT_RADIUS_MILES
    match = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*(mi|miles?|km|kilometers?|kilometres?)?\s*", raw.lower()
    )
    if not match:
        errors["radius"] = "give a distance such as 5, 5mi or 8km"
        return DEFAULT_RADIUS_MILES
    value = float(match.group(1))
    miles = value / KM_PER_MILE if (match.group(2) or "").startswith("k") else value
    if not 0 < miles <= MAX_RADIUS_MILES:
        errors["radius"] = f"must be more than 0 and at most {MAX_RADIUS_MILES:g} miles"
        return DEFAULT_RADIUS_MILES
    return miles


def parse_query(params: Any) -> SearchQuery:
    """Check every parameter and return the query, or raise `Invalid` naming each bad one."""
    errors: dict[str, str] = {}
    text = (params.get("q") or "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        errors["q"] = f"at most {MAX_QUERY_LENGTH} characters"
    near = (params.get("near") or "").strip() or None
    categories = tuple(dict.fromkeys(c for c in params.getlist("category") if c))
    unknown = [c for c in categories if c not in BY_CODE]
    if unknown:
        errors["category"] = f"unknown category code(s): {', '.join(unknown)}"
    language = (params.get("language") or "").strip().lower() or None
    if language and not re.fullmatch(r"[a-z]{2,3}", language):
        errors["language"] = "use a language code such as en or es"
    sort = params.get("sort") or ("distance" if near and not text else "relevance")
    if sort not in ("relevance", "distance"):
        errors["sort"] = "must be relevance or distance"
    elif sort == "distance" and not near:
        errors["sort"] = "sorting by distance needs near"
    query = SearchQuery(
        text=text,
        near=near,
        radius_miles=_radius(params.get("radius"), errors),
        categories=categories,
        language=language,
        age=_int(params, "age", None, 0, 120, errors),
        free=_flag(params, "free", errors),
        open_now=bool(_flag(params, "open_now", errors)),
        accepts_referrals=_flag(params, "accepts_referrals", errors),
        page=_int(params, "page", 1, 1, MAX_PAGE, errors) or 1,
        per_page=_int(params, "per_page", 20, 1, MAX_PER_PAGE, errors) or 20,
        sort=sort,
        understand=_flag(params, "understand", errors) is not False,
    )
    if errors:
        raise Invalid(errors)
    return query


# --- words and synonyms -----------------------------------------------------------------------


# Latin letters that no Unicode decomposition takes to a plain letter (Vietnamese đ, Polish ł),
# folded as Tantivy's ascii_fold folds them.
_LATIN = str.maketrans(
    {"đ": "d", "ł": "l", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "\u0131": "i"}
)


def fold(text: str) -> str:
    """Lower case without accents: how both backends compare words."""
    if text.isascii():  # most listing text: nothing to decompose (a reindex folds all of it)
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_LATIN)


def typo_budget(word: str) -> int:
    """Typos allowed for a word, as Meilisearch's defaults: 1 from 5 letters, 2 from 9."""
    return 0 if len(word) < 5 else 1 if len(word) < 9 else 2


def words_of(text: str) -> list[str]:
    return _WORD.findall(fold(text))


# The catalog's stemmer (Snowball, English: caremap's listings are written in English, see
# CATALOG_LANGUAGE): a word and its stem are how both backends match "evicted" to "eviction".
# Questions in other languages reach the listings through the synonyms and the need vocabulary
# (search_index.needs), which stems Spanish too. Stemmers are not thread-safe; a search runs on
# the event loop, so one serves the process.
_CATALOG_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65_536)
def term(word: str) -> str:
    """What the backends look a folded word up as: its stem in the catalog's language. A
    listing's words are indexed under their stems too (a search document's `stems`)."""
    if not word.isascii() or not word.isalpha():
        return word
    return _CATALOG_STEMMER.stemWord(word)


def terms_of(text: str) -> list[str]:
    return [term(word) for word in words_of(text)]


@cache
def stop_words() -> frozenset[str]:
    """Words that say nothing about the need ("food near me", "ayuda para"), from the data file,
    as written (lower case), neither folded nor stemmed: Vietnamese "chỗ" (a place) folds to
    Vietnamese "cho" (for), and "tiền" (money) stems as Spanish "tiene" does."""
    entries = json.loads(SYNONYMS_FILE.read_text())["stop_words"]
    return frozenset(word for entry in entries for word in written_words(entry))


def written_words(text: str) -> list[str]:
    """The words as typed, in lower case: one for each of `words_of(text)`."""
    written = _WORD.findall(unicodedata.normalize("NFC", text.lower()))
    folded = words_of(text)
    return written if len(written) == len(folded) else folded


def word_units(words: list[str]) -> list[list[str]]:
    """Terms in the units a search treats as one: a synonym phrase found in them (longest
    first, "banco de comida", "do dung hoc"), or a single term."""
    synonyms = synonym_map()
    units, position = [], 0
    while position < len(words):
        for size in range(min(MAX_PHRASE_WORDS, len(words) - position), 1, -1):
            if " ".join(words[position : position + size]) in synonyms:
                break
        else:
            size = 1
        units.append(words[position : position + size])
        position += size
    return units


def meaningful(written: list[str], terms: list[str]) -> list[str]:
    """The terms (of the `written` words) that describe the need: stop words go unless nothing
    else is left, or unless they are part of a synonym phrase ("banco de comida", "đồ ăn")."""
    kept, position = [], 0
    for unit in word_units(terms):
        if len(unit) > 1 or written[position] not in stop_words():
            kept.extend(unit)
        position += len(unit)
    return kept or terms


# The shortest stem a word still being typed is looked up by: a shorter stem of a short word
# ("fooe" to "foo") would match as a prefix what the typo rules (`typo_budget`) do not allow.
MIN_TYPED_STEM = 5


def typed_term(word: str) -> str:
    """What the last word of a search as you type is looked up as, by prefix: its stem if the
    stem only took an ending off ("depressed" to "depress", which then finds "depression") and
    leaves `MIN_TYPED_STEM` letters, or if the stem is a synonym ("coats", "clothes"); else
    the word as typed ("lawy", stemmed "lawi", still finds "lawyer")."""
    stem = term(word)
    if stem in synonym_map() or (word.startswith(stem) and len(stem) >= MIN_TYPED_STEM):
        return stem
    return word


def need_words(text: str) -> list[str]:
    """The terms of a question that describe the need, in the question's order; the last word
    is taken as the start of a word (`typed_term`)."""
    words = words_of(text)
    terms = [term(w) for w in words]
    if words:
        terms[-1] = typed_term(words[-1])
    return meaningful(written_words(text), terms)


def split_zip(text: str) -> tuple[str, str | None]:
    """`food bank near 60623` -> (`food bank near`, `60623`): a ZIP typed into the query box."""
    match = _ZIP_IN_TEXT.search(text)
    if not match:
        return text, None
    return (text[: match.start()] + text[match.end() :]).strip(), match.group(1)


@cache
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    data = json.loads(SYNONYMS_FILE.read_text())
    return tuple(tuple(" ".join(terms_of(p)) for p in group) for group in data["groups"])


@cache
def synonym_map() -> dict[str, tuple[str, ...]]:
    """Each folded phrase to every other phrase of its groups."""
    mapping: dict[str, list[str]] = {}
    for group in synonym_groups():
        for phrase in group:
            mapping.setdefault(phrase, []).extend(p for p in group if p != phrase)
    return {phrase: tuple(dict.fromkeys(others)) for phrase, others in mapping.items()}


# --- opening hours ----------------------------------------------------------------------------


def weekly_slots(schedules: list[dict[str, Any]]) -> list[str]:
    """The 15-minute slots of the week (`TU-14:30`) in which a service opens, in local time.

    Backends filter "open now" on these; the exact answer for a shown result comes from
    `is_open`. Monthly schedules (`2MO`) are not weekly and are left to `is_open`.
    """
    slots: set[str] = set()
    for schedule in schedules:
        if schedule.get("freq", "WEEKLY") != "WEEKLY" or not schedule.get("opens_at"):
            continue
        slots.update(
            _slots(schedule.get("byday") or "", schedule["opens_at"], schedule["closes_at"])
        )
    return sorted(slots)


@cache
def _slots(byday: str, opens_at: str, closes_at: str) -> tuple[str, ...]:
    """Slots of one weekly opening; cached, since most listings share a few common hours."""
    days = [d for d in (byday or ",".join(DAYS)).split(",") if d in DAYS]
    start, end = _minutes(opens_at), _minutes(closes_at)
    slots = []
    for day in days:
        minute = start - start % SLOT_MINUTES
        while minute < end:
            slots.append(f"{day}-{minute // 60:02d}:{minute % 60:02d}")
            minute += SLOT_MINUTES
    return tuple(slots)


def current_slot(now: datetime, timezone: str) -> str:
    local = now.astimezone(time_zone(timezone))
    minute = local.hour * 60 + local.minute
    minute -= minute % SLOT_MINUTES
    return f"{DAYS[local.weekday()]}-{minute // 60:02d}:{minute % 60:02d}"


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")[:2]
    return int(hours) * 60 + int(minutes)


def is_open(schedules: list[dict[str, Any]], now: datetime) -> bool:
    for schedule in schedules:
        if schedule.get("freq", "WEEKLY") != "WEEKLY" or not schedule.get("opens_at"):
            continue
        local = now.astimezone(time_zone(schedule.get("timezone_name") or "America/Chicago"))
        today = local.date().isoformat()
        if schedule.get("valid_from") and today < schedule["valid_from"]:
            continue
        if schedule.get("valid_to") and today > schedule["valid_to"]:
            continue
        days = (schedule.get("byday") or ",".join(DAYS)).split(",")
        minute = local.hour * 60 + local.minute
        if DAYS[local.weekday()] in days and (
            _minutes(schedule["opens_at"]) <= minute < _minutes(schedule["closes_at"])
        ):
            return True
    return False


def next_opening(schedules: list[dict[str, Any]], now: datetime) -> datetime | None:
    """When a closed service next opens (in its own time zone), within the coming week."""
    found: list[datetime] = []
    for schedule in schedules:
        if schedule.get("freq", "WEEKLY") != "WEEKLY" or not schedule.get("opens_at"):
            continue
        local = now.astimezone(time_zone(schedule.get("timezone_name") or "America/Chicago"))
        days = (schedule.get("byday") or ",".join(DAYS)).split(",")
        opens = _minutes(schedule["opens_at"])
        for ahead in range(8):
            day = local + timedelta(days=ahead)
            start = day.replace(hour=opens // 60, minute=opens % 60, second=0, microsecond=0)
            today = start.date().isoformat()
            if (
                DAYS[day.weekday()] in days
                and start > local
                and not (schedule.get("valid_from") and today < schedule["valid_from"])
                and not (schedule.get("valid_to") and today > schedule["valid_to"])
            ):
                found.append(start)
                break
    return min(found) if found else None
