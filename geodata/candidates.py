"""Candidate and existing facility sites: from files, from points (road nodes), from population.

Every function returns a GeoDataFrame with ``site_id`` (str, unique), ``name`` (str),
``existing`` (bool) and a Point geometry.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.spatial import cKDTree

from geodata.crs import local_utm_crs
from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

__all__ = ["combine_sites", "load_sites", "sites_from_points", "sites_from_population"]

logger = logging.getLogger(__name__)


def _frame(
    ids: np.ndarray, names: np.ndarray, existing: bool, geometry: np.ndarray, crs: CRS | str
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "site_id": ids.astype(str).astype(object),
            "name": names.astype(str).astype(object),
            "existing": np.full(len(ids), existing),
        },
        geometry=geometry,
        crs=crs,
    )


def load_sites(
    path: str | Path,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    existing: bool = False,
    crs: CRS | str | None = None,
    x_column: str = "x",
    y_column: str = "y",
) -> gpd.GeoDataFrame:
    """Sites from GeoJSON / GeoPackage / shapefile / CSV (x,y; needs ``crs``). Polygons become
    their representative point. ``existing=True`` marks them as existing (always open)."""
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"sites file {str(p)!r} does not exist")
    if p.suffix.lower() == ".csv":
        if crs is None:
            raise CRSError(f"CSV sites file {str(p)!r} has no CRS: pass crs=")
        frame = pd.read_csv(p)
        for col in (x_column, y_column):
            if col not in frame.columns:
                raise InputError(
                    f"CSV {str(p)!r} has no coordinate column {col!r} "
                    f"(columns: {list(frame.columns)})"
                )
        gdf = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame[x_column], frame[y_column]), crs=crs
        )
    else:
        import pyogrio

        try:
            gdf = gpd.read_file(p)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise UnsupportedFormatError(
                f"{str(p)!r} is not a readable vector file: {exc}"
            ) from exc
        if gdf.crs is None:
            if crs is None:
                raise CRSError(f"sites file {str(p)!r} has no CRS; pass crs=")
            gdf = gdf.set_crs(crs)
    if len(gdf) == 0:
        raise InputError(f"sites file {str(p)!r} has no features")
    id_col = id_column or next((c for c in ("site_id", "id") if c in gdf.columns), None)
    if id_column and id_column not in gdf.columns:
        raise InputError(f"sites file {str(p)!r} has no column {id_column!r}")
    prefix = "E" if existing else "C"
    ids = (
        gdf[id_col].astype(str).to_numpy()
        if id_col
        else np.array([f"{prefix}{i}" for i in range(len(gdf))])
    )
    dup = pd.Series(ids)[pd.Series(ids).duplicated()]
    if len(dup):
        raise InputError(f"sites file {str(p)!r} has duplicate ids {dup[:5].tolist()}")
    name_col = name_column or ("name" if "name" in gdf.columns else None)
    names = (
        gdf[name_col].fillna("").astype(str).to_numpy()
        if name_col
        else np.full(len(gdf), "", dtype=object)
    )
    geom = gdf.geometry.to_numpy()
    empty = shapely.is_empty(geom) | pd.isna(geom)
    if empty.any():
        raise InputError(f"sites file {str(p)!r}: {int(empty.sum())} features have no geometry")
    points = np.where(shapely.get_type_id(geom) == 0, geom, shapely.point_on_surface(geom))
    return _frame(ids, names, existing, points, gdf.crs)


def sites_from_points(
    x: np.ndarray, y: np.ndarray, crs: CRS | str, *, spacing: float, prefix: str = "C"
) -> gpd.GeoDataFrame:
    """Candidates from points (e.g. road-network nodes) thinned so no two kept points are closer
    than ``spacing`` metres (greedy, in input order, on a KD-tree in the local UTM zone)."""
    if spacing <= 0:
        raise InputError(f"`spacing` must be > 0 metres, got {spacing!r}")
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=crs)
    if len(pts) == 0:
        raise InputError("no points to make candidate sites from")
    proj = pts.to_crs(local_utm_crs(pts)) if not pts.crs.is_projected else pts
    xy = np.column_stack([proj.x.to_numpy(), proj.y.to_numpy()])
    # snap to a grid of cell = spacing / sqrt(2): one point per cell, then a KD-tree pass
    cell = spacing / np.sqrt(2.0)
    key = np.floor(xy / cell).astype(np.int64)
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    tree = cKDTree(xy[first])
    keep = np.ones(len(first), dtype=bool)
    for a, b in sorted(tree.query_pairs(spacing * (1 - 1e-9))):
        if keep[a] and keep[b]:
            keep[b] = False
    chosen = first[keep]
    ids = np.array([f"{prefix}{i}" for i in range(len(chosen))])
    return _frame(ids, np.full(len(chosen), ""), False, pts.to_numpy()[chosen], pts.crs)


def sites_from_population(
    demand: gpd.GeoDataFrame, *, min_population: float = 0.0, spacing: float
) -> gpd.GeoDataFrame:
    """Candidates at populated demand points (densest first), ``spacing`` metres apart."""
    order = np.argsort(-demand["population"].to_numpy(), kind="stable")
    sel = demand.iloc[order]
    sel = sel[sel["population"] > min_population]
    if len(sel) == 0:
        raise InputError(f"no demand point has population > {min_population:g}")
    return sites_from_points(
        sel.geometry.x.to_numpy(), sel.geometry.y.to_numpy(), sel.crs, spacing=spacing
    )


def combine_sites(existing: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Existing sites (flagged ``existing=True``) followed by candidates, in one CRS; ids must
    be unique across both."""
    if existing.crs is None or candidates.crs is None:
        raise CRSError("both `existing` and `candidates` need a CRS")
    ex = existing.assign(existing=True)
    ca = candidates.to_crs(existing.crs).assign(existing=False)
    for frame in (ex, ca):
        if "name" not in frame.columns:
            frame["name"] = ""
    out = pd.concat(
        [
            ex[["site_id", "name", "existing", "geometry"]],
            ca[["site_id", "name", "existing", "geometry"]],
        ],
        ignore_index=True,
    )
    out["site_id"] = out["site_id"].astype(str)
    dup = out["site_id"][out["site_id"].duplicated()]
    if len(dup):
        raise InputError(
            f"site ids must be unique across existing and candidate sites, got "
            f"duplicates {dup[:5].tolist()}"
        )
    return gpd.GeoDataFrame(out, geometry="geometry", crs=existing.crs)
