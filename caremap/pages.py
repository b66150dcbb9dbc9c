"""Server-rendered pages of the public directory (the full web app grows in later issues)."""

from datetime import UTC, datetime
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from caremap import db
from caremap.i18n import language_of, page_words
from caremap.maps import map_data
from caremap.security import SECRET_ADDRESS_HEADERS
from caremap.templating import absolute_url, templates
from directory import problems, serialize, service
from directory.errors import Invalid
from directory.http import actor_of
from directory.models import ProblemKind
from directory.taxonomy import BY_CODE, CATEGORIES, TOP_LEVEL
from referrals import followup, help_requests
from referrals.messages import follow_up_page
from search_index import service as search_service
from search_index.query import is_open, next_opening, parse_query

# The home page's tiles, in the order families look for them.
TILES = (
    "food",
    "housing",
    "mental-health-counseling",
    "legal",
    "health",
    "education",
    "work",
    "transit",
    "goods",
    "money",
    "care",
    "emergency",
)


async def home(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "categories": [BY_CODE[code] for code in TILES],
            "all_categories": CATEGORIES,
            "form": {},
            "errors": {},
        },
    )


# Search engines may list the public directory; the signed-in areas and the API are not for them.
ROBOTS = """User-agent: *
Disallow: /referrals
Disallow: /portal
Disallow: /admin
Disallow: /help-requests
Disallow: /help/
Disallow: /password/
Disallow: /reports
Disallow: /login
Disallow: /api/
Allow: /
"""


async def robots(request: Request) -> Response:
    return PlainTextResponse(ROBOTS)


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico whatever the page says; the icon is an SVG."""
    return RedirectResponse(request.app.url_path_for("static", path="favicon.svg"), 301)


async def search_page(request: Request) -> Response:
    """The results page: the search API's answer as a list and a map, the URL holding it all."""
    form = dict(request.query_params)
    errors: dict[str, str] = {}
    result = None
    try:
        result, unmet = await search_service.search(
            backend=request.app.state.search_backend,
            geocoder=request.app.state.geocoder,
            query=parse_query(request.query_params),
        )
    except Invalid as error:
        errors, unmet = error.fields, None
    settings = request.app.state.settings
    words = page_words(request)
    points = [
        {
            "lat": r["location"]["latitude"],
            "lng": r["location"]["longitude"],
            "name": r["name"],
            "url": str(request.app.url_path_for("service_page", id=r["service_id"])),
        }
        for r in (result or {}).get("results", [])
        if r["location"]
    ]
    category = BY_CODE.get(form.get("category", ""))
    return templates.TemplateResponse(
        request,
        "results.html",
        {
            "form": form,
            "errors": errors,
            "all_categories": CATEGORIES,
            "result": result,
            "category_name": category.name_in(language_of(request)) if category else None,
            "map_data": map_data(
                settings,
                words.gettext,
                points,
                show_map=words.gettext("Map"),
                hide_map=words.gettext("Hide the map"),
                data_lang=settings.catalog_language,
            ),
        },
        status_code=422 if errors else 200,
        background=BackgroundTask(search_service.record_unmet, unmet) if unmet else None,
    )


async def service_page(
    request: Request,
    report_values: dict[str, str] | None = None,
    report_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    found = await service.get_service(actor=actor_of(request), service_id=request.path_params["id"])
    document = serialize.service_document(found)
    schedules = [
        *document.get("schedules", []),
        *(s for sal in document.get("service_at_locations", []) for s in sal.get("schedules", [])),
    ]
    now = datetime.now(UTC)
    open_now = is_open(schedules, now) if schedules else None
    return templates.TemplateResponse(
        request,
        "service.html",
        {
            "service": document,
            "open_now": open_now,
            "opens_at": next_opening(schedules, now) if open_now is False else None,
            "page_url": absolute_url(
                request, request.url.remove_query_params(["lang", "reported"]).path
            ),
            "reported": request.query_params.get("reported") == "1",
            "report_values": report_values or {},
            "report_errors": report_errors or {},
            "problem_kinds": [kind.value for kind in ProblemKind],
        },
        status_code=status_code,
    )


async def report_problem(request: Request) -> Response:
    """The public page's "report a problem" form: limited per address, with a honeypot."""
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in ("kind", "details")}
    page = f"/services/{request.path_params['id']}?reported=1"
    if form.get("website"):  # the honeypot: thanked, nothing stored
        return RedirectResponse(page, status_code=303)
    try:
        await problems.report_problem(service_id=request.path_params["id"], data=values)
    except Invalid as refused:
        return await service_page(
            request, report_values=values, report_errors=refused.fields, status_code=422
        )
    return RedirectResponse(page, status_code=303)


async def health(request: Request) -> Response:
    """For a load balancer and the containers' healthchecks: this node serves, and its
    database answers (503 while it does not, so traffic goes to a node that can serve it)."""
    if not await db.reachable():
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok"})


async def follow_up(request: Request) -> Response:
    """The family's "did you get help?" page, opened from the signed link in their email."""
    secret = str(request.app.state.settings.secret_key)
    token = request.path_params["token"]
    if request.method == "POST":
        form = await request.form()
        asked = await followup.answer(secret, token, str(form.get("answer", "")))
    else:
        asked = await followup.question(secret, token)
    return templates.TemplateResponse(
        request,
        "help.html",
        {
            "words": follow_up_page(asked.language),
            "answered": asked.answered,
            "html_lang": asked.language,
        },
        headers=SECRET_ADDRESS_HEADERS,
    )


# "Ask for help" is open to anyone, so it is limited per address (`caremap.throttle.LIMITED`),
# and a honeypot field that people never see catches simple bots: they are thanked, and
# nothing is stored.


async def ask_for_help(request: Request) -> Response:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        form = await request.form()
        values = {k: str(v).strip() for k, v in form.items() if k != "csrftoken"}
        if values.get("website"):  # the honeypot
            return _asked(request)
        try:
            await help_requests.create_help_request(
                {
                    "school_id": values.get("school_id") or None,
                    "need": values.get("need", ""),
                    "preferred_language": language_of(request),
                    "anonymous": values.get("anonymous") == "yes",
                    "contact_method": values.get("contact_method") or None,
                    "contact_value": values.get("contact_value") or None,
                    "message": values.get("message") or None,
                }
            )
        except Invalid as error:
            errors = error.fields
        else:
            return _asked(request)
    return templates.TemplateResponse(
        request,
        "ask.html",
        {
            "schools": await help_requests.schools(),
            "needs": TOP_LEVEL,
            "values": values,
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )


def _asked(request: Request) -> Response:
    return templates.TemplateResponse(request, "asked.html", {})
