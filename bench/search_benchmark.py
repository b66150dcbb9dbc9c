"""Search benchmark: indexing rate, in-process latency, HTTP throughput, memory, and how soon
a partner's edit is found, for each search backend in the same run.

    .venv/bin/python bench/search_benchmark.py --listings 10000 100000
    MEILI_URL=http://127.0.0.1:7700 MEILI_KEY=... \
        .venv/bin/python bench/search_benchmark.py --listings 100000 --backends embedded meilisearch

For each size it writes N synthetic listings spread over the Chicago metro into a fresh SQLite
catalog (bulk inserts); then, for each backend, it rebuilds the index from the database the way
`caremap reindex` does, runs a fixed mix of queries in-process (one client), serves the app with
uvicorn and drives `/api/search` with concurrent clients on loopback, and edits listings through
the service layer while a `caremap worker` drains the outbox, timing each edit until a search
finds it. Figures go to bench-results/search.json and a table on stdout. Nothing here is a test:
it measures and reports.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.datastructures import QueryParams, Secret
from tortoise import Tortoise, connections

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import ohana_baseline  # noqa: E402
from caremap import db  # noqa: E402
from caremap.search import (  # noqa: E402
    backend_for,
    install_change_listeners,
    running_search,
)
from caremap.settings import load_settings  # noqa: E402
from directory import service as catalog  # noqa: E402
from directory.actor import SYSTEM  # noqa: E402
from directory.geocoding import Geocoder, warm_up  # noqa: E402
from directory.models import Service  # noqa: E402
from directory.taxonomy import BY_ID, CATEGORIES, category_id  # noqa: E402
from search_index import service as search_service  # noqa: E402
from search_index.documents import all_documents  # noqa: E402
from search_index.embedded import EmbeddedBackend  # noqa: E402
from search_index.query import BackendQuery, SearchQuery, parse_query  # noqa: E402
from seeds.templates import SERVICE_KINDS  # noqa: E402

QUERIES = {
    "keyword": {"text": "food pantry"},
    "typo": {"text": "conseling"},
    "prefix": {"text": "tuto"},
    "browse_category": {"categories": ("health",)},
    "radius_5mi": {"text": "rent", "near": "60623", "radius_miles": 5.0},
    "radius_25mi": {
        "categories": ("food",),
        "near": "60608",
        "radius_miles": 25.0,
        "sort": "distance",
    },
    "open_now": {"open_now": True, "near": "60640", "radius_miles": 10.0},
}
HTTP_QUERIES = [
    "q=food+pantry",
    "q=conseling",
    "q=tuto",
    "category=health",
    "q=rent&near=60623&radius=5",
    "category=food&near=60608&radius=25&sort=distance",
    "open_now=true&near=60640&radius=10",
    "q=legal+aid&near=60647",
    "q=comida&language=es",
    "q=after+school&age=12",
]
CHICAGO = (41.70, 42.05, -87.90, -87.55)
# What people ask, for searches that never repeat: each gets its own coordinates ("use my
# location"), so no process has decided it before.
DISTINCT_WORDS = [
    "food pantry",
    "rent",
    "counseling",
    "tutoring",
    "legal aid",
    "shelter",
    "dentist",
    "clothes",
    "job training",
    "childcare",
    "mental health",
    "utility bill",
    "bus pass",
    "doctor",
    "immigration",
    "after school",
    "diapers",
    "tax help",
    "conseling",
    "evicted",
]
DISTINCT_CATEGORIES = ["food", "housing", "health", "legal", "education", "care", "work"]


def distinct_paths(count: int, seed: int = 11) -> list[str]:
    """`count` searches near points drawn over the listings' area, no two alike: words, words
    sorted by distance, or a category browsed, some with a filter people use."""
    rng = random.Random(seed)
    south, north, west, east = CHICAGO
    filters = ["", "", "", "&open_now=true", "&free=true", "&language=es"]
    paths = []
    for _ in range(count):
        near = f"near={rng.uniform(south, north):.5f},{rng.uniform(west, east):.5f}"
        shape = rng.random()
        if shape < 0.5:
            path = f"q={rng.choice(DISTINCT_WORDS)}&{near}"
        elif shape < 0.7:
            path = f"q={rng.choice(DISTINCT_WORDS)}&{near}&sort=distance"
        else:
            path = f"category={rng.choice(DISTINCT_CATEGORIES)}&{near}"
        paths.append((path + rng.choice(filters)).replace(" ", "+"))
    return paths


async def fill_catalog(count: int) -> None:
    """Bulk-insert `count` services, each at its own location, over the metro (SQLite or
    PostgreSQL: rows hold Python values, which `_insert` adapts to the database's driver)."""
    rng = random.Random(count)
    kinds = list(SERVICE_KINDS.items())
    codes = [c.code for c in CATEGORIES if c.parent]
    organizations = [uuid.uuid4() for _ in range(max(1, count // 20))]
    now = datetime.now(UTC)
    await _insert(
        "INSERT INTO organization (id, name, description, kind, version, created_at, updated_at)"
        " VALUES (?, ?, '', 'provider', 1, ?, ?)",
        [[o, f"Agency {i}", now, now] for i, o in enumerate(organizations)],
    )
    for start in range(0, count, 5000):
        services, locations, links, categories = [], [], [], []
        for number in range(start, min(count, start + 5000)):
            code, kind = kinds[number % len(kinds)]
            service_id, location_id = uuid.uuid4(), uuid.uuid4()
            organization = organizations[number % len(organizations)]
            services.append(
                [
                    service_id,
                    organization,
                    f"{kind[0]} {number}",
                    kind[1],
                    kind[2],
                    bool(kind[5]),
                    json.dumps(["en", "es"] if number % 3 else ["en"]),
                    bool(kind[7]),
                    now,
                    now,
                ]
            )
            latitude = rng.uniform(CHICAGO[0], CHICAGO[1])
            longitude = rng.uniform(CHICAGO[2], CHICAGO[3])
            locations.append(
                [location_id, organization, f"{number} W Test St", latitude, longitude, now, now]
            )
            links.append([uuid.uuid4(), service_id, location_id])
            categories.append([service_id, category_id(code if code in codes else "meals")])
        await _insert(
            "INSERT INTO service (id, organization_id, name, description, eligibility_description,"
            " free, languages, accepts_referrals, status, intake_state, version, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', 'open', 1, ?, ?)",
            services,
        )
        await _insert(
            "INSERT INTO location (id, organization_id, address_1, city, state_province,"
            " postal_code, country, latitude, longitude, location_type, geocode_status, version,"
            " created_at, updated_at) VALUES (?, ?, ?, 'Chicago', 'IL', '60623', 'US', ?, ?,"
            " 'physical', 'ok', 1, ?, ?)",
            locations,
        )
        await _insert(
            "INSERT INTO service_at_location (id, service_id, location_id) VALUES (?, ?, ?)", links
        )
        await _insert(
            "INSERT INTO service_category (service_id, taxonomyterm_id) VALUES (?, ?)", categories
        )


async def _insert(sql: str, rows: list[list[Any]]) -> None:
    """Insert many rows with `?` placeholders: as they are on PostgreSQL (asyncpg takes UUIDs,
    datetimes and booleans, and numbers its placeholders), as text and integers on SQLite."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        numbers = itertools.count(1)
        await connection.execute_many(re.sub(r"\?", lambda _: f"${next(numbers)}", sql), rows)
        return
    adapted = [
        [str(v) if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v
         for v in row]
        for row in rows
    ]  # fmt: skip
    await connection.execute_many(sql, adapted)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": round(pick(0.50), 2),
        "p95": round(pick(0.95), 2),
        "p99": round(pick(0.99), 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


async def in_process(settings, rounds: int) -> dict[str, dict[str, float]]:
    backend = backend_for(settings, writer=False)
    await backend.open()
    geocoder = Geocoder()
    results = {}
    for name, params in QUERIES.items():
        query = SearchQuery(**params)
        timings = []
        for _ in range(rounds):
            if isinstance(backend, EmbeddedBackend):
                backend.reload()  # time the search itself, not the decision a process keeps
            started = time.perf_counter()
            await search_service.search(backend=backend, geocoder=geocoder, query=query)

            timings.append((time.perf_counter() - started) * 1000)
        results[name] = percentiles(timings)
    timings = []
    for path in distinct_paths(rounds * 2, seed=5):  # each once; the first half warms up
        query = parse_query(QueryParams(path))
        started = time.perf_counter()
        await search_service.search(backend=backend, geocoder=geocoder, query=query)
        timings.append((time.perf_counter() - started) * 1000)
    results["distinct"] = percentiles(timings[rounds:])
    everything = [t for name in results for t in [results[name]["p50"]]]
    results["all"] = {"p50_of_p50s": round(statistics.median(everything), 2)}
    await backend.close()
    return results


def rss_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {
        line.split(":")[0]: line.split()[1]
        for line in status.splitlines()
        if line.startswith(("VmRSS", "VmHWM"))
    }
    return {
        "rss_mb": round(int(values["VmRSS"]) / 1024, 1),
        "peak_mb": round(int(values["VmHWM"]) / 1024, 1),
    }


async def http_load(
    env: dict[str, str],
    clients: int,
    seconds: float,
    workers: int,
    paths: list[str],
    app: str = "caremap.app:create_app",
) -> dict[str, object]:
    port = 8700 + random.randint(0, 200)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--factory",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**env, "SEARCH_DRAINER": "external", "SEARCH_RATE_LIMIT": "off"},
        cwd=ROOT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as probe:
            for _ in range(200):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            for path in HTTP_QUERIES:  # warm every worker's caches
                for _ in range(workers * 2):
                    await probe.get(f"/api/search?{path}")
        children = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        if shutil.which("wrk"):
            figures = run_wrk(base, clients, seconds, paths)
        else:
            figures = await run_httpx(base, clients, seconds, paths)
        memory = {pid: rss_mb(int(pid)) for pid in children or [str(server.pid)]}
        return {"clients": clients, "workers": workers, **figures, "worker_memory": memory}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/search?" .. paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT %%d %%d %%d %%d %%.3f %%.3f %%.3f %%.3f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


def run_wrk(base: str, clients: int, seconds: float, paths: list[str]) -> dict[str, object]:
    """wrk (C, two threads) drives the load, so the client costs little of the 2 cores."""
    script = ROOT / "bench-results" / "search.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
    output = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    requests, duration, errors, non_2xx, p50, p95, p99, mean = line.split()[1:]
    elapsed = int(duration) / 1e6
    return {
        "load_generator": "wrk",
        "seconds": round(elapsed, 1),
        "requests": int(requests),
        "errors": int(errors) + int(non_2xx),
        "requests_per_second": round(int(requests) / elapsed, 1),
        "latency_ms": {
            "p50": float(p50),
            "p95": float(p95),
            "p99": float(p99),
            "mean": float(mean),
        },
    }


async def run_httpx(base: str, clients: int, seconds: float, paths: list[str]) -> dict[str, object]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(client: httpx.AsyncClient, offset: int) -> None:
        """Client `offset` takes every `clients`-th path from its own: a fixed mix is shared
        out, and distinct searches are each sent once until they run out."""
        nonlocal errors
        position = offset
        while time.perf_counter() < deadline:
            path = paths[position % len(paths)]
            position += clients if len(paths) > clients else 1
            started = time.perf_counter()
            try:
                response = await client.get(f"/api/search?{path}")
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:
        await asyncio.gather(*(client_loop(client, i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "load_generator": "httpx",
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": errors,
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": percentiles(latencies),
    }


async def timed_edits(reader, edits: int, skip: int = 0) -> dict[str, float]:
    """Seconds from each of `edits` partner's edits (committed through the service layer, which
    queues the listing in the outbox) until `reader` finds its new words."""
    delays = []
    chosen = await Service.all().offset(skip).limit(edits).values_list("id", "version")
    for number, (service_id, version) in enumerate(chosen):
        word = f"zq{uuid.uuid4().hex[:10]}"
        started = time.perf_counter()
        await catalog.update_service(
            actor=SYSTEM, service_id=service_id, version=version,
            data={"name": f"Edited {word} {number}"},
        )  # fmt: skip
        while not (await reader.search(BackendQuery(words=[word], limit=1))).total:
            assert time.perf_counter() - started < 120, "an edit never reached search"
            await asyncio.sleep(0.01)
        delays.append(time.perf_counter() - started)
    return {key: round(value / 1000, 2) for key, value in percentiles(
        [d * 1000 for d in delays]).items()}  # fmt: skip


async def edit_visibility(settings, env: dict[str, str], edits: int) -> dict[str, float]:
    """How soon an edit is found with a `caremap worker` draining the outbox in its own
    process, as on several nodes."""
    install_change_listeners()
    worker = subprocess.Popen(
        [sys.executable, "-m", "caremap.cli", "worker", "--only", "search"],
        env={**env, "LOG_LEVEL": "WARNING"}, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    reader = backend_for(settings, writer=False)
    await reader.open()
    try:
        return await timed_edits(reader, edits)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        await reader.close()


async def edit_visibility_inprocess(settings, edits: int) -> dict[str, float]:
    """The same with the drainer in the process that takes the edit (`SEARCH_DRAINER=
    inprocess`, one machine's default): the edit wakes it, and its own searches see its
    commit. Other listings than the worker's run edits."""
    async with running_search(replace(settings, search_drainer="inprocess")) as backend:
        return await timed_edits(backend, edits, skip=edits)


def backend_settings(settings, env: dict[str, str], backend: str):
    """The settings and the environment of one backend's run."""
    if backend == "embedded":
        return settings, {**env, "SEARCH_BACKEND": "embedded"}
    url, key = os.environ.get("MEILI_URL"), os.environ.get("MEILI_KEY")
    if not url:
        raise SystemExit("--backends meilisearch needs MEILI_URL (and MEILI_KEY)")
    prefix = f"caremap_bench_{uuid.uuid4().hex[:6]}"
    chosen = replace(
        settings, search_backend="meilisearch", meili_url=url,
        meili_key=Secret(key) if key else None, search_index_prefix=prefix,
    )  # fmt: skip
    return chosen, {**env, "SEARCH_BACKEND": "meilisearch", "MEILI_URL": url,
                    "MEILI_KEY": key or "", "SEARCH_INDEX_PREFIX": prefix}  # fmt: skip


async def run_backend(settings, env: dict[str, str], count: int, backend_name: str,
                      args: argparse.Namespace) -> dict[str, object]:  # fmt: skip
    settings, env = backend_settings(settings, env, backend_name)
    await Tortoise.init(config=db.tortoise_config(settings.database_url))
    backend = backend_for(settings, writer=True)
    await backend.open()
    started = time.perf_counter()
    documents = await backend.rebuild(all_documents(batch_size=1000))
    reindex_seconds = time.perf_counter() - started
    await backend.close()
    warm_up()
    latency = await in_process(settings, args.rounds)
    visible = await edit_visibility(settings, env, args.edits)
    visible_inprocess = await edit_visibility_inprocess(settings, args.edits)
    await Tortoise.close_connections()
    paths = distinct_paths(args.distinct) if args.distinct else HTTP_QUERIES
    http = await http_load(env, args.clients, args.seconds, args.workers, paths)
    http["searches"] = f"{len(paths)} distinct" if args.distinct else "the fixed mix"
    if backend_name == "meilisearch":
        cleanup = backend_for(settings, writer=True)
        await cleanup.client.delete_index_if_exists(cleanup.uid)
        await cleanup.close()
    return {
        "backend": backend_name,
        "reindex": {
            "documents": documents,
            "seconds": round(reindex_seconds, 2),
            "listings_per_second": round(count / reindex_seconds),
        },
        "in_process_ms": latency,
        "edit_visible_seconds": visible,
        "edit_visible_inprocess_seconds": visible_inprocess,
        "http": http,
    }


async def baseline_rows() -> list[tuple[Any, ...]]:
    """The catalog's listings as rows for the baseline's table (categories with parents)."""
    connection = connections.get("default")
    _, rows = await connection.execute_query(
        "SELECT s.id, s.name, s.description, s.eligibility_description, s.free, s.languages,"
        " l.latitude, l.longitude FROM service s"
        " JOIN service_at_location sl ON sl.service_id = s.id JOIN location l ON l.id ="
        " sl.location_id"
    )
    _, links = await connection.execute_query(
        "SELECT service_id, taxonomyterm_id FROM service_category"
    )
    categories: dict[str, list[str]] = {}
    for link in links:
        category = BY_ID[uuid.UUID(str(link["taxonomyterm_id"]))]
        codes = categories.setdefault(str(link["service_id"]), [])
        codes += [category.code, *([category.parent] if category.parent else [])]
    return [
        (uuid.UUID(str(r["id"])), r["name"], r["description"], r["eligibility_description"],
         bool(r["free"]), json.loads(r["languages"]) if isinstance(r["languages"], str)
         else r["languages"], categories.get(str(r["id"]), []), r["latitude"], r["longitude"])
        for r in rows
    ]  # fmt: skip


async def run_baseline(
    url: str, env: dict[str, str], args: argparse.Namespace
) -> dict[str, object]:
    """The Ohana-style PostgreSQL search on the same listings, driven the same way."""
    await Tortoise.init(
        config=db.tortoise_config(f"sqlite://{env['CAREMAP_DATA_DIR']}/caremap.sqlite3")
    )
    rows = await baseline_rows()
    await Tortoise.close_connections()
    started = time.perf_counter()
    await ohana_baseline.copy_listings(rows, url)
    loaded = time.perf_counter() - started
    paths = distinct_paths(args.distinct) if args.distinct else HTTP_QUERIES
    http = await http_load(
        {**env, "BASELINE_DATABASE_URL": url}, args.clients, args.seconds, args.workers, paths,
        app="bench.ohana_baseline:create_app",
    )  # fmt: skip
    http["searches"] = f"{len(paths)} distinct" if args.distinct else "the fixed mix"
    return {"listings_loaded": len(rows), "load_and_index_seconds": round(loaded, 1), "http": http}


async def run_size(count: int, args: argparse.Namespace) -> dict[str, object]:
    data_dir = ROOT / "bench-results" / f"data-{count}"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "CAREMAP_DATA_DIR": str(data_dir),
        "DATABASE_URL": "",
        "SEARCH_BACKEND": "embedded",
    }
    os.environ.update({"CAREMAP_DATA_DIR": str(data_dir), "DATABASE_URL": ""})
    settings = replace(
        load_settings(env_file=None),
        data_dir=data_dir,
        database_url=f"sqlite://{data_dir / 'caremap.sqlite3'}",
    )
    await db.upgrade(settings)
    await Tortoise.init(config=db.tortoise_config(settings.database_url))
    started = time.perf_counter()
    await fill_catalog(count)
    fill_seconds = time.perf_counter() - started
    await Tortoise.close_connections()
    backends = [await run_backend(settings, env, count, name, args) for name in args.backends]
    baseline = (
        await run_baseline(args.baseline_postgres, env, args) if args.baseline_postgres else None
    )
    return {
        "listings": count,
        "baseline_postgres": baseline,
        "catalog_fill_seconds": round(fill_seconds, 1),
        "backends": backends,
        "benchmark_process_peak_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
    }


def http_line(http: dict[str, Any]) -> str:
    return (
        f"HTTP /api/search ({http['searches']}), {http['clients']} clients, "
        f"{http['workers']} workers: "
        f"{http['requests_per_second']} req/s, p50 {http['latency_ms']['p50']} ms, "
        f"p95 {http['latency_ms']['p95']} ms, p99 {http['latency_ms']['p99']} ms, "
        f"errors {http['errors']}"
    )


def table(results: list[dict[str, object]]) -> str:
    lines = []
    for result in results:
        for run in result["backends"]:
            lines.append(f"\n== {result['listings']:,} listings, {run['backend']}")
            reindex = run["reindex"]
            lines.append(
                f"reindex from database: {reindex['listings_per_second']:,} listings/s "
                f"({reindex['seconds']} s)"
            )
            lines.append(f"{'query (one client)':<20}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
            for name, figures in run["in_process_ms"].items():
                if "p50" in figures:
                    lines.append(
                        f"{name:<20}{figures['p50']:>9}{figures['p95']:>9}{figures['p99']:>9}"
                    )
            visible = run["edit_visible_seconds"]
            lines.append(
                f"a partner's edit found by search: p50 {visible['p50']} s, "
                f"p95 {visible['p95']} s (through the outbox and a worker)"
            )
            inprocess = run["edit_visible_inprocess_seconds"]
            lines.append(
                f"the same, drained in the app's process: p50 {inprocess['p50']} s, "
                f"p95 {inprocess['p95']} s"
            )
            http = run["http"]
            lines.append(http_line(http))
            peaks = ", ".join(f"{m['peak_mb']} MB" for m in http["worker_memory"].values())
            lines.append(f"app process peak memory: {peaks}")
        if baseline := result.get("baseline_postgres"):
            http, ours = baseline["http"], result["backends"][0]["http"]
            ratio = ours["requests_per_second"] / max(http["requests_per_second"], 0.1)
            lines.append(
                f"\n== {result['listings']:,} listings, Ohana-style PostgreSQL full text "
                f"(plainto_tsquery + ts_rank + haversine, Starlette + asyncpg)"
            )
            lines.append(http_line(http))
            lines.append(
                f"caremap ({result['backends'][0]['backend']}) / baseline: {ratio:.1f}x the "
                f"requests per second; p50 {ours['latency_ms']['p50']} ms vs "
                f"{http['latency_ms']['p50']} ms"
            )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=200, help="in-process runs per query")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--edits", type=int, default=20, help="edits timed until found")
    parser.add_argument(
        "--backends", nargs="+", choices=["embedded", "meilisearch"], default=["embedded"]
    )
    parser.add_argument(
        "--distinct",
        type=int,
        default=0,
        metavar="N",
        help="drive HTTP with N searches that never repeat (each near its own point), "
        "not the fixed mix",
    )
    parser.add_argument(
        "--baseline-postgres",
        metavar="URL",
        help="also copy the listings into this PostgreSQL database and drive the Ohana-style "
        "full-text search over them the same way (its table baseline_listing is replaced)",
    )
    args = parser.parse_args()
    results = [await run_size(count, args) for count in args.listings]
    output = ROOT / "bench-results" / "search.json"
    output.write_text(
        json.dumps({"machine": f"{os.cpu_count()} cores", "results": results}, indent=1)
    )
    print(table(results))
    print(f"\nfigures written to {output}")


if __name__ == "__main__":
    asyncio.run(main())
