"""'Ask for help': anyone may ask their school, with a honeypot and a rate limit; only that
school's specialists read the requests."""

import re
from uuid import uuid4

from referrals.models import HelpRequest
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.test_pages import referral_form, sign_in, token
from tests.search_index.conftest import indexed


async def ask(client, **fields):
    form = await client.get("/ask")
    return await client.post("/ask", data={"csrftoken": token(form), **fields})


async def test_families_ask_and_only_their_school_sees_it(app, client):
    school = await factories.organization("school", name="Lincoln Middle School")
    other = await factories.organization("school", name="Other School")
    page = await client.get("/ask")
    assert "Lincoln Middle School" in page.text

    missing = await ask(client, school_id=str(school.id), need="food", contact_method="phone")
    assert missing.status_code == 422
    assert 'id="contact_value-error"' in missing.text
    assert f'value="{school.id}" selected' in missing.text  # the choice is kept
    sent = await ask(
        client,
        school_id=str(school.id),
        need="food",
        contact_method="text",
        contact_value="(773) 555-0188",
        message="We run out of food at the end of the month",
    )
    assert sent.status_code == 200
    assert "has your request" in sent.text
    anonymous = await ask(
        client,
        school_id=str(school.id),
        need="housing",
        anonymous="yes",
        contact_method="phone",
        contact_value="(773) 555-0100",
    )
    assert anonymous.status_code == 200
    stored = await HelpRequest.filter(need="housing").get()
    assert (stored.contact_method, stored.contact_value) == (None, None)

    async with asgi_client(app) as specialist:
        await sign_in(specialist, await factories.user(school, "specialist"))
        listed = await specialist.get("/help-requests")
        assert "(773) 555-0188" in listed.text
        assert "Anonymous" in listed.text
        handled = re.search(r'action="(/help-requests/[^"]+/handled)"', listed.text).group(1)
        assert (
            await specialist.post(handled, data={"csrftoken": token(listed)})
        ).status_code == 303
        assert "(773) 555-0188" not in (await specialist.get("/help-requests")).text
    async with asgi_client(app) as elsewhere:
        await sign_in(elsewhere, await factories.user(other, "specialist"))
        assert "(773) 555-0100" not in (await elsewhere.get("/help-requests")).text
        page = await elsewhere.get("/referrals")  # any page with a form holds the token
        stranger = await elsewhere.post(
            f"/help-requests/{stored.id}/handled", data={"csrftoken": token(page)}
        )
        assert stranger.status_code == 403
    async with asgi_client(app) as partner:
        await sign_in(partner, await factories.user(await factories.organization(), "partner"))
        assert (await partner.get("/help-requests")).status_code == 403


async def test_bots_and_floods_are_turned_away(app, client):
    school = await factories.organization("school")
    trap = await ask(
        client, school_id=str(school.id), need="food", anonymous="yes", website="http://spam"
    )
    assert trap.status_code == 200  # thanked, as a person would be
    assert await HelpRequest.all().count() == 0
    codes = [
        (await ask(client, school_id=str(school.id), need="food", anonymous="yes")).status_code
        for _ in range(6)
    ]
    # Five an hour from one address: the bot's trapped post was one of them.
    assert codes == [200] * 4 + [429] * 2
    assert await HelpRequest.all().count() == 4


async def family_asks(client, school) -> HelpRequest:
    """A family asks `school` for help with food, to be answered by email."""
    sent = await ask(
        client,
        school_id=str(school.id),
        need="food",
        contact_method="email",
        contact_value="family@example.net",
    )
    assert sent.status_code == 200
    return await HelpRequest.get(school_organization_id=school.id)


async def test_a_referral_started_from_a_help_request_answers_it(loop, app, client):
    asked = await family_asks(client, loop.school)
    async with asgi_client(app) as specialist:
        await sign_in(specialist, loop.specialist_user)
        listed = await specialist.get("/help-requests")
        assert f"help_request={asked.id}" in listed.text
        await indexed()
        results = await specialist.get(f"/search?category=food&help_request={asked.id}")
        assert results.status_code == 200
        assert f"help_request={asked.id}" in results.text  # carried to each Refer link
        form = await specialist.get(
            f"/referrals/new?service_id={loop.service.id}&help_request={asked.id}"
        )
        assert 'value="family@example.net"' in form.text  # their way back, filled in
        data = referral_form(
            form,
            person_contact_method="email",
            person_contact_value="family@example.net",
            help_request=str(asked.id),
        )
        created = await specialist.post("/referrals/new", data=data)
        assert created.status_code == 303
    assert (await HelpRequest.get(id=asked.id)).status == "handled"


async def test_a_busy_schools_requests_go_on_to_the_next_page(app):
    school = await factories.organization("school")
    for number in range(60):
        await HelpRequest.create(
            id=uuid4(), school_organization_id=school.id, need="food", message=f"m{number}"
        )
    async with asgi_client(app) as specialist:
        await sign_in(specialist, await factories.user(school, "specialist"))
        first = await specialist.get("/help-requests")
        assert "60 requests waiting" in first.text
        second = await specialist.get("/help-requests?page=2")
        ids = re.findall(r'action="/help-requests/([0-9a-f-]+)/handled"', first.text)
        ids += re.findall(r'action="/help-requests/([0-9a-f-]+)/handled"', second.text)
        assert len(ids) == len(set(ids)) == 60
        assert (await specialist.get("/help-requests?page=0")).status_code == 422
