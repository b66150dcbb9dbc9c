"""The need vocabulary (search_index.needs) and what the results page says it understood."""

import json

from directory.taxonomy import BY_CODE
from search_index.models import UnmetSearch
from search_index.needs import NEEDS_FILE, understand, vocabulary
from search_index.query import MAX_QUERY_LENGTH, need_words, stop_words, words_of
from tests import factories
from tests.conftest import asgi_client
from tests.search_index.conftest import indexed


def test_every_entry_names_known_categories_in_every_language_of_the_pages() -> None:
    for entry in json.loads(NEEDS_FILE.read_text())["needs"]:
        assert entry["categories"]
        assert all(code in BY_CODE for code in entry["categories"])
        assert {"en", "es", "vi", "ar", "so", "zh"} <= set(entry), entry["categories"]


def test_every_phrase_is_understood_on_its_own_as_its_categories() -> None:
    for need in vocabulary():
        understood = understand(need.phrase)
        assert set(need.categories) <= set(understood.categories) or any(
            len(other.words) > len(need.words) and set(other.words) >= set(need.words)
            for other in vocabulary()
        ), need


def test_no_phrase_is_only_stop_words() -> None:
    for need in vocabulary():
        assert not all(w in stop_words() for w in need.words), need.phrase


def test_questions_as_families_ask_them() -> None:
    assert understand("we're getting evicted").categories[0] == "eviction-defense"
    assert understand("my husband hits me").categories[0] == "domestic-violence"
    assert understand("my son is vapeing").categories == ("substance-use",)  # a typo
    assert understand("necesito ayuda con la luz").categories == ("utilities",)
    assert understand("我需要食物").categories[0] == "food-pantry"
    assert understand("Pilsen Community Center").categories == ()


def test_a_longer_phrase_is_read_whole() -> None:
    # "carro" alone would be transportation; the whole phrase is somewhere to sleep.
    assert "transportation" not in understand("vivimos en el carro").categories
    assert understand("طبيب أسنان").categories == ("dental",)  # not also "doctor"


def test_words_of_other_languages_do_not_meet_by_their_stems() -> None:
    assert understand("no tenemos comida").categories[0] == "food-pantry"  # not ComEd's bills
    assert understand("nợ").categories != understand("no").categories
    assert "tien" not in stop_words()  # Vietnamese "tiền" is not Spanish "tiene"


def test_a_long_question_is_read_quickly_enough_to_be_read_again() -> None:
    question = ("my family needs food and a place to sleep " * 10)[:MAX_QUERY_LENGTH]
    assert {"food-pantry", "shelter"} <= set(understand(question).categories)
    assert need_words(question)
    assert words_of(question)


async def test_the_results_page_says_what_it_understood_and_can_forget_it(app):
    organization = await factories.organization(name="Southwest Tenants")
    await factories.listing(
        organization, name="Renters' Defense Clinic", categories=["eviction-defense"]
    )
    await factories.listing(organization, name="Evicted Stories Book Club")
    await indexed()
    async with asgi_client(app) as client:
        page = await client.get("/search", params={"q": "we are getting evicted"})
        assert page.status_code == 200
        assert 'id="understood"' in page.text
        assert "Eviction defense" in page.text
        assert "Renters&#39; Defense Clinic" in page.text
        assert "Evicted Stories Book Club" not in page.text
        every = await client.get(
            "/search", params={"q": "we are getting evicted", "understand": "false"}
        )
        assert 'id="understood"' not in every.text
        assert "Evicted Stories Book Club" in every.text
        api = await client.get("/api/search", params={"q": "we are getting evicted"})
        assert api.json()["understood"]["categories"][0] == "eviction-defense"
        bad = await client.get("/api/search", params={"q": "rent", "understand": "maybe"})
        assert bad.status_code == 422
        assert "understand" in bad.text


async def test_a_question_that_finds_nothing_is_offered_the_categories_it_may_mean(app):
    async with asgi_client(app) as client:
        result = (await client.get("/api/search", params={"q": "dentistt appointmnt"})).json()
        page = await client.get("/search", params={"q": "dentistt appointmnt", "lang": "es"})
    assert result["total"] == 0
    assert [c["code"] for c in result["suggested_categories"]][:1] == ["dental"]
    assert 'id="suggested"' in page.text
    assert "Atención dental" in page.text  # the category named in the page's language
    assert "category=dental" in page.text


def test_needs_come_in_the_order_the_question_names_them() -> None:
    assert understand("tutoring and a counselor for my son").categories[0] == "tutoring"
    first = understand("a counselor and tutoring for my son").categories[0]
    assert first == "mental-health-counseling"


def test_a_vocabulary_word_typed_as_it_is_is_not_read_by_its_stems() -> None:
    # "medicaid" and "médico" share a Spanish stem; each typed whole means only itself.
    assert "medical-care" not in understand("sign up for medicaid").categories
    assert understand("médico para mi hijo").categories[0] == "medical-care"


async def test_an_unmet_need_is_recorded_under_the_categories_the_question_named(app):
    async with asgi_client(app) as client:
        result = await client.get(
            "/api/search", params={"q": "we are getting evicted", "near": "60623"}
        )
    assert result.status_code == 200
    assert result.json()["total"] == 0
    rows = await UnmetSearch.all().values("categories", "postal_code", "query")
    assert rows == [
        {
            "categories": ["eviction-defense", "rent-assistance"],
            "postal_code": "60623",
            "query": "we are getting evicted",
        }
    ]
