"""The one interface both search backends implement, and the shapes they return.

Backends receive a `BackendQuery` whose words, place and opening-hour slots are already resolved,
and return each matching service once (its best or nearest place), temporarily closed services
after open ones, with facet counts and distances.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from directory.errors import Unavailable
from search_index.query import BackendQuery


class SearchUnavailable(Unavailable):
    """The search engine cannot be reached or refused a write; the caller retries later."""


class DocumentsRejected(SearchUnavailable):
    """The engine refused the documents themselves (a Meilisearch task failed on what they
    hold): the same batch would fail again, so the drainer tries each listing on its own and
    only the refused one waits."""


class Hit:
    """One service found: its document (read on first use, since a search near a place
    orders more hits than its page shows), score, distance, and where it stands (open and
    verified 0, stale 1, temporarily closed 2: `documents.standing`)."""

    __slots__ = ("_document", "_load", "distance_miles", "score", "serves_area", "standing")

    def __init__(
        self,
        document: dict[str, Any] | None = None,
        *,
        load: Callable[[], dict[str, Any]] | None = None,
        score: float = 0.0,
        distance_miles: float | None = None,
        serves_area: bool = False,
        standing: int = 0,
    ) -> None:
        assert (document is None) != (load is None), "a document or a way to read it"
        self._document, self._load = document, load
        self.score, self.distance_miles = score, distance_miles
        self.serves_area, self.standing = serves_area, standing

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            assert self._load is not None
            self._document = self._load()
        return self._document


@dataclass
class Found:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    exact_total: bool = True


Progress = Callable[[int], None]


class SearchBackend(Protocol):
    name: str

    async def open(self) -> bool:
        """Create the index and apply its settings if needed; True if it was empty or new."""

    async def close(self) -> None: ...

    async def healthy(self) -> bool: ...

    async def apply(self, upserts: list[dict[str, Any]], delete_service_ids: list[str]) -> None:
        """Replace all documents of the named services (and of the upserted ones) atomically
        enough that a search never sees a service twice. Raises `SearchUnavailable`."""

    async def search(self, query: BackendQuery) -> Found: ...

    def quality(self, score: float, best: float) -> int:
        """A hit's quality band, higher better: hits in one band are equally good matches,
        which a best-match search near a place orders nearest first. Each engine's scores
        have their own scale, so each says where one band ends."""

    async def rebuild(
        self, batches: AsyncIterator[list[dict[str, Any]]], progress: Progress | None = None
    ) -> int:
        """Build a complete new index aside and swap it in; returns the document count."""


# Bump when search documents change shape (a field added, renamed or given new meaning).
DOCUMENT_VERSION = 3


def make_backend(
    kind: str,
    *,
    data_dir: Path,
    meili_url: str | None,
    meili_key: str | None,
    prefix: str,
    writer: bool,
) -> SearchBackend:
    """The configured backend. `writer` says whether this process may write an embedded index."""
    if kind == "embedded":
        from search_index.embedded import EmbeddedBackend

        return EmbeddedBackend(data_dir / "search", writer=writer)
    if kind == "meilisearch":
        if not meili_url:
            raise ValueError("SEARCH_BACKEND=meilisearch needs MEILI_URL")
        from search_index.meili import MeilisearchBackend

        # The index name carries the document version, so an upgrade that changes documents
        # starts a new index, which `open` finds empty and the app rebuilds from the catalog.
        return MeilisearchBackend(meili_url, meili_key, f"{prefix}_services_v{DOCUMENT_VERSION}")
    raise ValueError(f"unknown SEARCH_BACKEND {kind!r}: use embedded or meilisearch")
