"""The audit log: every read and write of a referral's personal details, by whom and when, for
admins to export; it names people by id and never holds the details themselves."""

import csv
import io
import re

from caremap.accounts.service import actor_for
from referrals import audit
from referrals.models import AuditEntry
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import PERSON, move, refer
from tests.referrals.test_pages import sign_in


async def _trail(referral_id) -> list[tuple[str, str | None]]:
    rows = await AuditEntry.filter(referral_id=referral_id).order_by("id")
    return [(row.action, row.actor_role) for row in rows]


async def test_every_read_and_write_is_logged_and_admins_export_it(app, loop):
    referral = await refer(loop)
    # A write's answer is covered by the write's own entry: no "read" beside it.
    assert await _trail(referral["id"]) == [("created", "specialist")]

    await AuditEntry.all().delete()
    assert (await loop.partner.get(f"/api/referrals/{referral['id']}")).status_code == 200
    assert (await loop.partner.get("/api/referrals")).status_code == 200
    assert (await loop.partner.get(f"/referrals/{referral['id']}")).status_code == 200
    assert (await loop.specialist.get(f"/api/referrals/{referral['id']}/fhir")).status_code == 200
    await move(loop.partner, referral, "accepted")
    assert await _trail(referral["id"]) == [
        ("read", "partner"),
        ("list", "partner"),
        ("read", "partner"),
        ("export_fhir", "specialist"),
        ("read", "partner"),  # `move` reads the current version first
        ("transition", "partner"),
    ]
    entry = await AuditEntry.filter(action="export_fhir").first()
    assert (entry.actor_user_id, entry.actor_organization_id) == (
        loop.specialist_user.id,
        loop.school.id,
    )

    admin = asgi_client(app)
    await factories.login(admin, await factories.user(loop.school, "admin"))
    exported = await admin.get("/api/audit", params={"referral_id": referral["id"]})
    assert exported.status_code == 200
    trail = [action for action, _role in await _trail(referral["id"])]
    newest_first = [row["action"] for row in exported.json()["contents"]]
    assert newest_first == trail[::-1]
    as_csv = await admin.get("/api/audit", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {row["referral_id"] for row in rows} == {referral["id"]}
    assert [row["action"] for row in rows] == trail  # the download is oldest first
    for value in (PERSON["name"], PERSON["contact_value"]):
        assert value not in as_csv.text  # ids only, never the details
    assert (await admin.get("/api/audit", params={"format": "xml"})).status_code == 422
    await admin.aclose()

    # Only admins read the log.
    assert (await loop.partner.get("/api/audit")).status_code == 403
    assert (await loop.specialist.get("/api/audit")).status_code == 403
    async with asgi_client(app) as anonymous:
        assert (await anonymous.get("/api/audit")).status_code == 401


async def test_the_log_is_paged_and_the_download_holds_every_entry(app, loop):
    """A district's log runs to millions of rows: the JSON is paged with its total, and the CSV
    streams every matching entry (it used to stop at 10,000)."""
    referral = await refer(loop)
    other = await refer(loop)
    await AuditEntry.all().delete()
    partner = actor_for(loop.partner_user)
    await audit.record(partner, [referral["id"]] * 10_050, audit.Action.READ)
    await audit.record(partner, [other["id"]] * 3, audit.Action.LIST)
    async with asgi_client(app) as admin:
        await factories.login(admin, await factories.user(loop.school, "admin"))
        first = (await admin.get("/api/audit", params={"per_page": 1000})).json()
        assert (first["total_items"], first["total_pages"], first["size"]) == (10_053, 11, 1000)
        last = (await admin.get("/api/audit", params={"per_page": 1000, "page": 11})).json()
        assert last["size"] == 53
        assert last["last_page"]

        everything = await admin.get("/api/audit", params={"format": "csv"})
        assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 10_053
        one = await admin.get(
            "/api/audit", params={"format": "csv", "reference": other["reference"].lower()}
        )
        assert [row["action"] for row in csv.DictReader(io.StringIO(one.text))] == ["list"] * 3
        lists = (await admin.get("/api/audit", params={"action": "list"})).json()
        assert lists["total_items"] == 3

        for bad in ({"reference": "TOO-LONG-REF"}, {"per_page": "5000"}, {"since": "soon"}):
            refused = await admin.get("/api/audit", params=bad)
            assert refused.status_code == 422, bad
            assert set(refused.json()["fields"]) == set(bad)


async def test_the_audit_log_is_browsed_with_names_and_filters(app, loop):
    referral = await refer(loop)
    assert (await loop.partner.get(f"/referrals/{referral['id']}")).status_code == 200
    admin = await factories.user(loop.school, "admin")
    async with asgi_client(app) as browser:
        await sign_in(browser, admin)
        page = await browser.get("/admin/audit")
        assert page.status_code == 200
        assert loop.partner_user.name in page.text
        assert loop.agency.name in page.text
        assert referral["reference"] in page.text
        assert "opened the referral" in page.text
        assert "made the referral" in page.text

        by_person = await browser.get("/admin/audit", params={"who": loop.partner_user.email})
        assert "1 entry" in by_person.text
        assert loop.specialist_user.name not in by_person.text
        download = re.search(r'href="(/api/audit\?[^"]+)" download', by_person.text).group(1)
        exported = await browser.get(download.replace("&amp;", "&"))
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [row["action"] for row in rows] == ["read"]

        today = (await AuditEntry.first()).at.date().isoformat()
        dated = await browser.get("/admin/audit", params={"from": today, "to": today})
        assert "2 entries" in dated.text
        for bad in ({"who": "nobody@example.org"}, {"from": "yesterday"}, {"reference": "X" * 9}):
            refused = await browser.get("/admin/audit", params=bad)
            assert refused.status_code == 422, bad
            assert 'aria-invalid="true"' in refused.text

        spanish = await browser.get("/admin/audit", params={"lang": "es"})
        assert "Registro de auditoría" in spanish.text
