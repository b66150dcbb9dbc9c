"""Optimistic locking: a stale version gets 409 and never overwrites a newer edit."""

import asyncio

from directory import service
from directory.errors import Conflict
from directory.models import Service
from tests import factories


async def test_stale_if_match_gets_409(app, client):
    organization = await factories.organization()
    await factories.login(client, await factories.user(organization, "partner"))
    listing = await factories.listing(organization)
    url = f"/api/services/{listing.id}"
    first = await client.patch(url, json={"name": "Edited by Ana"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    second = await client.patch(url, json={"name": "Edited by Luis"}, headers={"If-Match": '"1"'})
    assert second.status_code == 409
    assert second.json()["current_version"] == 2
    assert (await client.get(url)).json()["name"] == "Edited by Ana"


async def test_version_in_body_works_too(app, client):
    organization = await factories.organization()
    await factories.login(client, await factories.user(organization, "partner"))
    listing = await factories.listing(organization)
    url = f"/api/services/{listing.id}"
    assert (await client.patch(url, json={"free": False, "version": 1})).status_code == 200
    stale = await client.request("DELETE", url, json={"version": 1})
    assert stale.status_code == 409
    assert (await client.request("DELETE", url, json={"version": 2})).status_code == 204


async def test_racing_editors_one_wins(app):
    organization = await factories.organization()
    editor = factories.actor(await factories.user(organization, "partner"))
    listing = await factories.listing(organization)

    async def edit(name: str) -> str:
        try:
            await service.update_service(
                actor=editor, service_id=listing.id, version=1, data={"name": name}
            )
        except Conflict:
            return "conflict"
        return "ok"

    results = await asyncio.gather(edit("A"), edit("B"))
    assert sorted(results) == ["conflict", "ok"]
    stored = await Service.get(id=listing.id)
    assert stored.version == 2
    assert stored.name == ("A" if results[0] == "ok" else "B")


async def test_part_versions(app, client):
    organization = await factories.organization()
    await factories.login(client, await factories.user(organization, "partner"))
    listing = await factories.listing(organization)
    phone = (
        await client.post(f"/api/services/{listing.id}/phones", json={"number": "773-555-0111"})
    ).json()
    url = f"/api/phones/{phone['id']}"
    assert (
        await client.patch(url, json={"description": "Front desk", "version": 1})
    ).status_code == 200
    assert (await client.patch(url, json={"description": "Old", "version": 1})).status_code == 409
