"""A referral as FHIR: the Bundle export and each resource checked against the SDOH Clinical
Care guide's rules (`fhir_profiles`), read back with the R4B models, showing the person only as
far as the caller may see them."""

from dataclasses import replace

import pytest
from fhir.resources.R4B.bundle import Bundle

from caremap.app import create_app
from directory.taxonomy import CATEGORIES as CAREMAP_CATEGORIES
from referrals.fhir import CATEGORIES
from tests import factories
from tests.conftest import asgi_client
from tests.referrals import fhir_profiles
from tests.referrals.conftest import CONSENT, move, refer

SYSTEM_BASE = "https://directory.example-district.org/fhir"


async def export(client, referral) -> dict:
    response = await client.get(f"/api/referrals/{referral['id']}/fhir")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    Bundle.model_validate(response.json())  # valid R4B, or this raises
    return response.json()


def resources(bundle: dict) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        found.setdefault(resource["resourceType"], resource)
    return found


def conformance_problems(bundle: dict) -> list[str]:
    return [p for e in bundle["entry"] for p in fhir_profiles.problems(e["resource"])]


async def test_a_completed_referral_exports_as_service_request_and_task(loop):
    referral = await refer(loop)
    for step in ("accepted", "in_progress"):
        await move(loop.partner, referral, step)
    assert resources(await export(loop.partner, referral))["Task"]["status"] == "in-progress"
    await move(loop.partner, referral, "completed", outcome="service_provided")

    bundle = await export(loop.specialist, referral)
    assert conformance_problems(bundle) == []
    assert bundle["type"] == "collection"
    by_url = {e["fullUrl"].split("/fhir/")[1]: e["resource"] for e in bundle["entry"]}
    found = resources(bundle)
    task, request, patient = found["Task"], found["ServiceRequest"], found["Patient"]
    assert task["status"] == "completed"
    assert task["statusReason"]["coding"][0]["code"] == "service_provided"
    [activity] = task["output"]
    assert activity["type"]["coding"][0]["code"] == "resulting-activity"
    assert activity["valueCodeableConcept"]["coding"] == request["code"]["coding"]
    assert by_url[task["focus"]["reference"]] is request
    assert by_url[task["for"]["reference"]] is patient
    assert by_url[task["owner"]["reference"]]["name"] == loop.agency.name
    assert by_url[request["requester"]["reference"]]["name"] == loop.school.name
    assert request["status"] == "completed"
    assert request["priority"] == "urgent"  # "soon"
    assert request["code"]["text"] == loop.service.name
    assert request["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert request["performer"][1]["display"] == loop.service.name  # the service itself
    assert "food-insecurity" in {c["coding"][0]["code"] for c in request["category"]}
    assert request["identifier"][0]["value"] == referral["id"]
    assert by_url[request["supportingInfo"][0]["reference"]]["resourceType"] == "Consent"
    assert patient["name"][0]["text"] == "J.R."
    assert patient["telecom"] == [{"system": "phone", "value": "(773) 555-0199"}]
    assert patient["extension"][0]["valueString"] == "14-17"  # the age band, shared
    assert "birthDate" not in patient

    again = await export(loop.specialist, referral)
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


async def test_the_agency_export_shows_only_what_consent_shares(loop):
    referral = await refer(loop, consent={**CONSENT, "shares": ["age_band"]})
    await move(loop.partner, referral, "rejected", reason="no_capacity")
    bundle = await export(loop.partner, referral)
    assert conformance_problems(bundle) == []
    found = resources(bundle)
    patient = found["Patient"]
    assert patient["name"] == [
        {"extension": [{"url": fhir_profiles.DATA_ABSENT, "valueCode": "masked"}]}
    ]
    assert "telecom" not in patient
    assert "communication" not in patient
    assert patient["extension"][0]["valueString"] == "14-17"
    assert found["Task"]["status"] == "rejected"
    assert found["Task"]["statusReason"]["text"] == "no capacity"
    assert found["ServiceRequest"]["status"] == "revoked"
    # The needs are not shared: the SDOH domain comes from the service's own categories.
    categories = {c["coding"][0]["code"] for c in found["ServiceRequest"]["category"]}
    assert "food-insecurity" in categories


# --- each deviation an outside check found, as a test --------------------------------------------


async def test_received_is_an_allowed_task_status_with_its_business_status(loop):
    referral = await refer(loop)
    await move(loop.partner, referral, "received")
    task = resources(await export(loop.partner, referral))["Task"]
    assert task["status"] == "requested"
    assert task["businessStatus"]["coding"][0]["code"] == "received"
    assert fhir_profiles.task(task) == []


@pytest.mark.parametrize(
    "outcome", ["family_declined", "could_not_reach", "not_eligible_after_intake"]
)
async def test_an_outcome_with_no_service_is_a_status_reason_not_an_activity(loop, outcome):
    referral = await refer(loop)
    await move(loop.partner, referral, "accepted")
    await move(loop.partner, referral, "failed", outcome=outcome)
    task = resources(await export(loop.specialist, referral))["Task"]
    assert task["status"] == "failed"
    assert task["statusReason"]["coding"][0]["code"] == outcome
    assert "output" not in task
    assert fhir_profiles.task(task) == []


async def test_consent_is_the_sdohcc_profile_with_its_required_elements(loop):
    referral = await refer(loop)
    consent = resources(await export(loop.specialist, referral))["Consent"]
    assert fhir_profiles.consent(consent) == []
    assert consent["organization"] == [{"reference": f"Organization/{loop.school.id}"}]


async def test_organizations_are_active_with_their_contacts(loop):
    from directory.models import Organization

    await Organization.filter(id=loop.agency.id).update(email="help@agency.example.org")
    referral = await refer(loop)
    bundle = await export(loop.specialist, referral)
    agency = next(
        e["resource"] for e in bundle["entry"] if e["resource"].get("name") == loop.agency.name
    )
    assert agency["active"] is True
    assert {"system": "email", "value": "help@agency.example.org"} in agency["telecom"]
    assert agency["address"][0]["postalCode"] == "60623"  # its listed site's address
    assert fhir_profiles.organization(agency) == []


def test_every_caremap_category_has_an_sdoh_domain_and_a_procedure():
    """Nothing with an SDOH domain falls to unspecified; only legal help, which the guide has
    no domain for, does."""
    assert set(CATEGORIES) == {c.code for c in CAREMAP_CATEGORIES}
    unspecified = {
        code for code, c in CATEGORIES.items() if c.domain == "sdoh-category-unspecified"
    }
    assert unspecified == {"legal", "legal-aid", "immigration"}
    assert CATEGORIES["utilities"].domain == "utility-insecurity"
    assert CATEGORIES["shelter"].domain == "homelessness"
    assert CATEGORIES["domestic-violence"].domain == "intimate-partner-violence"
    assert CATEGORIES["health-insurance"].domain == "health-insurance-coverage-status"
    for category in CATEGORIES.values():
        assert category.domain in fhir_profiles.SDOH_CATEGORIES
        assert category.procedure[0].isdigit()  # a SNOMED CT concept id


@pytest.fixture
async def district_app(settings):
    """The app with its own FHIR_SYSTEM_BASE, served from a loopback address."""
    application = create_app(replace(settings, fhir_system_base=SYSTEM_BASE))
    from asgi_lifespan import LifespanManager

    async with LifespanManager(application):
        yield application


async def test_code_systems_live_under_the_fhir_system_base(district_app, loop):
    referral = await refer(loop)
    async with asgi_client(district_app) as specialist:
        await factories.login(specialist, loop.specialist_user)
        bundle = await export(specialist, referral)
    systems = [
        value
        for entry in bundle["entry"]
        for value in _values(entry["resource"], "system")
        if "caremap" in value or "example-district" in value or "127.0.0.1" in value
    ]
    assert systems
    assert all(s.startswith(SYSTEM_BASE + "/") for s in systems), systems
    assert "testserver" not in str([_values(e["resource"], "system") for e in bundle["entry"]])


def _values(value, key: str) -> list[str]:
    if isinstance(value, dict):
        found = [value[key]] if isinstance(value.get(key), str) else []
        return found + [v for item in value.values() for v in _values(item, key)]
    if isinstance(value, list):
        return [v for item in value for v in _values(item, key)]
    return []


async def test_other_organizations_cannot_export(loop, app):
    referral = await refer(loop)
    async with asgi_client(app) as outsider:
        await factories.login(
            outsider, await factories.user(await factories.organization(), "partner")
        )
        assert (await outsider.get(f"/api/referrals/{referral['id']}/fhir")).status_code == 403
    async with asgi_client(app) as anonymous:
        assert (await anonymous.get(f"/api/referrals/{referral['id']}/fhir")).status_code == 401
