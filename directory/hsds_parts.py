"""An import's parts checked in a second process while this one writes them.

An import spends about a third of its time checking and planning its parts (Python, one record
after the other) and most of the rest writing them; with two cores the two can overlap. Parts
are independent by construction (`directory.hsds_spool`), and what a part's plan asks the
catalog is what it held before the import began (the records marked `held`, ids the data set
does not hold), which a second connection sees as it was: the import's writes stay uncommitted
until its end. So a second process opens the spool, hands out its parts, checks each one and
sends its plan back; this process writes the plans in the order the parts come.
"""

import asyncio
import multiprocessing
import queue
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from tortoise import Tortoise

from directory.bulk import for_bulk_work
from directory.hsds_package import Package
from directory.hsds_spool import Spool

T = TypeVar("T")

# Plans waiting for the writer: enough to keep it busy, few enough to bound the memory held.
_AHEAD = 2
_POLL_SECONDS = 1.0


class CheckingFailed(Exception):
    """The process checking the parts failed or ended early; the message is what it said."""


async def checked_elsewhere(
    spool: Spool,
    size: int,
    check: Callable[[Package], Awaitable[T]],
    database: dict[str, Any],
) -> AsyncIterator[T]:
    """`check` of each part of the spool (`Spool.parts(size)`), run in a second process that
    connects to the catalog with the Tortoise config `database`. `check` must be picklable (a
    module's function, or a `functools.partial` of one). Close the iterator (`aclosing`) to
    stop that process early."""
    context = multiprocessing.get_context("spawn")  # no copy of this process's connections
    handing, results = context.Queue(1), context.Queue(_AHEAD)
    process = context.Process(
        target=_check_parts, args=(check, database, handing, results), daemon=True
    )
    process.start()  # it starts up (imports, connects) while the parts are assigned here
    try:
        handing.put((spool.handover(size), size))
        while True:
            kind, value = await asyncio.to_thread(_next, results, process)
            if kind == "done":
                break
            if kind == "failed":
                raise CheckingFailed(value)
            yield value
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        handing.close()
        results.close()


def _next(results: Any, process: BaseProcess) -> tuple[str, Any]:
    """The next message, or `CheckingFailed` once the process has ended without a last one."""
    while True:
        try:
            return results.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if not process.is_alive():
                return "failed", f"the checking process ended (exit code {process.exitcode})"


def _check_parts(
    check: Callable[[Package], Awaitable[Any]],
    database: dict[str, Any],
    handing: Any,
    results: Any,
) -> None:
    """The second process: each part's check, then "done"; or "failed" with the traceback."""
    for_bulk_work()
    try:
        asyncio.run(_check_each(check, database, handing, results))
    except BaseException:  # whatever it was, the writer must hear of it
        results.put(("failed", traceback.format_exc()))
    else:
        results.put(("done", None))


async def _check_each(
    check: Callable[[Package], Awaitable[Any]],
    database: dict[str, Any],
    handing: Any,
    results: Any,
) -> None:
    await Tortoise.init(config=database)
    try:
        handed, size = handing.get()
        with Spool(handed) as spool:
            for part in spool.parts(size):
                results.put(("part", await check(part)))
    finally:
        await Tortoise.close_connections()
