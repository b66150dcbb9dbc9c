"""The `/hsds` API against the HSDS 3.0 API reference itself: every path of the reference's
`openapi.json` called with every parameter it lists, each answer checked against the response
schema the reference gives, each filter checked to narrow, and every record compared with the
same record in the export (same ids, same fields)."""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from directory.actor import SYSTEM
from directory.geocoding import Geocoder
from directory.hsds_export import export_rows, nest
from directory.hsds_import import import_package
from directory.hsds_package import read_package
from directory.serialize import TAXONOMY_ID
from directory.taxonomy import BY_CODE
from tests import factories
from tests.hsds import EXAMPLES, SCHEMAS, SIMPLE, needs_hsds

pytestmark = needs_hsds

OPENAPI = SIMPLE / "openapi.json"
UK_SERVICE = "ac148810-d857-441c-9679-408f346de14b"  # the official example's service
UK_ORGANIZATION = "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"
UK_LINK = "e94c9f38-1e8f-4564-91d4-d53501ab1765"
UK_TERM = "3f7b145d-84af-42d7-8fae-eaca714b02b2"  # a term of the example's own taxonomy
UK_TAXONOMY = "5c4d79d7-cc55-470e-9f1f-8cad074e4892"
NOWHERE = "00000000-0000-4000-8000-000000000000"


def reference() -> dict[str, Any]:
    return json.loads(OPENAPI.read_text())


def _schema_file(uri: str) -> Path:
    return (SCHEMAS if "/compiled/" in uri else SIMPLE) / Path(uri).name


def response_validator(path: str) -> jsonschema.Draft202012Validator:
    """The reference's 200 schema for a path, its `$ref`s read from the local copies."""
    document = reference()
    schema = copy.deepcopy(
        document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    )
    if path == "/service_at_locations/{id}":
        # The reference names compiled/service.json here; its own description and example are
        # a service at location, which is what is served.
        schema = {"$ref": schema["$ref"].replace("service.json", "service_at_location.json")}
    if "allOf" in schema:
        schema["allOf"] = [document["components"]["schemas"]["Page"]]

    def retrieve(uri: str) -> Resource:
        contents = json.loads(_schema_file(uri).read_text())
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return jsonschema.Draft202012Validator(schema, registry=Registry(retrieve=retrieve))


@pytest.fixture
async def catalog(app):
    """The official example (a UK service with contacts, funding, costs, programs, its own
    taxonomy) beside a Chicago agency with a public and a hidden listing."""
    package = read_package(EXAMPLES / "csv")
    await import_package(
        package, actor=SYSTEM, geocoder=Geocoder(), default_category="mental-health-counseling"
    )
    agency = await factories.organization(name="Pilsen Pantry Test")
    pantry = await factories.listing(
        agency, name="Weekly Grocery Pantry", categories=["food-pantry"]
    )
    hidden = await factories.listing(agency, name="Closed Pantry Secret", status="inactive")
    return agency, pantry, hidden


def sample_values(agency, pantry) -> dict[str, list[str]]:
    """Values for each of the reference's parameters that find something in the catalog."""
    return {
        "search": ["pantry"],
        "page": ["1"],
        "per_page": ["1"],
        "format": ["json", "ndjson"],
        "taxonomy_term_id": [str(BY_CODE["food-pantry"].id)],
        "taxonomy_id": [TAXONOMY_ID],
        "organization_id": [str(agency.id)],
        "modified_after": ["2000-01-01T00:00:00Z"],
        "minimal": ["true", "false"],
        "full": ["true", "false"],
        "full_service": ["true", "false"],
        "top_only": ["true"],
        "parent_id": [str(BY_CODE["food"].id)],
        "postcode": ["60623"],
        "proximity": ["5000"],
    }


def _calls(agency, pantry, hidden):
    """(path as called, reference path, parameters) for every path and every parameter."""
    document = reference()
    ids = {
        "/services/{id}": str(pantry.id),
        "/organizations/{id}": str(agency.id),
        "/service_at_locations/{id}": None,  # filled in by the test, from the pantry's link
        "/taxonomies/{id}": TAXONOMY_ID,
        "/taxonomy_terms/{id}": str(BY_CODE["food-pantry"].id),
    }
    values = sample_values(agency, pantry)
    for path, item in document["paths"].items():
        names = []
        for parameter in item["get"].get("parameters", []):
            if "$ref" in parameter:
                parameter = document["components"]["parameters"][parameter["$ref"].split("/")[-1]]
            names.append(parameter["name"])
        yield path, ids.get(path), {}
        for name in names:
            for value in values[name]:
                given = {name: value}
                if name == "proximity":
                    given["postcode"] = "60623"
                yield path, ids.get(path), given


async def test_every_path_and_parameter_of_the_reference(client, catalog):
    agency, pantry, hidden = catalog
    links = (await client.get("/hsds/service_at_locations", params={"search": "weekly"})).json()
    pantry_link = links["contents"][0]["id"]
    called = set()
    for path, record_id, params in _calls(agency, pantry, hidden):
        url = "/hsds" + path.replace("{id}", record_id or pantry_link)
        response = await client.get(url, params=params)
        assert response.status_code == 200, (url, params, response.text)
        if params.get("format") == "ndjson":
            assert response.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in response.text.splitlines()]
            paged = (await client.get(url, params={"per_page": 100})).json()
            assert [item["id"] for item in lines] == [i["id"] for i in paged["contents"]]
            body: Any = {**paged, "contents": lines}
        else:
            body = response.json()
        if params.get("minimal") == "true":
            # The reference asks for just `id` and its modification time here, while the list
            # schema it names requires `name` and `status`: the description is followed.
            assert all(set(item) == {"id", "last_modified"} for item in body["contents"])
        else:
            problems = [
                f"{list(e.absolute_path)}: {e.message[:200]}"
                for e in response_validator(path).iter_errors(body)
            ]
            assert problems == [], (url, params)
        text = json.dumps(body)
        assert "Closed Pantry Secret" not in text, (url, params)
        assert str(hidden.id) not in text, (url, params)
        called.add((path, *sorted(params)))
    assert len(called) >= 40


@pytest.mark.parametrize(
    "path",
    ["/", "/services", "/organizations", "/taxonomies", "/taxonomy_terms", "/service_at_locations"],
)
async def test_a_parameter_the_endpoint_does_not_take_is_named(client, catalog, path):
    response = await client.get("/hsds" + path, params={"category": "food", "sort": "name"})
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"category", "sort"}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/services", {"taxonomy_id": NOWHERE}, "taxonomy_id"),
        ("/services", {"taxonomy_term_id": NOWHERE}, "taxonomy_term_id"),
        ("/service_at_locations", {"taxonomy_id": NOWHERE}, "taxonomy_id"),
        ("/service_at_locations", {"proximity": "5000"}, "proximity"),
        ("/service_at_locations", {"postcode": "not a zip"}, "postcode"),
        ("/service_at_locations", {"postcode": "60623", "proximity": "far"}, "proximity"),
        ("/taxonomy_terms", {"taxonomy_id": NOWHERE}, "taxonomy_id"),
        ("/taxonomy_terms", {"parent_id": NOWHERE}, "parent_id"),
        ("/taxonomy_terms", {"top_only": "maybe"}, "top_only"),
        ("/organizations", {"full_service": "yes please"}, "full_service"),
        ("/organizations", {"format": "xml"}, "format"),
        ("/services", {"full": "true", "minimal": "true"}, "minimal"),
    ],
)
async def test_values_that_name_nothing_are_refused(client, catalog, path, params, field):
    response = await client.get("/hsds" + path, params=params)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]


async def test_each_filter_narrows(client, catalog):
    async def names(path: str, **params: str) -> list[str]:
        body = (await client.get("/hsds" + path, params={**params, "per_page": 100})).json()
        return sorted(item.get("name") or item["id"] for item in body["contents"])

    every_org = await names("/organizations")
    assert len(every_org) == 2
    assert await names("/organizations", search="pilsen") == ["Pilsen Pantry Test"]
    assert await names("/organizations", search="zzqxv nonsense") == []
    assert await names("/taxonomies", search="zzqxv") == []
    assert len(await names("/taxonomies")) == 2  # caremap's and the example's own
    assert await names("/taxonomy_terms", search="pantry") == [BY_CODE["food-pantry"].name]
    assert await names("/taxonomy_terms", taxonomy_id=UK_TAXONOMY) == []  # its term names another
    assert await names("/taxonomy_terms", parent_id=str(BY_CODE["food"].id)) == sorted(
        c.name for c in BY_CODE.values() if c.parent == "food"
    )
    top = await names("/taxonomy_terms", top_only="true", per_page="500")
    assert BY_CODE["food"].name in top
    assert BY_CODE["food-pantry"].name not in top

    assert await names("/services", taxonomy_term_id=str(BY_CODE["food-pantry"].id)) == [
        "Weekly Grocery Pantry"
    ]
    assert await names("/services", taxonomy_term_id=UK_TERM) == []  # linked to no service
    assert len(await names("/services", taxonomy_id=TAXONOMY_ID)) == 2
    assert await names("/services", organization_id=UK_ORGANIZATION) == ["Community Counselling"]
    assert await names("/services", search="grocery") == ["Weekly Grocery Pantry"]
    assert await names("/services", modified_after="2999-01-01T00:00:00Z") == []

    near = await names("/service_at_locations", postcode="60623", proximity="2000")
    assert near == [(await _link_of(client, "Weekly Grocery Pantry"))]
    assert await names("/service_at_locations", postcode="60601", proximity="1000") == []
    assert await names("/service_at_locations", postcode="60623") == near
    assert await names("/service_at_locations", organization_id=UK_ORGANIZATION) == [UK_LINK]


async def _link_of(client, service_name: str) -> str:
    body = (await client.get("/hsds/service_at_locations", params={"per_page": 100})).json()
    return next(i["id"] for i in body["contents"] if i["service"]["name"] == service_name)


async def test_records_are_served_as_the_export_serves_them(client, catalog):
    """The imported service comes with everything the export gives for it (contacts, funding,
    cost options, required documents, program, attributes), with the same ids and values."""
    exported = nest(await export_rows())
    organization = next(o for o in exported if o["id"] == UK_ORGANIZATION)
    in_export = next(s for s in organization["services"] if s["id"] == UK_SERVICE)
    served = (await client.get(f"/hsds/services/{UK_SERVICE}")).json()
    for key, value in in_export.items():
        if isinstance(value, list):
            assert sorted(i["id"] for i in served[key]) == sorted(i["id"] for i in value), key
            for item in value:
                twin = next(i for i in served[key] if i["id"] == item["id"])
                assert {k: v for k, v in twin.items() if not isinstance(v, list | dict)} == {
                    k: v for k, v in item.items() if not isinstance(v, list | dict)
                }, key
        elif not isinstance(value, dict):
            assert served[key] == value, key
    for key in ("contacts", "funding", "cost_options", "required_documents", "attributes"):
        assert served.get(key), key
    assert served["program"]["id"]
    assert served["organization"]["id"] == UK_ORGANIZATION
    assert served["languages"][0]["id"] == in_export["languages"][0]["id"]

    whole = (await client.get(f"/hsds/organizations/{UK_ORGANIZATION}")).json()
    assert [s["id"] for s in whole["services"]] == [UK_SERVICE]
    assert "contacts" not in whole["services"][0]  # a list item unless full_service
    full = await client.get(f"/hsds/organizations/{UK_ORGANIZATION}", params={"full_service": 1})
    assert full.json()["services"][0]["contacts"] == served["contacts"]
    link = (await client.get(f"/hsds/service_at_locations/{UK_LINK}")).json()
    assert link["service"]["id"] == UK_SERVICE
    assert link["location"]["id"]


async def test_hidden_listings_are_served_to_their_own_organization(client, catalog):
    agency, _pantry, hidden = catalog
    assert (await client.get(f"/hsds/services/{hidden.id}")).status_code in (401, 403)
    editor = await factories.user(agency, "partner")
    headers = await factories.token_headers(editor)
    own = await client.get(f"/hsds/organizations/{agency.id}", headers=headers)
    assert str(hidden.id) in {s["id"] for s in own.json()["services"]}
