"""Every setting caremap reads, in one place, from the environment and an optional `.env` file.

Nothing else in caremap reads `os.environ`. Tests build `Settings` directly with `replace()`.
"""

import secrets
from dataclasses import dataclass, field
from email.utils import parseaddr
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse as parse_limit
from starlette.config import Config, environ
from starlette.datastructures import Secret


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    base_url: str = "http://127.0.0.1:8000"
    # Where caremap's FHIR code systems and identifiers live: a URI the deployment controls,
    # stable for years (a partner's system stores codes under it), not the address it serves at.
    fhir_system_base: str = "https://caremap.org/fhir"
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    search_backend: str = "embedded"
    meili_url: str | None = None
    meili_key: Secret | None = None
    search_index_prefix: str = "caremap"
    search_drainer: str = "inprocess"
    outbox_claim_seconds: float = 60.0
    outbox_batch_size: int = 200
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    smtp_tls: str = "none"
    smtp_timeout: float = 30.0
    mail_from: str = "caremap <no-reply@caremap.local>"
    mail_drainer: str = "inprocess"
    time_zone: str = "UTC"
    stale_days: int = 14
    escalate_after_days: int = 2
    follow_up_days: int = 3
    reminder_sweep_seconds: float = 300.0
    listing_stale_days: int = 180
    listing_reminder_days: int = 14
    listing_flag_threshold: int = 3
    listing_flag_window_days: int = 90
    login_limit_per_account: str = "5/15 minutes"
    login_limit_per_address: str = "30/15 minutes"
    search_rate_limit: str = "300/minute"
    # Where the rate-limit counters live: this process (memory://) or a Redis server shared by
    # every node (redis://host:6379/0), so a limit holds across a load balancer's nodes.
    rate_limit_storage: str = "memory://"
    ask_rate_limit: str = "5/hour"
    report_rate_limit: str = "10/hour"
    list_email_rate_limit: str = "5/hour"
    retention_days: int = 730
    # Reports shared beyond the organization that owns the data hide counts below this.
    report_min_count: int = 5
    geocoder: str | None = None
    geocoder_options: dict[str, Any] = field(default_factory=dict)
    geocoder_timeout: float = 5.0
    map_tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_attribution: str = "© OpenStreetMap contributors"
    # The language the listings are written in, so pages in other languages mark them (lang).
    catalog_language: str = "en"
    log_level: str = "INFO"
    # The reverse proxies whose X-Forwarded-For names the client (none by default: the socket's
    # peer is the client, and a header anyone can send is ignored).
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()

    @property
    def https(self) -> bool:
        """Cookies are marked Secure when the app is served over HTTPS."""
        return urlsplit(self.base_url).scheme == "https"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalize_database_url(url: str) -> str:
    """Accept the common `postgresql://` spelling for Tortoise's `postgres://` (asyncpg)."""
    for prefix in ("postgresql+asyncpg://", "postgresql://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    config = Config(env_file if env_file and Path(env_file).exists() else None, environ=environ)
    data_dir = Path(config("CAREMAP_DATA_DIR", default="data")).resolve()
    database_url = config("DATABASE_URL", default="") or f"sqlite://{data_dir / 'caremap.sqlite3'}"
    geocoder_options: dict[str, Any] = {}
    if url := config("GEOCODER_URL", default=""):
        parts = urlsplit(url)
        geocoder_options.update(domain=parts.netloc + parts.path.rstrip("/"), scheme=parts.scheme)
    if key := config("GEOCODER_API_KEY", cast=Secret, default=""):
        geocoder_options["api_key"] = str(key)
    geocoder = config("GEOCODER", default="") or None
    if geocoder == "nominatim" or (geocoder and not geocoder_options.get("api_key")):
        geocoder_options["user_agent"] = config("GEOCODER_USER_AGENT", default="caremap")
    settings = Settings(
        data_dir=data_dir,
        database_url=normalize_database_url(database_url),
        secret_key=config("SECRET_KEY", cast=Secret, default="") or _local_secret(data_dir),
        base_url=config("BASE_URL", default="http://127.0.0.1:8000").rstrip("/"),
        fhir_system_base=config("FHIR_SYSTEM_BASE", default="https://caremap.org/fhir").rstrip("/"),
        session_idle_minutes=config("SESSION_IDLE_MINUTES", cast=int, default=60),
        session_max_hours=config("SESSION_MAX_HOURS", cast=int, default=12),
        search_backend=config("SEARCH_BACKEND", default="embedded"),
        meili_url=config("MEILI_URL", default="") or None,
        meili_key=config("MEILI_KEY", cast=Secret, default="") or None,
        search_index_prefix=config("SEARCH_INDEX_PREFIX", default="caremap"),
        search_drainer=config("SEARCH_DRAINER", default="inprocess"),
        outbox_claim_seconds=config("OUTBOX_CLAIM_SECONDS", cast=float, default=60.0),
        outbox_batch_size=config("OUTBOX_BATCH_SIZE", cast=int, default=200),
        smtp_host=config("SMTP_HOST", default="127.0.0.1"),
        smtp_port=config("SMTP_PORT", cast=int, default=1025),
        smtp_username=config("SMTP_USERNAME", default="") or None,
        smtp_password=config("SMTP_PASSWORD", cast=Secret, default="") or None,
        smtp_tls=config("SMTP_TLS", default="none"),
        smtp_timeout=config("SMTP_TIMEOUT", cast=float, default=30.0),
        mail_from=config("MAIL_FROM", default="caremap <no-reply@caremap.local>"),
        mail_drainer=config("MAIL_DRAINER", default="inprocess"),
        time_zone=config("TIME_ZONE", default="UTC"),
        stale_days=config("REFERRAL_STALE_DAYS", cast=int, default=14),
        escalate_after_days=config("REFERRAL_ESCALATE_AFTER_DAYS", cast=int, default=2),
        follow_up_days=config("REFERRAL_FOLLOW_UP_DAYS", cast=int, default=3),
        reminder_sweep_seconds=config("REMINDER_SWEEP_SECONDS", cast=float, default=300.0),
        listing_stale_days=config("LISTING_STALE_DAYS", cast=int, default=180),
        listing_reminder_days=config("LISTING_REMINDER_DAYS", cast=int, default=14),
        listing_flag_threshold=config("LISTING_FLAG_THRESHOLD", cast=int, default=3),
        listing_flag_window_days=config("LISTING_FLAG_WINDOW_DAYS", cast=int, default=90),
        login_limit_per_account=config("LOGIN_LIMIT_PER_ACCOUNT", default="5/15 minutes"),
        login_limit_per_address=config("LOGIN_LIMIT_PER_ADDRESS", default="30/15 minutes"),
        search_rate_limit=config("SEARCH_RATE_LIMIT", default="300/minute"),
        rate_limit_storage=config("RATE_LIMIT_STORAGE", default="memory://"),
        ask_rate_limit=config("ASK_RATE_LIMIT", default="5/hour"),
        report_rate_limit=config("REPORT_RATE_LIMIT", default="10/hour"),
        list_email_rate_limit=config("LIST_EMAIL_RATE_LIMIT", default="5/hour"),
        retention_days=config("RETENTION_DAYS", cast=int, default=730),
        report_min_count=config("REPORT_MIN_COUNT", cast=int, default=5),
        geocoder=geocoder,
        geocoder_options=geocoder_options if geocoder else {},
        geocoder_timeout=config("GEOCODER_TIMEOUT", cast=float, default=5.0),
        map_tiles_url=config(
            "MAP_TILES_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        ),
        map_attribution=config("MAP_ATTRIBUTION", default="© OpenStreetMap contributors"),
        catalog_language=config("CATALOG_LANGUAGE", default="en"),
        log_level=config("LOG_LEVEL", default="INFO"),
        trusted_proxies=_networks("TRUSTED_PROXIES", config("TRUSTED_PROXIES", default="")),
    )
    _check(settings)
    return settings


RATE_LIMIT_STORAGES = ("memory://", "redis://", "rediss://")


def _check(settings: Settings) -> None:
    """Refuse a misspelt setting at start-up rather than at the first email or search."""
    if not settings.database_url.startswith(("sqlite://", "postgres://")):
        scheme = settings.database_url.split("://", 1)[0] if "://" in settings.database_url else ""
        raise ValueError(
            f"DATABASE_URL has the scheme {scheme!r}; caremap runs on sqlite:// (a file) or "
            "postgres:// (postgresql:// also works)"
        )
    if urlsplit(settings.fhir_system_base).scheme not in ("http", "https", "urn"):
        raise ValueError(
            f"FHIR_SYSTEM_BASE is {settings.fhir_system_base!r}; use an absolute URI your "
            "organization controls, such as https://caremap.example.org/fhir"
        )
    choices = {
        "SMTP_TLS": (settings.smtp_tls, ("none", "starttls", "tls")),
        "MAIL_DRAINER": (settings.mail_drainer, ("inprocess", "external")),
        "SEARCH_DRAINER": (settings.search_drainer, ("inprocess", "external")),
    }
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{name} is {value!r}; use one of {', '.join(allowed)}")
    if not settings.rate_limit_storage.startswith(RATE_LIMIT_STORAGES):
        raise ValueError(
            f"RATE_LIMIT_STORAGE is {settings.rate_limit_storage!r}; use memory:// (this "
            "process) or redis://host:6379/0 (shared by every node; rediss:// with TLS)"
        )
    positive = {
        "LISTING_STALE_DAYS": settings.listing_stale_days,
        "LISTING_FLAG_THRESHOLD": settings.listing_flag_threshold,
        "LISTING_FLAG_WINDOW_DAYS": settings.listing_flag_window_days,
        "RETENTION_DAYS": settings.retention_days,
        "REPORT_MIN_COUNT": settings.report_min_count,
    }
    for name, number in positive.items():
        if number < 1:
            raise ValueError(f"{name} is {number}; it must be 1 or more")
    if not 0 <= settings.listing_reminder_days < settings.listing_stale_days:
        raise ValueError("LISTING_REMINDER_DAYS must be 0 or more and less than LISTING_STALE_DAYS")
    rates = {
        "LOGIN_LIMIT_PER_ACCOUNT": settings.login_limit_per_account,
        "LOGIN_LIMIT_PER_ADDRESS": settings.login_limit_per_address,
        "SEARCH_RATE_LIMIT": settings.search_rate_limit,
        "ASK_RATE_LIMIT": settings.ask_rate_limit,
        "REPORT_RATE_LIMIT": settings.report_rate_limit,
        "LIST_EMAIL_RATE_LIMIT": settings.list_email_rate_limit,
    }
    for name, rate in rates.items():
        if rate in ("0", "off") and name not in (
            "LOGIN_LIMIT_PER_ACCOUNT",
            "LOGIN_LIMIT_PER_ADDRESS",
        ):
            continue
        try:
            parse_limit(rate)
        except ValueError:
            raise ValueError(
                f"{name} is {rate!r}; write it as 5/15 minutes or 300/minute"
            ) from None
    name, address = parseaddr(settings.mail_from)
    if not address or "@" not in address or any(ord(c) < 32 for c in settings.mail_from):
        raise ValueError(
            f"MAIL_FROM is {settings.mail_from!r}; write one address, e.g. "
            "caremap <no-reply@district.example.org>"
        )
    try:
        ZoneInfo(settings.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"TIME_ZONE {settings.time_zone!r} is not a known time zone") from None


def _networks(name: str, value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Addresses or networks separated by commas: `10.0.0.5, 10.1.0.0/16`."""
    try:
        return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"{name} is {value!r}; list addresses or networks, e.g. 10.0.0.5, 10.1.0.0/16"
        ) from None


def _local_secret(data_dir: Path) -> Secret:
    """For a local install without SECRET_KEY: a random key kept in the data folder."""
    path = data_dir / "secret_key"
    try:
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return Secret(path.read_text().strip())
    except OSError as error:
        raise ValueError(f"CAREMAP_DATA_DIR: cannot use {data_dir} ({error.strerror})") from None
