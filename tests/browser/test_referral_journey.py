"""A specialist refers a student from a search result; the agency accepts and completes the
referral in its portal; the specialist sees the outcome. All in Chromium, through the pages."""

import re

import httpx
from playwright.async_api import Page

from tests.browser.conftest import PASSWORD, assert_accessible, snapshot

SCHOOL = "Pilsen Community High School"


async def sign_in(page: Page, base: str, email: str) -> None:
    await page.goto(base + "/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/referrals")


async def test_refer_accept_complete_and_see_the_outcome(live_server, browser):
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        found = await api.get(
            "/api/search", params={"q": "pantry", "near": "60623", "accepts_referrals": "true"}
        )
    first = found.json()["results"][0]
    live_server.caremap(
        "user",
        "add",
        "--email",
        "counselor@school.example.org",
        "--name",
        "Ana Counselor",
        "--role",
        "specialist",
        "--organization",
        SCHOOL,
        "--password",
        PASSWORD,
    )
    live_server.caremap(
        "user",
        "add",
        "--email",
        "intake@agency.example.org",
        "--name",
        "Pat Intake",
        "--role",
        "partner",
        "--organization",
        first["organization"]["name"],
        "--password",
        PASSWORD,
    )

    specialist = await (await browser.new_context(locale="en-US")).new_page()
    await sign_in(specialist, live_server.url, "counselor@school.example.org")
    await specialist.goto(live_server.url + "/search?q=pantry&near=60623")
    await specialist.get_by_role("link", name=f"Refer to {first['name']}").first.click()
    await specialist.wait_for_url("**/referrals/new?service_id=*")
    await snapshot(specialist, "specialist-referral-form")
    await assert_accessible(specialist)
    await specialist.get_by_label("Name or initials", exact=True).fill("R.T.")
    await specialist.get_by_label("Age", exact=True).select_option("14-17")
    await specialist.get_by_label("Phone number or email").fill("(773) 555-0111")
    # Nothing is chosen for the family: the need is ticked, and consent is given now.
    await specialist.get_by_label("Food pantry", exact=True).check()
    assert await specialist.get_by_label("When (UTC time)").input_value()
    await specialist.get_by_role("button", name="Send the referral").click()
    await specialist.wait_for_url("**/referrals/*-*")
    referral_url = specialist.url
    assert await specialist.locator("#referral-status").inner_text() == "sent"
    await snapshot(specialist, "specialist-referral-sent")

    partner = await (await browser.new_context(locale="en-US")).new_page()
    await sign_in(partner, live_server.url, "intake@agency.example.org")
    await partner.get_by_role("link", name=referral_url.rsplit("/", 1)[1][:8].upper()).click()
    await partner.wait_for_url(referral_url)
    assert "(773) 555-0111" in await partner.content()
    await snapshot(partner, "partner-referral")
    await assert_accessible(partner)
    await partner.get_by_role("button", name="Accept").click()
    await partner.wait_for_url(referral_url)
    await partner.get_by_role("button", name="Start work").click()
    await partner.wait_for_url(referral_url)
    await partner.locator("#outcome-completed").select_option("service_provided")
    await partner.get_by_role("button", name="Complete").click()
    await partner.wait_for_url(referral_url)
    assert await partner.locator("#referral-status").inner_text() == "completed"

    await specialist.goto(referral_url)
    assert await specialist.locator("#referral-outcome").inner_text() == "service provided"
    timeline = await specialist.locator(".timeline li").all_inner_texts()
    assert len(timeline) == 4  # made, accepted, started, completed
    await snapshot(specialist, "specialist-sees-outcome")
    await assert_accessible(specialist)
    await partner.goto(live_server.url + "/portal")
    await partner.get_by_role("button", name=f"Still accurate {first['name']}").click()
    await partner.wait_for_url("**/portal?*")
    await snapshot(partner, "partner-listings")
    await assert_accessible(partner)
    await partner.get_by_role("link", name=f"Edit {first['name']}").click()
    await partner.wait_for_url("**/edit")
    await snapshot(partner, "partner-edit-listing")
    await assert_accessible(partner)
    await specialist.goto(live_server.url + "/referrals?lang=es")
    assert "Derivaciones de su escuela" in await specialist.content()
    # The school's reports over the demo history and this referral: charts over tables.
    for report in ("outcomes", "needs", "unmet"):
        await specialist.goto(live_server.url + f"/reports/{report}?lang=en")
        if report == "unmet":  # counts by ZIP code: circles on the map, over the same table
            circles = specialist.locator(".report-map.map-on .leaflet-interactive")
            await circles.first.wait_for()
            assert await circles.count() >= 2
            labels = await specialist.locator(".report-map .count-label").all_inner_texts()
            assert any(re.fullmatch(r"606\d\d: \d+", label) for label in labels), labels
        else:
            chart = specialist.locator("figure img").first
            assert await chart.evaluate("image => image.complete && image.naturalWidth > 0")
            assert "table below" in (await chart.get_attribute("alt") or "")
        await snapshot(specialist, f"report-{report}")
        await assert_accessible(specialist)
        if report == "outcomes":
            made = specialist.locator('tr:has(th[scope="row"]:text-is("Made")) td').first
            assert int((await made.inner_text()).strip()) >= 100  # the demo year and this one
