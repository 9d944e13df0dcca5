"""Admin units (sub-districts, townships, counties) from boundary files, and point-in-unit joins."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

__all__ = ["assign_units", "load_boundaries"]

logger = logging.getLogger(__name__)


def load_boundaries(
    path: str | Path,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    coords: str = "wgs84",
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Admin-unit polygons with ``unit_id`` (str), ``name`` (str, UTF-8 kept) and geometry in
    EPSG:4326. ``coords="gcj02"`` converts GCJ-02 ("Mars") coordinates to WGS84 first."""
    import pyogrio

    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"boundary file {str(p)!r} does not exist")
    if coords not in ("wgs84", "gcj02"):
        raise InputError(f"`coords` must be 'wgs84' or 'gcj02', got {coords!r}")
    try:
        gdf = (
            gpd.read_file(p, layer=layer, encoding="utf-8")
            if p.suffix == ".shp"
            else gpd.read_file(p, layer=layer)
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise UnsupportedFormatError(f"{str(p)!r} is not a readable vector file: {exc}") from exc
    if gdf.crs is None:
        raise CRSError(f"boundary file {str(p)!r} has no CRS")
    if len(gdf) == 0:
        raise InputError(f"boundary file {str(p)!r} has no features")
    kinds = set(gdf.geometry.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(f"boundary file {str(p)!r} must hold polygons, got {sorted(kinds)}")
    id_col = id_column or next((c for c in ("unit_id", "adcode", "id", "code") if c in gdf), None)
    name_col = name_column or next((c for c in ("name", "NAME", "乡", "县") if c in gdf), None)
    for given, col in ((id_column, id_col), (name_column, name_col)):
        if given and given not in gdf.columns:
            raise InputError(
                f"boundary file {str(p)!r} has no column {given!r} "
                f"(columns: {[c for c in gdf.columns if c != 'geometry']})"
            )
    ids = (
        gdf[id_col].astype(str).to_numpy()
        if id_col
        else np.array([f"U{i}" for i in range(len(gdf))])
    )
    names = gdf[name_col].fillna("").astype(str).to_numpy() if name_col else ids
    geom = gdf.to_crs("EPSG:4326").geometry
    if coords == "gcj02":
        from geodata.chinacoords import gcj02_to_wgs84

        geom = gpd.GeoSeries(
            shapely.transform(
                geom.to_numpy(), lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1]))
            ),
            crs="EPSG:4326",
        )
    geom = gpd.GeoSeries(shapely.make_valid(geom.to_numpy()), crs="EPSG:4326")
    return gpd.GeoDataFrame(
        {"unit_id": ids.astype(object), "name": names.astype(object)},
        geometry=geom.to_numpy(),
        crs="EPSG:4326",
    )


def assign_units(points: gpd.GeoDataFrame | gpd.GeoSeries, units: gpd.GeoDataFrame) -> np.ndarray:
    """Index (row position) of the unit containing each point, -1 outside every unit."""
    if points.crs is None or units.crs is None:
        raise CRSError("`points` and `units` both need a CRS")
    pts = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    pts = pts.to_crs(units.crs)
    tree = shapely.STRtree(units.geometry.to_numpy())
    p_idx, u_idx = tree.query(pts.to_numpy(), predicate="intersects")
    out = np.full(len(pts), -1, dtype=np.int64)
    # a point on a shared border: the first unit wins
    order = np.lexsort((u_idx, p_idx))
    p_idx, u_idx = p_idx[order], u_idx[order]
    first = np.ones(len(p_idx), dtype=bool)
    first[1:] = p_idx[1:] != p_idx[:-1]
    out[p_idx[first]] = u_idx[first]
    return out
