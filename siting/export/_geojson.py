"""Private helpers of the GIS exports: JSON-safe columns and RFC 7946 coordinate handling.

Pure functions, no I/O. :mod:`siting.export.geojson` builds FeatureCollections on top;
values are cleaned by :func:`siting._json.jsonable`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from siting._json import jsonable

__all__ = [
    "column_json_values",
    "geometry_json",
    "orient_rfc7946",
    "round_coordinates",
]

logger = logging.getLogger(__name__)


def column_json_values(series: pd.Series) -> list[Any]:
    """Every value of one column made JSON-safe (see :func:`jsonable`), fast for plain
    numeric and boolean dtypes."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "b" or dtype.kind in "iu":
            return series.to_numpy().tolist()
        if dtype.kind == "f":
            arr = series.to_numpy()
            out = arr.tolist()
            for k in np.flatnonzero(~np.isfinite(arr)):
                out[k] = None
            return out
    if str(dtype) == "geometry":
        geoms = np.asarray(series.array, dtype=object)
        wkt = shapely.to_wkt(geoms)
        return [None if w is None else str(w) for w in wkt]
    return [jsonable(v) for v in series.astype(object).tolist()]


def round_coordinates(geoms: np.ndarray, precision: int) -> np.ndarray:
    """2-D copies of ``geoms`` with every coordinate rounded to ``precision`` decimals.

    ``np.round`` divides an exactly representable integer by ``10**precision``, so each result is
    the double nearest to a decimal with at most ``precision`` decimals and ``repr`` (hence
    ``json``) prints no more digits than that.
    """
    flat = shapely.force_2d(geoms)
    return shapely.transform(flat, lambda xy: np.round(xy, precision))


def orient_rfc7946(geoms: np.ndarray) -> np.ndarray:
    """Polygon rings in the right-hand rule: exteriors counter-clockwise, holes clockwise."""
    orient_polygons = getattr(shapely, "orient_polygons", None)
    if orient_polygons is not None:  # shapely >= 2.1
        return orient_polygons(geoms, exterior_cw=False)
    return np.array([_orient_one(g) for g in geoms], dtype=object)


def _orient_one(geom: BaseGeometry | None) -> BaseGeometry | None:
    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
    from shapely.geometry.polygon import orient

    if isinstance(geom, Polygon):
        return orient(geom, sign=1.0)
    if isinstance(geom, MultiPolygon):
        return MultiPolygon([orient(p, sign=1.0) for p in geom.geoms])
    if isinstance(geom, GeometryCollection):
        return GeometryCollection([_orient_one(g) for g in geom.geoms])
    return geom


def _positions(coords: Any) -> list[Any]:
    """Nested tuples of a ``__geo_interface__`` as nested lists of floats."""
    if coords and isinstance(coords[0], int | float):
        return [float(c) for c in coords]
    return [_positions(c) for c in coords]


def geometry_json(geom: BaseGeometry) -> dict[str, Any]:
    """The RFC 7946 geometry object of one non-empty shapely geometry (lists, not tuples)."""
    mapping = geom.__geo_interface__
    if mapping["type"] == "GeometryCollection":
        return {
            "type": "GeometryCollection",
            "geometries": [geometry_json(g) for g in geom.geoms if not g.is_empty],
        }
    return {"type": mapping["type"], "coordinates": _positions(mapping["coordinates"])}
