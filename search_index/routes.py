"""The search API."""

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from search_index import service
from search_index.query import parse_query


async def search(request: Request) -> JSONResponse:
    result = await service.search(
        backend=request.app.state.search_backend,
        geocoder=request.app.state.geocoder,
        query=parse_query(request.query_params),
    )
    return JSONResponse(result)


routes = [Route("/search", search, methods=["GET"])]
