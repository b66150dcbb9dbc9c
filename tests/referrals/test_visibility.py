"""Who sees a referral at every status: a draft is the school's alone, withdrawn consent closes
the agency's view of the person and the notes, every refused look is audited, and a refused
form writes nothing. (`tests/test_privacy.py` follows the same details through the real
processes' logs, mail and index.)"""

from referrals.models import AuditEntry, HelpRequest, MailOutbox, Referral
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import move, refer
from tests.referrals.test_help_requests import family_asks
from tests.referrals.test_pages import referral_form, sign_in

NOTE = "Grandmother in hospital, rent two months late"


async def agency_sees(loop, referral_id: str) -> dict[str, object]:
    """Everything the agency's side can ask about one referral, by way of asking."""
    partner = loop.partner
    listed = (await partner.get("/api/referrals")).json()
    return {
        "api": (await partner.get(f"/api/referrals/{referral_id}")).status_code,
        "fhir": (await partner.get(f"/api/referrals/{referral_id}/fhir")).status_code,
        "page": (await partner.get(f"/referrals/{referral_id}")).status_code,
        "listed": referral_id in {r["id"] for r in listed["contents"]},
        "total": listed["total_items"],
        "list_page": referral_id[:8].upper() in (await partner.get("/referrals")).text,
        "note": (
            await partner.post(f"/api/referrals/{referral_id}/notes", json={"note": "hello"})
        ).status_code,
        "accept": (await move(partner, {"id": referral_id}, "accepted")).status_code,
    }


HIDDEN = {
    "api": 403,
    "fhir": 403,
    "page": 403,
    "listed": False,
    "total": 0,
    "list_page": False,
    "note": 403,
    "accept": 403,
}


async def test_a_draft_is_the_schools_alone_until_it_is_sent(loop):
    draft = await refer(loop, draft=True, consent=None, note=NOTE)
    assert draft["status"] == "draft"
    assert await agency_sees(loop, draft["id"]) == HIDDEN
    assert await MailOutbox.all().count() == 0  # no email about it either
    own = (await loop.specialist.get("/api/referrals")).json()
    assert [r["id"] for r in own["contents"]] == [draft["id"]]

    # Cancelled as a draft, it never reaches the agency.
    assert (await move(loop.specialist, draft, "cancelled")).status_code == 200
    assert await agency_sees(loop, draft["id"]) == HIDDEN

    # A draft sent with consent becomes the agency's from that moment.
    second = await refer(
        loop,
        draft=True,
        consent={"given_by": "guardian", "method": "verbal", "given_at": "2026-11-20T15:00:00Z"},
    )
    assert await agency_sees(loop, second["id"]) == HIDDEN
    assert (await move(loop.specialist, second, "requested")).status_code == 200
    assert (await Referral.get(id=second["id"])).sent_at is not None
    seen = (await loop.partner.get(f"/api/referrals/{second['id']}")).json()
    assert seen["status"] == "requested"
    listed = (await loop.partner.get("/api/referrals")).json()
    assert [r["id"] for r in listed["contents"]] == [second["id"]]


async def test_withdrawn_consent_closes_the_person_and_the_notes_to_the_agency(loop):
    referral = await refer(loop, note=NOTE)
    await move(loop.partner, referral, "accepted")
    noted = await loop.partner.post(
        f"/api/referrals/{referral['id']}/notes", json={"note": "Called, left a voicemail"}
    )
    assert noted.status_code == 201
    seen = (await loop.partner.get(f"/api/referrals/{referral['id']}")).json()
    assert NOTE in [e["note"] for e in seen["timeline"]]

    withdrawn = await loop.specialist.post(f"/api/referrals/{referral['id']}/consent/withdraw")
    assert withdrawn.status_code == 200
    seen = (await loop.partner.get(f"/api/referrals/{referral['id']}")).json()
    assert set(seen["person"].values()) == {None}
    assert seen["needs"] is None
    assert [e["note"] for e in seen["timeline"]] == [None] * len(seen["timeline"])
    assert seen["notes_hidden"] is True
    # What the record needs stays: the status, the dates, the codes.
    assert seen["status"] == "cancelled"
    assert [e["to"] for e in seen["timeline"] if e["kind"] == "transition"] == [
        "accepted",
        "cancelled",
    ]
    page = await loop.partner.get(f"/referrals/{referral['id']}")
    assert page.status_code == 200
    assert NOTE not in page.text
    assert "voicemail" not in page.text
    assert 'action="/referrals/' + referral["id"] + '/note"' not in page.text
    refused = await loop.partner.post(
        f"/api/referrals/{referral['id']}/notes", json={"note": "One more thing"}
    )
    assert refused.status_code == 403
    fhir = (await loop.partner.get(f"/api/referrals/{referral['id']}/fhir")).text
    assert "J.R." not in fhir
    assert "555-0199" not in fhir

    # The school keeps its own record whole.
    own = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()
    assert NOTE in [e["note"] for e in own["timeline"]]
    assert own["person"]["name"] == "J.R."


async def test_refused_looks_are_audited_like_allowed_ones(loop, app):
    referral = await refer(loop)
    other_agency = await factories.organization()
    outsider_user = await factories.user(other_agency, "partner")
    missing = "00000000-0000-4000-8000-000000000000"
    async with asgi_client(app) as outsider:
        await factories.login(outsider, outsider_user)
        assert (await outsider.get(f"/api/referrals/{referral['id']}")).status_code == 403
        assert (await outsider.get(f"/referrals/{referral['id']}")).status_code == 403
        assert (await outsider.get(f"/api/referrals/{referral['id']}/fhir")).status_code == 403
        assert (await outsider.get(f"/api/referrals/{missing}")).status_code == 404
    refused = await AuditEntry.filter(action="refused").order_by("id")
    assert [(str(e.referral_id), e.actor_user_id) for e in refused] == [
        (referral["id"], outsider_user.id),
        (referral["id"], outsider_user.id),
        (referral["id"], outsider_user.id),
        (missing, outsider_user.id),
    ]
    assert {e.actor_organization_id for e in refused} == {other_agency.id}


async def test_a_refused_form_writes_nothing(loop, app, client):
    """A specialist starts a referral from another school's help request: refused, and no
    referral, no timeline, no mail and no change to the request."""
    other_school = await factories.organization("school")
    asked = await family_asks(client, other_school)
    async with asgi_client(app) as specialist:
        await sign_in(specialist, loop.specialist_user)
        form = await specialist.get(f"/referrals/new?service_id={loop.service.id}")
        data = referral_form(form, help_request=str(asked.id))
        assert (await specialist.post("/referrals/new", data=data)).status_code == 403
        assert (
            await specialist.post("/referrals/new", data={**data, "help_request": "not-an-id"})
        ).status_code == 422
    by_api = await loop.specialist.post(
        "/api/referrals",
        json={
            "service_id": str(loop.service.id),
            "person": {"name": "A.B.", "age_band": "5-10", "contact_method": "school"},
            "needs": ["food-pantry"],
            "consent": {"given_by": "guardian", "method": "verbal",
                        "given_at": "2026-11-20T15:00:00Z"},
            "help_request_id": str(asked.id),
        },
    )  # fmt: skip
    assert by_api.status_code == 403
    assert await Referral.all().count() == 0
    assert await MailOutbox.all().count() == 0
    assert (await HelpRequest.get(id=asked.id)).status == "new"
