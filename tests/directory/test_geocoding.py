"""The geocoding chain: offline ZIP data, a real geopy Nominatim client, and a provider outage.

The provider is a small HTTP server on loopback that answers like Nominatim's /search, so geopy's
real client, timeouts and error handling run; a closed port stands in for a provider that is down.
"""

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import zipcodes

from directory import details, geocoding
from directory.actor import SYSTEM
from directory.errors import Invalid, Unavailable
from directory.geocoding import Geocoder, zip_info
from directory.models import GeocodeCache, GeocodeStatus, Location
from tests import factories

ADDRESS = {
    "name": "Site",
    "address_1": "3210 W 26th St",
    "city": "Chicago",
    "state_province": "IL",
    "postal_code": "60623",
}
PLACE = (41.8447, -87.7069)


def test_the_zip_table_holds_every_zip_code_the_package_places():
    """Read a first digit at a time (not kept whole by the package), the table misses none of
    the package's ZIP codes and places each where the package does."""
    listed = {row["zip_code"]: row for row in zipcodes.list_all() if row["lat"] and row["long"]}
    table = geocoding._zip_table()
    assert set(table) == set(listed)
    for code, row in listed.items():
        point = table[code].point
        assert (point.latitude, point.longitude) == (float(row["lat"]), float(row["long"]))


class FakeNominatim(BaseHTTPRequestHandler):
    queries: list[str] = []

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
        type(self).queries.append(query)
        found = (
            []
            if "nowhere" in query.lower()
            else [{"lat": str(PLACE[0]), "lon": str(PLACE[1]), "display_name": query}]
        )
        body = json.dumps(found).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def nominatim() -> Iterator[str]:
    FakeNominatim.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def nominatim_geocoder(domain: str) -> Geocoder:
    return Geocoder(
        "nominatim",
        options={"domain": domain, "scheme": "http", "user_agent": "caremap-tests"},
        timeout=2,
    )


def test_zip_data_knows_counties():
    info = zip_info("66101")
    assert info is not None
    assert (info.city, info.county, info.state) == ("Kansas City", "Wyandotte County", "KS")
    assert zip_info("00000") is None
    assert zip_info("abc") is None


async def test_offline_near_text():
    geocoder = Geocoder()
    chicago = await geocoder.locate("60623")
    assert chicago.latitude == pytest.approx(41.849, abs=0.01)
    city = await geocoder.locate("kansas city, ks")
    assert city.longitude == pytest.approx(-94.7, abs=0.1)
    point = await geocoder.locate(" 41.88, -87.63 ")
    assert (point.latitude, point.longitude) == (41.88, -87.63)
    for bad in ["", "99999", "91.0,10.0", "somewhere over the rainbow", "x" * 500]:
        with pytest.raises(Invalid):
            await geocoder.locate(bad)


async def test_coordinates_given_are_kept(app):
    organization = await factories.organization()
    location = await details.create_location(
        actor=SYSTEM,
        geocoder=Geocoder(),
        data={
            **ADDRESS,
            "organization_id": str(organization.id),
            "latitude": 41.1,
            "longitude": -87.1,
        },
    )
    assert (location.latitude, location.longitude) == (41.1, -87.1)
    assert location.geocode_status is GeocodeStatus.OK
    assert location.geocode_source == "given"


async def test_offline_default_uses_zip_centroid(app):
    organization = await factories.organization()
    location = await details.create_location(
        actor=SYSTEM, geocoder=Geocoder(), data={**ADDRESS, "organization_id": str(organization.id)}
    )
    assert location.geocode_status is GeocodeStatus.OK
    assert location.geocode_source == "zip_centroid"
    assert location.latitude == pytest.approx(41.849, abs=0.01)


async def test_provider_answers_are_cached(app, nominatim):
    geocoder = nominatim_geocoder(nominatim)
    organization = await factories.organization()
    data = {**ADDRESS, "organization_id": str(organization.id)}
    first = await details.create_location(actor=SYSTEM, geocoder=geocoder, data=data)
    second = await details.create_location(actor=SYSTEM, geocoder=geocoder, data=data)
    assert (first.latitude, first.longitude) == PLACE
    assert first.geocode_source == "nominatim"
    assert (second.latitude, second.longitude) == PLACE
    assert len(FakeNominatim.queries) == 1
    assert await GeocodeCache.all().count() == 1


async def test_provider_down_saves_as_pending_then_retries(app, closed_port, nominatim):
    organization = await factories.organization()
    location = await details.create_location(
        actor=SYSTEM,
        geocoder=nominatim_geocoder(closed_port),
        data={**ADDRESS, "organization_id": str(organization.id)},
    )
    assert location.geocode_status is GeocodeStatus.PENDING
    assert location.latitude == pytest.approx(41.849, abs=0.01)  # provisional ZIP centroid

    assert await details.retry_pending_geocodes(geocoder=nominatim_geocoder(closed_port)) == 0
    assert (await Location.get(id=location.id)).geocode_status is GeocodeStatus.PENDING

    assert await details.retry_pending_geocodes(geocoder=nominatim_geocoder(nominatim)) == 1
    placed = await Location.get(id=location.id)
    assert placed.geocode_status is GeocodeStatus.OK
    assert (placed.latitude, placed.longitude) == PLACE


async def test_near_text_through_provider_is_not_cached(app, nominatim, closed_port):
    point = await nominatim_geocoder(nominatim).locate("1600 W Cermak Rd, Chicago")
    assert (point.latitude, point.longitude) == PLACE
    assert await GeocodeCache.all().count() == 0
    with pytest.raises(Invalid):
        await nominatim_geocoder(nominatim).locate("nowhere street")
    with pytest.raises(Unavailable):
        await nominatim_geocoder(closed_port).locate("1600 W Cermak Rd, Chicago")


async def test_moving_a_location_geocodes_again(app, client):
    organization = await factories.organization()
    await factories.login(client, await factories.user(organization, "partner"))
    created = await client.post("/api/locations", json={**ADDRESS})
    assert created.status_code == 201
    moved = await client.patch(
        f"/api/locations/{created.json()['id']}",
        json={"postal_code": "66101", "city": "Kansas City", "state_province": "KS", "version": 1},
    )
    assert moved.status_code == 200
    assert moved.json()["latitude"] == pytest.approx(39.11, abs=0.05)


def test_unknown_provider_name_is_a_configuration_error():
    with pytest.raises(ValueError, match="unknown geocoder"):
        Geocoder("no-such-geocoder")
