"""The admin area: people (invite, role, organization, deactivate, password reset),
organizations (create, edit, school or agency) and the audit log, for caremap admins.

Thin handlers over the accounts service, `directory.service` and `referrals.audit`: the same
rules as the JSON API and the CLI. Listings and problem reports are the portal's pages, which
admins use for every organization. A password is never typed by an admin: an invitation or a
reset gives a one-time link (`caremap.accounts.password_links`) that the admin hands over.
"""

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from caremap.accounts import password_links
from caremap.accounts import service as accounts
from caremap.accounts.models import User
from caremap.security import SECRET_ADDRESS_HEADERS
from caremap.templating import absolute_url, templates
from caremap.workspace import to_login
from directory import access
from directory import service as catalog
from directory.actor import Actor, Role
from directory.editing import parse_version
from directory.errors import Conflict, Invalid
from directory.http import actor_of, form_text, query_int, query_uuid
from directory.models import Organization, OrganizationKind, Service
from referrals import audit
from referrals.messages import AUDIT_LABELS
from referrals.models import Referral
from referrals.routes import audit_filter

PER_PAGE = 50
ORGANIZATION_FIELDS = ("name", "alternate_name", "description", "email", "referral_email")


def _admin(request: Request) -> Actor | None:
    """The signed-in admin; None sends the visitor to sign in, anyone else gets a 403."""
    actor = actor_of(request)
    return access.require_admin(actor) if actor is not None else None


def _words(request: Request) -> str:
    return (request.query_params.get("q") or "").strip()[:100]


async def home(request: Request) -> Response:
    return RedirectResponse("/admin/users", status_code=303)


# --- people -----------------------------------------------------------------------------------


async def user_list(request: Request) -> Response:
    actor = _admin(request)
    if actor is None:
        return to_login(request)
    page = query_int(request, "page", 1, 1, 10_000)
    organization_id = query_uuid(request, "organization_id")
    role = request.query_params.get("role") or None
    found = await accounts.list_users(
        actor=actor,
        words=_words(request),
        role=role,
        organization_id=organization_id,
        page=page,
        per_page=PER_PAGE,
    )
    names = await catalog.organization_names(u.organization_id for u in found.items)
    organization = await Organization.get_or_none(id=organization_id) if organization_id else None
    return templates.TemplateResponse(
        request,
        "admin_users.html",
        {
            "users": [(u, names.get(u.organization_id, "")) for u in found.items],
            "total": found.total,
            "page": page,
            "pages": found.total_pages,
            "q": _words(request),
            "role": role or "",
            "roles": [r.value for r in Role],
            "organization": organization,
        },
    )


async def invite(request: Request) -> Response:
    """Add a person to an organization (from the organization's page) and show their link."""
    actor = _admin(request)
    if actor is None:
        return to_login(request)
    form = await request.form()
    values = {
        name: form_text(form, name) or ""
        for name in ("name", "email", "role", "organization_id", "language")
    }
    try:
        user = await accounts.invite_user(
            actor=actor,
            email=values["email"],
            name=values["name"],
            role=values["role"],
            organization_id=values["organization_id"],
            language=values["language"] or "en",
        )
    except (Invalid, Conflict) as refused:
        errors = getattr(refused, "fields", None) or {"email": refused.message}
        organization = await catalog.get_organization(
            organization_id=_organization_id(values["organization_id"])
        )
        return await _organization_page(
            request, organization, invite_values=values, invite_errors=errors, status=422
        )
    return await _user_page(request, user, link=_link(request, user), status=201)


async def user_page(request: Request) -> Response:
    """One person: what they may do, where they work, and the moves an admin makes."""
    actor = _admin(request)
    if actor is None:
        return to_login(request)
    user = await accounts.get_user(actor=actor, user_id=request.path_params["id"])
    if request.method == "GET":
        return await _user_page(request, user)
    form = await request.form()
    if form.get("reset"):
        user = await accounts.reset_password(actor=actor, user_id=user.id)
        return await _user_page(request, user, link=_link(request, user))
    try:
        await accounts.update_user(
            actor=actor,
            user_id=user.id,
            role=form_text(form, "role"),
            organization_id=form_text(form, "organization_id"),
            active=form.get("active") == "yes",
        )
    except Invalid as refused:
        return await _user_page(request, user, errors=refused.fields, status=422)
    return RedirectResponse(f"/admin/users/{user.id}?saved=1", status_code=303)


def _link(request: Request, user: User) -> str:
    token = password_links.make_token(str(request.app.state.settings.secret_key), user)
    return absolute_url(request, f"/password/{token}")


async def _user_page(
    request: Request,
    user: User,
    *,
    link: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The person's page. A password link appears once, in the answer to the move that made
    it, and is never stored or put in an address."""
    words = (request.query_params.get("org_q") or "").strip()[:100]
    choices = (await catalog.list_organizations(words=words)).items if words else []
    current = await Organization.get(id=user.organization_id)
    return templates.TemplateResponse(
        request,
        "admin_user.html",
        {
            "person": user,
            "organization": current,
            "choices": [o for o in choices if o.id != current.id],
            "org_q": words,
            "roles": [r.value for r in Role],
            "link": link,
            "link_hours": password_links.LINK_HOURS,
            "errors": errors or {},
            "saved": request.query_params.get("saved") and not errors,
        },
        status_code=status,
        headers=SECRET_ADDRESS_HEADERS if link else None,
    )


# --- organizations ----------------------------------------------------------------------------


async def organization_list(request: Request) -> Response:
    actor = _admin(request)
    if actor is None:
        return to_login(request)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"kind": "provider"}
    status = 200
    if request.method == "POST":
        form = await request.form()
        values = _organization_values(form)
        try:
            created = await catalog.create_organization(actor=actor, data=values)
        except Invalid as refused:
            errors, status = refused.fields, 422
        else:
            return RedirectResponse(f"/admin/organizations/{created.id}?saved=1", status_code=303)
    page = query_int(request, "page", 1, 1, 10_000)
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in {k.value for k in OrganizationKind}:
        raise Invalid({"kind": "school or provider"})
    found = await catalog.list_organizations(
        words=_words(request), kind=kind, page=page, per_page=PER_PAGE
    )
    return templates.TemplateResponse(
        request,
        "admin_organizations.html",
        {
            "organizations": found.items,
            "total": found.total,
            "page": page,
            "pages": found.total_pages,
            "q": _words(request),
            "kind": kind or "",
            "values": values,
            "errors": errors,
        },
        status_code=status,
    )


def _organization_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {name: form_text(form, name) for name in ORGANIZATION_FIELDS}
    values["description"] = values["description"] or ""
    values["website"] = form_text(form, "website")
    values["kind"] = form_text(form, "kind")
    return values


async def organization_page(request: Request) -> Response:
    actor = _admin(request)
    if actor is None:
        return to_login(request)
    organization = await catalog.get_organization(organization_id=request.path_params["id"])
    if request.method == "GET":
        return await _organization_page(request, organization)
    form = await request.form()
    values = _organization_values(form)
    try:
        await catalog.update_organization(
            actor=actor,
            organization_id=organization.id,
            version=parse_version(form_text(form, "version")),
            data=values,
        )
    except Invalid as refused:
        return await _organization_page(
            request, organization, values=values, errors=refused.fields, status=422
        )
    except Conflict as refused:
        return await _organization_page(
            request, organization, values=values, errors={"version": refused.message}, status=409
        )
    # A change of kind ends the sessions of its staff (accounts.on_organization_change).
    return RedirectResponse(f"/admin/organizations/{organization.id}?saved=1", status_code=303)


async def _organization_page(
    request: Request,
    organization: Organization,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    invite_values: dict[str, Any] | None = None,
    invite_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    current = {name: getattr(organization, name) or "" for name in ORGANIZATION_FIELDS}
    current.update(website=organization.website or "", kind=organization.kind.value)
    people = await User.filter(organization_id=organization.id).count()
    listings = await Service.filter(organization_id=organization.id).count()
    return templates.TemplateResponse(
        request,
        "admin_organization.html",
        {
            "organization": organization,
            "values": values or current,
            "errors": errors or {},
            "invite": invite_values or {"role": _usual_role(organization), "language": "en"},
            "invite_errors": invite_errors or {},
            "roles": [r.value for r in Role],
            "people": people,
            "listings": listings,
            "saved": request.query_params.get("saved") and not errors,
        },
        status_code=status,
    )


def _usual_role(organization: Organization) -> str:
    school = organization.kind is OrganizationKind.SCHOOL
    return Role.SPECIALIST.value if school else Role.PARTNER.value


def _organization_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise Invalid({"organization_id": "no such organization"}) from None


# --- the audit log ----------------------------------------------------------------------------


async def audit_page(request: Request) -> Response:
    """The log, newest first, filtered by person, referral, action and dates (in the district's
    time zone), with names shown; the download takes the same filters."""
    actor = _admin(request)
    if actor is None:
        return to_login(request)
    zone = ZoneInfo(request.app.state.settings.time_zone)
    errors: dict[str, str] = {}
    where = audit.AuditFilter()
    days = {name: request.query_params.get(name) or "" for name in ("from", "to")}
    who = (request.query_params.get("who") or "").strip()[:254]
    try:
        where = await audit_filter(request)
        bounds = {name: _day_start(value, zone, name) for name, value in days.items() if value}
        person = await _person(who) if who else None
    except Invalid as refused:
        errors = refused.fields
    else:
        # The page's own filters (an email, local dates) over the API's (ids, date-times).
        where = replace(
            where,
            user_id=person or where.user_id,
            since=bounds.get("from") or where.since,
            until=bounds["to"] + timedelta(days=1) if "to" in bounds else where.until,
        )
    page = query_int(request, "page", 1, 1, 100_000)
    found = await audit.page_of(actor=actor, where=where, page=page, per_page=PER_PAGE)
    entries = found.items
    people = dict(
        await User.filter(id__in={e.actor_user_id for e in entries}).values_list("id", "name")
    )
    organizations = await catalog.organization_names(
        e.actor_organization_id for e in entries if e.actor_organization_id
    )
    referral_ids = {e.referral_id for e in entries}
    references = dict(await Referral.filter(id__in=referral_ids).values_list("id", "reference"))
    return templates.TemplateResponse(
        request,
        "admin_audit.html",
        {
            "entries": entries,
            "people": people,
            "organizations": organizations,
            "references": references,
            "total": found.total,
            "page": page,
            "pages": found.total_pages,
            "filters": {**days, "who": who, **_echo(request)},
            "actions": sorted(AUDIT_LABELS),
            "download": _download_query(where),
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )


def _echo(request: Request) -> dict[str, str]:
    return {
        name: request.query_params.get(name) or "" for name in ("reference", "action", "user_id")
    }


def _day_start(value: str, zone: ZoneInfo, field: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid({field: "a date such as 2026-11-23"}) from None
    return datetime.combine(day, time(), tzinfo=zone)


async def _person(who: str) -> UUID:
    """A person named in the filter by their email."""
    found = await User.filter(email=who.lower()).values_list("id", flat=True)
    if not found:
        raise Invalid({"who": "no user has that email"})
    return found[0]


def _download_query(where: audit.AuditFilter) -> str:
    """The CSV download's address, with the page's filters."""
    params: list[tuple[str, str]] = [("format", "csv")]
    if where.referral_ids is not None:
        params += [("referral_id", str(i)) for i in where.referral_ids[:1]]
    if where.user_id is not None:
        params.append(("user_id", str(where.user_id)))
    if where.action is not None:
        params.append(("action", where.action))
    if where.since is not None:
        params.append(("since", where.since.isoformat()))
    if where.until is not None:
        params.append(("until", where.until.isoformat()))
    return "/api/audit?" + urlencode(params)


# --- choosing a password through a link -------------------------------------------------------


async def password_page(request: Request) -> Response:
    """Where an invited person, or one whose password was reset, chooses a password."""
    secret = str(request.app.state.settings.secret_key)
    user = await password_links.user_for(secret, request.path_params["token"])
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        password, again = str(form.get("password", "")), str(form.get("again", ""))
        if password != again:
            errors["again"] = "the two passwords are not the same"
        else:
            try:
                await accounts.set_password(user_id=user.id, password=password)
            except Invalid as refused:
                errors = refused.fields
            else:
                return RedirectResponse("/login?password=set", status_code=303)
    return templates.TemplateResponse(
        request,
        "password.html",
        {"person": user, "errors": errors, "min_length": accounts.MIN_PASSWORD_LENGTH},
        status_code=422 if errors else 200,
        headers=SECRET_ADDRESS_HEADERS,
    )
