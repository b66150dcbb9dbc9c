"""The signed-in workspaces in Chromium, as their users run their day: a specialist finds the
referral just sent and the one that was declined; an agency works new referrals from its inbox
on a phone, in Spanish; an agency fixes and removes existing opening hours; an admin invites a
person, changes another organization's listing and reads the audit log. Every page is checked
with axe, at phone and desktop sizes, and must not scroll sideways."""

import re

import httpx
from playwright.async_api import Browser, Page

from caremap.i18n import supported
from tests.browser.conftest import PASSWORD, LiveServer, assert_accessible, snapshot

SCHOOL = "Pilsen Community High School"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def add_user(server: LiveServer, email: str, name: str, role: str, organization: str) -> None:
    server.caremap(
        "user", "add", "--email", email, "--name", name, "--role", role,
        "--organization", organization, "--password", PASSWORD,
    )  # fmt: skip


async def open_page(browser: Browser, size: dict, locale: str = "en-US") -> Page:
    context = await browser.new_context(locale=locale, **size)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    return page


async def sign_in(page: Page, base: str, email: str, lang: str = "en") -> None:
    await page.goto(f"{base}/login?lang={lang}")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form.stacked button[type=submit]").click()
    await page.wait_for_url("**/referrals")


async def check(page: Page, name: str) -> None:
    """axe finds nothing, and nothing makes the page wider than the screen."""
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{name}: the page scrolls sideways by {wide}px"
    await snapshot(page, name)
    await assert_accessible(page)


async def send_referral(page: Page, base: str, service_id: str, name: str) -> str:
    await page.goto(f"{base}/referrals/new?service_id={service_id}")
    await page.get_by_label("Name or initials", exact=True).fill(name)
    await page.get_by_label("Age", exact=True).select_option("14-17")
    await page.get_by_label("Phone number or email").fill("(773) 555-0111")
    await page.get_by_label("Food pantry", exact=True).check()
    await page.get_by_role("button", name="Send the referral").click()
    await page.wait_for_url("**/referrals/*-*")
    return page.url.rsplit("/", 1)[1][:8].upper()


def move(page: Page, to: str):
    """The form of one move on the referral page, whatever the language."""
    return page.locator(f"form:has(input[name=to][value={to}])")


async def test_specialist_and_agency_work_referrals_from_their_lists(live_server, browser):
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        found = await api.get(
            "/api/search", params={"q": "pantry", "near": "60623", "accepts_referrals": "true"}
        )
    service = found.json()["results"][0]
    add_user(live_server, "counselor@school.example.org", "Ana Counselor", "specialist", SCHOOL)
    add_user(
        live_server, "intake@agency.example.org", "Pat Intake", "partner",
        service["organization"]["name"],
    )  # fmt: skip

    specialist = await open_page(browser, DESKTOP)
    await sign_in(specialist, live_server.url, "counselor@school.example.org")
    kept = await send_referral(specialist, live_server.url, service["service_id"], "Rosa Tellez")
    declined = await send_referral(specialist, live_server.url, service["service_id"], "Dario Vega")
    # The referral just sent is on the first screen of the list, not past row 100.
    await specialist.goto(live_server.url + "/referrals")
    rows = specialist.locator("table.referrals tbody tr")
    assert kept in " ".join(await rows.all_inner_texts())
    await specialist.get_by_label("Name or reference").fill("Rosa")
    await specialist.get_by_role("button", name="Show").click()
    await specialist.wait_for_url("**/referrals?*q=Rosa*")
    assert [kept] == re.findall(r"[0-9A-F]{8}", " ".join(await rows.all_inner_texts()))
    await check(specialist, "specialist-inbox-search")

    # The agency, on a phone, in Spanish: both are new, with new activity, at the top.
    agency = await open_page(browser, PHONE, locale="es-MX")
    await sign_in(agency, live_server.url, "intake@agency.example.org", lang="es")
    assert await agency.get_attribute("html", "lang") == "es"
    unread = await agency.locator("#unread-count").first.inner_text()
    assert int(unread.split()[0]) >= 2  # the header counts what is new
    inbox = " ".join(await agency.locator("table.referrals tbody tr").all_inner_texts())
    assert kept in inbox
    assert declined in inbox
    await check(agency, "agency-inbox-phone-es")

    await agency.get_by_role("link", name=declined).click()
    await agency.wait_for_url("**/referrals/*-*")
    await check(agency, "agency-referral-phone-es")
    refusal = move(agency, "rejected")
    await refusal.locator("select[name=reason]").select_option("no_capacity")
    await refusal.locator("input[name=confirm]").check()
    await refusal.locator("button").click()
    await agency.wait_for_url("**/referrals/*-*")
    assert await agency.locator("#referral-status").inner_text() == "rechazada"

    await agency.goto(live_server.url + "/referrals?tab=new")
    await agency.get_by_role("link", name=kept).click()
    await agency.wait_for_url("**/referrals/*-*")
    for to in ("accepted", "in_progress"):
        await move(agency, to).locator("button").click()
        await agency.wait_for_url("**/referrals/*-*")
    done = move(agency, "completed")
    outcomes = await done.locator("select[name=outcome] option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert outcomes == ["", "service_provided", "partially_provided"]  # delivered, only
    await done.locator("select[name=outcome]").select_option("service_provided")
    await done.locator("button").click()
    await agency.wait_for_url("**/referrals/*-*")
    assert await agency.locator("#referral-status").inner_text() == "completada"
    await check(agency, "agency-completed-phone-es")

    # Back at school: the decline and the outcome both wait for the specialist to read them.
    await specialist.goto(live_server.url + "/referrals?tab=action&lang=en")
    needing = " ".join(await rows.all_inner_texts())
    assert declined in needing
    assert kept in needing
    await check(specialist, "specialist-needs-action")
    await specialist.get_by_role("link", name=kept).click()
    await specialist.wait_for_url("**/referrals/*-*")
    assert await specialist.locator("#referral-outcome").inner_text() == "service provided"
    await specialist.goto(live_server.url + "/referrals?tab=action")
    assert kept not in " ".join(await rows.all_inner_texts())  # read, so no longer to do
    await specialist.get_by_role("link", name=declined).click()
    await specialist.wait_for_url("**/referrals/*-*")
    assert "no capacity" in await specialist.locator(".timeline").inner_text()
    assert "Pat Intake" in await specialist.locator(".timeline").inner_text()
    await check(specialist, "specialist-declined-referral")

    phone = await open_page(browser, PHONE, locale="es-MX")
    await sign_in(phone, live_server.url, "counselor@school.example.org", lang="es")
    await phone.goto(live_server.url + "/referrals?tab=closed")
    assert kept in " ".join(await phone.locator("table.referrals tbody tr").all_inner_texts())
    await check(phone, "specialist-closed-phone-es")


async def _listing_with_site_hours(base: str) -> dict:
    async with httpx.AsyncClient(base_url=base) as api:
        listed = (await api.get("/api/services", params={"per_page": 100})).json()["contents"]
    for service in listed:
        for site in service.get("service_at_locations", []):
            if site.get("schedules"):
                return service
    raise AssertionError("the demo data has a listing with hours at a site")


async def test_an_agency_changes_and_removes_existing_hours(live_server, browser):
    service = await _listing_with_site_hours(live_server.url)
    organization = service["organization"]["name"]
    add_user(live_server, "hours@agency.example.org", "Lee Hours", "partner", organization)
    page = await open_page(browser, PHONE, locale="es-MX")
    await sign_in(page, live_server.url, "hours@agency.example.org", lang="es")
    await page.goto(live_server.url + "/portal")
    await check(page, "portal-listings-phone-es")
    await page.locator(f'a[href="/portal/services/{service["id"]}/edit"]').click()
    await page.wait_for_url("**/edit")
    await check(page, "portal-edit-phone-es")

    [site] = [s for s in service["service_at_locations"] if s.get("schedules")][:1]
    first = site["schedules"][0]
    hours = page.locator(f"form.hours-edit:has(input[name=edit][value='{first['id']}'])")
    assert await hours.locator("input[name=opens_at]").input_value() == first["opens_at"]
    await hours.locator("input[name=opens_at]").fill("07:30")
    await hours.locator("input[name=closes_at]").fill("19:45")
    await hours.locator("button").click()
    await page.wait_for_url("**/edit")
    changed = page.locator(f"form.hours-edit:has(input[name=edit][value='{first['id']}'])")
    assert await changed.locator("input[name=opens_at]").input_value() == "07:30"

    removal = page.locator(f"form:has(input[name=remove][value='{first['id']}']) button")
    await removal.click()
    await page.wait_for_url("**/edit")
    assert await page.locator(f"input[name=edit][value='{first['id']}']").count() == 0
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        now = (await api.get(f"/api/services/{service['id']}")).json()
    remaining = [h["id"] for s in now["service_at_locations"] for h in s.get("schedules", [])]
    assert first["id"] not in remaining
    await check(page, "portal-hours-removed-phone-es")


async def test_an_admin_invites_a_person_edits_a_listing_and_reads_the_audit_log(
    live_server, browser
):
    add_user(live_server, "lead@district.example.org", "Dana Lead", "admin", SCHOOL)
    admin = await open_page(browser, DESKTOP)
    await sign_in(admin, live_server.url, "lead@district.example.org")
    await admin.get_by_role("link", name="Admin").click()
    await admin.wait_for_url("**/admin/users")
    await check(admin, "admin-people")

    admin_nav = admin.get_by_role("navigation", name="Admin")
    await admin_nav.get_by_role("link", name="Organizations").click()
    await admin.get_by_label("Name", exact=True).first.fill("Pilsen Community")
    await admin.get_by_role("button", name="Find").click()
    await admin.get_by_role("link", name=SCHOOL).click()
    await admin.wait_for_url("**/admin/organizations/*")
    await check(admin, "admin-organization")
    await admin.locator("#invite-name").fill("Maya Ortiz")
    await admin.locator("#invite-email").fill("maya@school.example.org")
    await admin.get_by_role("button", name="Invite").click()
    link = await admin.locator("#password-link").input_value()
    assert link.startswith(live_server.url + "/password/")
    await check(admin, "admin-invited")

    newcomer = await open_page(browser, PHONE, locale="es-MX")
    await newcomer.goto(link + "?lang=es")
    await check(newcomer, "password-phone-es")
    await newcomer.locator("#password").fill("maya's own password 7")
    await newcomer.locator("#again").fill("maya's own password 7")
    await newcomer.locator("form.stacked button").click()
    await newcomer.wait_for_url("**/login?password=set")
    await newcomer.locator("#email").fill("maya@school.example.org")
    await newcomer.locator("#password").fill("maya's own password 7")
    await newcomer.locator("form.stacked button[type=submit]").click()
    await newcomer.wait_for_url("**/referrals")

    # A listing of another organization, edited from the portal.
    await admin.goto(live_server.url + "/portal?q=pantry")
    await check(admin, "admin-listings")
    edit = admin.locator("a.button[href$='/edit']").first
    target = (await edit.get_attribute("href")).split("/")[3]
    await edit.click()
    await admin.wait_for_url("**/edit")
    await admin.locator("#eligibility_description").fill("Anyone who lives in Cook County.")
    await admin.locator("form.stacked:has(#name) button[type=submit]").click()
    await admin.wait_for_url("**/portal?*")
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        listing = (await api.get(f"/api/services/{target}")).json()
    assert listing["eligibility_description"] == "Anyone who lives in Cook County."

    # The admin opens a referral, then finds that look in the audit log, by name.
    await admin.goto(live_server.url + "/referrals?tab=all")
    opened = admin.locator("table.referrals tbody tr a").first
    reference = (await opened.inner_text()).strip()
    await opened.click()
    await admin.wait_for_url("**/referrals/*-*")
    await admin.get_by_role("link", name="Admin").click()
    await admin_nav.get_by_role("link", name="Audit log").click()
    await admin.wait_for_url("**/admin/audit")
    await admin.get_by_label("Who (email)").fill("lead@district.example.org")
    await admin.get_by_label("What").select_option("read")
    await admin.get_by_role("button", name="Show").click()
    await admin.wait_for_url("**/admin/audit?*")
    rows = await admin.locator("table tbody tr").all_inner_texts()
    assert len(rows) == 1
    assert "Dana Lead" in rows[0]
    assert "opened the referral" in rows[0]
    assert reference in rows[0]
    await check(admin, "admin-audit")
    await admin.goto(live_server.url + "/admin/audit?lang=es")
    assert "Registro de auditoría" in await admin.locator("h1").inner_text()
    await check(admin, "admin-audit-es")


async def test_signed_in_pages_fit_a_320_pixel_phone_in_every_language(live_server, browser):
    """The longest headers and tables are the signed-in ones: in every language, on the
    smallest phone, a specialist's and an admin's pages never scroll sideways, and axe finds
    nothing on any of them."""
    add_user(live_server, "lead@district.example.org", "Dana Lead", "admin", SCHOOL)
    add_user(live_server, "sam@school.example.org", "Sam Rivera", "specialist", SCHOOL)
    small = {"viewport": {"width": 320, "height": 640}, "is_mobile": True}
    specialist = await open_page(browser, small)
    await sign_in(specialist, live_server.url, "sam@school.example.org")
    async with httpx.AsyncClient() as client:
        found = await client.get(live_server.url + "/api/search", params={"q": "pantry"})
    service_id = found.json()["results"][0]["service_id"]
    admin = await open_page(browser, small)
    await sign_in(admin, live_server.url, "lead@district.example.org")
    pages = [
        (specialist, "/referrals"),
        (specialist, f"/referrals/new?service_id={service_id}"),
        (specialist, "/help-requests"),
        (specialist, "/reports/needs"),
        (admin, "/admin/users"),
        (admin, "/admin/audit"),
        (admin, "/portal"),
    ]
    for lang in supported():
        for page, path in pages:
            joiner = "&" if "?" in path else "?"
            await page.goto(f"{live_server.url}{path}{joiner}lang={lang}")
            name = f"{path.strip('/').split('?')[0].replace('/', '-')}-{lang}-320"
            wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{name}: the page scrolls sideways by {wide}px"
            await snapshot(page, name)
            await assert_accessible(page)
