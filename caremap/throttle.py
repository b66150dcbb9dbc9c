"""Rate limits and sign-in throttling: every limit caremap applies, in one place.

Limits are moving windows kept in the process (`limits`' memory storage): enough to stop a
flood or a password-guessing run against one process. Behind several processes each keeps its
own count, so the effective limit is per process (noted in the README).

- Sign-in: failed attempts count per account and per address; past either limit, sign-in is
  refused with 429 (even with the right password) until the window moves on, so guessing gets
  nowhere and one address cannot lock everyone out of every account.
- Public search (`/api/search` and `/search`) is limited per address.
- The public forms ("ask for help", "report a problem") are limited per address (`form_allowed`).
"""

import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from caremap.accounts import service as accounts
from caremap.accounts.models import User
from caremap.errors import domain_error
from directory.errors import DomainError, Unauthenticated


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


@dataclass(frozen=True)
class Limits:
    login_per_account: RateLimitItem
    login_per_address: RateLimitItem
    search_per_address: RateLimitItem | None  # None: not limited (a load test on loopback)

    @classmethod
    def parse(cls, login_account: str, login_address: str, search: str) -> "Limits":
        return cls(
            login_per_account=parse(login_account),
            login_per_address=parse(login_address),
            search_per_address=parse(search) if search not in ("", "0", "off") else None,
        )


def new_limiter() -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(MemoryStorage())


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _wait(limiter: MovingWindowRateLimiter, item: RateLimitItem, *keys: str) -> int:
    """Seconds until the oldest counted attempt leaves the window."""
    return max(1, int(limiter.get_window_stats(item, *keys).reset_time - time.time()))


# The public forms, per address: a family asks once or twice, a flood is refused.
ASK_LIMIT = parse("5/hour")
REPORT_LIMIT = parse("10/hour")


def form_allowed(request: Request, item: RateLimitItem, form: str) -> bool:
    """Count one submission of a public form from this address; False once over the limit."""
    return request.app.state.limiter.hit(item, form, address(request))


async def authenticate(request: Request, email: str, password: str) -> User:
    """Sign-in with throttling: refused (429) while the account or the address is over its
    limit, and a wrong password counts against both."""
    _check_sign_in(request, email)
    try:
        return await accounts.authenticate(email=email, password=password)
    except Unauthenticated:
        _failed_sign_in(request, email)
        raise


def _check_sign_in(request: Request, email: str) -> None:
    """Refuse a sign-in while the account or the address is over its failed-attempt limit."""
    limiter: MovingWindowRateLimiter = request.app.state.limiter
    limits: Limits = request.app.state.limits
    account = email.strip().lower()
    for item, keys in (
        (limits.login_per_account, ("login-account", account)),
        (limits.login_per_address, ("login-address", address(request))),
    ):
        if not limiter.test(item, *keys):
            seconds = _wait(limiter, item, *keys)
            raise TooManyRequests(
                f"Too many failed sign-in attempts. Try again in {-(-seconds // 60)} minute(s).",
                retry_after=seconds,
            )


def _failed_sign_in(request: Request, email: str) -> None:
    limiter: MovingWindowRateLimiter = request.app.state.limiter
    limits: Limits = request.app.state.limits
    limiter.hit(limits.login_per_account, "login-account", email.strip().lower())
    limiter.hit(limits.login_per_address, "login-address", address(request))


class SearchLimit:
    """ASGI middleware: public search, per address (429 JSON or page once over the limit)."""

    PATHS = ("/api/search", "/search")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.PATHS:
            request = Request(scope)
            limits: Limits = scope["app"].state.limits
            item = limits.search_per_address
            if item is not None and not scope["app"].state.limiter.hit(
                item, "search", address(request)
            ):
                error = TooManyRequests(
                    "Too many searches from your address; wait a minute.", retry_after=60
                )
                await (await domain_error(request, error))(scope, receive, send)
                return
        await self.app(scope, receive, send)
