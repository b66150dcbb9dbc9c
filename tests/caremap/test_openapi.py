"""The OpenAPI document is served, and it is built from the route table: a JSON route without an
entry (or an entry without a route) stops the app from being created."""

import re

import pytest
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from caremap import openapi


async def test_the_document_is_served_and_names_every_json_route(app, client):
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    routed = {(method, path) for method, path, _ in openapi.json_routes(app.routes)}
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert routed == documented == set(openapi.OPERATIONS)
    create = document["paths"]["/api/services"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ServiceCreate"
    }
    assert "minimum_age" in document["components"]["schemas"]["ServiceInput"]["properties"]


async def _nothing(request):
    return JSONResponse({})


def test_an_undocumented_route_is_refused():
    routes = [Mount("/api", routes=[Route("/secret/{id:uuid}", _nothing, methods=["GET"])])]
    with pytest.raises(openapi.Undocumented, match=re.escape("GET /api/secret/{id}")):
        openapi.document(routes)
