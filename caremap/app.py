"""The Starlette application: the whole HTTP surface on one screen."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import xstatic.pkg.leaflet as leaflet
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from tortoise.contrib.starlette import RegisterTortoise

import directory.hsds_api
import directory.routes
import referrals.fhir_routes
import referrals.routes
import search_index.routes
from caremap import admin, db, my_list, openapi, pages, portal, reports, workspace
from caremap.accounts import routes as accounts_routes
from caremap.auth import CaremapAuth, SessionCookies, auth_error
from caremap.errors import DatabaseUnavailable, FhirErrors, exception_handlers
from caremap.header import SignedInHeader
from caremap.i18n import RememberLanguage
from caremap.mail import reminder_rules, running_mail
from caremap.search import running_search
from caremap.security import FormBodies, SameOrigin, SecurityHeaders, csrf_protection
from caremap.settings import Settings, load_settings
from caremap.templating import STATIC_DIR
from caremap.throttle import AddressLimits, Limits, new_limiter
from directory.geocoding import Geocoder, warm_up


async def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(warm_up)
        async with (
            RegisterTortoise(app, config=db.tortoise_config(settings.database_url)),
            running_search(settings) as search_backend,
            running_mail(settings),
        ):
            app.state.search_backend = search_backend
            # What start-up made (modules, templates, routes) lives as long as the process:
            # out of the collector's sight, the collections that run under load stay short.
            gc.freeze()
            try:
                yield
            finally:
                await app.state.limiter.close()

    app = Starlette(
        routes=[
            # The API first, searches first within it: a request walks the list until a route
            # matches, and the public search is most of the traffic.
            Mount(
                "/api",
                routes=[
                    *search_index.routes.routes,
                    Route("/openapi.json", openapi_document, methods=["GET"]),
                    *directory.routes.routes,
                    *referrals.routes.routes,
                    *accounts_routes.routes,
                    *[Route(f"/reports/{name}", reports.api_report) for name in reports.REPORTS],
                ],
            ),
            Route("/", pages.home, name="home"),
            Route("/search", pages.search_page, name="search_page"),
            Route("/services/{id:uuid}", pages.service_page, name="service_page"),
            Route("/services/{id:uuid}/report", pages.report_problem, methods=["POST"]),
            Route("/healthz", pages.health, name="health"),
            Route("/robots.txt", pages.robots),
            Route("/list", my_list.page, name="my_list"),
            Route("/list/email", my_list.email, methods=["POST"]),
            Route("/list/{action:str}", my_list.change, methods=["POST"]),
            Route("/favicon.ico", pages.favicon),
            Route("/ask", pages.ask_for_help, methods=["GET", "POST"], name="ask"),
            Route("/help-requests", workspace.help_request_list, methods=["GET"]),
            Route(
                "/help-requests/{id:uuid}/handled", workspace.help_request_handled, methods=["POST"]
            ),
            Route("/portal", portal.listings, name="portal"),
            Route("/reports", reports.index_page),
            Route("/reports/{name:str}", reports.report_page, name="report"),
            Route("/portal/tokens", portal.tokens, methods=["GET", "POST"]),
            Route("/portal/problems", portal.problem_list, name="problems"),
            Route("/portal/problems/{id:uuid}/resolve", portal.resolve_problem, methods=["POST"]),
            Route("/portal/services/{id:uuid}/edit", portal.edit_listing, methods=["GET", "POST"]),
            Route(
                "/portal/services/{id:uuid}/parts/{kind:str}",
                portal.listing_part,
                methods=["POST"],
            ),
            Route(
                "/portal/services/{id:uuid}/{action:str}",
                portal.listing_action,
                methods=["POST"],
            ),
            Route("/admin", admin.home),
            Route("/admin/users", admin.user_list, methods=["GET"]),
            Route("/admin/users", admin.invite, methods=["POST"]),
            Route("/admin/users/{id:uuid}", admin.user_page, methods=["GET", "POST"]),
            Route("/admin/organizations", admin.organization_list, methods=["GET", "POST"]),
            Route(
                "/admin/organizations/{id:uuid}", admin.organization_page, methods=["GET", "POST"]
            ),
            Route("/admin/audit", admin.audit_page),
            Route("/password/{token}", admin.password_page, methods=["GET", "POST"]),
            Route("/login", workspace.login_page, methods=["GET", "POST"], name="login"),
            Route("/logout", workspace.logout_page, methods=["POST"], name="logout"),
            Route("/referrals", workspace.referral_list, name="referral_list"),
            Route("/referrals/new", workspace.referral_form, methods=["GET", "POST"]),
            Route("/referrals/{id:uuid}", workspace.referral_page, name="referral_page"),
            Route(
                "/referrals/{id:uuid}/{action:str}",
                workspace.referral_action,
                methods=["POST"],
                name="referral_action",
            ),
            Route("/help/{token}", pages.follow_up, methods=["GET", "POST"], name="follow_up"),
            Mount("/hsds", routes=directory.hsds_api.routes),
            Mount("/fhir", routes=referrals.fhir_routes.routes),
            Mount("/static/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="leaflet"),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders, settings=settings),
            Middleware(FhirErrors),
            Middleware(DatabaseUnavailable),
            Middleware(FormBodies),
            Middleware(AddressLimits),
            Middleware(csrf_protection, settings=settings),
            Middleware(SameOrigin, settings=settings),
            Middleware(RememberLanguage),
            Middleware(
                AuthenticationMiddleware, backend=CaremapAuth(settings), on_error=auth_error
            ),
            Middleware(SignedInHeader),
        ],
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    app.state.openapi = openapi.document(app.routes)  # refuses to start with an undocumented route
    app.state.settings = settings
    app.state.session_cookies = SessionCookies(settings)
    app.state.reminder_rules = reminder_rules(settings)
    app.state.limiter = new_limiter(settings)
    app.state.limits = Limits.of(settings)
    app.state.geocoder = Geocoder(
        settings.geocoder, options=settings.geocoder_options, timeout=settings.geocoder_timeout
    )
    return app
