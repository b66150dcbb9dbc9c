"""Keeping the search index true to the catalog: the outbox and its drainer.

Every catalog write adds outbox rows in its own transaction (through the catalog's change
listeners), so an update is never lost even if the search engine is down. The drainer claims
rows, rebuilds those listings' documents from the database, hands them to the backend, and only
then deletes the rows. A failed batch is released with exponential backoff; a drainer killed
mid-batch leaves its claim to expire, and the next drainer does the work again (at least once,
and documents are replaced whole, so doing it twice is harmless). Claims and backoff are
`directory.claims`, shared with the referral mail outbox.
"""

import asyncio
import logging
from datetime import UTC, datetime
from uuid import UUID

from directory.bulk import chunks, insert_rows
from directory.claims import claim, release
from directory.editing import Change
from directory.models import Service, ServiceAtLocation
from search_index.backend import DocumentsRejected, SearchBackend, SearchUnavailable
from search_index.documents import documents_for
from search_index.models import SearchOutbox

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def affected_services(changes: list[Change]) -> list[UUID]:
    """Every listing the changes touch: a service's own, a location's services, an
    organization's services (a few queries however many changes there are)."""
    services = [c.service_id for c in changes if c.service_id is not None]
    locations = [c.entity_id for c in changes if c.service_id is None and c.entity == "location"]
    organizations = [
        c.entity_id for c in changes if c.service_id is None and c.entity == "organization"
    ]
    for chunk in chunks(locations):
        services += await ServiceAtLocation.filter(location_id__in=chunk).values_list(
            "service_id", flat=True
        )
    for chunk in chunks(organizations):
        services += await Service.filter(organization_id__in=chunk).values_list("id", flat=True)
    return list(dict.fromkeys(services))


async def enqueue_changes(changes: list[Change]) -> None:
    """The catalog change listener: queue every listing the changes touch, once each."""
    await enqueue_services(await affected_services(changes))


async def enqueue_services(service_ids: list[UUID]) -> int:
    now = _now()
    unique = list(dict.fromkeys(service_ids))
    await insert_rows(SearchOutbox, [{"service_id": i, "available_at": now} for i in unique])
    return len(unique)


async def enqueue_all() -> int:
    """Queue every service (a new empty index, or healing one built from an old snapshot)."""
    return await enqueue_services(await Service.all().values_list("id", flat=True))


class Drainer:
    def __init__(
        self,
        backend: SearchBackend,
        *,
        batch_size: int = 200,
        claim_seconds: float = 60,
        poll_seconds: float = 0.5,
    ) -> None:
        self.backend = backend
        self.batch_size = batch_size
        self.claim_seconds = claim_seconds
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._opened = False

    async def ensure_open(self) -> None:
        """Open the backend once it answers; a new, empty index is filled from the catalog."""
        if self._opened:
            return
        created = await self.backend.open()
        self._opened = True
        if created:
            await enqueue_all()

    async def wake_on_change(self, changes: list[Change]) -> None:
        """Change listener for an in-process drainer: look again right away."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Index one batch; returns how many outbox rows it finished."""
        rows = await claim(SearchOutbox, limit=self.batch_size, seconds=self.claim_seconds)
        if not rows:
            return 0
        service_ids = list(dict.fromkeys(row.service_id for row in rows))
        try:
            await self.ensure_open()
            await self._index(service_ids)
        except DocumentsRejected as error:
            if len(service_ids) > 1:
                return await self._one_by_one(rows)
            await release(rows, str(error))
            raise
        except SearchUnavailable as error:
            await release(rows, str(error))
            raise
        await SearchOutbox.filter(id__in=[row.id for row in rows]).delete()
        return len(rows)

    async def _index(self, service_ids: list[UUID]) -> None:
        documents, dropped = await documents_for(service_ids)
        await self.backend.apply(documents, [str(i) for i in dropped])

    async def _one_by_one(self, rows: list[SearchOutbox]) -> int:
        """A batch the engine refused: each listing on its own, so one listing whose document
        it will not take (data written around the catalog's rules, say) waits with its backoff
        and the others go through."""
        by_service: dict[UUID, list[SearchOutbox]] = {}
        for row in rows:
            by_service.setdefault(row.service_id, []).append(row)
        finished = 0
        pending = list(by_service.items())
        while pending:
            service_id, its_rows = pending.pop(0)
            try:
                await self._index([service_id])
            except DocumentsRejected as error:
                logger.warning("search engine refused listing %s: %s", service_id, error)
                await release(its_rows, str(error))
                continue
            except SearchUnavailable as error:
                left = its_rows + [row for _, rest in pending for row in rest]
                await release(left, str(error))
                raise
            await SearchOutbox.filter(id__in=[row.id for row in its_rows]).delete()
            finished += len(its_rows)
        return finished

    async def drain_all(self) -> int:
        """Drain until the outbox has nothing available now (for tests and `reindex`)."""
        total = 0
        while done := await self.drain_once():
            total += done
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set, sleeping between empty polls or after failures."""
        while not stop.is_set():
            try:
                await self.ensure_open()
                done = await self.drain_once()
            except SearchUnavailable as error:
                logger.warning("search backend unavailable, will retry: %s", error)
                done = 0
            except Exception:
                logger.exception("search outbox drain failed; retrying")
                done = 0
            if done:
                continue
            self._wake.clear()
            stop_wait = asyncio.ensure_future(stop.wait())
            wake_wait = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait(
                {stop_wait, wake_wait},
                timeout=self.poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            stop_wait.cancel()
            wake_wait.cancel()
