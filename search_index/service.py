"""Running a search: resolving the place, asking the backend, and what to do with no results.

Backend-neutral rules live here so both backends behave the same: words no listing contains are
dropped when all words together find nothing; a search with nothing in its radius returns the
nearest matches beyond it and records the unmet need (query words, categories and ZIP only).
"""

import asyncio
import functools
import html
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from directory.geocoding import Geocoder, nearest_zip, zip_info
from directory.taxonomy import BY_CODE, CATEGORIES, top_levels, within
from search_index.backend import Found, Hit, SearchBackend
from search_index.documents import TEXT_FIELDS
from search_index.models import UnmetSearch
from search_index.needs import Understanding, likely_categories, understand, vocabulary
from search_index.query import (
    KM_PER_MILE,
    MAX_RADIUS_MILES,
    BackendQuery,
    Place,
    SearchQuery,
    current_slot,
    fold,
    is_open,
    need_words,
    split_zip,
    stop_words,
    synonym_groups,
    synonym_map,
    term,
    typo_budget,
    word_units,
    words_of,
)

US_TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "America/Detroit",
    "America/Indiana/Indianapolis",
    "America/Boise",
)
WIDER_RESULTS = 5
_DIGITS = re.compile(r"\d{6,}")
# A word, or an entity that html.escape wrote (so that "amp" in "&amp;" is never a word).
_WORD_OR_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#x27);|\w+")
_TEXT_WORD = re.compile(r"\w+")


async def locate(geocoder: Geocoder, near: str) -> Place:
    point = await geocoder.locate(near)
    info = zip_info(near) or nearest_zip(point)
    if info is None:
        return Place(point=point)
    return Place(point=point, postal_code=info.postal_code, county=info.county, state=info.state)


def understood(query: SearchQuery) -> Understanding:
    """The needs the question names, as categories within those the search asked for (a need
    outside them is not what this search is for)."""
    if not query.understand or not query.text:
        return Understanding()
    reading = understand(query.text)
    categories = reading.categories
    if query.categories:
        categories = tuple(c for c in categories if within(c, query.categories))
    return Understanding(categories, reading.said) if categories else Understanding()


def backend_query(
    query: SearchQuery, place: Place | None, now: datetime, needs: Understanding
) -> BackendQuery:
    """A need understood narrows the search to its categories, and its words only rank."""
    return BackendQuery(
        words=need_words(query.text),
        words_optional=bool(needs.categories),
        first_category=needs.categories[0] if needs.categories else None,
        categories=needs.categories or query.categories,
        language=query.language,
        age=query.age,
        free=query.free,
        accepts_referrals=query.accepts_referrals,
        open_slots={zone: current_slot(now, zone) for zone in US_TIMEZONES}
        if query.open_now
        else {},
        place=place,
        radius_miles=query.radius_miles,
        sort=query.sort,
        offset=(query.page - 1) * query.per_page,
        limit=query.per_page,
    )


@dataclass(frozen=True)
class UnmetNeed:
    """What a search that found nothing nearby asked for: words, categories, ZIP. Never who."""

    words: str
    categories: tuple[str, ...]
    postal_code: str | None
    radius_miles: float


async def search(
    *,
    backend: SearchBackend,
    geocoder: Geocoder,
    query: SearchQuery,
    now: datetime | None = None,
) -> tuple[dict[str, Any], UnmetNeed | None]:
    """The results page, and the unmet need to record when nothing was found nearby.

    Recording is left to the caller so that the write happens after the response is sent.
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    if query.near is None:
        text, typed_zip = split_zip(query.text)
        if typed_zip and zip_info(typed_zip):
            query = replace(query, text=text, near=typed_zip)
    place = await locate(geocoder, query.near) if query.near else None
    needs = understood(query)
    asked = backend_query(query, place, now, needs)
    found = await _page_of(backend, asked)
    ignored: list[str] = []
    if found.total == 0 and len(asked.words) > 1:
        asked, ignored = await _without_unmatched_words(backend, asked)
        if ignored:
            found = await _page_of(backend, asked)
    widened = unmet = did_you_mean = None
    suggested: tuple[str, ...] = ()
    if found.total == 0 and asked.words:
        did_you_mean = await _did_you_mean(backend, asked)
        if did_you_mean is None:
            suggested = likely_categories(query.text)
    if found.total == 0 and place is not None:
        unmet = UnmetNeed(
            words=" ".join(await _known_words(backend, words_of(_DIGITS.sub("", query.text))))[
                :100
            ].strip(),
            categories=needs.categories or query.categories,
            postal_code=place.postal_code,
            radius_miles=query.radius_miles,
        )
        if query.radius_miles < MAX_RADIUS_MILES:
            wider = replace(
                asked, radius_miles=MAX_RADIUS_MILES, sort="distance", offset=0, limit=WIDER_RESULTS
            )
            found = await backend.search(wider)
            widened = {
                "radius_miles": MAX_RADIUS_MILES,
                "message": "Nothing within your radius; these are the nearest matches.",
            }
    highlighter = highlighter_for(tuple(asked.words))
    await asyncio.sleep(0)  # the loop is shared: let waiting requests run before the results
    return {
        "results": [result_document(hit, highlighter, now) for hit in found.hits],
        "total": found.total,
        "total_is_estimate": not found.exact_total,
        "page": query.page,
        "per_page": query.per_page,
        "facets": found.facets,
        "ignored_words": ignored,
        "did_you_mean": did_you_mean,
        "understood": {"categories": list(needs.categories), "words": list(needs.said)}
        if needs.categories
        else None,
        "suggested_categories": [{"code": c, "name": BY_CODE[c].name} for c in suggested],
        "widened": widened,
        "place": {
            "postal_code": place.postal_code,
            "latitude": round(place.point.latitude, 4),
            "longitude": round(place.point.longitude, 4),
        }
        if place
        else None,
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
    }, unmet


# Best match near a place weighs distance (the rule, in one place): results of the same
# standing in the same quality band (each engine says where a band ends: `quality`) are
# equally good matches, and among those the nearer comes first. A clearly better match
# farther away stays above a weaker one nearby. The first `NEAR_WINDOW` results are ordered
# so; pages beyond keep the engine's order.
NEAR_WINDOW = 40


def nearer_among_equals(hits: list[Hit], quality: Callable[[float, float], int]) -> list[Hit]:
    """`hits` (in the engine's order) reordered by the rule above; a stable sort, so hits of
    the same standing, band and distance keep the engine's order."""
    best = max((hit.score for hit in hits), default=0.0)

    def key(ranked: tuple[int, Hit]) -> tuple[int, int, float, int]:
        position, hit = ranked
        distance = hit.distance_miles if hit.distance_miles is not None else math.inf
        band = quality(hit.score, best)
        return (hit.standing, -band, distance, position)

    return [hit for _, hit in sorted(enumerate(hits), key=key)]


async def _page_of(backend: SearchBackend, asked: BackendQuery) -> Found:
    """One page of results. For a best-match search near a place, the first `NEAR_WINDOW`
    results are read at once and ordered by `nearer_among_equals`, then the page is cut."""
    weighs_distance = asked.sort != "distance" and asked.place is not None and asked.words
    if not weighs_distance or asked.offset + asked.limit > NEAR_WINDOW:
        return await backend.search(asked)
    window = await backend.search(replace(asked, offset=0, limit=NEAR_WINDOW))
    ordered = nearer_among_equals(window.hits, backend.quality)
    return replace(window, hits=ordered[asked.offset : asked.offset + asked.limit])


# How like a word caremap knows a typed word must be to be offered instead (rapidfuzz's
# normalised similarity, 0 to 100). Below it the guesses were mostly wrong on the test words.
SUGGEST_CUTOFF = 75


def nearest_known_words(words: list[str]) -> list[str] | None:
    """`words` with each one caremap does not know (and of four letters or more) replaced by
    the nearest one it does (`known_vocabulary`: its synonyms and the category names, in every
    language); None when nothing was replaced."""
    vocabulary = known_vocabulary()
    changed, suggested = False, []
    for word in words:
        match = (
            process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=SUGGEST_CUTOFF)
            if word not in vocabulary and len(word) >= 4
            else None
        )
        changed |= match is not None and match[0] != word
        suggested.append(match[0] if match else word)
    return suggested if changed else None


async def _did_you_mean(backend: SearchBackend, asked: BackendQuery) -> str | None:
    """ "Did you mean" for words that match no listing anywhere (a misspelling beyond the typo
    rules): the nearest known words, offered only if they find something with the same
    filters. None when the words are fine, so a search that is only too far away gets the
    nearest matches instead."""
    anywhere = replace(asked, place=None, offset=0, limit=1)
    if (await backend.search(anywhere)).total:
        return None
    suggested = nearest_known_words(asked.words)
    if suggested is None:
        return None
    if (await backend.search(replace(anywhere, words=suggested))).total == 0:
        return None
    return " ".join(suggested)


async def _without_unmatched_words(
    backend: SearchBackend, asked: BackendQuery
) -> tuple[BackendQuery, list[str]]:
    """Drop the words that match nothing on their own (with the same filters); a synonym phrase
    is probed, kept or dropped whole."""
    kept: list[str] = []
    ignored: list[str] = []
    units = word_units(asked.words)
    for position, unit in enumerate(units):
        last = position == len(units) - 1
        probe = replace(asked, words=unit, offset=0, limit=1, prefix_last=last)
        alone: Found = await backend.search(probe)
        (kept if alone.total else ignored).extend(unit)
    if not kept:
        return asked, []
    return replace(asked, words=kept), ignored


@cache
def known_vocabulary() -> frozenset[str]:
    """The words caremap itself knows, whatever the catalog holds: the synonyms (as terms), the
    stop words, the need vocabulary and the category names and codes, in every language."""
    words: set[str] = set(stop_words())
    for group in synonym_groups():
        for phrase in group:
            words.update(phrase.split())
    for need in vocabulary():
        words.update(words_of(need.phrase))
    for category in CATEGORIES:  # top-level names too, which the need vocabulary leaves out
        for text in (category.code.replace("-", " "), *category.names()):
            words.update(words_of(text))
    return frozenset(words)


async def _known_words(backend: SearchBackend, words: list[str]) -> list[str]:
    """The words of an unmet search that may be kept for the gap reports: those in caremap's
    own vocabulary or, exactly, in some listing of the catalog. A family that types a person's
    name ("help for Maria Zephyrine") leaves no name behind, since no listing holds it."""
    kept = []
    for word in dict.fromkeys(words):
        if word in known_vocabulary() or term(word) in known_vocabulary():
            kept.append(word)
            continue
        probe = BackendQuery(words=[word], offset=0, limit=5, prefix_last=False)
        found = await backend.search(probe)
        if any(word in _document_words(hit.document) for hit in found.hits):
            kept.append(word)
    return kept


def _document_words(document: dict[str, Any]) -> set[str]:
    words: set[str] = set()
    for name in TEXT_FIELDS:
        value = document.get(name)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                words.update(words_of(text))
    return words


async def record_unmet(need: UnmetNeed) -> None:
    await UnmetSearch.create(
        query=need.words,
        categories=list(need.categories),
        postal_code=need.postal_code,
        radius_miles=need.radius_miles,
    )


async def unmet_searches(
    start: datetime, end: datetime, category: str | None = None
) -> Counter[tuple[str, str]]:
    """Searches that found nothing nearby in [start, end), by (top-level category, ZIP code).
    A search for several categories counts under each; one for none under "" (text only)."""
    counts: Counter[tuple[str, str]] = Counter()
    rows = UnmetSearch.filter(created_at__gte=start, created_at__lt=end)
    for row in await rows.values("categories", "postal_code"):
        codes = row["categories"] or []
        if category and not within(category, codes):
            continue
        for top in top_levels(codes) or [""]:
            counts[(top, row["postal_code"] or "")] += 1
    return counts


# --- what a result looks like -----------------------------------------------------------------


def result_document(hit: Hit, highlighter: "Highlighter", now: datetime) -> dict[str, Any]:
    document = hit.document
    geo = document.get("_geo")
    distance = None
    if hit.distance_miles is not None:
        distance = {
            "miles": round(hit.distance_miles, 2),
            "km": round(hit.distance_miles * KM_PER_MILE, 2),
        }
    return {
        "service_id": document["service_id"],
        "name": document["name"],
        "name_highlighted": highlighter.highlight(document["name"]),
        "snippet": highlighter.snippet(document["description"]),
        "organization": {"id": document["organization_id"], "name": document["organization_name"]},
        "categories": document["category_codes"],
        "languages": document["languages"],
        "free": document["free"],
        "accepts_referrals": document["accepts_referrals"],
        "status": document["status"],
        "temporarily_closed": document["status"] == "temporarily closed",
        "stale": document.get("stale", False),
        "last_verified_at": document.get("last_verified_at") or None,
        "open_now": is_open(document["schedules"], now),
        "distance": distance,
        "serves_area": hit.serves_area,
        "location": {
            "id": document["location_id"],
            "name": document["location_name"],
            "address": document["address"],
            "postal_code": document["postal_code"],
            "latitude": geo["lat"],
            "longitude": geo["lng"],
        }
        if document["location_id"]
        else None,
        "phone": document["phone"] or None,
        "intake": {
            "state": document.get("intake_state", "open"),
            "wait_days": document.get("intake_wait_days"),
        },
        "url": f"/api/services/{document['service_id']}",
    }


class Highlighter:
    """Marks the words of a text that a search matched (its words, their typos and synonyms).

    One per set of search words (see `highlighter_for`): the words to look for are worked out
    once, and each decision is remembered, since the same words recur across results and
    across searches for the same words.
    """

    # What is kept before starting afresh: bounds that keep a worker's memory flat (at most
    # a few MB for all the highlighters `highlighter_for` keeps), not tunings.
    WORDS_KEPT = 4_000
    TEXTS_KEPT = 300

    def __init__(self, words: tuple[str, ...]) -> None:
        wanted = {*words, *(term(w) for w in words)}
        synonyms = synonym_map()
        for word in list(wanted):
            for phrase in synonyms.get(word, ()):
                wanted.update(phrase.split())
        self.wanted = {w for w in wanted if len(w) > 1}
        self._prefixes = tuple(sorted(self.wanted))
        self._typos = {
            budget: [w for w in sorted(self.wanted) if typo_budget(w) == budget]
            for budget in (1, 2)
        }
        self._seen: dict[str, bool] = {}
        self._texts: dict[tuple[str, int], str] = {}  # (text, snippet width or 0): marked

    def matches(self, word: str) -> bool:
        """A text's word matches if it starts with a wanted word or is within its typo budget."""
        known = self._seen.get(word)
        if known is None:
            folded = fold(word)
            known = (
                folded.startswith(self._prefixes)
                or term(folded) in self.wanted
                or any(
                    targets
                    and process.extractOne(
                        folded, targets, scorer=DamerauLevenshtein.distance, score_cutoff=budget
                    )
                    is not None
                    for budget, targets in self._typos.items()
                )
            )
            if len(self._seen) >= self.WORDS_KEPT:
                self._seen.clear()
            self._seen[word] = known
        return known

    def highlight(self, text: str) -> str:
        """HTML-escaped text with the matched words in <mark>."""
        return self._remembered(text, 0)

    def snippet(self, text: str, width: int = 160) -> str:
        """A window of the text around the first matched word, highlighted."""
        return self._remembered(text, width)

    def _remembered(self, text: str, width: int) -> str:
        """The same listings come back for the same words, so their marked names and snippets
        are kept."""
        key = (text, width)
        marked = self._texts.get(key)
        if marked is None:
            marked = self._snippet(text, width) if width else self._highlight(text)
            if len(self._texts) >= self.TEXTS_KEPT:
                self._texts.clear()
            self._texts[key] = marked
        return marked

    def _highlight(self, text: str) -> str:
        escaped = html.escape(text)
        if not self.wanted:
            return escaped
        return _WORD_OR_ENTITY.sub(self._mark, escaped)

    def _mark(self, match: re.Match[str]) -> str:
        word = match.group()
        return f"<mark>{word}</mark>" if word[0] != "&" and self.matches(word) else word

    def _snippet(self, text: str, width: int) -> str:
        start = 0
        if self.wanted:
            for match in _TEXT_WORD.finditer(text):
                if self.matches(match.group()):
                    start = max(0, match.start() - width // 3)
                    break
        piece = text[start : start + width]
        prefix = "…" if start else ""
        suffix = "…" if start + width < len(text) else ""
        return prefix + self._highlight(piece) + suffix


@functools.lru_cache(maxsize=64)
def highlighter_for(words: tuple[str, ...]) -> Highlighter:
    """The highlighter for these search words, shared by every search for them."""
    return Highlighter(words)
