"""A family on a phone, in Spanish: search by ZIP, open a service, with no account."""

from tests.browser.conftest import assert_accessible, snapshot


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

    await first.click()
    await page.wait_for_url("**/services/**")
    assert (await page.locator("h1").inner_text()).strip() == name
    assert await page.locator('a[href^="tel:"]').count() >= 1
    await snapshot(page, "family-service-es")
    await assert_accessible(page)
    await context.close()


async def test_public_pages_in_english_have_no_axe_violations(live_server, page):
    for path, name in [("/", "home-en"), ("/search?category=food&near=60608", "results-en")]:
        await page.goto(live_server.url + path)
        assert await page.get_attribute("html", "lang") == "en"
        await snapshot(page, name)
        await assert_accessible(page)


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
