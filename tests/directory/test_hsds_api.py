"""The HSDS 3.0 read API (`/hsds/...`): the reference's endpoints, paging shape and parameters,
with every document checked against the official schemas in ../shared/hsds-3.0."""

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from directory.taxonomy import CATEGORIES
from tests import factories
from tests.hsds import SIMPLE, hsds_validator, needs_hsds

PAGE_KEYS = {"total_items", "total_pages", "page_number", "size", "first_page", "last_page"}


def simple_validator(name: str) -> jsonschema.Draft202012Validator:
    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(json.loads((SIMPLE / Path(uri).name).read_text()))

    registry = Registry(retrieve=retrieve)
    schema = json.loads((SIMPLE / f"{name}.json").read_text())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.fixture
async def catalog(app):
    agency = await factories.organization(name="Pilsen Pantry Test")
    pantry = await factories.listing(agency, name="Weekly Grocery Pantry")
    clinic = await factories.listing(agency, name="Legal clinic", categories=["legal-aid"])
    return agency, pantry, clinic


async def test_about(client):
    about = (await client.get("/hsds/")).json()
    assert about["version"] == "3.0"
    assert about["openapi_url"].endswith("openapi.json")


@needs_hsds
async def test_services_list_detail_and_filters(client, catalog):
    agency, pantry, _clinic = catalog
    listed = await client.get("/hsds/services")
    body = listed.json()
    assert set(body) >= PAGE_KEYS
    assert body["total_items"] == 2
    list_schema = hsds_validator("service_list")
    for item in body["contents"]:
        list_schema.validate(item)
        assert "phones" not in item  # one-to-one fields only
    full = (await client.get("/hsds/services", params={"full": "true"})).json()["contents"]
    assert all("service_at_locations" in item for item in full)
    minimal = (await client.get("/hsds/services", params={"minimal": "true"})).json()["contents"]
    assert set(minimal[0]) == {"id", "last_modified"}

    detail = (await client.get(f"/hsds/services/{pantry.id}")).json()
    hsds_validator("service").validate(detail)

    legal = next(c for c in CATEGORIES if c.code == "legal-aid")
    by_term = await client.get("/hsds/services", params={"taxonomy_term_id": str(legal.id)})
    assert [s["name"] for s in by_term.json()["contents"]] == ["Legal clinic"]
    searched = await client.get("/hsds/services", params={"search": "grocery"})
    assert [s["name"] for s in searched.json()["contents"]] == ["Weekly Grocery Pantry"]
    by_org = await client.get("/hsds/services", params={"organization_id": str(agency.id)})
    assert by_org.json()["total_items"] == 2
    later = await client.get("/hsds/services", params={"modified_after": "2999-01-01T00:00:00Z"})
    assert later.json()["total_items"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"full": "maybe"}, "full"),
        ({"modified_after": "last week"}, "modified_after"),
        ({"taxonomy_term_id": "00000000-0000-4000-8000-000000000000"}, "taxonomy_term_id"),
        ({"organization_id": "nope"}, "organization_id"),
        ({"per_page": "0"}, "per_page"),
    ],
)
async def test_bad_parameters_are_named(client, params, field):
    response = await client.get("/hsds/services", params=params)
    assert response.status_code == 422
    assert field in response.json()["fields"]


@needs_hsds
async def test_organizations_and_taxonomy(client, catalog):
    agency, _pantry, _clinic = catalog
    organizations = (await client.get("/hsds/organizations")).json()
    assert set(organizations) >= PAGE_KEYS
    for item in organizations["contents"]:
        hsds_validator("organization_list").validate(item)
    detail = (await client.get(f"/hsds/organizations/{agency.id}")).json()
    hsds_validator("organization").validate(detail)
    assert "referral_email" not in detail

    taxonomy = (await client.get("/hsds/taxonomies")).json()["contents"][0]
    simple_validator("taxonomy").validate(taxonomy)
    assert (await client.get(f"/hsds/taxonomies/{taxonomy['id']}")).json() == taxonomy
    terms = (await client.get("/hsds/taxonomy_terms", params={"per_page": 500})).json()
    assert terms["total_items"] == len(CATEGORIES)
    term_schema = simple_validator("taxonomy_term")
    for term in terms["contents"]:
        term_schema.validate(term)
    one = terms["contents"][-1]
    assert (await client.get(f"/hsds/taxonomy_terms/{one['id']}")).json() == one
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await client.get(f"/hsds/taxonomy_terms/{missing}")).status_code == 404
    assert (await client.get(f"/hsds/services/{missing}")).status_code == 404
