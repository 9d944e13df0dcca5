"""GeoPackages: every layer as one table of a file (:func:`save_geopackage`), with QML styles in
the ``layer_styles`` table that QGIS applies on opening."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from siting._json import jsonable, to_json
from siting.export._frames import check_gdf, to_crs
from siting.export._geojson import column_json_values
from siting.export.styles import add_field_aliases
from siting_errors import CRSError, InputError

__all__ = ["check_layer_names", "save_geopackage"]

logger = logging.getLogger(__name__)

_RESERVED_TABLE_PREFIXES = ("gpkg_", "rtree_", "sqlite_")
_STYLES_TABLE = "layer_styles"

#: The geometry type an empty standard layer is declared with (a layer with shapes gets the
#: type of its shapes), so that GIS software opens it typed instead of ``Unknown``.
STANDARD_GEOMETRY_TYPES: dict[str, str] = {
    "sites": "Point",
    "candidates": "Point",
    "demand": "Point",
    "uncoverable": "Point",
    "touring": "Point",
    "village_groups": "Point",
    "assignments": "LineString",
    "service_areas": "MultiPolygon",
    "demand_grid": "Polygon",
    "admin_units": "MultiPolygon",
    "compliance": "MultiPolygon",
}


def _geometry_type(frame: gpd.GeoDataFrame, name: str) -> str | None:
    """``None`` (pyogrio infers it, promoting mixed single and multi parts to multi) when the
    layer has shapes, else the standard layer's type (``Unknown`` for other layers)."""
    geoms = frame.geometry
    if bool((geoms.notna() & ~geoms.is_empty).any()):
        return None
    return STANDARD_GEOMETRY_TYPES.get(name, "Unknown")


def check_layer_names(names: Iterable[Any], *, what: str = "`layers`") -> list[str]:
    seen: dict[str, str] = {}
    out = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{what}: layer names must be non-empty strings, got {name!r}")
        if name != name.strip():
            raise InputError(
                f"{what}: layer name {name!r} has leading or trailing white space; expected "
                f"{name.strip()!r}"
            )
        low = name.lower()
        if low == _STYLES_TABLE or low.startswith(_RESERVED_TABLE_PREFIXES):
            raise InputError(
                f"{what}: layer name {name!r} is reserved in GeoPackages (no "
                f"{_STYLES_TABLE!r}, no names starting with {list(_RESERVED_TABLE_PREFIXES)})"
            )
        if low in seen:
            raise InputError(
                f"{what}: duplicate layer names {seen[low]!r} and {name!r} (GeoPackage table "
                "names are case-insensitive)"
            )
        seen[low] = name
        out.append(name)
    return out


def _check_styles(styles: Mapping[str, str] | None) -> dict[str, str]:
    if styles is None:
        return {}
    if not isinstance(styles, Mapping):
        raise InputError(f"`styles` must map layer names to QML text, got {type(styles).__name__}")
    out = {}
    for layer, qml in styles.items():
        if not isinstance(qml, str):
            raise InputError(
                f"`styles[{layer!r}]` must be QML text (str), got {type(qml).__name__}"
            )
        try:
            root = ET.fromstring(qml)
        except ET.ParseError as exc:
            raise InputError(f"`styles[{layer!r}]` is not well-formed XML: {exc}") from exc
        if root.tag != "qgis":
            raise InputError(
                f"`styles[{layer!r}]` must be QML with a <qgis> root element, got <{root.tag}>"
            )
        out[str(layer)] = qml
    return out


def _gpkg_value(value: Any) -> Any:
    """One value of a mixed object column as something a GeoPackage field holds (text)."""
    v = jsonable(value)
    if v is None or isinstance(v, str):
        return v
    return to_json(v, compact=True) if isinstance(v, dict | list) else str(v)


def _gpkg_column(series: pd.Series) -> pd.Series:
    """A column with a dtype pyogrio writes: objects → typed or text, durations → ISO text."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _gpkg_column(series.astype(object))
    if isinstance(dtype, pd.DatetimeTZDtype):  # GeoPackage stores date-times in UTC
        return series.dt.tz_convert("UTC")
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        return series.map(jsonable).astype(object)
    if str(dtype) == "geometry":
        return pd.Series(column_json_values(series), index=series.index, dtype=object)
    if not (isinstance(dtype, np.dtype) and dtype.kind == "O"):
        return series
    present = [v for v in series.tolist() if jsonable(v) is not None]
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return series.astype("boolean")
    if present and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in present
    ):
        return series.astype("Int64")
    if all(isinstance(v, str) for v in present):
        return series.map(lambda v: v if isinstance(v, str) else None).astype(object)
    return series.map(_gpkg_value).astype(object)


def _free_name(wanted: Sequence[str], taken: set[str]) -> str:
    for candidate in wanted:
        if candidate.lower() not in taken:
            return candidate
    k = 1
    while f"{wanted[0]}_{k}".lower() in taken:
        k += 1
    return f"{wanted[0]}_{k}"


def _gpkg_frame(gdf: gpd.GeoDataFrame, name: str) -> tuple[gpd.GeoDataFrame, str, str]:
    """The layer ready for pyogrio, its FID column name and its geometry column name."""
    geom_col = gdf.geometry.name
    data = {}
    seen: dict[str, Any] = {}
    for col in gdf.columns:
        if col == geom_col:
            continue
        key = str(col)
        if key.lower() in seen:
            raise InputError(
                f"layer {name!r}: columns {seen[key.lower()]!r} and {col!r} would be the same "
                "GeoPackage field (field names are case-insensitive)"
            )
        seen[key.lower()] = col
        data[key] = _gpkg_column(gdf[col])
    taken = set(seen)
    fid = _free_name(["fid", "ogc_fid", "gpkg_fid"], taken)
    geometry = _free_name(["geom", "geometry", "the_geom"], taken)
    frame = gpd.GeoDataFrame(
        pd.DataFrame(data, index=gdf.index),
        geometry=gpd.GeoSeries(gdf.geometry.array, index=gdf.index, crs=gdf.crs),
        crs=gdf.crs,
    ).reset_index(drop=True)
    return frame, fid, geometry


_STYLES_DDL = f"""
CREATE TABLE {_STYLES_TABLE} (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  f_table_catalog TEXT(256),
  f_table_schema TEXT(256),
  f_table_name TEXT(256),
  f_geometry_column TEXT(256),
  styleName TEXT(30),
  styleQML TEXT,
  styleSLD TEXT,
  useAsDefault BOOLEAN,
  description TEXT,
  owner TEXT(30),
  ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)
"""


def _write_styles(
    path: Path, styles: Mapping[str, str], geometry_columns: Mapping[str, str]
) -> int:
    """Add the ``layer_styles`` table (one default style per styled layer) with sqlite3 and
    register it in ``gpkg_contents`` so GDAL and QGIS list it; return the rows written."""
    rows = [
        (layer, geometry_columns[layer], layer, qml, f"siting style for layer {layer}")
        for layer, qml in styles.items()
        if layer in geometry_columns
    ]
    if not rows:
        return 0
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute(_STYLES_DDL)
        con.executemany(
            f"INSERT INTO {_STYLES_TABLE} (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '')",
            rows,
        )
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change) VALUES (?, 'attributes', ?, 'QGIS layer styles', "
            "strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
            (_STYLES_TABLE, _STYLES_TABLE),
        )
        has_counts = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_ogr_contents'"
        ).fetchone()
        if has_counts:
            con.execute(
                "INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, ?)",
                (_STYLES_TABLE, len(rows)),
            )
    return len(rows)


def save_geopackage(
    layers: Mapping[str, gpd.GeoDataFrame],
    path: str | Path,
    *,
    styles: Mapping[str, str] | None = None,
    crs: Any = "EPSG:4326",
) -> Path:
    """Write every layer as one table of a GeoPackage at ``path`` (replacing the file) and
    return its path.

    Args:
        layers: layer name → GeoDataFrame (each with a CRS). Names must be non-empty, unique
            ignoring case, and not reserved (``layer_styles``, ``gpkg_*``, ``rtree_*``).
        path: the ``.gpkg`` file; written to a temporary file first, then moved into place.
        styles: layer name → QML text, stored in the ``layer_styles`` table as each layer's
            default style (QGIS applies it on opening); styles for absent layers are ignored.
        crs: the CRS every layer is written in (default EPSG:4326); ``None`` keeps each
            layer's own CRS.

    Every field of a styled layer gets an alias in its style (the bilingual one of a known
    field, else the name with spaces); an empty layer is declared with its standard geometry
    type (:data:`STANDARD_GEOMETRY_TYPES`). Field names are the column names as given
    (Chinese included); mixed object columns are
    written as text, durations as ISO 8601 text. A data column named ``fid`` or ``geom`` is
    kept by naming the FID / geometry column differently.

    Raises:
        InputError: bad layer names, non-GeoDataFrames, field names equal ignoring case, or
            styles that are not QML.
        CRSError: a layer without CRS, or a ``crs`` that is not a CRS.
    """
    import pyogrio

    if not isinstance(layers, Mapping) or not layers:
        raise InputError("`layers` must be a non-empty mapping of layer name → GeoDataFrame")
    names = check_layer_names(layers)
    style_map = _check_styles(styles)
    if crs is not None:
        try:
            crs = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise CRSError(f"`crs` must be a valid CRS or None, got {crs!r}") from exc
    frames = {}
    for name in names:
        gdf = check_gdf(layers[name], name)
        frames[name] = _gpkg_frame(gdf if crs is None else to_crs(gdf, crs, name), name)
    ignored = sorted(set(style_map) - set(names))
    if ignored:
        logger.debug("no layer for styles %s; not written", ignored)

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.{os.getpid()}.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    try:
        geometry_columns: dict[str, str] = {}
        for name, (frame, fid, geometry) in frames.items():
            pyogrio.write_dataframe(
                frame,
                tmp,
                layer=name,
                driver="GPKG",
                geometry_type=_geometry_type(frame, name),
                # GeoPackage 1.2: read without warnings by older GDAL / QGIS too
                dataset_options=None if geometry_columns else {"VERSION": "1.2"},
                layer_options={"FID": fid, "GEOMETRY_NAME": geometry},
            )
            geometry_columns[name] = geometry
        # every field of a styled layer gets a readable alias in its style
        style_map = {
            layer: add_field_aliases(
                qml, layer, [c for c in frames[layer][0].columns if c != "geometry"]
            )
            for layer, qml in style_map.items()
            if layer in frames
        }
        n_styles = _write_styles(tmp, style_map, geometry_columns)
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %d layers and %d styles to %s", len(frames), n_styles, p)
    return p
