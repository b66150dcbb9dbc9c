"""A referral as HL7 FHIR R4, conformant to the SDOH Clinical Care guide (Gravity Project, STU 3,
US Core 7), and a FHIR Task change read back as a move of caremap's lifecycle.

The referral is five resources, each with the referral's id as its own (ids are per resource
type, so `Task/{id}`, `ServiceRequest/{id}`, `Patient/{id}` and `Consent/{id}` name the parts of
one referral) and its version as `meta.versionId`:

- ServiceRequest (SDOHCC-ServiceRequest): what is asked. `code` is a SNOMED CT procedure from
  US Core's procedure codes, chosen by caremap category (`CATEGORIES`); `category` the SDOH
  domain; the caremap service is a `performer` beside the agency; `occurrencePeriod` runs from
  the referral to its due date.
- Task (SDOHCC-TaskForReferralManagement): the receiving organization's work. `status` is from
  the guide's referral task statuses (caremap's "received" is `requested` with that
  `businessStatus`); the outcome is `statusReason`; a delivered service is also a
  resulting-activity `output` with the requested procedure's code.
- Patient (US Core Patient): only what the viewer may see under consent. The elements US Core
  requires are always there, masked with a data-absent-reason where nothing is shared; the
  identifier is caremap's id for this referral's person, which names nobody.
- Consent (SDOHCC-Consent), and the two Organizations (US Core Organization).

Code systems and identifiers live under `system_base` (the `FHIR_SYSTEM_BASE` setting): stable
URIs a deployment controls, never the host a request came to.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.organization import Organization as FhirOrganization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from directory.errors import Invalid
from directory.models import Organization
from directory.taxonomy import BY_CODE
from referrals.lifecycle import DELIVERED, OUTCOMES, REJECTION_REASONS
from referrals.messages import LABELS
from referrals.models import Referral, ReferralStatus

SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"
SDOH_CODES = f"{SDOHCC}/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
SNOMED = "http://snomed.info/sct"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
PROFILES = {
    "ServiceRequest": f"{SDOHCC}/StructureDefinition/SDOHCC-ServiceRequest",
    "Task": f"{SDOHCC}/StructureDefinition/SDOHCC-TaskForReferralManagement",
    "Consent": f"{SDOHCC}/StructureDefinition/SDOHCC-Consent",
    "Patient": f"{US_CORE}/us-core-patient",
    "Organization": f"{US_CORE}/us-core-organization",
}


@dataclass(frozen=True)
class Category:
    domain: str  # the SDOH category (SDOHCC-ValueSetSDOHCategory)
    procedure: tuple[str, str]  # the SNOMED CT procedure requested (code, display)


REFERRAL = ("306206005", "Referral to service (procedure)")
HOUSING = ("710911006", "Referral to housing service (procedure)")
BENEFITS = ("462491000124104", "Referral to benefits enrollment assistance program (procedure)")
# Every caremap category, top level and second, as an SDOH domain and the procedure a referral
# to such a service requests. Codes are SNOMED CT procedures (US Core's procedure codes, the
# guide's required binding), from the guide's domain value sets where one fits; the general
# "Referral to service" otherwise. Legal help has no SDOH domain in the guide: unspecified.
CATEGORIES: dict[str, Category] = {
    "emergency": Category("material-hardship", REFERRAL),
    "crisis-support": Category("stress", REFERRAL),
    "domestic-violence": Category("intimate-partner-violence", REFERRAL),
    "disaster-relief": Category("material-hardship", REFERRAL),
    "food": Category("food-insecurity", ("710925007", "Provision of food (procedure)")),
    "food-pantry": Category("food-insecurity", ("710925007", "Provision of food (procedure)")),
    "meals": Category("food-insecurity", ("713109004", "Referral to community meals service")),
    "snap-wic": Category("food-insecurity", BENEFITS),
    "housing": Category("housing-instability", HOUSING),
    "shelter": Category("homelessness", HOUSING),
    "rent-assistance": Category("housing-instability", HOUSING),
    "utilities": Category("utility-insecurity", BENEFITS),
    "housing-search": Category("housing-instability", HOUSING),
    "goods": Category("material-hardship", REFERRAL),
    "clothing": Category("material-hardship", REFERRAL),
    "school-supplies": Category("material-hardship", REFERRAL),
    "baby-supplies": Category("material-hardship", REFERRAL),
    "transit": Category("transportation-insecurity", ("428632005", "Transportation request")),
    "transportation": Category(
        "transportation-insecurity", ("428632005", "Transportation request")
    ),
    "bus-passes": Category("transportation-insecurity", ("428632005", "Transportation request")),
    "health": Category("medical-cost-burden", REFERRAL),
    "medical-care": Category("medical-cost-burden", REFERRAL),
    "dental": Category("medical-cost-burden", ("103697008", "Patient referral for dental care")),
    "mental-health-counseling": Category("stress", REFERRAL),
    "substance-use": Category("stress", REFERRAL),
    "vision": Category("medical-cost-burden", REFERRAL),
    "health-insurance": Category("health-insurance-coverage-status", BENEFITS),
    "money": Category("financial-insecurity", BENEFITS),
    "benefits-help": Category("financial-insecurity", BENEFITS),
    "tax-prep": Category("financial-insecurity", REFERRAL),
    "financial-coaching": Category("financial-insecurity", REFERRAL),
    "care": Category("social-connection", REFERRAL),
    "childcare": Category("employment-status", REFERRAL),
    "family-support": Category("social-connection", REFERRAL),
    "disability-support": Category("material-hardship", REFERRAL),
    "education": Category("educational-attainment", REFERRAL),
    "tutoring": Category("educational-attainment", REFERRAL),
    "after-school": Category("educational-attainment", REFERRAL),
    "mentoring": Category("social-connection", REFERRAL),
    "adult-education": Category("educational-attainment", REFERRAL),
    "work": Category("employment-status", REFERRAL),
    "job-training": Category("employment-status", REFERRAL),
    "job-placement": Category("employment-status", REFERRAL),
    "youth-employment": Category("employment-status", REFERRAL),
    "legal": Category("sdoh-category-unspecified", REFERRAL),
    "legal-aid": Category("sdoh-category-unspecified", REFERRAL),
    "immigration": Category("sdoh-category-unspecified", REFERRAL),
    "eviction-defense": Category("housing-instability", HOUSING),
}
DOMAIN_NAMES = {
    "sdoh-category-unspecified": "SDOH Category Unspecified",
    "food-insecurity": "Food Insecurity",
    "housing-instability": "Housing Instability",
    "homelessness": "Homelessness",
    "transportation-insecurity": "Transportation Insecurity",
    "financial-insecurity": "Financial Insecurity",
    "material-hardship": "Material Hardship",
    "educational-attainment": "Educational Attainment",
    "employment-status": "Employment Status",
    "stress": "Stress",
    "social-connection": "Social Connection",
    "intimate-partner-violence": "Intimate Partner Violence",
    "health-insurance-coverage-status": "Health Insurance Coverage Status",
    "medical-cost-burden": "Medical Cost Burden",
    "utility-insecurity": "Utility Insecurity",
}
PRIORITY = {"routine": "routine", "soon": "urgent", "urgent": "asap"}
REQUEST_STATUS = {
    "draft": "draft",
    "completed": "completed",
    "failed": "revoked",
    "rejected": "revoked",
    "cancelled": "revoked",
}
# caremap's statuses as the guide's Task statuses (which leave out "received" and "ready").
TASK_STATUS = {status: status.value.replace("_", "-") for status in ReferralStatus}
TASK_STATUS[ReferralStatus.RECEIVED] = "requested"
TELECOM = {"phone": "phone", "text": "sms", "email": "email"}


@dataclass(frozen=True)
class Systems:
    """caremap's code systems and identifier systems, under the deployment's stable base."""

    status: str
    outcome: str
    reason: str
    share: str
    age_band: str
    referral: str
    person: str
    organization: str
    service: str


def systems_under(base: str) -> Systems:
    base = base.rstrip("/")
    return Systems(
        status=f"{base}/CodeSystem/referral-status",
        outcome=f"{base}/CodeSystem/referral-outcome",
        reason=f"{base}/CodeSystem/rejection-reason",
        share=f"{base}/CodeSystem/consent-share",
        age_band=f"{base}/StructureDefinition/age-band",
        referral=f"{base}/identifier/referral",
        person=f"{base}/identifier/person",
        organization=f"{base}/identifier/organization",
        service=f"{base}/identifier/service",
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _meta(referral: Referral, kind: str) -> dict[str, Any]:
    return {
        "versionId": str(referral.version),
        "lastUpdated": _iso(referral.updated_at),
        "profile": [PROFILES[kind]],
    }


def categories_of(referral: Referral, shared: frozenset[str]) -> list[str]:
    """The caremap categories a referral is for: its needs where the viewer may see them, else
    the service's own (public) categories."""
    needs = [code for code in referral.needs if code in CATEGORIES] if "needs" in shared else []
    if needs:
        return needs
    service = referral.service
    return [term.code for term in service.categories if term.code in CATEGORIES] or ["care"]


def service_request(referral: Referral, shared: frozenset[str], systems: Systems) -> dict[str, Any]:
    codes = categories_of(referral, shared)
    domains = list(dict.fromkeys(CATEGORIES[code].domain for code in codes))
    procedure = CATEGORIES[codes[0]].procedure
    names = ", ".join(BY_CODE[code].name for code in codes if code in BY_CODE)
    data: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(referral.id),
        "meta": _meta(referral, "ServiceRequest"),
        "identifier": [{"system": systems.referral, "value": str(referral.id)}],
        "status": REQUEST_STATUS.get(referral.status.value, "active"),
        "intent": "order",
        "priority": PRIORITY[referral.urgency.value],
        "category": [
            {
                "coding": [
                    {"system": SNOMED, "code": "410606002", "display": "Social service procedure"}
                ]
            },
            *(
                {"coding": [{"system": SDOH_CODES, "code": d, "display": DOMAIN_NAMES[d]}]}
                for d in domains
            ),
        ],
        "code": {
            "coding": [{"system": SNOMED, "code": procedure[0], "display": procedure[1]}],
            "text": referral.service.name,
        },
        "subject": {"reference": f"Patient/{referral.id}"},
        "occurrencePeriod": {
            "start": _iso(referral.sent_at or referral.created_at),
            **({"end": _iso(referral.due_at)} if referral.due_at else {}),
        },
        "authoredOn": _iso(referral.created_at),
        "requester": {"reference": f"Organization/{referral.referring_organization_id}"},
        "performer": [
            {"reference": f"Organization/{referral.receiving_organization_id}"},
            {
                "type": "HealthcareService",
                "identifier": {"system": systems.service, "value": str(referral.service_id)},
                "display": referral.service.name,
            },
        ],
        "reasonCode": [{"text": f"Referred for: {names}"}] if names else None,
    }
    if referral.consent is not None:
        data["supportingInfo"] = [{"reference": f"Consent/{referral.id}"}]
    return _checked(ServiceRequest, data)


def task(referral: Referral, shared: frozenset[str], systems: Systems) -> dict[str, Any]:
    status = referral.status
    data: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(referral.id),
        "meta": _meta(referral, "Task"),
        "identifier": [{"system": systems.referral, "value": str(referral.id)}],
        "basedOn": [{"reference": f"ServiceRequest/{referral.id}"}],
        "status": TASK_STATUS[status],
        "businessStatus": {
            "coding": [{"system": systems.status, "code": status.value}],
            "text": status.value.replace("_", " "),
        },
        "intent": "order",
        "priority": PRIORITY[referral.urgency.value],
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": f"ServiceRequest/{referral.id}"},
        "for": {"reference": f"Patient/{referral.id}"},
        "authoredOn": _iso(referral.created_at),
        "lastModified": _iso(referral.updated_at),
        "requester": {"reference": f"Organization/{referral.referring_organization_id}"},
        "owner": {"reference": f"Organization/{referral.receiving_organization_id}"},
    }
    if referral.due_at:
        data["restriction"] = {"period": {"end": _iso(referral.due_at)}}
    if referral.outcome:
        data["statusReason"] = {
            "coding": [{"system": systems.outcome, "code": referral.outcome}],
            "text": LABELS.get(referral.outcome, referral.outcome),
        }
    elif referral.reason:
        data["statusReason"] = {
            "coding": [{"system": systems.reason, "code": referral.reason}],
            "text": LABELS.get(referral.reason, referral.reason),
        }
    if referral.outcome in DELIVERED:
        code, display = CATEGORIES[categories_of(referral, shared)[0]].procedure
        data["output"] = [
            {
                "type": {"coding": [{"system": SDOH_CODES, "code": "resulting-activity"}]},
                "valueCodeableConcept": {
                    "coding": [{"system": SNOMED, "code": code, "display": display}],
                    "text": LABELS.get(referral.outcome, referral.outcome),
                },
            }
        ]
    return _checked(Task, data)


def patient(referral: Referral, shared: frozenset[str], systems: Systems) -> dict[str, Any]:
    """US Core's Patient, with only what consent lets the viewer see: the elements US Core
    requires (identifier, name, gender) are there, masked where nothing is shared."""
    masked = [{"url": DATA_ABSENT, "valueCode": "masked"}]
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(referral.id),
        "meta": _meta(referral, "Patient"),
        "identifier": [{"system": systems.person, "value": str(referral.id)}],
        "name": [{"given": [referral.person_name], "text": referral.person_name}]
        if "name" in shared and referral.person_name
        else [{"extension": masked}],
        "gender": "unknown",  # caremap does not ask
        "_gender": {"extension": [{"url": DATA_ABSENT, "valueCode": "not-asked"}]},
    }
    if "age_band" in shared and referral.age_band:
        data["extension"] = [{"url": systems.age_band, "valueString": referral.age_band}]
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
    return _checked(Patient, data)


def consent(referral: Referral, systems: Systems) -> dict[str, Any] | None:
    given = referral.consent
    if given is None:
        return None
    data = {
        "resourceType": "Consent",
        "id": str(referral.id),
        "meta": _meta(referral, "Consent"),
        "status": "inactive" if given.withdrawn_at else "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}
                ]
            },
            {"coding": [{"system": "http://loinc.org", "code": "59284-0"}]},
        ],
        "patient": {"reference": f"Patient/{referral.id}"},
        "dateTime": _iso(given.given_at),
        "organization": [{"reference": f"Organization/{referral.referring_organization_id}"}],
        "sourceAttachment": {
            "title": f"Consent given by the {given.given_by}, {given.method}",
            "creation": _iso(given.given_at),
        },
        "policyRule": {"text": "Shared with the receiving organization for this referral only"},
        "provision": {
            "type": "permit",
            "period": {
                "start": _iso(given.given_at),
                **({"end": _iso(given.withdrawn_at)} if given.withdrawn_at else {}),
            },
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": {
                        "reference": f"Organization/{referral.receiving_organization_id}"
                    },
                }
            ],
            "class": [{"system": systems.share, "code": share} for share in given.shares],
        },
    }
    return _checked(FhirConsent, data)


def organization(
    found: Organization, address: dict[str, Any] | None, systems: Systems
) -> dict[str, Any]:
    """US Core's Organization: its public details, and its first listed address."""
    telecom = [{"system": "email", "value": found.email}] if found.email else []
    if found.website:
        telecom.append({"system": "url", "value": found.website})
    data: dict[str, Any] = {
        "resourceType": "Organization",
        "id": str(found.id),
        "meta": {"versionId": str(found.version), "profile": [PROFILES["Organization"]]},
        "identifier": [{"system": systems.organization, "value": str(found.id)}],
        "active": True,
        "name": found.name,
        "telecom": telecom or None,
        "address": [address] if address else None,
    }
    return _checked(FhirOrganization, data)


def _checked(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Built and checked with `fhir.resources`' R4B model, as JSON-ready data."""
    clean = {key: value for key, value in data.items() if value is not None}
    return model.model_validate(clean).model_dump(mode="json", exclude_none=True)


def referral_bundle(
    referral: Referral,
    organizations: dict[str, dict[str, Any]],
    shared: frozenset[str],
    systems: Systems,
    base_url: str,
) -> dict[str, Any]:
    """The referral's resources as a FHIR collection Bundle, each at its REST address."""
    resources = [
        task(referral, shared, systems),
        service_request(referral, shared, systems),
        patient(referral, shared, systems),
        *organizations.values(),
    ]
    if (given := consent(referral, systems)) is not None:
        resources.append(given)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _iso(referral.updated_at),
        "entry": [
            {"fullUrl": f"{base_url}/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


# --- a Task changed through FHIR, as a move of caremap's lifecycle ------------------------------

# What a partner's system may change on a Task; everything else is caremap's.
CHANGEABLE = frozenset(
    {"status", "businessStatus", "statusReason", "output", "meta", "lastModified"}
)
_FROM_TASK_STATUS = {
    "draft": ReferralStatus.DRAFT,
    "requested": ReferralStatus.REQUESTED,
    "accepted": ReferralStatus.ACCEPTED,
    "in-progress": ReferralStatus.IN_PROGRESS,
    "on-hold": ReferralStatus.ON_HOLD,
    "completed": ReferralStatus.COMPLETED,
    "failed": ReferralStatus.FAILED,
    "rejected": ReferralStatus.REJECTED,
    "cancelled": ReferralStatus.CANCELLED,
}


@dataclass(frozen=True)
class TaskMove:
    to: ReferralStatus
    reason: str | None = None
    outcome: str | None = None


def task_move(current: dict[str, Any], changed: dict[str, Any], systems: Systems) -> TaskMove:
    """The lifecycle move a changed Task asks for: its status (caremap's "received" is
    `requested` with that `businessStatus`), and the reason or outcome its `statusReason` codes.
    Raises `Invalid` naming what cannot change or is not understood."""
    if not isinstance(changed, dict) or changed.get("resourceType") != "Task":
        raise Invalid({"resourceType": "must be Task"})
    others = sorted(
        key
        for key in set(current) | set(changed)
        if key not in CHANGEABLE and current.get(key) != changed.get(key)
    )
    if others:
        raise Invalid(
            {
                key: "cannot change through FHIR: status, businessStatus, statusReason, output can"
                for key in others
            }
        )
    status = changed.get("status")
    if status not in _FROM_TASK_STATUS:
        raise Invalid({"status": f"one of {', '.join(_FROM_TASK_STATUS)}"})
    target = _FROM_TASK_STATUS[status]
    business = _code(changed.get("businessStatus"), systems.status)
    if status == "requested" and business == ReferralStatus.RECEIVED.value:
        target = ReferralStatus.RECEIVED
    reason = _code(changed.get("statusReason"), systems.reason)
    outcome = _code(changed.get("statusReason"), systems.outcome)
    if reason is not None and reason not in REJECTION_REASONS:
        raise Invalid(
            {"statusReason": f"a rejection reason is one of {', '.join(REJECTION_REASONS)}"}
        )
    if outcome is not None and outcome not in OUTCOMES:
        raise Invalid({"statusReason": f"an outcome is one of {', '.join(OUTCOMES)}"})
    return TaskMove(target, reason, outcome)


def _code(concept: Any, system: str) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") == system:
            code = coding.get("code")
            return code if isinstance(code, str) else None
    return None
