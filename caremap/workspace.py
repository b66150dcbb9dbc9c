"""Signed-in pages: sign-in, the referral list (a school's referrals or an agency's inbox) and
the referral page with its timeline and the moves the viewer may make.

Thin handlers over `referrals.service`, like the JSON API: the same rules, the same errors.
Forms post back and redirect (so a reload never sends twice); a refused move shows its reason
on the page.
"""

from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from caremap import my_list, throttle
from caremap.accounts.models import User
from caremap.auth import sign_in, sign_out
from caremap.i18n import page_words
from caremap.security import local_path
from caremap.templating import templates
from directory import serialize
from directory import service as catalog
from directory.editing import parse_version
from directory.errors import Conflict, Invalid, Unauthenticated
from directory.http import actor_of, form_text, form_uuid
from directory.models import Organization, Phone
from directory.taxonomy import BY_CODE, CATEGORIES
from referrals import access, help_requests, inbox
from referrals import service as referrals
from referrals.lifecycle import OUTCOMES_FOR, REJECTION_REASONS, moves_for
from referrals.models import ReferralStatus
from referrals.routes import referral_document, reminder_rules, with_timeline
from referrals.schemas import AGE_BANDS, SHARABLE


def to_login(request: Request) -> Response:
    """Signed-out visitors of a signed-in page go to sign in, and come back after."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def login_page(request: Request) -> Response:
    context: dict[str, Any] = {
        "next": local_path(request.query_params.get("next"), "/referrals"),
        "email": "",
        "password_set": request.query_params.get("password") == "set",
    }
    if request.method == "GET":
        return templates.TemplateResponse(request, "login.html", context)
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    context.update(next=local_path(form.get("next"), "/referrals"), email=email)
    try:
        user = await throttle.authenticate(request, email, password)
    except throttle.TooManyRequests as refused:
        context["throttled"] = True
        retry = {"Retry-After": str(refused.extra["retry_after"])}
        return templates.TemplateResponse(
            request, "login.html", context, status_code=429, headers=retry
        )
    except (Unauthenticated, Invalid):
        context["error"] = True
        return templates.TemplateResponse(request, "login.html", context, status_code=400)
    response = RedirectResponse(context["next"], status_code=303)
    await sign_in(request, response, user)
    return response


async def logout_page(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    await sign_out(request, response)
    return response


async def referral_list(request: Request) -> Response:
    """The inbox: what needs the viewer now, tabs with counts, filters, search, pages."""
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    errors: dict[str, str] = {}
    try:
        query = inbox.parse_query(request)
    except Invalid as refused:
        errors, query = refused.fields, inbox.InboxQuery()
    found = await inbox.inbox(
        actor=actor, query=query, stale_days=reminder_rules(request).stale_days
    )
    organizations = await catalog.organization_names(
        {r.receiving_organization_id for r in found.referrals}
        | {r.referring_organization_id for r in found.referrals}
    )
    referrers = dict(
        await User.filter(id__in={r.referring_user_id for r in found.referrals}).values_list(
            "id", "name"
        )
    )
    rows = [
        {
            **referral_document(r, request),
            "agency": organizations.get(r.receiving_organization_id, ""),
            "school": organizations.get(r.referring_organization_id, ""),
            "referrer": referrers.get(r.referring_user_id, ""),
            "overdue": r.id in found.overdue_ids,
        }
        for r in found.referrals
    ]
    pages = max(1, -(-found.total // query.per_page))
    return templates.TemplateResponse(
        request,
        "referrals.html",
        {
            "rows": rows,
            "found": found,
            "query": query,
            "tabs": inbox.TABS[found.side],
            "pages": pages,
            "errors": errors,
            "side": found.side.value if found.side else "admin",
            "statuses": [s.value for s in ReferralStatus],
        },
        status_code=422 if errors else 200,
    )


async def referral_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    referral = await referrals.get_referral(actor=actor, referral_id=request.path_params["id"])
    request.state.unread = await inbox.unread_count(actor)  # opening it just marked it seen
    document = with_timeline(referral, request)
    return templates.TemplateResponse(
        request,
        "referral.html",
        {
            "referral": document,
            "moves": moves_for(referral.status, access.party_of(actor, referral)),
            "reasons": REJECTION_REASONS,
            "outcomes": OUTCOMES_FOR,
            "parties": await _parties(referral),
            "people": await _people(e["actor_user_id"] for e in document["timeline"]),
            "error": error,
        },
        status_code=status,
    )


async def _parties(referral: Any) -> dict[str, Any]:
    """Who each side works with: the agency (its referral inbox and the service's phones) and
    the school with the specialist who referred (their work address)."""
    agency, school = (
        await Organization.get(id=referral.receiving_organization_id),
        await Organization.get(id=referral.referring_organization_id),
    )
    phones = await Phone.filter(service_id=referral.service_id).values_list("number", flat=True)
    referrer = await User.get_or_none(id=referral.referring_user_id, is_active=True)
    return {
        "agency": agency,
        "agency_email": agency.referral_email or agency.email,
        "phones": list(phones),
        "school": school,
        "referrer": referrer,
    }


async def _people(user_ids: Any) -> dict[str, dict[str, str]]:
    """The people named on a timeline: each one's name and organization, by user id."""
    wanted = {UUID(i) for i in user_ids if i}
    users = await User.filter(id__in=wanted).values("id", "name", "organization_id")
    names = await catalog.organization_names({u["organization_id"] for u in users})
    return {
        str(u["id"]): {"name": u["name"], "organization": names.get(u["organization_id"], "")}
        for u in users
    }


async def referral_action(request: Request) -> Response:
    """A move or a note from the referral page's forms."""
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    action = request.path_params["action"]
    if action not in ("move", "note", "list"):
        raise HTTPException(404)
    form = await request.form()
    referral_id = request.path_params["id"]
    try:
        if action == "note":
            await referrals.add_note(
                actor=actor, referral_id=referral_id, note=form_text(form, "note")
            )
        elif action == "list":
            await referrals.add_note(
                actor=actor, referral_id=referral_id, note=await _list_note(request)
            )
        else:
            if form_text(form, "to") == "rejected" and form.get("confirm") != "yes":
                # The page asks before a decline; the API's caller decides for itself.
                raise Invalid({"confirm": "tick the box to confirm you are declining"})
            await referrals.transition(
                actor=actor,
                referral_id=referral_id,
                to=form_text(form, "to") or "",
                version=parse_version(form_text(form, "version")),
                reason=form_text(form, "reason"),
                outcome=form_text(form, "outcome"),
                note=form_text(form, "note"),
            )
    except (Invalid, Conflict) as refused:
        message = refused.message
        if isinstance(refused, Invalid):
            message = "; ".join(f"{k}: {v}" for k, v in refused.fields.items())
        return await referral_page(request, error=message, status=refused.status)
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)


async def _list_note(request: Request) -> str:
    """The viewer's list (`caremap.my_list`) as a note: other services suggested to the family,
    as the list's link, which holds service ids only."""
    services = await my_list.public_services(my_list.kept(request))
    if not services:
        raise Invalid({"list": "your list is empty"})
    _ = page_words(request).gettext
    return _("Other services suggested to the family: %(link)s") % {
        "link": my_list.link_to(request, services)
    }


def _in_zone(typed: str | None, time_zone: str) -> str | None:
    """A datetime-local value (no zone) read in `time_zone`, as ISO 8601 with its offset;
    anything else is passed on for the schema to name."""
    try:
        moment = datetime.fromisoformat(typed or "")
    except ValueError:
        return typed
    if moment.tzinfo is not None:
        return typed
    return moment.replace(tzinfo=ZoneInfo(time_zone)).isoformat()


def _now_in_zone(time_zone: str) -> str:
    """Now, as a datetime-local field shows it in the district's time zone."""
    return datetime.now(ZoneInfo(time_zone)).strftime("%Y-%m-%dT%H:%M")


def _referral_input(form: Any, time_zone: str) -> dict[str, Any]:
    """The referral form as the API's JSON body, so both are checked by the same rules. The
    consent's time is typed in the district's time zone (`TIME_ZONE`)."""

    def text(name: str) -> str | None:
        return form_text(form, name)

    consent = None
    if form.get("consent_given_by"):
        consent = {
            "given_by": text("consent_given_by"),
            "method": text("consent_method"),
            "given_at": text("consent_given_at"),
            "shares": form.getlist("consent_shares"),
            "follow_up": form.get("consent_follow_up") == "yes",
        }
        consent["given_at"] = _in_zone(consent["given_at"], time_zone)
    return {
        "service_id": text("service_id"),
        "person": {
            "name": text("person_name"),
            "age_band": text("person_age_band"),
            "preferred_language": text("person_language") or "en",
            "contact_method": text("person_contact_method"),
            "contact_value": text("person_contact_value"),
            "contact_times": text("person_contact_times"),
        },
        "needs": form.getlist("needs"),
        "urgency": text("urgency") or "routine",
        "consent": consent,
        "draft": form.get("draft") == "yes",
        "confirm_full": form.get("confirm_full") == "yes",
        "note": text("note"),
    }


async def referral_form(request: Request) -> Response:
    """The referral form for one service (from a search result's "Refer"), and its POST."""
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    access.require_referrer_role(actor)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = _referral_input(form, request.app.state.settings.time_zone)
        asked = str(form.get("help_request", "")) or None
        try:
            referral = await referrals.create_referral(
                actor=actor, data={**values, "help_request_id": asked}
            )
        except Invalid as refused:
            errors = refused.fields
        else:
            return RedirectResponse(f"/referrals/{referral.id}", status_code=303)
        service_id = values["service_id"]
    else:
        asked = request.query_params.get("help_request") or None
        values = await _from_help_request(actor, asked) if asked else {}
        service_id = request.query_params.get("service_id")
    service = await catalog.get_service(actor=actor, service_id=form_uuid(service_id, "service_id"))
    return templates.TemplateResponse(
        request,
        "referral_form.html",
        {
            "service": serialize.service_document(service),
            "values": values,
            "errors": errors,
            "categories": CATEGORIES,
            "age_bands": AGE_BANDS,
            "shares": SHARABLE,
            "help_request": asked,
            "now_local": _now_in_zone(request.app.state.settings.time_zone),
            "time_zone": request.app.state.settings.time_zone,
        },
        status_code=422 if errors else 200,
    )


async def _from_help_request(actor: Any, help_request_id: str) -> dict[str, Any]:
    """Start a referral from a family's help request: their way back and language, filled in."""
    asked = await help_requests.get_help_request(
        actor=actor, help_request_id=form_uuid(help_request_id, "help_request")
    )
    return {
        "person": {
            "preferred_language": asked.preferred_language,
            "contact_method": asked.contact_method or "school",
            "contact_value": asked.contact_value,
        },
        "note": asked.message,
    }


async def help_request_list(request: Request) -> Response:
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    raw = request.query_params.get("page") or "1"
    page = int(raw) if raw.isdigit() and len(raw) < 6 else 0  # the service names a bad one
    per_page = 50
    waiting, total = await help_requests.list_help_requests(
        actor=actor, page=page, per_page=per_page
    )
    return templates.TemplateResponse(
        request,
        "help_requests.html",
        {
            "requests": waiting,
            "categories": BY_CODE,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // per_page)),
        },
    )


async def help_request_handled(request: Request) -> Response:
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    await help_requests.mark_handled(actor=actor, help_request_id=request.path_params["id"])
    return RedirectResponse("/help-requests", status_code=303)
