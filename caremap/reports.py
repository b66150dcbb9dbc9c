"""The reports: referral outcomes, speed, needs, unmet needs and catalog health, as tables that
become pages with charts, CSV downloads and JSON for other dashboards.

Who sees what: partners their own organization's referrals and listings, specialists their
school's referrals, admins (the district's leads) everything. The figures come from the domain
packages (`referrals.reports`, `search_index.service.unmet_searches`,
`directory.freshness.catalog_health`); this module shapes them into tables and applies the
one privacy rule of reports: a view shared beyond the organization that owns the data hides
every count from 1 to `REPORT_MIN_COUNT` - 1, and every rate or time computed over a hidden
or small count, so no family can be picked out. Admins' district views are such views, and so
is every view of the public's unmet searches (nobody owns those).
"""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from caremap import charts
from caremap.i18n import template_context
from caremap.mail import freshness_rules
from caremap.maps import map_data
from caremap.templating import templates
from caremap.workspace import to_login
from directory import service as catalog
from directory.actor import Actor, Role
from directory.errors import Invalid, NotFound, Unauthenticated
from directory.freshness import FreshnessRules, catalog_health
from directory.geocoding import zip_info
from directory.http import actor_of, query_date, query_uuid
from directory.i18n import N_
from directory.models import OrganizationKind
from directory.taxonomy import BY_CODE, CATEGORIES, TOP_LEVEL
from directory.text import PeopleCsv
from referrals import reports as figures
from referrals.lifecycle import REJECTION_REASONS
from search_index.service import unmet_searches

REPORTS = {
    "outcomes": N_("Outcomes"),
    "speed": N_("Speed"),
    "needs": N_("Needs, schools and partners"),
    "unmet": N_("Unmet needs"),
    "catalog": N_("Catalog health"),
}
DEFAULT_DAYS = 365
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)  # a period's bounds, far from overflow


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # "count" (may be hidden), "rate" or "number" (hidden with its `base`), or how to name a
    # code: "text" as is, "category", "stage", "reason", "kind"
    kind: str = "count"
    base: tuple[str, ...] = ()  # the counts a rate or time is computed from


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    chart: Callable[["Table", "Words"], str] | None = None
    # A table of counts by ZIP code is drawn as a map instead: the column whose counts it shows.
    map_column: str | None = None
    # Whose figures these are, for the privacy rule: "referrals" (families'; hidden in an
    # admin's district view), "public" (the public's searches; always hidden) or "listings"
    # (not about families; never hidden). A new table is about families unless it says not.
    about: str = "referrals"
    hidden: list[tuple[int, str]] = field(default_factory=list)  # (row, column) kept back
    hides_below: int | None = None  # set when the privacy rule applied to this table


@dataclass(frozen=True)
class Words:
    """The page's language for charts: translated labels and category names."""

    gettext: Callable[[str], str] = lambda text: text
    language: str = "en"

    def category(self, code: str) -> str:
        return BY_CODE[code].name_in(self.language) if code in BY_CODE else code


@dataclass(frozen=True)
class Scope:
    """What a report covers and whether it must hide small counts."""

    actor: Actor
    filters: figures.Filters
    min_count: int  # hide counts below this in views shared beyond the data's owner
    freshness: FreshnessRules

    @property
    def district(self) -> bool:
        return self.actor.role is Role.ADMIN


# --- the privacy rule -------------------------------------------------------------------------


def suppress(table: Table, below: int) -> Table:
    """Hide counts from 1 to `below` - 1, and the rates and times that rest on such a count (a
    share of 2 out of 40 tells the 2). Zero stays: it identifies nobody."""

    def small(value: Any) -> bool:
        return isinstance(value, int) and 0 < value < below

    for number, row in enumerate(table.rows):
        original = dict(row)
        for column in table.columns:
            rests_on = (column.key,) if column.kind == "count" else column.base
            if original.get(column.key) is None:
                continue
            if any(small(original.get(key)) for key in rests_on):
                row[column.key] = None
                table.hidden.append((number, column.key))
    return table


# --- the reports ------------------------------------------------------------------------------

COUNTS = [
    Column("made", N_("Referrals")),
    Column("delivered", N_("Service delivered")),
    Column("failed", N_("Not completed")),
    Column("rejected", N_("Declined")),
    Column("cancelled", N_("Cancelled")),
    Column("open", N_("Still open")),
]
STAGES = {
    "made": N_("Made"),
    "received": N_("Received"),
    "accepted": N_("Accepted"),
    "in_progress": N_("In progress"),
    "completed": N_("Completed"),
    "failed": N_("Not completed"),
    "rejected": N_("Declined"),
    "cancelled": N_("Cancelled"),
    "closed": N_("Closed with a final outcome"),
    "delivered": N_("Service delivered"),
}


async def outcomes(scope: Scope) -> list[Table]:
    sent = await figures.sent_referrals(scope.actor, scope.filters)
    total = figures.funnel(sent)
    funnel = Table(
        "funnel",
        N_("Referral funnel"),
        [
            Column("stage", N_("Stage"), "stage"),
            Column("referrals", N_("Referrals")),
            Column("share", N_("Share of referrals made"), "rate", ("referrals", "made")),
        ],
        [
            {
                "stage": stage,
                "referrals": getattr(total, stage),
                "share": total.rate(getattr(total, stage)),
                "made": total.made,
            }
            for stage in STAGES
        ],
        chart=lambda t, w: charts.bars(
            [w.gettext(STAGES[row["stage"]]) for row in t.rows],
            [row["referrals"] for row in t.rows],
            w.gettext(N_("referrals")),
        ),
    )
    reasons = Table(
        "declined",
        N_("Declined, by reason"),
        [Column("reason", N_("Reason"), "reason"), Column("referrals", N_("Referrals"))],
        [
            {"reason": reason, "referrals": total.rejected_by_reason.get(reason, 0)}
            for reason in REJECTION_REASONS
        ],
    )
    months = figures.by_month(sent)
    monthly = Table(
        "by_month",
        N_("By month sent"),
        [
            Column("month", N_("Month"), "text"),
            *[Column(stage, STAGES[stage]) for stage in STAGES],
            Column("closure_rate", N_("Loop closed"), "rate", ("made", "closed")),
            Column("delivered_rate", N_("Delivered"), "rate", ("made", "delivered")),
        ],
        [
            {
                "month": month,
                **{stage: getattr(counts, stage) for stage in STAGES},
                **_loop_rates(counts),
            }
            for month, counts in months.items()
        ],
        chart=lambda t, w: charts.lines(
            [row["month"] for row in t.rows],
            {
                w.gettext(STAGES[key]): [row[key] for row in t.rows]
                for key in ("made", "closed", "delivered")
            },
            w.gettext(N_("referrals")),
        ),
    )
    rates = Table(
        "rates",
        N_("Loop closure"),
        [
            Column("made", N_("Referrals")),
            Column("closed", N_("Closed with a final outcome")),
            Column("delivered", N_("Service delivered")),
            Column("closure_rate", N_("Loop-closure rate"), "rate", ("made", "closed")),
            Column("delivered_rate", N_("Service-delivered rate"), "rate", ("made", "delivered")),
        ],
        [
            {
                "made": total.made,
                "closed": total.closed,
                "delivered": total.delivered,
                **_loop_rates(total),
            }
        ],
    )
    return [rates, funnel, reasons, monthly]


def _loop_rates(counts: figures.Funnel) -> dict[str, float | None]:
    """The shares of referrals made that closed with a final outcome and that were served."""
    return {
        "closure_rate": counts.rate(counts.closed),
        "delivered_rate": counts.rate(counts.delivered),
    }


SPEED_COLUMNS = [
    Column("answered", N_("Answered")),
    Column("answer_median_hours", N_("Hours to answer, median"), "number", ("answered",)),
    Column("answer_p90_hours", N_("Hours to answer, 90th percentile"), "number", ("answered",)),
    Column("completed", N_("Completed")),
    Column("complete_median_days", N_("Days to complete, median"), "number", ("completed",)),
    Column("complete_p90_days", N_("Days to complete, 90th percentile"), "number", ("completed",)),
]


async def speed(scope: Scope) -> list[Table]:
    sent = await figures.sent_referrals(scope.actor, scope.filters)
    by_category = figures.grouped(sent, lambda r: r.categories)
    by_partner = figures.grouped(sent, lambda r: [r.partner_id])
    names = await catalog.organization_names(by_partner)

    def speed_row(**label: Any) -> Callable[[list[figures.Sent]], dict[str, Any]]:
        return lambda group: {**label, **vars(figures.speed(group))}

    overall = Table(
        "speed",
        N_("Time to answer and to complete"),
        SPEED_COLUMNS,
        [speed_row()(sent)],
    )
    categories = Table(
        "speed_by_category",
        N_("By category"),
        [Column("category", N_("Category"), "category"), *SPEED_COLUMNS],
        [speed_row(category=code)(by_category[code]) for code in sorted(by_category)],
        chart=lambda t, w: charts.bars(
            [w.category(row["category"]) for row in t.rows],
            [row["complete_median_days"] for row in t.rows],
            w.gettext(N_("median days to complete")),
        ),
    )
    partners = Table(
        "speed_by_partner",
        N_("By partner"),
        [Column("partner", N_("Partner"), "text"), *SPEED_COLUMNS],
        sorted(
            (speed_row(partner=names.get(pid, str(pid)))(g) for pid, g in by_partner.items()),
            key=lambda row: row["partner"],
        ),
    )
    overdue = Table(
        "overdue",
        N_("Overdue now"),
        [Column("referrals", N_("Referrals overdue now"))],
        [{"referrals": await figures.overdue_now(scope.actor, scope.filters, _now())}],
    )
    return [overall, overdue, categories, partners]


def _outcome_row(group: list[figures.Sent]) -> dict[str, Any]:
    counts = figures.funnel(group)
    return {column.key: getattr(counts, column.key) for column in COUNTS}


async def needs(scope: Scope) -> list[Table]:
    sent = await figures.sent_referrals(scope.actor, scope.filters)
    by_category = figures.grouped(sent, lambda r: r.categories)
    by_subcategory = figures.grouped(sent, lambda r: r.subcategories)
    by_school = figures.grouped(sent, lambda r: [r.school_id])
    by_partner = figures.grouped(sent, lambda r: [r.partner_id])
    names = await catalog.organization_names([*by_school, *by_partner])
    outcome_series = ("delivered", "failed", "rejected", "cancelled", "open")

    def outcome_chart(
        label: Callable[[dict[str, Any], Words], str],
    ) -> Callable[[Table, Words], str]:
        return lambda t, w: charts.stacked(
            [label(row, w) for row in t.rows],
            {
                w.gettext(column.label): [row[column.key] for row in t.rows]
                for column in COUNTS
                if column.key in outcome_series
            },
            w.gettext(N_("referrals")),
        )

    def organization_rows(groups: dict[UUID, list[figures.Sent]], key: str) -> list[dict]:
        rows = [{key: names.get(i, str(i)), **_outcome_row(g)} for i, g in groups.items()]
        return sorted(rows, key=lambda row: row[key])

    return [
        Table(
            "by_category",
            N_("By need"),
            [Column("category", N_("Category"), "category"), *COUNTS],
            [{"category": c, **_outcome_row(by_category[c])} for c in sorted(by_category)],
            chart=outcome_chart(lambda row, w: w.category(row["category"])),
        ),
        Table(
            "by_subcategory",
            N_("By specific need"),
            [Column("category", N_("Category"), "category"), *COUNTS],
            [{"category": c, **_outcome_row(by_subcategory[c])} for c in sorted(by_subcategory)],
        ),
        Table(
            "by_school",
            N_("By school"),
            [Column("school", N_("School"), "text"), *COUNTS],
            organization_rows(by_school, "school"),
            chart=outcome_chart(lambda row, w: row["school"]),
        ),
        Table(
            "by_partner",
            N_("By partner"),
            [Column("partner", N_("Partner"), "text"), *COUNTS],
            organization_rows(by_partner, "partner"),
        ),
    ]


async def unmet(scope: Scope) -> list[Table]:
    searches = await unmet_searches(
        scope.filters.start, scope.filters.end, category=scope.filters.category
    )
    sent = await figures.sent_referrals(scope.actor, scope.filters)
    turned_away = await figures.turned_away(sent)
    search_table = Table(
        "unmet_searches",
        N_("Searches that found nothing nearby"),
        [
            Column("category", N_("Category"), "category"),
            Column("zip", N_("ZIP code"), "text"),
            Column("searches", N_("Searches")),
        ],
        [
            {"category": category, "zip": zip_code, "searches": count}
            for (category, zip_code), count in sorted(searches.items(), key=_by_count)
        ],
        map_column="searches",
        about="public",
    )
    away_table = Table(
        "turned_away",
        N_("Referrals declined for no capacity or out of area"),
        [
            Column("reason", N_("Reason"), "reason"),
            Column("category", N_("Category"), "category"),
            Column("zip", N_("School ZIP code"), "text"),
            Column("referrals", N_("Referrals")),
        ],
        [
            {"reason": reason, "category": category, "zip": zip_code, "referrals": count}
            for (reason, category, zip_code), count in sorted(turned_away.items(), key=_by_count)
        ],
        map_column="referrals",
    )
    return [search_table, away_table]


def _by_count(item: tuple[tuple[str, ...], int]) -> tuple[int, tuple[str, ...]]:
    return (-item[1], item[0])


def places(table: Table) -> list[dict[str, Any]]:
    """A map's points: the shown counts summed per ZIP code, at the ZIP code's centroid (so
    nothing finer than a ZIP code shows); hidden counts add nothing."""
    assert table.map_column is not None
    totals: dict[str, int] = {}
    for row in table.rows:
        if row[table.map_column] and row["zip"]:
            totals[row["zip"]] = totals.get(row["zip"], 0) + row[table.map_column]
    points = []
    for zip_code, count in sorted(totals.items()):
        place = zip_info(zip_code)
        if place:
            points.append(
                {
                    "lat": place.point.latitude,
                    "lng": place.point.longitude,
                    "count": count,
                    "label": zip_code,
                }
            )
    return points


def drawable(table: Table) -> bool:
    """Whether a chart would show anything: some figure above zero that is not hidden (an empty
    chart draws bare axes, so the page says there is nothing to show instead)."""
    return any(
        isinstance(row.get(column.key), int | float) and row[column.key] > 0
        for row in table.rows
        for column in table.columns
        if column.kind in ("count", "rate", "number")
    )


async def catalog_report(scope: Scope) -> list[Table]:
    """As of now, whatever the period: how current the listings are."""
    partner = scope.actor.role in (Role.PARTNER, Role.PARTNER_ADMIN)
    own = scope.actor.organization_id if partner else None
    health = await catalog_health(scope.freshness, _now(), organization_id=own)
    names = await catalog.organization_names([*health.listings, *[o for o, _ in health.problems]])
    total_listings = sum(health.listings.values())
    total_fresh = sum(health.fresh.values())
    columns = [
        Column("listings", N_("Listings")),
        Column("fresh", N_("Verified within the period")),
        Column("fresh_share", N_("Share verified"), "rate"),
        Column("stale", N_("Stale")),
    ]

    def share(fresh: int, listings: int) -> float | None:
        return round(fresh / listings, 4) if listings else None

    summary = Table(
        "catalog",
        N_("Public listings"),
        columns,
        [
            {
                "listings": total_listings,
                "fresh": total_fresh,
                "fresh_share": share(total_fresh, total_listings),
                "stale": sum(health.stale.values()),
            }
        ],
        about="listings",
    )
    by_organization = Table(
        "stale_by_organization",
        N_("By organization"),
        [Column("organization", N_("Organization"), "text"), *columns],
        sorted(
            (
                {
                    "organization": names.get(org, str(org)),
                    "listings": count,
                    "fresh": health.fresh[org],
                    "fresh_share": share(health.fresh[org], count),
                    "stale": health.stale[org],
                }
                for org, count in health.listings.items()
            ),
            key=lambda row: (-row["stale"], row["organization"]),
        ),
        chart=lambda t, w: charts.bars(
            [row["organization"] for row in t.rows[:15]],
            [row["stale"] for row in t.rows[:15]],
            w.gettext(N_("stale listings")),
        ),
        about="listings",
    )
    problems = Table(
        "open_problems",
        N_("Open problem reports"),
        [
            Column("organization", N_("Organization"), "text"),
            Column("kind", N_("Problem"), "kind"),
            Column("reports", N_("Reports")),
        ],
        sorted(
            (
                {"organization": names.get(org, str(org)), "kind": kind, "reports": count}
                for (org, kind), count in health.problems.items()
            ),
            key=lambda row: (-row["reports"], row["organization"], row["kind"]),
        ),
        about="listings",
    )
    return [summary, by_organization, problems]


BUILDERS = {
    "outcomes": outcomes,
    "speed": speed,
    "needs": needs,
    "unmet": unmet,
    "catalog": catalog_report,
}


async def build(name: str, scope: Scope) -> list[Table]:
    """The report's tables for this scope, with small counts hidden where the rule says so."""
    if name not in BUILDERS:
        raise NotFound(f"No report named {name!r}; reports: {', '.join(BUILDERS)}.")
    tables = await BUILDERS[name](scope)
    for table in tables:
        shared = table.about == "public" or (table.about == "referrals" and scope.district)
        if shared and scope.min_count > 1:  # 1 hides nothing: the rule is off
            suppress(table, scope.min_count)
            table.hides_below = scope.min_count
    return tables


def _now() -> datetime:
    return datetime.now(UTC)


# --- the request side: filters, JSON, CSV and pages --------------------------------------------

FIGURES = ("count", "rate", "number")


def scope_of(request: Request) -> Scope:
    """The caller and the filters from the query: `from` and `to` (dates, both included;
    default the last year), `school`, `partner` (organization ids) and `category` (a code)."""
    actor = actor_of(request)
    if actor is None:
        raise Unauthenticated("Sign in to read reports.")
    today = _now().date()
    end = query_date(request, "to", EARLIEST, LATEST) or today
    start = query_date(request, "from", EARLIEST, LATEST) or end - timedelta(days=DEFAULT_DAYS - 1)
    errors = {}
    if start > end:
        errors["from"] = "must not be after 'to'"
    category = request.query_params.get("category") or None
    if category is not None and category not in BY_CODE:
        errors["category"] = "an unknown category code"
    if errors:
        raise Invalid(errors)
    filters = figures.Filters(
        start=datetime.combine(start, time(), UTC),
        end=datetime.combine(end + timedelta(days=1), time(), UTC),
        school_id=query_uuid(request, "school"),
        partner_id=query_uuid(request, "partner"),
        category=category,
    )
    settings = request.app.state.settings
    return Scope(actor, filters, settings.report_min_count, freshness_rules(settings))


def table_document(table: Table) -> dict[str, Any]:
    return {
        "key": table.key,
        "title": table.title,
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in table.columns],
        "rows": [{c.key: row.get(c.key) for c in table.columns} for row in table.rows],
        "hidden": [{"row": row, "column": column} for row, column in table.hidden],
        "hides_counts_below": table.hides_below,
    }


def _cell(table: Table, number: int, column: str) -> Any:
    """A CSV cell: a hidden count reads "<5", a missing figure (no base) reads empty."""
    if (number, column) in table.hidden:
        return f"<{table.hides_below}"
    value = table.rows[number].get(column)
    return "" if value is None else value


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = PeopleCsv(out)
    writer.writerow([c.key for c in table.columns])
    for number in range(len(table.rows)):
        writer.writerow([_cell(table, number, c.key) for c in table.columns])
    return out.getvalue()


def long_csv(tables: list[Table]) -> str:
    """Every table in one file, one figure per line: table, row, column, value."""
    out = io.StringIO()
    writer = PeopleCsv(out)
    writer.writerow(["table", "row", "column", "value"])
    for table in tables:
        labels = [c.key for c in table.columns if c.kind not in FIGURES]
        for number, row in enumerate(table.rows):
            name = " / ".join(str(row.get(key, "")) for key in labels) or "all"
            for column in table.columns:
                if column.kind in FIGURES:
                    writer.writerow([table.key, name, column.key, _cell(table, number, column.key)])
    return out.getvalue()


# --- handlers ---------------------------------------------------------------------------------


async def api_report(request: Request) -> Response:
    """`GET /api/reports/<name>`: the report as JSON, or as CSV (`format=csv`): one table
    (`table=<key>`) as it is shown, or every table in one long file."""
    name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    form = request.query_params.get("format", "json")
    if form not in ("json", "csv"):
        raise Invalid({"format": "json or csv"})
    scope = scope_of(request)
    tables = await build(name, scope)
    wanted = request.query_params.get("table")
    if wanted:
        if wanted not in {table.key for table in tables}:
            raise Invalid({"table": f"one of {', '.join(t.key for t in tables)}"})
        tables = [table for table in tables if table.key == wanted]
    if form == "csv":
        text = table_csv(tables[0]) if wanted else long_csv(tables)
        filename = f"caremap-{name}-{wanted or 'all'}-{scope.filters.start:%Y%m%d}.csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return JSONResponse(
        {
            "report": name,
            "filters": filters_document(scope.filters),
            "tables": [table_document(table) for table in tables],
        }
    )


def filters_document(filters: figures.Filters) -> dict[str, Any]:
    return {
        "from": filters.start.date().isoformat(),
        "to": (filters.end - timedelta(days=1)).date().isoformat(),
        "school": str(filters.school_id) if filters.school_id else None,
        "partner": str(filters.partner_id) if filters.partner_id else None,
        "category": filters.category,
    }


async def index_page(request: Request) -> Response:
    return RedirectResponse("/reports/outcomes", status_code=303)


async def report_page(request: Request) -> Response:
    """A report as a page: for each table, its chart and the same numbers as a table."""
    actor = actor_of(request)
    if actor is None:
        return to_login(request)
    name = request.path_params["name"]
    if name not in REPORTS:
        raise HTTPException(404)
    context = template_context(request)
    words = Words(context["_"], context["lang"])
    errors: dict[str, str] = {}
    tables: list[Table] = []
    filters = None
    try:
        scope = scope_of(request)
    except Invalid as error:
        errors = error.fields
    else:
        filters = filters_document(scope.filters)
        tables = await build(name, scope)
    settings = request.app.state.settings
    shown = [
        {
            "table": table,
            "chart": charts.data_uri(table.chart(table, words))
            if table.chart and drawable(table)
            else None,
            "map": map_data(settings, words.gettext, places(table)) if table.map_column else None,
        }
        for table in tables
    ]
    return templates.TemplateResponse(
        request,
        "report.html",
        {
            "name": name,
            "reports": REPORTS,
            "shown": shown,
            "filters": filters or dict(request.query_params),
            "errors": errors,
            "schools": await _choices(actor, OrganizationKind.SCHOOL),
            "partners": await _choices(actor, OrganizationKind.PROVIDER),
            "categories": [(c, [s for s in CATEGORIES if s.parent == c.code]) for c in TOP_LEVEL],
            "words": words,
            "stages": STAGES,
            "query": request.url.query,
        },
        status_code=422 if errors else 200,
    )


async def _choices(actor: Actor, kind: OrganizationKind) -> list[Any]:
    """The organizations a filter may pick: of the caller's own kind, only their own (the
    report covers no other); of the other kind, all of them."""
    organizations = await catalog.organizations_of_kind(kind)
    own_kind = OWN_KIND.get(actor.role)
    if own_kind is kind:
        return [o for o in organizations if o.id == actor.organization_id]
    return organizations


OWN_KIND = {
    Role.SPECIALIST: OrganizationKind.SCHOOL,
    Role.PARTNER: OrganizationKind.PROVIDER,
    Role.PARTNER_ADMIN: OrganizationKind.PROVIDER,
}
