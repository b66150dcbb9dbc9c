"""The partner portal: an agency's own listings (edit, capacity, "still accurate") and its API
tokens. Thin handlers over `directory.service` and the accounts service: the same rules and
errors as the JSON API, shown beside the fields with the partner's input kept.
"""

from typing import Any
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from caremap.accounts import service as accounts
from caremap.templating import templates
from directory import serialize
from directory import service as catalog
from directory.actor import Actor, Role
from directory.errors import Conflict, Forbidden, Invalid
from directory.http import actor_of
from directory.taxonomy import CATEGORIES

EDITORS = (Role.PARTNER, Role.PARTNER_ADMIN)
TEXT_FIELDS = (
    "name",
    "description",
    "eligibility_description",
    "application_process",
    "fees_description",
)


def _partner(request: Request) -> Actor | None:
    actor = actor_of(request)
    if actor is not None and actor.role not in EDITORS:
        raise Forbidden("The partner portal is for partner agencies.")
    return actor


def _to_login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


async def listings(request: Request) -> Response:
    actor = _partner(request)
    if actor is None:
        return _to_login(request)
    page = await catalog.list_services(
        actor=actor, organization_id=actor.organization_id, per_page=100
    )
    return templates.TemplateResponse(
        request,
        "portal_listings.html",
        {"services": [serialize.service_document(s) for s in page.items]},
    )


async def listing_action(request: Request) -> Response:
    """ "Still accurate" and capacity, from the listings page."""
    actor = _partner(request)
    if actor is None:
        return _to_login(request)
    form = await request.form()
    service_id = request.path_params["id"]
    action = request.path_params["action"]
    if action == "verify":
        await catalog.verify_service(actor=actor, service_id=service_id)
    elif action == "intake":
        await catalog.set_intake(
            actor=actor,
            service_id=service_id,
            state=str(form.get("state", "")),
            wait_days=int(str(form.get("wait_days"))) if form.get("wait_days") else None,
        )
    else:
        raise HTTPException(404)
    return RedirectResponse("/portal", status_code=303)


def _service_changes(form: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {
        name: str(form.get(name, "")).strip() or None for name in TEXT_FIELDS
    }
    changes["description"] = changes["description"] or ""
    changes["free"] = form.get("free") == "yes"
    changes["accepts_referrals"] = form.get("accepts_referrals") == "yes"
    changes["status"] = str(form.get("status", "active"))
    changes["categories"] = form.getlist("categories")
    changes["languages"] = [
        code.strip() for code in str(form.get("languages", "")).split(",") if code.strip()
    ]
    return changes


async def edit_listing(request: Request) -> Response:
    actor = _partner(request)
    if actor is None:
        return _to_login(request)
    service = await catalog.get_service(actor=actor, service_id=request.path_params["id"])
    if service.organization_id != actor.organization_id:
        raise Forbidden("You can change only your own organization's listings.")
    errors: dict[str, str] = {}
    document = serialize.service_document(service)
    values: dict[str, Any] = {
        **{name: document.get(name) or "" for name in TEXT_FIELDS},
        "free": document.get("free"),
        "accepts_referrals": document.get("accepts_referrals"),
        "status": document.get("status"),
        "categories": [c["code"] for c in document.get("categories", [])],
        "languages": [language["code"] for language in document.get("languages", [])],
        "version": service.version,
    }
    status = 200
    if request.method == "POST":
        form = await request.form()
        values = {**_service_changes(form), "version": str(form.get("version", ""))}
        try:
            version = int(values["version"])
        except ValueError:
            version = 0
        try:
            await catalog.update_service(
                actor=actor,
                service_id=service.id,
                version=version,
                data={k: v for k, v in values.items() if k != "version"},
            )
        except Invalid as refused:
            errors, status = refused.fields, 422
        except Conflict as refused:
            errors, status = {"version": refused.message}, 409
        else:
            return RedirectResponse("/portal", status_code=303)
    return templates.TemplateResponse(
        request,
        "portal_edit.html",
        {"service": document, "values": values, "errors": errors, "categories": CATEGORIES},
        status_code=status,
    )


async def tokens(request: Request) -> Response:
    actor = _partner(request)
    if actor is None:
        return _to_login(request)
    created = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        if form.get("revoke"):
            try:
                token_id = UUID(str(form.get("revoke")))
            except ValueError:
                raise Invalid({"revoke": "not a token id"}) from None
            await accounts.revoke_token(actor=actor, token_id=token_id)
        else:
            try:
                _token, created = await accounts.create_token(
                    actor=actor, name=str(form.get("name", "")).strip()
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
