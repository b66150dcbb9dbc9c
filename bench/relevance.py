"""Relevance: how many of the judged questions (tests/search_index/relevance.json) find a right
service in their first 5 results, and the mean reciprocal rank, per language and backend.

    .venv/bin/python bench/relevance.py
    MEILI_URL=http://127.0.0.1:7700 MEILI_KEY=... .venv/bin/python bench/relevance.py \
        --backends embedded meilisearch
    .venv/bin/python bench/relevance.py --record   # the test's floors: the lowest figures seen

The demo catalog is loaded with `caremap seed` into a fresh SQLite database, indexed by each
backend, and every question is asked through the real app's `/api/search`.
"""

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from starlette.datastructures import Secret

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from caremap.app import create_app  # noqa: E402
from caremap.settings import load_settings  # noqa: E402
from search_index import relevance  # noqa: E402
from search_index.documents import all_documents  # noqa: E402

QUESTIONS = ROOT / "tests" / "search_index" / "relevance.json"
FLOORS = ROOT / "tests" / "search_index" / "relevance_floor.json"


async def score(folder: Path, backend: str) -> relevance.Scores:
    settings = replace(load_settings(None), mail_drainer="external")
    if backend == "meilisearch":
        settings = replace(
            settings,
            search_backend="meilisearch",
            meili_url=os.environ["MEILI_URL"],
            meili_key=Secret(os.environ["MEILI_KEY"]),
            search_index_prefix=f"caremap_relevance_{uuid.uuid4().hex[:8]}",
        )
    app = create_app(settings)
    async with LifespanManager(app):
        search = app.state.search_backend
        await search.rebuild(all_documents())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            found = await relevance.evaluate(client, relevance.load(QUESTIONS))
        if backend == "meilisearch":
            await search.client.delete_index_if_exists(search.uid)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["embedded"])
    parser.add_argument("--record", action="store_true", help="write the test's floors")
    parser.add_argument("--missed", action="store_true", help="list the questions missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        os.environ.update(CAREMAP_DATA_DIR=str(folder), SECRET_KEY="bench-not-a-secret")  # noqa: S106
        os.environ.pop("DATABASE_URL", None)
        caremap = Path(sys.executable).with_name("caremap")
        subprocess.run([caremap, "seed"], check=True, capture_output=True)
        floors: dict[str, float] = {}
        for backend in args.backends:
            found = asyncio.run(score(folder, backend))
            print(f"\n{backend}\n{found.table()}")
            if args.missed:
                for judged in found.missed:
                    print(f"  missed {judged.language}: {judged.question}")
            for language in found.languages():
                recall = math.floor(found.recall(language) * 1000) / 1000
                floors[language] = min(floors.get(language, 1.0), recall)
    if args.record:
        FLOORS.write_text(json.dumps(dict(sorted(floors.items())), indent=1) + "\n")
        print(f"\nrecorded {FLOORS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
