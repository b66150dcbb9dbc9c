"""Referrals through the real app: the loop, consent, the transition table and tenancy."""

import asyncio

import pytest

from referrals.lifecycle import OUTCOMES_FOR, TRANSITIONS
from referrals.models import Referral, ReferralEvent, ReferralStatus
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import CONSENT, PERSON, move, refer, referral_body
from tests.search_index.conftest import indexed


async def test_consent_is_required_to_send(loop):
    body = referral_body(loop)
    del body["consent"]
    refused = await loop.specialist.post("/api/referrals", json=body)
    assert refused.status_code == 422
    assert "consent" in refused.json()["fields"]
    draft = await refer(loop, consent=None, draft=True)
    assert draft["status"] == "draft"
    send = await move(loop.specialist, draft, "requested")
    assert send.status_code == 422
    assert "consent" in send.json()["fields"]


@pytest.mark.parametrize(
    ("person", "field"),
    [
        ({**PERSON, "date_of_birth": "2010-01-01"}, "person.date_of_birth"),
        ({**PERSON, "student_id": "12345"}, "person.student_id"),
        ({**PERSON, "contact_value": "call me"}, "person.contact_value"),
        ({**PERSON, "contact_method": "email", "contact_value": "nope"}, "person.contact_value"),
        ({**PERSON, "age_band": "16"}, "person.age_band"),
    ],
)
async def test_minimum_personal_data(loop, person, field):
    response = await loop.specialist.post("/api/referrals", json=referral_body(loop, person=person))
    assert response.status_code == 422
    assert field in response.json()["fields"]


async def test_only_services_taking_referrals(loop):
    other = await factories.listing(loop.agency, name="No referrals", accepts_referrals=False)
    response = await loop.specialist.post(
        "/api/referrals", json=referral_body(loop, service_id=str(other.id))
    )
    assert response.status_code == 422
    assert "service_id" in response.json()["fields"]


async def test_illegal_moves_get_409_with_the_allowed_ones(loop):
    referral = await refer(loop)
    response = await move(loop.partner, referral, "completed", outcome="service_provided")
    assert response.status_code == 409
    assert sorted(response.json()["allowed"]) == ["accepted", "cancelled", "received", "rejected"]


async def test_each_side_makes_only_its_moves(loop):
    referral = await refer(loop)
    assert (await move(loop.specialist, referral, "accepted")).status_code == 403
    assert (await move(loop.partner, referral, "cancelled")).status_code == 403
    assert (await move(loop.specialist, referral, "cancelled")).status_code == 200


async def test_reasons_and_outcomes_are_required(loop):
    referral = await refer(loop)
    missing = await move(loop.partner, referral, "rejected")
    assert missing.status_code == 422
    assert "reason" in missing.json()["fields"]
    assert (await move(loop.partner, referral, "rejected", reason="no_capacity")).status_code == 200
    other = await refer(loop)
    await move(loop.partner, other, "accepted")
    bad = await move(loop.partner, other, "failed", outcome="gave up")
    assert "outcome" in bad.json()["fields"]


async def test_stale_version_gets_409(loop):
    referral = await refer(loop)
    url = f"/api/referrals/{referral['id']}/transitions"
    assert (await loop.partner.post(url, json={"to": "received", "version": 1})).status_code == 200
    stale = await loop.partner.post(url, json={"to": "accepted", "version": 1})
    assert stale.status_code == 409


async def test_every_table_move_is_reachable_by_its_party(loop):
    """Each (from, to) in the table: the right party succeeds."""
    starts = {
        ReferralStatus.DRAFT: [],
        ReferralStatus.REQUESTED: [],
        ReferralStatus.RECEIVED: ["received"],
        ReferralStatus.ACCEPTED: ["accepted"],
        ReferralStatus.IN_PROGRESS: ["accepted", "in_progress"],
        ReferralStatus.ON_HOLD: ["accepted", "on_hold"],
    }
    for (start, target), rule in TRANSITIONS.items():
        draft = start is ReferralStatus.DRAFT
        referral = await refer(loop, draft=draft)
        for step in starts[start]:
            assert (await move(loop.partner, referral, step)).status_code == 200
        client = loop.partner if rule.by.value == "receiver" else loop.specialist
        extra = {"reason": "other"} if rule.needs_reason else {}
        extra |= {"outcome": OUTCOMES_FOR[target][-1]} if rule.needs_outcome else {}
        response = await move(client, referral, target.value, **extra)
        assert response.status_code == 200, (start, target, response.text)


async def test_other_organizations_are_refused(loop, app):
    referral = await refer(loop)
    other_agency = await factories.organization()
    other_school = await factories.organization("school")
    for organization, role in [
        (other_agency, "partner"),
        (other_school, "specialist"),
        (other_agency, "partner_admin"),
    ]:
        async with asgi_client(app) as outsider:
            await factories.login(outsider, await factories.user(organization, role))
            base = f"/api/referrals/{referral['id']}"
            assert (await outsider.get(base)).status_code == 403
            assert (
                await outsider.post(f"{base}/transitions", json={"to": "accepted", "version": 1})
            ).status_code == 403
            assert (await outsider.post(f"{base}/notes", json={"note": "hi"})).status_code == 403
            assert (await outsider.post(f"{base}/consent/withdraw")).status_code == 403
            assert (await outsider.get("/api/referrals")).json()["contents"] == []
    async with asgi_client(app) as anonymous:
        assert (await anonymous.get(f"/api/referrals/{referral['id']}")).status_code == 401
        assert (await anonymous.get("/api/referrals")).status_code == 401
    events = await ReferralEvent.filter(referral_id=referral["id"]).count()
    assert events == 1


async def test_partners_cannot_make_referrals(loop):
    response = await loop.partner.post("/api/referrals", json=referral_body(loop))
    assert response.status_code == 403


async def test_withdrawing_consent_stops_and_hides(loop):
    referral = await refer(loop)
    assert (
        await loop.partner.post(f"/api/referrals/{referral['id']}/consent/withdraw")
    ).status_code == 403
    withdrawn = await loop.specialist.post(f"/api/referrals/{referral['id']}/consent/withdraw")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "cancelled"
    seen = (await loop.partner.get(f"/api/referrals/{referral['id']}")).json()
    assert seen["person"]["contact_value"] is None
    assert seen["person"]["contact_method"] is None
    assert (await move(loop.partner, referral, "accepted")).status_code == 409


async def test_the_agency_sees_only_what_consent_shares(loop):
    referral = await refer(loop, consent={**CONSENT, "shares": ["age_band", "needs"]})
    seen = (await loop.partner.get(f"/api/referrals/{referral['id']}")).json()
    assert seen["person"] == {
        "name": None,
        "age_band": "14-17",
        "preferred_language": None,
        "contact_method": None,
        "contact_value": None,
        "contact_times": None,
    }
    assert seen["needs"] == ["food-pantry"]
    listed = (await loop.partner.get("/api/referrals")).json()["contents"][0]
    assert listed["person"]["name"] is None
    own = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()
    assert own["person"]["name"] == "J.R."
    assert own["person"]["contact_value"] == "(773) 555-0199"


async def test_notes_and_timeline_are_append_only(loop):
    referral = await refer(loop)
    noted = await loop.partner.post(
        f"/api/referrals/{referral['id']}/notes", json={"note": "Left a voicemail"}
    )
    assert noted.status_code == 201
    assert noted.json()["timeline"][-1]["note"] == "Left a voicemail"
    for method in ("PATCH", "PUT", "DELETE"):
        response = await loop.partner.request(method, f"/api/referrals/{referral['id']}")
        assert response.status_code == 405


async def test_list_filters(loop):
    first = await refer(loop)
    await refer(loop)
    await move(loop.partner, first, "accepted")
    accepted = (await loop.specialist.get("/api/referrals?status=accepted")).json()
    assert [r["id"] for r in accepted["contents"]] == [first["id"]]
    assert (await loop.specialist.get("/api/referrals?status=bogus")).status_code == 422
    assert (await loop.specialist.get("/api/referrals?overdue=true")).json()["total_items"] == 0


async def test_capacity_is_shown_and_full_services_need_confirmation(loop, app):
    url = f"/api/services/{loop.service.id}/intake"
    assert (await loop.partner.put(url, json={"state": "waitlist"})).status_code == 422
    assert (await loop.partner.put(url, json={"state": "closed"})).status_code == 422
    waitlist = await loop.partner.put(url, json={"state": "waitlist", "wait_days": 21})
    assert waitlist.status_code == 200
    assert waitlist.json()["intake"]["state"] == "waitlist"
    assert waitlist.json()["intake"]["wait_days"] == 21
    assert (await loop.partner.put(url, json={"state": "full"})).status_code == 200
    refused = await loop.specialist.post("/api/referrals", json=referral_body(loop))
    assert refused.status_code == 422
    assert "confirm_full" in refused.json()["fields"]
    confirmed = await loop.specialist.post(
        "/api/referrals", json=referral_body(loop, confirm_full=True)
    )
    assert confirmed.status_code == 201
    await indexed()
    found = (await loop.specialist.get("/api/search", params={"q": "pantry"})).json()
    assert found["results"][0]["intake"] == {"state": "full", "wait_days": None}


async def test_needs_are_category_codes(loop):
    response = await loop.specialist.post(
        "/api/referrals", json=referral_body(loop, needs=["food-pantry", "time-travel"])
    )
    assert response.status_code == 422
    assert "time-travel" in response.json()["fields"]["needs"]


async def test_agency_systems_close_the_loop_with_api_tokens(loop, app):
    """An agency's own case system, holding a partner's API token and no session cookie."""
    referral = await refer(loop)
    async with asgi_client(app) as system:
        system.headers.update(await factories.token_headers(loop.partner_user))
        listed = (await system.get("/api/referrals", params={"status": "requested"})).json()
        assert [r["id"] for r in listed["contents"]] == [referral["id"]]
        for step, extra in [
            ("accepted", {}),
            ("in_progress", {}),
            ("completed", {"outcome": "service_provided"}),
        ]:
            assert (await move(system, referral, step, **extra)).status_code == 200
        noted = await system.post(
            f"/api/referrals/{referral['id']}/notes", json={"note": "Closed in our system"}
        )
        assert noted.status_code == 201
    seen = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()
    assert seen["status"] == "completed"
    partner_id = str(loop.partner_user.id)
    assert {e["actor_user_id"] for e in seen["timeline"][1:]} == {partner_id}

    other = await factories.user(await factories.organization(), "partner_admin")
    async with asgi_client(app) as outsider:
        outsider.headers.update(await factories.token_headers(other))
        assert (await outsider.get(f"/api/referrals/{referral['id']}")).status_code == 403
        assert (await outsider.get("/api/referrals")).json()["contents"] == []
        refused = await outsider.post(
            f"/api/referrals/{referral['id']}/notes", json={"note": "peeking"}
        )
        assert refused.status_code == 403
    async with asgi_client(app) as forged:
        forged.headers["Authorization"] = "Bearer not-a-real-token"
        assert (await forged.get("/api/referrals")).status_code == 401


async def test_two_partners_moving_one_referral_at_once_one_wins(loop, app):
    """Two staff of the agency answer the same referral at the same moment: one move lands,
    the other gets 409, and the timeline holds exactly the move that landed."""
    referral = await refer(loop)
    colleague = asgi_client(app)
    await factories.login(colleague, await factories.user(loop.agency, "partner"))
    accept = {"to": "accepted", "version": 1}
    reject = {"to": "rejected", "version": 1, "reason": "no_capacity"}
    url = f"/api/referrals/{referral['id']}/transitions"
    first, second = await asyncio.gather(
        loop.partner.post(url, json=accept), colleague.post(url, json=reject)
    )
    await colleague.aclose()
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner = first if first.status_code == 200 else second
    loser = second if winner is first else first
    assert loser.json()["error"] == "conflict"
    stored = await Referral.get(id=referral["id"])
    assert (stored.status.value, stored.version) == (winner.json()["status"], 2)
    moves = await ReferralEvent.filter(referral_id=referral["id"], kind="transition")
    assert [m.to_status for m in moves] == [winner.json()["status"]]


async def test_completing_means_the_service_was_delivered(loop):
    """An outcome that is no delivery closes the referral without service, never "completed"."""
    referral = await refer(loop)
    for step in ("accepted", "in_progress"):
        await move(loop.partner, referral, step)
    for outcome in OUTCOMES_FOR[ReferralStatus.FAILED]:
        refused = await move(loop.partner, referral, "completed", outcome=outcome)
        assert refused.status_code == 422
        assert refused.json()["fields"]["outcome"] == "one of service_provided, partially_provided"
    delivered = await move(loop.partner, referral, "completed", outcome="partially_provided")
    assert delivered.status_code == 200
