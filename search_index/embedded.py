"""The embedded search backend: a Tantivy index on local disk, no server needed.

Tantivy does the text matching (BM25 with per-field boosts, typo-tolerant and prefix terms) and
the filtering (fast fields for ages, flags and a latitude/longitude bounding box); exact
distances, the radius, one-hit-per-service and ordering happen here on the matched hits.

One process writes (the outbox drainer); any number of processes on the host read, picking up
each commit. `rebuild` writes a complete index into a new folder and then points `CURRENT` at
it, so readers switch between two complete indexes and never see a half-built one.
"""

import asyncio
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import tantivy

from directory.geocoding import Point
from directory.taxonomy import CATEGORIES
from search_index.backend import Found, Hit, Progress, SearchUnavailable
from search_index.documents import county_key
from search_index.query import (
    BackendQuery,
    bounding_box,
    distances_miles,
    synonym_map,
)

ANALYZER = "caremap"
TEXT_FIELDS = {  # searchable attributes, in ranked order, with their boosts
    "name": 4.0,
    "alternate_name": 3.0,
    "category_names": 3.0,
    "organization_name": 2.0,
    "description": 1.0,
    "eligibility": 0.5,
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


def typo_budget(word: str) -> int:
    """Typos allowed for a word, as Meilisearch's defaults: 1 from 5 letters, 2 from 9."""
    return 0 if len(word) < 5 else 1 if len(word) < 9 else 2


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
SCHEMA_VERSION = 3


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
            "payload": json.dumps(
                {key: value for key, value in document.items() if key != "open_slots"},
                separators=(",", ":"),
            ).encode(),
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
        self._checked_at = 0.0
        # One write at a time: a rebuild's swap must not meet a batch half-written to the old
        # folder, or the old folder would be deleted under the writer's feet.
        self._writing = asyncio.Lock()

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
            return True
        self._open_folder(folder)
        return False

    def _fresh_index(self) -> tantivy.Index:
        """The live index, reopened if a rebuild swapped in a new folder, reloaded if committed."""
        now = time.monotonic()
        if self._index is None or now - self._checked_at > 0.5:
            self._checked_at = now
            folder = self._current_folder()
            if folder is None:
                raise SearchUnavailable("The search index has not been built yet.")
            if folder != self._folder:
                self._open_folder(folder)
            else:
                self._index.reload()
        assert self._index is not None
        return self._index

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
        self._writer = self._index = None

    async def healthy(self) -> bool:
        try:
            self._fresh_index()
        except (SearchUnavailable, OSError, ValueError):
            return False
        return True

    # --- writing -----------------------------------------------------------------------------

    async def apply(self, upserts: list[dict[str, Any]], delete_service_ids: list[str]) -> None:
        if not self.is_writer:
            raise RuntimeError("this process only reads the embedded index")
        async with self._writing:
            self._fresh_index()
            await asyncio.to_thread(self._apply, upserts, delete_service_ids)

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
        assert self._index is not None
        self._index.reload()

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
            for stale in self.root.iterdir():  # the previous index, and any of an older schema
                if stale.is_dir() and stale.name != folder:
                    shutil.rmtree(stale, ignore_errors=True)
        return count

    # --- searching ---------------------------------------------------------------------------

    async def search(self, query: BackendQuery) -> Found:
        index = self._fresh_index()
        return _Search(index, query).run()


class _Search:
    def __init__(self, index: tantivy.Index, query: BackendQuery) -> None:
        self.index = index
        self.searcher = index.searcher()
        self.query = query

    # text ------------------------------------------------------------------------------------

    def _word(self, word: str, last: bool) -> tantivy.Query:
        budget = typo_budget(word)
        clauses = []
        for field, boost in TEXT_FIELDS.items():
            clauses.append(
                (
                    tantivy.Occur.Should,
                    tantivy.Query.boost_query(
                        tantivy.Query.term_query(SCHEMA, field, word), boost * 2
                    ),
                )
            )
            if budget or last:
                fuzzy = tantivy.Query.fuzzy_term_query(
                    SCHEMA, field, word, distance=budget, transposition_cost_one=True, prefix=last
                )
                clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(fuzzy, boost)))
        return tantivy.Query.boolean_query(clauses)

    def _phrase(self, words: list[str]) -> tantivy.Query:
        """All words of a synonym phrase, exactly, in any text field."""
        return tantivy.Query.boolean_query(
            [
                (
                    tantivy.Occur.Must,
                    tantivy.Query.boolean_query(
                        [
                            (
                                tantivy.Occur.Should,
                                tantivy.Query.boost_query(
                                    tantivy.Query.term_query(SCHEMA, field, word), boost
                                ),
                            )
                            for field, boost in TEXT_FIELDS.items()
                        ]
                    ),
                )
                for word in words
            ]
        )

    def _text(self) -> list[tantivy.Query]:
        """One required clause per word, or per synonym phrase found in the words."""
        words, clauses, position = self.query.words, [], 0
        synonyms = synonym_map()
        while position < len(words):
            for size in range(min(4, len(words) - position), 0, -1):
                phrase = " ".join(words[position : position + size])
                if phrase in synonyms:
                    last = position + size == len(words) and self.query.prefix_last
                    own = [
                        self._word(w, last and i == size - 1)
                        for i, w in enumerate(words[position : position + size])
                    ]
                    options = [
                        (
                            tantivy.Occur.Should,
                            tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in own]),
                        )
                    ]
                    options += [
                        (tantivy.Occur.Should, self._phrase(alt.split()))
                        for alt in synonyms[phrase]
                    ]
                    clauses.append(tantivy.Query.boolean_query(options))
                    position += size
                    break
            else:
                last = position == len(words) - 1 and self.query.prefix_last
                clauses.append(self._word(words[position], last))
                position += 1
        return clauses

    # filters ---------------------------------------------------------------------------------

    def _filters(self) -> list[tantivy.Query]:
        q, term, filters = self.query, tantivy.Query.term_query, []
        if q.categories:
            filters.append(
                tantivy.Query.term_set_query(SCHEMA, "category_codes", list(q.categories))
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

    def _inside_box(self, radius: float) -> tantivy.Query:
        assert self.query.place is not None
        south, north, west, east = bounding_box(self.query.place.point, radius)
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.term_query(SCHEMA, "has_geo", True)),
                (tantivy.Occur.Must, self._range("latitude", south, north)),
                (tantivy.Occur.Must, self._range("longitude", west, east)),
            ]
        )

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

    def _columns(self, addresses: list[Any], *fields: str) -> list[list[Any]]:
        return [self.searcher.fast_field_values(field, addresses) for field in fields]

    def run(self) -> Found:
        base = [*self._text(), *self._filters()]
        candidates: dict[Any, Hit] = {}
        total_docs = 0
        if self.query.place is None:
            hits, total_docs = self._collect(self._combine(*base), MAX_CANDIDATES)
            rows = self._rows(hits, None)
        else:
            rows, total_docs = self._near(base)
        for row in rows:
            key = row["service_key"]
            best = candidates.get(key)
            if best is None or self._better(row, best):
                candidates[key] = row
        ordered = sorted(candidates.values(), key=self._order)
        page = ordered[self.query.offset : self.query.offset + self.query.limit]
        hits = [self._hit(row) for row in page]
        exact = total_docs <= MAX_CANDIDATES
        return Found(
            hits=hits,
            total=len(ordered) if exact else total_docs,
            facets=self._facets(ordered),
            exact_total=exact,
        )

    def _near(self, base: list[tantivy.Query]) -> tuple[list[dict[str, Any]], int]:
        """Hits inside the radius (by exact distance) plus hits serving the searcher's area."""
        q = self.query
        assert q.place is not None
        wanted = q.offset + q.limit
        radius = q.radius_miles
        if q.sort == "distance" and not q.words:
            radius = q.radius_miles / 16  # grow rings until the nearest page is known for sure
        while True:
            hits, count = self._collect(
                self._combine(*base, self._inside_box(radius)), MAX_CANDIDATES
            )
            inside = [
                row
                for row in self._rows(hits, q.place.point)
                if row["distance"] is not None and row["distance"] <= radius
            ]
            if radius >= q.radius_miles or (len(inside) >= wanted and count <= MAX_CANDIDATES):
                break
            radius = min(radius * 2, q.radius_miles)
        area_hits, area_count = self._collect(
            self._combine(*base, self._serving_area()), MAX_CANDIDATES
        )
        for row in self._rows(area_hits, q.place.point):
            row["serves_area"] = True
            inside.append(row)
        return inside, count + area_count

    def _rows(self, hits: list[tuple[float, Any]], center: Point | None) -> list[dict[str, Any]]:
        if not hits:
            return []
        addresses = [address for _score, address in hits]
        keys, standings, has_geo, lats, lngs, categories, languages = self._columns(
            addresses,
            "service_key",
            "standing",
            "has_geo",
            "latitude",
            "longitude",
            "category_mask",
            "language_mask",
        )
        distances = distances_miles(center, lats, lngs) if center is not None else None
        rows = []
        for position, (score, address) in enumerate(hits):
            distance = distances[position] if distances and has_geo[position] else None
            rows.append(
                {
                    "address": address,
                    "score": score,
                    "service_key": keys[position],
                    "standing": standings[position],
                    "distance": distance,
                    "serves_area": False,
                    "categories": categories[position],
                    "languages": languages[position],
                }
            )
        return rows

    def _better(self, row: dict[str, Any], best: dict[str, Any]) -> bool:
        if self.query.sort == "distance" or not self.query.words:
            return self._distance_key(row) < self._distance_key(best)
        return row["score"] > best["score"]

    @staticmethod
    def _distance_key(row: dict[str, Any]) -> tuple[int, float]:
        if row["distance"] is None:
            return (2, 0.0)
        return (1 if row["serves_area"] else 0, row["distance"])

    def _order(self, row: dict[str, Any]) -> tuple[Any, ...]:
        if self.query.sort == "distance":
            return (row["standing"], *self._distance_key(row), row["service_key"])
        return (row["standing"], -row["score"], row["service_key"])

    def _hit(self, row: dict[str, Any]) -> Hit:
        document = json.loads(self.searcher.doc(row["address"]).get_first("payload"))
        inside = row["distance"] is not None and not row["serves_area"]
        return Hit(
            document=document,
            score=row["score"],
            distance_miles=row["distance"],
            serves_area=row["serves_area"] and not inside,
        )

    @staticmethod
    def _facets(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
        return {
            "categories": _count_bits((r["categories"] for r in rows), CATEGORY_NAMES),
            "languages": _count_bits((r["languages"] for r in rows), LANGUAGE_NAMES),
        }


CATEGORY_NAMES = {bit: code for code, bit in CATEGORY_BITS.items()}
LANGUAGE_NAMES = {bit: code for code, bit in LANGUAGE_BITS.items()} | {OTHER_LANGUAGE_BIT: "other"}


def _count_bits(masks: Any, names: dict[int, str]) -> dict[str, int]:
    """Facet counts from bit masks; identical masks are counted once, then expanded."""
    counts: dict[str, int] = {}
    for mask, times in Counter(masks).items():
        while mask:
            lowest = mask & -mask
            name = names[lowest.bit_length() - 1]
            counts[name] = counts.get(name, 0) + times
            mask ^= lowest
    return counts
