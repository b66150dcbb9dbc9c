"""The approach caremap's peers use, for the search benchmark to measure beside caremap: the
Ohana API's kind of search, PostgreSQL full text (`plainto_tsquery` + `ts_rank` over a GIN
index) with a haversine distance, served by Starlette over asyncpg.

`copy_listings` copies the benchmark catalog's listings into one PostgreSQL table (with the
categories' parents, so a top-level browse finds them); `create_app` serves `/api/search` with
the parameters the benchmark's searches use (`q`, `category`, `near`, `radius`, `sort`, `free`,
`language`; `open_now` and `age` are ignored). Nothing here is part of caremap.

    BASELINE_DATABASE_URL=postgres://... uvicorn bench.ohana_baseline:create_app --factory
"""

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from directory.geocoding import zip_info

TABLE = "baseline_listing"
SCHEMA = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (
    id uuid PRIMARY KEY, name text, description text, eligibility text, free boolean,
    languages text[], categories text[], latitude double precision, longitude double precision,
    document tsvector GENERATED ALWAYS AS (to_tsvector('english',
        coalesce(name, '') || ' ' || coalesce(description, '') || ' ' || coalesce(eligibility, '')
    )) STORED
);
"""
INDEXES = f"""
CREATE INDEX ON {TABLE} USING gin (document);
CREATE INDEX ON {TABLE} USING gin (categories);
ANALYZE {TABLE};
"""
MILES = (
    "3958.8 * 2 * asin(sqrt(power(sin(radians(latitude - {lat}) / 2), 2) + cos(radians({lat}))"
    " * cos(radians(latitude)) * power(sin(radians(longitude - {lon}) / 2), 2)))"
)


async def copy_listings(rows: list[tuple[Any, ...]], url: str) -> None:
    """Fill the baseline's table with (id, name, description, eligibility, free, languages,
    categories, latitude, longitude) rows, then index it."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(SCHEMA)
        await connection.copy_records_to_table(
            TABLE,
            records=rows,
            columns=["id", "name", "description", "eligibility", "free", "languages",
                     "categories", "latitude", "longitude"],
        )  # fmt: skip
        await connection.execute(INDEXES)
    finally:
        await connection.close()


def _sql(text: str, category: str | None, free: bool, language: str | None,
         point: tuple[float, float] | None, radius: float | None,
         by_distance: bool) -> tuple[str, list[Any]]:  # fmt: skip
    """One query: matches ranked by `ts_rank` (or by distance), with the total counted."""
    params: list[Any] = [text]

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    where = ["($1 = '' OR document @@ plainto_tsquery('english', $1))"]
    if category:
        where.append(f"{param(category)} = ANY(categories)")
    if free:
        where.append("free")
    if language:
        where.append(f"{param(language)} = ANY(languages)")
    distance = "NULL"
    if point:
        distance = MILES.format(lat=param(point[0]), lon=param(point[1]))
        if radius:
            where.append(f"{distance} <= {param(radius)}")
    order = "miles" if by_distance and point else "rank DESC"
    # Every piece of text is one of ours; the request's values go as parameters.
    sql = (
        f"SELECT id, name, description, latitude, longitude, {distance} AS miles,"  # noqa: S608
        " ts_rank(document, plainto_tsquery('english', $1)) AS rank, count(*) OVER () AS total"
        f" FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT 20"
    )
    return sql, params


async def search(request: Request) -> JSONResponse:
    query = request.query_params
    near = query.get("near", "")
    point: tuple[float, float] | None = None
    if "," in near:
        latitude, longitude = near.split(",", 1)
        point = (float(latitude), float(longitude))
    elif near and (info := zip_info(near)) is not None:
        point = (info.point.latitude, info.point.longitude)
    radius = float(query["radius"]) if query.get("radius") else (10.0 if point else None)
    sql, params = _sql(
        query.get("q", ""),
        query.get("category"),
        query.get("free") == "true",
        query.get("language"),
        point,
        radius,
        query.get("sort") == "distance",
    )
    rows = await request.app.state.pool.fetch(sql, *params)
    return JSONResponse({
        "total": rows[0]["total"] if rows else 0,
        "results": [
            {"id": str(r["id"]), "name": r["name"], "description": r["description"],
             "miles": r["miles"], "rank": r["rank"]}
            for r in rows
        ],
    })  # fmt: skip


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(os.environ["BASELINE_DATABASE_URL"])
        yield
        await app.state.pool.close()

    routes = [Route("/api/search", search), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)
