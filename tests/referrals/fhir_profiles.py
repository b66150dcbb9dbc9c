"""The SDOH Clinical Care guide's rules (STU 3, on US Core 7) that caremap's resources must
meet, as checks a test can run: required elements, cardinalities and required bindings.

The guide's StructureDefinitions and a FHIR validator are not installable from the registries
this project's CI reaches, so the rules are encoded here from the guide's published profiles
(its FSH sources: SDOHCCServiceRequest, SDOHCCTaskForReferralManagement, SDOHCCConsent, the
value sets SDOHCCValueSetSDOHCategory and SDOHCCValueSetReferralTaskStatus) and US Core 7's
Patient and Organization. Each check returns what is wrong, in words; an empty list is a pass.
"""

from typing import Any

SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare"
SDOH_CODES = f"{SDOHCC}/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
SDOH_CATEGORIES = frozenset(
    [
        "sdoh-category-unspecified",
        "food-insecurity",
        "housing-instability",
        "homelessness",
        "inadequate-housing",
        "transportation-insecurity",
        "financial-insecurity",
        "material-hardship",
        "educational-attainment",
        "employment-status",
        "veteran-status",
        "stress",
        "social-connection",
        "intimate-partner-violence",
        "elder-abuse",
        "personal-health-literacy",
        "health-insurance-coverage-status",
        "medical-cost-burden",
        "digital-literacy",
        "digital-access",
        "utility-insecurity",
        "incarceration-status",
    ]
)
# TaskStatus without "ready" and "received" (SDOHCC-ValueSetReferralTaskStatus).
REFERRAL_TASK_STATUSES = frozenset(
    [
        "draft",
        "requested",
        "accepted",
        "rejected",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    ]
)
# US Core procedure codes (required for ServiceRequest.code and the resulting activity):
# SNOMED CT procedures, CPT, HCPCS, ICD-10-PCS, CDT and LOINC.
PROCEDURE_SYSTEMS = frozenset(
    {
        "http://snomed.info/sct",
        "http://www.ama-assn.org/go/cpt",
        "urn:oid:2.16.840.1.113883.6.285",
        "http://www.cms.gov/Medicare/Coding/ICD10",
        "http://ada.org/cdt",
        "http://loinc.org",
    }
)
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
GENDERS = frozenset({"male", "female", "other", "unknown"})


def _codings(concept: Any) -> list[dict[str, Any]]:
    return list(concept.get("coding") or []) if isinstance(concept, dict) else []


def _profiled(resource: dict[str, Any], profile: str) -> list[str]:
    claimed = resource.get("meta", {}).get("profile", [])
    return [] if profile in claimed else [f"meta.profile does not claim {profile}"]


def service_request(resource: dict[str, Any]) -> list[str]:
    wrong = _profiled(resource, f"{SDOHCC}/StructureDefinition/SDOHCC-ServiceRequest")
    for name in ("status", "intent", "code", "subject"):
        if not resource.get(name):
            wrong.append(f"{name} is required (1..1)")
    code = _codings(resource.get("code"))
    if not code or any(c.get("system") not in PROCEDURE_SYSTEMS for c in code):
        wrong.append("code must be from US Core procedure codes (SNOMED CT, CPT, HCPCS, LOINC)")
    sdoh = [c for cat in resource.get("category", []) for c in _codings(cat)]
    sdoh = [c for c in sdoh if c.get("system") == SDOH_CODES]
    if any(c.get("code") not in SDOH_CATEGORIES for c in sdoh):
        wrong.append("category[SDOHCC] must be from SDOHCC-ValueSetSDOHCategory")
    if not sdoh:
        wrong.append("category[SDOHCC] (must support) is missing")
    if not any(key.startswith("occurrence") for key in resource):
        wrong.append("occurrence[x] (must support) is missing")
    if not (resource.get("reasonCode") or resource.get("reasonReference")):
        wrong.append("reasonCode or reasonReference (must support) is missing")
    if not resource.get("requester") or not resource.get("performer"):
        wrong.append("requester and performer (must support) are missing")
    return wrong


def task(resource: dict[str, Any]) -> list[str]:
    wrong = _profiled(resource, f"{SDOHCC}/StructureDefinition/SDOHCC-TaskForReferralManagement")
    if resource.get("status") not in REFERRAL_TASK_STATUSES:
        wrong.append(f"status {resource.get('status')!r} is not a referral Task status")
    if resource.get("intent") != "order":
        wrong.append("intent must be order")
    if [c.get("code") for c in _codings(resource.get("code"))] != ["fulfill"]:
        wrong.append("code must be task-code#fulfill")
    for name in ("focus", "for", "authoredOn", "requester"):
        if not resource.get(name):
            wrong.append(f"{name} is required (1..)")
    if "statusReason" in resource and not resource["statusReason"].get("text"):
        wrong.append("statusReason.text is required (1..)")
    for output in resource.get("output", []):
        kind = [c.get("code") for c in _codings(output.get("type"))]
        if kind == ["resulting-activity"] and "valueCodeableConcept" in output:
            codes = _codings(output["valueCodeableConcept"])
            if not codes or any(c.get("system") not in PROCEDURE_SYSTEMS for c in codes):
                wrong.append("output[PerformedActivityCode] must be a US Core procedure code")
    return wrong


def consent(resource: dict[str, Any]) -> list[str]:
    wrong = _profiled(resource, f"{SDOHCC}/StructureDefinition/SDOHCC-Consent")
    idscl = [
        c
        for cat in resource.get("category", [])
        for c in _codings(cat)
        if (c.get("system"), c.get("code"))
        == ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IDSCL")
    ]
    if len(idscl) != 1:
        wrong.append("category[IDSCL] is required exactly once (1..1)")
    if len(resource.get("organization", [])) != 1:
        wrong.append("organization is required exactly once (1..1)")
    if not any(key.startswith("source") for key in resource):
        wrong.append("source[x] is required (1..)")
    for name in ("status", "scope", "patient", "dateTime"):
        if not resource.get(name):
            wrong.append(f"{name} is required")
    if not (resource.get("policy") or resource.get("policyRule")):
        wrong.append("ppc-1: a policy or policyRule is required")
    return wrong


def patient(resource: dict[str, Any]) -> list[str]:
    wrong = _profiled(resource, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient")
    identifiers = resource.get("identifier", [])
    if not identifiers or any(not (i.get("system") and i.get("value")) for i in identifiers):
        wrong.append("identifier (1..*) with system and value is required")
    names = resource.get("name", [])
    if not names:
        wrong.append("name (1..*) is required")
    for name in names:
        given = bool(name.get("family") or name.get("given"))
        absent = any(e.get("url") == DATA_ABSENT for e in name.get("extension", []))
        if given == absent:  # us-core-6: family or given, or a data-absent-reason
            wrong.append("us-core-6: a name has family or given, or else a data-absent-reason")
    if resource.get("gender") not in GENDERS:
        wrong.append("gender (1..1) from administrative-gender is required")
    return wrong


def organization(resource: dict[str, Any]) -> list[str]:
    wrong = _profiled(
        resource, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization"
    )
    if resource.get("active") is not True and resource.get("active") is not False:
        wrong.append("active (1..1) is required")
    if not resource.get("name"):
        wrong.append("name (1..1) is required")
    if not resource.get("identifier"):
        wrong.append("identifier (must support) is missing")
    return wrong


CHECKS = {
    "ServiceRequest": service_request,
    "Task": task,
    "Consent": consent,
    "Patient": patient,
    "Organization": organization,
}


def problems(resource: dict[str, Any]) -> list[str]:
    """What about this resource breaks its profile's rules."""
    check = CHECKS.get(resource.get("resourceType", ""))
    name = f"{resource.get('resourceType')}/{resource.get('id')}"
    return [f"{name}: {problem}" for problem in (check(resource) if check else [])]
