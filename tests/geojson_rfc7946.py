"""An RFC 7946 GeoJSON checker for the tests: structure, WGS84 positions, rings, decimals.

Independent of ``siting``: it reads plain JSON data (dicts and lists) and lists every violation
it finds, so a test can assert the list is empty (``assert_rfc7946``) or contains a given one.
"""

from __future__ import annotations

import itertools
import json
import math
from decimal import Decimal
from typing import Any

__all__ = ["assert_rfc7946", "decimals", "rfc7946_problems", "signed_area"]

_GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}
_NOT_IN_COLLECTION = ("crs", "coordinates", "geometries", "geometry", "properties")
_NOT_IN_FEATURE = ("crs", "coordinates", "geometries", "features")


def signed_area(ring: list[list[float]]) -> float:
    """Shoelace area of a closed ring in the lon/lat plane: > 0 counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in itertools.pairwise(ring)) / 2


def decimals(value: float) -> int:
    """How many decimals the shortest text of ``value`` has (``111.25`` → 2, ``1e-07`` → 7)."""
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Checker:
    def __init__(self, max_decimals: int | None) -> None:
        self.max_decimals = max_decimals
        self.problems: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def position(self, where: str, pos: Any) -> bool:
        if not isinstance(pos, list) or len(pos) not in (2, 3) or not all(map(_is_number, pos)):
            self.add(where, f"position must be a list of 2 or 3 numbers, got {pos!r}")
            return False
        if not all(math.isfinite(v) for v in pos):
            self.add(where, f"position {pos} is not finite")
            return False
        lon, lat = pos[0], pos[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            self.add(where, f"position {pos} is outside WGS84 ranges (lon, lat order?)")
        if self.max_decimals is not None:
            for v in pos:
                if decimals(v) > self.max_decimals:
                    self.add(where, f"{v!r} has more than {self.max_decimals} decimals")
        return True

    def positions(self, where: str, seq: Any, minimum: int) -> bool:
        if not isinstance(seq, list):
            self.add(where, f"expected a list of positions, got {seq!r}")
            return False
        ok = all([self.position(where, p) for p in seq])
        if len(seq) < minimum:
            self.add(where, f"needs at least {minimum} positions, got {len(seq)}")
            return False
        return ok

    def polygon(self, where: str, rings: Any) -> None:
        if not isinstance(rings, list) or not rings:
            self.add(where, "a polygon must be a non-empty list of linear rings")
            return
        for r, ring in enumerate(rings):
            at = f"{where} ring {r}"
            if not self.positions(at, ring, 4):
                continue
            if ring[0] != ring[-1]:
                self.add(at, "linear ring is not closed (first position != last)")
                continue
            area = signed_area(ring)
            if r == 0 and area <= 0:
                self.add(at, "exterior ring is not counter-clockwise (right-hand rule)")
            if r > 0 and area >= 0:
                self.add(at, "hole is not clockwise (right-hand rule)")

    def geometry(self, where: str, geom: Any) -> None:  # noqa: C901 - a branch per geometry type
        if not isinstance(geom, dict):
            self.add(where, f"geometry must be an object or null, got {geom!r}")
            return
        kind = geom.get("type")
        if kind not in _GEOMETRY_TYPES:
            self.add(where, f"unknown geometry type {kind!r}")
            return
        if kind == "GeometryCollection":
            parts = geom.get("geometries")
            if not isinstance(parts, list):
                self.add(where, "GeometryCollection needs a `geometries` list")
                return
            for k, part in enumerate(parts):
                self.geometry(f"{where} part {k}", part)
            return
        if "coordinates" not in geom:
            self.add(where, f"{kind} has no `coordinates`")
            return
        c = geom["coordinates"]
        if kind == "Point":
            self.position(where, c)
        elif kind == "MultiPoint":
            self.positions(where, c, 0)
        elif kind == "LineString":
            self.positions(where, c, 2)
        elif kind == "MultiLineString":
            if not isinstance(c, list):
                self.add(where, "MultiLineString coordinates must be a list")
                return
            for k, line in enumerate(c):
                self.positions(f"{where} line {k}", line, 2)
        elif kind == "Polygon":
            self.polygon(where, c)
        else:
            if not isinstance(c, list):
                self.add(where, "MultiPolygon coordinates must be a list")
                return
            for k, poly in enumerate(c):
                self.polygon(f"{where} polygon {k}", poly)

    def feature(self, k: int, feat: Any) -> None:
        where = f"feature {k}"
        if not isinstance(feat, dict):
            self.add(where, f"must be an object, got {feat!r}")
            return
        if feat.get("type") != "Feature":
            self.add(where, f"type must be 'Feature', got {feat.get('type')!r}")
        for member in _NOT_IN_FEATURE:
            if member in feat:
                self.add(where, f"member {member!r} is not allowed in a Feature")
        if "geometry" not in feat:
            self.add(where, "has no `geometry` member (use null)")
        elif feat["geometry"] is not None:
            self.geometry(where, feat["geometry"])
        if "properties" not in feat:
            self.add(where, "has no `properties` member (use null)")
        elif not isinstance(feat["properties"], dict | type(None)):
            self.add(where, f"properties must be an object or null, got {feat['properties']!r}")
        elif feat["properties"] is not None and not all(
            isinstance(key, str) for key in feat["properties"]
        ):
            self.add(where, "property names must be strings")
        if "id" in feat and not (isinstance(feat["id"], str) or _is_number(feat["id"])):
            self.add(where, f"id must be a string or a number, got {feat['id']!r}")


def rfc7946_problems(doc: Any, *, max_decimals: int | None = 7) -> list[str]:
    """Every RFC 7946 violation found in a FeatureCollection (an empty list when it is valid).

    ``max_decimals`` (default 7, ≈ 1 cm) also checks that no coordinate has more decimals than
    that; ``None`` skips the check.
    """
    checker = _Checker(max_decimals)
    if not isinstance(doc, dict):
        return [f"document must be a JSON object, got {type(doc).__name__}"]
    if doc.get("type") != "FeatureCollection":
        return [f"type must be 'FeatureCollection', got {doc.get('type')!r}"]
    for member in _NOT_IN_COLLECTION:
        if member in doc:
            checker.add("FeatureCollection", f"member {member!r} is not allowed (RFC 7946)")
    features = doc.get("features")
    if not isinstance(features, list):
        checker.add("FeatureCollection", "`features` must be a list")
        return checker.problems
    for k, feat in enumerate(features):
        checker.feature(k, feat)
    try:
        json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        checker.add("document", f"is not strict JSON: {exc}")
    return checker.problems


def assert_rfc7946(doc: Any, *, max_decimals: int | None = 7) -> None:
    """Fail with every problem listed when ``doc`` is not a valid RFC 7946 FeatureCollection."""
    problems = rfc7946_problems(doc, max_decimals=max_decimals)
    assert not problems, "not RFC 7946:\n" + "\n".join(problems[:20])
