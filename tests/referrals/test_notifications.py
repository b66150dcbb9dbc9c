"""Referral mail against a real SMTP server: outages, refusals, reminders, escalations, the
family's follow-up link and languages. The drainer is driven by hand, with `at` standing in for
the clock, so backoff and due dates need no waiting."""

import asyncio
import logging
import re
from datetime import timedelta
from unittest import mock

import pytest

from caremap.accounts.models import User
from caremap.mail import mail_drainer, reminder_rules
from directory.claims import now
from directory.models import Organization, Service
from referrals import followup
from referrals.mail import MAX_ATTEMPTS, TemporaryFailure
from referrals.models import MailOutbox, MailStatus, Referral, ReferralEvent
from referrals.notify import ReminderRules, sweep
from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import CONSENT, PERSON, move, refer
from tests.smtp import all_text, body

INBOX = "referrals@agency.example.org"
FAMILY = "family@example.net"


@pytest.fixture
async def inbox(loop):
    await Organization.filter(id=loop.agency.id).update(referral_email=INBOX)


def later(**delta: float):
    return now() + timedelta(**delta)


async def statuses() -> list[tuple[str, str]]:
    return [(m.kind, m.status.value) for m in await MailOutbox.all().order_by("id")]


async def test_an_smtp_outage_delays_mail_but_loses_and_duplicates_none(
    loop, inbox, mail, smtp_server
):
    drainer = mail_drainer(mail)
    referral = await refer(loop)
    await move(loop.partner, referral, "accepted")
    smtp_server.stop()
    with pytest.raises(TemporaryFailure):
        await drainer.drain_once()
    rows = await MailOutbox.all().order_by("id")
    assert [(r.status, r.attempts) for r in rows] == [(MailStatus.PENDING, 1)] * 2
    assert all(r.available_at > now() for r in rows)  # backing off
    assert await drainer.drain_once() == 0  # nothing due yet

    await move(loop.partner, referral, "in_progress")
    await move(loop.partner, referral, "completed", outcome="service_provided")
    smtp_server.start()
    smtp_server.inbox.busy = True  # up, but answering 451 for a while
    with pytest.raises(TemporaryFailure):
        await drainer.drain_once(at=later(minutes=10))
    assert smtp_server.messages == []

    smtp_server.inbox.busy = False
    assert await drainer.drain_all(at=later(minutes=20)) == 3
    assert await drainer.drain_all(at=later(days=1)) == 0
    reference = referral["id"][:8].upper()
    assert sorted(m["Subject"] for m in smtp_server.messages) == [
        f"New referral {reference} for {loop.service.name}",
        f"Referral {reference} accepted",
        f"Referral {reference} completed",
    ]
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 3
    assert await statuses() == [
        ("new_referral", "sent"),
        ("accepted", "sent"),
        ("completed", "sent"),
    ]


async def test_a_refused_address_fails_once_and_the_rest_still_go(loop, inbox, mail, smtp_server):
    smtp_server.inbox.refuse.add(INBOX)
    referral = await refer(loop)
    await move(loop.partner, referral, "accepted")
    assert await mail_drainer(mail).drain_all() == 2
    assert await statuses() == [("new_referral", "failed"), ("accepted", "sent")]
    failed = await MailOutbox.get(kind="new_referral")
    assert failed.last_error == "recipients refused (550)"  # no address in the error
    assert [m["To"] for m in smtp_server.messages] == [loop.specialist_user.email]
    assert await mail_drainer(mail).drain_all(at=later(days=1)) == 0


async def test_no_inbox_address_is_skipped_not_retried(loop, mail, smtp_server):
    await refer(loop)
    assert await mail_drainer(mail).drain_all() == 1
    assert await statuses() == [("new_referral", "skipped")]
    assert smtp_server.messages == []


async def test_unanswered_referrals_remind_the_agency_then_tell_the_referrer(
    loop, inbox, mail, smtp_server
):
    rules = reminder_rules(mail)
    referral = await refer(loop, urgency="urgent")
    due = (await Referral.get(id=referral["id"])).due_at
    assert await sweep(rules, at=due - timedelta(hours=1)) == 0
    assert await sweep(rules, at=due + timedelta(hours=1)) == 1
    assert await sweep(rules, at=due + timedelta(hours=2)) == 0  # once per due date
    assert await sweep(rules, at=due + timedelta(days=3)) == 1
    drainer = mail_drainer(mail)
    await drainer.drain_all(at=due + timedelta(days=3))
    reference = referral["id"][:8].upper()
    assert [(m["To"], m["Subject"]) for m in smtp_server.messages[1:]] == [
        (INBOX, f"Reminder: referral {reference} is waiting for you"),
        (loop.specialist_user.email, f"No response yet on referral {reference}"),
    ]
    timeline = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()["timeline"]
    assert [e["kind"] for e in timeline] == ["created", "due_reminder", "due_escalation"]

    # A response stops the reminders.
    await move(loop.partner, referral, "accepted")
    assert await sweep(rules, at=due + timedelta(days=4)) == 0


async def test_accepted_referrals_without_updates_are_chased(loop, inbox, mail, smtp_server):
    rules = reminder_rules(mail)
    referral = await refer(loop)
    await move(loop.partner, referral, "accepted")
    updated = (await Referral.get(id=referral["id"])).updated_at
    assert await sweep(rules, at=updated + timedelta(days=13)) == 0
    assert await sweep(rules, at=updated + timedelta(days=15)) == 1
    assert await sweep(rules, at=updated + timedelta(days=17)) == 1
    await mail_drainer(mail).drain_all(at=updated + timedelta(days=17))
    kinds = [m.kind for m in await MailOutbox.all().order_by("id")]
    assert kinds == ["new_referral", "accepted", "stale_reminder", "stale_escalation"]
    assert smtp_server.messages[2]["To"] == INBOX
    assert "no update for 14 days" in body(smtp_server.messages[2])
    assert smtp_server.messages[3]["To"] == loop.specialist_user.email

    # A note counts as an update: the clock starts again.
    await loop.partner.post(f"/api/referrals/{referral['id']}/notes", json={"note": "Called"})
    noted = (await Referral.get(id=referral["id"])).updated_at
    assert await sweep(rules, at=noted + timedelta(days=13)) == 0
    overdue = await loop.partner.get("/api/referrals", params={"overdue": "true"})
    assert overdue.json()["total_items"] == 0


async def follow_up_referral(loop, **consent) -> dict:
    person = {**PERSON, "contact_method": "email", "contact_value": FAMILY}
    referral = await refer(loop, person=person, consent={**CONSENT, **consent})
    await move(loop.partner, referral, "accepted")
    await move(loop.partner, referral, "in_progress")
    await move(loop.partner, referral, "completed", outcome="service_provided")
    return referral


async def test_the_family_is_asked_once_and_answers_through_the_link(
    loop, inbox, mail, smtp_server, app
):
    referral = await follow_up_referral(loop, follow_up=True)
    rules = reminder_rules(mail)
    assert await sweep(rules, at=later(days=1)) == 0
    assert await sweep(rules, at=later(days=4)) == 1
    assert await sweep(rules, at=later(days=5)) == 0
    await mail_drainer(mail).drain_all(at=later(days=4))
    [asked] = smtp_server.to(FAMILY)
    assert asked["Subject"] == "¿Recibió la ayuda que necesitaba?"  # the family's language
    assert asked["Content-Language"] == "es"
    text = all_text(asked)
    for private in (loop.service.name, loop.school.name, loop.agency.name, PERSON["name"]):
        assert private not in text  # anyone reading the family's mailbox learns nothing
    link = re.search(r"http://testserver(/help/\S+)", body(asked)).group(1)

    async with asgi_client(app) as family:
        page = await family.get(link)
        assert page.status_code == 200
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        assert (await family.post(link, data={"answer": "no"})).status_code == 403  # no token
        assert "¿Recibió la ayuda que necesitaba?" in page.text
        assert page.headers["cache-control"] == "no-store"
        maybe = {"answer": "maybe", "csrftoken": token}
        assert (await family.post(link, data=maybe)).status_code == 422
        answered = await family.post(link, data={"answer": "no", "csrftoken": token})
        assert answered.status_code == 200
        assert "Gracias" in answered.text
        again = await family.post(link, data={"answer": "no", "csrftoken": token})
        assert again.status_code == 200  # answering twice changes nothing
        assert (await family.get(link[:-3] + "abc")).status_code == 404

    seen = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()
    reports = [e for e in seen["timeline"] if e["kind"] == "client_reported"]
    assert [(e["note"], e["actor_user_id"]) for e in reports] == [("got help: no", None)]
    await mail_drainer(mail).drain_all(at=later(days=4))
    told = smtp_server.to(loop.specialist_user.email)[-1]
    assert "the family says they did not get help" in told["Subject"]


async def test_an_old_follow_up_link_has_expired(loop, app):
    referral = await follow_up_referral(loop, follow_up=True)
    month_ago = later(days=-(followup.LINK_DAYS + 1)).timestamp()
    with mock.patch("itsdangerous.timed.time.time", return_value=month_ago):
        token = followup.make_token("test-secret-key-not-for-production", referral["id"])
    response = await loop.specialist.get(f"/help/{token}")
    assert response.status_code == 410


@pytest.mark.parametrize(
    ("consent", "contact"),
    [
        ({"follow_up": False}, {"contact_method": "email", "contact_value": FAMILY}),
        ({"follow_up": True}, {"contact_method": "phone", "contact_value": "(773) 555-0199"}),
    ],
)
async def test_no_follow_up_without_consent_and_an_email(loop, consent, contact):
    person = {**PERSON, **contact}
    referral = await refer(loop, person=person, consent={**CONSENT, **consent})
    await move(loop.partner, referral, "accepted")
    await move(loop.partner, referral, "in_progress")
    await move(loop.partner, referral, "completed", outcome="service_provided")
    assert await sweep(ReminderRules(), at=later(days=10)) == 0


async def test_withdrawn_consent_stops_a_waiting_follow_up(loop, inbox, mail, smtp_server):
    referral = await follow_up_referral(loop, follow_up=True)
    await sweep(reminder_rules(mail), at=later(days=4))
    await loop.specialist.post(f"/api/referrals/{referral['id']}/consent/withdraw")
    await mail_drainer(mail).drain_all(at=later(days=4))
    assert smtp_server.to(FAMILY) == []
    assert ("follow_up", "skipped") in await statuses()


async def test_specialists_get_mail_in_their_language(loop, inbox, mail, smtp_server):
    await User.filter(id=loop.specialist_user.id).update(language="es")
    referral = await refer(loop)
    await move(loop.partner, referral, "rejected", reason="no_capacity")
    await mail_drainer(mail).drain_all()
    [declined] = smtp_server.to(loop.specialist_user.email)
    assert declined["Subject"] == f"Derivación {referral['id'][:8].upper()} rechazada"
    assert "Motivo: sin cupo." in body(declined)
    assert declined["Content-Language"] == "es"


async def test_a_deactivated_specialist_gets_no_mail(loop, inbox, mail, smtp_server):
    referral = await refer(loop)
    await User.filter(id=loop.specialist_user.id).update(is_active=False)
    await move(loop.partner, referral, "accepted")
    await mail_drainer(mail).drain_all()
    assert await statuses() == [("new_referral", "sent"), ("accepted", "skipped")]


async def test_each_notice_is_queued_once(loop):
    referral = await refer(loop)
    await move(loop.partner, referral, "accepted")
    assert await MailOutbox.filter(referral_id=referral["id"]).count() == 2
    assert await ReferralEvent.filter(referral_id=referral["id"]).count() == 2


# --- mail can be neither injected into nor jammed -------------------------------------------


async def test_a_poisoned_message_never_holds_back_the_others(loop, inbox, mail, smtp_server):
    """Three rows that can never become mail sit in the outbox before a good one: an inbox
    address with a line break (stored before input refused such text), an unknown notice (a
    message that cannot be written) and a listing notice with nothing left to name. The good
    one goes out in the first pass; the unwritable one is tried `MAX_ATTEMPTS` times, with
    backoff, then failed with its error; none is retried for ever."""
    other_agency = await factories.organization(name="Poisoned Agency")
    await Organization.filter(id=other_agency.id).update(
        referral_email="intake@agency.example.org\r\nBcc: attacker@example.com"
    )
    other_service = await factories.listing(other_agency, accepts_referrals=True)
    poisoned = await refer(loop, service_id=str(other_service.id))  # to the bad address
    await MailOutbox.create(
        key="poison",
        kind="no_such_notice",
        recipient="organization",
        referral_id=poisoned["id"],
        available_at=now(),
    )
    await refer(loop)  # the good one comes last in the batch

    drainer = mail_drainer(mail)
    await drainer.drain_once()
    assert [m["To"] for m in smtp_server.messages] == [INBOX]
    assert all("attacker" not in str(m) for m in smtp_server.messages)
    bad_address = await MailOutbox.get(key__startswith="new_referral", referral_id=poisoned["id"])
    assert (bad_address.status, bad_address.last_error) == (
        MailStatus.FAILED,
        "the recipient is not one valid address",
    )
    poison = await MailOutbox.get(key="poison")
    assert (poison.status, poison.attempts) == (MailStatus.PENDING, 1)
    assert poison.last_error == "composing: ValueError"

    for hours in range(1, 10):
        await drainer.drain_all(at=later(hours=hours))
    poison = await MailOutbox.get(key="poison")
    assert (poison.status, poison.attempts) == (MailStatus.FAILED, MAX_ATTEMPTS)
    assert len(smtp_server.messages) == 1
    assert await drainer.drain_all(at=later(days=2)) == 0


async def test_names_never_reach_a_header_unsanitised(loop, inbox, mail, smtp_server):
    """A service name with a line break (from before the input rule) cannot add a header."""
    await Service.filter(id=loop.service.id).update(
        name="Pantry\r\nBcc: attacker@example.com\r\nX-Evil: 1"
    )
    await refer(loop)
    assert await mail_drainer(mail).drain_all() == 1
    [message] = smtp_server.messages
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert "\n" not in message["Subject"]
    assert message["Subject"].endswith("Pantry Bcc: attacker@example.com X-Evil: 1")
    assert [m["To"] for m in smtp_server.messages] == [INBOX]


async def test_one_answer_per_referral_and_the_link_ends_with_consent(loop, inbox, mail, app):
    """The family may correct their answer while the link lives, but the specialist is told of
    a "no" once; a withdrawn consent ends the link at once."""
    referral = await follow_up_referral(loop, follow_up=True)
    token = followup.make_token("test-secret-key-not-for-production", referral["id"])
    link = f"/help/{token}"
    async with asgi_client(app) as family:
        page = await family.get(link)
        csrf = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        for answer in ("no", "yes", "no", "partly", "no"):
            sent = await family.post(link, data={"answer": answer, "csrftoken": csrf})
            assert sent.status_code == 200
        told = await MailOutbox.filter(kind="family_no_help").count()
        assert told == 1
        assert (await Referral.get(id=referral["id"])).client_report == "no"

        withdrawn = await loop.specialist.post(f"/api/referrals/{referral['id']}/consent/withdraw")
        assert withdrawn.status_code == 200
        assert (await family.get(link)).status_code == 410
        late = await family.post(link, data={"answer": "yes", "csrftoken": csrf})
        assert late.status_code == 410
    assert (await Referral.get(id=referral["id"])).client_report == "no"


async def test_a_mail_server_that_is_down_is_said_once_not_at_every_poll(
    loop, inbox, mail, smtp_server, caplog
):
    """On a demo machine with no mail server, mail waits quietly: one warning when the
    server is found down, one line when it is back, nothing at each poll in between."""
    drainer = mail_drainer(mail)
    drainer.poll_seconds = 0.02
    await refer(loop)
    smtp_server.stop()
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="referrals.mail")
    running = asyncio.create_task(drainer.run(stop))
    for _ in range(6):  # the row is due again and again while the server stays down
        await MailOutbox.filter(status=MailStatus.PENDING).update(available_at=now())
        await asyncio.sleep(0.1)
    smtp_server.start()
    await MailOutbox.filter(status=MailStatus.PENDING).update(available_at=now())
    for _ in range(50):
        if await MailOutbox.filter(status=MailStatus.SENT).exists():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await running
    said = [r.getMessage() for r in caplog.records if r.name == "referrals.mail"]
    assert sum("unavailable" in line for line in said) == 1, said
    assert sum("is back" in line for line in said) == 1, said
    assert any(line.startswith("mail goes to the SMTP server at 127.0.0.1:") for line in said)
