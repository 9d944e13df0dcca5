"""Demand on a square grid: a plan's demand points summed into cells, so a raster of half a
million cells gives output layers of a sensible size (the per-point layer stays available).

A cell holds the points whose coordinates (in the local UTM zone) fall in it: their number,
residents, residents covered within the threshold, residents with no route to any open site
(unreachable), residents no site covers (uncoverable, with a threshold), and the
population-weighted mean and the largest travel time of the reachable ones.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.crs import local_utm_crs
from siting_errors import InputError

__all__ = ["GRID_SIZES", "MAX_POINTS", "demand_grid", "grid_size"]

logger = logging.getLogger(__name__)

#: demand layers with more points than this are written as a grid by default
MAX_POINTS = 50_000
#: cell sizes (metres) a grid is made of: the smallest giving at most MAX_POINTS cells
GRID_SIZES = (250.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)


def _cells(xy: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """The occupied cells (``(k, 2)`` column / row indices) and each point's cell."""
    ij = np.floor(xy / size).astype(np.int64)
    ij -= ij.min(axis=0) if len(ij) else 0
    width = int(ij[:, 1].max()) + 1 if len(ij) else 1
    keys, cell = np.unique(ij[:, 0] * width + ij[:, 1], return_inverse=True)
    origin = np.floor(xy.min(axis=0) / size).astype(np.int64) if len(xy) else np.zeros(2, int)
    return np.column_stack([keys // width, keys % width]) + origin, cell.ravel()


def _size_for(xy: np.ndarray, max_cells: int) -> float:
    for size in GRID_SIZES:
        if len(_cells(xy, size)[0]) <= max_cells:
            return size
    return GRID_SIZES[-1]


def grid_size(demand: gpd.GeoDataFrame, *, max_cells: int = MAX_POINTS) -> float:
    """The smallest of :data:`GRID_SIZES` whose grid has at most ``max_cells`` occupied cells
    (the largest one otherwise)."""
    return _size_for(_xy(demand), max_cells)


def _xy(demand: gpd.GeoDataFrame) -> np.ndarray:
    metric = demand.geometry.to_crs(local_utm_crs(demand)).to_numpy()
    if not (shapely.get_type_id(metric) == 0).all():
        metric = shapely.centroid(metric)
    return np.asarray(shapely.get_coordinates(metric)).reshape(len(metric), 2)


def demand_grid(
    demand: gpd.GeoDataFrame, *, size: float | None = None, uncoverable: np.ndarray | None = None
) -> gpd.GeoDataFrame:
    """The demand layer of a result (``population``, ``travel_time_min`` (NaN: unreachable),
    ``covered``) summed into square cells of ``size`` metres (default :func:`grid_size`).

    Returns one polygon per occupied cell (WGS84) with ``cell_id`` (``"<size>m:<i>:<j>"``),
    ``points``, ``population``, ``covered_population``, ``coverage_share``,
    ``unreachable_population``, ``uncoverable_population`` (when ``uncoverable``, a boolean
    per point, is given), ``mean_travel_min`` and ``max_travel_min``.
    """
    for column in ("population", "travel_time_min", "covered"):
        if column not in demand.columns:
            raise InputError(f"the demand layer has no column {column!r}")
    xy = _xy(demand)
    size = float(size) if size is not None else _size_for(xy, MAX_POINTS)
    if not (np.isfinite(size) and size > 0):
        raise InputError(f"`size` must be a number of metres > 0, got {size!r}")
    crs = local_utm_crs(demand)
    keys, cell = _cells(xy, size)
    pop = demand["population"].to_numpy(dtype=np.float64)
    t = demand["travel_time_min"].to_numpy(dtype=np.float64)
    reach = np.isfinite(t)
    covered = demand["covered"].to_numpy(dtype=bool)
    n = len(keys)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=values, minlength=n)

    population = total(pop)
    reached = total(np.where(reach, pop, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(reached > 0, total(np.where(reach, pop * t, 0.0)) / reached, np.nan)
    longest = np.full(n, -np.inf)
    np.maximum.at(longest, cell, np.where(reach & (pop > 0), t, -np.inf))
    frame = pd.DataFrame(
        {
            "cell_id": [f"{size:g}m:{i}:{j}" for i, j in keys.tolist()],
            "points": np.bincount(cell, minlength=n),
            "population": np.round(population, 3),
            "covered_population": np.round(total(np.where(covered, pop, 0.0)), 3),
        }
    )
    frame["coverage_share"] = np.round(
        np.where(population > 0, frame["covered_population"] / np.maximum(population, 1e-12), 0),
        6,
    )
    frame["unreachable_population"] = np.round(total(np.where(reach, 0.0, pop)), 3)
    if uncoverable is not None:
        frame["uncoverable_population"] = np.round(
            total(np.where(np.asarray(uncoverable, dtype=bool), pop, 0.0)), 3
        )
    frame["mean_travel_min"] = np.round(mean, 3)
    frame["max_travel_min"] = np.where(np.isfinite(longest), np.round(longest, 3), np.nan)
    x0, y0 = keys[:, 0] * size, keys[:, 1] * size
    boxes = gpd.GeoSeries(shapely.box(x0, y0, x0 + size, y0 + size), crs=crs)
    return gpd.GeoDataFrame(frame, geometry=boxes.to_crs("EPSG:4326").to_numpy(), crs="EPSG:4326")
