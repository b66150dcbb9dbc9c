"""My list: a family gathers services with no account, prints them as a handout and shares
them as a link that holds service ids and nothing else."""

import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from directory.models import Service
from referrals.models import MailOutbox
from tests import factories
from tests.smtp import body


def csrf(page) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)


async def test_a_family_adds_prints_and_shares_a_list(app, client):
    organization = await factories.organization()
    pantry = await factories.listing(organization, name="Weekly Grocery Pantry")
    clinic = await factories.listing(
        organization, name="Teen Health Clinic", phones=[{"number": "(773) 555-0142"}]
    )
    hidden = await factories.listing(organization, name="Closed For Good", status="inactive")

    empty = await client.get("/list")
    assert "Your list is empty" in empty.text
    service_page = await client.get(f"/services/{pantry.id}")
    added = await client.post(
        "/list/add",
        data={"csrftoken": csrf(service_page), "service_id": str(pantry.id),
              "next": f"/services/{pantry.id}"},
    )  # fmt: skip
    assert added.status_code == 303
    assert added.headers["location"] == f"/services/{pantry.id}"
    assert "max-age" not in added.headers["set-cookie"].lower()  # ends with the session
    back = await client.get(f"/services/{pantry.id}")
    assert "In my list" in back.text
    assert 'href="/list">My list <span class="badge badge-new">1</span>' in back.text
    for service in (clinic, pantry):  # the same one twice is kept once
        await client.post(
            "/list/add",
            data={"csrftoken": csrf(back), "service_id": str(service.id), "next": "https://evil.example"},
        )  # fmt: skip

    handout = await client.get("/list")
    names = re.findall(r'<h2><a href="/services/[^"]+">([^<]+)</a></h2>', handout.text)
    assert names == ["Weekly Grocery Pantry", "Teen Health Clinic"]
    assert 'href="tel:+17735550142"' in handout.text
    assert "<svg" in handout.text  # the QR code back to the list
    link = re.search(r'id="list-link" class="copy no-print" readonly value="([^"]+)"', handout.text)
    shared = urlsplit(link.group(1).replace("&amp;", "&"))
    assert parse_qs(shared.query) == {"s": [str(pantry.id), str(clinic.id)]}  # ids only

    # Someone else opens the shared link: the same services, in order, and no way to change
    # their list from it; a listing no longer public and a mangled id are left out.
    client.cookies.clear()
    opened = await client.get(
        "/list", params=[("s", str(clinic.id)), ("s", str(hidden.id)), ("s", "not-an-id")]
    )
    assert opened.status_code == 200
    assert "Teen Health Clinic" in opened.text
    assert "Closed For Good" not in opened.text
    assert "Someone shared this list" in opened.text

    # Removing and clearing; a bad id is named, not a crash.
    page = await client.get(f"/services/{pantry.id}")
    for service in (pantry, clinic):
        await client.post(
            "/list/add", data={"csrftoken": csrf(page), "service_id": str(service.id)}
        )
    await client.post("/list/remove", data={"csrftoken": csrf(page), "service_id": str(pantry.id)})
    left = await client.get("/list")
    assert "Weekly Grocery Pantry" not in left.text
    assert "Teen Health Clinic" in left.text
    bad = await client.post(
        "/list/add", data={"csrftoken": csrf(page), "service_id": "nope"},
        headers={"Accept": "text/html"},
    )  # fmt: skip
    assert bad.status_code == 422
    refused = await client.post(
        "/list/add", data={"csrftoken": csrf(page), "service_id": str(hidden.id)},
        headers={"Accept": "text/html"},
    )  # fmt: skip
    assert refused.status_code == 403  # only public listings go on a list
    cleared = await client.post("/list/clear", data={"csrftoken": csrf(page)})
    assert cleared.status_code == 303
    assert "Your list is empty" in (await client.get("/list")).text
    assert await Service.filter(id=pantry.id).exists()  # nothing but the browser changed


@pytest.fixture
def settings(settings, smtp_server):
    """This module's app sends mail to a real SMTP server on loopback."""
    return replace(settings, smtp_port=smtp_server.port, list_email_rate_limit="3/hour")


async def test_a_list_is_emailed_at_once_and_the_address_is_kept_nowhere(
    app, client, smtp_server, caplog
):
    organization = await factories.organization()
    clinic = await factories.listing(
        organization, name="Teen Health Clinic", phones=[{"number": "(773) 555-0142"}]
    )
    page = await client.get(f"/services/{clinic.id}", params={"lang": "es"})
    await client.post("/list/add", data={"csrftoken": csrf(page), "service_id": str(clinic.id)})
    handout = await client.get("/list")
    sent = await client.post(
        "/list/email", data={"csrftoken": csrf(handout), "email": "Family@Example.org"}
    )
    assert sent.status_code == 303
    assert "Family" not in sent.headers["location"]  # nothing about the person in the address
    [message] = await smtp_server.wait_for(1)
    assert message["To"] == "Family@example.org"
    assert message["Subject"] == "Su lista de servicios de caremap"
    text = body(message)
    assert "Teen Health Clinic" in text
    assert "(773) 555-0142" in text
    assert f"/list?s={clinic.id}" in text
    assert "Enviada" in (await client.get(sent.headers["location"])).text
    # Kept nowhere: not in the outbox, not in a cookie, not in the logs.
    assert await MailOutbox.all().count() == 0
    assert "family@example.org" not in str(client.cookies).lower()
    assert "family@example.org" not in caplog.text.lower()

    bad = await client.post("/list/email", data={"csrftoken": csrf(handout), "email": "nope"})
    assert bad.status_code == 422
    assert "debe ser un correo electrónico" in bad.text
    smtp_server.stop()
    down = await client.post(
        "/list/email", data={"csrftoken": csrf(handout), "email": "family@example.org"}
    )
    assert down.status_code == 503
    assert "Teen Health Clinic" in down.text  # the list is still there to print or share
    limited = await client.post(
        "/list/email", data={"csrftoken": csrf(handout), "email": "family@example.org"},
        headers={"Accept": "text/html"},
    )  # fmt: skip
    assert limited.status_code == 429  # three an hour from one address in this test
