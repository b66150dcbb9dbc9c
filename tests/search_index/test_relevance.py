"""Search answers the questions families and school staff ask (search_index.relevance).

The demo catalog is indexed by each backend and every judged question of relevance.json is asked
through `/api/search`; recall at 5 in each language must stay at or above the figures recorded
in relevance_floor.json (bench/relevance.py prints them, and `--record` writes them).
"""

import json
from pathlib import Path

import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from caremap.app import create_app
from search_index import relevance
from search_index.documents import all_documents
from tests.conftest import asgi_client, base_settings, copy_of
from tests.search_index.conftest import backend_settings

HERE = Path(__file__).parent
QUESTIONS = relevance.load(HERE / "relevance.json")
FLOORS = json.loads((HERE / "relevance_floor.json").read_text())


@pytest_asyncio.fixture(
    params=["embedded", pytest.param("meilisearch", marks=pytest.mark.meilisearch)]
)
async def scores(request, demo_database: str, tmp_path: Path) -> relevance.Scores:
    async with copy_of(demo_database, tmp_path) as url:
        settings = backend_settings(base_settings(tmp_path, url), request.param)
        app = create_app(settings)
        async with LifespanManager(app):
            backend = app.state.search_backend
            await backend.rebuild(all_documents())
            async with asgi_client(app) as client:
                found = await relevance.evaluate(client, QUESTIONS)
            if request.param == "meilisearch":
                await backend.client.delete_index_if_exists(backend.uid)
    return found


def test_the_questions_cover_every_language_of_the_pages() -> None:
    languages = {q.language for q in QUESTIONS}
    assert {"en", "es", "vi", "ar", "so", "zh"} <= languages
    assert len(QUESTIONS) >= 150


def test_recall_at_5_stays_at_its_recorded_figure(scores: relevance.Scores) -> None:
    missed = "\n".join(f"  {q.language}: {q.question}" for q in scores.missed)
    for language in scores.languages():
        assert scores.recall(language) >= FLOORS[language], (
            f"{language}: recall@5 {scores.recall(language):.1%} is below the recorded "
            f"{FLOORS[language]:.1%}; missed:\n{missed}"
        )
