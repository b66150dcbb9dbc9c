"""The search API's own checks: bad parameters get 422 naming each one, never a 500."""

import pytest


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"radius": "-5"}, "radius"),
        ({"radius": "0"}, "radius"),
        ({"radius": "5000"}, "radius"),
        ({"radius": "far"}, "radius"),
        ({"category": "spaceships"}, "category"),
        ({"language": "english!"}, "language"),
        ({"age": "-1"}, "age"),
        ({"age": "old"}, "age"),
        ({"free": "maybe"}, "free"),
        ({"open_now": "sometimes"}, "open_now"),
        ({"page": "0"}, "page"),
        ({"page": "99999999999999999999999"}, "page"),
        ({"per_page": "500"}, "per_page"),
        ({"sort": "random"}, "sort"),
        ({"sort": "distance"}, "sort"),
        ({"q": "x" * 201}, "q"),
        ({"near": "91,200"}, "near"),
        ({"near": "99999"}, "near"),
        ({"near": "nowhere at all"}, "near"),
    ],
)
async def test_bad_parameters(client, params, field):
    response = await client.get("/api/search", params=params)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]


async def test_every_bad_parameter_is_named(client):
    response = await client.get("/api/search", params={"radius": "-1", "age": "x", "page": "0"})
    assert set(response.json()["fields"]) == {"radius", "age", "page"}


async def test_empty_index_answers(client):
    response = await client.get("/api/search", params={"q": "anything", "near": "60623"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 0
    assert body["results"] == []
    assert body["took_ms"] >= 0
