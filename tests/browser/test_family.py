"""A family on a phone, in Spanish: search by ZIP, open a service, with no account."""

import re

from tests.browser.conftest import ARTIFACTS, assert_accessible, snapshot


async def test_a_family_searches_in_spanish_by_zip(live_server, browser):
    context = await browser.new_context(
        locale="es-MX", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = await context.new_page()
    await page.goto(live_server.url + "/")
    assert await page.get_attribute("html", "lang") == "es"
    await snapshot(page, "family-home-es")
    await assert_accessible(page)

    await page.get_by_label("¿Qué necesita?").fill("comida")
    await page.get_by_label("¿Dónde?").fill("60623")
    await page.get_by_role("button", name="Buscar", exact=True).click()
    await page.wait_for_url("**/search?**")
    assert "near=60623" in page.url  # the whole search is in the address, to share
    status = page.get_by_role("status")
    assert "encontrado" in (await status.inner_text())
    first = page.locator(".result h2 a").first
    name = (await first.inner_text()).strip()
    await snapshot(page, "family-results-es")
    await assert_accessible(page)

    results = page.url
    await first.click()
    await page.wait_for_url("**/services/**")
    assert (await page.locator("h1").inner_text()).strip() == name
    # Call: a normalised number a phone dials. Directions: by the written address, and the
    # phone's own map app through geo:.
    call = await page.locator('a[href^="tel:"]').first.get_attribute("href")
    assert re.fullmatch(r"tel:\+1\d{10}", call)
    directions = page.locator('a[href^="https://www.openstreetmap.org/search?query="]')
    assert await directions.count() >= 1
    assert await page.locator('a[href^="geo:"]').count() >= 1
    await snapshot(page, "family-service-es")
    await assert_accessible(page)

    # Three services on a list, no account: from this page, then from the results.
    await page.get_by_role("button", name=re.compile("^Agregar a mi lista")).first.click()
    await page.wait_for_url("**/services/**")
    assert await page.get_by_role("link", name="En mi lista").count() == 1
    await page.goto(results)
    buttons = page.get_by_role("button", name=re.compile("^Agregar a mi lista"))
    for _ in range(2):
        await buttons.first.click()
        await page.wait_for_url("**/search?**")
    await page.get_by_role("link", name=re.compile("^Mi lista")).click()
    await page.wait_for_url("**/list")
    listed = await page.locator(".handout-list > li h2").all_inner_texts()
    assert len(listed) == 3
    assert listed[0].strip() == name
    await snapshot(page, "family-list-es")
    await assert_accessible(page)
    # Printed, it is a handout: the services, the link and its QR code, no site navigation.
    await page.emulate_media(media="print")
    assert await page.locator(".qr svg").is_visible()
    assert await page.locator("p.print-only").is_visible()
    assert not await page.locator(".site-header nav.account").is_visible()
    await page.screenshot(path=str(ARTIFACTS / "family-list-print-es.png"), full_page=True)
    await context.close()


async def test_every_public_page_in_both_languages_has_no_axe_violations(live_server, page):
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
    for lang in ("en", "es"):
        for name, path in pages.items():
            joiner = "&" if "?" in path else "?"
            await page.goto(f"{live_server.url}{path}{joiner}lang={lang}")
            assert await page.get_attribute("html", "lang") == lang
            await snapshot(page, f"{name}-{lang}")
            await assert_accessible(page)
    # The smallest phones: nothing is wider than a 320-pixel screen, in either language.
    await page.set_viewport_size({"width": 320, "height": 640})
    for lang in ("en", "es"):
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
