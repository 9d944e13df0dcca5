"""A small RFC 7946 checker used by the tests (structure, WGS84 ranges, ring orientation)."""

from __future__ import annotations

from typing import Any


def _ring_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False)) / 2


def _positions(geom: dict[str, Any]) -> list[list[float]]:
    t, c = geom["type"], geom["coordinates"]
    if t == "Point":
        return [c]
    if t in ("MultiPoint", "LineString"):
        return list(c)
    if t in ("MultiLineString", "Polygon"):
        return [p for part in c for p in part]
    if t == "MultiPolygon":
        return [p for poly in c for ring in poly for p in ring]
    raise AssertionError(f"unknown geometry type {t}")


def _polygons(geom: dict[str, Any]) -> list[list[list[list[float]]]]:
    if geom["type"] == "Polygon":
        return [geom["coordinates"]]
    if geom["type"] == "MultiPolygon":
        return list(geom["coordinates"])
    return []


def rfc7946_problems(doc: dict[str, Any], max_decimals: int = 7) -> list[str]:
    """Every RFC 7946 violation found in a FeatureCollection (empty list when valid)."""
    problems: list[str] = []
    if doc.get("type") != "FeatureCollection":
        return [f"type must be FeatureCollection, got {doc.get('type')!r}"]
    if "crs" in doc:
        problems.append("a `crs` member is not allowed (RFC 7946 §4)")
    for k, feat in enumerate(doc.get("features", [])):
        if feat.get("type") != "Feature":
            problems.append(f"feature {k}: type must be Feature")
        if not isinstance(feat.get("properties"), dict | type(None)):
            problems.append(f"feature {k}: properties must be an object or null")
        geom = feat.get("geometry")
        if geom is None:
            continue
        for pos in _positions(geom):
            if len(pos) < 2:
                problems.append(f"feature {k}: position with fewer than 2 numbers")
                continue
            lon, lat = pos[0], pos[1]
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                problems.append(f"feature {k}: position {pos} outside WGS84 ranges")
            for v in pos:
                text = repr(float(v))
                if "." in text and "e" not in text and len(text.split(".")[1]) > max_decimals:
                    problems.append(f"feature {k}: {v} has more than {max_decimals} decimals")
        for poly in _polygons(geom):
            for r, ring in enumerate(poly):
                if len(ring) < 4 or ring[0] != ring[-1]:
                    problems.append(f"feature {k}: ring {r} not closed or too short")
                    continue
                area = _ring_area(ring)
                if r == 0 and area <= 0:
                    problems.append(f"feature {k}: exterior ring is not counter-clockwise")
                if r > 0 and area >= 0:
                    problems.append(f"feature {k}: hole {r} is not clockwise")
    return problems
