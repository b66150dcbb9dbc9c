"""Listing freshness and quality against a real SMTP server, with `at` standing in for the clock:
stale marking and the reminders before and at it, re-verification flags from referral outcomes,
and problem reports from the public, each told to the right people and tracked until closed."""

from dataclasses import replace
from datetime import timedelta

import pytest

from caremap.mail import mail_drainer, sweep_once
from directory.claims import now
from directory.models import ListingChange, Organization, ProblemReport, Service
from referrals.models import MailOutbox
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import move, refer
from tests.referrals.test_pages import token
from tests.smtp import all_text

AGENCY_MAIL = "office@agency.example.org"


@pytest.fixture
async def agency_mail(loop):
    await Organization.filter(id=loop.agency.id).update(email=AGENCY_MAIL)


async def sent_after(mail, at) -> int:
    """Run the sweep and the mail drainer at `at`; returns how many emails went out."""
    await sweep_once(mail, at)
    return await mail_drainer(mail).drain_all(at=max(at, now()))  # rows queued just now too


async def actions(service_id) -> list[str]:
    rows = await ListingChange.filter(service_id=service_id).order_by("id")
    return [row.action for row in rows]


async def test_reminded_before_marked_stale_at_and_reset_by_still_accurate(
    loop, mail, smtp_server, agency_mail, client
):
    service = loop.service
    verified = now() - timedelta(days=1)
    await Service.filter(id=service.id).update(last_verified_at=verified)
    public = f"/api/services/{service.id}"

    assert await sent_after(mail, verified + timedelta(days=165)) == 0
    assert smtp_server.messages == []

    # 14 days before: one reminder, however often the sweep runs.
    assert await sent_after(mail, verified + timedelta(days=167)) == 1
    assert await sent_after(mail, verified + timedelta(days=170)) == 0
    [reminder] = smtp_server.messages
    assert reminder["To"] == AGENCY_MAIL
    assert reminder["Subject"] == f"Please check your listing: {service.name}"
    text = all_text(reminder)
    stale_on = (verified + timedelta(days=180)).strftime("%B %-d, %Y")
    assert stale_on in text
    assert f"http://testserver/portal/services/{service.id}/edit" in text
    document = (await client.get(public)).json()
    assert document["stale"] is False

    # At 180 days: marked stale (recorded, so search re-ranks it) and told once more.
    assert await sent_after(mail, verified + timedelta(days=181)) == 1
    assert await sent_after(mail, verified + timedelta(days=182)) == 0
    stale = smtp_server.messages[-1]
    assert stale["Subject"] == f"Your listing is no longer marked as verified: {service.name}"
    assert "180 days" in all_text(stale)
    document = (await client.get(public)).json()
    assert document["stale"] is True
    assert document["stale_since"].startswith((verified + timedelta(days=181)).date().isoformat())
    assert "stale" in await actions(service.id)
    page = await client.get(f"/services/{service.id}")
    assert "may be out of date" in page.text
    assert verified.date().isoformat() in page.text

    # "Still accurate" restarts the clock: not stale, nothing due until the next period.
    response = await loop.partner.post(f"/api/services/{service.id}/verify")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["stale"] is False
    assert document["verified_by"] == "staff"
    fresh = await Service.get(id=service.id)
    assert fresh.last_verified_by == loop.partner_user.id
    assert fresh.last_verified_at > verified + timedelta(days=1)
    assert await sent_after(mail, now() + timedelta(days=100)) == 0
    assert await sent_after(mail, now() + timedelta(days=167)) == 1
    assert smtp_server.messages[-1]["Subject"].startswith("Please check your listing")
    assert len(smtp_server.messages) == 3


async def test_a_partners_edit_vouches_for_the_listing_and_caremaps_own_writes_do_not(loop, mail):
    service = loop.service
    long_ago = now() - timedelta(days=200)
    await Service.filter(id=service.id).update(last_verified_at=long_ago)
    await sweep_once(mail)
    assert (await Service.get(id=service.id)).stale_since is not None

    response = await loop.partner.patch(
        f"/api/services/{service.id}",
        json={"description": "Now open on Saturdays too.", "version": 1},
    )
    assert response.status_code == 200, response.text
    edited = await Service.get(id=service.id)
    assert edited.stale_since is None
    assert edited.last_verified_by == loop.partner_user.id
    assert edited.last_verified_at > now() - timedelta(minutes=1)

    # The sweep's own change (marking stale) vouches for nothing: it stays stale.
    await Service.filter(id=service.id).update(last_verified_at=long_ago)
    await sweep_once(mail)
    after = await Service.get(id=service.id)
    assert after.stale_since is not None
    assert after.last_verified_at == long_ago


async def test_a_longer_period_unmarks_listings_that_are_fresh_again(loop, mail):
    service = loop.service
    never_verified = await factories.listing(loop.agency, name="Never verified")
    await Service.filter(id=service.id).update(last_verified_at=now() - timedelta(days=200))
    await Service.filter(id=never_verified.id).update(
        last_verified_at=None, created_at=now() - timedelta(days=200)
    )
    await sweep_once(mail)
    for listing in (service, never_verified):
        assert (await Service.get(id=listing.id)).stale_since is not None
    await sweep_once(replace(mail, listing_stale_days=365))
    for listing in (service, never_verified):
        assert (await Service.get(id=listing.id)).stale_since is None
        assert (await actions(listing.id))[-2:] == ["stale", "fresh"]


async def _closed(loop, outcome: str) -> None:
    referral = await refer(loop)
    await move(loop.partner, referral, "accepted")
    await move(loop.partner, referral, "in_progress")
    response = await move(loop.partner, referral, "failed", outcome=outcome)
    assert response.status_code == 200, response.text


async def test_repeated_failed_referrals_flag_the_listing_and_tell_its_organization(
    loop, mail, smtp_server, agency_mail
):
    service = loop.service
    rejected = await refer(loop)
    response = await move(loop.partner, rejected, "rejected", reason="no_capacity")
    assert response.status_code == 200, response.text
    await _closed(loop, "could_not_reach")
    await _closed(loop, "family_declined")  # not a sign the listing is wrong
    await MailOutbox.all().delete()  # the referral mail is tested elsewhere

    await sweep_once(mail)
    assert (await Service.get(id=service.id)).review_requested_at is None  # 2 of 3

    await _closed(loop, "not_eligible_after_intake")
    await MailOutbox.filter(service_id__isnull=True).delete()
    assert await sent_after(mail, now()) == 1
    flagged = await Service.get(id=service.id)
    assert flagged.review_signals == {
        "could_not_reach": 1,
        "no_capacity": 1,
        "not_eligible_after_intake": 1,
    }
    assert "flag" in await actions(service.id)
    [notice] = smtp_server.messages
    assert notice["To"] == AGENCY_MAIL
    assert notice["Subject"] == f"Please re-verify your listing: {service.name}"
    text = all_text(notice)
    assert "no capacity: 1" in text
    assert "could not reach the family: 1" in text
    assert "not eligible after intake: 1" in text
    assert "J.R." not in text  # the family is never named

    # Flagged once; verifying clears it, and the outcomes before it no longer count.
    assert await sent_after(mail, now()) == 0
    assert (await loop.partner.post(f"/api/services/{service.id}/verify")).status_code == 200
    cleared = await Service.get(id=service.id)
    assert (cleared.review_requested_at, cleared.review_signals) == (None, None)
    assert await sent_after(mail, now()) == 0
    assert (await Service.get(id=service.id)).review_requested_at is None


async def test_problem_reports_reach_the_organization_and_admins_and_are_tracked(
    app, loop, mail, smtp_server, agency_mail, client
):
    service = loop.service
    admins = [
        await factories.user(loop.school, "admin", email=f"admin{n}@caremap.example.org")
        for n in (1, 2)
    ]
    url = f"/api/services/{service.id}/problems"
    details = "The number rings a fax machine. Call me at 773-555-0100, Maria."
    response = await client.post(url, json={"kind": "wrong_phone", "details": details})
    assert response.status_code == 201, response.text
    report_id = response.json()["id"]

    assert await mail_drainer(mail).drain_all() == 2
    owner = smtp_server.to(AGENCY_MAIL)[0]
    assert owner["Subject"] == f"A problem was reported with your listing: {service.name}"
    assert "the phone number is wrong" in all_text(owner)
    to_admins = next(m for m in smtp_server.messages if m is not owner)
    assert to_admins["Subject"] == f"Problem reported: {service.name} ({loop.agency.name})"
    assert "Bcc" not in to_admins  # the admins do not see each other's addresses
    assert sorted(smtp_server.inbox.recipients[-1]) == sorted(a.email for a in admins)
    for message in smtp_server.messages:
        assert "555-0100" not in all_text(message)  # what the public typed stays in caremap
        assert "Maria" not in all_text(message)

    own = await loop.partner.get("/api/problems")
    assert own.status_code == 200
    assert own.json()["open"] == 1
    [item] = own.json()["items"]
    assert (item["id"], item["kind"], item["details"]) == (report_id, "wrong_phone", details)

    admin = asgi_client(app)
    await factories.login(admin, admins[0])
    assert [i["id"] for i in (await admin.get("/api/problems")).json()["items"]] == [report_id]

    resolve = f"/api/problems/{report_id}/resolve"
    missing = await loop.partner.post(resolve, json={})
    assert missing.status_code == 422
    assert "resolution" in missing.json()["fields"]
    done = await loop.partner.post(resolve, json={"resolution": "Fixed the number."})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved"
    again = await loop.partner.post(resolve, json={"resolution": "Again."})
    assert again.status_code == 409
    open_now = (await loop.partner.get("/api/problems")).json()
    assert (open_now["items"], open_now["open"], open_now["total_items"]) == ([], 0, 0)
    everything = (await loop.partner.get("/api/problems?status=all")).json()["items"]
    assert [i["status"] for i in everything] == ["resolved"]
    assert (await actions(service.id))[-2:] == ["report", "resolve"]
    await admin.aclose()


async def test_problem_reports_refuse_bad_input_and_other_organizations(app, loop, client):
    url = f"/api/services/{loop.service.id}/problems"
    cases = [
        ({"kind": "haunted"}, "kind"),
        ({"kind": "other"}, "details"),
        ({"kind": "other", "details": "x" * 1001}, "details"),
        ({"kind": "moved", "details": 7}, "details"),
    ]
    for body, field in cases:
        response = await client.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["fields"]
    not_object = await client.post(url, json=[1])
    assert not_object.status_code == 422, not_object.text
    unknown = await client.post(
        "/api/services/00000000-0000-4000-8000-000000000000/problems", json={"kind": "closed"}
    )
    assert unknown.status_code == 404
    await Service.filter(id=loop.service.id).update(status="inactive")
    assert (await client.post(url, json={"kind": "closed"})).status_code == 404
    await Service.filter(id=loop.service.id).update(status="active")
    assert (await client.post(url, json={"kind": "closed"})).status_code == 201
    assert await ProblemReport.all().count() == 1

    # Nobody outside the listing's organization (but admins) reads or resolves its reports.
    report = await ProblemReport.get()
    other_agency = await factories.organization()
    other = asgi_client(app)
    await factories.login(other, await factories.user(other_agency, "partner"))
    assert (await other.get("/api/problems")).json()["items"] == []
    peek = await other.get(f"/api/problems?organization_id={loop.agency.id}")
    assert peek.status_code == 403
    grab = await other.post(f"/api/problems/{report.id}/resolve", json={"resolution": "mine"})
    assert grab.status_code == 403
    assert (await loop.specialist.get("/api/problems")).status_code == 403
    assert (await client.get("/api/problems")).status_code == 401
    assert (await ProblemReport.get()).resolved_at is None
    await other.aclose()


async def test_the_public_page_reports_a_problem_in_the_familys_language(loop, client):
    page_url = f"/services/{loop.service.id}"
    page = await client.get(page_url)
    assert "Report a problem with this listing" in page.text
    form = {"csrftoken": token(page), "kind": "other", "details": ""}

    missing = await client.post(f"{page_url}/report", data=form)
    assert missing.status_code == 422
    assert 'id="details-error"' in missing.text
    assert '<option value="other" selected>' in missing.text  # the choice is kept

    form.update(details="The door on 26th St is locked; use the side entrance.")
    sent = await client.post(f"{page_url}/report", data=form)
    assert sent.status_code == 303
    thanked = await client.get(sent.headers["location"])
    assert "The organization has been told" in thanked.text
    [report] = await ProblemReport.all()
    assert (report.kind.value, report.service_id) == ("other", loop.service.id)

    bot = await client.post(f"{page_url}/report", data={**form, "website": "http://spam"})
    assert bot.status_code == 303
    assert await ProblemReport.all().count() == 1  # the honeypot stores nothing

    spanish = await client.get(f"{page_url}?lang=es")
    assert "Informar de un problema con esta ficha" in spanish.text
