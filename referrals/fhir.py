"""A referral as FHIR R4 (R4B models): a ServiceRequest and the Task that tracks it, in a Bundle.

The shape follows the Gravity Project's SDOH Clinical Care guide for closed-loop referrals:
the ServiceRequest is the referral (what, for whom, from whom, to whom), the Task
(SDOHCC-TaskForReferralManagement) carries its status and outcome, and the Consent is attached
as supporting information. Every resource is built and validated with `fhir.resources`, and
the person appears only as far as the viewer may see them (`shared`): no birth date, no
identifiers beyond caremap's own ids.
"""

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.organization import Organization as FhirOrganization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from directory.models import Organization
from directory.taxonomy import BY_CODE
from referrals.messages import LABELS
from referrals.models import Referral

SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare"
SDOH_CODES = f"{SDOHCC}/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
TASK_PROFILE = f"{SDOHCC}/StructureDefinition/SDOHCC-TaskForReferralManagement"
REQUEST_PROFILE = f"{SDOHCC}/StructureDefinition/SDOHCC-ServiceRequest"
# Our top-level categories and the Gravity SDOH domain each one serves.
SDOH_DOMAINS = {
    "food": ("food-insecurity", "Food Insecurity"),
    "housing": ("housing-instability", "Housing Instability"),
    "transit": ("transportation-insecurity", "Transportation Insecurity"),
    "money": ("financial-insecurity", "Financial Insecurity"),
    "goods": ("material-hardship", "Material Hardship"),
    "education": ("educational-attainment", "Educational Attainment"),
    "work": ("employment-status", "Employment Status"),
}
UNSPECIFIED = ("sdoh-category-unspecified", "SDOH Category Unspecified")
PRIORITY = {"routine": "routine", "soon": "urgent", "urgent": "asap"}
REQUEST_STATUS = {
    "draft": "draft",
    "completed": "completed",
    "failed": "revoked",
    "rejected": "revoked",
    "cancelled": "revoked",
}
TELECOM = {"phone": "phone", "text": "sms", "email": "email"}


def _urn(referral: Referral, part: str) -> str:
    """Stable ids: exporting the same referral twice gives the same resource ids."""
    return f"urn:uuid:{uuid5(NAMESPACE_URL, f'caremap:referral:{referral.id}:{part}')}"


def _id(urn: str) -> str:
    return urn.removeprefix("urn:uuid:")


def _categories(needs: list[str]) -> list[dict[str, Any]]:
    domains: dict[str, str] = {}
    for code in needs:
        category = BY_CODE.get(code)
        top = category.parent if category and category.parent else code
        key, display = SDOH_DOMAINS.get(top, UNSPECIFIED)
        domains[key] = display
    if not domains:  # the needs are not shared with this viewer
        domains[UNSPECIFIED[0]] = UNSPECIFIED[1]
    return [
        {"coding": [{"system": SDOH_CODES, "code": key, "display": display}]}
        for key, display in domains.items()
    ]


def _patient(referral: Referral, urn: str, shared: frozenset[str]) -> Patient:
    data: dict[str, Any] = {"resourceType": "Patient", "id": _id(urn)}
    if "name" in shared:
        data["name"] = [{"text": referral.person_name}]
    if "language" in shared:
        data["communication"] = [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": referral.preferred_language}]
                },
                "preferred": True,
            }
        ]
    system = TELECOM.get(referral.contact_method)
    if "contact" in shared and system and referral.contact_value:
        data["telecom"] = [{"system": system, "value": referral.contact_value}]
    return Patient.model_validate(data)


def _organization(organization: Organization, urn: str, base_url: str) -> FhirOrganization:
    return FhirOrganization.model_validate(
        {
            "resourceType": "Organization",
            "id": _id(urn),
            "identifier": [
                {"system": f"{base_url}/api/organizations", "value": str(organization.id)}
            ],
            "name": organization.name,
        }
    )


def _consent(referral: Referral, urn: str, patient: str, base_url: str) -> FhirConsent | None:
    consent = referral.consent
    if consent is None:
        return None
    return FhirConsent.model_validate(
        {
            "resourceType": "Consent",
            "id": _id(urn),
            "status": "inactive" if consent.withdrawn_at else "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [
                {"coding": [{"system": "http://loinc.org", "code": "59284-0"}]},
            ],
            "patient": {"reference": patient},
            "dateTime": consent.given_at.isoformat(),
            "policyRule": {"text": f"Given by {consent.given_by}, {consent.method}"},
            "provision": {
                "type": "permit",
                "class": [
                    {"system": f"{base_url}/fhir/consent-shares", "code": share}
                    for share in consent.shares
                ],
            },
        }
    )


def referral_bundle(
    referral: Referral,
    organizations: dict[UUID, Organization],
    shared: frozenset[str],
    base_url: str,
) -> dict[str, Any]:
    """The referral as a FHIR collection Bundle (JSON-ready), validated by the R4B models."""
    patient_urn, request_urn = _urn(referral, "patient"), _urn(referral, "service-request")
    task_urn, consent_urn = _urn(referral, "task"), _urn(referral, "consent")
    school_urn, agency_urn = _urn(referral, "requester"), _urn(referral, "performer")
    status = referral.status.value
    priority = PRIORITY[referral.urgency.value]
    requester = {"reference": school_urn}
    owner = {"reference": agency_urn}
    consent = _consent(referral, consent_urn, patient_urn, base_url)
    service_code = {
        "coding": [
            {
                "system": f"{base_url}/api/services",
                "code": str(referral.service_id),
                "display": referral.service.name,
            }
        ],
        "text": referral.service.name,
    }
    request = ServiceRequest.model_validate(
        {
            "resourceType": "ServiceRequest",
            "id": _id(request_urn),
            "meta": {"profile": [REQUEST_PROFILE]},
            "identifier": [{"system": f"{base_url}/api/referrals", "value": str(referral.id)}],
            "status": REQUEST_STATUS.get(status, "active"),
            "intent": "order",
            "priority": priority,
            "category": _categories(referral.needs if "needs" in shared else []),
            "code": service_code,
            "subject": {"reference": patient_urn},
            "authoredOn": referral.created_at.isoformat(),
            "requester": requester,
            "performer": [owner],
            "supportingInfo": [{"reference": consent_urn}] if consent else None,
        }
    )
    task_data: dict[str, Any] = {
        "resourceType": "Task",
        "id": _id(task_urn),
        "meta": {"profile": [TASK_PROFILE]},
        "status": status.replace("_", "-"),  # in_progress -> in-progress, on_hold -> on-hold
        "intent": "order",
        "priority": priority,
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": request_urn},
        "for": {"reference": patient_urn},
        "authoredOn": referral.created_at.isoformat(),
        "lastModified": referral.updated_at.isoformat(),
        "requester": requester,
        "owner": owner,
    }
    if referral.due_at:
        task_data["restriction"] = {"period": {"end": referral.due_at.isoformat()}}
    if referral.reason:
        task_data["statusReason"] = {
            "coding": [{"system": f"{base_url}/fhir/rejection-reasons", "code": referral.reason}],
            "text": LABELS.get(referral.reason, referral.reason),
        }
    if referral.outcome:
        task_data["output"] = [
            {
                "type": {"coding": [{"system": SDOH_CODES, "code": "resulting-activity"}]},
                "valueCodeableConcept": {
                    "coding": [{"system": f"{base_url}/fhir/outcomes", "code": referral.outcome}],
                    "text": LABELS.get(referral.outcome, referral.outcome),
                },
            }
        ]
    task = Task.model_validate(task_data)
    resources: list[tuple[str, Any]] = [
        (task_urn, task),
        (request_urn, request),
        (patient_urn, _patient(referral, patient_urn, shared)),
        (
            school_urn,
            _organization(organizations[referral.referring_organization_id], school_urn, base_url),
        ),
        (
            agency_urn,
            _organization(organizations[referral.receiving_organization_id], agency_urn, base_url),
        ),
    ]
    if consent:
        resources.append((consent_urn, consent))
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": referral.updated_at.isoformat(),
            "entry": [
                {"fullUrl": urn, "resource": resource.model_dump(mode="json", exclude_none=True)}
                for urn, resource in resources
            ],
        }
    )
    return bundle.model_dump(mode="json", exclude_none=True)
