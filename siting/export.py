"""Exports for GIS users: RFC 7946 GeoJSON and multi-layer GeoPackages styled for QGIS.

Takes GeoDataFrames only (layers such as ``sites``, ``demand``, ``assignments``,
``service_areas``, ``admin_units``), so it serves every result type.

GeoJSON (:func:`geojson_dict`, :func:`save_geojson`) follows RFC 7946: coordinates in WGS84
(EPSG:4326) as ``[lon, lat]`` rounded to ``precision`` decimals (6 ≈ 0.1 m), polygon rings in the
right-hand rule (exteriors counter-clockwise, holes clockwise), no ``crs`` member, JSON-safe
properties (NaN → ``null``, timestamps → ISO 8601) and ``null`` geometry for empty or missing
shapes. Geometries are written in 2-D; lines crossing the antimeridian are not split.

GeoPackages (:func:`save_geopackage`) hold one table per layer, in EPSG:4326 unless told
otherwise, and optional QML styles in the standard ``layer_styles`` table that QGIS reads, so the
layers open styled. :func:`default_styles` gives those styles for the standard layers;
:func:`save_layers` writes a whole set of layers in one call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
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
import shapely

from siting._geojson import (
    column_json_values,
    geometry_json,
    json_value,
    orient_rfc7946,
    round_coordinates,
)
from siting_errors import CRSError, InputError

__all__ = [
    "LAYER_FORMATS",
    "default_styles",
    "field_aliases",
    "geojson_dict",
    "geojson_text",
    "save_geojson",
    "save_geopackage",
    "save_layers",
]

logger = logging.getLogger(__name__)

LAYER_FORMATS = ("geojson", "gpkg")
"""The formats :func:`save_layers` writes."""

_RESERVED_MEMBERS = frozenset(
    {"type", "features", "crs", "bbox", "coordinates", "geometries", "geometry", "properties"}
)
_RESERVED_TABLE_PREFIXES = ("gpkg_", "rtree_", "sqlite_")
_STYLES_TABLE = "layer_styles"


# ---------------------------------------------------------------------------------------------
# GeoJSON


def _check_gdf(gdf: Any, name: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"layer {name!r} must be a GeoDataFrame, got {type(gdf).__name__}")
    try:
        gdf.geometry  # noqa: B018 - raises when there is no active geometry column
    except AttributeError as exc:
        raise InputError(f"layer {name!r} has no active geometry column") from exc
    if gdf.crs is None:
        raise CRSError(
            f"layer {name!r} has no CRS; set the CRS its coordinates are in "
            "(gdf.set_crs(...)) before exporting"
        )
    return gdf


def _to_crs(gdf: gpd.GeoDataFrame, crs: Any, name: str) -> gpd.GeoDataFrame:
    try:
        target = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"`crs` must be a valid CRS, got {crs!r}") from exc
    if gdf.crs.equals(target):
        return gdf
    try:
        return gdf.to_crs(target)
    except (pyproj.exceptions.CRSError, pyproj.exceptions.ProjError) as exc:
        raise CRSError(
            f"layer {name!r} cannot be reprojected from {gdf.crs.to_string()} to "
            f"{target.to_string()}: {exc}"
        ) from exc


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
        out[key] = json_value(value)
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
    gdf = _check_gdf(gdf, name)
    precision = _check_precision(precision)
    columns = _property_columns(gdf, properties, name)
    if id_column is not None and id_column not in gdf.columns:
        raise InputError(
            f"`id_column` {id_column!r} is not a column of layer {name!r}; columns are "
            f"{[c for c in gdf.columns if c != gdf.geometry.name]}"
        )
    top = _extra_members(extra)
    wgs = _to_crs(gdf, "EPSG:4326", name)
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


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def geojson_text(doc: Mapping[str, Any]) -> str:
    """A FeatureCollection as compact but readable JSON: top-level members first, then one
    feature per line."""
    head = {k: v for k, v in doc.items() if k != "features"}
    features = doc.get("features", [])
    body = ",\n".join(_dumps(f) for f in features)
    start = _dumps(head)[:-1] + ("," if head else "")
    return start + '"features":[' + (f"\n{body}\n" if body else "") + "]}\n"


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


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
    _write_text_atomic(p, geojson_text(doc))
    logger.info("wrote %d features of layer %r to %s", len(doc["features"]), layer, p)
    return p


# ---------------------------------------------------------------------------------------------
# GeoPackage


def _check_layer_names(names: Iterable[Any], *, what: str = "`layers`") -> list[str]:
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
    v = json_value(value)
    if v is None or isinstance(v, str):
        return v
    return _dumps(v) if isinstance(v, dict | list) else str(v)


def _gpkg_column(series: pd.Series) -> pd.Series:
    """A column with a dtype pyogrio writes: objects → typed or text, durations → ISO text."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _gpkg_column(series.astype(object))
    if isinstance(dtype, pd.DatetimeTZDtype):  # GeoPackage stores date-times in UTC
        return series.dt.tz_convert("UTC")
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        return series.map(json_value).astype(object)
    if str(dtype) == "geometry":
        return pd.Series(column_json_values(series), index=series.index, dtype=object)
    if not (isinstance(dtype, np.dtype) and dtype.kind == "O"):
        return series
    present = [v for v in series.tolist() if json_value(v) is not None]
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

    Field names are the column names as given (Chinese included); mixed object columns are
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
    names = _check_layer_names(layers)
    style_map = _check_styles(styles)
    if crs is not None:
        try:
            crs = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise CRSError(f"`crs` must be a valid CRS or None, got {crs!r}") from exc
    frames = {}
    for name in names:
        gdf = _check_gdf(layers[name], name)
        frames[name] = _gpkg_frame(gdf if crs is None else _to_crs(gdf, crs, name), name)
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
                # GeoPackage 1.2: read without warnings by older GDAL / QGIS too
                dataset_options=None if geometry_columns else {"VERSION": "1.2"},
                layer_options={"FID": fid, "GEOMETRY_NAME": geometry},
            )
            geometry_columns[name] = geometry
        n_styles = _write_styles(tmp, style_map, geometry_columns)
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %d layers and %d styles to %s", len(frames), n_styles, p)
    return p


# ---------------------------------------------------------------------------------------------
# Several layers at once


def _check_file_part(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must be a non-empty string, got {value!r}")
    if any(ch in value for ch in '/\\:*?"<>|\0') or value in (".", ".."):
        raise InputError(
            f'{what} must be usable in a file name (no path separators or /\\:*?"<>|), '
            f"got {value!r}"
        )
    return value


def save_layers(
    layers: Mapping[str, gpd.GeoDataFrame],
    directory: str | Path,
    *,
    formats: Sequence[str] = LAYER_FORMATS,
    stem: str = "plan",
    styles: Mapping[str, str] | None = None,
    precision: int = 6,
    crs: Any = "EPSG:4326",
    id_columns: Mapping[str, str] | None = None,
    extra_members: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write every layer as ``<stem>_<layer>.geojson`` and all of them into ``<stem>.gpkg``.

    Args:
        layers: layer name → GeoDataFrame.
        directory: output folder (created when missing).
        formats: any of ``"geojson"`` and ``"gpkg"``.
        stem: the file-name prefix.
        styles: QML per layer for the GeoPackage; ``None`` uses :func:`default_styles`,
            ``{}`` writes none.
        precision: GeoJSON coordinate decimals.
        crs: the GeoPackage's CRS (``None`` keeps each layer's own).
        id_columns: layer name → column used as GeoJSON feature ``id``.
        extra_members: layer name → extra top-level GeoJSON members (e.g. coverage).

    Returns:
        ``"<layer>.geojson"`` → path for each layer, and ``"gpkg"`` → path.

    Every GeoJSON document is built (and so checked) before anything is written.
    """
    if not isinstance(layers, Mapping) or not layers:
        raise InputError("`layers` must be a non-empty mapping of layer name → GeoDataFrame")
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in LAYER_FORMATS]
    if bad or not formats:
        raise InputError(
            f"`formats` must be a non-empty selection of {list(LAYER_FORMATS)}, got {list(formats)}"
        )
    stem = _check_file_part(stem, "`stem`")
    names = _check_layer_names(layers)
    for name in names:
        _check_file_part(name, f"layer name {name!r}")
    id_columns = dict(id_columns or {})
    extra_members = dict(extra_members or {})
    for what, mapping in (("id_columns", id_columns), ("extra_members", extra_members)):
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise InputError(
                f"`{what}` names layers that do not exist: {unknown}; layers are {names}"
            )

    out_dir = Path(directory)
    docs = {}
    if "geojson" in formats:
        docs = {
            name: geojson_dict(
                layers[name],
                precision=precision,
                id_column=id_columns.get(name),
                extra=extra_members.get(name),
                name=name,
            )
            for name in names
        }
    files: dict[str, Path] = {}
    if "gpkg" in formats:
        files["gpkg"] = save_geopackage(
            layers,
            out_dir / f"{stem}.gpkg",
            styles=default_styles() if styles is None else styles,
            crs=crs,
        )
    for name, doc in docs.items():
        path = out_dir / f"{stem}_{name}.geojson"
        _write_text_atomic(path, geojson_text(doc))
        files[f"{name}.geojson"] = path
    logger.info("wrote %d files to %s", len(files), out_dir)
    return files


# ---------------------------------------------------------------------------------------------
# QGIS styles (QML)

#: Readable aliases (Chinese / English) of the standard layers' fields, shown by QGIS in the
#: attribute table and forms; field names themselves stay short ASCII (or as given).
_COMMON_ALIASES: dict[str, str] = {
    "site_id": "设施编号 / site id",
    "name": "名称 / name",
    "existing": "现有设施 / existing",
    "added": "规划人员添加 / added by planner",
    "status": "状态 / status",
    "assigned_population": "服务人口 / assigned residents",
    "covered_population": "圈内人口 / residents within the circle",
    "mean_travel_min": "平均出行时间（分钟）/ mean travel time (min)",
    "max_travel_min": "最长出行时间（分钟）/ max travel time (min)",
    "demand_id": "需求点编号 / demand point id",
    "population": "人口 / population",
    "travel_time_min": "到最近设施出行时间（分钟）/ travel time to nearest site (min)",
    "covered": "在服务圈内 / within the service circle",
    "unit_id": "行政区编号 / admin unit id",
    "unit_name": "所属街道（乡镇）/ admin unit",
    "threshold_min": "服务圈阈值（分钟）/ threshold (min)",
    "reached_nodes": "可达路网节点数 / network nodes reached",
    "coverage_share": "覆盖率 / coverage share",
    "existing_sites": "现有设施数 / existing sites",
    "new_sites": "新增设施数 / new sites",
    "required_centres": "应设中心数（R1）/ required centres (R1)",
    "planned_centres": "规划中心数 / planned centres",
    "shortfall": "缺口 / shortfall",
    "centres_below_band": "低于人口区间的中心 / centres below band",
    "centres_within_band": "人口区间内的中心 / centres within band",
    "centres_above_band": "高于人口区间的中心 / centres above band",
    "flag": "标记 / flag",
    "population_beyond": "圈外人口 / residents beyond the circle",
    "touring_population": "需巡回医疗人口（R3）/ touring-service residents (R3)",
    "rules": "依据规则 / rules",
}
_LAYER_FIELDS: dict[str, tuple[str, ...]] = {
    "sites": (
        "site_id",
        "name",
        "existing",
        "added",
        "status",
        "assigned_population",
        "covered_population",
        "mean_travel_min",
        "max_travel_min",
    ),
    "demand": (
        "demand_id",
        "population",
        "site_id",
        "travel_time_min",
        "covered",
        "unit_id",
        "unit_name",
    ),
    "assignments": ("demand_id", "site_id", "population", "travel_time_min"),
    "service_areas": ("site_id", "threshold_min", "reached_nodes"),
    "admin_units": (
        "unit_id",
        "name",
        "population",
        "covered_population",
        "coverage_share",
        "mean_travel_min",
        "existing_sites",
        "new_sites",
        "required_centres",
        "planned_centres",
        "shortfall",
        "centres_below_band",
        "centres_within_band",
        "centres_above_band",
        "flag",
        "population_beyond",
        "touring_population",
        "status",
        "rules",
    ),
}
_LAYER_FIELDS["candidates"] = _LAYER_FIELDS["sites"]
_LAYER_ALIASES: dict[str, dict[str, str]] = {
    "admin_units": {"status": "合规情况 / compliance status"},
}


def field_aliases(layer: str) -> dict[str, str]:
    """Field name → readable alias (Chinese / English) for a standard layer (``sites``,
    ``candidates``, ``demand``, ``assignments``, ``service_areas``, ``admin_units``); empty
    for other layers. These go into the layers' QML styles (``<aliases>``)."""
    special = _LAYER_ALIASES.get(layer, {})
    return {f: special.get(f, _COMMON_ALIASES[f]) for f in _LAYER_FIELDS.get(layer, ())}


_QGIS_VERSION = "3.22.0-Białowieża"
_SYMBOL_LAYER_CLASS = {"marker": "SimpleMarker", "line": "SimpleLine", "fill": "SimpleFill"}


def _symbol(parent: ET.Element, kind: str, name: str, props: Mapping[str, str]) -> None:
    """A one-layer QGIS symbol; properties both as ``<Option>`` (QGIS ≥ 3.10 reads these)
    and as ``<prop>`` (older 3.x)."""
    symbol = ET.SubElement(
        parent,
        "symbol",
        {"type": kind, "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"},
    )
    layer = ET.SubElement(
        symbol,
        "layer",
        {"class": _SYMBOL_LAYER_CLASS[kind], "enabled": "1", "locked": "0", "pass": "0"},
    )
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in props.items():
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    for key, value in props.items():
        ET.SubElement(layer, "prop", {"k": key, "v": value})


def _qml(
    renderer: ET.Element,
    labeling: ET.Element | None = None,
    aliases: Mapping[str, str] | None = None,
) -> str:
    root = ET.Element(
        "qgis",
        {
            "version": _QGIS_VERSION,
            "styleCategories": "Symbology|Labeling" + ("|Fields" if aliases else ""),
            "labelsEnabled": "1" if labeling is not None else "0",
        },
    )
    root.append(renderer)
    if labeling is not None:
        root.append(labeling)
    if aliases:
        # QGIS (3.x) reads field aliases from <aliases> by field name
        node = ET.SubElement(root, "aliases")
        for fname, alias in aliases.items():
            ET.SubElement(node, "alias", {"field": fname, "name": alias})
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


def _renderer(kind: str, **attrs: str) -> ET.Element:
    return ET.Element(
        "renderer-v2",
        {"type": kind, "symbollevels": "0", "enableorderby": "0", "forceraster": "0", **attrs},
    )


def _single(kind: str, props: Mapping[str, str], layer: str | None = None) -> str:
    renderer = _renderer("singleSymbol")
    _symbol(ET.SubElement(renderer, "symbols"), kind, "0", props)
    return _qml(renderer, aliases=field_aliases(layer) if layer else None)


def _marker(shape: str, fill: str, size: float, outline: str = "35,35,35,255") -> dict[str, str]:
    return {
        "name": shape,
        "color": fill,
        "outline_color": outline,
        "outline_style": "solid",
        "outline_width": "0.2",
        "outline_width_unit": "MM",
        "size": f"{size:g}",
        "size_unit": "MM",
    }


#: the sites' category: ``added`` for a site the planner added in a what-if (stored as an
#: existing site with ``added`` true), else ``status``; ``attribute()`` is NULL, not an error,
#: on layers without an ``added`` field
_SITE_CATEGORY = "CASE WHEN attribute(@feature, 'added') THEN 'added' ELSE \"status\" END"


def _sites_style() -> str:
    renderer = _renderer("categorizedSymbol", attr=_SITE_CATEGORY)
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    classes = [
        ("existing", "existing centre", _marker("square", "31,120,180,255", 3.6)),
        ("added", "site added by the planner", _marker("diamond", "106,61,154,255", 4.2)),
        ("new", "new centre", _marker("star", "227,26,28,255", 5.0)),
        ("candidate", "candidate (not chosen)", _marker("circle", "190,190,190,255", 1.8)),
    ]
    for k, (value, label, props) in enumerate(classes):
        ET.SubElement(
            categories,
            "category",
            {"value": value, "symbol": str(k), "label": label, "render": "true"},
        )
        _symbol(symbols, "marker", str(k), props)
    return _qml(renderer, aliases=field_aliases("sites"))


def _demand_style(threshold: float) -> str:
    # Unreachable demand has a NULL travel time: coalesce puts it in the uncovered class.
    renderer = _renderer(
        "graduatedSymbol",
        attr='coalesce("travel_time_min", 1e9)',
        graduatedMethod="GraduatedColor",
    )
    ranges = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    t = threshold
    classes = [
        (0.0, t / 3, "26,150,65,255", 1.6),
        (t / 3, 2 * t / 3, "166,217,106,255", 1.6),
        (2 * t / 3, t, "253,174,97,255", 1.6),
    ]
    for k, (lo, hi, colour, size) in enumerate(classes):
        ET.SubElement(
            ranges,
            "range",
            {
                "lower": f"{lo:.6f}",
                "upper": f"{hi:.6f}",
                "symbol": str(k),
                "label": f"{lo:.4g} – {hi:.4g} min",
                "render": "true",
            },
        )
        _symbol(symbols, "marker", str(k), _marker("circle", colour, size, "0,0,0,0"))
    ET.SubElement(
        ranges,
        "range",
        {
            "lower": f"{t:.6f}",
            "upper": "1000000000000.000000",
            "symbol": "3",
            "label": f"uncovered (> {t:g} min or unreachable)",
            "render": "true",
        },
    )
    _symbol(symbols, "marker", "3", _marker("circle", "215,25,28,255", 2.6, "0,0,0,255"))
    return _qml(renderer, aliases=field_aliases("demand"))


def _admin_units_style() -> str:
    renderer = _renderer("singleSymbol")
    _symbol(
        ET.SubElement(renderer, "symbols"),
        "fill",
        "0",
        {
            "color": "255,255,255,0",
            "style": "no",
            "outline_color": "60,60,60,255",
            "outline_style": "solid",
            "outline_width": "0.6",
            "outline_width_unit": "MM",
        },
    )
    labeling = ET.Element("labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    text_style = ET.SubElement(
        settings,
        "text-style",
        {
            "fieldName": "name",
            "isExpression": "0",
            "fontSize": "10",
            "fontSizeUnit": "Point",
            "textColor": "40,40,40,255",
            "textOpacity": "1",
        },
    )
    ET.SubElement(
        text_style,
        "text-buffer",
        {
            "bufferDraw": "1",
            "bufferSize": "1",
            "bufferSizeUnits": "MM",
            "bufferColor": "255,255,255,255",
            "bufferOpacity": "1",
        },
    )
    ET.SubElement(settings, "placement", {"placement": "1"})
    ET.SubElement(settings, "rendering", {"drawLabels": "1", "obstacle": "1"})
    return _qml(renderer, labeling, field_aliases("admin_units"))


def default_styles(*, threshold_minutes: float = 10.0) -> dict[str, str]:
    """QML styles for the standard plan layers, keyed by layer name.

    ``sites``: categorised by ``status`` (existing: blue squares, new: red stars, candidate:
    small grey dots), sites the planner added in a what-if (``added`` true) as purple
    diamonds; ``candidates``: small grey dots; ``demand``: graduated by ``travel_time_min``
    from green to orange up to ``threshold_minutes``, uncovered demand
    (slower, or unreachable with a NULL time) as larger red dots with a black outline;
    ``assignments``: thin grey lines; ``service_areas``: semi-transparent green fill;
    ``admin_units``: outlines labelled with ``name``. Each style also carries readable field
    aliases (Chinese and English, see :func:`field_aliases`); the field names stay as they are.
    """
    if (
        isinstance(threshold_minutes, bool)
        or not isinstance(threshold_minutes, int | float)
        or not math.isfinite(threshold_minutes)
        or threshold_minutes <= 0
    ):
        raise InputError(
            f"`threshold_minutes` must be a positive number of minutes, got {threshold_minutes!r}"
        )
    return {
        "sites": _sites_style(),
        "candidates": _single(
            "marker", _marker("circle", "190,190,190,255", 1.8), layer="candidates"
        ),
        "demand": _demand_style(float(threshold_minutes)),
        "assignments": _single(
            "line",
            {
                "line_color": "140,140,140,160",
                "line_style": "solid",
                "line_width": "0.2",
                "line_width_unit": "MM",
            },
            layer="assignments",
        ),
        "service_areas": _single(
            "fill",
            {
                "color": "44,162,95,70",
                "style": "solid",
                "outline_color": "44,162,95,200",
                "outline_style": "solid",
                "outline_width": "0.3",
                "outline_width_unit": "MM",
            },
            layer="service_areas",
        ),
        "admin_units": _admin_units_style(),
    }
