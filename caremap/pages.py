"""Server-rendered pages of the public directory (the full web app grows in later issues)."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from caremap.templating import templates
from directory import serialize, service
from directory.errors import Invalid
from directory.http import actor_of, query_int
from directory.taxonomy import TOP_LEVEL
from referrals import followup
from referrals.messages import follow_up_page


async def home(request: Request) -> Response:
    category = request.query_params.get("category") or None
    postal_code = request.query_params.get("postal_code") or None
    errors: dict[str, str] = {}
    try:
        page = await service.list_services(
            actor=actor_of(request),
            category=category,
            postal_code=postal_code,
            page=query_int(request, "page", 1),
            per_page=20,
        )
    except Invalid as error:
        errors = error.fields
        page = await service.list_services(actor=actor_of(request), per_page=20)
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "services": [serialize.service_document(s) for s in page.items],
            "page": page,
            "categories": TOP_LEVEL,
            "category": category,
            "postal_code": postal_code or "",
            "errors": errors,
        },
        status_code=422 if errors else 200,
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
