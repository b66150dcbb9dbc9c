"""The `caremap` command: serve, seed, manage users and upgrade the database."""

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import uvicorn
from meilisearch_python_sdk.errors import MeilisearchError
from tortoise.exceptions import DBConnectionError
from tqdm import tqdm

from caremap import db
from caremap.accounts import service as accounts
from caremap.accounts.models import User
from caremap.mail import mail_loops
from caremap.search import backend_for, drainer_for, install_change_listeners
from caremap.settings import Settings, load_settings
from directory.actor import SYSTEM
from directory.bulk import for_bulk_work
from directory.details import retry_pending_geocodes
from directory.errors import DomainError
from directory.geocoding import Geocoder
from directory.hsds_export import Rows, export_rows, nest
from directory.hsds_import import (
    OUTCOMES,
    ImportRefused,
    ImportReport,
    import_package,
    read_taxonomy_map,
)
from directory.hsds_package import read_into, write_csv_package
from directory.hsds_spool import Spool
from directory.hsds_tables import TABLES
from directory.models import ListingChange, Organization, Service
from search_index.documents import all_documents
from search_index.meili import caremap_key
from search_index.outbox import enqueue_services
from seeds.load import LoadReport, load_demo

GEOCODE_RETRY_SECONDS = 300


def _geocoder(settings: Settings) -> Geocoder:
    return Geocoder(
        settings.geocoder, options=settings.geocoder_options, timeout=settings.geocoder_timeout
    )


async def _with_database(settings: Settings, work: Callable[[], Awaitable[None]]) -> None:
    db.prepare_sqlite_file(settings)
    await db.connect(settings)
    install_change_listeners()
    try:
        if not await db.has_schema():
            raise CommandError("the database has no caremap tables yet: run `caremap db upgrade`")
        await work()
    finally:
        await db.disconnect()


def _print_report(report: LoadReport) -> None:
    created, skipped = report.created, report.skipped
    print(
        f"Demo data: {created['organization']} organizations, {created['service']} services, "
        f"{created['location']} locations, {created['user']} users, "
        f"{created.get('referral', 0)} past referrals created "
        f"({sum(skipped.values())} records already there)."
    )
    if report.logins:
        print("\nDemo logins (shown once; keep them somewhere safe):")
        for email, role, password in report.logins:
            print(f"  {role:<14} {email:<42} {password}")


async def _seed(settings: Settings, *, only_if_empty: bool) -> None:
    async def work() -> None:
        if only_if_empty and await Organization.exists():
            print("The database already has data; demo data not loaded.")
            return
        _print_report(await load_demo(geocoder=_geocoder(settings)))

    await _with_database(settings, work)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(db.upgrade(settings))
    if args.demo:
        asyncio.run(_seed(settings, only_if_empty=True))
    if args.workers > 1 and "inprocess" in (settings.search_drainer, settings.mail_drainer):
        # Several app processes only read the search index and send no mail; one
        # `caremap worker` writes the index and sends the mail.
        os.environ["SEARCH_DRAINER"] = "external"
        os.environ["MAIL_DRAINER"] = "external"
        print("Serving with several workers: run `caremap worker` for search updates and mail.")
    _check_port(args.host, args.port)
    print(f"caremap is serving at http://{args.host}:{args.port}")
    if settings.mail_drainer == "inprocess" and args.workers == 1:  # this process sends it
        print(
            f"Mail goes to the SMTP server at {settings.smtp_host}:{settings.smtp_port} "
            "(SMTP_HOST, SMTP_PORT); until it answers, mail waits in the outbox.",
        )
    sys.stdout.flush()
    uvicorn.run(
        "caremap.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        # Client addresses come from TRUSTED_PROXIES' X-Forwarded-For (caremap.throttle), never
        # from uvicorn's default of believing any loopback client's header.
        proxy_headers=False,
    )


def _check_port(host: str, port: int) -> None:
    """Say so at once when the address cannot be served, before claiming to serve it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise CommandError(
            f"--host {host}: not an address this machine has ({error.strerror})"
        ) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise CommandError(f"cannot serve on {host}:{port} ({error.strerror})") from None


def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(db.upgrade(settings))
    asyncio.run(_seed(settings, only_if_empty=False))


def cmd_worker(args: argparse.Namespace, settings: Settings) -> None:
    """Background work until stopped: keep the search index current, send referral mail and
    reminders, and retry pending geocodes."""

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print("caremap worker is running.", flush=True)
        if args.only == "mail":
            async with mail_loops(settings):
                await stop.wait()
            return
        backend = backend_for(settings, writer=True)
        drainer = drainer_for(settings, backend)
        geocoding = asyncio.create_task(_retry_geocodes(settings, stop))
        try:
            if args.only == "search":
                await drainer.run(stop)
            else:
                async with mail_loops(settings):
                    await drainer.run(stop)
        finally:
            await geocoding
            await backend.close()

    asyncio.run(_with_database(settings, work))


async def _retry_geocodes(settings: Settings, stop: asyncio.Event) -> None:
    geocoder = _geocoder(settings)
    while not stop.is_set():
        if settings.geocoder:
            try:
                await retry_pending_geocodes(geocoder=geocoder)
            except Exception as error:
                if not db.unreachable(error):
                    raise
                # The database is away: try again next round.
                logging.getLogger(__name__).warning("geocode retry skipped: %s", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=GEOCODE_RETRY_SECONDS)


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    """Import an HSDS 3.0 data set: all of it, or nothing and every error named."""

    async def work() -> None:
        await db.for_bulk_writes()
        for_bulk_work()
        with Spool() as spool:
            read_into(Path(args.path), spool)
            with tqdm(
                total=spool.count(), unit="record", disable=args.quiet or None, file=sys.stderr
            ) as bar:
                report = await import_package(
                    spool,
                    actor=SYSTEM,
                    geocoder=_geocoder(settings),
                    taxonomy_map=read_taxonomy_map(Path(args.taxonomy_map))
                    if args.taxonomy_map
                    else None,
                    default_category=args.default_category,
                    dry_run=args.dry_run,
                    progress=bar.update,
                    # A second core checks the next parts while this one writes.
                    database=db.config_for_another_process(settings.database_url)
                    if len(os.sched_getaffinity(0)) > 1
                    else None,
                )
        _print_import_report(report, dry_run=args.dry_run)

    asyncio.run(db.upgrade(settings))
    try:
        asyncio.run(_with_database(settings, work))
    except ImportRefused as refused:
        for problem in refused.problems:
            print(f"{'warning' if problem.warning else 'error'}: {problem}", file=sys.stderr)
        sys.exit(f"caremap: {refused.message}")


def _print_import_report(report: ImportReport, *, dry_run: bool) -> None:
    for problem in report.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    evidence = f" (from {report.evidence})" if report.evidence else ""
    version = report.version if report.version[0].isalpha() else f"HSDS {report.version}"
    print(f"Read as {version}{evidence}.")
    outcomes = ("checked",) if dry_run else OUTCOMES
    print(f"{'table':<26}" + "".join(f"{outcome:>11}" for outcome in outcomes))
    for table in TABLES:
        if table in report.counts:
            counts = report.counts[table]
            print(f"{table:<26}" + "".join(f"{counts[o]:>11}" for o in outcomes))
    totals = report.totals()
    print(f"{'total':<26}" + "".join(f"{totals[o]:>11}" for o in outcomes))
    if report.warnings:
        print(f"{len(report.warnings)} warning(s): values kept for export but not used (above).")
    if report.pending_geocodes:
        print(f"{report.pending_geocodes} location(s) wait for the geocoder: `caremap worker`.")


def cmd_export(args: argparse.Namespace, settings: Settings) -> None:
    """Export the catalog as an HSDS 3.0 CSV package (a folder) or JSON package (a .json file)."""
    path = Path(args.path)
    form = args.format or ("json" if path.suffix == ".json" else "csv")

    rows: Rows = {}

    async def work() -> None:
        rows.update(await export_rows())

    asyncio.run(db.upgrade(settings))  # a database never used yet exports as an empty catalog
    asyncio.run(_with_database(settings, work))
    if form == "json":
        path.write_text(json.dumps(nest(rows), indent=2, ensure_ascii=False) + "\n")
    else:
        write_csv_package(path, rows)
    counts = ", ".join(
        f"{len(rows.get(t, []))} {t}" for t in ("organization", "service", "location")
    )
    print(f"Exported {counts} records as an HSDS 3.0 {form.upper()} package to {path}.")


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> None:
    """Rebuild the whole search index aside and swap it in when complete."""

    async def work() -> None:
        for_bulk_work()
        started = datetime.now(UTC)
        backend = backend_for(settings, writer=False)
        total = await Service.all().count()
        seen: set[str] = set()
        with tqdm(total=total, unit="services", disable=args.quiet) as bar:

            async def batches() -> AsyncIterator[list[dict[str, Any]]]:
                async for batch in all_documents():
                    fresh = {d["service_id"] for d in batch} - seen
                    seen.update(fresh)
                    bar.update(len(fresh))
                    yield batch

            count = await backend.rebuild(batches())
        # Edits made while the new index was being built are applied to it by the drainer.
        changed = await ListingChange.filter(created_at__gte=started).values_list(
            "service_id", flat=True
        )
        await enqueue_services([i for i in changed if i])
        await backend.close()
        print(f"Reindexed {count} documents for {len(seen)} services.")

    asyncio.run(_with_database(settings, work))


def cmd_check(args: argparse.Namespace, settings: Settings) -> None:
    """Whether this node can do its work: its database answers, and its search engine (for a
    worker's healthcheck, which has no port to ask; the app's is `/healthz`)."""

    async def work() -> None:
        problems = []
        if not await db.reachable():
            problems.append("the database does not answer")
        backend = backend_for(settings, writer=False)
        if not await backend.healthy():
            problems.append(f"the search engine ({settings.search_backend}) does not answer")
        await backend.close()
        if problems:
            raise CommandError("; ".join(problems))
        print("ok")

    asyncio.run(_with_database(settings, work))


def cmd_search_key(args: argparse.Namespace, settings: Settings) -> None:
    """Print the Meilisearch key the app and workers should use (MEILI_KEY): made once with
    the master key, limited to caremap's indexes and to what caremap does."""
    master = args.master_key or os.environ.get("MEILI_MASTER_KEY")
    if not settings.meili_url or not master:
        raise CommandError("set MEILI_URL, and MEILI_MASTER_KEY (or --master-key)")
    try:
        key = asyncio.run(caremap_key(settings.meili_url, master, settings.search_index_prefix))
    except (MeilisearchError, OSError) as error:
        raise CommandError(f"Meilisearch at {settings.meili_url}: {error}") from error
    print(key)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(db.upgrade(settings))
    print("Database is up to date.")


async def _organization_id(reference: str) -> UUID:
    try:
        return UUID(reference)
    except ValueError:
        organization = await Organization.get_or_none(name=reference)
        if organization is None:
            raise SystemExit(f"No organization named {reference!r}.") from None
        return organization.id


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> None:
    password = args.password or secrets.token_urlsafe(12)

    async def work() -> None:
        user = await accounts.create_user(
            by_system=True,
            email=args.email,
            name=args.name,
            password=password,
            role=args.role,
            organization_id=await _organization_id(args.organization),
        )
        print(f"Created {user.role.value} {user.email}.")
        if not args.password:
            print(f"Password (shown once): {password}")

    asyncio.run(_with_database(settings, work))


def cmd_user_password(args: argparse.Namespace, settings: Settings) -> None:
    password = getpass.getpass("New password: ") if args.prompt else secrets.token_urlsafe(12)

    async def work() -> None:
        user = await User.get_or_none(email=args.email.lower())
        if user is None:
            raise SystemExit(f"No user {args.email}.")
        await accounts.set_password(user_id=user.id, password=password)
        print(f"Password changed for {user.email}; their sessions and API tokens were ended.")
        if not args.prompt:
            print(f"New password (shown once): {password}")

    asyncio.run(_with_database(settings, work))


def cmd_user_update(args: argparse.Namespace, settings: Settings) -> None:
    """Change a user's role, organization or whether they may sign in; any change signs them out
    everywhere (sessions and API tokens)."""

    async def work() -> None:
        user = await User.get_or_none(email=args.email.lower())
        if user is None:
            raise SystemExit(f"No user {args.email}.")
        active = {"deactivate": False, "activate": True}.get(args.user_command)
        updated = await accounts.update_user(
            by_system=True,
            user_id=user.id,
            role=getattr(args, "role", None),
            organization_id=(
                await _organization_id(args.organization)
                if getattr(args, "organization", None)
                else None
            ),
            active=active,
        )
        state = "active" if updated.is_active else "deactivated"
        print(
            f"{updated.email}: {updated.role.value}, {state}; their sessions and API tokens "
            "were ended."
        )

    asyncio.run(_with_database(settings, work))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="caremap", description=__doc__)
    root.add_argument("--version", action="version", version=f"caremap {version('caremap')}")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="upgrade the database and serve the app")
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser(
        "worker", help="update search, send referral mail and reminders, retry geocoding"
    )
    worker.add_argument(
        "--only",
        choices=["search", "mail"],
        help="do one kind of work: more mail workers than search writers, say (the embedded "
        "index has one writer; Meilisearch and the mail outbox take any number)",
    )
    worker.set_defaults(run=cmd_worker)

    reindex = commands.add_parser("reindex", help="rebuild the search index from the database")
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")
    reindex.set_defaults(run=cmd_reindex)

    hsds_import = commands.add_parser(
        "import", help="import an HSDS 3.0 data set (CSV package folder or JSON file)"
    )
    hsds_import.add_argument("path", help="a CSV package folder, its datapackage.json, or .json")
    hsds_import.add_argument(
        "--taxonomy-map", help="CSV of taxonomy,code,category mapping other terms to categories"
    )
    hsds_import.add_argument(
        "--default-category", help="category for services whose terms map to none"
    )
    hsds_import.add_argument("--dry-run", action="store_true", help="check only; write nothing")
    hsds_import.add_argument("--quiet", action="store_true", help="no progress bar")
    hsds_import.set_defaults(run=cmd_import)

    export = commands.add_parser("export", help="export the catalog as an HSDS 3.0 data set")
    export.add_argument("path", help="a folder for the CSV package, or a .json file")
    export.add_argument("--format", choices=["csv", "json"], help="default: from the path")
    export.set_defaults(run=cmd_export)

    check = commands.add_parser(
        "check", help="exit 0 if the database and the search engine answer (a healthcheck)"
    )
    check.set_defaults(run=cmd_check)

    search = commands.add_parser("search", help="search engine maintenance")
    search_commands = search.add_subparsers(dest="search_command", required=True)
    key = search_commands.add_parser(
        "key", help="print caremap's own Meilisearch key (made once with the master key)"
    )
    key.add_argument("--master-key", help="default: MEILI_MASTER_KEY")
    key.set_defaults(run=cmd_search_key)

    seed = commands.add_parser("seed", help="load the demo data (idempotent)")
    seed.set_defaults(run=cmd_seed)

    database = commands.add_parser("db", help="database maintenance")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    upgrade = database_commands.add_parser("upgrade", help="apply schema migrations")
    upgrade.set_defaults(run=cmd_db_upgrade)

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="create a user")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument(
        "--role", required=True, choices=["specialist", "partner", "partner_admin", "admin"]
    )
    add.add_argument("--organization", required=True, help="organization id or exact name")
    add.add_argument("--password", help="omit to generate one and print it once")
    add.set_defaults(run=cmd_user_add)
    password = user_commands.add_parser("password", help="reset a user's password")
    password.add_argument("email")
    password.add_argument("--prompt", action="store_true", help="type the new password")
    password.set_defaults(run=cmd_user_password)
    change = user_commands.add_parser("update", help="change a user's role or organization")
    change.add_argument("email")
    change.add_argument("--role", choices=["specialist", "partner", "partner_admin", "admin"])
    change.add_argument("--organization", help="organization id or exact name")
    change.set_defaults(run=cmd_user_update)
    for name, says in (("deactivate", "stop a user signing in"), ("activate", "let them again")):
        toggle = user_commands.add_parser(name, help=says)
        toggle.add_argument("email")
        toggle.set_defaults(run=cmd_user_update)
    return root


# The database layers log each query with its parameters at DEBUG and INFO, and the parameters
# are families' names and phone numbers; they stay at WARNING whatever LOG_LEVEL says.
QUERY_LOGGERS = ("tortoise", "aiosqlite", "asyncpg")
# The HTTP clients (Meilisearch's SDK, the geocoder) log every request at INFO: noise, and a
# request's address is no place to be written down.
QUIET_LOGGERS = ("httpx", "httpx2", "httpcore")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in (*QUERY_LOGGERS, *QUIET_LOGGERS):
        logging.getLogger(name).setLevel(logging.WARNING)


class CommandError(Exception):
    """A command cannot do its work for a reason the person running it can fix; one line."""


def _database_problem(error: BaseException) -> str | None:
    """What is wrong with the database `DATABASE_URL` names, if that is what `error` says."""
    if isinstance(error, db.DatabaseSettingError):
        return str(error)
    if isinstance(error, asyncpg.PostgresError | DBConnectionError) or db.unreachable(error):
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return f"DATABASE_URL: cannot use the database ({reason})"
    return None


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except (ValueError, OSError) as error:  # a misspelt setting: say which, no traceback
        sys.exit(f"caremap: {error}")
    configure_logging(settings.log_level)
    try:
        args.run(args, settings)
    except DomainError as error:
        fields = getattr(error, "fields", None)
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items()) if fields else error.message
        sys.exit(f"caremap: {detail}")
    except CommandError as error:
        sys.exit(f"caremap: {error}")
    except Exception as error:
        if (problem := _database_problem(error)) is not None:
            sys.exit(f"caremap: {problem}")
        if isinstance(error, OSError) and error.strerror:
            where = f": {error.filename}" if error.filename else ""
            sys.exit(f"caremap: {error.strerror}{where}")
        raise


if __name__ == "__main__":
    main()
