"""Personal details never leave the places meant for them: not into logs, emails, addresses or the
search index.

The real app and worker run as separate processes (`caremap serve`, `caremap worker`) at DEBUG
log level, with mail going to a real SMTP server on loopback. A family asks for help, a
specialist refers a student, the agency works the referral with notes and closes it, and bad
input is sent that carries the same details. Then every captured log line, every email, every
address the app answered with, and every file of the search index is searched for each detail.

Who sees a referral at each status (a draft, withdrawn consent, notes, refused looks) is tested
in-process in `tests/referrals/test_visibility.py`.
"""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import tantivy

from tests.processes import caremap, signed_in, wait_until_serving
from tests.smtp import SmtpServer, all_text, free_port

PASSWORD = "privacy-test-password-1"
SCHOOL = "Pilsen Community High School"
# Values no seed or template contains, so any sighting is a leak.
NAME = "Zephyrine Quillfeather"
PHONE = "(312) 555-0187"
EMAIL = "zq.family.private@example.net"
NOTE = "Grandmother recently hospitalised; the rent is two months late"
MESSAGE = "We sleep in our car since Tuesday behind the laundromat"
PRIVATE = (NAME, PHONE, "5550187", EMAIL, NOTE, MESSAGE, "hospitalised", "laundromat")


def _add_user(env: dict[str, str], email: str, role: str, organization: str) -> None:
    added = caremap(
        "user", "add", "--email", email, "--name", f"Privacy {role}", "--role", role,
        "--organization", organization, "--password", PASSWORD, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr


def test_personal_details_stay_out_of_logs_mail_addresses_and_the_index(
    cli_env: dict[str, str], tmp_path: Path, smtp_server: SmtpServer
) -> None:
    smtp = smtp_server
    env = {
        **cli_env,
        "LOG_LEVEL": "DEBUG",
        "SMTP_PORT": str(smtp.port),
        "SEARCH_DRAINER": "external",
        "MAIL_DRAINER": "external",
    }
    seeded = caremap("seed", env=env)
    assert seeded.returncode == 0, seeded.stderr
    logs = [tmp_path / "serve.log", tmp_path / "worker.log"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with logs[0].open("w") as serve_log, logs[1].open("w") as worker_log:
        server = subprocess.Popen(
            [sys.executable, "-m", "caremap.cli", "serve", "--port", str(port)],
            env=env,
            stdout=serve_log,
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "caremap.cli", "worker"],
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(url, server)
            answered = _walk_the_loop(url, env, smtp)
        finally:
            for process in (server, worker):
                process.terminate()
            for process in (server, worker):
                process.wait(timeout=30)

    captured = {path.name: path.read_text() for path in logs}
    assert "DEBUG" in captured["worker.log"] or "INFO" in captured["worker.log"]
    assert "Uvicorn running" in captured["serve.log"] or "startup" in captured["serve.log"]
    mails = {f"mail {number}": all_text(message) for number, message in enumerate(smtp.messages)}
    assert len(mails) >= 3  # new referral, accepted, completed
    documents = _indexed_documents(Path(env["CAREMAP_DATA_DIR"]) / "search")
    assert answered[0] in documents  # the referred listing's id: the index was read
    places = {
        **captured,
        **mails,
        "the search index": documents,
        "addresses": "\n".join(answered[1:]),
    }
    for place, text in places.items():
        for value in PRIVATE:
            assert value.lower() not in text.lower(), f"{value!r} appears in {place}"


def _indexed_documents(root: Path) -> str:
    """Every document the embedded search index stores, as text."""
    index = tantivy.Index.open(str(root / (root / "CURRENT").read_text().strip()))
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.all_query(), limit=searcher.num_docs).hits
    assert len(hits) > 100  # the demo catalog
    return "\n".join(json.dumps(searcher.doc(at).to_dict(), default=str) for _, at in hits)


def _walk_the_loop(url: str, env: dict[str, str], smtp: SmtpServer) -> list[str]:
    """Adds a specialist and a partner, and walks the loop with them signed in."""
    listings = httpx.get(f"{url}/api/services", params={"per_page": 100}).json()["contents"]
    listing = next(item for item in listings if item["accepts_referrals"])
    _add_user(env, "specialist@privacy.example.org", "specialist", SCHOOL)
    _add_user(env, "partner@privacy.example.org", "partner", listing["organization_id"])
    with (
        signed_in(url, "specialist@privacy.example.org", PASSWORD) as specialist,
        signed_in(url, "partner@privacy.example.org", PASSWORD) as partner,
    ):
        return _refer_and_work(url, smtp, listing, specialist, partner)


def _refer_and_work(
    url: str,
    smtp: SmtpServer,
    listing: dict,
    specialist: httpx.Client,
    partner: httpx.Client,
) -> list[str]:
    """The family asks, the specialist refers, the agency works and closes the referral; bad
    input carrying the same details is sent on the way. Returns the referred listing's id, then
    every address the app answered with."""
    answered: list[str] = [listing["id"]]

    with httpx.Client(base_url=url, timeout=30) as family:
        page = family.get("/ask")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
        school = re.search(r'<option value="([0-9a-f-]{36})"[^>]*>\s*' + SCHOOL, page.text)
        assert token, "the help form has no CSRF token"
        assert school, "the help form does not offer the school"
        asked = family.post(
            "/ask",
            data={
                "csrftoken": token.group(1),
                "school_id": school.group(1),
                "need": "housing",
                "contact_method": "email",
                "contact_value": EMAIL,
                "message": MESSAGE,
            },
        )
        assert asked.status_code == 200, asked.text
        answered.append(str(asked.url))

    person = {
        "name": NAME,
        "age_band": "14-17",
        "preferred_language": "es",
        "contact_method": "phone",
        "contact_value": PHONE,
        "contact_times": "after 5pm",
    }
    consent = {"given_by": "guardian", "method": "verbal", "given_at": "2026-11-20T15:00:00Z"}
    body = {
        "service_id": listing["id"],
        "person": person,
        "needs": ["food-pantry"],
        "consent": consent,
        "note": NOTE,
    }
    # Bad input carrying the details: a wrong contact method, an unknown field, a bad email.
    for bad in (
        {**body, "person": {**person, "contact_method": "pigeon"}},
        {**body, "person": {**person, "student_id": NAME}},
        {**body, "person": {**person, "contact_method": "email", "contact_value": NOTE}},
        {**body, "service_id": EMAIL},
    ):
        refused = specialist.post("/api/referrals", json=bad)
        assert refused.status_code == 422, refused.text
    created = specialist.post("/api/referrals", json=body)
    assert created.status_code == 201, created.text
    referral = created.json()
    answered += [str(created.url), created.headers.get("location", "")]
    path = f"/api/referrals/{referral['id']}"

    def move(client: httpx.Client, to: str, **extra: str) -> None:
        version = client.get(path).json()["version"]
        moved = client.post(f"{path}/transitions", json={"to": to, "version": version, **extra})
        assert moved.status_code == 200, moved.text

    move(partner, "accepted", note=f"Called {NAME} at {PHONE}")
    noted = partner.post(f"{path}/notes", json={"note": f"{NOTE}; email {EMAIL}"})
    assert noted.status_code in (200, 201), noted.text
    stale = partner.post(f"{path}/transitions", json={"to": "in_progress", "version": 1})
    assert stale.status_code == 409
    move(partner, "in_progress")
    move(partner, "completed", outcome="service_provided", note=f"{NAME} got groceries")
    answered += [str(response.url) for response in (noted, stale)]
    for page in ("/referrals", f"/referrals/{referral['id']}"):
        shown = specialist.get(page)
        assert shown.status_code == 200
        answered.append(str(shown.url))
    assert NAME in shown.text  # the details are where they belong...
    deadline = time.monotonic() + 60  # ...and the worker sends the mail about them
    while len(smtp.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    return answered
