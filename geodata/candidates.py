"""Candidate and existing facility sites: from files, from points (road nodes), from population.

Every function returns a GeoDataFrame with ``site_id`` (str, unique), ``name`` (str, may be
empty), ``existing`` (bool) and a Point geometry. Thinning ("no two sites closer than
``spacing`` metres") is greedy in input order and computed in the local UTM zone, so it is in
true metres whatever the input CRS.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer

from geodata.crs import local_utm_crs
from geodata.readers import (
    check_columns,
    check_crs,
    is_csv,
    read_csv_points,
    read_vector,
    source_path,
)
from siting_errors import CRSError, InputError

__all__ = [
    "combine_sites",
    "load_sites",
    "sites_from_points",
    "sites_from_population",
    "thin_points",
]

logger = logging.getLogger(__name__)

_COLUMNS = ["site_id", "name", "existing", "geometry"]
_ID_COLUMNS = ("site_id", "id", "ID")
_NAME_COLUMNS = ("name", "NAME", "Name")


def _frame(
    ids: ArrayLike, names: ArrayLike, existing: bool | np.ndarray, geometry: ArrayLike, crs: Any
) -> gpd.GeoDataFrame:
    ids = np.asarray(ids, dtype=object)
    return gpd.GeoDataFrame(
        {
            "site_id": pd.array(ids.astype(str), dtype="str"),
            "name": pd.array(np.asarray(names, dtype=object).astype(str), dtype="str"),
            "existing": np.broadcast_to(np.asarray(existing, dtype=bool), ids.shape).copy(),
        },
        geometry=geometry,
        crs=crs,
    )


def _duplicates(ids: np.ndarray) -> list[str]:
    series = pd.Series(ids, dtype=object)
    return pd.unique(series[series.duplicated()]).tolist()


def _read_sites(
    text: str, local: Path, crs: Any, x_column: str, y_column: str, layer: str | None
) -> gpd.GeoDataFrame:
    if is_csv(text, local):
        return read_csv_points(local, x_column, y_column, crs, what="sites file")
    return read_vector(text, what="sites file", layer=layer, crs=crs)


def load_sites(
    path: str | Path,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    existing: bool = False,
    crs: CRS | str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Sites from GeoJSON / GeoPackage / shapefile (or zipped) / CSV with x,y columns.

    A CSV needs ``crs``; for other formats ``crs`` only applies when the file declares none.
    ``site_id`` comes from ``id_column``, else a ``site_id`` or ``id`` column, else ``"E{row}"``
    (existing) / ``"C{row}"`` (candidates); duplicated ids are an :class:`InputError` listing
    them. ``name`` comes from ``name_column`` or a ``name`` column (else empty). Polygons and
    lines become a representative point on them. ``existing=True`` flags every site as existing.
    A ``tier`` column (the facility tier, e.g. ``township_health_centre``) is kept when present.
    """
    text, local = source_path(path, "sites file")
    gdf = _read_sites(text, local, crs, x_column, y_column, layer)
    if len(gdf) == 0:
        raise InputError(f"sites file {text!r} has no features")
    check_columns(gdf, (id_column, name_column), what=f"sites file {text!r}")
    id_col = id_column or next((c for c in _ID_COLUMNS if c in gdf.columns), None)
    if id_col is not None:
        missing_id = gdf[id_col].isna().to_numpy()
        if missing_id.any():
            raise InputError(
                f"sites file {text!r}: {int(missing_id.sum())} sites have no {id_col!r} "
                f"(rows {np.flatnonzero(missing_id)[:5].tolist()})"
            )
        ids = gdf[id_col].astype(str).to_numpy(dtype=object)
    else:
        prefix = "E" if existing else "C"
        ids = np.array([f"{prefix}{i}" for i in range(len(gdf))], dtype=object)
    dup = _duplicates(ids)
    if dup:
        raise InputError(
            f"sites file {text!r}: site ids in {id_col!r} must be unique, {len(dup)} are "
            f"repeated: {dup[:20]}{' ...' if len(dup) > 20 else ''}"
        )
    name_col = name_column or next((c for c in _NAME_COLUMNS if c in gdf.columns), None)
    names = (
        gdf[name_col].fillna("").astype(str).to_numpy(dtype=object)
        if name_col
        else np.full(len(gdf), "", dtype=object)
    )
    geoms = gdf.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        raise InputError(
            f"sites file {text!r}: {int(empty.sum())} sites have no geometry "
            f"(ids {ids[empty][:5].tolist()})"
        )
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    out = _frame(ids, names, existing, points, gdf.crs)
    if "tier" in gdf.columns:  # the facility tier, when the file says it (rules plans)
        out.insert(3, "tier", gdf["tier"].fillna("").astype(str).to_numpy(dtype=object))
    return out


def thin_points(xy: ArrayLike, spacing: float) -> np.ndarray:
    """Indices (increasing) of the points kept by greedy thinning in input order.

    A point is kept unless it lies closer than ``spacing`` to an already kept point, so kept
    points are pairwise >= ``spacing`` apart and every dropped point is within ``spacing`` of a
    kept one. ``xy`` is an (n, 2) array in a metric CRS. Points are bucketed in a grid of cells
    of side ``spacing / sqrt(2)``: a cell holds at most one kept point, so a point whose cell is
    taken is dropped at once, and the others check the 5 x 5 block of cells around them.
    """
    pts = np.asarray(xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputError(f"`xy` must be an (n, 2) array of coordinates, got shape {pts.shape}")
    if not (isinstance(spacing, int | float) and math.isfinite(spacing) and spacing > 0):
        raise InputError(f"`spacing` must be a finite number > 0 (metres), got {spacing!r}")
    if not np.isfinite(pts).all():
        bad = np.flatnonzero(~np.isfinite(pts).all(axis=1))
        raise InputError(f"coordinates must be finite, {len(bad)} points are not: {bad[:5]}")
    if len(pts) == 0:
        return np.zeros(0, dtype=np.int64)
    cell = spacing / math.sqrt(2.0)
    origin = pts.min(axis=0)
    ij = np.floor((pts - origin) / cell).astype(np.int64)
    xs, ys = pts[:, 0].tolist(), pts[:, 1].tolist()
    ci, cj = ij[:, 0].tolist(), ij[:, 1].tolist()
    limit = spacing * spacing
    offsets = [(a, b) for a in range(-2, 3) for b in range(-2, 3) if (a, b) != (0, 0)]
    offsets = [(a, b) for a, b in offsets if abs(a) + abs(b) < 4]  # corner cells are too far
    taken: dict[tuple[int, int], int] = {}
    kept: list[int] = []
    for k in range(len(xs)):
        key = (ci[k], cj[k])
        if key in taken:
            continue
        x, y = xs[k], ys[k]
        for a, b in offsets:
            other = taken.get((key[0] + a, key[1] + b))
            if other is not None and (xs[other] - x) ** 2 + (ys[other] - y) ** 2 < limit:
                break
        else:
            taken[key] = k
            kept.append(k)
    return np.asarray(kept, dtype=np.int64)


def _metric_xy(x: np.ndarray, y: np.ndarray, crs: CRS) -> np.ndarray:
    """Coordinates in the local UTM zone (true metres, whatever ``crs`` is)."""
    utm = local_utm_crs((float(x.min()), float(y.min()), float(x.max()), float(y.max())), crs=crs)
    if crs.equals(utm):
        return np.column_stack([x, y])
    px, py = Transformer.from_crs(crs, utm, always_xy=True).transform(x, y)
    return np.column_stack([px, py])


def sites_from_points(
    x: ArrayLike, y: ArrayLike, crs: CRS | str, *, spacing: float, prefix: str = "C"
) -> gpd.GeoDataFrame:
    """Candidate sites at points (e.g. road-network nodes), thinned so that no two kept points
    are closer than ``spacing`` metres (greedy in input order: put preferred points first).

    ``x``/``y`` are in ``crs``; distances are measured in the local UTM zone. The result is in
    ``crs``, with ``site_id`` ``"{prefix}{k}"`` (k = 0, 1, ... over kept points), empty names
    and ``existing=False``. 100k points take well under a second.
    """
    crs = check_crs(crs, "candidate points")
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        raise InputError(f"`x` and `y` must have the same length, got {len(xs)} and {len(ys)}")
    if len(xs) == 0:
        raise InputError("no points to make candidate sites from (`x` is empty)")
    if not (np.isfinite(xs) & np.isfinite(ys)).all():
        bad = np.flatnonzero(~(np.isfinite(xs) & np.isfinite(ys)))
        raise InputError(
            f"`x`/`y` must be finite numbers, {len(bad)} points are not (first {bad[:5].tolist()})"
        )
    if not (isinstance(spacing, int | float) and math.isfinite(spacing) and spacing > 0):
        raise InputError(f"`spacing` must be a finite number > 0 (metres), got {spacing!r}")
    chosen = thin_points(_metric_xy(xs, ys, crs), float(spacing))
    logger.info("thinned %d points to %d sites (spacing %g m)", len(xs), len(chosen), spacing)
    ids = np.array([f"{prefix}{k}" for k in range(len(chosen))], dtype=object)
    return _frame(
        ids,
        np.full(len(chosen), "", dtype=object),
        False,
        gpd.points_from_xy(xs[chosen], ys[chosen]),
        crs,
    )


def sites_from_population(
    demand: gpd.GeoDataFrame,
    *,
    min_population: float = 0.0,
    spacing: float,
    prefix: str = "C",
) -> gpd.GeoDataFrame:
    """Candidate sites at populated demand points, densest first, ``spacing`` metres apart.

    Demand points with ``population >= min_population`` (and > 0) are ranked by population
    (ties keep input order) and thinned greedily, so every dropped point is within ``spacing``
    of a denser kept one. ``site_id`` is ``prefix + demand_id`` (traceable to the cell); the
    result is in the demand's CRS, sorted densest first.
    """
    if not isinstance(demand, gpd.GeoDataFrame):
        raise InputError(f"`demand` must be a GeoDataFrame, got {type(demand).__name__}")
    for col in ("demand_id", "population"):
        if col not in demand.columns:
            raise InputError(
                f"`demand` has no column {col!r} (columns: {list(demand.columns)}); "
                "build it with geodata.population"
            )
    if demand.crs is None:
        raise CRSError("`demand` has no CRS; set one (e.g. .set_crs('EPSG:4326'))")
    if not (isinstance(min_population, int | float) and math.isfinite(min_population)):
        raise InputError(f"`min_population` must be a finite number, got {min_population!r}")
    pop = pd.to_numeric(demand["population"], errors="coerce").to_numpy(dtype=np.float64)
    eligible = np.flatnonzero((pop >= min_population) & (pop > 0))
    if len(eligible) == 0:
        raise InputError(
            f"no demand point has population >= {min_population:g} (largest: {np.nanmax(pop):g})"
            if len(pop)
            else "`demand` is empty"
        )
    order = eligible[np.argsort(-pop[eligible], kind="stable")]
    geoms = demand.geometry.to_numpy()[order]
    if not (shapely.get_type_id(geoms) == 0).all():
        geoms = shapely.point_on_surface(geoms)
    xs, ys = shapely.get_x(geoms), shapely.get_y(geoms)
    crs = check_crs(demand.crs, "`demand`")
    chosen = (
        thin_points(_metric_xy(xs, ys, crs), float(spacing))
        if len(xs)
        else np.zeros(0, dtype=np.int64)
    )
    ids = demand["demand_id"].astype(str).to_numpy(dtype=object)[order[chosen]]
    dup = _duplicates(ids)
    if dup:
        raise InputError(f"`demand` ids must be unique, got repeated {dup[:5]}")
    return _frame(
        np.array([f"{prefix}{i}" for i in ids], dtype=object),
        np.full(len(chosen), "", dtype=object),
        False,
        geoms[chosen],
        crs,
    )


def combine_sites(existing: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Existing sites (flagged ``existing=True``) followed by candidates (``existing=False``).

    The result is in ``existing``'s CRS (candidates are reprojected) with the columns
    ``site_id``, ``name``, ``existing`` (and ``tier`` when either frame has one, empty where
    not given) and geometry; site ids must be unique across both (an :class:`InputError` lists
    the clashes otherwise).
    """
    frames = []
    for what, frame, flag in (("existing", existing, True), ("candidates", candidates, False)):
        if not isinstance(frame, gpd.GeoDataFrame):
            raise InputError(f"`{what}` must be a GeoDataFrame, got {type(frame).__name__}")
        if frame.crs is None:
            raise CRSError(f"`{what}` has no CRS; set one (e.g. .set_crs('EPSG:4326'))")
        if "site_id" not in frame.columns:
            raise InputError(
                f"`{what}` has no column 'site_id' (columns: {list(frame.columns)}); "
                "load it with load_sites"
            )
        names = (
            frame["name"].fillna("").astype(str).to_numpy(dtype=object)
            if "name" in frame.columns
            else np.full(len(frame), "", dtype=object)
        )
        geoms = (frame if flag else frame.to_crs(existing.crs)).geometry.to_numpy()
        part = _frame(frame["site_id"].astype(str).to_numpy(dtype=object), names, flag, geoms, None)
        part.insert(
            3,
            "tier",
            frame["tier"].fillna("").astype(str).to_numpy(dtype=object)
            if "tier" in frame.columns
            else np.full(len(frame), "", dtype=object),
        )
        frames.append(part)
    tiers = any("tier" in f.columns for f in (existing, candidates))
    out = pd.concat(frames, ignore_index=True)
    if not tiers:
        out = out.drop(columns="tier")
    dup = _duplicates(out["site_id"].to_numpy(dtype=object))
    if dup:
        raise InputError(
            f"site ids must be unique across existing and candidate sites, {len(dup)} are "
            f"repeated: {dup[:20]}{' ...' if len(dup) > 20 else ''}"
        )
    columns = [*_COLUMNS[:3], "tier", "geometry"] if tiers else _COLUMNS
    return gpd.GeoDataFrame(out[columns], geometry="geometry", crs=existing.crs)
