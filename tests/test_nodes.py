"""caremap as several nodes, all real processes: two app nodes on different ports and two
workers, against one PostgreSQL, one Redis and one search engine (the embedded index in a
folder the nodes share, or Meilisearch when MEILI_URL is set).

What a load balancer in front of them must be able to count on: a listing edited on one node is
found through the other; a session made on one works on the other; failed sign-ins spread over
both lock the account; each email is sent once although two workers send; a node killed in the
middle of writes leaves the other serving and nothing half-written.
"""

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from search_index.meili import connect
from tests.conftest import ON_POSTGRES, copy_of
from tests.processes import caremap, clean_env, exited
from tests.smtp import free_port

PASSWORD = "several nodes password 1"
MEILI_URL = os.environ.get("MEILI_URL")
MEILI_KEY = os.environ.get("MEILI_KEY") or os.environ.get("MEILI_MASTER_KEY")
PERSON = {"name": "Zed Nodetest", "age_band": "11-13", "preferred_language": "es",
          "contact_method": "phone", "contact_value": "(773) 555-0123"}  # fmt: skip
CONSENT = {"given_by": "guardian", "method": "verbal", "given_at": "2026-11-20T09:30:00Z"}

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="several nodes share a PostgreSQL server: set CAREMAP_TEST_DATABASE"
)


class Cluster:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.nodes: dict[str, tuple[str, asyncio.subprocess.Process]] = {}
        self.workers: list[asyncio.subprocess.Process] = []

    async def node(self, name: str) -> str:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "caremap.cli", "serve", "--port", str(port), env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client, asyncio.timeout(60):
            while True:
                try:
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.returncode is None, f"node {name} ended"
                await asyncio.sleep(0.2)
        self.nodes[name] = (url, process)
        return url

    async def worker(self, *args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "caremap.cli", "worker", *args, env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.workers.append(process)

    async def stop(self) -> None:
        for process in [*(p for _, p in self.nodes.values()), *self.workers]:
            if process.returncode is None:
                process.terminate()
                await exited(process)


@pytest_asyncio.fixture(
    params=["embedded", pytest.param("meilisearch", marks=pytest.mark.meilisearch)]
)
async def cluster(
    request, demo_database: str, tmp_path: Path, redis_server, smtp_server
) -> AsyncIterator[Cluster]:
    async with copy_of(demo_database, tmp_path) as database_url:
        nodes = Cluster(_environment(request.param, database_url, tmp_path, redis_server,
                                     smtp_server))  # fmt: skip
        try:
            await _start(nodes, request.param)
            yield nodes
        finally:
            await nodes.stop()
            if request.param == "meilisearch":
                await _drop_indexes(nodes.env["SEARCH_INDEX_PREFIX"])


async def _drop_indexes(prefix: str) -> None:
    async with connect(MEILI_URL, MEILI_KEY) as client:
        for index in await client.get_indexes() or []:
            if index.uid.startswith(prefix):
                await client.delete_index_if_exists(index.uid)


def _environment(
    backend: str, database_url: str, tmp_path: Path, redis_server, smtp_server
) -> dict[str, str]:
    env = {
        **clean_env(tmp_path / "shared"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "several-nodes-secret-key",
        "RATE_LIMIT_STORAGE": redis_server.url,
        "SEARCH_DRAINER": "external",
        "MAIL_DRAINER": "external",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "LOG_LEVEL": "WARNING",
    }
    if backend == "meilisearch":
        if not MEILI_URL:
            pytest.skip("MEILI_URL is not set: no Meilisearch server to test against")
        env |= {
            "SEARCH_BACKEND": "meilisearch",
            "MEILI_URL": MEILI_URL,
            "MEILI_KEY": MEILI_KEY or "",
            "SEARCH_INDEX_PREFIX": f"caremap_nodes_{uuid.uuid4().hex[:8]}",
        }
    return env


async def _start(nodes: Cluster, backend: str) -> None:
    for done in [
        caremap("user", "add", "--email", email, "--name", name, "--role", role,
                "--organization", organization, "--password", PASSWORD, env=nodes.env)
        for email, name, role, organization in (
            ("sam@school.example.org", "Sam", "specialist", "Pilsen Community High School"),
            ("pat@pantry.example.org", "Pat", "partner_admin", "Pilsen Community Pantry"),
        )
    ]:  # fmt: skip
        assert done.returncode == 0, done.stderr
    await nodes.node("A")
    await nodes.node("B")
    if backend == "meilisearch":
        await nodes.worker()
        await nodes.worker()
    else:  # one process writes the embedded index; both send mail
        await nodes.worker()
        await nodes.worker("--only", "mail")


async def _signed_in(url: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=30)
    signed = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    return client


async def test_several_nodes_behave_as_one(cluster: Cluster, smtp_server):
    a, b = cluster.nodes["A"][0], cluster.nodes["B"][0]

    # A session made on A works on B (sessions live in the database, cookies are signed with
    # the one SECRET_KEY).
    partner_a = await _signed_in(a, "pat@pantry.example.org")
    partner_b = httpx.AsyncClient(base_url=b, cookies=partner_a.cookies, timeout=30)
    assert (await partner_b.get("/api/auth/me")).json()["email"] == "pat@pantry.example.org"

    # A listing edited on A is found through B's search (through the outbox and a worker).
    service = await _a_listing_of(partner_b, "Pilsen Community Pantry")
    path = f"/api/services/{service['service_id']}"
    version = (await partner_a.get(path)).json()["version"]
    edited = await partner_a.patch(
        path, json={"name": "Pilsen Pantry Zanzibar Hours", "version": version}
    )
    assert edited.status_code == 200, edited.text
    async with asyncio.timeout(30):
        while not (await _search(partner_b, "zanzibar"))["total"]:  # noqa: ASYNC110 (a worker)
            await asyncio.sleep(0.2)

    # Five failed sign-ins spread over A and B lock the account on both (Redis counts them).
    async with httpx.AsyncClient(timeout=30) as anyone:
        for url in (a, b, a, b, a):
            wrong = {"email": "sam@school.example.org", "password": "not the password"}
            assert (await anyone.post(f"{url}/api/auth/login", json=wrong)).status_code == 401
        right = {"email": "sam@school.example.org", "password": PASSWORD}
        assert (await anyone.post(f"{b}/api/auth/login", json=right)).status_code == 429
    await partner_a.aclose()
    await partner_b.aclose()


async def test_a_node_killed_mid_writes_leaves_the_other_serving_and_each_mail_sent_once(
    cluster: Cluster, smtp_server
):
    a, b = cluster.nodes["A"][0], cluster.nodes["B"][0]
    async with httpx.AsyncClient(base_url=b, timeout=30) as anyone:
        service_id = (await _a_listing_of(anyone, "Pilsen Community Pantry"))["service_id"]
    specialist_a = await _signed_in(a, "sam@school.example.org")
    specialist_b = await _signed_in(b, "sam@school.example.org")
    body = {"service_id": service_id, "person": PERSON, "needs": ["food-pantry"],
            "urgency": "soon", "consent": CONSENT}  # fmt: skip

    for client in (specialist_a, specialist_b, specialist_a, specialist_b):
        assert (await client.post("/api/referrals", json=body)).status_code == 201
    writes = [asyncio.create_task(specialist_a.post("/api/referrals", json=body))
              for _ in range(60)]  # fmt: skip
    pending = set(writes)
    while len(writes) - len(pending) < 3:  # a few are done, the rest on their way
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    cluster.nodes["A"][1].send_signal(signal.SIGKILL)  # in the middle of those writes
    answers = await asyncio.gather(*writes, return_exceptions=True)
    await exited(cluster.nodes["A"][1])
    cut = [answer for answer in answers if isinstance(answer, httpx.TransportError)]
    assert cut, "A finished every write before it was killed: nothing was cut short"

    # B serves on; every referral that exists is whole, and each one's email goes out once
    # although two workers send mail.
    params = {"q": "Zed Nodetest", "per_page": 100}
    listed = (await specialist_b.get("/api/referrals", params=params)).json()
    references = set()
    for item in listed["contents"]:
        whole = (await specialist_b.get(f"/api/referrals/{item['id']}")).json()
        assert whole["consent"]["given_by"] == "guardian"
        assert whole["needs"] == ["food-pantry"]
        assert [event["kind"] for event in whole["timeline"]][:1] == ["created"]
        assert whole["status"] == "requested"
        references.add(whole["reference"])
    assert len(references) >= 4
    async with asyncio.timeout(60):
        while len(_new_referral_mail(smtp_server)) < len(references):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # time enough for a second copy, were one coming
    sent = _new_referral_mail(smtp_server)
    assert sorted(sent) == sorted(references)  # each once, none missing
    await specialist_a.aclose()
    await specialist_b.aclose()


async def _search(client: httpx.AsyncClient, words: str) -> dict:
    """The search API's answer; while the first index is being built, an empty one."""
    answer = await client.get("/api/search", params={"q": words})
    return answer.json() if answer.status_code == 200 else {"total": 0, "results": []}


async def _a_listing_of(client: httpx.AsyncClient, organization: str) -> dict:
    """A listing of the organization that takes referrals, once search has the catalog."""
    async with asyncio.timeout(60):
        while True:
            for result in (await _search(client, organization))["results"]:
                if result["organization"]["name"] == organization and result["accepts_referrals"]:
                    return result
            await asyncio.sleep(0.5)


def _new_referral_mail(smtp_server) -> list[str]:
    return [
        message["Subject"].split()[2]
        for message in smtp_server.messages
        if message["Subject"].startswith("New referral ")
    ]
