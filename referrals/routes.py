"""The referral JSON API: thin handlers over `referrals.service`."""

import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from directory.access import require_actor, require_admin
from directory.errors import Invalid
from directory.http import (
    actor_of,
    json_document,
    page_document,
    query_datetime,
    query_int,
    query_uuid,
    read_json,
    read_json_object,
    version_of,
)
from directory.text import PeopleCsv
from referrals import access, audit, fhir_service, inbox, service
from referrals.fhir import systems_under
from referrals.inbox import Sort, Tab, parse_query
from referrals.models import Referral
from referrals.notify import ReminderRules


def referral_document(referral: Referral, request: Request) -> dict[str, Any]:
    actor = require_actor(actor_of(request))
    consent = referral.consent
    shared = access.shared_with(actor, referral, consent)
    contact = "contact" in shared
    return {
        "id": str(referral.id),
        "reference": referral.reference,
        "status": referral.status.value,
        "urgency": referral.urgency.value,
        "due_at": referral.due_at.isoformat() if referral.due_at else None,
        "service": {"id": str(referral.service_id), "name": referral.service.name},
        "receiving_organization_id": str(referral.receiving_organization_id),
        "referring_organization_id": str(referral.referring_organization_id),
        "needs": referral.needs if "needs" in shared else None,
        "person": {
            "name": referral.person_name if "name" in shared else None,
            "age_band": referral.age_band if "age_band" in shared else None,
            "preferred_language": referral.preferred_language if "language" in shared else None,
            "contact_method": referral.contact_method if contact else None,
            "contact_value": referral.contact_value if contact else None,
            "contact_times": referral.contact_times if contact else None,
        },
        "consent": {
            "given_by": consent.given_by,
            "method": consent.method,
            "given_at": consent.given_at.isoformat(),
            "shares": consent.shares,
            "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
        }
        if consent
        else None,
        "reason": referral.reason,
        "outcome": referral.outcome,
        "version": referral.version,
        "purged_at": referral.purged_at.isoformat() if referral.purged_at else None,
        "created_at": referral.created_at.isoformat(),
        "sent_at": referral.sent_at.isoformat() if referral.sent_at else None,
        "updated_at": referral.updated_at.isoformat(),
        "last_activity_at": referral.last_activity_at.isoformat()
        if referral.last_activity_at
        else None,
        "unread": inbox.is_unread(actor, referral),
    }


def with_timeline(referral: Referral, request: Request) -> dict[str, Any]:
    notes = access.may_read_notes(require_actor(actor_of(request)), referral, referral.consent)
    return {
        **referral_document(referral, request),
        "notes_hidden": not notes,
        "timeline": [
            {
                "kind": e.kind,
                "from": e.from_status,
                "to": e.to_status,
                "note": e.note if notes else None,
                "actor_user_id": str(e.actor_user_id) if e.actor_user_id else None,
                "at": e.created_at.isoformat(),
            }
            for e in referral.events
        ],
    }


def reminder_rules(request: Request) -> ReminderRules:
    """The app's reminder rules (from its settings), or the defaults."""
    return getattr(request.app.state, "reminder_rules", ReminderRules())


async def create(request: Request) -> JSONResponse:
    referral = await service.create_referral(actor=actor_of(request), data=await read_json(request))
    return json_document(with_timeline(referral, request), status_code=201)


async def list_(request: Request) -> JSONResponse:
    """The caller's referrals, paged: every inbox filter, tab and sort (by default all of
    them by due date, as machines expect a stable order), with the tabs' counts."""
    query = parse_query(request, tab=Tab.ALL, sort=Sort.DUE)
    found = await inbox.inbox(
        actor=actor_of(request), query=query, stale_days=reminder_rules(request).stale_days
    )
    items = [referral_document(r, request) for r in found.referrals]
    document = page_document(items, total=found.total, page=query.page, per_page=query.per_page)
    unread = await inbox.unread_count(require_actor(actor_of(request)))
    return JSONResponse({**document, "counts": found.counts, "unread": unread})


async def get(request: Request) -> JSONResponse:
    referral = await service.get_referral(
        actor=actor_of(request), referral_id=request.path_params["id"]
    )
    return json_document(with_timeline(referral, request))


async def transition(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    to = body.get("to")
    if not isinstance(to, str):
        raise Invalid({"to": "required: the status to move to"})
    referral = await service.transition(
        actor=actor_of(request),
        referral_id=request.path_params["id"],
        to=to,
        version=version_of(request, body),
        reason=body.get("reason"),
        outcome=body.get("outcome"),
        note=body.get("note"),
    )
    return json_document(with_timeline(referral, request))


async def add_note(request: Request) -> JSONResponse:
    body = await read_json(request)
    note = body.get("note") if isinstance(body, dict) else None
    referral = await service.add_note(
        actor=actor_of(request), referral_id=request.path_params["id"], note=note
    )
    return json_document(with_timeline(referral, request), status_code=201)


async def withdraw_consent(request: Request) -> JSONResponse:
    referral = await service.withdraw_consent(
        actor=actor_of(request), referral_id=request.path_params["id"]
    )
    return json_document(with_timeline(referral, request))


async def fhir(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    bundle = await fhir_service.bundle(
        actor=actor_of(request),
        referral_id=request.path_params["id"],
        systems=systems_under(settings.fhir_system_base),
        base_url=settings.base_url.rstrip("/"),
    )
    return JSONResponse(bundle, media_type="application/fhir+json")


AUDIT_COLUMNS = (
    "at",
    "referral_id",
    "action",
    "actor_user_id",
    "actor_organization_id",
    "actor_role",
)


async def audit_filter(request: Request) -> audit.AuditFilter:
    """The log's filters from the query: `referral_id` or a short `reference`, `user_id`,
    `action`, and `since`/`until` (ISO date-times)."""
    referral_ids = None
    if (referral_id := query_uuid(request, "referral_id")) is not None:
        referral_ids = (referral_id,)
    elif reference := request.query_params.get("reference", "").strip().upper():
        if len(reference) > 8:
            raise Invalid({"reference": "a referral's 8-character reference, such as 3F2A9C1B"})
        found = await Referral.filter(reference=reference).values_list("id", flat=True)
        referral_ids = tuple(found)
    action = request.query_params.get("action") or None
    if action is not None and len(action) > 20:
        raise Invalid({"action": "an action such as read, list, transition or note"})
    return audit.AuditFilter(
        referral_ids=referral_ids,
        user_id=query_uuid(request, "user_id"),
        action=action,
        since=query_datetime(request, "since"),
        until=query_datetime(request, "until"),
    )


def audit_row(entry: audit.AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "referral_id": str(entry.referral_id),
        "action": entry.action,
        "actor_user_id": str(entry.actor_user_id) if entry.actor_user_id else None,
        "actor_organization_id": str(entry.actor_organization_id)
        if entry.actor_organization_id
        else None,
        "actor_role": entry.actor_role,
    }


async def audit_log(request: Request) -> Response:
    """The audit log for admins: a page of JSON (newest first), or all of it as CSV
    (`format=csv`, oldest first, streamed), filtered by referral, user, action and time."""
    form = request.query_params.get("format", "json")
    if form not in ("json", "csv"):
        raise Invalid({"format": "json or csv"})
    actor, where = actor_of(request), await audit_filter(request)
    if form == "json":
        page = query_int(request, "page", 1, 1, 100_000)
        per_page = query_int(request, "per_page", 100, 1, 1000)
        found = await audit.page_of(actor=actor, where=where, page=page, per_page=per_page)
        rows = [audit_row(entry) for entry in found.items]
        return JSONResponse(page_document(rows, total=found.total, page=page, per_page=per_page))
    require_admin(actor)  # refused before the first byte, not inside the stream

    async def lines() -> AsyncIterator[str]:
        yield _csv_lines([AUDIT_COLUMNS])
        async for chunk in audit.export(actor=actor, where=where):
            rows = (audit_row(entry) for entry in chunk)
            yield _csv_lines([row[column] for column in AUDIT_COLUMNS] for row in rows)

    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="caremap-audit.csv"'},
    )


def _csv_lines(rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    PeopleCsv(out).writerows(rows)
    return out.getvalue()


routes = [
    Route("/audit", audit_log, methods=["GET"]),
    Route("/referrals", create, methods=["POST"]),
    Route("/referrals", list_, methods=["GET"]),
    Route("/referrals/{id:uuid}", get, methods=["GET"]),
    Route("/referrals/{id:uuid}/transitions", transition, methods=["POST"]),
    Route("/referrals/{id:uuid}/notes", add_note, methods=["POST"]),
    Route("/referrals/{id:uuid}/consent/withdraw", withdraw_consent, methods=["POST"]),
    Route("/referrals/{id:uuid}/fhir", fhir, methods=["GET"]),
]
