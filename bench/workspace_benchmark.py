"""Workspace benchmark: the referral inbox and the referral page at district scale.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/workspace_benchmark.py --referrals 100000 \
        --postgres postgres://postgres@127.0.0.1:5432/test

For each database it builds a fresh, migrated schema with 40 schools (a specialist each), 50
agencies (a partner and a service each) and N referrals spread over them, in every status,
with their consent and timeline (written in bulk: this measures reading, not writing). Then
it serves the real app in-process (the same handlers, queries and templates as `caremap
serve`) and times, at one client, each signed-in page a caseworker opens all day:

- the agency inbox (`/referrals`, what needs the agency first),
- the specialist inbox searched by a family's name (`/referrals?q=...`),
- a referral page (`/referrals/{id}`, which also marks it seen),
- the unread count every signed-in page's header carries (through `/help-requests`).

Each is requested `--requests` times after a warm-up, round-robin over the users, and its
p50 and p95 are printed and written to bench-results/workspace.json. Target: p95 < 50 ms.
Nothing here is a test: it measures and reports.
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from starlette.datastructures import Secret

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.referral_benchmark import drop_postgres, fresh_postgres, in_own_process  # noqa: E402
from caremap import db  # noqa: E402
from caremap.accounts import service as accounts  # noqa: E402
from caremap.accounts.models import User  # noqa: E402
from caremap.app import create_app  # noqa: E402
from caremap.auth import SESSION_COOKIE, SessionCookies  # noqa: E402
from caremap.settings import Settings  # noqa: E402
from directory import service as catalog  # noqa: E402
from directory.actor import SYSTEM  # noqa: E402
from referrals.models import (  # noqa: E402
    Consent,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Urgency,
    short_reference,
)
from referrals.schemas import SHARABLE  # noqa: E402

SCHOOLS, AGENCIES = 40, 50
FIRST = ("Maria", "Jose", "Ana", "Luis", "Aaliyah", "Noah", "Mia", "Liam", "Sofia", "Mateo")
LAST = ("Garcia", "Lopez", "Nguyen", "Smith", "Johnson", "Hernandez", "Kim", "Ali", "Diaz")
STATUSES = [  # roughly how a year of referrals stands
    (ReferralStatus.COMPLETED, 40),
    (ReferralStatus.FAILED, 8),
    (ReferralStatus.REJECTED, 8),
    (ReferralStatus.CANCELLED, 4),
    (ReferralStatus.IN_PROGRESS, 12),
    (ReferralStatus.ACCEPTED, 10),
    (ReferralStatus.RECEIVED, 6),
    (ReferralStatus.REQUESTED, 8),
    (ReferralStatus.DRAFT, 4),
]


async def world(count: int, rng: random.Random) -> dict[str, list]:
    schools, agencies, services = [], [], []
    for number in range(SCHOOLS):
        schools.append(
            await catalog.create_organization(
                actor=SYSTEM, data={"name": f"School {number}", "kind": "school"}
            )
        )
    for number in range(AGENCIES):
        agency = await catalog.create_organization(actor=SYSTEM, data={"name": f"Agency {number}"})
        agencies.append(agency)
        service = await catalog.create_service(
            actor=SYSTEM,
            data={
                "name": f"Service {number}",
                "organization_id": str(agency.id),
                "categories": ["food-pantry"],
                "accepts_referrals": True,
            },
        )
        services.append(service)
    password = "bench-password-123"  # noqa: S105 (benchmark users on a throwaway database)
    specialists = [
        await accounts.create_user(
            by_system=True, email=f"s{n}@bench.example", name=f"Specialist {n}",
            password=password, role="specialist", organization_id=school.id,
        )
        for n, school in enumerate(schools)
    ]  # fmt: skip
    partners = [
        await accounts.create_user(
            by_system=True, email=f"p{n}@bench.example", name=f"Partner {n}",
            password=password, role="partner", organization_id=agency.id,
        )
        for n, agency in enumerate(agencies)
    ]  # fmt: skip
    await bulk_referrals(count, rng, specialists, services)
    return {"specialists": specialists, "partners": partners}


async def bulk_referrals(count: int, rng: random.Random, specialists: list, services: list):
    now = datetime.now(UTC)
    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    batch = 5000
    for start in range(0, count, batch):
        referrals, consents, events = [], [], []
        for _ in range(start, min(count, start + batch)):
            specialist = rng.choice(specialists)
            service = rng.choice(services)
            status = rng.choice(statuses)
            created = now - timedelta(days=rng.uniform(0, 365))
            last = min(now, created + timedelta(days=rng.uniform(0, 20)))
            referral_id = uuid.uuid4()
            referrals.append(
                Referral(
                    id=referral_id,
                    reference=short_reference(referral_id),
                    service_id=service.id,
                    receiving_organization_id=service.organization_id,
                    referring_organization_id=specialist.organization_id,
                    referring_user_id=specialist.id,
                    status=status,
                    urgency=rng.choice(list(Urgency)),
                    due_at=created + timedelta(days=rng.choice([1, 3, 7])),
                    needs=["food-pantry"],
                    person_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    age_band="14-17",
                    contact_method="school",
                    sent_at=None if status is ReferralStatus.DRAFT else created,
                    last_activity_at=last,
                    receiver_unread=rng.random() < 0.05,
                    referrer_unread=rng.random() < 0.05,
                    name_shared=True,
                    created_at=created,
                    updated_at=last,
                )
            )
            consents.append(
                Consent(
                    id=uuid.uuid4(), referral_id=referral_id, given_by="guardian",
                    method="verbal", given_at=created, shares=list(SHARABLE),
                    recorded_by=specialist.id,
                )
            )  # fmt: skip
            events.append(
                ReferralEvent(referral_id=referral_id, kind="created", to_status="requested")
            )
        await Referral.bulk_create(referrals)
        await Consent.bulk_create(consents)
        await ReferralEvent.bulk_create(events)


async def timed(client: httpx.AsyncClient, paths: list[tuple[dict, str]], requests: int) -> dict:
    for cookies, path in paths[:20]:  # warm-up: templates, caches, connections
        await client.get(path, cookies=cookies)
    times = []
    for number in range(requests):
        cookies, path = paths[number % len(paths)]
        started = time.perf_counter()
        response = await client.get(path, cookies=cookies)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
    }


async def measure(url: str, count: int, requests: int) -> dict:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=url, secret_key=Secret("bench"),
            base_url="http://bench", search_rate_limit="off",
            # Mail, reminders and search updates are `caremap worker`'s, as in production with
            # several processes: the pages alone are timed.
            mail_drainer="external", search_drainer="external",
        )  # fmt: skip
        await db.upgrade(settings)
        await db.connect(settings)
        started = time.perf_counter()
        try:
            people = await world(count, rng)
        finally:
            await db.disconnect()
        built = time.perf_counter() - started
        app = create_app(settings)
        signer = SessionCookies(settings)
        async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60):

            async def cookie(user: User) -> dict[str, str]:
                session = await accounts.start_session(user=user, max_hours=12)
                return {SESSION_COOKIE: signer.dump(session)}

            partners = [await cookie(u) for u in people["partners"]]
            specialists = [await cookie(u) for u in people["specialists"]]
            some = await Referral.filter(status__not=ReferralStatus.DRAFT).limit(200)
            pages = []
            for referral in some:
                partner = next(
                    u
                    for u in people["partners"]
                    if u.organization_id == referral.receiving_organization_id
                )
                pages.append((await cookie(partner), f"/referrals/{referral.id}"))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                searches = [
                    (c, f"/referrals?q={rng.choice(FIRST)}+{rng.choice(LAST)[:3]}")
                    for c in specialists
                ]
                figures = {
                    "agency inbox": await timed(
                        client, [(c, "/referrals") for c in partners], requests
                    ),
                    "specialist inbox, name search": await timed(client, searches, requests),
                    "referral page": await timed(client, pages, requests),
                    "header's unread count (help requests page)": await timed(
                        client, [(c, "/help-requests") for c in specialists], requests
                    ),
                }
    return {"referrals": count, "build_seconds": round(built, 1), "pages": figures}


def run_measure(url: str, count: int, requests: int) -> dict:
    return in_own_process(__file__, url, count, requests)


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        url, count, requests = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(asyncio.run(measure(url, count, requests))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose server may create databases")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/bench.sqlite3"
        results.append({"database": "sqlite", **run_measure(url, args.referrals, args.requests)})
    if args.postgres:
        url, name = asyncio.run(fresh_postgres(args.postgres))
        try:
            figures = run_measure(url, args.referrals, args.requests)
            results.append({"database": "postgres", **figures})
        finally:
            asyncio.run(drop_postgres(args.postgres, name))
    print(f"{'database':<10} {'page':<45} {'p50 ms':>7} {'p95 ms':>7}")
    for row in results:
        for page, figures in row["pages"].items():
            print(f"{row['database']:<10} {page:<45} {figures['p50_ms']:>7} {figures['p95_ms']:>7}")
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "workspace.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
