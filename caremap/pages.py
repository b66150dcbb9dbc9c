"""Server-rendered pages of the public directory (the full web app grows in later issues)."""

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from caremap.i18n import language_of
from caremap.templating import templates
from directory import serialize, service
from directory.errors import Invalid
from directory.http import actor_of
from directory.taxonomy import BY_CODE, TOP_LEVEL
from referrals import followup
from referrals.messages import follow_up_page
from search_index import service as search_service
from search_index.query import parse_query


async def home(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "home.html", {"categories": TOP_LEVEL, "form": {}, "errors": {}}
    )


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
    points = [
        {
            "lat": r["location"]["latitude"],
            "lng": r["location"]["longitude"],
            "name": r["name"],
            "url": str(request.url_for("service_page", id=r["service_id"])),
        }
        for r in (result or {}).get("results", [])
        if r["location"]
    ]
    category = BY_CODE.get(form.get("category", ""))
    language = language_of(request)
    return templates.TemplateResponse(
        request,
        "results.html",
        {
            "form": form,
            "errors": errors,
            "result": result,
            "category_name": (category.name_es if language == "es" else category.name)
            if category
            else None,
            "map_data": {
                "points": points,
                "tiles": settings.map_tiles_url,
                "attribution": settings.map_attribution,
            },
        },
        status_code=422 if errors else 200,
        background=BackgroundTask(search_service.record_unmet, unmet) if unmet else None,
    )


async def service_page(request: Request) -> Response:
    found = await service.get_service(actor=actor_of(request), service_id=request.path_params["id"])
    return templates.TemplateResponse(
        request, "service.html", {"service": serialize.service_document(found)}
    )


async def health(request: Request) -> Response:
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
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
