"""Problem reports: anyone tells us a public listing is wrong, its organization fixes it.

A report is anonymous and short: what is wrong (a kind) and optional details. It goes to the
listing's organization and to the admins (the mail rules hear about it through the listing
history, `record_change`), and stays open until one of them resolves it with a note.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from tortoise.transactions import in_transaction

from directory import access, text
from directory.actor import Actor, Role
from directory.editing import get_or_404, now, record_change
from directory.errors import Conflict, Invalid, NotFound
from directory.models import ProblemKind, ProblemReport, Service
from directory.service import Page

MAX_DETAILS = 1000


@dataclass(frozen=True, slots=True)
class ProblemList(Page):
    """One page of reports (with how many match), and how many are still open."""

    open_count: int = 0


def _text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid({field: "must be text"})
    stripped = value.strip()
    if len(stripped) > limit:
        raise Invalid({field: f"at most {limit} characters"})
    if wrong := text.problem(stripped, multiline=True):
        raise Invalid({field: wrong})
    return stripped


async def report_problem(*, service_id: UUID, data: Any) -> ProblemReport:
    """File a report about a public listing. No sign-in: the public page's form calls this."""
    if not isinstance(data, dict):
        raise Invalid({"body": "must be a JSON object"})
    service = await Service.get_or_none(id=service_id)
    if service is None or service.status not in access.PUBLIC_STATUSES:
        raise NotFound(f"No service with id {service_id}.")
    try:
        kind = ProblemKind(data.get("kind"))
    except ValueError:
        raise Invalid({"kind": f"one of {', '.join(k.value for k in ProblemKind)}"}) from None
    details = _text(data.get("details"), "details", MAX_DETAILS)
    if kind is ProblemKind.OTHER and not details:
        raise Invalid({"details": "required: say what is wrong"})
    async with in_transaction():
        report = await ProblemReport.create(
            id=uuid4(),
            service_id=service.id,
            organization_id=service.organization_id,
            kind=kind,
            details=details,
        )
        await record_change(
            actor=None,
            organization_id=service.organization_id,
            service_id=service.id,
            entity="problem_report",
            entity_id=report.id,
            action="report",
        )
    return report


async def list_problems(
    *,
    actor: Actor | None,
    organization_id: UUID | None = None,
    service_id: UUID | None = None,
    include_resolved: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> ProblemList:
    """Reports the actor may read: an organization's own, or (admins) everyone's; newest
    first, a page at a time."""
    actor = access.require_actor(actor)
    if actor.role is not Role.ADMIN:
        organization_id = organization_id or actor.organization_id
    if organization_id is not None:
        access.require_listing_editor(actor, organization_id)
    query = ProblemReport.all().prefetch_related("service")
    if organization_id is not None:
        query = query.filter(organization_id=organization_id)
    if service_id is not None:
        query = query.filter(service_id=service_id)
    open_count = await query.filter(resolved_at__isnull=True).count()
    if not include_resolved:
        query = query.filter(resolved_at__isnull=True)
    total = await query.count()
    items = await query.order_by("-created_at", "id").offset((page - 1) * per_page).limit(per_page)
    return ProblemList(list(items), total, page, per_page, open_count=open_count)


async def resolve_problem(*, actor: Actor | None, problem_id: UUID, data: Any) -> ProblemReport:
    """Close a report with a short note of what was done (or why nothing was needed)."""
    report = await get_or_404(ProblemReport, problem_id, "problem report")
    actor = access.require_listing_editor(actor, report.organization_id)
    if not isinstance(data, dict):
        raise Invalid({"body": "must be a JSON object"})
    resolution = _text(data.get("resolution"), "resolution", MAX_DETAILS)
    if not resolution:
        raise Invalid({"resolution": "required: say what was done"})
    async with in_transaction():
        updated = await ProblemReport.filter(id=report.id, resolved_at__isnull=True).update(
            resolved_at=now(), resolved_by=actor.user_id, resolution=resolution
        )
        if not updated:
            raise Conflict("This report was already resolved.")
        await record_change(
            actor=actor,
            organization_id=report.organization_id,
            service_id=report.service_id,
            entity="problem_report",
            entity_id=report.id,
            action="resolve",
        )
    return await ProblemReport.get(id=report.id).prefetch_related("service")
