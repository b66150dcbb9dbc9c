"""The FHIR export: a ServiceRequest + Task bundle (Gravity SDOH closed-loop shape), read back
with the R4B models, showing the person only as far as the caller may see them."""

from fhir.resources.R4B.bundle import Bundle

from tests import factories
from tests.conftest import asgi_client
from tests.referrals.conftest import CONSENT, move, refer


async def export(client, referral) -> dict:
    response = await client.get(f"/api/referrals/{referral['id']}/fhir")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    Bundle.model_validate(response.json())  # valid R4B, or this raises
    return response.json()


def resources(bundle: dict) -> dict[str, dict]:
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


async def test_a_completed_referral_exports_as_service_request_and_task(loop):
    referral = await refer(loop)
    for step, extra in [("accepted", {}), ("in_progress", {})]:
        await move(loop.partner, referral, step, **extra)
    assert resources(await export(loop.partner, referral))["Task"]["status"] == "in-progress"
    await move(loop.partner, referral, "completed", outcome="service_provided")

    bundle = await export(loop.specialist, referral)
    assert bundle["type"] == "collection"
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    found = resources(bundle)
    task, request, patient = found["Task"], found["ServiceRequest"], found["Patient"]
    assert task["status"] == "completed"
    assert task["intent"] == "order"
    assert task["code"]["coding"][0]["code"] == "fulfill"
    assert task["output"][0]["valueCodeableConcept"]["coding"][0]["code"] == "service_provided"
    assert by_url[task["focus"]["reference"]] is request
    assert by_url[task["for"]["reference"]] is patient
    assert by_url[task["owner"]["reference"]]["name"] == loop.agency.name
    assert by_url[request["requester"]["reference"]]["name"] == loop.school.name
    assert request["status"] == "completed"
    assert request["priority"] == "urgent"  # "soon"
    assert request["code"]["text"] == loop.service.name
    assert request["category"][0]["coding"][0]["code"] == "food-insecurity"
    assert request["identifier"][0]["value"] == referral["id"]
    assert by_url[request["supportingInfo"][0]["reference"]]["resourceType"] == "Consent"
    assert patient["name"] == [{"text": "J.R."}]
    assert patient["telecom"] == [{"system": "phone", "value": "(773) 555-0199"}]
    assert "birthDate" not in patient
    assert "identifier" not in patient

    again = await export(loop.specialist, referral)
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


async def test_the_agency_export_shows_only_what_consent_shares(loop):
    referral = await refer(loop, consent={**CONSENT, "shares": ["age_band"]})
    await move(loop.partner, referral, "rejected", reason="no_capacity")
    found = resources(await export(loop.partner, referral))
    assert set(found["Patient"]) == {"resourceType", "id"}
    assert found["Task"]["status"] == "rejected"
    assert found["Task"]["statusReason"]["text"] == "no capacity"
    assert found["ServiceRequest"]["status"] == "revoked"
    assert found["ServiceRequest"]["category"][0]["coding"][0]["code"] == (
        "sdoh-category-unspecified"  # needs are not shared, so no domain either
    )


async def test_other_organizations_cannot_export(loop, app):
    referral = await refer(loop)
    async with asgi_client(app) as outsider:
        await factories.login(
            outsider, await factories.user(await factories.organization(), "partner")
        )
        assert (await outsider.get(f"/api/referrals/{referral['id']}/fhir")).status_code == 403
    async with asgi_client(app) as anonymous:
        assert (await anonymous.get(f"/api/referrals/{referral['id']}/fhir")).status_code == 401
