"""The first 10 results of the benchmark's searches, written down or compared with a record, so
that a change made for speed shows every search whose answer it changed.

    .venv/bin/python bench/top10.py --write bench-results/top10-before.json
    ... change the code ...
    .venv/bin/python bench/top10.py --compare bench-results/top10-before.json

It searches the catalog and index the search benchmark left in bench-results/data-N (run
`bench/search_benchmark.py --listings N` first), in process: the fixed queries and 200 of
the never-repeating ones (`--distinct`), each result as its service id.
"""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from starlette.datastructures import QueryParams  # noqa: E402

from bench.search_benchmark import HTTP_QUERIES, distinct_paths  # noqa: E402
from caremap.search import backend_for  # noqa: E402
from caremap.settings import load_settings  # noqa: E402
from directory.geocoding import Geocoder  # noqa: E402
from search_index import service as search_service  # noqa: E402
from search_index.query import parse_query  # noqa: E402


async def top10(paths: list[str]) -> dict[str, list[str]]:
    backend = backend_for(load_settings(None), writer=False)
    await backend.open()
    geocoder = Geocoder()
    answers = {}
    for path in paths:
        result, _unmet = await search_service.search(
            backend=backend,
            geocoder=geocoder,
            query=parse_query(QueryParams(path + "&per_page=10")),
        )
        answers[path] = [r["service_id"] for r in result["results"]]
    await backend.close()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=200)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path)
    action.add_argument("--compare", type=Path)
    args = parser.parse_args()
    data_dir = ROOT / "bench-results" / f"data-{args.listings}"
    if not data_dir.exists():
        raise SystemExit(f"no {data_dir}: run bench/search_benchmark.py --listings {args.listings}")
    os.environ.update({"CAREMAP_DATA_DIR": str(data_dir), "DATABASE_URL": ""})
    paths = [*HTTP_QUERIES, *distinct_paths(args.distinct)]
    answers = asyncio.run(top10(paths))
    if args.write:
        args.write.write_text(json.dumps(answers, indent=1))
        print(f"{len(answers)} searches' first 10 results written to {args.write}")
        return
    before = json.loads(args.compare.read_text())
    changed = [path for path in paths if before.get(path) != answers[path]]
    for path in changed:
        old, new = before.get(path, []), answers[path]
        same = sum(1 for a, b in zip(old, new, strict=False) if a == b)
        print(f"changed: {path}\n  {same} of {max(len(old), len(new))} in the same place")
    print(f"{len(changed)} of {len(paths)} searches changed their first 10 results")


if __name__ == "__main__":
    main()
