"""Street grids for the demo cities, so a demo address, its ZIP code and its point agree.

Both demo cities number addresses on a grid: in Chicago every 800 numbers are a mile from State
and Madison Streets, so "3948 W 26th St" sits 3,948 numbers west of State on 26th Street (2600 S);
in Kansas City, Kansas, an address on an east-west street carries the number of the nearest
numbered cross street ("1800 Minnesota Ave" is at 18th Street). The generator places each demo
site on a street of its city's grid (`address_near`), and the seed test reads every address back
to a point (`point_of`), so an address never lands in another neighbourhood than its map pin.
"""

import re
from dataclasses import dataclass

from directory.geocoding import Point, distance_miles, nearest_zip


@dataclass(frozen=True)
class Street:
    name: str  # without its direction prefix, e.g. "Kedzie Ave"
    position: int  # its grid number across the grid: 3200 for Kedzie (3200 W), -2600 for 26th St
    runs_north_south: bool
    # The stretch of the crossing numbers it runs along (None: the whole grid).
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class Grid:
    origin: Point  # where the numbering starts (grid 0, 0)
    numbers_per_degree_lat: float
    numbers_per_degree_lon: float
    streets: tuple[Street, ...]
    # Whether east-west and north-south numbers carry a direction (Chicago: "W", "S").
    directions: bool

    def point(self, x: float, y: float) -> Point:
        """The point at grid numbers x (east positive) and y (north positive)."""
        return Point(
            latitude=round(self.origin.latitude + y / self.numbers_per_degree_lat, 6),
            longitude=round(self.origin.longitude + x / self.numbers_per_degree_lon, 6),
        )

    def numbers(self, point: Point) -> tuple[float, float]:
        return (
            (point.longitude - self.origin.longitude) * self.numbers_per_degree_lon,
            (point.latitude - self.origin.latitude) * self.numbers_per_degree_lat,
        )


def _ns(name: str, x: int, span: tuple[int, int] | None = None) -> Street:
    return Street(name, x, True, span)


def _ew(name: str, y: int, span: tuple[int, int] | None = None) -> Street:
    return Street(name, y, False, span)


# 800 numbers a mile; a degree of latitude is 69.05 miles, of longitude at 41.88° N 51.45 miles.
CHICAGO = Grid(
    origin=Point(latitude=41.88189, longitude=-87.62780),
    numbers_per_degree_lat=800 * 69.05,
    numbers_per_degree_lon=800 * 51.45,
    directions=True,
    streets=(
        _ns("State St", 0),
        _ns("King Dr", 400, (-9500, -2200)),
        _ns("Cottage Grove Ave", 800, (-9500, -2200)),
        _ns("Stony Island Ave", 1600, (-9500, -5600)),
        _ns("Jeffery Blvd", 2000, (-9500, -6700)),
        _ns("Halsted St", -800),
        _ns("Racine Ave", -1200),
        _ns("Ashland Ave", -1600),
        _ns("Damen Ave", -2000),
        _ns("Western Ave", -2400),
        _ns("California Ave", -2800),
        _ns("Kedzie Ave", -3200),
        _ns("Pulaski Rd", -4000),
        _ns("Cicero Ave", -4800),
        _ns("Laramie Ave", -5200),
        _ns("Central Ave", -5600),
        _ew("Madison St", 0),
        _ew("Chicago Ave", 800),
        _ew("Division St", 1200),
        _ew("North Ave", 1600),
        _ew("Armitage Ave", 2000),
        _ew("Fullerton Ave", 2400),
        _ew("Diversey Ave", 2800),
        _ew("Belmont Ave", 3200),
        _ew("Addison St", 3600),
        _ew("Irving Park Rd", 4000),
        _ew("Montrose Ave", 4400),
        _ew("Lawrence Ave", 4800),
        _ew("Foster Ave", 5200),
        _ew("Roosevelt Rd", -1200),
        _ew("Cermak Rd", -2200),
        _ew("26th St", -2600),
        _ew("31st St", -3100),
        _ew("35th St", -3500),
        _ew("Pershing Rd", -3900),
        _ew("43rd St", -4300),
        _ew("47th St", -4700),
        _ew("51st St", -5100),
        _ew("55th St", -5500),
        _ew("59th St", -5900),
        _ew("63rd St", -6300),
        _ew("67th St", -6700),
        _ew("71st St", -7100),
        _ew("75th St", -7500),
        _ew("79th St", -7900),
        _ew("87th St", -8700),
    ),
)

# Numbered streets run north-south about 0.0021° of longitude (100 numbers) apart, counting west
# from near the state line; named avenues run east-west, and north-south addresses are not used,
# so the y axis is simply thousandths of a degree of latitude.
KANSAS_CITY_KS = Grid(
    origin=Point(latitude=0.0, longitude=-94.6183),
    numbers_per_degree_lat=1000.0,
    numbers_per_degree_lon=100 / 0.0021,
    directions=False,
    streets=(
        _ew("Metropolitan Ave", 39_074, (-5500, -300)),
        _ew("Southwest Blvd", 39_068, (-1500, -200)),
        _ew("Kaw Dr", 39_082, (-9000, -5500)),
        _ew("Kansas Ave", 39_088, (-2500, 0)),
        _ew("Strong Ave", 39_079, (-4000, -2000)),
        _ew("Central Ave", 39_100, (-3800, 0)),
        _ew("Minnesota Ave", 39_113, (-3000, 0)),
        _ew("State Ave", 39_117, (-9000, 0)),
        _ew("Parallel Pkwy", 39_130, (-9000, -500)),
        _ew("Quindaro Blvd", 39_142, (-6000, -500)),
        _ew("Leavenworth Rd", 39_156, (-9000, -1500)),
        _ew("Shawnee Dr", 39_062, (-5000, -3500)),
    ),
)

GRIDS = {"Chicago": CHICAGO, "Kansas City": KANSAS_CITY_KS}


def address_near(city: str, point: Point, postal_code: str) -> tuple[str, Point]:
    """An address on the nearest street of the city's grid to `point` that still lies in the ZIP
    code (the ZIP whose centroid is nearest), and the point on that street."""
    grid = GRIDS[city]
    x, y = grid.numbers(point)
    candidates = []
    for street in grid.streets:
        along = y if street.runs_north_south else x
        if street.span and not street.span[0] <= along <= street.span[1]:
            continue
        if street.runs_north_south:
            snapped = grid.point(street.position, y)
        else:
            snapped = grid.point(x, street.position)
        candidates.append((distance_miles(point, snapped), street, snapped))
    for _distance, street, snapped in sorted(candidates, key=lambda c: c[0]):
        found = nearest_zip(snapped)
        if found is not None and found.postal_code == postal_code:
            return _address(grid, street, snapped), snapped
    raise ValueError(f"no street of {city} near {point} lies in {postal_code}")


def _address(grid: Grid, street: Street, point: Point) -> str:
    x, y = grid.numbers(point)
    along = y if street.runs_north_south else x
    number = max(100, round(abs(along)))
    if not grid.directions:
        return f"{number} {street.name}"
    if street.runs_north_south:
        direction = "N" if along >= 0 else "S"
    else:
        direction = "E" if along >= 0 else "W"
    return f"{number} {direction} {street.name}"


_ADDRESS = re.compile(r"^(\d+) (?:([NSEW]) )?(.+)$")


def point_of(city: str, address_1: str) -> Point:
    """Where an address of the city's grid lies, read from its number and street alone."""
    grid = GRIDS[city]
    match = _ADDRESS.match(address_1)
    if not match:
        raise ValueError(f"not a grid address: {address_1}")
    number, direction, name = int(match.group(1)), match.group(2), match.group(3)
    street = next((s for s in grid.streets if s.name == name), None)
    if street is None:
        raise ValueError(f"{name} is not a street of the {city} grid")
    signed = -number if direction in ("S", "W") or not grid.directions else number
    if street.runs_north_south:
        return grid.point(street.position, signed)
    return grid.point(signed, street.position)
