"""My list: services a family or a specialist gathers while browsing, with no account, to
print as a one-page handout or share as a link.

A list is service ids and nothing else. The visitor's own list lives in a cookie that ends with
the browser session (on a shared computer it does not outlast the visit, and "Clear" empties
it); a shared list is the same ids in the address (`/list?s=...&s=...`). Adding and removing
are small forms (POST, so a link preview or a crawler never changes a list) that work without
JavaScript and go back to the page they were on.
"""

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import segno
from email_validator import EmailNotValidError, validate_email
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from caremap.i18n import language_of, page_words
from caremap.mail import mail_config
from caremap.security import local_path
from caremap.templating import absolute_url, day_names, templates
from directory import serialize
from directory import service as catalog
from directory.errors import Forbidden, Invalid, NotFound
from directory.http import form_uuid
from referrals.mail import TemporaryFailure, Unsendable, send_now

COOKIE = "caremap_list"
MOST = 20  # a handout is one page


def ids_in(raw: list[str]) -> list[UUID]:
    """The valid service ids among `raw`, in order, once each, at most `MOST`; anything else
    is dropped (a list is never refused for one stale or mangled id)."""
    found: list[UUID] = []
    for value in raw:
        try:
            service_id = UUID(value.strip())
        except ValueError:
            continue
        if service_id not in found:
            found.append(service_id)
    return found[:MOST]


def kept(request: Request) -> list[UUID]:
    """The visitor's own list, as its cookie holds it."""
    return ids_in((request.cookies.get(COOKIE) or "").split(","))


# Pages ask what the visitor's list holds (the header's count, "In my list") through this
# one reading of the cookie.
templates.env.globals["my_list"] = kept


def _keep(response: Response, ids: list[UUID], secure: bool) -> None:
    if ids:
        # No max-age: the list ends with the browser session.
        response.set_cookie(
            COOKIE, ",".join(map(str, ids)), httponly=True, samesite="lax", secure=secure
        )
    else:
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=secure)


async def change(request: Request) -> Response:
    """Add a service to the visitor's list, remove one, or clear it."""
    form = await request.form()
    ids = kept(request)
    action = request.path_params["action"]
    if action == "clear":
        ids = []
    else:
        service_id = form_uuid(form.get("service_id", ""), "service_id")
        if action == "add":
            await catalog.get_service(actor=None, service_id=service_id)  # a public listing
            if service_id not in ids and len(ids) >= MOST:
                raise Invalid({"service_id": f"a list holds at most {MOST} services"})
            ids = [*ids, service_id] if service_id not in ids else ids
        elif action == "remove":
            ids = [i for i in ids if i != service_id]
        else:
            raise NotFound("No such change to a list.")
    response = RedirectResponse(local_path(form.get("next"), "/list"), status_code=303)
    _keep(response, ids, request.app.state.settings.https)
    return response


async def page(
    request: Request,
    *,
    emailed: bool = False,
    errors: dict[str, str] | None = None,
    address: str = "",
    status: int = 200,
) -> Response:
    """The list as a handout: a shared list (ids in the address) or the visitor's own."""
    shared = request.query_params.getlist("s")
    ids = ids_in(shared) if shared else kept(request)
    services = await public_services(ids)
    link = link_to(request, services)
    return templates.TemplateResponse(
        request,
        "my_list.html",
        {
            "services": services,
            "shared": bool(shared),
            "link": link,
            "qr": segno.make(link, error="m").svg_inline(scale=3, dark="#1b1b1b")
            if services
            else "",
            "most": MOST,
            "emailed": emailed or request.query_params.get("emailed") == "1",
            "errors": errors or {},
            "address": address,
        },
        status_code=status,
        headers={"Cache-Control": "no-store"} if address else None,
    )


def link_to(request: Request, services: list[dict[str, Any]]) -> str:
    """The list's shareable address: its service ids, nothing else."""
    return absolute_url(request, "/list?" + urlencode([("s", str(s["id"])) for s in services]))


async def email(request: Request) -> Response:
    """Send the visitor's list to an address they type. The address is used for this one
    message and kept nowhere (not in the outbox, a log or a cookie), so it goes out at once;
    if the mail server cannot take it now, the page says so and the list is still there to
    print or share. Limited per address (`LIST_EMAIL_RATE_LIMIT`)."""
    form = await request.form()
    address = str(form.get("email", "")).strip()
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return await page(request, errors={"email": "must be an email address"}, status=422)
    services = await public_services(kept(request))
    if not services:
        return await page(request, errors={"email": "your list is empty"}, status=422)
    language = language_of(request)
    words = page_words(request)
    body = templates.env.get_template("my_list_email.txt").render(
        services=services,
        link=link_to(request, services),
        _=words.gettext,
        day_names=day_names,
        lang=language,
    )
    try:
        await send_now(
            mail_config(request.app.state.settings),
            to=address,
            subject=words.gettext("Your list of services from caremap"),
            body=body,
            language=language,
        )
    except (TemporaryFailure, Unsendable):
        return await page(
            request, errors={"email": "the list could not be sent just now"}, status=503
        )
    return RedirectResponse("/list?emailed=1", status_code=303)


async def public_services(ids: list[UUID]) -> list[dict[str, Any]]:
    """The public listings among `ids`, in the list's order; one that is no longer public (or
    no longer there) is left out."""
    found = []
    for service_id in ids:
        try:
            found.append(await catalog.get_service(actor=None, service_id=service_id))
        except (NotFound, Forbidden):
            continue
    return [serialize.service_document(s) for s in found]
