"""Turning listing addresses and people's "near" text into points.

The chain, cheapest first: coordinates already given are kept; a ZIP code is placed at its
centroid from the offline `zipcodes` data; a full street address goes to a configurable geopy
provider (Nominatim or any geopy geocoder by name). Provider answers for listing addresses are
cached in the database. A provider that is down never blocks saving a listing: the caller gets a
`pending` status (with the ZIP centroid as a provisional point) and the worker retries later.

A family's "near" text is never cached or logged: it may be a home address.
"""

import asyncio
import collections
import copy
import functools
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import zipcodes
from babel.core import get_global
from geopy.exc import GeocoderNotFound, GeopyError
from geopy.geocoders import get_geocoder_for_service

from directory.errors import Invalid, Unavailable
from directory.models import GeocodeCache, GeocodeStatus

logger = logging.getLogger(__name__)

_LAT_LNG = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_ZIP = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")
_CITY_STATE = re.compile(r"^\s*([A-Za-z .'-]{2,60}?)\s*,\s*([A-Za-z]{2})\s*$")
ZIP_CENTROID = "zip_centroid"


@functools.cache
def time_zone(name: str) -> ZoneInfo:
    """A time zone, kept for good: zoneinfo itself holds only the last eight it made, and a
    search for what is open now asks eleven, so each would be read from disk again."""
    return ZoneInfo(name)


EARTH_RADIUS_MILES = 3958.7613


@dataclass(frozen=True, slots=True)
class Point:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class ZipInfo:
    postal_code: str
    point: Point
    city: str
    county: str
    state: str
    time_zone: str = ""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a listing's location ended up, and how sure we are."""

    point: Point | None
    status: GeocodeStatus
    source: str | None


def distance_miles(a: Point, b: Point) -> float:
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlng = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))


def distances_miles(center: Point, latitudes: np.ndarray, longitudes: np.ndarray) -> np.ndarray:
    """Haversine distances from `center` to many points at once (numpy, for candidate lists)."""
    lat1 = math.radians(center.latitude)
    lat2 = np.radians(np.asarray(latitudes, dtype=float))
    dlng = np.radians(np.asarray(longitudes, dtype=float) - center.longitude)
    h = np.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * np.cos(lat2) * np.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def bounding_box(center: Point, radius_miles: float) -> tuple[float, float, float, float]:
    """(min lat, max lat, min lng, max lng) of a square holding the circle."""
    dlat = math.degrees(radius_miles / EARTH_RADIUS_MILES)
    cos_lat = max(math.cos(math.radians(center.latitude)), 1e-6)
    dlng = math.degrees(radius_miles / (EARTH_RADIUS_MILES * cos_lat))
    return (
        center.latitude - dlat,
        center.latitude + dlat,
        center.longitude - dlng,
        center.longitude + dlng,
    )


def zip_info(postal_code: str) -> ZipInfo | None:
    """Centroid, county and state of a US ZIP code, from offline data."""
    match = _ZIP.match(postal_code or "")
    if not match:
        return None
    found = _zip_table().get(match.group(1))
    return found


def _every_zip() -> Iterator[dict[str, Any]]:
    """Every ZIP code of the `zipcodes` package, a first digit at a time.

    `zipcodes.list_all()` keeps all 42,789 as dictionaries for the life of the process (135 MB, in
    every web worker and in an import's second process), where caremap's own tables of what it
    uses take about 9 MB. So the package's compiled table is asked for the ZIP codes of one first
    digit at a time (`similar_to`), each batch freed once read."""
    for digit in "0123456789":
        yield from zipcodes.similar_to(digit)


@functools.cache
def _zip_table() -> dict[str, ZipInfo]:
    table: dict[str, ZipInfo] = {}
    for row in _every_zip():
        if not row.get("lat") or not row.get("long"):
            continue
        table[row["zip_code"]] = ZipInfo(
            postal_code=row["zip_code"],
            point=Point(float(row["lat"]), float(row["long"])),
            city=row["city"],
            county=row.get("county") or "",
            state=row["state"],
            time_zone=row.get("timezone") or "",
        )
    return table


def place_time_zone(
    postal_code: str | None, state: str | None = None, country: str | None = None
) -> str | None:
    """The IANA time zone of a place: its US ZIP code's; else the one most of its US state's
    ZIP codes use; else its country's, when the country has only one (GB: Europe/London)."""
    info = zip_info(postal_code) if postal_code else None
    if info is not None and info.time_zone:
        return info.time_zone
    if state and (zone := _state_time_zones().get(state.strip().upper())):
        return zone
    zones = get_global("territory_zones").get((country or "").strip().upper(), [])
    return zones[0] if len(zones) == 1 else None


US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming", "PR": "Puerto Rico",
}  # fmt: skip
_STATE_CODES = {name.lower(): code for code, name in US_STATES.items()}


def area_from_text(text: str, state: str | None = None) -> tuple[str, str, str | None] | None:
    """A service area named in words as (extent type, extent, state): a 5-digit ZIP code, a
    state ("CA", "California") or a county ("San Mateo County", "San Mateo County, CA"; the
    state from the text, else `state` when the county is there, else the one state that has
    a county of that name). None when it names none of these (a city, a region)."""
    words = " ".join(text.split())
    if re.fullmatch(r"\d{5}", words) and zip_info(words) is not None:
        return "postal_code", words, None
    code = words.upper() if words.upper() in US_STATES else _STATE_CODES.get(words.lower())
    if code:
        return "state", code, code
    county, _, named_state = words.partition(",")
    if not county.lower().endswith(" county"):
        return None
    states = _county_states().get(county.strip().lower(), set())
    named = named_state.strip().upper() or None
    named = _STATE_CODES.get(named.lower(), named) if named else None
    for candidate in (named, state.upper() if state else None):
        if candidate in states:
            return "county", _county_names()[(county.strip().lower(), candidate)], candidate
    if named is None and len(states) == 1:
        only = next(iter(states))
        return "county", _county_names()[(county.strip().lower(), only)], only
    return None


@functools.cache
def _county_states() -> dict[str, set[str]]:
    found: dict[str, set[str]] = collections.defaultdict(set)
    for info in _zip_table().values():
        if info.county:
            found[info.county.lower()].add(info.state)
    return found


@functools.cache
def _county_names() -> dict[tuple[str, str], str]:
    return {(i.county.lower(), i.state): i.county for i in _zip_table().values() if i.county}


@functools.cache
def _state_time_zones() -> dict[str, str]:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for info in _zip_table().values():
        if info.time_zone:
            counts[info.state][info.time_zone] += 1
    return {state: zones.most_common(1)[0][0] for state, zones in counts.items()}


def nearest_zip(point: Point) -> ZipInfo | None:
    """The ZIP code whose centroid is closest to a point (within about 70 miles): every search
    near a place asks, so the centroids of the point's 1-degree cell and its neighbours are
    compared at once (numpy), not one by one."""
    row, column = round(point.latitude), round(point.longitude)
    cells = [
        _zip_grid().get((row + d_row, column + d_column))
        for d_row in (-1, 0, 1)
        for d_column in (-1, 0, 1)
    ]
    cells = [cell for cell in cells if cell is not None]
    if not cells:
        return None
    infos = [info for cell in cells for info in cell[0]]
    latitudes = np.concatenate([cell[1] for cell in cells])
    longitudes = np.concatenate([cell[2] for cell in cells])
    scores = (latitudes - point.latitude) ** 2 + ((longitudes - point.longitude) * 0.77) ** 2
    return infos[int(np.argmin(scores))]


@functools.cache
def _zip_grid() -> dict[tuple[int, int], tuple[list[ZipInfo], np.ndarray, np.ndarray]]:
    """ZIP centroids by 1-degree cell: the cell's ZIPs, their latitudes and longitudes."""
    grid: dict[tuple[int, int], list[ZipInfo]] = {}
    for info in _zip_table().values():
        key = (round(info.point.latitude), round(info.point.longitude))
        grid.setdefault(key, []).append(info)
    return {
        key: (
            infos,
            np.array([i.point.latitude for i in infos]),
            np.array([i.point.longitude for i in infos]),
        )
        for key, infos in grid.items()
    }


@functools.cache
def _city_table() -> dict[tuple[str, str], Point]:
    """Mean of the standard ZIP centroids of each (CITY, ST)."""
    sums: dict[tuple[str, str], list[float]] = {}
    for row in _every_zip():
        if row.get("zip_code_type") != "STANDARD" or not row.get("lat"):
            continue
        key = (row["city"].upper(), row["state"])
        total = sums.setdefault(key, [0.0, 0.0, 0])
        total[0] += float(row["lat"])
        total[1] += float(row["long"])
        total[2] += 1
    return {key: Point(lat / count, lng / count) for key, (lat, lng, count) in sums.items()}


def warm_up() -> None:
    """Load the offline ZIP tables now, not on a family's first search."""
    _zip_table()
    _zip_grid()
    _city_table()


class Geocoder:
    """The geocoding chain. `provider` is a geopy service name, or None for offline only."""

    def __init__(
        self,
        provider: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.provider_name = provider
        self._provider = None
        self._deferring = False
        if provider:
            try:
                provider_class = get_geocoder_for_service(provider)
            except GeocoderNotFound as error:
                raise ValueError(f"unknown geocoder {provider!r}") from error
            self._provider = provider_class(timeout=timeout, **(options or {}))

    def deferring(self) -> "Geocoder":
        """This geocoder, but leaving provider lookups to `retry_pending_geocodes`.

        A bulk import uses it: each address gets its ZIP centroid at once (offline) and waits as
        pending for the worker, so a slow or rate-limited provider never holds up the import.
        It never asks the provider, so it holds none: it can cross to the process that checks
        an import's next part (`directory.hsds_parts`).
        """
        deferring = copy.copy(self)
        deferring._deferring = True
        deferring._provider = None
        return deferring

    async def place_listing(
        self,
        *,
        address_1: str | None,
        city: str | None,
        state_province: str | None,
        postal_code: str | None,
        country: str = "US",
    ) -> Placement:
        """Place a listing address that has no coordinates. Never raises for a provider fault."""
        centroid = zip_info(postal_code or "")
        if not (self.provider_name and address_1 and city):
            if centroid:
                return Placement(centroid.point, GeocodeStatus.OK, ZIP_CENTROID)
            return Placement(None, GeocodeStatus.FAILED, None)
        if self._deferring:
            return Placement(
                centroid.point if centroid else None, GeocodeStatus.PENDING, ZIP_CENTROID
            )
        query = ", ".join(p for p in (address_1, city, state_province, postal_code, country) if p)
        try:
            point = await self._cached_listing_lookup(query)
        except GeopyError as error:
            logger.warning(
                "geocoder %s unavailable (%s); location left pending",
                self.provider_name,
                type(error).__name__,
            )
            return Placement(
                centroid.point if centroid else None, GeocodeStatus.PENDING, ZIP_CENTROID
            )
        if point is not None:
            return Placement(point, GeocodeStatus.OK, self.provider_name)
        if centroid:
            return Placement(centroid.point, GeocodeStatus.OK, ZIP_CENTROID)
        return Placement(None, GeocodeStatus.FAILED, None)

    async def _cached_listing_lookup(self, query: str) -> Point | None:
        key = query.strip().lower()[:500]
        assert self.provider_name is not None
        cached = await GeocodeCache.get_or_none(provider=self.provider_name, query=key)
        if cached:
            return Point(cached.latitude, cached.longitude)
        point = await self._ask_provider(query)
        if point is not None:
            await GeocodeCache.get_or_create(
                provider=self.provider_name,
                query=key,
                defaults={"latitude": point.latitude, "longitude": point.longitude},
            )
        return point

    async def _ask_provider(self, query: str) -> Point | None:
        assert self._provider is not None
        found = await asyncio.to_thread(self._provider.geocode, query, exactly_one=True)
        if found is None:
            return None
        return Point(found.latitude, found.longitude)

    async def locate(self, text: str) -> Point:
        """Turn a person's "near" text (lat,lng; ZIP; City, ST; address) into a point.

        Raises `Invalid` when the place cannot be found and `Unavailable` when only a provider
        could answer and it is down. Nothing about the text is stored.
        """
        text = (text or "").strip()
        if not text or len(text) > 200:
            raise Invalid(
                {"near": "give a ZIP code, a City, ST or an address (up to 200 characters)"}
            )
        if match := _LAT_LNG.match(text):
            latitude, longitude = float(match.group(1)), float(match.group(2))
            if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
                raise Invalid({"near": "coordinates are out of range"})
            return Point(latitude, longitude)
        if _ZIP.match(text):
            info = zip_info(text)
            if info is None:
                raise Invalid({"near": "unknown ZIP code"})
            return info.point
        if match := _CITY_STATE.match(text):
            point = _city_table().get((match.group(1).upper(), match.group(2).upper()))
            if point:
                return point
        if self._provider is None:
            raise Invalid({"near": "place not found; try a ZIP code or City, ST"})
        try:
            point = await self._ask_provider(text)
        except GeopyError:
            raise Unavailable(
                "The address lookup service is not answering; try a ZIP code."
            ) from None
        if point is None:
            raise Invalid({"near": "place not found; try a ZIP code or City, ST"})
        return point
