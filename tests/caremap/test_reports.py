"""The reports against figures worked out by hand from a small history.

Two schools (A in 60623, B in 60608), two agencies (P runs a food pantry, Q a shelter). Between
2026-03-01 and 2026-04-30 eight referrals were sent; one more before, one still a draft:

    r1  A→P  food-pantry       sent 03-02 09:00  accepted +2 h, in progress +1 d, completed +4 d
                                                  (service provided)
    r2  A→P  food-pantry       sent 03-02 09:00  received +4 h, accepted +10 h, in progress
                                                  +2 d, completed +10 d (family declined)
    r3  B→Q  shelter           sent 03-03 09:00  declined +6 h (no capacity)
    r4  A→P  food-pantry       sent 04-05 09:00  declined +1 h (out of area)
    r5  A→P  food-pantry       sent 04-06 09:00  cancelled by the school next day
    r6  A→P  food-pantry,      sent 04-10 09:00  accepted +20 h, in progress +2 d, failed +10 d
             rent-assistance                      (could not reach)
    r7  A→P  food-pantry       sent 04-20 09:00  no answer; due 04-25, so overdue now
    r0  A→P  food-pantry       sent 02-10 (before the period), completed 02-15
    d1  A→P  food-pantry       a draft, never sent

Hours to the first answer (received, accepted or declined): r1 2, r2 4, r3 6, r4 1, r6 20.
Sorted 1, 2, 4, 6, 20: median 4; 90th percentile at rank 0.9 * 4 = 3.6, so 6 + 0.6 * 14 = 14.4.
Days to complete: r1 4, r2 10: median 7; 90th percentile 4 + 0.9 * 6 = 9.4.
"""

import base64
import csv
import html
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager

from caremap.app import create_app
from directory.models import Organization, ProblemKind, ProblemReport, Service
from referrals.models import Referral
from search_index.models import UnmetSearch
from seeds.history import write_timeline
from tests import factories
from tests.conftest import asgi_client

PERIOD = {"from": "2026-03-01", "to": "2026-04-30"}
H = timedelta(hours=1)
D = timedelta(days=1)


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 9, tzinfo=UTC)


async def sent(world, partner, school, needs, steps, **fields):
    """A referral whose timeline is `steps`: (status, when), the first being its sending."""
    service = world["pantry"] if partner == "P" else world["shelter"]
    referral = await Referral.create(
        service=service,
        receiving_organization_id=service.organization_id,
        referring_organization_id=world[school].id,
        referring_user_id=world["specialist"].id,
        status=steps[-1][0],
        needs=needs,
        person_name="R.",
        age_band="14-17",
        contact_method="school",
        **fields,
    )
    await write_timeline(referral, steps)
    return referral


@pytest.fixture
async def world(app):
    school_a = await factories.organization("school", "School A")
    school_b = await factories.organization("school", "School B")
    await factories.located(school_a, postal_code="60623")
    await factories.located(school_b, postal_code="60608", latitude=41.85, longitude=-87.66)
    agency_p = await factories.organization(name="Agency P")
    agency_q = await factories.organization(name="Agency Q")
    pantry = await factories.listing(agency_p, categories=["food-pantry"])
    shelter = await factories.listing(agency_q, name="Night Shelter", categories=["shelter"])
    world = {
        "A": school_a,
        "B": school_b,
        "P": agency_p,
        "Q": agency_q,
        "pantry": pantry,
        "shelter": shelter,
        "specialist": await factories.user(school_a, "specialist"),
        "partner": await factories.user(agency_p, "partner"),
        "admin": await factories.user(agency_p, "admin"),
    }
    fp = ["food-pantry"]
    t1, t3 = at(3, 2), at(3, 3)
    await sent(world, "P", "A", fp,
               [("requested", t1), ("accepted", t1 + 2 * H), ("in_progress", t1 + D),
                ("completed", t1 + 4 * D)], outcome="service_provided")  # fmt: skip
    await sent(world, "P", "A", fp,
               [("requested", t1), ("received", t1 + 4 * H), ("accepted", t1 + 10 * H),
                ("in_progress", t1 + 2 * D), ("completed", t1 + 10 * D)],
               outcome="family_declined")  # fmt: skip
    await sent(world, "Q", "B", ["shelter"], [("requested", t3), ("rejected", t3 + 6 * H)],
               reason="no_capacity")  # fmt: skip
    await sent(world, "P", "A", fp, [("requested", at(4, 5)), ("rejected", at(4, 5) + H)],
               reason="out_of_area")  # fmt: skip
    await sent(world, "P", "A", fp, [("requested", at(4, 6)), ("cancelled", at(4, 7))])
    t6 = at(4, 10)
    await sent(world, "P", "A", ["food-pantry", "rent-assistance"],
               [("requested", t6), ("accepted", t6 + 20 * H), ("in_progress", t6 + 2 * D),
                ("failed", t6 + 10 * D)], outcome="could_not_reach")  # fmt: skip
    await sent(world, "P", "A", fp, [("requested", at(4, 20))], due_at=at(4, 25))
    await sent(world, "P", "A", fp, [("requested", at(2, 10)), ("accepted", at(2, 11)),
               ("in_progress", at(2, 12)), ("completed", at(2, 15))],
               outcome="service_provided")  # fmt: skip
    await sent(world, "P", "A", fp, [("draft", at(3, 10))])
    for when, categories, zip_code in [
        (at(3, 5), ["food-pantry"], "60623"),
        (at(3, 6), ["food"], "60623"),
        (at(4, 1), ["food-pantry", "meals"], "60623"),
        (at(4, 2), ["shelter"], "60608"),
        (at(4, 3), [], "60623"),
        (at(2, 1), ["food"], "60623"),  # before the period
    ]:
        search = await UnmetSearch.create(categories=categories, postal_code=zip_code,
                                          radius_miles=5)  # fmt: skip
        await UnmetSearch.filter(id=search.id).update(created_at=when)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    await Service.filter(id=shelter.id).update(
        last_verified_at=long_ago, created_at=long_ago, stale_since=long_ago + 180 * D
    )
    await ProblemReport.create(service=pantry, organization_id=agency_p.id,
                               kind=ProblemKind.WRONG_PHONE)  # fmt: skip
    await ProblemReport.create(service=pantry, organization_id=agency_p.id,
                               kind=ProblemKind.CLOSED, resolved_at=datetime.now(UTC))  # fmt: skip
    return world


@pytest.fixture
def min_count() -> int:
    return 1  # nothing hidden, so every hand-worked figure shows; see the suppression tests


@pytest.fixture
async def app(settings, min_count):
    application = create_app(replace(settings, report_min_count=min_count))
    async with LifespanManager(application):
        yield application


async def report(app, world, who, name, **query):
    async with asgi_client(app) as client:
        await factories.login(client, world[who])
        response = await client.get(f"/api/reports/{name}", params={**PERIOD, **query})
    assert response.status_code == 200, response.text
    return {table["key"]: table for table in response.json()["tables"]}


def rows(table, key):
    return {row[key]: row for row in table["rows"]}


async def test_the_funnel_and_loop_closure(app, world):
    tables = await report(app, world, "admin", "outcomes")
    funnel = {row["stage"]: row["referrals"] for row in tables["funnel"]["rows"]}
    assert funnel == {
        "made": 7, "received": 5, "accepted": 3, "in_progress": 3, "completed": 2,
        "failed": 1, "rejected": 2, "cancelled": 1, "closed": 6, "delivered": 1,
    }  # fmt: skip
    assert rows(tables["funnel"], "stage")["accepted"]["share"] == round(3 / 7, 4)
    [rates] = tables["rates"]["rows"]
    assert rates == {
        "made": 7, "closed": 6, "delivered": 1,
        "closure_rate": round(6 / 7, 4), "delivered_rate": round(1 / 7, 4),
    }  # fmt: skip
    declined = rows(tables["declined"], "reason")
    assert declined["no_capacity"]["referrals"] == 1
    assert declined["out_of_area"]["referrals"] == 1
    assert declined["not_eligible"]["referrals"] == 0
    months = rows(tables["by_month"], "month")
    assert list(months) == ["2026-03", "2026-04"]
    assert months["2026-03"] | {"closure_rate": None, "delivered_rate": None} == {
        "month": "2026-03", "made": 3, "received": 3, "accepted": 2, "in_progress": 2,
        "completed": 2, "failed": 0, "rejected": 1, "cancelled": 0, "closed": 3,
        "delivered": 1, "closure_rate": None, "delivered_rate": None,
    }  # fmt: skip
    assert months["2026-03"]["closure_rate"] == 1.0
    assert months["2026-04"]["made"] == 4
    assert months["2026-04"]["received"] == 2
    assert months["2026-04"]["closed"] == 3
    assert months["2026-04"]["delivered_rate"] == 0.0


async def test_speed_and_overdue(app, world):
    tables = await report(app, world, "admin", "speed")
    [overall] = tables["speed"]["rows"]
    assert overall == {
        "answered": 5, "answer_median_hours": 4.0, "answer_p90_hours": 14.4,
        "completed": 2, "complete_median_days": 7.0, "complete_p90_days": 9.4,
    }  # fmt: skip
    by_category = rows(tables["speed_by_category"], "category")
    # food: r1 2, r2 4, r4 1, r6 20 hours: median 3, p90 4 + 0.7 * 16 = 15.2
    assert by_category["food"]["answer_median_hours"] == 3.0
    assert by_category["food"]["answer_p90_hours"] == 15.2
    # housing: r3 6, r6 20 hours: median 13, p90 6 + 0.9 * 14 = 18.6; nothing completed
    assert by_category["housing"]["answer_median_hours"] == 13.0
    assert by_category["housing"]["answer_p90_hours"] == 18.6
    assert by_category["housing"]["complete_median_days"] is None
    by_partner = rows(tables["speed_by_partner"], "partner")
    assert by_partner["Agency Q"]["answer_median_hours"] == 6.0
    assert by_partner["Agency P"]["answered"] == 4
    assert tables["overdue"]["rows"] == [{"referrals": 1}]


async def test_needs_schools_and_partners(app, world):
    tables = await report(app, world, "admin", "needs")
    by_category = rows(tables["by_category"], "category")
    assert by_category["food"] == {
        "category": "food", "made": 6, "delivered": 1, "failed": 1, "rejected": 1,
        "cancelled": 1, "open": 1,
    }  # fmt: skip
    assert by_category["housing"] == {
        "category": "housing", "made": 2, "delivered": 0, "failed": 1, "rejected": 1,
        "cancelled": 0, "open": 0,
    }  # fmt: skip
    by_subcategory = rows(tables["by_subcategory"], "category")
    assert {code: row["made"] for code, row in by_subcategory.items()} == {
        "food-pantry": 6, "rent-assistance": 1, "shelter": 1,
    }  # fmt: skip
    assert rows(tables["by_school"], "school")["School A"]["made"] == 6
    assert rows(tables["by_school"], "school")["School B"]["rejected"] == 1
    assert rows(tables["by_partner"], "partner")["Agency P"]["delivered"] == 1


async def test_filters_narrow_every_figure(app, world):
    housing = await report(app, world, "admin", "needs", category="housing")
    assert {row["category"] for row in housing["by_category"]["rows"]} == {"food", "housing"}
    assert rows(housing["by_category"], "category")["housing"]["made"] == 2  # r3 and r6
    school_b = await report(app, world, "admin", "outcomes", school=str(world["B"].id))
    assert rows(school_b["funnel"], "stage")["made"]["referrals"] == 1
    march = await report(app, world, "admin", "outcomes", to="2026-03-31")
    assert rows(march["funnel"], "stage")["made"]["referrals"] == 3
    partner_q = await report(app, world, "admin", "speed", partner=str(world["Q"].id))
    assert partner_q["overdue"]["rows"] == [{"referrals": 0}]


async def test_unmet_needs(app, world):
    tables = await report(app, world, "admin", "unmet")
    searches = {(r["category"], r["zip"]): r["searches"] for r in tables["unmet_searches"]["rows"]}
    # the March and April searches; "food-pantry" and "meals" together count once under food
    assert searches == {("food", "60623"): 3, ("housing", "60608"): 1, ("", "60623"): 1}
    away = {(r["reason"], r["category"], r["zip"]): r["referrals"]
            for r in tables["turned_away"]["rows"]}  # fmt: skip
    assert away == {("no_capacity", "housing", "60608"): 1, ("out_of_area", "food", "60623"): 1}


async def test_catalog_health(app, world):
    tables = await report(app, world, "admin", "catalog")
    assert tables["catalog"]["rows"] == [
        {"listings": 2, "fresh": 1, "fresh_share": 0.5, "stale": 1}
    ]
    by_organization = rows(tables["stale_by_organization"], "organization")
    assert by_organization["Agency Q"]["stale"] == 1
    assert by_organization["Agency P"]["fresh"] == 1
    assert tables["open_problems"]["rows"] == [
        {"organization": "Agency P", "kind": "wrong_phone", "reports": 1}
    ]


async def test_each_caller_sees_their_own_organization(app, world):
    partner = await report(app, world, "partner", "outcomes")
    assert rows(partner["funnel"], "stage")["made"]["referrals"] == 6  # not Q's r3
    specialist = await report(app, world, "specialist", "needs")
    assert {row["school"] for row in specialist["by_school"]["rows"]} == {"School A"}
    catalog = await report(app, world, "partner", "catalog")
    assert catalog["catalog"]["rows"][0]["listings"] == 1
    assert {row["organization"] for row in catalog["stale_by_organization"]["rows"]} == {"Agency P"}
    # A partner naming another agency gets nothing of it, not an error that confirms it exists.
    other = await report(app, world, "partner", "outcomes", partner=str(world["Q"].id))
    assert rows(other["funnel"], "stage")["made"]["referrals"] == 0


@pytest.mark.parametrize("min_count", [5])
async def test_small_counts_are_hidden_beyond_the_owning_organization(app, world):
    district = await report(app, world, "admin", "outcomes")
    funnel = rows(district["funnel"], "stage")
    shown = {stage: row["referrals"] for stage, row in funnel.items()}
    assert shown == {
        "made": 7, "received": 5, "accepted": None, "in_progress": None, "completed": None,
        "failed": None, "rejected": None, "cancelled": None, "closed": 6, "delivered": None,
    }  # fmt: skip
    assert funnel["received"]["share"] == round(5 / 7, 4)
    assert funnel["accepted"]["share"] is None  # 3 of 7 would tell the 3
    assert district["funnel"]["hides_counts_below"] == 5
    [rates] = district["rates"]["rows"]
    assert rates["closure_rate"] == round(6 / 7, 4)
    assert rates["delivered_rate"] is None
    hidden = {(h["row"], h["column"]) for h in district["funnel"]["hidden"]}
    assert (2, "referrals") in hidden  # accepted is the third row
    speed = await report(app, world, "admin", "speed")
    [overall] = speed["speed"]["rows"]
    assert overall["answer_median_hours"] == 4.0  # five answers
    assert overall["complete_median_days"] is None  # two completions
    # The organizations that own the data see their own figures whole...
    partner = await report(app, world, "partner", "outcomes")
    assert rows(partner["funnel"], "stage")["accepted"]["referrals"] == 3
    assert partner["funnel"]["hidden"] == []
    assert partner["funnel"]["hides_counts_below"] is None
    specialist = await report(app, world, "specialist", "speed")
    assert specialist["speed"]["rows"][0]["complete_median_days"] == 7.0
    # ...but the public's searches belong to nobody, and listings are not about families.
    unmet = await report(app, world, "partner", "unmet")
    assert {row["searches"] for row in unmet["unmet_searches"]["rows"]} == {None}
    catalog = await report(app, world, "admin", "catalog")
    assert catalog["open_problems"]["rows"][0]["reports"] == 1


@pytest.mark.parametrize("min_count", [5])
async def test_csv_downloads_hide_the_same_counts(app, world):
    async with asgi_client(app) as client:
        await factories.login(client, world["admin"])
        one = await client.get(
            "/api/reports/outcomes", params={**PERIOD, "format": "csv", "table": "funnel"}
        )
        every = await client.get("/api/reports/outcomes", params={**PERIOD, "format": "csv"})
    assert one.status_code == 200
    assert one.headers["content-type"].startswith("text/csv")
    assert 'filename="caremap-outcomes-funnel-20260301.csv"' in one.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(one.text)))
    assert [row["stage"] for row in table][:3] == ["made", "received", "accepted"]
    assert table[0] == {"stage": "made", "referrals": "7", "share": "1.0"}
    assert table[2] == {"stage": "accepted", "referrals": "<5", "share": "<5"}
    long = list(csv.DictReader(io.StringIO(every.text)))
    assert {"table": "rates", "row": "all", "column": "closed", "value": "6"} in long
    assert {"table": "by_month", "row": "2026-04", "column": "made", "value": "<5"} in long


async def test_report_pages_draw_charts_over_accessible_tables(app, world):
    async with asgi_client(app) as client:
        await factories.login(client, world["admin"])
        page = await client.get("/reports/outcomes", params=PERIOD)
        spanish = await client.get("/reports/needs", params={**PERIOD, "lang": "es"})
        bad = await client.get(
            "/reports/outcomes", params={"from": "2026-05-01", "to": "2026-04-01"}
        )
        unknown = await client.get("/reports/everything")
        signed_out = await asgi_client(app).get("/reports/outcomes")
    assert page.status_code == 200
    charts = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', page.text)
    assert len(charts) == 2  # the funnel and the months
    svg = base64.b64decode(charts[0][0]).decode()
    assert "<svg" in svg
    assert "Received" in svg  # text stays text
    assert "the same numbers are in the table below" in charts[0][1]
    assert '<th scope="col">Referrals</th>' in page.text
    assert "<caption>Referral funnel</caption>" in page.text
    assert (
        'href="/api/reports/outcomes?from=2026-03-01&amp;to=2026-04-30&amp;format=csv&amp;table=funnel"'
        in page.text
    )
    assert spanish.status_code == 200
    assert "Por necesidad" in spanish.text
    assert "Alimentos" in spanish.text or "Comida" in spanish.text
    assert bad.status_code == 422
    assert "must not be after" in bad.text
    assert unknown.status_code == 404
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login")


def map_points(page: str, key: str) -> list[dict] | None:
    found = re.search(rf'<script type="application/json" id="map-data-{key}">(.*?)</script>', page)
    return json.loads(html.unescape(found.group(1)))["points"] if found else None


async def test_unmet_needs_are_drawn_on_a_map_by_zip_code(app, world):
    """Counts by ZIP code become circles at the ZIP codes' centroids on the page's map (Leaflet,
    the results map's tiles), with its controls in the page's language."""
    async with asgi_client(app) as client:
        await factories.login(client, world["admin"])
        admin = await client.get("/reports/unmet", params={**PERIOD, "lang": "es"})
    assert admin.status_code == 200
    points = {p["label"]: p for p in map_points(admin.text, "unmet_searches")}
    assert {label: p["count"] for label, p in points.items()} == {"60623": 4, "60608": 1}
    assert (points["60623"]["lat"], points["60623"]["lng"]) == (41.849, -87.7157)
    found = re.search(r'id="map-data-unmet_searches">(.*?)</script>', admin.text)
    words = json.loads(html.unescape(found.group(1)))
    assert words["zoom_in"] == "Acercar"
    assert 'data-map="map-data-unmet_searches"' in admin.text
    assert "leaflet.js" in admin.text
    assert "data:image/svg" not in admin.text  # no tile-less scatter any more


@pytest.mark.parametrize("min_count", [5])
async def test_a_table_whose_every_count_is_hidden_draws_no_chart_or_map(app, world):
    """Hidden counts add nothing to a map or a chart; when all are hidden, the page says so
    instead of drawing empty axes or an empty map."""
    async with asgi_client(app) as client:
        await factories.login(client, world["partner"])
        partner = await client.get("/reports/unmet", params=PERIOD)
    assert partner.status_code == 200
    assert map_points(partner.text, "unmet_searches") is None
    assert "No figures to chart: every count here is zero or hidden." in partner.text


async def test_bad_report_requests_are_refused_by_name(app, world):
    async with asgi_client(app) as client:
        anonymous = await client.get("/api/reports/outcomes")
        await factories.login(client, world["specialist"])
        refused = {
            name: await client.get("/api/reports/outcomes", params=query)
            for name, query in {
                "from": {"from": "March"},
                "to": {"to": "2026-02-30"},
                "category": {"category": "snacks"},
                "school": {"school": "school-a"},
                "format": {"format": "xml"},
                "table": {"table": "everything"},
            }.items()
        }
        far = await client.get("/api/reports/outcomes", params={"to": "9999-12-31"})
        reversed_period = await client.get(
            "/api/reports/speed", params={"from": "2026-05-01", "to": "2026-04-01"}
        )
    assert anonymous.status_code == 401
    for name, response in refused.items():
        assert response.status_code == 422, name
        assert name in response.json()["fields"], response.json()
    assert far.status_code == 422
    assert far.json()["fields"]["to"] == "a date from 2000-01-01 to 2099-12-31"
    assert reversed_period.status_code == 422
    assert "from" in reversed_period.json()["fields"]


async def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(app, world):
    """An organization named like a formula (names may begin with "=", "+", "-" or "@") is
    text in every CSV meant for people, as the OWASP rule says."""
    formulas = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)"]
    await Organization.filter(id=world["P"].id).update(name=formulas[0])
    await Organization.filter(id=world["Q"].id).update(name=formulas[1])
    await Organization.filter(id=world["A"].id).update(name=formulas[2])
    await Organization.filter(id=world["B"].id).update(name=formulas[3])
    async with asgi_client(app) as client:
        await factories.login(client, world["admin"])
        one = await client.get(
            "/api/reports/needs", params={**PERIOD, "format": "csv", "table": "by_partner"}
        )
        every = await client.get("/api/reports/needs", params={**PERIOD, "format": "csv"})
        audit = await client.get("/api/audit", params={"format": "csv"})
    partners = [row["partner"] for row in csv.DictReader(io.StringIO(one.text))]
    assert sorted(partners) == sorted("'" + name for name in formulas[:2])
    cells = [cell for row in csv.reader(io.StringIO(every.text)) for cell in row]
    assert {"'" + name for name in formulas} <= set(cells)
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert audit.status_code == 200
    assert not [
        cell
        for row in csv.reader(io.StringIO(audit.text))
        for cell in row
        if cell.startswith(("=", "+", "-", "@"))
    ]
