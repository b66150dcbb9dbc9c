"""The partner portal: an agency edits only its own listings, through forms with the API's rules."""

import re

from directory.claims import now
from directory.models import ProblemReport, Service
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.test_pages import sign_in, token


def version(page) -> str:
    return re.search(r'name="version" value="(\d+)"', page.text).group(1)


def edit_form(page, **changes) -> dict:
    data = {
        "csrftoken": token(page),
        "version": version(page),
        "name": "Weekly Grocery Pantry",
        "description": "Free groceries every week.",
        "free": "yes",
        "accepts_referrals": "yes",
        "languages": "en, es",
        "status": "active",
        "categories": ["food-pantry"],
    }
    data.update(changes)
    return data


async def test_an_agency_keeps_its_listings_current(app):
    agency = await factories.organization()
    mine = await factories.listing(agency)
    theirs = await factories.listing(await factories.organization(), name="Not ours")
    async with asgi_client(app) as partner:
        await sign_in(partner, await factories.user(agency, "partner"))
        listings = await partner.get("/portal")
        assert "Weekly Grocery Pantry" in listings.text
        assert "Not ours" not in listings.text

        verified = await partner.post(
            f"/portal/services/{mine.id}/verify", data={"csrftoken": token(listings)}
        )
        assert verified.status_code == 303
        assert (await Service.get(id=mine.id)).last_verified_at is not None
        full = await partner.post(
            f"/portal/services/{mine.id}/intake",
            data={"csrftoken": token(listings), "state": "full"},
        )
        assert full.status_code == 303
        assert (await Service.get(id=mine.id)).intake_state == "full"
        unclear = await partner.post(
            f"/portal/services/{mine.id}/intake",
            data={"csrftoken": token(listings), "state": "waitlist", "wait_days": "soon"},
        )
        assert unclear.status_code == 422  # named, not a crash
        assert (await Service.get(id=mine.id)).intake_state == "full"

        form = await partner.get(f"/portal/services/{mine.id}/edit")
        bad = await partner.post(
            f"/portal/services/{mine.id}/edit",
            data=edit_form(form, name="Pantry Plus", languages="en, klingon!", categories=[]),
        )
        assert bad.status_code == 422
        assert 'id="categories-error"' in bad.text
        assert 'value="Pantry Plus"' in bad.text  # kept
        saved = await partner.post(
            f"/portal/services/{mine.id}/edit", data=edit_form(form, name="Pantry Plus")
        )
        assert saved.status_code == 303
        assert (await Service.get(id=mine.id)).name == "Pantry Plus"
        stale = await partner.post(
            f"/portal/services/{mine.id}/edit", data=edit_form(form, name="Old tab")
        )
        assert stale.status_code == 409  # an older form never overwrites a newer edit
        assert (await Service.get(id=mine.id)).name == "Pantry Plus"

        assert (await partner.get(f"/portal/services/{theirs.id}/edit")).status_code == 403
        refused = await partner.post(
            f"/portal/services/{theirs.id}/verify", data={"csrftoken": token(listings)}
        )
        assert refused.status_code == 403


async def test_api_tokens_are_shown_once_and_revocable(app):
    agency = await factories.organization()
    async with asgi_client(app) as partner:
        await sign_in(partner, await factories.user(agency, "partner_admin"))
        page = await partner.get("/portal/tokens")
        created = await partner.post(
            "/portal/tokens", data={"csrftoken": token(page), "name": "Case system"}
        )
        secret = re.search(r'<code id="new-token">([^<]+)</code>', created.text).group(1)
        assert created.headers["cache-control"] == "no-store"
        assert secret not in (await partner.get("/portal/tokens")).text
        async with asgi_client(app) as system:
            system.headers["Authorization"] = f"Bearer {secret}"
            assert (await system.get("/api/referrals")).status_code == 200
            token_id = re.search(r'name="revoke" value="([^"]+)"', created.text).group(1)
            await partner.post(
                "/portal/tokens", data={"csrftoken": token(page), "revoke": token_id}
            )
            assert (await system.get("/api/referrals")).status_code == 401


async def test_the_portal_is_for_partners(app):
    async with asgi_client(app) as specialist:
        await sign_in(
            specialist, await factories.user(await factories.organization("school"), "specialist")
        )
        assert (await specialist.get("/portal", headers={"Accept": "text/html"})).status_code == 403
    async with asgi_client(app) as anonymous:
        assert (await anonymous.get("/portal")).headers["location"] == "/login?next=/portal"


async def test_phones_hours_areas_and_sites_are_added_and_removed(app):
    agency = await factories.organization()
    mine = await factories.listing(agency)
    url = f"/portal/services/{mine.id}"
    async with asgi_client(app) as partner:
        await sign_in(partner, await factories.user(agency, "partner"))
        page = await partner.get(f"{url}/edit")
        csrf = {"csrftoken": token(page)}
        bad = await partner.post(f"{url}/parts/phone", data={**csrf, "number": "call us"})
        assert bad.status_code == 422
        assert 'id="phone-number-error"' in bad.text
        assert 'value="call us"' in bad.text
        for kind, data in [
            ("phone", {"number": "(773) 555-0142", "description": "Front desk"}),
            ("schedule", {"byday": ["MO", "WE"], "opens_at": "09:00", "closes_at": "17:00"}),
            ("service_area", {"name": "Pilsen", "extent_type": "postal_code", "extent": "60608"}),
            (
                "location",
                {
                    "name": "Annex",
                    "address_1": "1800 S Blue Island Ave",
                    "city": "Chicago",
                    "state_province": "IL",
                    "postal_code": "60608",
                },
            ),
        ]:
            added = await partner.post(f"{url}/parts/{kind}", data={**csrf, **data})
            assert added.status_code == 303, (kind, added.text[:300])
        page = await partner.get(f"{url}/edit")
        for shown in ("(773) 555-0142", "Front desk", "09:00", "Pilsen", "1800 S Blue Island Ave"):
            assert shown in page.text
        public = (await partner.get(f"/api/services/{mine.id}")).json()
        assert public["phones"][0]["number"] == "(773) 555-0142"
        assert len(public["service_at_locations"]) == 2
        phone = public["phones"][0]
        removed = await partner.post(
            f"{url}/parts/phone",
            data={**csrf, "remove": phone["id"], "version": str(phone["version"])},
        )
        assert removed.status_code == 303
        assert (await partner.get(f"/api/services/{mine.id}")).json().get("phones", []) == []
        assert (await partner.post(f"{url}/parts/spaceship", data=csrf)).status_code == 404


async def test_the_change_history_says_who_changed_what(app):
    agency = await factories.organization()
    mine = await factories.listing(agency)
    editor = await factories.user(agency, "partner")
    async with asgi_client(app) as partner:
        await sign_in(partner, editor)
        form = await partner.get(f"/portal/services/{mine.id}/edit")
        await partner.post(
            f"/portal/services/{mine.id}/edit", data=edit_form(form, name="Pantry Plus")
        )
        page = await partner.get(f"/portal/services/{mine.id}/edit")
        assert f"<td>{editor.name}</td><td>edited (service): name</td>" in page.text
        history = (await partner.get(f"/api/services/{mine.id}/history")).json()["contents"]
        assert history[0]["changed_fields"] == ["name"]
        assert history[0]["actor_user_id"] == str(editor.id)
        assert history[-1]["action"] == "create"
    outsider = await factories.user(await factories.organization(), "partner")
    async with asgi_client(app) as other:
        await sign_in(other, outsider)
        assert (await other.get(f"/api/services/{mine.id}/history")).status_code == 403
    async with asgi_client(app) as anonymous:
        assert (await anonymous.get(f"/api/services/{mine.id}/history")).status_code == 401


async def test_the_listing_page_shows_freshness_flags_and_problems_to_resolve(app, client):
    agency = await factories.organization()
    mine = await factories.listing(agency)
    partner_user = await factories.user(agency, "partner")
    await Service.filter(id=mine.id).update(
        stale_since=now(), review_signals={"no_capacity": 3}, review_requested_at=now()
    )
    public = await client.get(f"/services/{mine.id}")
    form = {"csrftoken": token(public), "kind": "wrong_hours", "details": "Closed at 4 now."}
    assert (await client.post(f"/services/{mine.id}/report", data=form)).status_code == 303

    async with asgi_client(app) as partner:
        await sign_in(partner, partner_user)
        listings = await partner.get("/portal")
        assert "Not recently verified" in listings.text
        page = await partner.get(f"/portal/services/{mine.id}/edit")
        assert "marked as not recently verified" in page.text
        assert "no capacity: 3" in page.text
        assert "the opening hours are wrong" in page.text
        assert "Closed at 4 now." in page.text
        assert "problem reported (problem report)" in page.text  # the history names the action

        [report] = await ProblemReport.all()
        resolved = await partner.post(
            f"/portal/problems/{report.id}/resolve",
            data={
                "csrftoken": token(page),
                "resolution": "Updated the hours.",
                "next": f"/portal/services/{mine.id}/edit",
            },
        )
        assert resolved.status_code == 303
        assert resolved.headers["location"] == f"/portal/services/{mine.id}/edit"
        verified = await partner.post(
            f"/portal/services/{mine.id}/verify", data={"csrftoken": token(page), "next": "edit"}
        )
        assert verified.headers["location"] == f"/portal/services/{mine.id}/edit"
        page = await partner.get(f"/portal/services/{mine.id}/edit")
        assert "confirmed still accurate" in page.text
        assert "Test partner" in page.text  # who verified it
        assert "no capacity: 3" not in page.text
        assert "Not recently verified" not in (await partner.get("/portal")).text

        history = await partner.get("/portal/problems?status=all")
        assert "Updated the hours." in history.text
        assert "0 open reports" in history.text

    async with asgi_client(app) as specialist:
        await sign_in(
            specialist, await factories.user(await factories.organization("school"), "specialist")
        )
        assert (await specialist.get("/portal/problems")).status_code == 403
    async with asgi_client(app) as outsider:
        await sign_in(outsider, await factories.user(await factories.organization(), "partner"))
        assert "Closed at 4 now." not in (await outsider.get("/portal/problems?status=all")).text
        refused = await outsider.post(
            f"/portal/problems/{report.id}/resolve",
            data={"csrftoken": token(await outsider.get("/portal/tokens")), "resolution": "mine"},
        )
        assert refused.status_code == 403


async def test_existing_hours_phones_and_areas_are_shown_edited_and_removed_where_they_are(app):
    """Each site's hours are with the site: shown, changed and removed there; a phone is
    edited in place; the partner never has to delete and re-enter a row to fix it."""
    agency = await factories.organization()
    mine = await factories.listing(
        agency,
        phones=[{"number": "773-555-0100", "description": "Front desk"}],
        schedules=[{"byday": "MO", "opens_at": "09:00", "closes_at": "12:00"}],
    )
    [link] = mine.service_at_locations
    url = f"/portal/services/{mine.id}"
    async with asgi_client(app) as partner:
        await sign_in(partner, await factories.user(agency, "partner"))
        page = await partner.get(f"{url}/edit")
        csrf = {"csrftoken": token(page)}
        site_hours = {"location_id": str(link.location_id), "byday": ["SA"],
                      "opens_at": "10:00", "closes_at": "14:00"}  # fmt: skip
        assert (
            await partner.post(f"{url}/parts/schedule", data={**csrf, **site_hours})
        ).status_code == 303
        document = (await partner.get(f"/api/services/{mine.id}")).json()
        [site] = document["service_at_locations"]
        [at_site] = site["schedules"]
        assert (at_site["byday"], at_site["opens_at"]) == ("SA", "10:00")
        page = await partner.get(f"{url}/edit")
        assert f'name="edit" value="{at_site["id"]}"' in page.text  # its own form, at the site
        assert (
            'id="opens-' + at_site["id"] + '" name="opens_at" type="time" value="10:00"'
            in page.text
        )

        changed = await partner.post(
            f"{url}/parts/schedule",
            data={**csrf, "edit": at_site["id"], "version": str(at_site["version"]),
                  "byday": ["SA", "SU"], "opens_at": "11:00", "closes_at": "15:00"},
        )  # fmt: skip
        assert changed.status_code == 303, changed.text[:300]
        stale = await partner.post(
            f"{url}/parts/schedule",
            data={**csrf, "edit": at_site["id"], "version": str(at_site["version"]),
                  "byday": ["MO"], "opens_at": "08:00", "closes_at": "09:00"},
        )  # fmt: skip
        assert stale.status_code == 409  # an older form never overwrites a newer edit
        [phone] = document["phones"]
        fixed = await partner.post(
            f"{url}/parts/phone",
            data={**csrf, "edit": phone["id"], "version": str(phone["version"]),
                  "number": "773-555-0199", "description": "Intake line"},
        )  # fmt: skip
        assert fixed.status_code == 303
        document = (await partner.get(f"/api/services/{mine.id}")).json()
        [at_site] = document["service_at_locations"][0]["schedules"]
        assert (at_site["byday"], at_site["opens_at"], at_site["closes_at"]) == (
            "SA,SU",
            "11:00",
            "15:00",
        )
        assert document["phones"][0]["number"] == "773-555-0199"
        removed = await partner.post(
            f"{url}/parts/schedule",
            data={**csrf, "remove": at_site["id"], "version": str(at_site["version"])},
        )
        assert removed.status_code == 303
        document = (await partner.get(f"/api/services/{mine.id}")).json()
        assert document["service_at_locations"][0].get("schedules", []) == []
        assert [s["byday"] for s in document["schedules"]] == ["MO"]  # the service's own stay


async def test_areas_and_languages_are_changed_in_place_and_capacity_shows_publicly(app, client):
    agency = await factories.organization()
    mine = await factories.listing(
        agency,
        languages=["en", "es"],
        service_areas=[{"name": "Little Village", "extent_type": "postal_code", "extent": "60623"}],
    )
    url = f"/portal/services/{mine.id}"
    async with asgi_client(app) as partner:
        await sign_in(partner, await factories.user(agency, "partner"))
        page = await partner.get(f"{url}/edit")
        assert 'name="languages" value="es" checked' in page.text  # shown as ticked boxes
        assert 'name="languages" value="vi">' in page.text  # common ones offered
        [area] = (await partner.get(f"/api/services/{mine.id}")).json()["service_areas"]
        assert f'id="area-extent-{area["id"]}" name="extent" value="60623"' in page.text

        moved = await partner.post(
            f"{url}/parts/service_area",
            data={"csrftoken": token(page), "edit": area["id"], "version": str(area["version"]),
                  "name": "Pilsen", "extent_type": "postal_code", "extent": "60608"},
        )  # fmt: skip
        assert moved.status_code == 303
        wrong = await partner.post(
            f"{url}/parts/service_area",
            data={"csrftoken": token(page), "edit": area["id"], "version": str(area["version"]+1),
                  "name": "Pilsen", "extent_type": "postal_code", "extent": "six"},
        )  # fmt: skip
        assert wrong.status_code == 422
        assert "5-digit ZIP code" in wrong.text
        [area] = (await partner.get(f"/api/services/{mine.id}")).json()["service_areas"]
        assert (area["name"], area["extent"]) == ("Pilsen", "60608")

        page = await partner.get(f"{url}/edit")
        saved = await partner.post(
            f"{url}/edit",
            data=edit_form(page, languages=["es", "vi"], other_languages="hmn, ne"),
        )
        assert saved.status_code == 303
        languages = (await partner.get(f"/api/services/{mine.id}")).json()["languages"]
        assert [language["code"] for language in languages] == ["es", "vi", "hmn", "ne"]

        listings = await partner.get("/portal")
        waitlist = await partner.post(
            f"{url}/intake",
            data={"csrftoken": token(listings), "state": "waitlist", "wait_days": "21"},
        )
        assert "saved=intake" in waitlist.headers["location"]
        assert "Capacity saved." in (await partner.get(waitlist.headers["location"])).text
    public = await client.get(f"/services/{mine.id}")
    assert "Waitlist:" in public.text
    assert "Expected wait: about 21 days." in public.text
    spanish = await client.get(f"/services/{mine.id}", params={"lang": "es"})
    assert "Lista de espera:" in spanish.text
