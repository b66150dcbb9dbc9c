"""The need vocabulary: how people say a need, mapped to caremap's categories.

Families do not type "rent assistance"; they type "we're getting evicted". `understand` finds
the vocabulary's phrases (needs.json, in every language of the pages) in a question and says
which categories it asks for; the search then shows those categories' listings, the first one
named first, ranked by the question's words (`service.search`). `likely_categories` is the
looser reading offered when a question finds nothing at all.
"""

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import snowballstemmer
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from directory.i18n import languages
from directory.taxonomy import BY_CODE, CATEGORIES, LOCALES
from search_index.query import fold, stop_words, typo_budget, words_of, written_words

NEEDS_FILE = Path(__file__).with_name("needs.json")
# Languages whose word endings the vocabulary looks past (Snowball stemmers); Vietnamese,
# Somali and Chinese do not inflect so, and their entries list the forms people type.
_STEMMERS = {
    code: snowballstemmer.stemmer(name)
    for code, name in (("en", "english"), ("es", "spanish"), ("ar", "arabic"), ("pl", "polish"))
}
# Han, kana and hangul: written without spaces, so their phrases are found inside the text.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# How like a vocabulary phrase a question must be for a suggestion (rapidfuzz, 0 to 100).
SUGGEST_CUTOFF = 80
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class Need:
    """One phrase of the vocabulary: its words (stop words left out) and its categories."""

    phrase: str
    words: tuple[str, ...]
    categories: tuple[str, ...]
    language: str
    order: int  # its place in the vocabulary: earlier phrases are read first among equals
    written: tuple[str, ...] = ()  # its words as written (lower case), for the stemmers


@dataclass(frozen=True)
class Understanding:
    """What a question was understood to ask for: categories, in the order of the phrases
    that named them (longest first), and the question's words that said so."""

    categories: tuple[str, ...] = ()
    said: tuple[str, ...] = ()


@lru_cache(maxsize=65_536)
def forms(word: str, written: str = "") -> frozenset[str]:
    """A question's word and its stems in every language the vocabulary stems (the question may
    be in any of them), from the word folded and as written: stemmers know their language's
    letters (Polish "okularów" is a form of "okulary" only with its "ó")."""
    found = {word}
    for stemmer in _STEMMERS.values():
        found.add(stemmer.stemWord(word))
        if written and written != word:
            found.add(fold(stemmer.stemWord(written)))
    return frozenset(found)


def forms_in(word: str, language: str, written: str = "") -> frozenset[str]:
    """A vocabulary word and its stems in its own language only: stems across languages meet by
    chance (English "comed", the electric company, and Spanish "comida")."""
    stemmer = _STEMMERS.get(language)
    if stemmer is None:
        return frozenset({word})
    return frozenset({word, stemmer.stemWord(word), fold(stemmer.stemWord(written or word))})


def _content(text: str) -> list[str]:
    """The folded words of `text` that are not stop words."""
    written = written_words(text)
    return [
        word
        for word, typed in zip(words_of(text), written, strict=True)
        if typed not in stop_words()
    ]


def _vocabulary_word(word: str, original: str) -> str:
    """A phrase word as matched: folded, unless folding would make a short word of another
    language out of it (Vietnamese "nợ", debt, folds to "no"); then as written."""
    if len(word) <= 4 and not original.isascii():
        return original
    return word


def _need(phrase: str, categories: tuple[str, ...], language: str, order: int) -> Need:
    folded = fold(phrase)
    if _UNSPACED.search(folded):
        return Need(phrase, (folded,), categories, language, order)
    originals = dict(zip(words_of(phrase), written_words(phrase), strict=True))
    words = _content(phrase) or words_of(phrase)
    written = tuple(originals.get(w, w) for w in words)
    matched = tuple(_vocabulary_word(w, o) for w, o in zip(words, written, strict=True))
    return Need(phrase, matched, categories, language, order, written)


@cache
def vocabulary() -> tuple[Need, ...]:
    """Every phrase of needs.json, for every language, and every second-level category's name
    in every language (the words of the page's own category list: "Job training",
    "Formación laboral")."""
    needs: list[Need] = []
    for entry in json.loads(NEEDS_FILE.read_text())["needs"]:
        categories = tuple(entry["categories"])
        for language, phrases in entry.items():
            if language != "categories":
                needs.extend(_need(p, categories, language, len(needs)) for p in phrases)
    for category in CATEGORIES:
        if category.parent is None:  # "Care", "Work": too broad to read a question by
            continue
        for language in languages(LOCALES):
            name = category.name_in(language)
            needs.append(_need(name, (category.code,), language.split("_")[0], len(needs)))
    return tuple(needs)


@cache
def _by_form() -> dict[str, frozenset[tuple[str, str]]]:
    """Each form of a vocabulary word to the (word, language) it is a form of."""
    index: dict[str, set[tuple[str, str]]] = {}
    for need in vocabulary():
        for word, written in zip(need.words, need.written or need.words, strict=True):
            for form in forms_in(word, need.language, written):
                index.setdefault(form, set()).add((word, need.language))
    return {form: frozenset(words) for form, words in index.items()}


@cache
def _languages_of() -> dict[str, frozenset[str]]:
    """Each vocabulary word to the languages whose phrases hold it."""
    found: dict[str, set[str]] = {}
    for need in vocabulary():
        for word in need.words:
            found.setdefault(word, set()).add(need.language)
    return {word: frozenset(languages) for word, languages in found.items()}


@cache
def _needs_with() -> dict[str, tuple[Need, ...]]:
    """Each vocabulary word to the phrases holding it, longest phrases first."""
    index: dict[str, list[Need]] = {}
    for need in sorted(vocabulary(), key=lambda n: -len(n.words)):
        for word in dict.fromkeys(need.words):
            index.setdefault(word, []).append(need)
    return {word: tuple(needs) for word, needs in index.items()}


@cache
def _unspaced_needs() -> tuple[Need, ...]:
    return tuple(n for n in vocabulary() if _UNSPACED.search(n.words[0]))


@cache
def _spelled() -> tuple[str, ...]:
    """The vocabulary's words, to find a mistyped word's: the typed word's length sets the
    budget, as in the search engines ("foood", 5 letters, may be "food")."""
    return tuple(sorted({w for n in vocabulary() for w in n.words if not _UNSPACED.search(w)}))


def _meant(word: str, written: str = "") -> set[str]:
    """The vocabulary words a question's word says: those sharing one of its forms (in the
    word's own languages, if it is a vocabulary word); else those within its typo budget (as
    the search engines allow)."""
    # A word of the vocabulary is read in its own languages only: English "medicaid" and
    # Spanish "médico" share a Spanish stem.
    own = _languages_of().get(word)
    found = {
        w
        for form in forms(word, written)
        for w, language in _by_form().get(form, ())
        if own is None or language in own
    }
    budget = typo_budget(word)
    if found or not budget:
        return found
    for candidate, distance, _ in process.extract(
        word, _spelled(), scorer=DamerauLevenshtein.distance, score_cutoff=budget, limit=None
    ):
        # A typo in the first letter counts twice, as Meilisearch counts it: "wants" is not
        # "pants".
        if distance + (candidate[0] != word[0]) <= budget:
            found.add(candidate)
    return found


@lru_cache(maxsize=4_096)
def understand(question: str) -> Understanding:
    """The categories the question's phrases name, and the words that named them. A phrase
    is found when each of its words is said by some word of the question (`_meant`), in any
    order. Longer phrases are read first, and a phrase whose words a longer one has read
    adds nothing: "we live in the car" is shelter, not transportation ("car")."""
    text = fold(question)
    folded = words_of(question)
    written = written_words(question)
    said_by: dict[str, set[int]] = {}
    for position, word in enumerate(folded):
        as_written = written[position]
        if as_written in stop_words():
            continue
        meant = _meant(word, as_written)
        if as_written != word:
            meant |= {w for w, _language in _by_form().get(as_written, ())}
        for vocabulary_word in meant:
            said_by.setdefault(vocabulary_word, set()).add(position)
    categories: dict[str, None] = {}
    said: set[int] = set()
    unspaced: list[str] = []
    if _UNSPACED.search(text):
        for need in _unspaced_needs():
            if need.words[0] in text:
                unspaced.append(need.words[0])
                categories.update(dict.fromkeys(need.categories))
    candidates = {id(n): n for word in said_by for n in _needs_with().get(word, ())}
    read_longer: set[int] = set()  # positions read by a phrase longer than the one at hand
    length = 0

    def reading_order(need: Need) -> tuple[int, int, int]:
        """Longer phrases first, then the one the question says first, then the file's order."""
        first = min((p for word in need.words for p in said_by.get(word, ())), default=0)
        return -len(need.words), first, need.order

    for need in sorted(candidates.values(), key=reading_order):
        if len(need.words) != length:
            read_longer, length = set(said), len(need.words)
        if not all(word in said_by for word in need.words):
            continue
        places = {p for word in need.words for p in said_by[word]}
        if places <= read_longer:
            continue
        said |= places
        categories.update(dict.fromkeys(need.categories))
    words = [written[p] for p in sorted(said)] + unspaced
    known = tuple(code for code in categories if code in BY_CODE)
    return Understanding(known, tuple(dict.fromkeys(words)))


@cache
def _categories_by_word() -> dict[str, tuple[str, ...]]:
    """Each vocabulary word to the categories of the phrases holding it, in reading order."""
    found: dict[str, dict[str, None]] = {}
    for need in vocabulary():
        for word in need.words:
            found.setdefault(word, {}).update(dict.fromkeys(need.categories))
    return {word: tuple(categories) for word, categories in found.items()}


def likely_categories(question: str) -> tuple[str, ...]:
    """For a question that found nothing: the categories of the vocabulary words most like its
    words (a looser, fuzzy reading than `understand`: rapidfuzz's ratio, not the typo budget),
    best first."""
    by_word = _categories_by_word()
    found: dict[str, None] = {}
    for word in _content(question):
        if len(word) < 4:
            continue
        for match, _score, _ in process.extract(
            word, list(by_word), scorer=fuzz.ratio, score_cutoff=SUGGEST_CUTOFF, limit=3
        ):
            found.update(dict.fromkeys(by_word[match]))
    return tuple(code for code in found if code in BY_CODE)[:MAX_SUGGESTIONS]
