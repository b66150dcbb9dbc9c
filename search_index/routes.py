"""The search API."""

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.routing import Route

from directory.http import FastJSONResponse
from search_index import service
from search_index.query import parse_query


async def search(request: Request) -> FastJSONResponse:
    result, unmet = await service.search(
        backend=request.app.state.search_backend,
        geocoder=request.app.state.geocoder,
        query=parse_query(request.query_params),
    )
    # An unmet need is written after the response has gone: the family never waits for it.
    background = BackgroundTask(service.record_unmet, unmet) if unmet else None
    return FastJSONResponse(result, background=background)


routes = [Route("/search", search, methods=["GET"])]
