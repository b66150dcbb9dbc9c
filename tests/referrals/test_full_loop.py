"""The whole closed loop through the real app, with its own mail sender, against a real SMTP
server: refer, the agency is emailed, accepts and completes, the specialist is emailed and sees
the outcome and the whole timeline. No email says anything about the family."""

import pytest

from directory.models import Organization
from tests.referrals.conftest import PERSON, mailing_app, move, refer
from tests.smtp import all_text, body

INBOX = "referrals@agency.example.org"


@pytest.fixture
async def app(settings, smtp_server):
    async with mailing_app(settings, smtp_server) as application:
        yield application


async def test_the_loop_closes_by_email(loop, smtp_server):
    await Organization.filter(id=loop.agency.id).update(referral_email=INBOX)
    referral = await refer(loop, note="Family needs groceries this week")
    reference = referral["id"][:8].upper()

    inbox = (await loop.partner.get("/api/referrals")).json()
    assert [r["id"] for r in inbox["contents"]] == [referral["id"]]
    assert inbox["contents"][0]["person"]["contact_value"] == PERSON["contact_value"]

    [new] = await smtp_server.wait_for(1)
    assert new["To"] == INBOX
    assert new["Subject"] == f"New referral {reference} for {loop.service.name}"
    assert loop.school.name in body(new)
    assert f"http://testserver/referrals/{referral['id']}" in body(new)
    assert f'href="http://testserver/referrals/{referral["id"]}"' in body(new, "html")

    assert (await move(loop.partner, referral, "accepted")).status_code == 200
    accepted = (await smtp_server.wait_for(2))[1]
    assert accepted["To"] == loop.specialist_user.email
    assert accepted["Subject"] == f"Referral {reference} accepted"

    assert (await move(loop.partner, referral, "in_progress")).status_code == 200
    done = await move(loop.partner, referral, "completed", outcome="service_provided")
    assert done.status_code == 200
    completed = (await smtp_server.wait_for(3))[2]
    assert completed["To"] == loop.specialist_user.email
    assert completed["Subject"] == f"Referral {reference} completed"
    assert "Outcome: service provided." in body(completed)

    seen = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()
    assert seen["status"] == "completed"
    assert seen["outcome"] == "service_provided"
    assert [(e["kind"], e["from"], e["to"]) for e in seen["timeline"]] == [
        ("created", None, "requested"),
        ("transition", "requested", "accepted"),
        ("transition", "accepted", "in_progress"),
        ("transition", "in_progress", "completed"),
    ]
    assert len(smtp_server.messages) == 3  # in_progress sends nothing
    for message in smtp_server.messages:
        text = all_text(message)
        for private in (PERSON["name"], PERSON["contact_value"], "groceries this week"):
            assert private not in text
        assert message["Message-ID"]
        assert body(message)
        assert body(message, "html")
