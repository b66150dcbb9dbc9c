"""How well search answers the questions people ask: recall at 5 and mean reciprocal rank.

A judged question names the categories of the services that answer it; a search answers it
when one of its first `TOP` results belongs to one of them. The questions live beside the
tests (tests/search_index/relevance.json); the test keeps the figures from falling and
bench/relevance.py prints them. Both ask the real app's `/api/search`.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

TOP = 5


@dataclass(frozen=True)
class Judged:
    language: str
    question: str
    categories: frozenset[str]


@dataclass
class Scores:
    """Per language: how many questions, how many answered in the top 5, reciprocal ranks."""

    asked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    answered: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reciprocal: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    missed: list[Judged] = field(default_factory=list)

    def recall(self, language: str) -> float:
        return self.answered[language] / self.asked[language]

    def mrr(self, language: str) -> float:
        return self.reciprocal[language] / self.asked[language]

    def languages(self) -> list[str]:
        return sorted(self.asked)

    def table(self) -> str:
        lines = [f"{'language':<9} {'questions':>9} {'recall@5':>9} {'MRR':>6}"]
        for language in [*self.languages(), "all"]:
            asked = sum(self.asked.values()) if language == "all" else self.asked[language]
            answered = sum(self.answered.values()) if language == "all" else self.answered[language]
            reciprocal = (
                sum(self.reciprocal.values()) if language == "all" else self.reciprocal[language]
            )
            lines.append(
                f"{language:<9} {asked:>9} {answered / asked:>9.1%} {reciprocal / asked:>6.3f}"
            )
        return "\n".join(lines)


class Client(Protocol):
    async def get(self, url: str, *, params: dict[str, Any]) -> Any: ...


def load(path: Path) -> list[Judged]:
    return [
        Judged(row["language"], row["question"], frozenset(row["categories"]))
        for row in json.loads(path.read_text())["questions"]
    ]


def rank_of_answer(results: list[dict[str, Any]], judged: Judged) -> int | None:
    """The 1-based rank of the first result in one of the judged categories, within `TOP`."""
    for rank, result in enumerate(results[:TOP], start=1):
        if judged.categories & set(result["categories"]):
            return rank
    return None


async def evaluate(client: Client, questions: list[Judged]) -> Scores:
    scores = Scores()
    for judged in questions:
        response = await client.get("/api/search", params={"q": judged.question, "per_page": TOP})
        response.raise_for_status()
        rank = rank_of_answer(response.json()["results"], judged)
        scores.asked[judged.language] += 1
        if rank is None:
            scores.missed.append(judged)
            continue
        scores.answered[judged.language] += 1
        scores.reciprocal[judged.language] += 1 / rank
    return scores
