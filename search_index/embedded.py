"""The embedded search backend: a Tantivy index on local disk, no server needed.

Tantivy does the text matching (BM25 with per-field boosts, typo-tolerant and prefix terms) and
the filtering (fast fields for ages, flags and a latitude/longitude bounding box); exact
distances, the radius, one-hit-per-service and ordering happen here on the matched hits.

One process writes (the outbox drainer); any number of processes on the host read, picking up
each commit. `rebuild` writes a complete index into a new folder and then points `CURRENT` at
it, so readers switch between two complete indexes and never see a half-built one.

Each process keeps what its recent searches decided (which documents, in what order, with what
facets) and the documents it read, until the index changes: a public directory sees the same
searches again and again, and deciding is most of a search's cost. It also keeps the located
listings a search's words matched, since "use my location" asks the same words from points
that never repeat, and a search near a new point then only picks those in its box.
"""

import asyncio
import functools
import math
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import tantivy
from cachetools import LRUCache

from directory.geocoding import Point, bounding_box, distances_miles
from directory.taxonomy import CATEGORIES
from search_index.backend import Found, Hit, Progress, SearchUnavailable
from search_index.documents import county_key
from search_index.query import (
    BackendQuery,
    synonym_map,
    typo_budget,
    word_units,
)

ANALYZER = "caremap"
TEXT_FIELDS = {  # searchable attributes, in ranked order, with their boosts
    "name": 4.0,
    "alternate_name": 3.0,
    "category_names": 3.0,
    "organization_name": 2.0,
    "description": 1.0,
    "eligibility": 0.5,
    "stems": 1.0,  # the words of the fields above and their stems (documents.stems_of)
}
KEYWORD_FIELDS = (
    "service_id",
    "category_codes",
    "languages",
    "area_postal_codes",
    "area_counties",
    "area_states",
    "open_slots",
    "timezone",
)
MAX_CANDIDATES = 1000
# How many boxes a nearest-first search of many listings tries before it settles (`_nearest`).
BOX_STEPS = 8
# What a document holds only to be found by, not stored twice in the payload a result shows.
NOT_SHOWN = ("open_slots", "stems", "every_listing", "category_tokens")
# A search's words rank as Meilisearch's "last" matching strategy does (see `_Search._text`):
# the last unit a listing holds adds this much to its score, more than all the words' own BM25
# scores together, and each earlier one twice the next; past `RANKED_UNITS` units, the same.
PREFIX_SCORE = 10_000.0
RANKED_UNITS = 12
# What a process keeps per index state, bounded so a worker's memory stays flat (about 10 MB in
# all when full): decisions (about 2 KB each) for the popular head of a directory's searches, and
# documents (about 1 KB each).
DECISIONS_KEPT = 1024
DOCUMENTS_KEPT = 4096
# Searches near a place whose words and filters were matched before, at another place ("use my
# location" never repeats the coordinates): the located listings they matched, as columns, when
# there are at most MATCHES_ROWS of them. About 80 bytes a row: at most 100 MB when full; 17 MB
# for 3,000 distinct searches at 100,000 listings (the benchmark's mix: 82 sets of words and
# filters).
MATCHES_KEPT = 128
MATCHES_ROWS = 10_000
# Whether any listing passing a search's filters serves a ZIP, county and state: per place
# and set of filters, a few bytes each.
SERVED_KEPT = 4096
# Sets of words and filters known to match far more located listings than MATCHES_ROWS, kept
# across index states: a few hundred bytes each.
TOO_MANY_KEPT = 4096
CATEGORY_BITS = {category.code: bit for bit, category in enumerate(CATEGORIES)}
LANGUAGE_BITS = {
    code: bit
    for bit, code in enumerate(
        (
            "en",
            "es",
            "pl",
            "ar",
            "zh",
            "vi",
            "sw",
            "fr",
            "ht",
            "ru",
            "uk",
            "ko",
            "tl",
            "hi",
            "ur",
            "pt",
            "so",
            "am",
            "ne",
            "my",
            "fa",
            "ps",
            "bn",
            "gu",
            "pa",
            "ta",
            "te",
            "ja",
            "de",
            "it",
            "el",
            "ro",
            "sq",
            "bs",
            "hr",
            "sr",
            "tr",
            "he",
            "hmn",
            "km",
            "lo",
            "th",
            "ti",
            "yo",
            "ig",
            "ha",
            "ff",
            "kar",
            "asl",
            "nv",
            "chr",
            "qu",
            "yua",
            "mam",
            "kek",
            "tzh",
            "zap",
            "mix",
            "nah",
            "ln",
            "rw",
        )
    )
}
OTHER_LANGUAGE_BIT = 63


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for name in TEXT_FIELDS:
        builder.add_text_field(name, tokenizer_name=ANALYZER)
    for name in KEYWORD_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for name in ("free", "accepts_referrals", "everywhere", "has_geo"):
        builder.add_boolean_field(name, indexed=True, fast=True)
    for name in ("minimum_age", "maximum_age", "standing"):
        builder.add_integer_field(name, indexed=True, fast=True)
    for name in ("latitude", "longitude"):
        builder.add_float_field(name, indexed=True, fast=True)
    for name in ("service_key", "category_mask", "language_mask"):
        builder.add_unsigned_field(name, fast=True)
    builder.add_bytes_field("payload", stored=True, indexed=False, fast=False)
    return builder.build()


SCHEMA = _schema()
# Bump when the schema above changes: an index of another version is rebuilt, not opened.
SCHEMA_VERSION = 4


def _new_folder_name() -> str:
    return f"v{SCHEMA_VERSION}-{int(time.time() * 1000)}"


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _mask(values: list[str], bits: dict[str, int], other: int | None = None) -> int:
    mask = 0
    for value in values:
        bit = bits.get(value, other)
        if bit is not None:
            mask |= 1 << bit
    return mask


def _tantivy_document(document: dict[str, Any]) -> tantivy.Document:
    geo = document.get("_geo")
    values: dict[str, Any] = {name: document.get(name) or "" for name in TEXT_FIELDS}
    values.update(
        {
            "service_id": document["service_id"],
            "category_codes": document["category_codes"],
            "languages": document["languages"],
            "area_postal_codes": document["area_postal_codes"],
            "area_counties": document["area_counties"],
            "area_states": [s.lower() for s in document["area_states"]],
            "open_slots": document["open_slots"],
            "timezone": document["timezone"],
            "free": document["free"],
            "accepts_referrals": document["accepts_referrals"],
            "everywhere": document["everywhere"],
            "has_geo": geo is not None,
            "minimum_age": document["minimum_age"],
            "maximum_age": document["maximum_age"],
            "standing": document["standing"],
            "latitude": geo["lat"] if geo else 0.0,
            "longitude": geo["lng"] if geo else 0.0,
            "service_key": uuid.UUID(document["service_id"]).int >> 64,
            "category_mask": _mask(document["category_codes"], CATEGORY_BITS),
            "language_mask": _mask(document["languages"], LANGUAGE_BITS, OTHER_LANGUAGE_BIT),
            # What a result page shows; the slots are only for filtering, not stored twice.
            "payload": orjson.dumps(
                {key: value for key, value in document.items() if key not in NOT_SHOWN}
            ),
        }
    )
    return tantivy.Document.from_dict(values, SCHEMA)


class EmbeddedBackend:
    """A Tantivy index under `root`; `CURRENT` names the live index folder."""

    name = "embedded"

    def __init__(self, root: Path, *, writer: bool) -> None:
        self.root = root
        self.is_writer = writer
        self._index: tantivy.Index | None = None
        self._writer: Any = None
        self._folder: str | None = None
        self._commit: tuple[int, int, int] | None = None  # meta.json's inode, mtime and size
        self._view: _View | None = None
        self._checked_at = 0.0
        # One write at a time: a rebuild's swap must not meet a batch half-written to the old
        # folder, or the old folder would be deleted under the writer's feet.
        self._writing = asyncio.Lock()
        # Words and filters seen to match far more located listings than `MATCHES_ROWS`, with
        # how many: kept across index states (see `_matched`).
        self._too_many: LRUCache[str, int] = LRUCache(TOO_MANY_KEPT)

    # --- opening and switching --------------------------------------------------------------

    def _current_folder(self) -> str | None:
        """The live index folder, if it was built with this code's schema."""
        try:
            folder = (self.root / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return None
        return folder if folder.startswith(f"v{SCHEMA_VERSION}-") else None

    def _point_current_at(self, folder: str) -> None:
        temporary = self.root / f"CURRENT.{os.getpid()}"
        temporary.write_text(folder)
        os.replace(temporary, self.root / "CURRENT")

    def _open_folder(self, folder: str) -> None:
        index = tantivy.Index(SCHEMA, path=str(self.root / folder), reuse=True)
        index.register_tokenizer(ANALYZER, _analyzer())
        if self._writer is not None:
            self._writer.wait_merging_threads()  # background merges still write the old folder
            self._writer = None
        self._index, self._folder = index, folder
        if self.is_writer:
            self._writer = index.writer(heap_size=64_000_000, num_threads=1)

    def _last_commit(self, folder: str) -> tuple[int, int, int] | None:
        """Tantivy replaces meta.json (a new file) on every commit and merge."""
        try:
            meta = (self.root / folder / "meta.json").stat()
        except FileNotFoundError:
            return None
        return meta.st_ino, meta.st_mtime_ns, meta.st_size

    def reload(self) -> None:
        """Reload and start a new view, dropping what searches kept; called on the event loop
        whenever the index may have changed (and by the benchmark, to time searches afresh).
        The commit is read before reloading, so a later one is seen at the next check."""
        assert self._index is not None
        assert self._folder is not None
        self._commit = self._last_commit(self._folder)
        self._index.reload()
        self._view = _View(self._index.searcher(), self._too_many)

    async def open(self) -> bool:
        """Open the live index; a writer creates an empty one if there is none yet (True)."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self._current_folder()
        if folder is None:
            if not self.is_writer:
                return False  # searches answer 503 until the writer has built it
            folder = _new_folder_name()
            (self.root / folder).mkdir()
            self._open_folder(folder)
            self._point_current_at(folder)
            self.reload()
            return True
        self._open_folder(folder)
        self.reload()
        return False

    def _fresh_view(self) -> "_View":
        """The live index's view, renewed if a rebuild swapped in a new folder or a commit
        changed the index (looked at twice a second at most)."""
        now = time.monotonic()
        if self._view is None or now - self._checked_at > 0.5:
            self._checked_at = now
            folder = self._current_folder()
            if folder is None:
                raise SearchUnavailable("The search index has not been built yet.")
            if folder != self._folder:
                self._open_folder(folder)
                self.reload()
            elif self._last_commit(folder) != self._commit:
                self.reload()
        assert self._view is not None
        return self._view

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
        self._writer = self._index = self._view = self._folder = None

    async def healthy(self) -> bool:
        try:
            self._fresh_view()
        except (SearchUnavailable, OSError, ValueError):
            return False
        return True

    # --- writing -----------------------------------------------------------------------------

    async def apply(self, upserts: list[dict[str, Any]], delete_service_ids: list[str]) -> None:
        if not self.is_writer:
            raise RuntimeError("this process only reads the embedded index")
        async with self._writing:
            self._fresh_view()
            await asyncio.to_thread(self._apply, upserts, delete_service_ids)
            self.reload()  # the writer sees its own commit at once

    def _apply(self, upserts: list[dict[str, Any]], delete_service_ids: list[str]) -> None:
        writer = self._writer
        try:
            for service_id in {*delete_service_ids, *(d["service_id"] for d in upserts)}:
                writer.delete_documents_by_term("service_id", service_id)
            for document in upserts:
                writer.add_document(_tantivy_document(document))
            writer.commit()
        except (OSError, ValueError) as error:
            writer.rollback()
            raise SearchUnavailable(f"embedded index write failed: {error}") from error

    async def rebuild(
        self, batches: AsyncIterator[list[dict[str, Any]]], progress: Progress | None = None
    ) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        folder = _new_folder_name()
        (self.root / folder).mkdir()
        index = tantivy.Index(SCHEMA, path=str(self.root / folder), reuse=False)
        index.register_tokenizer(ANALYZER, _analyzer())
        writer = index.writer(heap_size=256_000_000, num_threads=2)

        def add_all(documents: list[tantivy.Document]) -> None:
            for document in documents:
                writer.add_document(document)

        count, adding = 0, None
        async for batch in batches:  # the next batch is read while the last one is indexed
            documents = [_tantivy_document(d) for d in batch]
            if adding is not None:
                await adding
            adding = asyncio.ensure_future(asyncio.to_thread(add_all, documents))
            count += len(batch)
            if progress:
                progress(count)
        if adding is not None:
            await adding
        await asyncio.to_thread(writer.commit)
        await asyncio.to_thread(writer.wait_merging_threads)
        async with self._writing:
            self._point_current_at(folder)
            if self.is_writer:
                await asyncio.to_thread(self._open_folder, folder)
                self.reload()
            for stale in self.root.iterdir():  # the previous index, and any of an older schema
                if stale.is_dir() and stale.name != folder:
                    shutil.rmtree(stale, ignore_errors=True)
        return count

    # --- searching ---------------------------------------------------------------------------

    @staticmethod
    def quality(score: float, best: float) -> int:
        """A band per set of words held (`PREFIX_SCORE` apart), split in tenths of the best
        BM25 score found, since BM25 scores have no fixed scale."""
        runs, rest = divmod(score, PREFIX_SCORE)
        best_rest = best % PREFIX_SCORE
        return int(runs) * 10 + (min(9, int(10 * rest / best_rest)) if best_rest > 0 else 0)

    async def search(self, query: BackendQuery) -> Found:
        """A decision kept from the same search, or a new one made on the event loop in two
        halves, giving the loop back in between: requests waiting on a database round trip then
        wait for half a search, not a whole one."""
        view = self._fresh_view()
        # Kept as text: the bytes orjson returns hold a 4 KB buffer each, the text 0.3 KB.
        key = orjson.dumps(query, option=orjson.OPT_SORT_KEYS).decode()
        decision = view.decisions.get(key)
        if decision is None:
            search = _Search(view, query)
            rows, total_docs = search.candidates()
            await asyncio.sleep(0)
            decision = search.decide(rows, total_docs)
            view.decisions[key] = decision  # dropped with its view if the index changed meanwhile
        return view.found(decision)


class _View:
    """One state of the index, and what this process has worked out on it: the searches it
    decided and the documents it read. A new state gets a new view, so nothing kept ever
    names another state's documents."""

    def __init__(self, searcher: Any, too_many: "LRUCache[str, int]") -> None:
        self.searcher = searcher
        self.too_many = too_many  # the backend's, shared by every view: see `_matched`
        self.decisions: LRUCache[str, _Decision] = LRUCache(DECISIONS_KEPT)
        self.matches: LRUCache[str, _Matched | None] = LRUCache(MATCHES_KEPT)
        self.served: LRUCache[str, bool] = LRUCache(SERVED_KEPT)  # see _anyone_serves_area
        self._payloads: LRUCache[tuple[int, int], bytes] = LRUCache(DOCUMENTS_KEPT)

    def found(self, decision: "_Decision") -> Found:
        """The decided page; each hit reads its own copy of its document when first asked."""
        return Found(
            hits=[
                Hit(
                    load=functools.partial(self._document, hit.address),
                    score=hit.score,
                    distance_miles=hit.distance_miles,
                    serves_area=hit.serves_area,
                    standing=hit.standing,
                )
                for hit in decision.hits
            ],
            total=decision.total,
            facets={name: dict(counts) for name, counts in decision.facets.items()},
            exact_total=decision.exact_total,
        )

    def _document(self, address: Any) -> dict[str, Any]:
        return orjson.loads(self._payload(address))

    def _payload(self, address: Any) -> bytes:
        key = (address.segment_ord, address.doc)
        payload = self._payloads.get(key)
        if payload is None:
            payload = self.searcher.doc(address).get_first("payload")
            self._payloads[key] = payload
        return payload


class _Search:
    def __init__(self, view: _View, query: BackendQuery) -> None:
        self.view = view
        self.searcher = view.searcher
        self.query = query
        # Facets the engine counted over every match, when the rows are only the nearest page
        # (see `_near`); otherwise they are counted over the rows.
        self.counted_facets: dict[str, dict[str, int]] | None = None

    # text ------------------------------------------------------------------------------------

    def _word(self, word: str, last: bool, typos: bool) -> tantivy.Query:
        """With `typos`, whether a listing holds the word: in its stems (every text field's
        words, as the terms searches look up), exactly, within the word's typo budget, or as a
        prefix if it is the last. Without, the word's score: exactly, in any text field, by each
        field's boost."""
        if not typos:
            return tantivy.Query.boolean_query(
                [
                    (
                        tantivy.Occur.Should,
                        tantivy.Query.boost_query(
                            tantivy.Query.term_query(SCHEMA, field, word), boost
                        ),
                    )
                    for field, boost in TEXT_FIELDS.items()
                ]
            )
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, "stems", word))]
        budget = typo_budget(word)
        if budget or last:
            fuzzy = tantivy.Query.fuzzy_term_query(
                SCHEMA, "stems", word, distance=budget, transposition_cost_one=True, prefix=last
            )
            clauses.append((tantivy.Occur.Should, fuzzy))
        return tantivy.Query.boolean_query(clauses)

    @staticmethod
    def _phrase(words: list[str]) -> tantivy.Query:
        """All words of a synonym phrase, exactly, in a listing's stems."""
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tantivy.Query.term_query(SCHEMA, "stems", w)) for w in words]
        )

    def _unit(self, unit: list[str], last: bool, typos: bool) -> tantivy.Query:
        """One word, or a synonym phrase: its own words, or any of its synonyms."""
        phrase = " ".join(unit)
        synonyms = synonym_map()
        if phrase not in synonyms:
            return self._word(phrase, last, typos)
        own = [self._word(w, last and i == len(unit) - 1, typos) for i, w in enumerate(unit)]
        options = [
            (
                tantivy.Occur.Should,
                tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in own]),
            )
        ]
        options += [(tantivy.Occur.Should, self._phrase(alt.split())) for alt in synonyms[phrase]]
        return tantivy.Query.boolean_query(options)

    def _text(self) -> list[tantivy.Query]:
        """The words, ranked by which of them a listing holds, the first weighing most: each
        unit (word or synonym phrase; the first category, if the search has one, comes first)
        adds a constant twice the next one's, so listings holding the first n units come above
        those holding only the first n - 1, as with Meilisearch's "last" matching strategy.
        The first unit is required unless the words only rank. Within one set of units held,
        the BM25 score of the exact words (with their synonyms) orders listings, so one matched
        only through a typo comes after an exact one."""
        units = word_units(self.query.words)
        last = [n == len(units) - 1 and self.query.prefix_last for n in range(len(units))]
        held = [self._unit(unit, last[n], typos=True) for n, unit in enumerate(units)]
        scored = [self._unit(unit, last[n], typos=False) for n, unit in enumerate(units)]
        if self.query.first_category:
            first = tantivy.Query.term_query(SCHEMA, "category_codes", self.query.first_category)
            held.insert(0, first)
        if not held:
            return []
        ranking = [(tantivy.Occur.Should, query) for query in scored]
        if self.query.words_optional:
            ranking.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        for number, query in enumerate(held):
            weight = PREFIX_SCORE * 2 ** max(0, min(len(held), RANKED_UNITS) - 1 - number)
            required = number == 0 and not self.query.words_optional
            occur = tantivy.Occur.Must if required else tantivy.Occur.Should
            ranking.append((occur, tantivy.Query.const_score_query(query, weight)))
        return [tantivy.Query.boolean_query(ranking)]

    # filters ---------------------------------------------------------------------------------

    def _filters(self) -> list[tantivy.Query]:
        q, term, filters = self.query, tantivy.Query.term_query, []
        if q.categories:  # a term or a union of terms: both cost less than a term set query
            categories = [term(SCHEMA, "category_codes", code) for code in q.categories]
            filters.append(
                categories[0]
                if len(categories) == 1
                else tantivy.Query.boolean_query([(tantivy.Occur.Should, c) for c in categories])
            )
        if q.language:
            filters.append(term(SCHEMA, "languages", q.language))
        for flag in ("free", "accepts_referrals"):
            if getattr(q, flag) is not None:
                filters.append(term(SCHEMA, flag, getattr(q, flag)))
        if q.age is not None:
            filters.append(self._range("minimum_age", None, q.age))
            filters.append(self._range("maximum_age", q.age, None))
        if q.open_slots:
            filters.append(
                tantivy.Query.boolean_query(
                    [
                        (
                            tantivy.Occur.Should,
                            tantivy.Query.boolean_query(
                                [
                                    (tantivy.Occur.Must, term(SCHEMA, "timezone", zone)),
                                    (tantivy.Occur.Must, term(SCHEMA, "open_slots", slot)),
                                ]
                            ),
                        )
                        for zone, slot in q.open_slots.items()
                    ]
                )
            )
        return filters

    @staticmethod
    def _range(field: str, low: float | None, high: float | None) -> tantivy.Query:
        kind = (
            tantivy.FieldType.Float
            if field in ("latitude", "longitude")
            else (tantivy.FieldType.Integer)
        )
        return tantivy.Query.range_query(SCHEMA, field, kind, low, high)

    def _inside_box(self, radius: float) -> list[tantivy.Query]:
        assert self.query.place is not None
        return self._box(
            *bounding_box(self.query.place.point, radius), scored=self.query.sort != "distance"
        )

    def _box(
        self, south: float, north: float, west: float, east: float, scored: bool = True
    ) -> list[tantivy.Query]:
        """Clauses for located listings within the bounds, to join a search's other required
        clauses (nested in a boolean query of their own they cost twice as much).

        `has_geo` keeps out the listings without a place, indexed at (0, 0), and adds the same
        to every located listing's score. It costs as much again as the bounds, so a search
        whose order does not use scores (nearest first) asks it only if the box holds (0, 0)."""
        clauses = [self._range("latitude", south, north), self._range("longitude", west, east)]
        if scored or (south <= 0 <= north and west <= 0 <= east):
            clauses.append(tantivy.Query.term_query(SCHEMA, "has_geo", True))
        return clauses

    def _serving_area(self) -> tantivy.Query:
        place, term = self.query.place, tantivy.Query.term_query
        assert place is not None
        options = [term(SCHEMA, "everywhere", True)]
        if place.postal_code:
            options.append(term(SCHEMA, "area_postal_codes", place.postal_code))
        if place.county and place.state:
            options.append(term(SCHEMA, "area_counties", county_key(place.county, place.state)))
        if place.state:
            options.append(term(SCHEMA, "area_states", place.state.lower()))
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, o) for o in options])

    def _combine(self, *parts: tantivy.Query) -> tantivy.Query:
        clauses = [(tantivy.Occur.Must, part) for part in parts]
        if not clauses:
            return tantivy.Query.all_query()
        if not self.query.words:
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    # running ---------------------------------------------------------------------------------

    def _collect(self, query: tantivy.Query, limit: int) -> tuple[list[tuple[float, Any]], int]:
        result = self.searcher.search(query, limit, count=True)
        return result.hits, result.count or 0

    def candidates(self) -> tuple["_Rows", int]:
        """The matching documents (at most MAX_CANDIDATES a query) and how many matched."""
        base = [*self._text(), *self._filters()]
        if self.query.place is None:
            hits, total_docs = self._collect(self._combine(*base), MAX_CANDIDATES)
            return self._rows(hits, None), total_docs
        return self._near(base)

    def decide(self, rows: "_Rows", total_docs: int) -> "_Decision":
        """Each service once, in order, the page asked for, and the facets."""
        ordered = self._ordered(rows, self._best_per_service(rows))
        page = ordered[self.query.offset : self.query.offset + self.query.limit]
        exact = total_docs <= MAX_CANDIDATES
        return _Decision(
            hits=tuple(self._hit(rows, int(position)) for position in page),
            total=len(ordered) if exact else total_docs,
            facets=self.counted_facets
            or {
                "categories": _count_bits(rows.categories[ordered], CATEGORY_NAMES),
                "languages": _count_bits(rows.languages[ordered], LANGUAGE_NAMES),
            },
            exact_total=exact,
        )

    def _near(self, base: list[tantivy.Query]) -> tuple["_Rows", int]:
        """Hits inside the radius (by exact distance) plus hits serving the searcher's area.

        The whole radius's count is the total. When it holds at most `MAX_CANDIDATES` (most
        searches with filters, and any that finds nothing) reading it is the answer. A
        nearest-first search of more listings than that needs only the nearest page, which
        the engine's best `MAX_CANDIDATES` (all scored alike when there are no words) may not
        hold: the engine counts the radius's box and its facets without reading it (an
        estimate, as the total then is), and `_nearest` finds a box around the searcher that
        holds the page and no more than can be read at once."""
        q = self.query
        assert q.place is not None
        matched = self._matched(base) if q.words else None
        if matched is not None:
            inside, count = matched.inside(q.place.point, q.radius_miles)
            return self._with_area(base, inside, count)
        whole = self._combine(*base, *self._inside_box(q.radius_miles))
        if q.sort == "distance" and not q.words:
            facets, count = self._facets_of(whole)  # counting is cheaper than reading
            if count > MAX_CANDIDATES:
                self.counted_facets = facets
                return self._with_area(base, self._nearest(base, whole, count), count)
        hits, count = self._collect(whole, MAX_CANDIDATES)
        return self._with_area(base, self._within(hits, q.radius_miles), count)

    def _nearest(self, base: list[tantivy.Query], whole: tantivy.Query, count: int) -> "_Rows":
        """The nearest listings down to the page asked for, from the smallest box around the
        searcher that holds the page and no more than can be read at once (`enough`): the
        box's radius is halved while it holds too many and grown while it holds too few.
        `whole` is the search over the whole radius, which holds `count`."""
        q = self.query
        wanted = q.offset + q.limit
        enough = max(MAX_CANDIDATES, wanted)  # a page deep into the list reads down to it
        if count <= enough:
            hits, _count = self._collect(whole, enough)
            return self._within(hits, q.radius_miles)
        too_few, too_many = 0.0, q.radius_miles  # radii known to hold too few, too many
        radius = q.radius_miles / 16
        for _step in range(BOX_STEPS):
            hits, held = self._collect(self._combine(*base, *self._inside_box(radius)), enough)
            nearest = self._within(hits, radius)
            if held > enough:
                too_many = radius
            elif len(nearest) < wanted:
                too_few = radius
            else:
                return nearest
            if not too_few:
                radius /= 4
            elif radius * 2 < too_many:
                radius *= 2
            else:
                radius = (too_few + too_many) / 2
        # No box holds the page for sure in so many steps (listings bunched at one place):
        # the nearest of as many as can be kept, read from the smallest box known to hold it.
        hits, _count = self._collect(
            self._combine(*base, *self._inside_box(too_many)), MATCHES_ROWS
        )
        return self._within(hits, too_many)

    def _within(self, hits: list[tuple[float, Any]], radius: float) -> "_Rows":
        """The hits within `radius` of the searcher, by exact distance."""
        assert self.query.place is not None
        rows = self._rows(hits, self.query.place.point)
        return rows.take(np.flatnonzero(rows.distance <= radius))  # NaN (no place) is out

    def _facets_of(self, query: tantivy.Query) -> tuple[dict[str, dict[str, int]], int]:
        """Category and language counts over every document `query` matches, and how many it
        matches, by the engine (a terms aggregation over the masks, which every document has:
        as many buckets as combinations, not documents)."""
        aggregations = {
            name: {"terms": {"field": field, "size": 65_536}}
            for name, field in (("categories", "category_mask"), ("languages", "language_mask"))
        }
        result = self.searcher.aggregate(query, aggregations)
        count = sum(bucket["doc_count"] for bucket in result["categories"]["buckets"])
        return {
            name: _count_bits(
                np.array([int(b["key"]) for b in result[name]["buckets"]], dtype=np.uint64),
                CATEGORY_NAMES if name == "categories" else LANGUAGE_NAMES,
                np.array([b["doc_count"] for b in result[name]["buckets"]], dtype=np.int64),
            )
            for name in aggregations
        }, count

    def _with_area(
        self, base: list[tantivy.Query], inside: "_Rows", count: int
    ) -> tuple["_Rows", int]:
        """`inside` and the hits serving the searcher's area."""
        assert self.query.place is not None
        if not self._anyone_serves_area():
            return inside, count
        area_hits, area_count = self._collect(
            self._combine(*base, self._serving_area()), MAX_CANDIDATES
        )
        area = self._rows(area_hits, self.query.place.point, serves_area=True)
        return _Rows.join(inside, area), count + area_count

    def _matched(self, base: list[tantivy.Query]) -> "_Matched | None":
        """The located listings the words and filters match, wherever they are, if there are
        at most `MATCHES_ROWS`: kept, so the same words at another place are one numpy pass."""
        key = _wherever(self.query)
        if key in self.view.matches:
            return self.view.matches[key]
        # Words that matched far more than that in an earlier state of the index still do
        # (a catalog does not lose a third of them from one edit to the next): asking again
        # would score every one of them (27 ms of a 55 ms search at a million listings) only
        # to drop them. The answer is the same either way; only the time differs.
        if self.view.too_many.get(key, 0) > MATCHES_ROWS * 3 // 2:
            return None
        # The whole earth as the box: the same query as `_near`'s but for the bounds, so each
        # listing scores exactly as it would there.
        everywhere = self._box(-90.0, 90.0, -180.0, 180.0)
        hits, count = self._collect(self._combine(*base, *everywhere), MATCHES_ROWS)
        matched = None
        if count > MATCHES_ROWS:
            self.view.too_many[key] = count
        else:
            rows = self._rows(hits, None)
            matched = _Matched(
                rows=rows,
                latitudes=np.array(self.searcher.fast_field_values("latitude", rows.addresses)),
                longitudes=np.array(self.searcher.fast_field_values("longitude", rows.addresses)),
            )
        self.view.matches[key] = matched
        return matched

    def _anyone_serves_area(self) -> bool:
        """Whether any listing passing the filters serves the searcher's area, asked without
        the words: a few short lists of ZIP, county and state terms, cheaper than matching the
        words again (most places have no such listing)."""
        place = self.query.place
        assert place is not None
        key = _wherever(replace(self.query, words=[]), place.postal_code, place.county, place.state)
        served = self.view.served.get(key)
        if served is None:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, part) for part in (*self._filters(), self._serving_area())]
            )
            served = self.view.served[key] = bool(self.searcher.search(query, 1, count=True).count)
        return served

    def _rows(
        self, hits: list[tuple[float, Any]], center: Point | None, serves_area: bool = False
    ) -> "_Rows":
        """The hits' fast fields as columns, in bulk: no Python object per candidate."""
        addresses = [address for _score, address in hits]

        def column(field: str, dtype: Any) -> np.ndarray:
            return np.array(self.searcher.fast_field_values(field, addresses), dtype=dtype)

        distance = np.full(len(hits), np.nan)
        if center is not None and hits:
            has_geo = column("has_geo", bool)
            latitudes, longitudes = column("latitude", float), column("longitude", float)
            distance[has_geo] = distances_miles(center, latitudes[has_geo], longitudes[has_geo])
        return _Rows(
            addresses=addresses,
            score=np.array([score for score, _address in hits], dtype=float),
            service_key=column("service_key", np.uint64),
            standing=column("standing", np.int64),
            distance=distance,
            serves_area=np.full(len(hits), serves_area),
            categories=column("category_mask", np.uint64),
            languages=column("language_mask", np.uint64),
        )

    def _by_distance(self) -> bool:
        return self.query.sort == "distance" or not self.query.words

    def _best_per_service(self, rows: "_Rows") -> np.ndarray:
        """Each service once: its best-scoring row, or its nearest (inside the radius before
        serving the area, both before rows with no place); ties go to the earlier row."""
        position = np.arange(len(rows))
        if self._by_distance():
            order = np.lexsort((position, *rows.distance_key(), rows.service_key))
        else:
            order = np.lexsort((position, -rows.score, rows.service_key))
        keys = rows.service_key[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        return order[first]

    def _ordered(self, rows: "_Rows", chosen: np.ndarray) -> np.ndarray:
        """The chosen rows in result order: open before closed, then by distance or score."""
        if self.query.sort == "distance":
            keys = (rows.service_key, *rows.distance_key(), rows.standing)
        else:
            keys = (rows.service_key, -rows.score, rows.standing)
        return chosen[np.lexsort(tuple(key[chosen] for key in keys))]

    @staticmethod
    def _hit(rows: "_Rows", position: int) -> "_ChosenHit":
        distance = float(rows.distance[position])
        return _ChosenHit(
            address=rows.addresses[position],
            score=float(rows.score[position]),
            distance_miles=None if math.isnan(distance) else distance,
            serves_area=bool(rows.serves_area[position]),
            standing=int(rows.standing[position]),
        )


def _wherever(query: BackendQuery, *also: object) -> str:
    """A key for what a search keeps whatever the point, radius, order and page it is asked
    for (its words and filters), with `also`."""
    unplaced = replace(query, place=None, radius_miles=0.0, sort="", offset=0, limit=0)
    return orjson.dumps((unplaced, *also), option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True)
class _Matched:
    """Located listings a search's words and filters match, in score order, as columns."""

    rows: "_Rows"
    latitudes: np.ndarray
    longitudes: np.ndarray

    def inside(self, center: Point, radius: float) -> tuple["_Rows", int]:
        """Those within `radius` of `center`, as the engine would find them: the best
        `MAX_CANDIDATES` by score of those in the radius's bounding box, then by exact
        distance; and how many the box holds."""
        south, north, west, east = bounding_box(center, radius)
        in_box = np.flatnonzero(
            (self.latitudes >= south)
            & (self.latitudes <= north)
            & (self.longitudes >= west)
            & (self.longitudes <= east)
        )
        best = in_box[:MAX_CANDIDATES]  # the rows are in the engine's score order
        distance = distances_miles(center, self.latitudes[best], self.longitudes[best])
        near = distance <= radius
        rows = self.rows.take(best[near])
        rows.distance = distance[near]
        return rows, len(in_box)


@dataclass(frozen=True, slots=True)
class _ChosenHit:
    address: Any  # a tantivy DocAddress, meaningful to the searcher that found it
    score: float
    distance_miles: float | None
    serves_area: bool
    standing: int


@dataclass(frozen=True, slots=True)
class _Decision:
    """What one search decided: the page's hits (addresses in its view), totals and facets."""

    hits: tuple[_ChosenHit, ...]
    total: int
    facets: dict[str, dict[str, int]]
    exact_total: bool


@dataclass
class _Rows:
    """Candidate hits as columns (one numpy array per fast field), with their index addresses.
    A distance is NaN where the document has no place or the search has no centre."""

    addresses: list[Any]
    score: np.ndarray
    service_key: np.ndarray
    standing: np.ndarray
    distance: np.ndarray
    serves_area: np.ndarray
    categories: np.ndarray
    languages: np.ndarray

    def __len__(self) -> int:
        return len(self.addresses)

    def take(self, positions: np.ndarray) -> "_Rows":
        return _Rows(
            addresses=[self.addresses[p] for p in positions],
            **{name: getattr(self, name)[positions] for name in _COLUMNS},
        )

    @staticmethod
    def join(first: "_Rows", second: "_Rows") -> "_Rows":
        return _Rows(
            addresses=first.addresses + second.addresses,
            **{
                name: np.concatenate((getattr(first, name), getattr(second, name)))
                for name in _COLUMNS
            },
        )

    def distance_key(self) -> tuple[np.ndarray, np.ndarray]:
        """(rank, distance) for lexsort, least significant first: inside the radius (rank 0)
        before serving the area (1), before no known distance (2)."""
        unknown = np.isnan(self.distance)
        rank = np.where(unknown, 2, np.where(self.serves_area, 1, 0))
        return np.where(unknown, 0.0, self.distance), rank


_COLUMNS = tuple(field.name for field in fields(_Rows) if field.name != "addresses")


CATEGORY_NAMES = {bit: code for code, bit in CATEGORY_BITS.items()}
LANGUAGE_NAMES = {bit: code for code, bit in LANGUAGE_BITS.items()} | {OTHER_LANGUAGE_BIT: "other"}


def _count_bits(
    masks: np.ndarray, names: dict[int, str], weights: np.ndarray | None = None
) -> dict[str, int]:
    """Facet counts from 64-bit masks: how many masks (each counting `weights` times, or
    once) have each named bit set."""
    if not len(masks):
        return {}
    bits = np.unpackbits(
        masks.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, bitorder="little"
    )
    counts = bits.sum(axis=0) if weights is None else weights @ bits
    return {names[bit]: int(counts[bit]) for bit in np.flatnonzero(counts) if bit in names}
