"""The partner portal: an agency's own listings (edit, capacity, "still accurate", problem
reports) and its API tokens. Thin handlers over `directory.service` and the accounts service:
the same rules and errors as the JSON API, shown beside the fields with the partner's input kept.
"""

from typing import Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from caremap.accounts import service as accounts
from caremap.accounts.models import User
from caremap.auth import signed_in
from caremap.mail import freshness_rules
from caremap.templating import templates
from caremap.workspace import to_login
from directory import access, details, freshness, problems, serialize
from directory import service as catalog
from directory.actor import Actor, Role
from directory.editing import parse_version
from directory.errors import Conflict, Forbidden, Invalid
from directory.http import actor_of, form_text, form_uuid, query_int, query_uuid
from directory.taxonomy import CATEGORIES

EDITORS = (Role.PARTNER, Role.PARTNER_ADMIN, Role.ADMIN)
LISTINGS_PER_PAGE = 25
# Offered as boxes to tick on the edit page, beside the listing's own; others are typed as codes.
COMMON_LANGUAGES = ["en", "es", "zh", "vi", "ar", "pl", "so", "fr", "ht", "ru", "ko", "tl", "pt"]
TEXT_FIELDS = (
    "name",
    "description",
    "eligibility_description",
    "application_process",
    "fees_description",
)


def _editor(request: Request) -> Actor | None:
    """Partner staff (their organization's listings) and admins (every listing)."""
    actor = actor_of(request)
    if actor is not None and actor.role not in EDITORS:
        raise Forbidden("The partner portal is for partner agencies and admins.")
    return actor


async def listings(request: Request) -> Response:
    """The listings the viewer keeps: an agency's own, or (admins) every organization's, found
    by name and a page at a time."""
    actor = _editor(request)
    if actor is None:
        return to_login(request)
    words = (request.query_params.get("q") or "").strip()[:100] or None
    admin = actor.role is Role.ADMIN
    organization_id = query_uuid(request, "organization_id") if admin else actor.organization_id
    page = await catalog.list_services(
        actor=actor,
        organization_id=organization_id,
        text=words,
        page=query_int(request, "page", 1, 1, 10_000),
        per_page=LISTINGS_PER_PAGE,
    )
    return templates.TemplateResponse(
        request,
        "portal_listings.html",
        {
            "services": [serialize.service_document(s) for s in page.items],
            "found": page,
            "q": words or "",
            "admin": admin,
            "saved": request.query_params.get("saved"),
        },
    )


async def listing_action(request: Request) -> Response:
    """ "Still accurate" and capacity, from the listings page."""
    actor = _editor(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    service_id = request.path_params["id"]
    action = request.path_params["action"]
    if action == "verify":
        await catalog.verify_service(actor=actor, service_id=service_id)
        if form.get("next") == "edit":
            return RedirectResponse(f"/portal/services/{service_id}/edit", status_code=303)
    elif action == "intake":
        await catalog.set_intake(
            actor=actor,
            service_id=service_id,
            state=str(form.get("state", "")),
            wait_days=_whole_number(form_text(form, "wait_days")),
        )
    else:
        raise HTTPException(404)
    return RedirectResponse(_back_to_list(form.get("back"), action, service_id), status_code=303)


def _back_to_list(back: object, saved: str, service_id: UUID) -> str:
    """The listings page the form was on (its search and page kept), saying what was saved."""
    kept = [
        (name, value)
        for name, value in parse_qsl(back if isinstance(back, str) else "")
        if name in ("q", "page", "organization_id")
    ]
    return f"/portal?{urlencode([*kept, ('saved', saved)])}#service-{service_id}"


def _whole_number(value: str | None) -> int | str | None:
    """A number typed in a form; anything else is passed on for the service to refuse by name."""
    return int(value) if value and value.isdigit() else value


def _service_changes(form: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {name: form_text(form, name) for name in TEXT_FIELDS}
    changes["description"] = changes["description"] or ""
    changes["free"] = form.get("free") == "yes"
    changes["accepts_referrals"] = form.get("accepts_referrals") == "yes"
    changes["status"] = str(form.get("status", "active"))
    changes["categories"] = form.getlist("categories")
    # Ticked languages, and any typed in "other languages" (codes, comma separated).
    typed = [*form.getlist("languages"), str(form.get("other_languages", ""))]
    codes = [code.strip() for field in typed for code in str(field).split(",") if code.strip()]
    changes["languages"] = list(dict.fromkeys(codes))
    return changes


async def edit_listing(request: Request) -> Response:
    actor = _editor(request)
    if actor is None:
        return to_login(request)
    service = await _own_service(request, actor)
    errors: dict[str, str] = {}
    values: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        form = await request.form()
        values = {**_service_changes(form), "version": form_text(form, "version")}
        try:
            await catalog.update_service(
                actor=actor,
                service_id=service.id,
                version=parse_version(values["version"]),
                data={k: v for k, v in values.items() if k != "version"},
            )
        except Invalid as refused:
            errors, status = refused.fields, 422
        except Conflict as refused:
            errors, status = {"version": refused.message}, 409
        else:
            return RedirectResponse(_back_to_list(None, "edit", service.id), status_code=303)
    return await _edit_page(request, found=service, values=values, errors=errors, status=status)


async def _edit_page(
    request: Request,
    *,
    found: Any,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    part_errors: dict[str, str] | None = None,
    part_values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    document = serialize.service_document(found)
    actor = actor_of(request)
    changes = await catalog.listing_history(actor=actor, service_id=found.id, limit=30)
    named = {c.actor_user_id for c in changes if c.actor_user_id} | {found.last_verified_by}
    people = dict(await User.filter(id__in=named - {None}).values_list("id", "name"))
    rules = freshness_rules(request.app.state.settings)
    reports = await problems.list_problems(actor=actor, service_id=found.id)
    return templates.TemplateResponse(
        request,
        "portal_edit.html",
        {
            "history": [(c, people.get(c.actor_user_id, "caremap")) for c in changes],
            "verifier": people.get(found.last_verified_by),
            "stale_on": freshness.stale_at(found, rules).date().isoformat(),
            "review": found.review_signals,
            "problems": reports.items,
            "service": document,
            "values": values or _current_values(document, found.version),
            "errors": errors or {},
            "part_errors": part_errors or {},
            "part_values": part_values or {},
            "categories": CATEGORIES,
            "common_languages": COMMON_LANGUAGES,
        },
        status_code=status,
    )


def _current_values(document: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        **{name: document.get(name) or "" for name in TEXT_FIELDS},
        "free": document.get("free"),
        "accepts_referrals": document.get("accepts_referrals"),
        "status": document.get("status"),
        "categories": [c["code"] for c in document.get("categories", [])],
        "languages": [language["code"] for language in document.get("languages", [])],
        "version": version,
    }


async def _own_service(request: Request, actor: Actor) -> Any:
    found = await catalog.get_service(actor=actor, service_id=request.path_params["id"])
    access.require_listing_editor(actor, found.organization_id)
    return found


def _part_data(kind: str, form: Any) -> dict[str, Any]:
    """A phone, opening hours, an area or a new site, from its form, as the API's JSON."""

    def text(name: str) -> str | None:
        return form_text(form, name)

    if kind == "phone":
        return {"number": text("number"), "description": text("description")}
    if kind == "schedule":
        days = form.getlist("byday")
        return {
            "byday": ",".join(days) if days else None,
            "opens_at": text("opens_at"),
            "closes_at": text("closes_at"),
            "description": text("description"),
        }
    if kind == "service_area":
        return {
            "name": text("name"),
            "extent_type": text("extent_type"),
            "extent": text("extent"),
            "state_province": text("state_province"),
        }
    return {
        "name": text("name"),
        "address_1": text("address_1"),
        "city": text("city"),
        "state_province": text("state_province"),
        "postal_code": text("postal_code"),
    }


async def listing_part(request: Request) -> Response:
    """Add or remove a phone, opening hours, a service area or a site of the listing."""
    actor = _editor(request)
    if actor is None:
        return to_login(request)
    found = await _own_service(request, actor)
    kind, form = request.path_params["kind"], await request.form()
    if kind not in (*details.PARTS, "location"):
        raise HTTPException(404)
    data = _part_data(kind, form)
    try:
        if form.get("edit") and kind in details.PARTS:
            await details.update_part(
                actor=actor,
                kind=kind,
                part_id=form_uuid(form.get("edit"), "edit"),
                version=parse_version(form_text(form, "version")),
                data=data,
            )
        elif form.get("remove"):
            part_id = form_uuid(form.get("remove"), "remove")
            if kind == "location":
                await details.unlink_location(actor=actor, service_id=found.id, location_id=part_id)
            else:
                await details.delete_part(
                    actor=actor,
                    kind=kind,
                    part_id=part_id,
                    version=parse_version(form_text(form, "version")),
                )
        elif kind == "phone":
            await details.add_phone(actor=actor, service_id=found.id, data=data)
        elif kind == "schedule":
            site = form_text(form, "location_id")  # hours of one site, or of the service
            await details.add_schedule(
                actor=actor,
                service_id=found.id,
                data={**data, "location_id": site} if site else data,
            )
        elif kind == "service_area":
            await details.add_service_area(actor=actor, service_id=found.id, data=data)
        else:
            await details.add_site(
                actor=actor, service_id=found.id, data=data, geocoder=request.app.state.geocoder
            )
    except (Invalid, Conflict) as refused:
        fields = getattr(refused, "fields", None) or {"form": refused.message}
        return await _edit_page(
            request,
            found=await _own_service(request, actor),
            part_errors={f"{kind}.{k}": v for k, v in fields.items()},
            part_values={kind: data, f"{kind}_edit": bool(form.get("edit"))},
            status=refused.status,
        )
    return RedirectResponse(f"/portal/services/{found.id}/edit", status_code=303)


async def problem_list(request: Request) -> Response:
    """Open problem reports: a partner's own organization's, or (admins) everyone's."""
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    if actor.role not in (*EDITORS, Role.ADMIN):
        raise Forbidden("Problem reports are for partner agencies and admins.")
    show_all = request.query_params.get("status") == "all"
    found = await problems.list_problems(
        actor=actor, include_resolved=show_all, page=query_int(request, "page", 1, 1, 10_000)
    )
    organizations = await catalog.organization_names(r.organization_id for r in found.items)
    return templates.TemplateResponse(
        request,
        "portal_problems.html",
        {
            "found": found,
            "show_all": show_all,
            "organization_names": organizations if actor.role is Role.ADMIN else {},
        },
    )


async def resolve_problem(request: Request) -> Response:
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    await problems.resolve_problem(
        actor=actor,
        problem_id=request.path_params["id"],
        data={"resolution": form_text(form, "resolution")},
    )
    back = form.get("next")
    if isinstance(back, str) and back.startswith("/portal/"):
        return RedirectResponse(back, status_code=303)
    return RedirectResponse("/portal/problems", status_code=303)


async def tokens(request: Request) -> Response:
    actor = _editor(request)
    if actor is None:
        return to_login(request)
    created = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        if form.get("revoke"):
            token_id = form_uuid(form.get("revoke"), "revoke")
            await accounts.revoke_token(actor=actor, token_id=token_id)
        else:
            try:
                _token, created = await accounts.create_token(
                    actor=actor,
                    name=str(form.get("name", "")).strip(),
                    signed_in=signed_in(request),
                )
            except Invalid as refused:
                errors = refused.fields
    return templates.TemplateResponse(
        request,
        "portal_tokens.html",
        {"tokens": await accounts.list_tokens(actor=actor), "created": created, "errors": errors},
        status_code=422 if errors else 200,
        headers={"Cache-Control": "no-store"},
    )
