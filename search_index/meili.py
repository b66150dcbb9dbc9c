"""The Meilisearch backend, through the official async client. The only module that talks to it.

Meilisearch does the matching, typo tolerance, synonyms, geo filtering and ordering itself; each
write waits for its task and a failed task raises `SearchUnavailable` (`DocumentsRejected` when
the task failed on the documents' content), so the outbox keeps the update and tries again.
"""

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from httpx2 import AsyncClient as HttpxAsyncClient
from httpx2 import Limits
from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk._http_requests import AsyncHttpRequests
from meilisearch_python_sdk.errors import MeilisearchApiError, MeilisearchError
from meilisearch_python_sdk.models.client import KeyCreate
from meilisearch_python_sdk.models.settings import (
    Faceting,
    MeilisearchSettings,
    MinWordSizeForTypos,
    Pagination,
    TypoTolerance,
)

from directory.geocoding import Point, distance_miles
from directory.taxonomy import CATEGORIES
from search_index.backend import DocumentsRejected, Found, Hit, Progress, SearchUnavailable
from search_index.documents import EVERY_LISTING, category_token, county_key
from search_index.query import BackendQuery, synonym_map

METERS_PER_MILE = 1609.344
TASK_TIMEOUT_MS = 60_000
SEARCHABLE = [
    "name",
    "alternate_name",
    "category_names",
    "organization_name",
    "description",
    "eligibility",
    "stems",
    "every_listing",
    "category_tokens",
]
FILTERABLE = [
    "service_id",
    "category_codes",
    "languages",
    "free",
    "accepts_referrals",
    "status",
    "minimum_age",
    "maximum_age",
    "area_postal_codes",
    "area_counties",
    "area_states",
    "everywhere",
    "open_slots",
    "timezone",
    "_geo",
]


def index_settings() -> MeilisearchSettings:
    return MeilisearchSettings(
        searchable_attributes=SEARCHABLE,
        filterable_attributes=FILTERABLE,
        sortable_attributes=["_geo", "standing"],
        ranking_rules=["sort", "words", "typo", "proximity", "attribute", "exactness"],
        distinct_attribute="service_id",
        synonyms={phrase: list(others) for phrase, others in synonym_map().items()},
        typo_tolerance=TypoTolerance(
            enabled=True,
            min_word_size_for_typos=MinWordSizeForTypos(one_typo=5, two_typos=9),
            # Sorted, as Meilisearch reports them (see `_holds`).
            disable_on_words=sorted([EVERY_LISTING, *(category_token(c.code) for c in CATEGORIES)]),
        ),
        faceting=Faceting(max_values_per_facet=100),
        pagination=Pagination(max_total_hits=1000),
    )


# What caremap does with Meilisearch, and nothing more: its key can search, write documents and
# settings, build an index aside and swap it in, and read its tasks, on its own indexes only.
KEY_ACTIONS = [
    "search",
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.create",
    "indexes.get",
    "indexes.delete",
    "indexes.swap",
    "settings.get",
    "settings.update",
    "tasks.get",
    "stats.get",
]


def connect(url: str, api_key: str | None) -> AsyncClient:
    """The SDK's client, with HTTP connections that are not kept alive.

    On a kept-alive connection Meilisearch answers in two writes and the second waits for the
    client's delayed ACK of the first: 48 ms a search, against 3 ms on a new connection
    (measured on loopback, Meilisearch 1.50, a 2,000-listing index; `bench/`). A new
    connection costs a handshake. The SDK has no setting for it, so its HTTP client is swapped
    for the same one without kept-alive connections."""
    client = AsyncClient(url, api_key, timeout=10)
    kept = client.http_client
    client.http_client = HttpxAsyncClient(
        base_url=kept.base_url,
        timeout=kept.timeout,
        headers=kept.headers,
        limits=Limits(max_keepalive_connections=0),
    )
    client._http_requests = AsyncHttpRequests(client.http_client, json_handler=client.json_handler)
    return client


async def caremap_key(url: str, master_key: str, prefix: str) -> str:
    """caremap's own API key (made with the master key, which then stays with Meilisearch):
    the one already made for this index prefix and these actions, or a new one. Meilisearch
    cannot change a key's actions, so the name carries them: a release that needs another
    action makes a new key, and the old one keeps working until its nodes are upgraded."""
    actions = hashlib.sha256(" ".join(sorted(KEY_ACTIONS)).encode()).hexdigest()[:8]
    name = f"caremap ({prefix}, actions {actions})"
    async with connect(url, master_key) as client:
        offset = 0
        while True:
            page = await client.get_keys(offset=offset, limit=100)
            for key in page.results:
                if key.name == name:
                    return key.key
            offset += 100
            if offset >= page.total:
                break
        made = await client.create_key(
            KeyCreate(
                name=name,
                description="caremap's app and workers: search and keep its indexes current",
                actions=KEY_ACTIONS,
                indexes=[f"{prefix}*"],
                expires_at=None,
            )
        )
        return made.key


def _holds(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether settings as Meilisearch reports them hold every value caremap sets (it reports
    defaults caremap leaves alone too)."""
    for name, value in wanted.items():
        if isinstance(value, dict):
            if not isinstance(current.get(name), dict) or not _holds(current[name], value):
                return False
        elif current.get(name) != value:
            return False
    return True


def _quote(value: str) -> str:
    return json.dumps(value)


def filters(query: BackendQuery) -> list[Any]:
    """Meilisearch's filter array: each element must hold; an inner list holds if any does."""
    clauses: list[Any] = []
    if query.categories:
        clauses.append([f"category_codes = {_quote(c)}" for c in query.categories])
    if query.language:
        clauses.append(f"languages = {_quote(query.language)}")
    for flag in ("free", "accepts_referrals"):
        value = getattr(query, flag)
        if value is not None:
            clauses.append(f"{flag} = {'true' if value else 'false'}")
    if query.age is not None:
        clauses.append(f"minimum_age <= {query.age}")
        clauses.append(f"maximum_age >= {query.age}")
    if query.open_slots:
        clauses.append(
            [
                f"(timezone = {_quote(zone)} AND open_slots = {_quote(slot)})"
                for zone, slot in query.open_slots.items()
            ]
        )
    if query.place is not None:
        place, point = query.place, query.place.point
        meters = round(query.radius_miles * METERS_PER_MILE)
        anywhere = [
            f"_geoRadius({point.latitude}, {point.longitude}, {meters})",
            "everywhere = true",
        ]
        if place.postal_code:
            anywhere.append(f"area_postal_codes = {_quote(place.postal_code)}")
        if place.county and place.state:
            anywhere.append(f"area_counties = {_quote(county_key(place.county, place.state))}")
        if place.state:
            anywhere.append(f"area_states = {_quote(place.state)}")
        clauses.append(anywhere)
    return clauses


class MeilisearchBackend:
    name = "meilisearch"

    def __init__(self, url: str, api_key: str | None, index_uid: str) -> None:
        self.client = connect(url, api_key)
        self.uid = index_uid

    async def _wait(self, task_uid: int) -> None:
        result = await self.client.wait_for_task(task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if result.status == "succeeded":
            return
        error = result.error or {}
        message = f"Meilisearch task {task_uid} {result.status}: {error.get('code')}"
        if error.get("type") == "invalid_request":  # the documents, not the server
            raise DocumentsRejected(f"{message}: {error.get('message')}")
        raise SearchUnavailable(message)

    async def _configure(self, uid: str) -> None:
        """Create the index if need be and give it caremap's settings, unless it has them: on a
        large index Meilisearch re-reads every document for a settings task (seconds at
        100,000 listings), so a worker's start would hold up the first edits."""
        index = await self.client.get_or_create_index(uid, primary_key="id")
        wanted = index_settings()
        current = await index.get_settings()
        if not _holds(current.model_dump(), wanted.model_dump(exclude_unset=True)):
            await self._wait((await index.update_settings(wanted)).task_uid)

    async def open(self) -> bool:
        try:
            await self._configure(self.uid)
            stats = await self.client.index(self.uid).get_stats()
        except (MeilisearchError, OSError) as error:
            raise SearchUnavailable(f"Meilisearch is not ready: {error}") from error
        return stats.number_of_documents == 0

    async def close(self) -> None:
        await self.client.aclose()

    async def healthy(self) -> bool:
        try:
            return (await self.client.health()).status == "available"
        except MeilisearchError:
            return False
        except OSError:
            return False

    async def apply(self, upserts: list[dict[str, Any]], delete_service_ids: list[str]) -> None:
        """Replace these listings' documents: the new ones are added (a document with the same
        id is replaced whole), and only those of their documents that are gone (a site removed,
        a listing hidden) are deleted by id. On a large index every write task costs about as
        much as the next (0.7 s at 100,000 listings), and a delete by filter is one more."""
        index = self.client.index(self.uid)
        service_ids = list(
            dict.fromkeys([*delete_service_ids, *(d["service_id"] for d in upserts)])
        )
        try:
            gone = await self._document_ids(service_ids) - {d["id"] for d in upserts}
            tasks = []
            if gone:
                tasks.append(await index.delete_documents(sorted(gone)))
            if upserts:
                tasks.append(await index.add_documents(upserts, primary_key="id"))
            # Both are queued before waiting: Meilisearch runs an index's tasks in order.
            for task in tasks:
                await self._wait(task.task_uid)
        except DocumentsRejected:
            raise
        except (MeilisearchError, OSError) as error:
            raise SearchUnavailable(f"Meilisearch write failed: {error}") from error

    async def _document_ids(self, service_ids: list[str]) -> set[str]:
        """The ids of the documents the index holds for these listings."""
        if not service_ids:
            return set()
        index = self.client.index(self.uid)
        listed = ", ".join(_quote(i) for i in service_ids)
        found: set[str] = set()
        while True:
            page = await index.get_documents(
                filter=f"service_id IN [{listed}]", fields=["id"], offset=len(found), limit=1000
            )
            found |= {document["id"] for document in page.results}
            if len(page.results) < 1000:
                return found

    async def rebuild(
        self, batches: AsyncIterator[list[dict[str, Any]]], progress: Progress | None = None
    ) -> int:
        """Fill `<uid>_rebuild` completely, then swap it with the live index."""
        aside = f"{self.uid}_rebuild"
        await self.client.delete_index_if_exists(aside)
        await self._configure(aside)
        index = self.client.index(aside)
        count = 0
        async for batch in batches:
            if batch:
                await self._wait((await index.add_documents(batch, primary_key="id")).task_uid)
            count += len(batch)
            if progress:
                progress(count)
        await self._configure(self.uid)
        await self._swap(aside)
        await self.client.delete_index_if_exists(aside)
        return count

    async def _swap(self, aside: str) -> None:
        """Swap the index built aside in. A key limited to caremap's indexes cannot read the
        swap's own task (an index swap belongs to no index: Meilisearch issue 4103); then the
        swap is known done by the next task `rebuild` waits for, the deletion of the index
        built aside, which Meilisearch runs only once the swap has run."""
        swap = await self.client.swap_indexes([(self.uid, aside)])
        try:
            await self._wait(swap.task_uid)
        except MeilisearchApiError as error:
            if error.code != "task_not_found":
                raise

    @staticmethod
    def quality(score: float, best: float) -> int:
        """Meilisearch's ranking score is 0 to 1 and close to 1 for every hit holding all the
        words; where they match (a name or a description) moves it by a few hundredths, so a
        band is a hundredth."""
        return int(100 * score)

    async def search(self, query: BackendQuery) -> Found:
        point = query.place.point if query.place else None
        sort = ["standing:asc"]
        if query.sort == "distance" and point is not None:
            sort.append(f"_geoPoint({point.latitude}, {point.longitude}):asc")
        try:
            # A trailing space tells Meilisearch the last word is complete (not a prefix).
            words = list(query.words)
            if query.first_category:
                words.insert(0, category_token(query.first_category))
            if query.words_optional:
                words.insert(0, EVERY_LISTING)
            prefix = query.prefix_last and len(words) == len(query.words)
            text = " ".join(words) + ("" if prefix else " ")
            result = await self.client.index(self.uid).search(
                (words and text) or None,
                matching_strategy="last",
                filter=filters(query) or None,
                facets=["category_codes", "languages"],
                sort=sort,
                offset=query.offset,
                limit=query.limit,
                show_ranking_score=True,
            )
        except (MeilisearchError, OSError) as error:
            raise SearchUnavailable(f"Meilisearch search failed: {error}") from error
        hits = [self._hit(document, point, query.radius_miles) for document in result.hits]
        distribution = result.facet_distribution or {}
        return Found(
            hits=hits,
            # Paged by offset, Meilisearch estimates the total rather than counting every
            # distinct listing (44 ms against 12 ms a search at 100,000 listings).
            total=result.estimated_total_hits or 0,
            exact_total=False,
            facets={
                "categories": dict(distribution.get("category_codes", {})),
                "languages": dict(distribution.get("languages", {})),
            },
        )

    @staticmethod
    def _hit(document: dict[str, Any], point: Point | None, radius: float) -> Hit:
        score = float(document.pop("_rankingScore", 0.0))
        document.pop("_geoDistance", None)
        geo = document.get("_geo")
        distance = None
        if point is not None and geo:
            distance = distance_miles(point, Point(geo["lat"], geo["lng"]))
        serves_area = point is not None and (distance is None or distance > radius)
        return Hit(
            document,
            score=score,
            distance_miles=distance,
            serves_area=serves_area,
            standing=int(document.get("standing", 0)),
        )
