"""Load test: the app with several workers on one host, driven by a realistic mix.

    .venv/bin/python bench/load.py --listings 10000 --workers 2 --clients 32 --seconds 300

It builds a fresh SQLite catalog of N synthetic listings with its embedded index (as the search
benchmark does), adds a school specialist and an agency partner, serves the app with uvicorn
and `--workers`, and runs concurrent clients on loopback for a fixed time: 80% public searches,
10% service pages, 10% referral writes (a specialist refers; the agency accepts, starts and
completes). `--mix` adds inbox reads (`inbox=10`): the agency's inbox page (what needs it
first, every tab's count) and the specialist's inbox searched by a family's name, over
`--referrals` referrals already made (default 20,000, written in bulk, from 40 schools to 50
agencies). It reports throughput,
p50/p95/p99 latency (all and per kind), errors (5xx, refused connections, timeouts and any
unexpected 4xx) and each server process's resident memory at the start, every tenth of the run
and the end, as a table and as bench-results/load.json. It measures; it asserts nothing.
"""

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import aiohttp
import asyncpg
import httpx
from tortoise import Tortoise

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.workspace_benchmark import AGENCIES, FIRST, SCHOOLS, bulk_referrals  # noqa: E402
from caremap import db  # noqa: E402
from caremap.accounts import service as accounts  # noqa: E402
from caremap.search import backend_for  # noqa: E402
from caremap.settings import load_settings  # noqa: E402
from directory.actor import SYSTEM  # noqa: E402
from directory.models import Service  # noqa: E402
from directory.service import create_organization  # noqa: E402
from search_index.documents import all_documents  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "search_benchmark", ROOT / "bench/search_benchmark.py"
)
search_benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(search_benchmark)

PASSWORD = "load-test-password-1"  # noqa: S105 (a throwaway account on a throwaway database)
CONSENT = {"given_by": "guardian", "method": "verbal", "given_at": "2026-11-20T15:00:00Z"}
PERSON = {
    "name": "L.T.",
    "age_band": "14-17",
    "preferred_language": "en",
    "contact_method": "school",
}
WORDS = [
    "food", "food pantry", "groceries", "comida", "rent help", "rent", "shelter", "housing",
    "counseling", "conseling", "therapy", "mental health", "tutoring", "tuto", "after school",
    "dental", "dentist", "clinic", "vision", "glasses", "legal aid", "immigration", "eviction",
    "clothing", "coats", "school supplies", "diapers", "bus pass", "utilities", "job training",
    "jobs for teens", "childcare", "mentoring", "tax help", "benefits", "snap", "wic", "meals",
    "crisis", "domestic violence", "substance use", "health insurance", "ged", "english class",
]  # fmt: skip
ZIP_CODES = [
    "60601", "60605", "60607", "60608", "60609", "60612", "60614", "60616", "60617", "60618",
    "60619", "60620", "60621", "60623", "60624", "60625", "60628", "60629", "60632", "60636",
    "60637", "60639", "60640", "60641", "60644", "60647", "60649", "60651", "60653", "60660",
]  # fmt: skip
CATEGORY_CODES = ["food", "housing", "health", "education", "legal", "care", "work", "goods"]


def search_paths(count: int = 5000) -> list[str]:
    """Distinct searches a public directory sees, most popular first: words alone, words near
    a ZIP code, categories browsed near a ZIP code, with the filters people use. The fixed
    benchmark queries come first, so the popular head is the one the search benchmark times."""
    rng = random.Random(7)
    paths = list(search_benchmark.HTTP_QUERIES)
    seen = set(paths)
    filters = ["", "", "", "&open_now=true", "&free=true", "&language=es", "&age=15"]
    while len(paths) < count:
        shape = rng.random()
        if shape < 0.35:
            path = f"q={rng.choice(WORDS)}"
        elif shape < 0.75:
            path = f"q={rng.choice(WORDS)}&near={rng.choice(ZIP_CODES)}"
        else:
            path = f"category={rng.choice(CATEGORY_CODES)}&near={rng.choice(ZIP_CODES)}"
        path += rng.choice(filters)
        if rng.random() < 0.15:
            path += "&sort=distance" if "near" in path else "&page=2"
        path = path.replace(" ", "+")
        if path not in seen:
            paths.append(path)
            seen.add(path)
    return paths


SEARCHES = search_paths()
# Popularity falls off as 1/rank (Zipf): a few searches are common, most are rare. The thousand
# most popular are 83% of searches; the rest is a long tail of 4,000 that rarely repeat.
SEARCH_WEIGHTS = list(itertools.accumulate(1 / rank for rank in range(1, len(SEARCHES) + 1)))

NEXT_MOVE = {
    "requested": {"to": "accepted"},
    "accepted": {"to": "in_progress"},
    "in_progress": {"to": "completed", "outcome": "service_provided"},
}


async def fresh_database(url: str | None, data_dir: Path) -> str:
    """A new SQLite file in the data folder, or the named PostgreSQL database made anew."""
    if not url:
        return f"sqlite://{data_dir / 'caremap.sqlite3'}"
    base, _, name = url.rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url


async def prepare(
    data_dir: Path, database_url: str, listings: int, referrals: int
) -> dict[str, object]:
    """The catalog, its index, the two accounts the writes use, and the referrals the inbox
    reads find (from the specialist's school to the agency's services)."""
    settings = replace(load_settings(env_file=None), data_dir=data_dir, database_url=database_url)
    await db.upgrade(settings)
    await Tortoise.init(config=db.tortoise_config(settings.database_url))
    try:
        await search_benchmark.fill_catalog(listings)
        backend = backend_for(settings, writer=True)
        await backend.rebuild(all_documents(batch_size=1000))
        await backend.close()
        takes = await Service.filter(accepts_referrals=True).first()
        school = await create_organization(
            actor=SYSTEM, data={"name": "Load Test Middle School", "kind": "school"}
        )
        users = [
            await accounts.create_user(
                by_system=True,
                email=email,
                name=role,
                password=PASSWORD,
                role=role,
                organization_id=organization,
            )
            for email, role, organization in (
                ("specialist@load.example.org", "specialist", school.id),
                ("partner@load.example.org", "partner", takes.organization_id),
            )
        ]
        # A district's referrals: from 40 schools to 50 agencies, as the workspace benchmark
        # spreads them, so the two signed-in callers read inboxes of a usual size.
        schools = [users[0]] + [
            await accounts.create_user(
                by_system=True,
                email=f"specialist{n}@load.example.org",
                name=f"specialist {n}",
                password=PASSWORD,
                role="specialist",
                organization_id=(
                    await create_organization(
                        actor=SYSTEM, data={"name": f"Load Test School {n}", "kind": "school"}
                    )
                ).id,
            )
            for n in range(1, SCHOOLS)
        ]
        others = (
            await Service.filter(accepts_referrals=True)
            .exclude(organization_id=takes.organization_id)
            .limit(AGENCIES * 4)
        )
        one_each = list({s.organization_id: s for s in others}.values())[: AGENCIES - 1]
        await bulk_referrals(referrals, random.Random(3), schools, [takes, *one_each])
        return {
            "referral_services": [
                str(s)
                for s in await Service.filter(
                    organization_id=takes.organization_id, accepts_referrals=True
                ).values_list("id", flat=True)
            ],
            "services": [
                str(s) for s in await Service.all().limit(2000).values_list("id", flat=True)
            ],
        }
    finally:
        await Tortoise.close_connections()


def serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "caremap.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )


def processes(server: subprocess.Popen) -> list[int]:
    children = subprocess.run(
        ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [server.pid, *(int(pid) for pid in children)]


def processor() -> str:
    """The CPU's model name, so figures say which machine they came from."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown processor"


def memory(pids: list[int]) -> dict[str, float]:
    found = {}
    for pid in pids:
        try:
            found[str(pid)] = search_benchmark.rss_mb(pid)["rss_mb"]
        except FileNotFoundError:
            found[str(pid)] = 0.0
    return found


async def sample_memory(pids: list[int], every: float, samples: dict[str, list[float]]) -> None:
    """Each process's resident memory every `every` seconds until cancelled, so a run shows
    whether growth levels off (caches filling to their bounds) or keeps on (a leak)."""
    while True:
        await asyncio.sleep(every)
        for pid, mb in memory(pids).items():
            samples.setdefault(pid, []).append(mb)


class Mix:
    """The shared record: latencies by kind, and errors by kind and status."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def record(self, kind: str, started: float, status: int | None) -> None:
        self.latency[kind].append((time.perf_counter() - started) * 1000)
        if status is None:
            self.errors["transport"] += 1
        elif status >= 500:
            self.errors[f"{kind} {status}"] += 1
        elif status >= 400:
            self.errors[f"{kind} {status} (unexpected)"] += 1


class Traffic:
    """What the clients send: the mix's shares, the fixtures, the two signed-in callers, and
    the referrals still open (shared, so any client may move any of them)."""

    def __init__(
        self,
        shares: dict[str, float],
        fixtures: dict[str, object],
        specialist: dict[str, str],
        partner: dict[str, str],
        partner_page: dict[str, str],
    ) -> None:
        total = sum(shares.values())
        self.kinds = list(shares)
        self.weights = [shares[kind] / total for kind in self.kinds]
        self.fixtures = fixtures
        self.specialist = specialist
        self.partner = partner
        self.partner_page = partner_page
        self.open_referrals: list[dict[str, object]] = []

    async def send(
        self, http: aiohttp.ClientSession, rng: random.Random, mix: Mix, started: float
    ) -> None:
        kind = rng.choices(self.kinds, self.weights)[0]
        if kind == "write":
            kind = "refer" if not self.open_referrals or rng.random() < 0.3 else "move"
        status: int | None = None
        try:
            if kind == "search":
                query = rng.choices(SEARCHES, cum_weights=SEARCH_WEIGHTS)[0]
                status, _body = await _call(http, "GET", f"/api/search?{query}")
            elif kind == "page":
                service = rng.choice(self.fixtures["services"])
                status, _body = await _call(http, "GET", f"/services/{service}")
            elif kind == "inbox":
                if rng.random() < 0.5:
                    kind = "agency inbox"
                    status, _body = await _call(
                        http, "GET", "/referrals", headers=self.partner_page
                    )
                else:
                    kind = "specialist search"
                    status, _body = await _call(
                        http, "GET", f"/referrals?q={rng.choice(FIRST)}", headers=self.specialist
                    )
            elif kind == "refer":
                status, body = await _call(
                    http,
                    "POST",
                    "/api/referrals",
                    headers=self.specialist,
                    json={
                        "service_id": rng.choice(self.fixtures["referral_services"]),
                        "person": PERSON,
                        "needs": ["food-pantry"],
                        "consent": CONSENT,
                        "confirm_full": True,
                    },
                )
                if status == 201:
                    self.open_referrals.append(json.loads(body))
            else:
                referral = self.open_referrals.pop(rng.randrange(len(self.open_referrals)))
                status, body = await _call(
                    http,
                    "POST",
                    f"/api/referrals/{referral['id']}/transitions",
                    headers=self.partner,
                    json={**NEXT_MOVE[referral["status"]], "version": referral["version"]},
                )
                moved = json.loads(body) if status == 200 else None
                if moved and moved["status"] in NEXT_MOVE:
                    self.open_referrals.append(moved)
        except (aiohttp.ClientError, TimeoutError):
            status = None
        mix.record(kind, started, status)


async def _call(
    http: aiohttp.ClientSession, method: str, path: str, **options
) -> tuple[int, bytes]:
    async with http.request(method, path, **options) as response:
        return response.status, await response.read()


def _session(base: str, connections: int) -> aiohttp.ClientSession:
    """aiohttp rather than httpx: it costs the shared cores about a quarter of the CPU a
    request, leaving them to the server being measured."""
    return aiohttp.ClientSession(
        base_url=base,
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=10),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def closed_loop(base: str, clients: int, deadline: float, traffic: Traffic, mix: Mix):
    """Each client sends its next request as soon as the last one is answered."""

    async def client(number: int) -> None:
        rng = random.Random(number)
        async with _session(base, 1) as http:
            while time.perf_counter() < deadline:
                await traffic.send(http, rng, mix, time.perf_counter())

    await asyncio.gather(*(client(n) for n in range(clients)))


async def open_loop(
    base: str, clients: int, rate: float, deadline: float, traffic: Traffic, mix: Mix
) -> None:
    """Requests arrive at `rate` per second (Poisson arrivals), whether or not earlier ones
    have been answered, over at most `clients` connections. Latency counts from the moment a
    request was due, so time spent queued behind a slow server is counted, not hidden."""
    rng = random.Random(0)
    async with _session(base, clients) as http:
        pending: set[asyncio.Task] = set()
        due = time.perf_counter()
        while due < deadline:
            due += rng.expovariate(rate)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(traffic.send(http, rng, mix, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)


async def sign_in(base: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The specialist's session cookie, the partner's API token (for writes) and the partner's
    session cookie (for the inbox page)."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as setup:
        login = await setup.post(
            "/api/auth/login",
            json={"email": "specialist@load.example.org", "password": PASSWORD},
        )
        login.raise_for_status()
        specialist = {"Cookie": f"caremap_session={login.cookies['caremap_session']}"}
    # A separate client: signing in replaces the session a client already holds.
    async with httpx.AsyncClient(base_url=base, timeout=10) as setup:
        partner_login = await setup.post(
            "/api/auth/login", json={"email": "partner@load.example.org", "password": PASSWORD}
        )
        partner_login.raise_for_status()
        partner_page = {"Cookie": f"caremap_session={partner_login.cookies['caremap_session']}"}
        token = await setup.post("/api/tokens", json={"name": "load"})
        token.raise_for_status()
        partner = {"Authorization": f"Bearer {token.json()['token']}"}
    return specialist, partner, partner_page


async def drive(base: str, args: argparse.Namespace, traffic: Traffic, seconds: float) -> Mix:
    mix = Mix()
    deadline = time.perf_counter() + seconds
    if args.rate:
        await open_loop(base, args.clients, args.rate, deadline, traffic, mix)
    else:
        await closed_loop(base, args.clients, deadline, traffic, mix)
    return mix


def cpu_seconds(pids: list[int]) -> dict[str, float]:
    """Each process's CPU time so far (user + system), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        found[str(pid)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def parse_mix(text: str) -> dict[str, float]:
    shares = {}
    for part in text.split(","):
        kind, _, share = part.partition("=")
        if kind not in ("search", "page", "write", "inbox"):
            raise argparse.ArgumentTypeError(
                f"unknown kind {kind!r}: use search, page, write, inbox"
            )
        shares[kind] = float(share)
    return shares


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--referrals", type=int, default=20_000, help="made before the run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32, help="connections at most")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--warm-up", type=float, default=10, help="seconds of mix before measuring")
    parser.add_argument(
        "--rate",
        type=float,
        help="requests per second, arriving whether or not earlier ones were answered (open "
        "loop); without it each client sends its next request when answered (closed loop)",
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default="search=80,page=10,write=10",
        help="shares of each kind (default: search=80,page=10,write=10)",
    )
    parser.add_argument(
        "--database",
        help="a PostgreSQL URL whose database is dropped and made anew (default: SQLite)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the catalog of the last run with these options"
    )
    parser.add_argument(
        "--target",
        help="drive a server already running on the reused catalog at this URL, e.g. under a "
        "profiler (its processes' memory and CPU are not measured)",
    )
    args = parser.parse_args()

    data_dir = ROOT / "bench-results" / "load-data"
    saved = data_dir / "fixtures.json"
    built_for = {"listings": args.listings, "referrals": args.referrals, "database": args.database}
    if args.reuse and saved.exists() and json.loads(saved.read_text())["built_for"] == built_for:
        fixtures = json.loads(saved.read_text())
        database_url = fixtures["database_url"]
        print("reusing the last catalog", flush=True)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        database_url = await fresh_database(args.database, data_dir)
        print(f"building {args.listings} listings...", flush=True)
        fixtures = await prepare(data_dir, database_url, args.listings, args.referrals)
        fixtures.update(built_for=built_for, database_url=database_url)
        saved.write_text(json.dumps(fixtures))

    env = {
        **os.environ,
        "CAREMAP_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "SEARCH_DRAINER": "external",
        "MAIL_DRAINER": "external",
        "SEARCH_RATE_LIMIT": "off",
    }
    port = random.randint(8900, 8999)
    server = serve(env, port, args.workers) if not args.target else None
    base = args.target or f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            for _ in range(300):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        traffic = Traffic(args.mix, fixtures, *await sign_in(base))
        await drive(base, args, traffic, args.warm_up)
        pids = processes(server) if server else []
        memory_start, cpu_start = memory(pids), cpu_seconds([*pids, os.getpid()])
        how = f"{args.rate:g} requests/s" if args.rate else f"{args.clients} clients"
        print(f"driving the mix for {args.seconds:g} s, {how}...", flush=True)
        started = time.perf_counter()
        samples: dict[str, list[float]] = {}
        sampler = asyncio.create_task(sample_memory(pids, args.seconds / 10, samples))
        mix = await drive(base, args, traffic, args.seconds)
        elapsed = time.perf_counter() - started
        sampler.cancel()
        memory_end, cpu_end = memory(pids), cpu_seconds([*pids, os.getpid()])
    finally:
        if server:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    everything = [ms for samples in mix.latency.values() for ms in samples]
    growth = {
        pid: round(100 * (memory_end[pid] - start) / start, 1) if start else None
        for pid, start in memory_start.items()
    }
    cpu = {pid: round(cpu_end[pid] - cpu_start[pid], 1) for pid in cpu_start if pid in cpu_end}
    server_cpu = sum(seconds for pid, seconds in cpu.items() if pid != str(os.getpid()))
    result = {
        "machine": f"{os.cpu_count()} cores, {processor()}, {sys.platform}",
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "listings": args.listings,
        "workers": args.workers,
        "clients": args.clients,
        "offered_rate": args.rate,
        "mix": args.mix,
        "seconds": round(elapsed, 1),
        "requests": len(everything),
        "requests_per_second": round(len(everything) / elapsed, 1),
        "latency_ms": search_benchmark.percentiles(everything),
        "by_kind": {
            kind: {"requests": len(samples), **search_benchmark.percentiles(samples)}
            for kind, samples in sorted(mix.latency.items())
        },
        "errors": sum(mix.errors.values()),
        "error_kinds": dict(mix.errors),
        "cpu_seconds": cpu,
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, len(everything)), 2),
        "load_generator_cpu_seconds": cpu.get(str(os.getpid())),
        "memory_mb_start": memory_start,
        "memory_mb_end": memory_end,
        "memory_growth_percent": growth,
        "memory_mb_every_tenth": samples,
    }
    output = ROOT / "bench-results" / "load.json"
    output.write_text(json.dumps(result, indent=1))
    print(f"\n{result['requests']} requests in {result['seconds']} s: "
          f"{result['requests_per_second']} requests/s, {result['errors']} errors; server CPU "
          f"{result['server_cpu_ms_per_request']} ms a request, load generator CPU "
          f"{result['load_generator_cpu_seconds']} s")  # fmt: skip
    print("| kind | requests | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    rows = [("all", {"requests": len(everything), **result["latency_ms"]})]
    for kind, figures in [*rows, *result["by_kind"].items()]:
        print(
            f"| {kind} | {figures['requests']} | {figures['p50']} | {figures['p95']} | "
            f"{figures['p99']} |"
        )
    print("| process | CPU s | RSS start MB | RSS end MB | growth % | RSS every tenth of the run |")
    print("|---|---|---|---|---|---|")
    for pid in memory_start:
        tenths = " ".join(f"{mb:g}" for mb in samples.get(pid, []))
        print(
            f"| {pid} | {cpu.get(pid)} | {memory_start[pid]} | {memory_end[pid]} | {growth[pid]} "
            f"| {tenths} |"
        )
    if mix.errors:
        print("errors:", dict(mix.errors))
    print(f"figures written to {output}")


if __name__ == "__main__":
    asyncio.run(main())
