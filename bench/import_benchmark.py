"""Import benchmark: how long `caremap import` and `caremap reindex` take on an HSDS data set of
N services, and the most memory each uses.

    .venv/bin/python bench/import_benchmark.py --services 100000
    .venv/bin/python bench/import_benchmark.py --services 100000 --forms csv \
        --database postgres://postgres@127.0.0.1:5432/bench_import

It writes a synthetic HSDS 3.0 data set the way partner systems export one (organizations of
three services each; per service a location with its address, the link between them, a phone, a
weekly schedule, a category attribute, a language for every other one), as a CSV package and as
an organization JSON package. For each form it runs `caremap import` into a fresh catalog as its
own process, then `caremap reindex`, timing each and reading its peak resident memory: the
kernel's for the largest process (`wait4`) and, sampled, that of all the command's processes
together (an import checks parts in a second process). Figures go to bench-results/import.json
and a table on stdout. Nothing here is a test: it measures and reports.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from directory.hsds_export import Rows, nest  # noqa: E402
from directory.hsds_package import write_csv_package  # noqa: E402
from directory.taxonomy import CATEGORIES, category_id  # noqa: E402
from seeds.templates import SERVICE_KINDS  # noqa: E402

CHICAGO = (41.70, 42.05, -87.90, -87.55)
CAREMAP = [str(ROOT / ".venv" / "bin" / "caremap")]


def data_set(services: int, seed: int = 7) -> Rows:
    """`services` services in HSDS 3.0's tables (the CSV layout), about 7.8 records each."""
    rng = random.Random(seed)
    make_id = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    kinds = list(SERVICE_KINDS.items())
    known = {c.code for c in CATEGORIES if c.parent}
    rows: Rows = {table: [] for table in (
        "organization", "service", "location", "address", "service_at_location", "phone",
        "schedule", "language", "attribute", "taxonomy", "taxonomy_term",
    )}  # fmt: skip
    taxonomy_id = make_id()
    rows["taxonomy"].append({"id": taxonomy_id, "name": "caremap", "description": "categories"})
    terms: set[str] = set()
    organization = ""
    for number in range(services):
        code, kind = kinds[number % len(kinds)]
        code = code if code in known else "meals"
        if number % 3 == 0:
            organization = make_id()
            rows["organization"].append({
                "id": organization, "name": f"Agency {number // 3}",
                "description": f"A community agency serving the west side ({number // 3}).",
                "email": f"info{number // 3}@agency.example.org",
                "website": f"https://agency{number // 3}.example.org",
            })  # fmt: skip
        service, location, link = make_id(), make_id(), make_id()
        rows["service"].append({
            "id": service, "organization_id": organization, "name": f"{kind[0]} {number}",
            "description": kind[1], "eligibility_description": kind[2], "status": "active",
            "email": f"intake{number}@agency.example.org", "minimum_age": 0, "maximum_age": 99,
        })  # fmt: skip
        rows["location"].append({
            "id": location, "location_type": "physical", "organization_id": organization,
            "name": f"Site {number}",
            "latitude": round(rng.uniform(CHICAGO[0], CHICAGO[1]), 6),
            "longitude": round(rng.uniform(CHICAGO[2], CHICAGO[3]), 6),
        })  # fmt: skip
        rows["address"].append({
            "id": make_id(), "location_id": location, "address_1": f"{number} W Test St",
            "city": "Chicago", "state_province": "IL", "postal_code": "60623", "country": "US",
            "address_type": "physical",
        })  # fmt: skip
        rows["service_at_location"].append(
            {"id": link, "service_id": service, "location_id": location}
        )
        rows["phone"].append({
            "id": make_id(), "service_id": service, "number": f"312-555-{number % 10000:04d}",
            "type": "voice",
        })  # fmt: skip
        rows["schedule"].append({
            "id": make_id(), "service_at_location_id": link, "freq": "WEEKLY",
            "byday": "MO,TU,WE,TH,FR", "opens_at": "09:00", "closes_at": "17:00",
        })  # fmt: skip
        if number % 2:
            rows["language"].append(
                {"id": make_id(), "service_id": service, "name": "Spanish", "code": "es"}
            )
        term = str(category_id(code))
        if term not in terms:
            terms.add(term)
            rows["taxonomy_term"].append({
                "id": term, "code": code, "name": code, "description": code,
                "taxonomy": "caremap", "taxonomy_id": taxonomy_id,
            })  # fmt: skip
        rows["attribute"].append({
            "id": make_id(), "link_id": service, "link_type": "service",
            "link_entity": "service", "taxonomy_term_id": term,
        })  # fmt: skip
    return rows


def write_data_set(services: int, folder: Path) -> dict[str, Path]:
    """The data set as a CSV package folder and an organization JSON file, made once per size."""
    paths = {"csv": folder / "csv", "json": folder / "data.json"}
    if all(path.exists() for path in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    rows = data_set(services)
    write_csv_package(paths["csv"], rows)
    paths["json"].write_text(json.dumps(nest(rows), ensure_ascii=False))
    return paths


def timed(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a command to its end: wall seconds, the peak resident memory the kernel kept for
    its largest process (`wait4`), and the peak of all its processes together (an import
    checks parts in a second process), sampled five times a second."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        peak = [0]
        sampler = threading.Thread(target=_sample_tree, args=(process.pid, peak), daemon=True)
        sampler.start()
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        sampler.join()
        out.seek(0)
        err.seek(0)
        output, errors = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output}\n{errors[-4000:]}")
    return {
        "seconds": round(seconds, 1),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "peak_all_mb": round(peak[0] / 1024),
        "out": output,
    }


def _sample_tree(pid: int, peak: list[int]) -> None:
    """Keep in `peak[0]` the largest sum of resident memory (KiB) of `pid` and its
    descendants, until `pid` is gone."""
    while Path(f"/proc/{pid}").exists():
        total, pending = 0, [pid]
        while pending:
            current = pending.pop()
            try:
                status = Path(f"/proc/{current}/status").read_text()
                total += int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0
                for task in Path(f"/proc/{current}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError, IndexError):
                continue  # it ended between two reads
        peak[0] = max(peak[0], total)
        time.sleep(0.2)


def fresh_catalog(form: str, args: argparse.Namespace) -> dict[str, str]:
    """The environment of a `caremap` process on an empty catalog of its own."""
    data_dir = ROOT / "bench-results" / f"import-{args.services}-{form}"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    env = {**os.environ, "CAREMAP_DATA_DIR": str(data_dir), "SEARCH_BACKEND": "embedded"}
    env["DATABASE_URL"] = args.database or ""
    if args.database:
        asyncio.run(_empty_postgres(args.database))
    return env


async def _empty_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await connection.close()


def records_in(output: str) -> int:
    """The import report's total of records created."""
    for line in output.splitlines():
        if line.startswith("total"):
            return int(line.split()[1])
    return 0


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    started = time.perf_counter()
    # Made in a process of its own: Linux counts a process's resident memory at the moment it
    # started a command as the command's own peak (`ru_maxrss` survives exec), so this process
    # stays small or every figure below would include the data set it built.
    folder = ROOT / "bench-results" / f"hsds-{args.services}"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        paths = pool.apply(write_data_set, (args.services, folder))
    print(f"data set ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    results = []
    for form in args.forms:
        env = fresh_catalog(form, args)
        imported = timed([*CAREMAP, "import", str(paths[form]), "--quiet"], env)
        records = records_in(imported.pop("out"))
        reindexed = timed([*CAREMAP, "reindex", "--quiet"], env)
        reindexed.pop("out")
        results.append({
            "form": form, "services": args.services, "records": records,
            "database": "postgresql" if args.database else "sqlite",
            "import": {**imported, "records_per_second": round(records / imported["seconds"])},
            "reindex": {**reindexed,
                        "services_per_second": round(args.services / reindexed["seconds"])},
        })  # fmt: skip
        print(json.dumps(results[-1]), file=sys.stderr)
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| form | database | services | records | import | import peak (all processes; "
        "largest) | reindex | reindex peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        i, x = r["import"], r["reindex"]
        lines.append(
            f"| {r['form']} | {r['database']} | {r['services']:,} | {r['records']:,} "
            f"| {i['seconds']} s ({i['records_per_second']:,} records/s) "
            f"| {i['peak_all_mb']} MB; {i['peak_mb']} MB "
            f"| {x['seconds']} s ({x['services_per_second']:,} services/s) | {x['peak_mb']} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--forms", nargs="+", choices=["csv", "json"], default=["csv", "json"])
    parser.add_argument("--database", help="a PostgreSQL URL to use (emptied first)")
    args = parser.parse_args()
    results = run(args)
    out = ROOT / "bench-results" / "import.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
