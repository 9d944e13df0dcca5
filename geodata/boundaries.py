"""Admin units (sub-districts, townships, counties) from boundary files, and point-in-unit joins.

``load_boundaries`` returns a GeoDataFrame with ``unit_id`` (str, unique), ``name`` (str;
Chinese names kept as UTF-8) and a Polygon / MultiPolygon geometry in EPSG:4326 (WGS84),
in file order. Invalid rings are repaired with ``shapely.make_valid`` (keeping the polygonal
part). Boundaries from Chinese web maps (Amap, Tencent, DataV) are in GCJ-02: load them with
``coords="gcj02"`` to convert them to WGS84.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geodata.chinacoords import gcj02_geometries_to_wgs84
from geodata.readers import check_columns, read_vector
from siting_errors import CRSError, InputError

__all__ = ["assign_units", "load_boundaries"]

logger = logging.getLogger(__name__)

_ID_COLUMNS = ("unit_id", "adcode", "code", "id", "ID")
_NAME_COLUMNS = ("name", "NAME", "Name", "乡", "乡镇", "街道", "县", "区县")
_COORDS = ("wgs84", "gcj02")


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Repair invalid geometries and keep only their polygonal parts."""
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return geoms
    logger.info("repairing %d invalid boundary geometries with make_valid", int(invalid.sum()))
    out = geoms.copy()
    fixed = shapely.make_valid(geoms[invalid])
    for k, geom in zip(np.flatnonzero(invalid), fixed, strict=True):
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            out[k] = geom
            continue
        parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
        polys = [q for p in parts for q in shapely.get_parts(p)]
        out[k] = shapely.MultiPolygon(polys) if polys else shapely.Polygon()
    return out


def load_boundaries(
    path: str | Path,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    coords: str = "wgs84",
    layer: str | None = None,
    encoding: str | None = None,
    keep: tuple[str, ...] = (),
) -> gpd.GeoDataFrame:
    """Admin-unit polygons from a GeoJSON / GeoPackage / shapefile (or zipped one).

    ``unit_id`` comes from ``id_column``, else the first of ``unit_id``, ``adcode``, ``code``,
    ``id``, else ``"U{row}"``; ids must be unique. ``name`` comes from ``name_column``, else
    the first of ``name``, ``NAME``, ``乡``, ``县`` ..., else the id. ``coords="gcj02"`` means
    the file's lon/lat are GCJ-02 (whatever CRS it claims) and converts them to WGS84.
    ``encoding`` overrides the text encoding (shapefiles without a ``.cpg`` are read as UTF-8).
    Columns named in ``keep``, and a ``kind`` column (the unit's administrative kind), are
    kept as they are.
    """
    if coords not in _COORDS:
        raise InputError(f"`coords` must be one of {list(_COORDS)}, got {coords!r}")
    gdf = read_vector(path, what="boundary file", layer=layer, encoding=encoding, require_crs=False)
    text = str(path)
    if gdf.crs is None:
        raise CRSError(f"boundary file {text!r} has no CRS")
    if len(gdf) == 0:
        raise InputError(f"boundary file {text!r} has no features")
    check_columns(gdf, (id_column, name_column, *keep), what=f"boundary file {text!r}")
    geoms = gdf.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InputError(
            f"boundary file {text!r}: {int(missing.sum())} features have no geometry "
            f"(rows {np.flatnonzero(missing)[:5].tolist()})"
        )
    kinds = set(gdf.geometry.geom_type)
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(f"boundary file {text!r} must hold polygons, got {sorted(kinds)}")

    id_col = id_column or next((c for c in _ID_COLUMNS if c in gdf.columns), None)
    name_col = name_column or next((c for c in _NAME_COLUMNS if c in gdf.columns), None)
    if id_col is not None:
        ids = gdf[id_col].astype(str).to_numpy(dtype=object)
    else:
        ids = np.array([f"U{i}" for i in range(len(gdf))], dtype=object)
    dup = pd.unique(ids[pd.Series(ids).duplicated().to_numpy()])
    if len(dup):
        raise InputError(
            f"boundary file {text!r}: unit ids in {id_col!r} must be unique, {len(dup)} are "
            f"repeated (e.g. {dup[:5].tolist()}); pass id_column="
        )
    names = gdf[name_col].fillna("").astype(str).to_numpy(dtype=object) if name_col else ids

    crs = CRS.from_user_input(gdf.crs)
    if coords == "gcj02":
        if not crs.is_geographic:
            raise CRSError(
                f"boundary file {text!r}: coords='gcj02' needs longitude/latitude, but the "
                f"file is in the projected CRS {crs.name!r}"
            )
        geoms = gcj02_geometries_to_wgs84(geoms)
    elif not crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        geoms = gdf.geometry.to_crs("EPSG:4326").to_numpy()
    geoms = _polygonal(geoms)
    empty = shapely.is_empty(geoms)
    if empty.any():
        raise InputError(
            f"boundary file {text!r}: {int(empty.sum())} geometries have no area after repair "
            f"(units {ids[empty][:5].tolist()})"
        )
    extra = {
        c: gdf[c].to_numpy()
        for c in dict.fromkeys([*keep, *(["kind"] if "kind" in gdf.columns else [])])
        if c not in ("unit_id", "name")
    }
    return gpd.GeoDataFrame(
        {"unit_id": pd.array(ids, dtype="str"), "name": pd.array(names, dtype="str"), **extra},
        geometry=geoms,
        crs="EPSG:4326",
    )


def assign_units(
    points: gpd.GeoDataFrame | gpd.GeoSeries, units: gpd.GeoDataFrame | gpd.GeoSeries
) -> np.ndarray:
    """Row position (0-based, int64) of the unit containing each point; -1 outside every unit.

    Points on a unit's border count as inside; a point on a border shared by several units goes
    to the first of them (lowest row). Non-point geometries use their representative point;
    missing or empty geometries get -1. ``points`` is reprojected to ``units``' CRS.
    """
    for what, frame in (("points", points), ("units", units)):
        if not isinstance(frame, gpd.GeoDataFrame | gpd.GeoSeries):
            raise InputError(
                f"`{what}` must be a GeoDataFrame or GeoSeries, got {type(frame).__name__}"
            )
        if frame.crs is None:
            raise CRSError(f"`{what}` has no CRS; set one (e.g. .set_crs('EPSG:4326'))")
    pts = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    unit_geoms = (units.geometry if isinstance(units, gpd.GeoDataFrame) else units).to_numpy()
    if not CRS.from_user_input(pts.crs).equals(CRS.from_user_input(units.crs)):
        pts = pts.to_crs(units.crs)
    geoms = pts.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    not_point = ok & (shapely.get_type_id(geoms) != 0)
    if not_point.any():
        geoms = geoms.copy()
        geoms[not_point] = shapely.point_on_surface(geoms[not_point])
    out = np.full(len(geoms), -1, dtype=np.int64)
    if len(unit_geoms) == 0 or not ok.any():
        return out
    tree = shapely.STRtree(unit_geoms)
    p_idx, u_idx = tree.query(geoms[ok], predicate="intersects")
    if len(p_idx):
        # sort by (point, unit) and keep the first hit of each point: the lowest unit row
        order = np.lexsort((u_idx, p_idx))
        p_idx, u_idx = p_idx[order], u_idx[order]
        first = np.ones(len(p_idx), dtype=bool)
        first[1:] = p_idx[1:] != p_idx[:-1]
        out[np.flatnonzero(ok)[p_idx[first]]] = u_idx[first]
    return out
