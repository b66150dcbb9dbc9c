"""The FHIR REST surface (`/fhir/...`) through the real app: reads under the JSON API's access
rules with API tokens, a partner's system polling for Tasks without missing or repeating any,
and Tasks worked through PATCH and PUT as moves of caremap's one lifecycle table, every error an
OperationOutcome."""

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from directory.models import Organization
from referrals.models import AuditEntry
from tests import factories
from tests.conftest import asgi_client
from tests.referrals import fhir_profiles
from tests.referrals.conftest import CONSENT, PERSON, mailing_app, move, refer
from tests.smtp import all_text, body

PATCH = "application/json-patch+json"


def outcome(response: httpx.Response, status: int) -> dict:
    """The response is `status` with an OperationOutcome body, valid R4B."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    OperationOutcome.model_validate(response.json())
    return response.json()


async def token_client(app, user) -> httpx.AsyncClient:
    """A partner's case system: no session, an API token."""
    client = asgi_client(app)
    client.headers.update(await factories.token_headers(user))
    return client


async def read(client: httpx.AsyncClient, path: str) -> dict:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    return response.json()


async def patch(client, task_id: str, operations: list, version: str | None) -> httpx.Response:
    headers = {"Content-Type": PATCH}
    if version is not None:
        headers["If-Match"] = version
    return await client.patch(f"/fhir/Task/{task_id}", json=operations, headers=headers)


STATUS_SYSTEM = "https://caremap.org/fhir/CodeSystem/referral-status"
RECEIVED = [  # caremap's "received": Task.status stays requested, the businessStatus says so
    {
        "op": "replace",
        "path": "/businessStatus",
        "value": {"coding": [{"system": STATUS_SYSTEM, "code": "received"}]},
    }
]


def status_to(status: str, outcome: str | None = None) -> list[dict]:
    """A JSON Patch moving a Task to `status`, with caremap's outcome as its statusReason."""
    operations = [{"op": "replace", "path": "/status", "value": status}]
    if outcome:
        system = "https://caremap.org/fhir/CodeSystem/referral-outcome"
        reason = {"coding": [{"system": system, "code": outcome}]}
        operations.append({"op": "add", "path": "/statusReason", "value": reason})
    return operations


# --- metadata and reads ------------------------------------------------------------------------


async def test_metadata_is_a_capability_statement_of_the_routes(app):
    async with asgi_client(app) as anonymous:
        statement = await read(anonymous, "/fhir/metadata")
    CapabilityStatement.model_validate(statement)
    [rest] = statement["rest"]
    kinds = {r["type"]: r for r in rest["resource"]}
    assert set(kinds) == {"Task", "ServiceRequest", "Patient", "Consent", "Organization"}
    assert {i["code"] for i in kinds["Task"]["interaction"]} == {
        "read",
        "search-type",
        "update",
        "patch",
    }
    assert {p["name"] for p in kinds["Task"]["searchParam"]} == {
        "owner",
        "status",
        "_lastUpdated",
        "_count",
    }


async def test_a_partner_system_reads_each_resource_with_a_token(app, loop):
    referral = await refer(loop, consent={**CONSENT, "shares": ["age_band"]})
    async with await token_client(app, loop.partner_user) as system:
        task = await read(system, f"/fhir/Task/{referral['id']}")
        request = await read(system, f"/fhir/ServiceRequest/{referral['id']}")
        patient = await read(system, f"/fhir/Patient/{referral['id']}")
        consent = await read(system, f"/fhir/Consent/{referral['id']}")
        agency = await read(system, f"/fhir/Organization/{loop.agency.id}")
        etag = (await system.get(f"/fhir/Task/{referral['id']}")).headers["etag"]
    for resource in (task, request, patient, consent, agency):
        assert fhir_profiles.problems(resource) == [], resource["resourceType"]
    assert etag == 'W/"1"'
    assert task["owner"]["reference"] == f"Organization/{loop.agency.id}"
    assert task["focus"]["reference"] == f"ServiceRequest/{referral['id']}"
    # Consent shares only the age band with the agency: no name, no contact.
    assert patient["name"] == [
        {"extension": [{"url": fhir_profiles.DATA_ABSENT, "valueCode": "masked"}]}
    ]
    assert "telecom" not in patient
    assert PERSON["contact_value"] not in str([task, request, patient, consent])
    assert patient["extension"][0]["valueString"] == PERSON["age_band"]
    # Every read of the referral's resources is in the audit log, with who read it.
    reads = await AuditEntry.filter(referral_id=referral["id"], action="export_fhir")
    assert len(reads) == 5
    assert {entry.actor_user_id for entry in reads} == {loop.partner_user.id}


async def test_the_specialist_sees_what_the_family_shared(app, loop):
    referral = await refer(loop)
    patient = await read(loop.specialist, f"/fhir/Patient/{referral['id']}")
    assert patient["name"][0]["text"] == PERSON["name"]
    assert patient["telecom"] == [{"system": "phone", "value": PERSON["contact_value"]}]


async def test_outsiders_get_operation_outcomes_never_the_referral(app, loop):
    referral = await refer(loop)
    outsider = await factories.user(await factories.organization(), "partner")
    paths = [f"/fhir/{kind}/{referral['id']}" for kind in ("Task", "ServiceRequest", "Patient")]
    paths.append(f"/fhir/Consent/{referral['id']}")
    async with await token_client(app, outsider) as other, asgi_client(app) as anonymous:
        for path in paths:
            refused = outcome(await other.get(path), 403)
            assert refused["issue"][0]["code"] == "forbidden"
            assert PERSON["name"] not in str(refused)
            assert outcome(await anonymous.get(path), 401)["issue"][0]["code"] == "login"
        search = await read(other, "/fhir/Task")
        assert search["entry"] == []
        assert search["total"] == 0
        outcome(await patch(other, referral["id"], status_to("accepted"), 'W/"1"'), 403)
        outcome(await other.get(f"/fhir/Task/{'0' * 8}-0000-0000-0000-{'0' * 12}"), 404)
        outcome(await other.get("/fhir/Task/not-an-id"), 404)
        outcome(await other.get("/fhir/Appointment"), 404)
        outcome(await other.delete(f"/fhir/Task/{referral['id']}"), 405)
    refusals = await AuditEntry.filter(referral_id=referral["id"], action="refused")
    assert len(refusals) >= len(paths)


# --- the Task search ---------------------------------------------------------------------------


async def test_the_task_search_filters_by_owner_status_and_last_update(app, loop):
    first, second, third = [await refer(loop) for _ in range(3)]
    await move(loop.partner, second, "accepted")
    async with await token_client(app, loop.partner_user) as system:
        everything = await read(system, "/fhir/Task")
        assert [e["resource"]["id"] for e in everything["entry"]] == [
            first["id"],
            third["id"],
            second["id"],  # changed last
        ]
        assert everything["total"] == 3
        accepted = await read(system, "/fhir/Task?status=accepted")
        assert [e["resource"]["id"] for e in accepted["entry"]] == [second["id"]]
        both = await read(system, "/fhir/Task?status=accepted,requested")
        assert both["total"] == 3
        mine = await read(system, f"/fhir/Task?owner=Organization/{loop.agency.id}")
        assert mine["total"] == 3
        other = await factories.organization()
        assert (await read(system, f"/fhir/Task?owner=Organization/{other.id}"))["total"] == 0
        since = everything["entry"][1]["resource"]["meta"]["lastUpdated"]
        newer = await system.get("/fhir/Task", params={"_lastUpdated": f"gt{since}"})
        assert [e["resource"]["id"] for e in newer.json()["entry"]] == [second["id"]]
        from_ = await system.get("/fhir/Task", params={"_lastUpdated": f"ge{since}"})
        assert [e["resource"]["id"] for e in from_.json()["entry"]] == [third["id"], second["id"]]
        before = await system.get("/fhir/Task", params={"_lastUpdated": f"lt{since}"})
        assert [e["resource"]["id"] for e in before.json()["entry"]] == [first["id"]]

        for query, named in [
            ("subject=Patient/1", "subject"),
            ("status=received", "status"),
            ("_lastUpdated=2026-01-01", "_lastUpdated"),
            ("_lastUpdated=gt2026-01-01T00:00:00", "_lastUpdated"),
            ("_count=0", "_count"),
            ("_count=101", "_count"),
            ("owner=Organization/nobody", "owner"),
            ("_cursor=bm9wZQ", "_cursor"),
        ]:
            refused = outcome(await system.get(f"/fhir/Task?{query}"), 422)
            assert named in [i.get("expression", [None])[0] for i in refused["issue"]], query


async def test_a_poller_misses_no_task_and_sees_none_twice(app, loop):
    """A partner's system pages through with the next links, then asks again from the last
    lastUpdated it saw, while referrals are made and moved in between."""
    made = [await refer(loop) for _ in range(7)]
    seen: list[tuple[str, str]] = []  # (id, version) as the poller received them
    async with await token_client(app, loop.partner_user) as system:

        async def poll(since: str | None) -> str | None:
            params: dict | None = {"_count": "3"}
            if since:
                params["_lastUpdated"] = f"gt{since}"
            url: str | None = "/fhir/Task"
            last = since
            while url:
                page = (await system.get(url, params=params)).json()
                for entry in page["entry"]:
                    task = entry["resource"]
                    seen.append((task["id"], task["meta"]["versionId"]))
                    last = task["meta"]["lastUpdated"]
                following = [link["url"] for link in page["link"] if link["relation"] == "next"]
                url, params = None, None  # the next link carries every parameter
                if following:
                    parts = urlsplit(following[0])
                    assert parts.netloc == "testserver"
                    url = f"{parts.path}?{parts.query}"
                    assert parse_qs(parts.query)["_count"] == ["3"]
            return last

        mark = await poll(None)
        assert [i for i, _ in seen] == [r["id"] for r in made]
        # A page is read while a referral on a later page moves: it shows up again later, once.
        await move(loop.partner, made[0], "accepted")
        await move(loop.partner, made[4], "received")
        newer = [await refer(loop) for _ in range(2)]
        mark = await poll(mark)
        assert await poll(mark) == mark  # nothing new: nothing returned
    expected = [(r["id"], "1") for r in made]
    expected += [(made[0]["id"], "2"), (made[4]["id"], "2")]
    expected += [(r["id"], "1") for r in newer]
    assert seen == expected
    assert len(set(seen)) == len(seen)


# --- working a Task through FHIR ---------------------------------------------------------------


async def test_patch_moves_the_task_through_the_lifecycle_table(app, loop):
    referral = await refer(loop)
    task_id = referral["id"]
    async with await token_client(app, loop.partner_user) as system:
        moved = await patch(system, task_id, RECEIVED, 'W/"1"')
        assert moved.status_code == 200, moved.text
        assert moved.headers["etag"] == 'W/"2"'
        assert moved.json()["businessStatus"]["coding"][0]["code"] == "received"
        accepted = await patch(system, task_id, status_to("accepted"), 'W/"2"')
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"

        stale = outcome(await patch(system, task_id, status_to("in-progress"), 'W/"1"'), 412)
        assert "changed since" in stale["issue"][0]["diagnostics"]
        outcome(await patch(system, task_id, status_to("in-progress"), None), 428)
        outcome(await patch(system, task_id, status_to("in-progress"), "3"), 412)
        outcome(await patch(system, task_id, status_to("requested"), 'W/"3"'), 409)
        outcome(await patch(system, task_id, status_to("finished"), 'W/"3"'), 422)
        frozen = [{"op": "replace", "path": "/for/reference", "value": "Patient/other"}]
        assert "for" in str(outcome(await patch(system, task_id, frozen, 'W/"3"'), 422))
        missing = [{"op": "replace", "path": "/nothing/here", "value": 1}]
        outcome(await patch(system, task_id, missing, 'W/"3"'), 422)
        outcome(await patch(system, task_id, {"op": "replace"}, 'W/"3"'), 422)
        plain = await system.patch(
            f"/fhir/Task/{task_id}", json=status_to("in-progress"), headers={"If-Match": 'W/"3"'}
        )
        outcome(plain, 415)
        declined = status_to("failed", "family_declined")
        failed = await patch(system, task_id, declined, 'W/"3"')
        assert failed.status_code == 200, failed.text
        assert failed.json()["status"] == "failed"
    seen = (await loop.specialist.get(f"/api/referrals/{task_id}")).json()
    assert seen["status"] == "failed"
    assert seen["outcome"] == "family_declined"
    assert [(e["from"], e["to"]) for e in seen["timeline"] if e["kind"] == "transition"] == [
        ("requested", "received"),
        ("received", "accepted"),
        ("accepted", "failed"),
    ]


async def test_put_changes_the_whole_task_and_only_the_receiver_may(app, loop):
    referral = await refer(loop)
    async with (
        await token_client(app, loop.partner_user) as partner,
        asgi_client(app) as specialist,
    ):
        await factories.login(specialist, loop.specialist_user)
        task = await read(partner, f"/fhir/Task/{referral['id']}")
        wrong_side = await specialist.put(
            f"/fhir/Task/{referral['id']}",
            json={**task, "status": "accepted"},
            headers={"If-Match": 'W/"1"'},
        )
        outcome(wrong_side, 403)
        other_id = {**task, "id": "9" * 8 + "-9999-9999-9999-" + "9" * 12, "status": "accepted"}
        outcome(
            await partner.put(
                f"/fhir/Task/{referral['id']}", json=other_id, headers={"If-Match": 'W/"1"'}
            ),
            422,
        )
        accepted = await partner.put(
            f"/fhir/Task/{referral['id']}",
            json={**task, "status": "accepted"},
            headers={"If-Match": 'W/"1"'},
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        assert accepted.json()["meta"]["versionId"] == "2"
        unchanged = await partner.put(
            f"/fhir/Task/{referral['id']}", json=accepted.json(), headers={"If-Match": 'W/"2"'}
        )
        assert unchanged.status_code == 200
        assert unchanged.json()["meta"]["versionId"] == "2"
        # The specialist may withdraw their own referral: the cancelled move is theirs.
        cancelled = await specialist.put(
            f"/fhir/Task/{referral['id']}",
            json={**accepted.json(), "status": "cancelled"},
            headers={"If-Match": 'W/"2"'},
        )
        assert cancelled.status_code == 200, cancelled.text
    assert (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()[
        "status"
    ] == "cancelled"


async def test_two_systems_changing_one_version_one_wins(app, loop):
    referral = await refer(loop)
    async with (
        await token_client(app, loop.partner_user) as one,
        await token_client(app, loop.partner_user) as two,
    ):
        answers = await asyncio.gather(
            patch(one, referral["id"], status_to("accepted"), 'W/"1"'),
            patch(two, referral["id"], RECEIVED, 'W/"1"'),
        )
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 200, [a.text for a in answers]
    assert codes[1] in (409, 412), [a.text for a in answers]


# --- the round trip, mailed ---------------------------------------------------------------------


@pytest.fixture
async def app(settings, smtp_server):
    async with mailing_app(settings, smtp_server) as application:
        yield application


async def test_a_round_trip_through_fhir_closes_the_loop_by_email(app, loop, smtp_server):
    await Organization.filter(id=loop.agency.id).update(referral_email="in@agency.example.org")
    referral = await refer(loop, note="Family needs groceries this week")
    reference = referral["id"][:8].upper()
    async with await token_client(app, loop.partner_user) as system:
        new = await read(system, f"/fhir/Task?owner=Organization/{loop.agency.id}&status=requested")
        [entry] = new["entry"]
        task = entry["resource"]
        assert task["id"] == referral["id"]
        for version, status in enumerate(("accepted", "in-progress"), start=1):
            moved = await patch(system, task["id"], status_to(status), f'W/"{version}"')
            assert moved.status_code == 200, moved.text
        delivered = status_to("completed", "service_provided")
        done = await patch(system, task["id"], delivered, 'W/"3"')
        assert done.status_code == 200, done.text
        assert fhir_profiles.task(done.json()) == []
        assert done.json()["output"][0]["type"]["coding"][0]["code"] == "resulting-activity"

    seen = (await loop.specialist.get(f"/api/referrals/{referral['id']}")).json()
    assert seen["status"] == "completed"
    assert seen["outcome"] == "service_provided"
    assert [(e["kind"], e["to"]) for e in seen["timeline"]] == [
        ("created", "requested"),
        ("transition", "accepted"),
        ("transition", "in_progress"),
        ("transition", "completed"),
    ]
    messages = await smtp_server.wait_for(3)
    assert [m["Subject"] for m in messages] == [
        f"New referral {reference} for {loop.service.name}",
        f"Referral {reference} accepted",
        f"Referral {reference} completed",
    ]
    assert [m["To"] for m in messages[1:]] == [loop.specialist_user.email] * 2
    finished = next(m for m in smtp_server.messages if m["Subject"].endswith("completed"))
    assert "Outcome: service provided." in body(finished)
    for message in smtp_server.messages:
        for private in (PERSON["name"], PERSON["contact_value"], "groceries this week"):
            assert private not in all_text(message)
