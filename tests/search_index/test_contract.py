"""The search contract: every case here must hold on every backend.

A small catalog around Little Village, Chicago (ZIP 60623) is built through the catalog's
service layer, the outbox drains into the backend, and the public search API is asked.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from directory import freshness, service
from directory.actor import SYSTEM
from directory.geocoding import Geocoder
from directory.models import Service
from search_index import service as search_service
from search_index.models import UnmetSearch
from search_index.query import SearchQuery
from tests import factories
from tests.search_index.conftest import indexed

WEEKDAYS = [{"byday": "MO,TU,WE,TH,FR", "opens_at": "09:00", "closes_at": "17:00"}]
PLACES = {
    "60623": (41.8445, -87.7062),
    "60608": (41.8510, -87.6690),
    "60657": (41.9400, -87.6530),
    "60201": (42.0540, -87.6940),
    "66101": (39.1150, -94.6270),
}


async def _listing(organization, name: str, zip_code: str | None, **data: Any):
    location_ids = []
    if zip_code:
        latitude, longitude = PLACES[zip_code]
        location = await factories.located(
            organization,
            name=name,
            postal_code=zip_code,
            latitude=latitude,
            longitude=longitude,
            city="Chicago" if zip_code != "66101" else "Kansas City",
            state_province="IL" if zip_code != "66101" else "KS",
        )
        location_ids = [str(location.id)]
    values = factories.service_data(
        name=name, organization_id=str(organization.id), location_ids=location_ids, **data
    )
    return await service.create_service(actor=SYSTEM, data=values)


@pytest.fixture
async def world(search_app) -> dict[str, Any]:
    organization = await factories.organization(name="Westside Neighbors")
    listings = {
        "pantry": await _listing(
            organization,
            "Little Village Food Pantry",
            "60623",
            categories=["food-pantry"],
            description="Free groceries and fresh produce every week.",
            languages=["en", "es"],
            schedules=WEEKDAYS,
        ),
        "counseling": await _listing(
            organization,
            "Teen Counseling Center",
            "60608",
            categories=["mental-health-counseling"],
            free=False,
            minimum_age=12,
            maximum_age=18,
            description="Therapy for teens dealing with anxiety and stress.",
            languages=["en"],
        ),
        "legal": await _listing(
            organization,
            "Lakeview Legal Aid",
            "60657",
            categories=["legal-aid"],
            description="Free lawyers for tenants and families.",
            languages=["en"],
            accepts_referrals=False,
        ),
        "crisis": await _listing(
            organization,
            "Cook County Crisis Line",
            None,
            categories=["crisis-support"],
            description="Talk to a crisis counselor by phone, any time.",
            languages=["en", "es"],
            service_areas=[
                {
                    "name": "Cook County",
                    "extent_type": "county",
                    "extent": "Cook County",
                    "state_province": "IL",
                }
            ],
        ),
        "meals": await _listing(
            organization,
            "Evanston Meals Delivery",
            "60201",
            categories=["meals"],
            description="Hot meals delivered to families.",
            languages=["en"],
            service_areas=[{"name": "ZIP 60623", "extent_type": "postal_code", "extent": "60623"}],
        ),
        "closed": await _listing(
            organization,
            "Corner Food Pantry",
            "60623",
            categories=["food-pantry"],
            description="Groceries on Saturdays.",
            status="temporarily_closed",
            languages=["en"],
        ),
        "inactive": await _listing(
            organization,
            "Old Food Pantry",
            "60623",
            categories=["food-pantry"],
            description="Groceries.",
            status="inactive",
            languages=["en"],
        ),
        "kansas": await _listing(
            organization,
            "Kansas City Food Pantry",
            "66101",
            categories=["food-pantry"],
            description="Groceries for Wyandotte County families.",
            languages=["en", "es"],
        ),
    }
    await indexed()
    return listings


async def _search(client, **params: Any) -> dict[str, Any]:
    """A search as the engines answer it: the contract is the backends' matching and ranking,
    so the need vocabulary (search_index.needs, its own tests) is left out unless asked for."""
    params.setdefault("understand", "false")
    response = await client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _names(result: dict[str, Any]) -> list[str]:
    return [r["name"] for r in result["results"]]


async def test_typos_are_tolerated(search_client, world):
    assert "Little Village Food Pantry" in _names(await _search(search_client, q="fod pantyr"))
    assert "Teen Counseling Center" in _names(await _search(search_client, q="counselng"))


async def test_typo_budget_follows_word_length(search_client, world):
    """One typo from five letters, two from nine; shorter words must be spelled right."""
    assert "Lakeview Legal Aid" in _names(await _search(search_client, q="lwgal"))
    assert _names(await _search(search_client, q="fooe")) == []
    assert "Teen Counseling Center" in _names(await _search(search_client, q="cunselinng"))
    assert _names(await _search(search_client, q="cunslinng")) == []


async def test_prefix_search_as_you_type(search_client, world):
    assert "Teen Counseling Center" in _names(await _search(search_client, q="counsel"))
    assert "Lakeview Legal Aid" in _names(await _search(search_client, q="lawy"))


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("comida", "Little Village Food Pantry"),
        ("food bank", "Little Village Food Pantry"),
        ("despensa", "Little Village Food Pantry"),
        ("abogado", "Lakeview Legal Aid"),
        ("therapist", "Teen Counseling Center"),
        ("salud mental", "Teen Counseling Center"),
    ],
)
async def test_synonyms_in_english_and_spanish(search_client, world, words, expected):
    assert expected in _names(await _search(search_client, q=words))


# The common needs in each language of the pages, as a family would type them (one word or a
# short phrase); the synonyms file carries them to the listings' English words.
NEEDS_IN_EVERY_LANGUAGE = {
    "food": ["thực phẩm", "طعام", "cunto", "食物"],
    "housing": ["thuê nhà", "إيجار", "kirada guriga", "房租"],
    "doctor": ["bác sĩ", "طبيب", "dhakhtar", "医生"],
    "lawyer": ["luật sư", "محامي", "qareen", "律师"],
    "clothes": ["quần áo", "ملابس", "dhar", "衣服"],
    "school supplies": ["đồ dùng học tập", "cặp sách", "لوازم مدرسية", "qalabka dugsiga", "文具"],
}


async def test_common_needs_in_vietnamese_arabic_somali_and_chinese(search_client, world):
    organization = await factories.organization(name="Near West Side Services")
    wanted = {
        "food": "Little Village Food Pantry",
        "lawyer": "Lakeview Legal Aid",
        "housing": (await _listing(organization, "Rent Relief Fund", "60623",
                                   categories=["rent-assistance"],
                                   description="One-time rent help for families.")).name,
        "doctor": (await _listing(organization, "Family Health Clinic", "60608",
                                  categories=["medical-care"],
                                  description="Checkups and sick visits for children.")).name,
        "clothes": (await _listing(organization, "Coat Closet", "60608",
                                   categories=["clothing"],
                                   description="Free winter coats and shoes.")).name,
        "school supplies": (await _listing(organization, "Supply Drive", "60623",
                                           categories=["school-supplies"],
                                           description="School supplies and backpacks.")).name,
    }  # fmt: skip
    await indexed()
    for need, phrases in NEEDS_IN_EVERY_LANGUAGE.items():
        for phrase in phrases:
            assert wanted[need] in _names(await _search(search_client, q=phrase)), (need, phrase)


async def test_inactive_never_appears_and_closed_ranks_last(search_client, world):
    result = await _search(search_client, q="pantry")
    names = _names(result)
    assert "Old Food Pantry" not in names
    assert names[-1] == "Corner Food Pantry"
    closed = result["results"][-1]
    assert closed["temporarily_closed"] is True
    assert not any(r["temporarily_closed"] for r in result["results"][:-1])


async def test_stale_ranks_below_fresh_and_above_closed(search_client, world):
    """A listing nobody verified within the period stays visible, below the fresh ones."""
    pantry = world["pantry"]
    long_ago = datetime.now(UTC) - timedelta(days=181)
    await Service.filter(id=pantry.id).update(last_verified_at=long_ago)
    assert await freshness.mark_stale(freshness.FreshnessRules(stale_days=180)) == [pantry.id]
    await indexed()

    results = (await _search(search_client, category="food-pantry"))["results"]
    assert [(r["name"], r["stale"], r["temporarily_closed"]) for r in results] == [
        ("Kansas City Food Pantry", False, False),
        ("Little Village Food Pantry", True, False),
        ("Corner Food Pantry", False, True),
    ]
    assert results[1]["last_verified_at"].startswith(long_ago.date().isoformat())
    near = await _search(search_client, q="pantry", near="60623", sort="distance")
    assert _names(near)[-2:] == ["Little Village Food Pantry", "Corner Food Pantry"]


async def test_filters(search_client, world):
    assert set(_names(await _search(search_client, category="food"))) == {
        "Little Village Food Pantry",
        "Corner Food Pantry",
        "Kansas City Food Pantry",
        "Evanston Meals Delivery",
    }
    assert set(_names(await _search(search_client, category="food-pantry"))) == {
        "Little Village Food Pantry",
        "Corner Food Pantry",
        "Kansas City Food Pantry",
    }
    spanish = set(_names(await _search(search_client, language="es")))
    assert spanish == {
        "Little Village Food Pantry",
        "Cook County Crisis Line",
        "Kansas City Food Pantry",
    }
    assert "Teen Counseling Center" in _names(await _search(search_client, age=15))
    assert "Teen Counseling Center" not in _names(await _search(search_client, age=30))
    assert "Teen Counseling Center" not in _names(await _search(search_client, free="true"))
    assert "Lakeview Legal Aid" not in _names(
        await _search(search_client, accepts_referrals="true")
    )
    both = set(_names(await _search(search_client, category=["legal", "health"])))
    assert both == {"Lakeview Legal Aid", "Teen Counseling Center"}


async def test_radius_distance_and_service_areas(search_client, world):
    result = await _search(search_client, near="60623", radius="3")
    by_name = {r["name"]: r for r in result["results"]}
    assert "Little Village Food Pantry" in by_name
    assert "Teen Counseling Center" in by_name  # 60608, about two miles away
    assert "Lakeview Legal Aid" not in by_name  # seven miles away
    assert "Kansas City Food Pantry" not in by_name
    assert by_name["Little Village Food Pantry"]["distance"]["miles"] < 1
    assert by_name["Little Village Food Pantry"]["serves_area"] is False
    meals = by_name["Evanston Meals Delivery"]  # located far away, but serves 60623
    assert meals["serves_area"] is True
    assert meals["distance"]["miles"] > 10
    crisis = by_name["Cook County Crisis Line"]  # remote, county-wide
    assert crisis["distance"] is None
    assert crisis["serves_area"] is True


async def test_kilometres_are_accepted(search_client, world):
    names = _names(await _search(search_client, near="60623", radius="5km"))
    assert "Teen Counseling Center" in names
    assert "Lakeview Legal Aid" not in names


async def test_sort_by_distance(search_client, world):
    result = await _search(
        search_client, near="60623", radius="25", sort="distance", category="food"
    )
    assert _names(result) == [
        "Little Village Food Pantry",
        "Evanston Meals Delivery",
        "Corner Food Pantry",
    ]  # temporarily closed after open ones
    distances = [r["distance"]["miles"] for r in result["results"]]
    assert distances[0] <= 1 < distances[1]


async def test_nearest_first_across_the_city(search_client, world):
    result = await _search(
        search_client, near="41.8445,-87.7062", radius="20", sort="distance", q=""
    )
    located = [r for r in result["results"] if r["distance"] and not r["temporarily_closed"]]
    miles = [r["distance"]["miles"] for r in located if not r["serves_area"]]
    assert miles == sorted(miles)
    assert located[0]["name"] == "Little Village Food Pantry"


async def test_best_match_near_a_place_puts_the_nearer_of_equals_first(search_client, world):
    """The rule (search_index.service.nearer_among_equals): matches of the same quality (the
    same tenth of the best score) come nearest first; a much better match farther away stays
    above a weaker one nearby; without a place, best match alone decides."""
    organization = await factories.organization(name="Southwest Neighbors")
    near = await _listing(
        organization,
        "Pilsen Legal Aid",
        "60608",
        categories=["legal-aid"],
        description="Free lawyers for tenants and families.",
        languages=["en"],
    )
    weak = await _listing(
        organization,
        "Homework Club",
        "60623",
        categories=["tutoring"],
        description="Homework help after school; staff can point families to legal aid.",
        languages=["en"],
    )
    await indexed()
    from_60623 = _names(await _search(search_client, q="legal aid", near="60623", radius="25"))
    assert from_60623.index(near.name) < from_60623.index("Lakeview Legal Aid")  # 1 mi vs 7
    assert from_60623.index("Lakeview Legal Aid") < from_60623.index(weak.name)
    from_60657 = _names(await _search(search_client, q="legal aid", near="60657", radius="25"))
    assert from_60657.index("Lakeview Legal Aid") < from_60657.index(near.name)
    # Asked for by name, nearest first still puts distance before everything.
    nearest = _names(
        await _search(search_client, q="legal aid", near="60623", radius="25", sort="distance")
    )
    assert nearest[0] == weak.name


async def test_zero_results_widen_and_are_recorded(search_client, world):
    result = await _search(search_client, q="legal", near="60623", radius="1")
    assert result["widened"] is not None
    assert _names(result) == ["Lakeview Legal Aid"]
    assert result["results"][0]["distance"]["miles"] > 5
    unmet = await UnmetSearch.all()
    assert [(u.query, u.postal_code) for u in unmet] == [("legal", "60623")]


async def test_did_you_mean_for_a_misspelling_beyond_the_typo_rules(search_client, world):
    """A word too far from any listing for the typo rules ("cunslinng" has three edits) gets
    the nearest word caremap knows, offered only when that finds something; words that are
    fine, or only too far away, get no suggestion."""
    missed = await _search(search_client, q="cunslinng")
    assert _names(missed) == []
    assert missed["did_you_mean"] == "counseling"
    assert "Teen Counseling Center" in _names(await _search(search_client, q="counseling"))
    assert (await _search(search_client, q="counseling"))["did_you_mean"] is None
    far = await _search(search_client, q="legal", near="60623", radius="1")
    assert far["did_you_mean"] is None  # the word is right; the nearest matches are shown
    assert (await _search(search_client, q="xyzzyq"))["did_you_mean"] is None


async def test_the_unmet_log_keeps_only_words_caremap_knows(search_client, world):
    """A family may type a person's name or an address: only words in caremap's vocabulary
    (synonyms, needs, categories) or exactly in some listing are kept for the gap reports."""
    await _search(
        search_client, q="Zephyrine Quillfeather needs legal lawyer tenancy 4417", near="60623",
        radius="1",
    )  # fmt: skip
    [unmet] = await UnmetSearch.all()
    assert unmet.query == "needs legal lawyer"  # "needs": as in "special needs"
    for private in ("zephyrine", "quillfeather", "4417", "tenancy"):
        assert private not in unmet.query


async def test_zip_typed_into_the_query_box(search_client, world):
    result = await _search(search_client, q="food bank near 60623", radius="2")
    assert result["place"]["postal_code"] == "60623"
    assert "Little Village Food Pantry" in _names(result)
    assert "Kansas City Food Pantry" not in _names(result)


async def test_facets(search_client, world):
    result = await _search(search_client, category="food")
    assert result["facets"]["categories"]["food"] == 4
    assert result["facets"]["categories"]["food-pantry"] == 3
    assert result["facets"]["categories"]["meals"] == 1
    assert result["facets"]["languages"] == {"en": 4, "es": 2}
    assert result["total"] == 4


async def test_paging(search_client, world):
    first = await _search(search_client, per_page=3, page=1)
    second = await _search(search_client, per_page=3, page=2)
    assert first["total"] == second["total"] == 7
    assert not set(_names(first)) & set(_names(second))


async def test_highlights_are_escaped(search_client, world):
    result = await _search(search_client, q="groceries")
    pantry = next(r for r in result["results"] if r["name"] == "Little Village Food Pantry")
    assert "<mark>groceries</mark>" in pantry["snippet"]


async def test_edits_and_deletes_reach_the_index(search_client, world):
    pantry = world["pantry"]
    await service.update_service(
        actor=SYSTEM,
        service_id=pantry.id,
        version=pantry.version,
        data={"name": "La Villita Grocery Share"},
    )
    await service.delete_service(actor=SYSTEM, service_id=world["legal"].id, version=1)
    await indexed()
    assert "La Villita Grocery Share" in _names(await _search(search_client, q="villita"))
    assert _names(await _search(search_client, q="lakeview")) == []


async def test_query_syntax_is_just_text(search_client, world):
    for text in [
        '"food',
        "NEAR(food)",
        "food*",
        "food OR legal",
        "name:food",
        "-food",
        "AND",
        "\\",
        "food' OR 1=1 --",
        "((((",
        "~~~",
    ]:
        response = await search_client.get("/api/search", params={"q": text})
        assert response.status_code == 200, (text, response.text)


async def test_open_now(search_app, world):
    backend, geocoder = search_app.state.search_backend, Geocoder()
    tuesday_noon = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)  # 12:00 in Chicago
    sunday = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    open_at_noon, _unmet = await search_service.search(
        backend=backend,
        geocoder=geocoder,
        now=tuesday_noon,
        query=SearchQuery(open_now=True, categories=("food",)),
    )
    assert [r["name"] for r in open_at_noon["results"]] == ["Little Village Food Pantry"]
    assert open_at_noon["results"][0]["open_now"] is True
    on_sunday, _unmet = await search_service.search(
        backend=backend,
        geocoder=geocoder,
        now=sunday,
        query=SearchQuery(open_now=True, categories=("food",)),
    )
    assert on_sunday["results"] == []


async def test_a_need_shows_its_categories_first_category_first(search_client, search_app):
    """A question the need vocabulary reads (search_index.needs) shows only the listings of
    its categories, the one it names first above the rest, whatever words they hold; each
    engine answers the same."""
    organization = await factories.organization(name="Eastside Learning")
    camp = await _listing(
        organization,
        "Homework and Games Camp",
        "60623",
        categories=["after-school"],
        description="Homework help, games and sports every weekday after school.",
    )
    tutors = await _listing(
        organization,
        "Reading Partners",
        "60623",
        categories=["tutoring"],
        description="Volunteers read one to one with children twice a week.",
    )
    unrelated = await _listing(
        organization,
        "Homework Helpline Fundraiser",
        "60623",
        categories=["benefits-help"],
        description="Raising money for homework help lines.",
    )
    await indexed()
    names = _names(await _search(search_client, q="homework help", understand="true"))
    assert names[:2] == [tutors.name, camp.name]  # tutoring is the need named first
    assert unrelated.name not in names
    every = _names(await _search(search_client, q="homework help"))
    assert every[0] != tutors.name
    assert unrelated.name in every
