"""Splitting a region into one :class:`~siting.region.unit.UnitJob` per planning unit, under
the counting rule (each demand point counted in the one unit containing it) with a
cross-border buffer of neighbours' existing sites and roads."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from siting.region.cache import unit_key
from siting.region.roads import RoadIndex
from siting.region.settings import RegionSettings
from siting.region.unit import UnitJob
from siting_errors import InputError

__all__ = ["split_region"]

logger = logging.getLogger(__name__)


def _buffer_unit(geom: Any, buffer_m: float) -> Any:
    """The unit polygon (lon/lat) grown by ``buffer_m`` metres in its own UTM zone. The outline
    is simplified first (tolerance a tenth of the buffer, at most 1 km) and the buffer grown by
    that tolerance, so the zone holds at least ``buffer_m`` everywhere at a fraction of the cost
    of buffering every vertex of a detailed county border."""
    if buffer_m <= 0:
        return geom
    from pyproj import Transformer

    from geodata.crs import local_utm_crs

    crs = local_utm_crs(geom)
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    tol = min(buffer_m / 10.0, 1000.0)
    local = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    grown = local.simplify(tol).buffer(buffer_m + tol, quad_segs=4)
    return shapely.transform(grown, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def _check_region_frame(frame: Any, name: str, columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"`{name}` must be a GeoDataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"`{name}` lacks columns {missing} (it has {list(frame.columns)})")
    if frame.crs is None:
        raise InputError(f"`{name}` has no CRS")
    return frame


def split_region(
    units: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    roads: nx.MultiDiGraph | None = None,
    *,
    settings: RegionSettings | None = None,
) -> tuple[list[UnitJob], dict[str, Any]]:
    """One :class:`UnitJob` per unit (module docstring: the counting rule and the buffer), and
    a report of what was dropped (points and candidates outside every unit).

    ``demand``: points with ``demand_id``, ``population``; ``sites``: ``site_id`` and
    ``existing`` (bool); ``roads``: an osmnx-style graph in lon/lat, or ``None``.
    """
    units = _check_region_frame(units, "units", ("unit_id", "name"))
    demand = _check_region_frame(demand, "demand", ("demand_id", "population"))
    sites = _check_region_frame(sites, "sites", ("site_id",))
    s = (settings or RegionSettings()).resolved()
    units = units.to_crs("EPSG:4326").reset_index(drop=True)
    ids = units["unit_id"].astype(str).to_numpy()
    if pd.Series(ids).duplicated().any():
        raise InputError("`units` unit_id values must be unique")
    demand = demand.to_crs("EPSG:4326").reset_index(drop=True)
    sites = sites.to_crs("EPSG:4326").reset_index(drop=True)
    if "existing" not in sites.columns:
        sites = sites.assign(existing=False)
    from geodata.boundaries import assign_units

    d_unit = assign_units(demand, units)
    s_unit = assign_units(sites, units)
    home = np.where(s_unit >= 0, ids[np.maximum(s_unit, 0)], None)
    sites = sites.assign(home_unit=home)
    existing = sites["existing"].astype(bool).to_numpy()
    report = {
        "demand_outside": int((d_unit < 0).sum()),
        "population_outside": float(
            pd.to_numeric(demand["population"], errors="coerce")[d_unit < 0].sum()
        ),
        "candidates_outside": int(((s_unit < 0) & ~existing).sum()),
    }
    if report["demand_outside"]:
        logger.warning(
            "%d demand points (%.0f residents) lie outside every unit and are left out",
            report["demand_outside"],
            report["population_outside"],
        )
    buffer_m = 1000.0 * (s.buffer_km or 0.0)  # resolved settings always have a buffer
    buffered = np.empty(len(units), dtype=object)
    buffered[:] = [_buffer_unit(g, buffer_m) for g in units.geometry.to_numpy()]
    shapely.prepare(buffered)
    s_lon, s_lat = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    road_index = None if roads is None else RoadIndex(roads)
    jobs = []
    for k, uid in enumerate(ids):
        own = s_unit == k
        near = existing & ~own & shapely.contains_xy(buffered[k], s_lon, s_lat)
        job_sites = sites[own | near].reset_index(drop=True)
        job_demand = demand[d_unit == k].reset_index(drop=True).assign(unit_id=uid)
        job_roads = None
        if road_index is not None:
            job_roads = road_index.clip(buffered[k])
        job = UnitJob(
            unit_id=uid,
            name=str(units["name"].iloc[k]),
            unit=units.iloc[[k]].reset_index(drop=True),
            demand=job_demand,
            sites=job_sites,
            roads=job_roads,
            settings=s,
        )
        jobs.append(UnitJob(**{**job.__dict__, "key": unit_key(job)}))
    return jobs, report
