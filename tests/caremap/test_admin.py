"""The admin area: people, organizations, every listing, problem reports and the audit log,
through the pages an admin uses, with the same rules as the API."""

import re
from uuid import uuid4

from caremap.accounts.models import ApiToken, User, UserSession
from directory.models import Organization, ProblemReport, Service
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.test_pages import sign_in, token

PASSWORD = "a long new password 42"


def password_link(page) -> str:
    found = re.search(r'id="password-link" class="copy" readonly value="([^"]+)"', page.text)
    assert found, "the page shows the link once"
    return found.group(1).split("://", 1)[1].split("/", 1)[1]


async def test_an_admin_invites_a_person_who_chooses_a_password_through_the_link(app):
    school = await factories.organization("school", name="Lincoln High")
    admin = await factories.user(school, "admin")
    async with asgi_client(app) as browser, asgi_client(app) as newcomer:
        await sign_in(browser, admin)
        page = await browser.get(f"/admin/organizations/{school.id}")
        assert "Invite a person" in page.text
        invited = await browser.post(
            "/admin/users",
            data={
                "csrftoken": token(page),
                "organization_id": str(school.id),
                "name": "Maya Ortiz",
                "email": "Maya.Ortiz@Example.org",
                "role": "specialist",
                "language": "es",
            },
        )
        assert invited.status_code == 201
        assert invited.headers["cache-control"] == "no-store"
        person = await User.get(email="maya.ortiz@example.org")
        assert (person.role.value, person.organization_id, person.language) == (
            "specialist",
            school.id,
            "es",
        )
        link = "/" + password_link(invited)

        # Nobody knows the starting password: the link is the only way in.
        form = await newcomer.get(link)
        assert form.status_code == 200
        assert "Maya Ortiz" in form.text
        assert form.headers["referrer-policy"] == "same-origin"  # the link goes nowhere
        short = await newcomer.post(
            link, data={"csrftoken": token(form), "password": "short", "again": "short"}
        )
        assert short.status_code == 422
        assert "at least 12" in short.text
        mismatch = await newcomer.post(
            link, data={"csrftoken": token(form), "password": PASSWORD, "again": PASSWORD + "!"}
        )
        assert mismatch.status_code == 422
        chosen = await newcomer.post(
            link, data={"csrftoken": token(form), "password": PASSWORD, "again": PASSWORD}
        )
        assert chosen.status_code == 303
        assert chosen.headers["location"] == "/login?password=set"
        again = await newcomer.get(link)
        assert again.status_code == 404  # used once
        await factories.login(newcomer, person, password=PASSWORD)
        assert (await newcomer.get("/referrals")).status_code == 200

        # A duplicate email or a role the organization cannot have is named on the form.
        twice = await browser.post(
            "/admin/users",
            data={
                "csrftoken": token(page),
                "organization_id": str(school.id),
                "name": "Maya Again",
                "email": "maya.ortiz@example.org",
                "role": "partner",
            },
        )
        assert twice.status_code == 422
        assert "cannot belong to a school" in twice.text
        assert await User.filter(name="Maya Again").count() == 0


async def test_an_admin_changes_a_person_and_resets_their_password(app):
    school = await factories.organization("school")
    other_school = await factories.organization("school", name="Roosevelt Middle")
    agency = await factories.organization(name="Harbor Food Bank")
    admin = await factories.user(school, "admin")
    person = await factories.user(school, "specialist")
    async with asgi_client(app) as browser, asgi_client(app) as them:
        await factories.login(them, person)
        await ApiToken.create(id=uuid4(), user_id=person.id, name="x", token_hash="0" * 64)
        await sign_in(browser, admin)
        listed = await browser.get("/admin/users", params={"q": person.email[:6]})
        assert person.name in listed.text

        found = await browser.get(f"/admin/users/{person.id}", params={"org_q": "roosevelt"})
        assert "Roosevelt Middle" in found.text
        assert "Harbor Food Bank" not in found.text
        moved = await browser.post(
            f"/admin/users/{person.id}",
            data={
                "csrftoken": token(found),
                "organization_id": str(other_school.id),
                "role": "specialist",
                "active": "yes",
            },
        )
        assert moved.status_code == 303
        assert (await User.get(id=person.id)).organization_id == other_school.id
        assert (await them.get("/referrals")).status_code == 303  # signed out everywhere
        assert await ApiToken.filter(user_id=person.id, revoked_at=None).count() == 0

        wrong = await browser.post(
            f"/admin/users/{person.id}",
            data={
                "csrftoken": token(found),
                "organization_id": str(agency.id),
                "role": "specialist",
                "active": "yes",
            },
        )
        assert wrong.status_code == 422
        assert "cannot belong to a provider" in wrong.text

        page = await browser.get(f"/admin/users/{person.id}")
        await factories.login(them, person)
        reset = await browser.post(
            f"/admin/users/{person.id}", data={"csrftoken": token(page), "reset": "1"}
        )
        assert reset.status_code == 200
        assert reset.headers["cache-control"] == "no-store"
        assert await UserSession.filter(user_id=person.id).count() == 0
        async with asgi_client(app) as stranger:
            old = await stranger.post(
                "/api/auth/login", json={"email": person.email, "password": factories.PASSWORD}
            )
            assert old.status_code == 401  # the old password ended with the reset
        first_link = "/" + password_link(reset)
        second = await browser.post(
            f"/admin/users/{person.id}", data={"csrftoken": token(page), "reset": "1"}
        )
        assert (await them.get(first_link)).status_code == 404  # a newer reset ends older links
        assert (await them.get("/" + password_link(second))).status_code == 200

        deactivated = await browser.post(
            f"/admin/users/{person.id}",
            data={"csrftoken": token(page), "organization_id": str(other_school.id)},
        )
        assert deactivated.status_code == 303
        assert not (await User.get(id=person.id)).is_active

        own = await browser.get(f"/admin/users/{admin.id}")
        assert "another admin changes its access" in own.text
        refused = await browser.post(
            f"/admin/users/{admin.id}", data={"csrftoken": token(own), "reset": "1"}
        )
        assert refused.status_code == 403


async def test_an_admin_creates_and_edits_organizations(app):
    admin = await factories.user(await factories.organization("school"), "admin")
    async with asgi_client(app) as browser:
        await sign_in(browser, admin)
        page = await browser.get("/admin/organizations")
        bad = await browser.post(
            "/admin/organizations",
            data={"csrftoken": token(page), "name": "", "kind": "provider", "website": "nope"},
        )
        assert bad.status_code == 422
        assert 'aria-describedby="org-website-error"' in bad.text
        assert await Organization.filter(website="nope").count() == 0
        made = await browser.post(
            "/admin/organizations",
            data={
                "csrftoken": token(page),
                "name": "Eastside Tenants Union",
                "kind": "provider",
                "email": "help@eastside.example",
            },
        )
        assert made.status_code == 303
        created = await Organization.get(name="Eastside Tenants Union")
        staff = await factories.user(created, "partner")

        edit = await browser.get(made.headers["location"])
        assert "Saved." in edit.text
        version = re.search(r'name="version" value="(\d+)"', edit.text).group(1)
        changed = await browser.post(
            f"/admin/organizations/{created.id}",
            data={
                "csrftoken": token(edit),
                "version": version,
                "name": "Eastside Tenants Union",
                "kind": "school",
            },
        )
        assert changed.status_code == 303
        assert (await Organization.get(id=created.id)).kind.value == "school"
        assert await UserSession.filter(user_id=staff.id).count() == 0
        stale = await browser.post(
            f"/admin/organizations/{created.id}",
            data={"csrftoken": token(edit), "version": version, "name": "Old", "kind": "school"},
        )
        assert stale.status_code == 409
        assert (await Organization.get(id=created.id)).name == "Eastside Tenants Union"

        found = await browser.get("/admin/organizations", params={"q": "tenants"})
        assert "Eastside Tenants Union" in found.text
        assert "1 organization" in found.text


async def test_admins_edit_any_listing_and_read_every_problem_report(app):
    admin = await factories.user(await factories.organization("school"), "admin")
    agency = await factories.organization(name="Harbor Food Bank")
    listing = await factories.listing(agency, name="Harbor Pantry")
    hidden = await factories.listing(agency, name="Harbor Winter Shelter", status="inactive")
    await ProblemReport.create(
        id=uuid4(),
        service_id=listing.id,
        organization_id=agency.id,
        kind="wrong_phone",
        details="",
    )
    async with asgi_client(app) as browser:
        await sign_in(browser, admin)
        listings = await browser.get("/portal", params={"q": "harbor"})
        assert listings.status_code == 200
        assert "Harbor Pantry" in listings.text
        assert "Harbor Winter Shelter" in listings.text
        assert "Harbor Food Bank" in listings.text  # whose listing it is

        form = await browser.get(f"/portal/services/{hidden.id}/edit")
        assert form.status_code == 200
        verified = await browser.post(
            f"/portal/services/{hidden.id}/verify",
            data={"csrftoken": token(form), "back": "q=harbor&page=1&evil=1"},
        )
        assert verified.headers["location"] == (
            f"/portal?q=harbor&page=1&saved=verify#service-{hidden.id}"
        )
        assert (await Service.get(id=hidden.id)).last_verified_by == admin.id
        confirmed = await browser.get(verified.headers["location"])
        assert "Marked as still accurate." in confirmed.text

        reports = await browser.get("/portal/problems")
        assert "Harbor Pantry" in reports.text
        assert "Harbor Food Bank" in reports.text


async def test_lists_page_through_everything_with_their_totals(app):
    """The portal's listings and the problem reports used to stop at 100 rows."""
    agency = await factories.organization()
    partner = await factories.user(agency, "partner")
    for number in range(60):
        service = await factories.listing(agency, name=f"Listing {number:03}")
        await ProblemReport.create(
            id=uuid4(),
            service_id=service.id,
            organization_id=agency.id,
            kind="other",
            details=f"report {number:03}",
        )
    async with asgi_client(app) as browser:
        await sign_in(browser, partner)
        seen: set[str] = set()
        for page in (1, 2, 3):
            found = await browser.get("/portal", params={"page": page})
            assert "60 listings" in found.text
            seen |= set(re.findall(r"<h2>(Listing \d+)</h2>", found.text))
        assert len(seen) == 60
        reports: set[str] = set()
        for page in (1, 2):
            found = await browser.get("/portal/problems", params={"page": page})
            reports |= set(re.findall(r"report \d+", found.text))
        assert len(reports) == 60
        api = (await browser.get("/api/problems", params={"per_page": 25, "page": 3})).json()
        assert (api["total_items"], api["size"], api["open"]) == (60, 10, 60)
        assert (await browser.get("/portal", params={"page": "x"})).status_code == 422


async def test_the_admin_area_is_for_admins_only(app):
    school = await factories.organization("school")
    agency = await factories.organization()
    for user in (
        await factories.user(school, "specialist"),
        await factories.user(agency, "partner"),
    ):
        async with asgi_client(app) as client:
            await sign_in(client, user)
            for path in ("/admin/users", "/admin/organizations", "/admin/audit"):
                assert (await client.get(path)).status_code == 403
    async with asgi_client(app) as anonymous:
        answer = await anonymous.get("/admin/audit")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        assert (await anonymous.get("/password/not-a-token")).status_code == 404
