"""The signed-in pages: sign-in, the referral lists and the referral page's forms, through the
real app with its CSRF protection (tokens are read from the pages, as a browser would)."""

import re
from datetime import UTC, datetime

from directory.models import Organization
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import move, refer


def token(page) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)


async def sign_in(client, user, next_path="/referrals"):
    form = await client.get(f"/login?next={next_path}")
    return await client.post(
        "/login",
        data={
            "email": user.email,
            "password": factories.PASSWORD,
            "next": next_path,
            "csrftoken": token(form),
        },
    )


async def test_signed_out_visitors_are_sent_to_sign_in_and_back(app, client):
    organization = await factories.organization("school")
    user = await factories.user(organization, "specialist")
    first = await client.get("/referrals?status=requested")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/referrals%3Fstatus%3Drequested"
    wrong = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": "nope",
            "csrftoken": token(await client.get("/login")),
        },
    )
    assert wrong.status_code == 400
    assert user.email in wrong.text  # the email is kept
    assert "do not match" in wrong.text
    signed = await sign_in(client, user, "/referrals?status=requested")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/referrals?status=requested"
    assert (await client.get("/referrals")).status_code == 200


async def test_sign_in_never_redirects_off_site(app, client):
    user = await factories.user(await factories.organization("school"), "specialist")
    for target in ("https://evil.example.com/", "//evil.example.com/"):
        signed = await sign_in(client, user, target)
        assert signed.headers["location"] == "/referrals"


async def test_the_partner_works_a_referral_on_its_page(loop, app):
    await Organization.filter(id=loop.agency.id).update(referral_email="in@agency.example.org")
    referral = await refer(loop)
    url = f"/referrals/{referral['id']}"
    async with asgi_client(app) as partner:
        await sign_in(partner, loop.partner_user)
        inbox = await partner.get("/referrals")
        assert referral["id"][:8].upper() in inbox.text
        assert re.search(r'aria-current="page">Needs attention <span class="count">1<', inbox.text)
        assert re.search(r'>New <span class="count">1<', inbox.text)  # the tabs' counts
        assert 'id="unread-count"' in inbox.text  # a new referral is new activity
        page = await partner.get(url)
        assert 'id="unread-count"' not in page.text  # opened: seen
        assert page.status_code == 200
        assert "(773) 555-0199" in page.text  # shared by the consent
        assert "Cancel the referral" not in page.text  # the referrer's move, not theirs

        for to, extra in [("accepted", {}), ("in_progress", {})]:
            page = await partner.get(url)
            version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
            moved = await partner.post(
                f"{url}/move",
                data={"to": to, "version": version, "csrftoken": token(page), **extra},
            )
            assert moved.status_code == 303
        page = await partner.get(url)
        stale = await partner.post(
            f"{url}/move",
            data={
                "to": "completed",
                "version": "1",
                "outcome": "service_provided",
                "csrftoken": token(page),
            },
        )
        assert stale.status_code == 409  # shown on the page, not lost
        assert "changed by someone else" in stale.text
        version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
        missing = await partner.post(
            f"{url}/move", data={"to": "completed", "version": version, "csrftoken": token(page)}
        )
        assert missing.status_code == 422
        assert "outcome" in missing.text
        done = await partner.post(
            f"{url}/move",
            data={
                "to": "completed",
                "version": version,
                "outcome": "service_provided",
                "csrftoken": token(page),
            },
        )
        assert done.status_code == 303
        noted = await partner.post(
            f"{url}/note", data={"note": "Family picked up", "csrftoken": token(page)}
        )
        assert noted.status_code == 303
        assert (
            await partner.post(f"{url}/other", data={"csrftoken": token(page)})
        ).status_code == 404

    async with asgi_client(app) as specialist:
        await sign_in(specialist, loop.specialist_user)
        seen = await specialist.get(url)
        assert 'id="referral-status">completed' in seen.text
        assert 'id="referral-outcome">service provided' in seen.text
        assert "Family picked up" in seen.text


async def test_other_organizations_cannot_open_the_page(loop, app):
    referral = await refer(loop)
    outsider = await factories.user(await factories.organization(), "partner")
    async with asgi_client(app) as client:
        await sign_in(client, outsider)
        page = await client.get(f"/referrals/{referral['id']}", headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert "J.R." not in page.text
        inbox = await client.get("/referrals")
        assert referral["id"][:8].upper() not in inbox.text


async def test_pages_without_the_csrf_token_are_refused(loop, app):
    referral = await refer(loop)
    async with asgi_client(app) as partner:
        await sign_in(partner, loop.partner_user)
        refused = await partner.post(
            f"/referrals/{referral['id']}/move", data={"to": "accepted", "version": "1"}
        )
        assert refused.status_code == 403
    seen = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()
    assert seen["status"] == "requested"


async def test_signed_in_pages_speak_spanish_too(loop, app):
    referral = await refer(loop)
    async with asgi_client(app) as partner:
        login = await partner.get("/login?lang=es")
        assert "Iniciar sesión" in login.text
        await sign_in(partner, loop.partner_user)
        inbox = await partner.get("/referrals")
        assert "Derivaciones recibidas" in inbox.text
        assert "1 derivación" in inbox.text
        page = await partner.get(f"/referrals/{referral['id']}")
        assert '<html lang="es" dir="ltr">' in page.text
        assert "Historial" in page.text
        assert "Aceptar" in page.text
        assert 'id="referral-status">enviada' in page.text


def referral_form(page, **changes) -> dict:
    data = {
        "csrftoken": token(page),
        "service_id": re.search(r'name="service_id" value="([^"]+)"', page.text).group(1),
        "person_name": "M.G.",
        "person_age_band": "11-13",
        "person_language": "es",
        "person_contact_method": "phone",
        "person_contact_value": "(773) 555-0123",
        "needs": ["food-pantry"],
        "urgency": "soon",
        "consent_given_by": "guardian",
        "consent_method": "verbal",
        "consent_given_at": "2026-11-20T09:30",
        "consent_shares": ["name", "age_band", "language", "contact", "needs"],
    }
    data.update(changes)
    return data


async def test_a_specialist_refers_from_the_form(loop, app):
    async with asgi_client(app) as specialist:
        await sign_in(specialist, loop.specialist_user)
        page = await specialist.get(f"/referrals/new?service_id={loop.service.id}")
        assert page.status_code == 200
        # Nothing about the family is assumed: the need is chosen, the age band too, and
        # the consent's time starts at now in the district's time zone (UTC in tests).
        assert " checked" not in page.text.split('name="needs"')[1].split("</fieldset>")[0]
        assert '<option value="">Choose an age band</option>' in page.text
        assert 'value="14-17" selected' not in page.text
        now_utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:")
        assert (
            f'name="consent_given_at" type="datetime-local" required value="{now_utc}' in page.text
        )
        bad = await specialist.post(
            "/referrals/new", data=referral_form(page, person_contact_value="call me")
        )
        assert bad.status_code == 422
        assert 'id="person-contact_value-error"' in bad.text
        assert 'value="M.G."' in bad.text  # what was typed is kept
        # Each error is tied to the controls it is about, in plain words and the page's
        # language: no need chosen, nothing the consent shares.
        unchosen = await specialist.post(
            "/referrals/new?lang=es", data=referral_form(bad, needs=[], consent_shares=[])
        )
        assert unchosen.status_code == 422
        assert "elija al menos una opción" in unchosen.text
        assert "List should have" not in unchosen.text
        for name in ("needs", "consent_shares"):
            boxes = re.findall(rf'<input type="checkbox" name="{name}"[^>]*>', unchosen.text)
            assert boxes
            assert all('aria-describedby="' in box for box in boxes), name
        unconsented = await specialist.post(
            "/referrals/new?lang=en", data=referral_form(bad, consent_given_by="")
        )
        assert unconsented.status_code == 422
        assert 'id="consent-error"' in unconsented.text
        sent = await specialist.post("/referrals/new", data=referral_form(bad))
        assert sent.status_code == 303
        referral_url = sent.headers["location"]
        page = await specialist.get(referral_url)
        assert "M.G." in page.text
        assert "Cancel the referral" in page.text
    inbox = (await loop.partner.get("/api/referrals")).json()["contents"]
    assert [r["person"]["name"] for r in inbox] == ["M.G."]
    assert inbox[0]["urgency"] == "soon"


async def test_only_specialists_get_the_referral_form(loop, app):
    async with asgi_client(app) as partner:
        await sign_in(partner, loop.partner_user)
        page = await partner.get(f"/referrals/new?service_id={loop.service.id}")
        assert page.status_code == 403


async def test_each_side_sees_who_it_works_with_and_closing_is_honest(loop, app):
    await Organization.filter(id=loop.agency.id).update(referral_email="intake@agency.example.org")
    referral = await refer(loop)
    url = f"/referrals/{referral['id']}"
    async with asgi_client(app) as partner, asgi_client(app) as specialist:
        await sign_in(partner, loop.partner_user)
        await sign_in(specialist, loop.specialist_user)
        for client in (partner, specialist):
            page = (await client.get(url)).text
            assert "intake@agency.example.org" in page  # the agency's inbox
            assert loop.specialist_user.email in page  # the referrer's work address
            assert loop.school.name in page
            assert "Given by a parent or guardian (verbally)" in page  # what consent covers
        declining = await partner.get(url)
        assert '<option value="">Choose a reason</option>' in declining.text  # no default
        unconfirmed = await partner.post(
            f"{url}/move",
            data={"to": "rejected", "reason": "no_capacity", "version": "1",
                  "csrftoken": token(declining)},
        )  # fmt: skip
        assert unconfirmed.status_code == 422
        assert "confirm" in unconfirmed.text
        for to in ("accepted", "in_progress"):
            await move(loop.partner, referral, to)
        working = (await partner.get(url)).text
        complete = working[working.index('value="completed"') : working.index("Complete</button>")]
        assert "service_provided" in complete
        assert "family_declined" not in complete  # not delivered: not a completion
        without = working[working.index('value="failed"') : working.index("Close without service")]
        assert "family_declined" in without
        assert "service_provided" not in without
        assert f"{loop.partner_user.name} ({loop.agency.name})" in working  # who moved it
    refused = await move(loop.partner, referral, "completed", outcome="family_declined")
    assert refused.status_code == 422
    assert "outcome" in refused.json()["fields"]


async def test_a_specialist_attaches_their_list_to_a_referral(loop, app):
    """The services a specialist gathered (My list) go on the referral as a note with the
    list's link, which holds service ids only."""
    referral = await refer(loop)
    other = await factories.listing(loop.agency, name="Saturday Produce Market")
    async with asgi_client(app) as specialist:
        await sign_in(specialist, loop.specialist_user)
        page = await specialist.get(f"/services/{other.id}")
        await specialist.post(
            "/list/add", data={"csrftoken": token(page), "service_id": str(other.id)}
        )
        opened = await specialist.get(f"/referrals/{referral['id']}")
        assert "Add my list (1 service) as a note" in opened.text
        attached = await specialist.post(
            f"/referrals/{referral['id']}/list", data={"csrftoken": token(opened)}
        )
        assert attached.status_code == 303
        timeline = (await specialist.get(f"/api/referrals/{referral['id']}")).json()["timeline"]
        [note] = [e["note"] for e in timeline if e["kind"] == "note"]
        assert note.startswith("Other services suggested to the family: http")
        assert f"/list?s={other.id}" in note
        await specialist.post("/list/clear", data={"csrftoken": token(opened)})
        empty = await specialist.post(
            f"/referrals/{referral['id']}/list", data={"csrftoken": token(opened)}
        )
        assert empty.status_code == 422
