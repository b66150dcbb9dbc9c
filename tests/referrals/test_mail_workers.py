"""Several `caremap worker --only mail` processes drain one mail outbox together on PostgreSQL
(rows are claimed with FOR UPDATE SKIP LOCKED): every message goes out once, none is skipped."""

import asyncio
import sys
from collections import Counter

import pytest

from directory.models import Organization
from referrals.models import MailOutbox, MailStatus
from referrals.notify import Notice, queue
from tests import factories
from tests.conftest import ON_POSTGRES

MESSAGES = 300
WORKERS = 3

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="several writers at once need PostgreSQL (SQLite has one writer)"
)


async def test_several_workers_send_every_message_once(app, cli_env, smtp_server):
    agency = await factories.organization()
    await Organization.filter(id=agency.id).update(email="office@agency.example.org")
    listing = await factories.listing(agency)
    for number in range(MESSAGES):
        await queue(None, Notice.LISTING_STALE_SOON, f"load:{number}", service_id=listing.id)
    env = {
        **cli_env,
        "SMTP_PORT": str(smtp_server.port),
        "MAIL_DRAINER": "external",
        "REMINDER_SWEEP_SECONDS": "3600",
    }
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "caremap.cli",
            "worker",
            "--only",
            "mail",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    try:
        async with asyncio.timeout(120):
            while await MailOutbox.filter(status=MailStatus.PENDING).count():  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    finally:
        for worker in workers:
            worker.terminate()
        results = [await asyncio.wait_for(worker.communicate(), 60) for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * WORKERS, results

    ids = Counter(message["Message-ID"] for message in smtp_server.messages)
    assert len(ids) == MESSAGES  # none skipped
    assert max(ids.values()) == 1  # none twice
    rows = await MailOutbox.all()
    assert {(row.status, row.attempts) for row in rows} == {(MailStatus.SENT, 1)}
