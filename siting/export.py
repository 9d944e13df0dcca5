"""Exports for GIS users: RFC 7946 GeoJSON and multi-layer GeoPackages styled for QGIS.

Takes GeoDataFrames only, so it serves every result type. GeoJSON is always WGS84 (EPSG:4326)
with coordinates rounded to ``precision`` decimals (6 ≈ 0.1 m), polygon rings in the right-hand
rule (exterior counter-clockwise, holes clockwise) and no ``crs`` member. GeoPackage layers carry
QML styles in the standard ``layer_styles`` table, so QGIS opens them styled.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from siting_errors import CRSError, InputError

__all__ = ["default_styles", "geojson_dict", "save_geojson", "save_geopackage"]

logger = logging.getLogger(__name__)


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | np.datetime64):
        return str(
            np.datetime_as_string(value) if isinstance(value, np.datetime64) else value.isoformat()
        )
    if isinstance(value, str):
        return value
    try:
        if value != value:  # NaN-like (pd.NA raises)
            return None
    except (TypeError, ValueError):
        return None
    return str(value)


def _round(obj: Any, precision: int) -> Any:
    if isinstance(obj, dict):
        return {k: _round(v, precision) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        if obj and isinstance(obj[0], int | float):
            return [round(float(v), precision) for v in obj[:2]]
        return [_round(v, precision) for v in obj]
    return obj


def geojson_dict(
    gdf: gpd.GeoDataFrame,
    *,
    precision: int = 6,
    id_column: str | None = None,
    extra: Mapping[str, Any] | None = None,
    name: str = "layer",
) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection of ``gdf`` (see the module docstring)."""
    if gdf.crs is None:
        raise CRSError(f"layer {name!r} has no CRS; set one before exporting")
    if not 0 <= precision <= 15:
        raise InputError(f"`precision` must be in 0..15, got {precision}")
    wgs = gdf.to_crs("EPSG:4326") if not gdf.crs.equals("EPSG:4326") else gdf
    geoms = wgs.geometry.to_numpy()
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = geoms.copy()
    geoms[valid] = shapely.orient_polygons(geoms[valid], exterior_cw=False)
    columns = [c for c in wgs.columns if c != wgs.geometry.name]
    records = wgs[columns].to_dict(orient="records")
    features = []
    for k, (geom, props) in enumerate(zip(geoms, records, strict=True)):
        feature: dict[str, Any] = {
            "type": "Feature",
            "geometry": _round(shapely.geometry.mapping(geom), precision) if valid[k] else None,
            "properties": {str(key): _json_value(v) for key, v in props.items()},
        }
        if id_column is not None:
            feature["id"] = _json_value(props[id_column])
        features.append(feature)
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if extra:
        for key, value in extra.items():
            if key in ("type", "features", "crs"):
                raise InputError(f"extra member {key!r} would clash with GeoJSON members")
            out[key] = value
    return out


def save_geojson(
    gdf: gpd.GeoDataFrame,
    path: str | Path,
    *,
    precision: int = 6,
    id_column: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``gdf`` as RFC 7946 GeoJSON (UTF-8, Chinese kept as is)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = geojson_dict(gdf, precision=precision, id_column=id_column, extra=extra, name=p.stem)
    p.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return p


_STYLES_DDL = """
CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
  f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT,
  styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))
"""


def save_geopackage(
    layers: Mapping[str, gpd.GeoDataFrame],
    path: str | Path,
    *,
    styles: Mapping[str, str] | None = None,
    crs: str = "EPSG:4326",
) -> Path:
    """Write every layer into one GeoPackage (replacing the file), in ``crs``, with optional QML
    styles per layer stored in ``layer_styles``."""
    import pyogrio

    if not layers:
        raise InputError("`layers` is empty; nothing to write")
    for name in layers:
        if not name or not str(name).strip():
            raise InputError(f"layer names must be non-empty, got {name!r}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        p.unlink()
    for name, gdf in layers.items():
        if gdf.crs is None:
            raise CRSError(f"layer {name!r} has no CRS; set one before exporting")
        out = gdf.to_crs(crs)
        # GeoPackage cannot hold object columns of mixed types: make them strings
        for col in out.columns:
            if col != out.geometry.name and out[col].dtype == object:
                out[col] = out[col].map(lambda v: None if v is None or v != v else str(v))
        pyogrio.write_dataframe(out, p, layer=name, driver="GPKG", append=p.exists())
    if styles:
        with sqlite3.connect(p) as con:
            con.execute(_STYLES_DDL)
            con.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier)"
                " VALUES ('layer_styles', 'attributes', 'layer_styles')"
            )
            for name in layers:
                if name in styles:
                    geom_col = con.execute(
                        "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                        (name,),
                    ).fetchone()
                    con.execute(
                        "INSERT INTO layer_styles (f_table_catalog, f_table_schema, "
                        "f_table_name, f_geometry_column, styleName, styleQML, styleSLD, "
                        "useAsDefault, description, owner, ui) VALUES "
                        "('', '', ?, ?, ?, ?, '', 1, ?, '', '')",
                        (
                            name,
                            geom_col[0] if geom_col else "geom",
                            name,
                            styles[name],
                            f"siting default style for {name}",
                        ),
                    )
    return p


def _qml(renderer: str, extra: str = "") -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="3.28.0" styleCategories="Symbology|Labeling">{renderer}{extra}'
        "</qgis>\n"
    )


def _symbol(kind: str, name: str, props: dict[str, str]) -> str:
    layer_class = {"marker": "SimpleMarker", "line": "SimpleLine", "fill": "SimpleFill"}[kind]
    options = "".join(f'<Option type="QString" name="{k}" value="{v}"/>' for k, v in props.items())
    return (
        f'<symbol type="{kind}" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="{layer_class}" enabled="1" locked="0" pass="0">'
        f'<Option type="Map">{options}</Option></layer></symbol>'
    )


def default_styles() -> dict[str, str]:
    """QML styles for the standard plan layers (sites by status, demand by travel time, ...)."""
    sites = _qml(
        '<renderer-v2 type="categorizedSymbol" attr="status" symbollevels="0" enableorderby="0">'
        '<categories><category value="existing" symbol="0" label="existing" render="true"/>'
        '<category value="new" symbol="1" label="new" render="true"/></categories><symbols>'
        + _symbol("marker", "0", {"name": "square", "color": "31,120,180,255", "size": "4"})
        + _symbol("marker", "1", {"name": "star", "color": "227,26,28,255", "size": "5"})
        + "</symbols></renderer-v2>"
    )
    ranges = [
        (0, 5, "26,150,65,255", "0-5 min"),
        (5, 10, "166,217,106,255", "5-10 min"),
        (10, 15, "253,174,97,255", "10-15 min"),
        (15, 1e9, "215,25,28,255", "> 15 min"),
    ]
    demand = _qml(
        '<renderer-v2 type="graduatedSymbol" attr="travel_time_min" graduatedMethod="GraduatedColor"'
        ' symbollevels="0" enableorderby="0"><ranges>'
        + "".join(
            f'<range lower="{lo}" upper="{hi}" symbol="{k}" label="{lab}" render="true"/>'
            for k, (lo, hi, _c, lab) in enumerate(ranges)
        )
        + "</ranges><symbols>"
        + "".join(
            _symbol("marker", str(k), {"name": "circle", "color": c, "size": "1.6"})
            for k, (_lo, _hi, c, _lab) in enumerate(ranges)
        )
        + "</symbols></renderer-v2>"
    )
    lines = _qml(
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0"><symbols>'
        + _symbol("line", "0", {"line_color": "150,150,150,120", "line_width": "0.2"})
        + "</symbols></renderer-v2>"
    )
    areas = _qml(
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0"><symbols>'
        + _symbol("fill", "0", {"color": "44,162,95,70", "outline_color": "44,162,95,200"})
        + "</symbols></renderer-v2>"
    )
    units = _qml(
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0"><symbols>'
        + _symbol(
            "fill",
            "0",
            {
                "color": "0,0,0,0",
                "style": "no",
                "outline_color": "60,60,60,255",
                "outline_width": "0.6",
            },
        )
        + "</symbols></renderer-v2>",
        '<labeling type="simple"><settings><text-style fieldName="name" '
        'fontSize="10"/></settings></labeling>',
    )
    candidates = _qml(
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0">'
        "<symbols>"
        + _symbol("marker", "0", {"name": "circle", "color": "180,180,180,255", "size": "2"})
        + "</symbols></renderer-v2>"
    )
    return {
        "sites": sites,
        "demand": demand,
        "assignments": lines,
        "service_areas": areas,
        "admin_units": units,
        "candidates": candidates,
    }
