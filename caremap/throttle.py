"""Rate limits and sign-in throttling: every limit caremap applies, in one place.

Limits are moving windows (`limits`, asyncio API) counted where `RATE_LIMIT_STORAGE` says: in
the process by default, or in a Redis server every node shares, so behind a load balancer five
failed sign-ins lock an account whichever nodes they reached. If that server cannot be reached,
requests are served uncounted (logged once) rather than refused: a counter store that is down
must not take sign-in or search down with it.

- Sign-in: failed attempts count per account and per address; past either limit, sign-in is
  refused with 429 (even with the right password) until the window moves on, so guessing gets
  nowhere and one address cannot lock everyone out of every account.
- Public search (`/api/search` and `/search`) and the public forms ("ask for help", "report a
  problem", page and API alike) are limited per address (`LIMITED`, `AddressLimits`).
- The address is the socket's peer, or what a trusted proxy says it is (`address`).
"""

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import TypeVar

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from caremap.accounts import service as accounts
from caremap.accounts.models import User
from caremap.errors import domain_error
from caremap.settings import Settings
from directory.errors import DomainError, Unauthenticated

logger = logging.getLogger(__name__)
T = TypeVar("T")


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


def _optional(rate: str) -> RateLimitItem | None:
    """A limit, or None for `off` (a load test or a fuzzer on loopback)."""
    return parse(rate) if rate not in ("", "0", "off") else None


@dataclass(frozen=True)
class Limits:
    login_per_account: RateLimitItem
    login_per_address: RateLimitItem
    search_per_address: RateLimitItem | None  # None: not limited
    ask_per_address: RateLimitItem | None
    report_per_address: RateLimitItem | None
    list_email_per_address: RateLimitItem | None

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            login_per_account=parse(settings.login_limit_per_account),
            login_per_address=parse(settings.login_limit_per_address),
            search_per_address=_optional(settings.search_rate_limit),
            ask_per_address=_optional(settings.ask_rate_limit),
            report_per_address=_optional(settings.report_rate_limit),
            list_email_per_address=_optional(settings.list_email_rate_limit),
        )


def new_limiter(settings: Settings) -> "Counter":
    """The app's counter. With Redis, caremap owns the connection pool, so that the app's
    shutdown closes its connections (`Counter.close`) rather than leaving them to the collector."""
    uri = settings.rate_limit_storage
    if uri.startswith("memory://"):
        storage = storage_from_string(f"async+{uri}", wrap_exceptions=True)
        return Counter(MovingWindowRateLimiter(storage))
    pool = ConnectionPool.from_url(uri)
    storage = storage_from_string(
        f"async+{uri}", wrap_exceptions=True, implementation="redispy", connection_pool=pool
    )
    return Counter(MovingWindowRateLimiter(storage), pool)


class Counter:
    """The app's limiter, used so that an unreachable counter store lets requests through."""

    def __init__(self, limiter: MovingWindowRateLimiter, pool: ConnectionPool | None = None):
        self.limiter = limiter
        self._pool = pool
        self._down = False

    async def close(self) -> None:
        """Close the connections to a shared counter store (at the app's shutdown)."""
        if self._pool is not None:
            await self._pool.disconnect()

    async def hit(self, item: RateLimitItem, *keys: str) -> bool:
        return await self._counted(self.limiter.hit(item, *keys), True)

    async def test(self, item: RateLimitItem, *keys: str) -> bool:
        return await self._counted(self.limiter.test(item, *keys), True)

    async def wait(self, item: RateLimitItem, *keys: str) -> int:
        """Seconds until the oldest counted attempt leaves the window."""
        stats = await self._counted(self.limiter.get_window_stats(item, *keys), None)
        return max(1, int(stats.reset_time - time.time())) if stats else 60

    async def _counted(self, counting: Awaitable[T], otherwise: T) -> T:
        try:
            answer = await counting
        except StorageError as error:
            if not self._down:
                logger.warning("rate-limit storage unreachable, not counting: %s", error)
            self._down = True
            return otherwise
        if self._down:
            logger.info("rate-limit storage reachable again")
            self._down = False
        return answer


def address(request: Request) -> str:
    """The client's address, for per-address limits: the socket's peer, or, when that peer is
    one of `TRUSTED_PROXIES`, the nearest address in `X-Forwarded-For` that is not one of them.
    A client can put anything in that header, so only what a trusted proxy appended counts."""
    peer = request.client.host if request.client else "unknown"
    trusted = request.app.state.settings.trusted_proxies
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
    ]
    for hop in reversed(forwarded):
        if not _within(hop, trusted):
            return hop if _is_address(hop) else peer
    return peer


def _is_address(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True


def _within(value: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        host = ip_address(value)
    except ValueError:
        return False
    return any(host in network for network in networks)


async def authenticate(request: Request, email: str, password: str) -> User:
    """Sign-in with throttling: refused (429) while the account or the address is over its
    limit, and a wrong password counts against both."""
    await _check_sign_in(request, email)
    try:
        return await accounts.authenticate(email=email, password=password)
    except Unauthenticated:
        await _failed_sign_in(request, email)
        raise


async def _check_sign_in(request: Request, email: str) -> None:
    """Refuse a sign-in while the account or the address is over its failed-attempt limit."""
    counter: Counter = request.app.state.limiter
    limits: Limits = request.app.state.limits
    account = email.strip().lower()
    for item, keys in (
        (limits.login_per_account, ("login-account", account)),
        (limits.login_per_address, ("login-address", address(request))),
    ):
        if not await counter.test(item, *keys):
            seconds = await counter.wait(item, *keys)
            raise TooManyRequests(
                f"Too many failed sign-in attempts. Try again in {-(-seconds // 60)} minute(s).",
                retry_after=seconds,
            )


async def _failed_sign_in(request: Request, email: str) -> None:
    counter: Counter = request.app.state.limiter
    limits: Limits = request.app.state.limits
    await counter.hit(limits.login_per_account, "login-account", email.strip().lower())
    await counter.hit(limits.login_per_address, "login-address", address(request))


@dataclass(frozen=True)
class Limited:
    """Requests limited per address: which ones, in which bucket, how many, and what to say."""

    bucket: str
    methods: frozenset[str]
    path: re.Pattern[str]
    item: Callable[[Limits], RateLimitItem | None]
    message: str
    retry_after: int


# Every per-address limit on a route, in one table. A page and the API operation behind it
# share one bucket, so neither is a way around the other.
LIMITED = (
    Limited(
        "search",
        frozenset({"GET", "HEAD"}),
        re.compile(r"/(api/)?search"),
        lambda limits: limits.search_per_address,
        "Too many searches from your address; wait a minute.",
        60,
    ),
    Limited(
        "ask",
        frozenset({"POST"}),
        re.compile(r"/ask"),
        lambda limits: limits.ask_per_address,
        "Too many requests for help from your address; please wait a while.",
        3600,
    ),
    Limited(
        "report",
        frozenset({"POST"}),
        re.compile(r"/services/[^/]+/report|/api/services/[^/]+/problems"),
        lambda limits: limits.report_per_address,
        "Too many problem reports from your address; please wait a while.",
        3600,
    ),
    Limited(
        "list-email",
        frozenset({"POST"}),
        re.compile(r"/list/email"),
        lambda limits: limits.list_email_per_address,
        "Too many lists emailed from your address; please wait a while.",
        3600,
    ),
)


class AddressLimits:
    """ASGI middleware: the per-address limits of `LIMITED`, counted before any handler runs
    (429 with Retry-After, as a page or as JSON)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for limited in LIMITED:
                if scope["method"] in limited.methods and limited.path.fullmatch(scope["path"]):
                    item = limited.item(scope["app"].state.limits)
                    request = Request(scope)
                    if item is not None and not await scope["app"].state.limiter.hit(
                        item, limited.bucket, address(request)
                    ):
                        error = TooManyRequests(limited.message, retry_after=limited.retry_after)
                        await (await domain_error(request, error))(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
