"""A family on a phone, in their language: search by ZIP, open a service, keep a list, with no
account; every public page in every language, to axe and at 320 pixels."""

import re

import pytest

from caremap.i18n import LOCALES, bcp47, supported
from directory.i18n import catalog
from tests.browser.conftest import ARTIFACTS, assert_accessible, snapshot

# What a family types for food in each journey's language, and the browser's own language.
JOURNEYS = {
    "en": ("en-US", "food"),
    "es": ("es-MX", "comida"),
    "ar": ("ar", "طعام"),
}


@pytest.mark.parametrize("lang", JOURNEYS)
async def test_a_family_on_a_phone_finds_calls_lists_prints_and_emails(
    live_server, browser, smtp_server, lang
):
    """A parent on a 390-pixel phone, in the browser's language: searches from home, sorts by
    distance, opens a result, calls, gets directions, keeps three services on a list, prints it
    and emails it. Arabic pages run right to left, the header mirrored."""
    locale, food = JOURNEYS[lang]
    _ = catalog(LOCALES, lang).gettext
    context = await browser.new_context(
        locale=locale, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = await context.new_page()
    page.set_default_timeout(15_000)

    async def check(step: str) -> None:
        await snapshot(page, f"family-{step}-{lang}")
        await assert_accessible(page)
        wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{step} ({lang}) scrolls sideways by {wide}px"

    await page.goto(live_server.url + "/")
    assert await page.get_attribute("html", "lang") == lang
    assert await page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
    brand = await page.locator(".site-header .brand").bounding_box()
    if lang == "ar":  # mirrored: the name of the site starts at the right
        assert brand["x"] > 390 / 2
    else:
        assert brand["x"] < 390 / 2
    await check("home")

    await page.get_by_label(_("What do you need?")).fill(food)
    await page.get_by_label(_("Where?")).fill("60623")
    await page.get_by_role("button", name=_("Search"), exact=True).click()
    await page.wait_for_url("**/search?**")
    assert "near=60623" in page.url  # the whole search is in the address, to share
    assert await page.locator(".result").count() >= 3
    # On a phone the list comes first; the map waits behind its button.
    the_map = page.locator("#map")
    assert not await the_map.is_visible()
    toggle = page.get_by_role("button", name=_("Map"), exact=True)
    await toggle.click()
    assert await the_map.is_visible()
    assert await page.locator("#map .leaflet-interactive").count() >= 1  # the points
    zoom_in = page.locator("#map .leaflet-control-zoom-in")
    assert await zoom_in.get_attribute("title") == _("Zoom in")
    await check("results")

    await page.get_by_label(_("Order")).select_option("distance")
    await page.get_by_role("button", name=_("Search"), exact=True).click()
    await page.wait_for_url("**sort=distance**")
    miles = [float(m) for m in await page.locator(".result .distance").evaluate_all(
        "badges => badges.map(b => b.dataset.miles)")]  # fmt: skip
    assert len(miles) >= 3
    assert miles == sorted(miles)
    results = page.url

    first = page.locator(".result h2 a").first
    name = (await first.inner_text()).strip()
    await first.click()
    await page.wait_for_url("**/services/**")
    assert (await page.locator("h1").inner_text()).strip() == name
    # Call: a normalised number a phone dials. Directions: by the written address, and the
    # phone's own map app through geo:.
    call = await page.locator('a[href^="tel:"]').first.get_attribute("href")
    assert re.fullmatch(r"tel:\+1\d{10}", call)
    directions = page.get_by_role("link", name=re.compile("^" + re.escape(_("Directions"))))
    assert "openstreetmap.org/search?query=" in await directions.first.get_attribute("href")
    assert await page.locator('a[href^="geo:"]').count() >= 1
    await check("service")

    # Three services on a list, no account: from this page, then from the results.
    add = re.compile("^" + re.escape(_("Add to my list")))
    await page.get_by_role("button", name=add).first.click()
    await page.wait_for_url("**/services/**")
    assert await page.get_by_role("link", name=_("In my list")).count() == 1
    await page.goto(results)
    for _round in range(2):
        await page.get_by_role("button", name=add).first.click()
        await page.wait_for_url("**/search?**")
    await page.get_by_role("link", name=re.compile("^" + re.escape(_("My list")))).click()
    await page.wait_for_url("**/list")
    listed = [n.strip() for n in await page.locator(".handout-list > li h2").all_inner_texts()]
    assert len(listed) == 3
    assert listed[0] == name
    await check("list")
    # Printed, it is a handout: the services, the link and its QR code, no site navigation.
    await page.emulate_media(media="print")
    assert await page.locator(".qr svg").is_visible()
    assert await page.locator("p.print-only").is_visible()
    assert not await page.locator(".site-header nav.account").is_visible()
    assert not await page.get_by_role("button", name=_("Send"), exact=True).is_visible()
    await page.screenshot(path=str(ARTIFACTS / f"family-list-print-{lang}.png"), full_page=True)
    await page.emulate_media(media="screen")

    # Emailed to the family's own address, at once; the address is not kept.
    await page.get_by_label(_("Email address"), exact=True).fill("parent@example.org")
    await page.get_by_role("button", name=_("Send"), exact=True).click()
    await page.wait_for_url("**/list**")
    status = page.get_by_role("status")
    assert _("Sent. The address was used for this email only and was not kept.") in (
        await status.inner_text()
    )
    [sent] = smtp_server.messages
    assert sent["To"] == "parent@example.org"
    assert sent["Subject"] == _("Your list of services from caremap")
    body = sent.get_body(("plain",)).get_content()
    assert all(listed_name in body for listed_name in listed)
    await check("list-sent")
    await context.close()


async def test_every_public_page_in_every_language_has_no_axe_violations(live_server, page):
    await page.goto(live_server.url + "/search?q=legal")
    service = await page.locator(".result h2 a").first.get_attribute("href")
    pages = {
        "home": "/",
        "results": "/search?category=food&near=60608",
        "service": service.split("?")[0].removeprefix(live_server.url),
        "ask": "/ask",
        "login": "/login",
        "missing": "/no-such-page",
    }
    for lang in supported():
        for name, path in pages.items():
            joiner = "&" if "?" in path else "?"
            await page.goto(f"{live_server.url}{path}{joiner}lang={lang}")
            assert await page.get_attribute("html", "lang") == bcp47(lang)
            await snapshot(page, f"{name}-{lang}")
            await assert_accessible(page)
    # The smallest phones: nothing is wider than a 320-pixel screen, in any language.
    await page.set_viewport_size({"width": 320, "height": 640})
    for lang in supported():
        for name, path in pages.items():
            joiner = "&" if "?" in path else "?"
            await page.goto(f"{live_server.url}{path}{joiner}lang={lang}")
            wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{name} ({lang}) scrolls sideways by {wide}px at 320 pixels"
            await snapshot(page, f"{name}-{lang}-320")


async def test_a_student_asks_for_help_anonymously(live_server, page):
    await page.goto(live_server.url + "/?lang=en")
    await page.get_by_role("link", name="Ask for help").click()
    school = page.get_by_label("Your school", exact=True)
    await school.select_option(label="Pilsen Community High School")
    await page.get_by_label("What do you need help with?").select_option("housing")
    await page.get_by_label("Ask anonymously", exact=False).check()
    await page.get_by_role("button", name="Send").click()
    assert "has your request" in await page.get_by_role("status").inner_text()


async def test_search_works_without_javascript(live_server, browser):
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(live_server.url + "/?lang=en")
    await page.get_by_label("What do you need?").fill("legal")
    await page.get_by_role("button", name="Search", exact=True).click()
    await page.wait_for_url("**/search?**")
    assert await page.locator(".result").count() > 0
    await page.locator(".result h2 a").first.click()
    await page.wait_for_url("**/services/**")
    await context.close()
