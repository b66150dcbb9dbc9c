"""The referral inbox: every referral reachable through its pages, what needs the viewer first,
tabs with counts, the search by name or reference, filters, and unread activity."""

import re
from datetime import timedelta

from caremap.accounts.models import User
from directory.claims import now
from directory.geocoding import Geocoder
from referrals import access
from referrals.models import Referral
from seeds.load import load_demo
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import move, refer
from tests.referrals.test_pages import sign_in


async def _every_page(client, path: str, per_page: int) -> tuple[list[str], int]:
    """Every referral id a list shows, page after page, and the total it states."""
    seen, page, total = [], 1, None
    while True:
        body = (await client.get(path, params={"page": page, "per_page": per_page})).json()
        total = body["total_items"]
        seen += [item["id"] for item in body["contents"]]
        if body["last_page"]:
            return seen, total
        page += 1


async def test_every_demo_referral_is_reachable_from_the_lists(app):
    """On the demo data (240 referrals, 121 and 119 per school), each viewer pages through
    every referral they may see, through the API and the inbox page, none twice."""
    report = await load_demo(geocoder=Geocoder())
    logins = {email: role for email, role, _password in report.logins}
    for email, role in logins.items():
        user = await User.get(email=email)
        actor = factories.actor(user)
        expected = {
            str(i) for i in await access.visible_referrals(actor).values_list("id", flat=True)
        }
        async with asgi_client(app) as client:
            await factories.login(client, user, password=_password_of(report, email))
            listed, total = await _every_page(client, "/api/referrals?tab=all", per_page=37)
            assert total == len(expected), (email, role)
            assert len(listed) == len(set(listed)) == total
            assert set(listed) == expected
            # The inbox page, 25 a page, shows the same referrals by their references.
            page, shown = 1, set()
            while True:
                html = (await client.get(f"/referrals?tab=all&page={page}")).text
                shown |= set(re.findall(r'href="/referrals/([0-9a-f-]{36})"', html))
                if 'rel="next"' not in html:
                    break
                page += 1
            assert shown == expected, (email, role)
    assert await Referral.all().count() == 240


def _password_of(report, email: str) -> str:
    return next(password for who, _role, password in report.logins if who == email)


async def test_the_agency_sees_new_then_overdue_then_active(loop):
    overdue = await refer(loop, urgency="urgent")
    await move(loop.partner, overdue, "accepted")
    await Referral.filter(id=overdue["id"]).update(updated_at=now() - timedelta(days=20))
    active = await refer(loop, urgency="routine")
    await move(loop.partner, active, "accepted")
    closed = await refer(loop)
    await move(loop.partner, closed, "rejected", reason="no_capacity")
    new = await refer(loop, urgency="routine")

    body = (
        await loop.partner.get("/api/referrals", params={"tab": "now", "sort": "priority"})
    ).json()
    assert [r["id"] for r in body["contents"]] == [new["id"], overdue["id"], active["id"]]
    assert body["counts"] == {"now": 3, "new": 1, "overdue": 1, "active": 2, "closed": 1, "all": 4}
    closed_tab = (await loop.partner.get("/api/referrals", params={"tab": "closed"})).json()
    assert [r["id"] for r in closed_tab["contents"]] == [closed["id"]]


async def test_the_school_sees_what_needs_action_first(loop):
    active = await refer(loop)
    await move(loop.partner, active, "accepted")
    declined = await refer(loop)
    await move(loop.partner, declined, "rejected", reason="out_of_area")
    draft = await refer(loop, draft=True, consent=None)

    priority = {"tab": "now", "sort": "priority"}
    body = (await loop.specialist.get("/api/referrals", params=priority)).json()
    order = [r["id"] for r in body["contents"]]
    assert set(order[:2]) == {declined["id"], draft["id"]}  # to act on: a decline, a draft
    assert order[2] == active["id"]
    assert body["counts"]["action"] == 2
    # Opened, the decline no longer needs action; it stays among the recently closed.
    await loop.specialist.get(f"/api/referrals/{declined['id']}")
    body = (await loop.specialist.get("/api/referrals", params=priority)).json()
    assert [r["id"] for r in body["contents"]] == [draft["id"], active["id"], declined["id"]]


async def test_the_recently_closed_come_newest_first(loop):
    """Closed referrals are ordered by their last activity, newest first, whatever their due
    dates: the one closed today is at the top, not below last year's."""
    early = await refer(loop, due_at=(now() + timedelta(days=2)).isoformat())
    late = await refer(loop, due_at=(now() + timedelta(days=20)).isoformat())
    await move(loop.partner, late, "rejected", reason="out_of_area")
    await move(loop.partner, early, "rejected", reason="no_capacity")  # closed last
    closed = {"tab": "closed", "sort": "priority"}
    for side in (loop.specialist, loop.partner):
        body = (await side.get("/api/referrals", params=closed)).json()
        assert [r["id"] for r in body["contents"]] == [early["id"], late["id"]]
    await Referral.filter(id=early["id"]).update(last_activity_at=now() - timedelta(days=3))
    body = (await loop.specialist.get("/api/referrals", params=closed)).json()
    assert [r["id"] for r in body["contents"]] == [late["id"], early["id"]]


async def test_search_by_name_or_reference_only_finds_what_the_viewer_may_see(loop):
    named = await refer(loop, person={"name": "Marisol Quintero", "age_band": "11-13",
                                       "contact_method": "school"})  # fmt: skip
    hidden = await refer(
        loop,
        person={"name": "Marisol Vega", "age_band": "11-13", "contact_method": "school"},
        consent={"given_by": "guardian", "method": "verbal", "given_at": "2026-11-20T15:00:00Z",
                 "shares": ["age_band", "needs"]},
    )  # fmt: skip

    def ids(response):
        return [r["id"] for r in response.json()["contents"]]

    school = await loop.specialist.get("/api/referrals", params={"q": "marisol"})
    assert set(ids(school)) == {named["id"], hidden["id"]}
    agency = await loop.partner.get("/api/referrals", params={"q": "marisol"})
    assert ids(agency) == [named["id"]]  # the consent does not share the other's name
    by_reference = await loop.partner.get("/api/referrals", params={"q": hidden["reference"][:6]})
    assert ids(by_reference) == [hidden["id"]]
    bad = await loop.partner.get("/api/referrals", params={"tab": "someday", "per_page": 500})
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {"tab", "per_page"}


async def test_new_activity_is_unread_until_opened_and_counted_in_every_header(loop, app):
    referral = await refer(loop)
    assert (await loop.partner.get("/api/referrals")).json()["unread"] == 1
    assert (await loop.specialist.get("/api/referrals")).json()["unread"] == 0  # their own move
    await loop.partner.get(f"/api/referrals/{referral['id']}")  # opened
    assert (await loop.partner.get("/api/referrals")).json()["unread"] == 0

    await loop.partner.post(f"/api/referrals/{referral['id']}/notes", json={"note": "Called."})
    async with asgi_client(app) as browser:
        await sign_in(browser, loop.specialist_user)
        for path in ("/", "/referrals", "/search?q=food", "/help-requests"):
            page = await browser.get(path)
            assert re.search(r'id="unread-count"[^>]*>1<', page.text), path
            assert loop.specialist_user.name in page.text  # who is signed in
            assert 'action="/logout"' in page.text
        inbox = await browser.get("/referrals?unread=1")
        assert referral["reference"] in inbox.text
        assert "New activity" in inbox.text
        opened = await browser.get(f"/referrals/{referral['id']}")
        assert 'id="unread-count"' not in opened.text


async def test_a_date_time_without_a_zone_is_read_as_utc(loop):
    """The inbox reads its parameters with the API's own readers: a bare date-time is UTC."""
    referral = await refer(loop)
    found = await loop.specialist.get(
        "/api/referrals",
        params={"created_after": "2026-01-01T00:00", "created_before": "2999-01-01"},
    )
    assert found.status_code == 200
    assert [r["id"] for r in found.json()["contents"]] == [referral["id"]]
