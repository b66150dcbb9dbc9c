"""Referral benchmark: creates and transitions per second, on SQLite and on PostgreSQL.

    .venv/bin/python bench/referral_benchmark.py --referrals 2000 \
        --postgres postgres://postgres@127.0.0.1:5432/test

For each database it builds a fresh, migrated schema, makes a school, an agency and a service
through the service layer, then times the real service-layer calls: N referral creates (each
with its consent, first timeline event and mail outbox row in one transaction), then N x 4
transitions (received, accepted, in_progress, completed: version checks, timeline, mail rows).
`--concurrency` runs that many callers at once (PostgreSQL serves them in parallel; SQLite
serializes writes). Figures go to bench-results/referrals.json and a table on stdout. Nothing
here is a test: it measures and reports.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from starlette.datastructures import Secret

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from caremap import db  # noqa: E402
from caremap.settings import Settings  # noqa: E402
from directory import service as catalog  # noqa: E402
from directory.actor import SYSTEM, Actor, Role  # noqa: E402
from referrals import service as referrals  # noqa: E402

STEPS = [("received", {}), ("accepted", {}), ("in_progress", {})]
DONE = ("completed", {"outcome": "service_provided"})


async def world() -> tuple[Actor, Actor, uuid.UUID]:
    school = await catalog.create_organization(
        actor=SYSTEM, data={"name": "Bench School", "kind": "school"}
    )
    agency = await catalog.create_organization(actor=SYSTEM, data={"name": "Bench Agency"})
    service = await catalog.create_service(
        actor=SYSTEM,
        data={
            "name": "Bench Pantry",
            "organization_id": str(agency.id),
            "categories": ["food-pantry"],
            "accepts_referrals": True,
        },
    )
    specialist = Actor(uuid.uuid4(), school.id, Role.SPECIALIST)
    partner = Actor(uuid.uuid4(), agency.id, Role.PARTNER)
    return specialist, partner, service.id


def body(service_id: uuid.UUID, n: int) -> dict:
    return {
        "service_id": str(service_id),
        "person": {
            "name": f"B{n}",
            "age_band": "14-17",
            "contact_method": "phone",
            "contact_value": "(773) 555-0199",
        },
        "needs": ["food-pantry"],
        "consent": {"given_by": "guardian", "method": "verbal", "given_at": "2026-11-20T15:00:00Z"},
    }


async def in_parallel(jobs: list, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def run(job):
        async with gate:
            return await job()

    await asyncio.gather(*(run(job) for job in jobs))


async def measure(url: str, count: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=url, secret_key=Secret("bench"))
        await db.upgrade(settings)
        await db.connect(settings)
        try:
            specialist, partner, service_id = await world()
            ids: list[uuid.UUID] = []

            async def create(n: int) -> None:
                referral = await referrals.create_referral(
                    actor=specialist, data=body(service_id, n)
                )
                ids.append(referral.id)

            started = time.perf_counter()
            await in_parallel([lambda n=n: create(n) for n in range(count)], concurrency)
            create_seconds = time.perf_counter() - started

            async def work(referral_id: uuid.UUID) -> None:
                for version, (to, extra) in enumerate([*STEPS, DONE], start=1):
                    await referrals.transition(
                        actor=partner, referral_id=referral_id, to=to, version=version, **extra
                    )

            started = time.perf_counter()
            await in_parallel([lambda i=i: work(i) for i in ids], concurrency)
            transition_seconds = time.perf_counter() - started
        finally:
            await db.disconnect()
    return {
        "referrals": count,
        "concurrency": concurrency,
        "creates_per_second": round(count / create_seconds, 1),
        "transitions_per_second": round(count * 4 / transition_seconds, 1),
    }


async def fresh_postgres(url: str) -> tuple[str, str]:
    name = f"caremap_bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url.rpartition("/")[0] + f"/{name}", name


async def drop_postgres(url: str, name: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def in_own_process(script: str, *args: object) -> dict:
    """Run `script --measure ARGS` and read the JSON it prints last. One database per
    process: Tortoise binds its models to the first backend it meets."""
    output = subprocess.run(
        [sys.executable, script, "--measure", *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def run_measure(url: str, count: int, concurrency: int) -> dict[str, float]:
    return in_own_process(__file__, url, count, concurrency)


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        url, count, concurrency = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(asyncio.run(measure(url, count, concurrency))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--postgres", help="a PostgreSQL URL whose server may create databases")
    args = parser.parse_args()
    results = []
    for concurrency in args.concurrency:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite://{tmp}/bench.sqlite3"
            results.append({"database": "sqlite", **run_measure(url, args.referrals, concurrency)})
        if args.postgres:
            url, name = asyncio.run(fresh_postgres(args.postgres))
            try:
                figures = run_measure(url, args.referrals, concurrency)
                results.append({"database": "postgres", **figures})
            finally:
                asyncio.run(drop_postgres(args.postgres, name))
    print(f"{'database':<10} {'callers':>7} {'creates/s':>10} {'transitions/s':>14}")
    for row in results:
        print(
            f"{row['database']:<10} {row['concurrency']:>7} {row['creates_per_second']:>10} "
            f"{row['transitions_per_second']:>14}"
        )
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "referrals.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
