"""Wiring the search index into the app and the CLI: which backend, who writes, and the outbox.

The catalog's change listeners (`install_change_listeners`) are installed in every process that
can write to the catalog, so no write escapes the search outbox or the listing notices.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from caremap.accounts.service import on_organization_change
from caremap.settings import Settings
from directory.editing import listen_to_changes, stop_listening
from referrals.notify import on_listing_change
from search_index.backend import SearchBackend, SearchUnavailable, make_backend
from search_index.outbox import Drainer, enqueue_changes

logger = logging.getLogger(__name__)


def install_change_listeners() -> None:
    """Every process that writes the catalog installs these: the search outbox, the listing
    notices (stale, flagged, problem reported) and the accounts (an organization's kind
    changed: its users' sessions and tokens end) all hear every change."""
    listen_to_changes(enqueue_changes)
    listen_to_changes(on_listing_change)
    listen_to_changes(on_organization_change)


def backend_for(settings: Settings, *, writer: bool) -> SearchBackend:
    return make_backend(
        settings.search_backend,
        data_dir=settings.data_dir,
        meili_url=settings.meili_url,
        meili_key=str(settings.meili_key) if settings.meili_key else None,
        prefix=settings.search_index_prefix,
        writer=writer,
    )


def drainer_for(settings: Settings, backend: SearchBackend) -> Drainer:
    return Drainer(
        backend, claim_seconds=settings.outbox_claim_seconds, batch_size=settings.outbox_batch_size
    )


@contextlib.asynccontextmanager
async def running_search(settings: Settings) -> AsyncIterator[SearchBackend]:
    """Open the backend; with `SEARCH_DRAINER=inprocess`, also drain the outbox here."""
    install_change_listeners()
    inprocess = settings.search_drainer == "inprocess"
    backend = backend_for(settings, writer=inprocess)
    if not inprocess:
        try:
            await backend.open()
        except SearchUnavailable as error:  # searches answer 503 until it is back
            logger.warning("search backend not ready at start-up: %s", error)
        yield backend
        await backend.close()
        return
    drainer = drainer_for(settings, backend)
    listen_to_changes(drainer.wake_on_change)
    stop = asyncio.Event()
    task = asyncio.create_task(drainer.run(stop))
    try:
        yield backend
    finally:
        stop.set()
        stop_listening(drainer.wake_on_change)
        await task
        await backend.close()
