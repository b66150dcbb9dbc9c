"""Nearest-first browsing on the embedded index when more listings match than it reads at once
(`MAX_CANDIDATES`): the page must be the nearest listings and the total and facets must count
the whole radius, not only the ring the page was found in."""

import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from directory.geocoding import Point, distance_miles
from search_index.backend import Found
from search_index.embedded import MATCHES_ROWS, MAX_CANDIDATES, EmbeddedBackend
from search_index.query import BackendQuery, Place

CENTRE = Point(41.85, -87.70)


def listing(number: int, category: str, point: Point, language: str = "en") -> dict[str, Any]:
    """A search document as `search_index.documents` builds one, for a place-based listing."""
    service_id = str(uuid.UUID(int=(number + 1) << 64))  # the index keys services by the top half
    return {
        "id": f"{service_id}_{service_id}",
        "service_id": service_id,
        "organization_id": str(uuid.UUID(int=1)),
        "name": f"Listing {number}",
        "alternate_name": "",
        "organization_name": "Agency",
        "description": "A listing.",
        "eligibility": "",
        "category_codes": [category],
        "category_names": [category],
        "languages": [language],
        "free": True,
        "accepts_referrals": True,
        "status": "active",
        "stale": False,
        "standing": 0,
        "minimum_age": 0,
        "maximum_age": 999,
        "phone": "",
        "intake_state": "open",
        "intake_wait_days": None,
        "last_verified_at": "",
        "area_postal_codes": [],
        "area_counties": [],
        "area_states": [],
        "everywhere": False,
        "stems": "listing agency",
        "location_id": service_id,
        "location_name": "",
        "address": f"{number} Test St",
        "postal_code": "60623",
        "schedules": [],
        "open_slots": [],
        "timezone": "America/Chicago",
        "_geo": {"lat": point.latitude, "lng": point.longitude},
    }


def near_centre(rng: random.Random, miles: float) -> Point:
    """A point within `miles` of the centre (0.0145 degrees of latitude is about a mile)."""
    while True:
        point = Point(
            CENTRE.latitude + rng.uniform(-1, 1) * miles * 0.0145,
            CENTRE.longitude + rng.uniform(-1, 1) * miles * 0.0195,
        )
        if distance_miles(CENTRE, point) <= miles:
            return point


FOOD = MAX_CANDIDATES + 500
LEGAL_IN_SPANISH = 7


@pytest.fixture
async def backend(tmp_path: Path):
    rng = random.Random(7)
    documents = [listing(n, "food", near_centre(rng, 3)) for n in range(FOOD)]
    documents += [
        listing(FOOD + n, "legal", near_centre(rng, 3), language="es")
        for n in range(LEGAL_IN_SPANISH)
    ]
    documents.append(listing(FOOD + 100, "food", Point(43.5, -89.0)))  # far outside the radius
    index = EmbeddedBackend(tmp_path / "search", writer=True)
    await index.open()
    await index.apply(documents, [])
    yield index, documents
    await index.close()


def browse(category: str, page: int = 1, **filters: Any) -> BackendQuery:
    return BackendQuery(
        words=[],
        categories=(category,),
        place=Place(CENTRE),
        radius_miles=10,
        sort="distance",
        offset=(page - 1) * 20,
        limit=20,
        **filters,
    )


def nearest(documents: list[dict[str, Any]], category: str) -> list[str]:
    mine = [d for d in documents if d["category_codes"] == [category]]
    mine.sort(key=lambda d: distance_miles(CENTRE, Point(d["_geo"]["lat"], d["_geo"]["lng"])))
    return [d["service_id"] for d in mine]


def ids(found: Found) -> list[str]:
    return [hit.document["service_id"] for hit in found.hits]


async def test_nearest_first_browse_counts_the_whole_radius(backend):
    index, documents = backend
    expected = nearest(documents, "food")
    first = await index.search(browse("food"))
    assert ids(first) == expected[:20]
    assert first.total == FOOD  # every food listing within 10 miles, not the nearest ring's
    assert not first.exact_total  # more than the index reads at once: counted, not listed
    assert first.facets["categories"] == {"food": FOOD}
    assert first.facets["languages"] == {"en": FOOD}

    third = await index.search(browse("food", page=3))
    assert ids(third) == expected[40:60]
    assert third.total == FOOD


async def test_a_browse_of_few_listings_is_exact(backend):
    index, documents = backend
    found = await index.search(browse("legal", language="es"))
    assert ids(found) == nearest(documents, "legal")
    assert found.total == LEGAL_IN_SPANISH
    assert found.exact_total
    assert found.facets["languages"] == {"es": LEGAL_IN_SPANISH}

    nothing = await index.search(browse("food", language="es"))
    assert (nothing.total, nothing.hits, nothing.exact_total) == (0, [], True)


async def test_a_page_deep_into_a_long_list_is_still_the_nearest(backend):
    index, documents = backend
    expected = nearest(documents, "food")
    deep = browse("food", page=FOOD // 20)  # past the first MAX_CANDIDATES listings
    assert deep.offset >= MAX_CANDIDATES
    found = await index.search(deep)
    assert ids(found) == expected[deep.offset : deep.offset + 20]
    assert found.total == FOOD


async def test_the_results_page_says_a_counted_total_is_about(app, client):
    """More listings than the index reads at once: the page says "About", in each language."""
    rng = random.Random(11)
    documents = [listing(n, "food", near_centre(rng, 3)) for n in range(FOOD)]
    documents += [listing(FOOD + n, "legal", near_centre(rng, 3)) for n in range(3)]
    await app.state.search_backend.apply(documents, [])
    near = f"{CENTRE.latitude},{CENTRE.longitude}"

    many = await client.get("/search", params={"category": "food", "near": near})
    assert many.status_code == 200
    assert f"About {FOOD} services found" in many.text

    few = await client.get("/search", params={"category": "legal", "near": near})
    assert "3 services found" in few.text
    assert "About" not in few.text.split('class="count"')[1].split("</p>")[0]

    spanish = await client.get("/search", params={"category": "food", "near": near, "lang": "es"})
    assert f"Cerca de {FOOD} servicios encontrados" in spanish.text


async def test_nearest_first_where_listings_are_packed_close(tmp_path: Path):
    """So many within a few blocks that even the first box tried holds more than the index
    reads at once (or keeps, at most): the box shrinks until it holds the page, which is still
    the nearest."""
    rng = random.Random(5)
    packed = MATCHES_ROWS + 500
    documents = [listing(n, "food", near_centre(rng, 0.4)) for n in range(packed)]
    index = EmbeddedBackend(tmp_path / "search", writer=True)
    await index.open()
    try:
        await index.apply(documents, [])
        expected = nearest(documents, "food")
        for page in (1, 7):
            found = await index.search(browse("food", page=page))
            assert ids(found) == expected[(page - 1) * 20 : page * 20]
            assert found.total == packed
    finally:
        await index.close()


async def test_words_matching_far_too_many_to_keep_are_not_matched_everywhere_again(
    backend, monkeypatch
):
    """The answer is the engine's either way; a process only stops asking, in each new state
    of the index, for a match it has seen to be far too big to keep."""
    index, documents = backend
    monkeypatch.setattr("search_index.embedded.MATCHES_ROWS", 100)
    query = BackendQuery(words=["listing"], place=Place(CENTRE), radius_miles=10)
    first = await index.search(query)
    assert first.total > 150
    assert len(first.hits) == 20
    assert list(index._too_many.values()) == [len(documents)]  # wherever they are

    index.reload()  # a new state of the index: what searches decided is gone, this is not
    again = await index.search(query)
    assert [(h.document["service_id"], h.score) for h in again.hits] == [
        (h.document["service_id"], h.score) for h in first.hits
    ]
    assert again.total == first.total
