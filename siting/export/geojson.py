"""RFC 7946 GeoJSON: a layer as a FeatureCollection (:func:`geojson_dict`), its text
(:func:`geojson_text`, one feature per line) and file (:func:`save_geojson`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._json import jsonable, to_json
from siting.export._frames import check_gdf, to_crs, write_text_atomic
from siting.export._geojson import (
    column_json_values,
    geometry_json,
    orient_rfc7946,
    round_coordinates,
)
from siting_errors import CRSError, InputError

__all__ = ["geojson_dict", "geojson_text", "save_geojson"]

logger = logging.getLogger(__name__)

_RESERVED_MEMBERS = frozenset(
    {"type", "features", "crs", "bbox", "coordinates", "geometries", "geometry", "properties"}
)


def _check_precision(precision: Any) -> int:
    if isinstance(precision, bool) or not isinstance(precision, int | np.integer):
        raise InputError(f"`precision` must be an integer from 0 to 15, got {precision!r}")
    if not 0 <= precision <= 15:
        raise InputError(f"`precision` must be an integer from 0 to 15, got {precision}")
    return int(precision)


def _property_columns(
    gdf: gpd.GeoDataFrame, properties: Sequence[str] | Mapping[str, str] | None, name: str
) -> dict[Any, str]:
    """Which columns become properties, and under which names (source column → name)."""
    geom_col = gdf.geometry.name
    if properties is None:
        chosen = {c: str(c) for c in gdf.columns if c != geom_col}
    else:
        if isinstance(properties, str | bytes):
            raise InputError(
                f"`properties` must be a sequence of column names or a mapping column → name, "
                f"got the string {properties!r}"
            )
        if isinstance(properties, Mapping):
            chosen = {c: str(new) for c, new in properties.items()}
        else:
            chosen = {c: str(c) for c in properties}
        missing = [c for c in chosen if c not in gdf.columns]
        if missing:
            raise InputError(
                f"`properties` of layer {name!r} names columns that do not exist: {missing}; "
                f"columns are {[c for c in gdf.columns if c != geom_col]}"
            )
        if geom_col in chosen:
            raise InputError(
                f"`properties` of layer {name!r} must not include the geometry column {geom_col!r}"
            )
    seen: dict[str, Any] = {}
    for col, key in chosen.items():
        if key in seen:
            raise InputError(
                f"layer {name!r}: columns {seen[key]!r} and {col!r} would both become the "
                f"property {key!r}"
            )
        seen[key] = col
    return chosen


def _feature_ids(
    values: list[Any], index: pd.Index, id_column: str, name: str
) -> list[str | int | float]:
    missing = [index[k] for k, v in enumerate(values) if v is None]
    if missing:
        raise InputError(
            f"id column {id_column!r} of layer {name!r} has {len(missing)} missing value(s) "
            f"(index {missing[:5]}); every feature needs an id"
        )
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, str | int | float)]
    if bad:
        raise InputError(
            f"id column {id_column!r} of layer {name!r} must hold strings or numbers, "
            f"got {bad[0]!r}"
        )
    dup = pd.Series(values).duplicated(keep=False)
    if dup.any():
        first = values[int(np.flatnonzero(dup.to_numpy())[0])]
        raise InputError(
            f"id column {id_column!r} of layer {name!r} has duplicate ids "
            f"({int(dup.sum())} rows share an id, e.g. {first!r}); ids must be unique"
        )
    return values


def _extra_members(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise InputError(f"`extra` must be a mapping of member names to values, got {extra!r}")
    out: dict[str, Any] = {}
    for key, value in extra.items():
        if not isinstance(key, str):
            raise InputError(f"`extra` member names must be strings, got {key!r}")
        if key in _RESERVED_MEMBERS:
            raise InputError(
                f"`extra` member {key!r} is reserved by GeoJSON; reserved names are "
                f"{sorted(_RESERVED_MEMBERS)}"
            )
        out[key] = jsonable(value)
    return out


def _geometries(gdf: gpd.GeoDataFrame, precision: int, name: str) -> list[dict[str, Any] | None]:
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out: list[dict[str, Any] | None] = [None] * len(geoms)
    if not present.any():
        return out
    rows = np.flatnonzero(present)
    shaped = orient_rfc7946(round_coordinates(geoms[rows], precision))
    xy = shapely.get_coordinates(shaped)
    if not np.isfinite(xy).all():
        bad = [
            gdf.index[r]
            for r, g in zip(rows, shaped, strict=True)
            if not np.isfinite(shapely.get_coordinates(g)).all()
        ]
        raise CRSError(
            f"layer {name!r}: {len(bad)} feature(s) (index {bad[:5]}) have coordinates that "
            "are not finite in EPSG:4326 (outside the source CRS's area of use?)"
        )
    for r, geom in zip(rows, shaped, strict=True):
        out[int(r)] = geometry_json(geom)
    return out


def geojson_dict(
    gdf: gpd.GeoDataFrame,
    *,
    precision: int = 6,
    properties: Sequence[str] | Mapping[str, str] | None = None,
    id_column: str | None = None,
    extra: Mapping[str, Any] | None = None,
    name: str = "layer",
) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection of ``gdf`` (pure; see the module docstring).

    Args:
        gdf: the layer; must have a CRS (its coordinates are reprojected to EPSG:4326).
        precision: decimals kept in coordinates, 0..15 (6 ≈ 0.1 m).
        properties: columns to keep, in order (a sequence), or column → property name (a
            mapping); ``None`` keeps every non-geometry column under its own name.
        id_column: column whose values become each feature's ``id`` (strings or numbers,
            unique, none missing); it stays in the properties too.
        extra: foreign top-level members such as ``coverage`` or ``status`` (JSON-safe after
            conversion; GeoJSON's own member names are refused).
        name: the layer's name, used in error messages.

    Raises:
        CRSError: ``gdf`` has no CRS, or its coordinates cannot be reprojected.
        InputError: bad ``precision``, ``properties``, ``id_column`` or ``extra``.
    """
    gdf = check_gdf(gdf, name)
    precision = _check_precision(precision)
    columns = _property_columns(gdf, properties, name)
    if id_column is not None and id_column not in gdf.columns:
        raise InputError(
            f"`id_column` {id_column!r} is not a column of layer {name!r}; columns are "
            f"{[c for c in gdf.columns if c != gdf.geometry.name]}"
        )
    top = _extra_members(extra)
    wgs = to_crs(gdf, "EPSG:4326", name)
    geometries = _geometries(wgs, precision, name)
    values = {key: column_json_values(wgs[col]) for col, key in columns.items()}
    ids = (
        _feature_ids(column_json_values(wgs[id_column]), wgs.index, id_column, name)
        if id_column is not None
        else None
    )
    keys = list(values)
    features: list[dict[str, Any]] = []
    for k, geometry in enumerate(geometries):
        feature: dict[str, Any] = {"type": "Feature"}
        if ids is not None:
            feature["id"] = ids[k]
        feature["geometry"] = geometry
        feature["properties"] = {key: values[key][k] for key in keys}
        features.append(feature)
    return {"type": "FeatureCollection", **top, "features": features}


def geojson_text(doc: Mapping[str, Any]) -> str:
    """A FeatureCollection as compact but readable JSON: top-level members first, then one
    feature per line."""
    head = {k: v for k, v in doc.items() if k != "features"}
    features = doc.get("features", [])
    body = ",\n".join(to_json(f, compact=True) for f in features)
    start = to_json(head, compact=True)[:-1] + ("," if head else "")
    return start + '"features":[' + (f"\n{body}\n" if body else "") + "]}\n"


def save_geojson(
    gdf: gpd.GeoDataFrame,
    path: str | Path,
    *,
    precision: int = 6,
    properties: Sequence[str] | Mapping[str, str] | None = None,
    id_column: str | None = None,
    extra: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Path:
    """Write ``gdf`` as an RFC 7946 GeoJSON file (UTF-8, Chinese kept as is, one feature per
    line) and return its path. Arguments as in :func:`geojson_dict`; ``name`` defaults to the
    file's stem. The file is replaced atomically."""
    p = Path(path)
    layer = p.stem if name is None else name
    doc = geojson_dict(
        gdf,
        precision=precision,
        properties=properties,
        id_column=id_column,
        extra=extra,
        name=layer,
    )
    write_text_atomic(p, geojson_text(doc))
    logger.info("wrote %d features of layer %r to %s", len(doc["features"]), layer, p)
    return p
