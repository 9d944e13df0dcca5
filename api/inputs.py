"""Thin adapters between API requests and ``siting``: inline GeoJSON and dataset ids → Scenario,
and a job's scenario with what-if changes.

No domain logic: validation beyond the request shape is done by ``siting`` / ``geodata``
(whose errors name the field); this module converts, enforces the service's size limits and
restricts a job's travel times to a subset of sites for what-if runs. Stored datasets are read
through :func:`api.uploads.read_dataset` (the file guard).
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.errors
import shapely.geometry

from api.geojson import FeatureCollection
from api.problems import ApiProblem
from api.schemas import WhatIfRequest
from api.uploads import Resolver, check_frame, check_population, read_dataset
from geodata.guard import GuardLimits
from siting import InputError, PlanResult, Scenario, plan
from siting.travel import TravelCosts

__all__ = [
    "build_scenario",
    "capped",
    "check_inline",
    "demand_from_geojson",
    "frame_from_geojson",
    "sites_from_geojson",
    "units_from_geojson",
    "what_if",
]

logger = logging.getLogger(__name__)

_INLINE = ("demand", "sites", "existing", "units")


# --------------------------------------------------------------------------- GeoJSON in
def _xy(coordinates: Any) -> Any:
    """Positions reduced to (x, y): GeoJSON allows a third value, and mixing 2D and 3D
    positions in one geometry is legal but not for GEOS."""
    if coordinates and isinstance(coordinates[0], int | float):
        return [coordinates[0], coordinates[1]]
    return [_xy(c) for c in coordinates]


def _shape(geometry: Any) -> Any:
    doc = geometry.model_dump(exclude_none=True)
    if doc["type"] == "GeometryCollection":
        doc["geometries"] = [{**g, "coordinates": _xy(g["coordinates"])} for g in doc["geometries"]]
    else:
        doc["coordinates"] = _xy(doc["coordinates"])
    return shapely.geometry.shape(doc)


def _geometries(fc: FeatureCollection, field: str) -> np.ndarray:
    features = fc.features
    if all(f.geometry.type == "Point" for f in features):
        coords = np.asarray([_xy(f.geometry.coordinates) for f in features], dtype=np.float64)  # type: ignore[union-attr]
        geoms = shapely.points(coords)
    else:
        geoms = np.empty(len(features), dtype=object)
        for i, feature in enumerate(features):
            try:
                geoms[i] = _shape(feature.geometry)
            except (ValueError, shapely.errors.GEOSException) as exc:
                raise InputError(
                    f"`{field}.features[{i}].geometry` is not a valid geometry ({exc})"
                ) from None
    if not np.isfinite(shapely.get_coordinates(geoms)).all():
        raise InputError(f"`{field}` has non-finite coordinates")
    empty = shapely.is_empty(geoms)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputError(f"`{field}.features[{i}].geometry` is empty; expected coordinates")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        i = int(np.flatnonzero(invalid)[0])
        raise InputError(
            f"`{field}.features[{i}].geometry` is not a valid geometry "
            f"({shapely.is_valid_reason(geoms[i])}); fix it (e.g. in QGIS: Fix geometries)"
        )
    return geoms


def frame_from_geojson(fc: FeatureCollection, field: str) -> gpd.GeoDataFrame:
    """A FeatureCollection as a GeoDataFrame (properties as columns, ``_feature_id``), with its
    CRS (``crs`` member: EPSG code, URN or WKT) and coordinates checked."""
    crs = fc.checked_crs(field)
    geoms = _geometries(fc, field)
    rows = [{**(f.properties or {}), "_feature_id": f.id} for f in fc.features]
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs)
    return check_frame(frame, field)


def _ids(frame: gpd.GeoDataFrame, columns: tuple[str, ...], prefix: str) -> np.ndarray:
    for col in columns:
        if col in frame.columns and frame[col].notna().all():
            return frame[col].astype(str).to_numpy(dtype=object)
    return np.array([f"{prefix}{i}" for i in range(len(frame))], dtype=object)


def _points(frame: gpd.GeoDataFrame) -> np.ndarray:
    geoms = frame.geometry.to_numpy()
    return np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))


def demand_from_geojson(
    fc: FeatureCollection, population_property: str, field: str = "demand"
) -> gpd.GeoDataFrame:
    """Demand points (``demand_id``, ``population``) from points or polygons."""
    frame = frame_from_geojson(fc, field)
    if population_property not in frame.columns:
        raise InputError(
            f"`{field}.features[0].properties.{population_property}` is missing; expected a "
            f"population number >= 0 on every feature (or set `population_property`)"
        )
    raw = frame[population_property]
    what = f"`{field}.features.properties.{population_property}`"
    flags = raw.map(lambda v: isinstance(v, bool)).to_numpy()
    if flags.any():
        i = int(np.flatnonzero(flags)[0])
        raise InputError(f"{what} must be a number, got {raw.iloc[i]!r} at feature {i}")
    pop = check_population(raw, what)
    return gpd.GeoDataFrame(
        {"demand_id": _ids(frame, ("demand_id", "_feature_id"), "d"), "population": pop},
        geometry=_points(frame),
        crs=frame.crs,
    )


def sites_from_geojson(fc: FeatureCollection, *, existing: bool, field: str) -> gpd.GeoDataFrame:
    """Sites (``site_id``, ``name``, ``existing``) from GeoJSON; polygons become points."""
    frame = frame_from_geojson(fc, field)
    names = (
        frame["name"].fillna("").astype(str).to_numpy(dtype=object)
        if "name" in frame.columns
        else np.full(len(frame), "", dtype=object)
    )
    return gpd.GeoDataFrame(
        {
            "site_id": _ids(frame, ("site_id", "id", "_feature_id"), "E" if existing else "C"),
            "name": names,
            "existing": np.full(len(frame), existing),
        },
        geometry=_points(frame),
        crs=frame.crs,
    )


def units_from_geojson(fc: FeatureCollection, field: str = "units") -> gpd.GeoDataFrame:
    """Admin units (``unit_id``, ``name``, polygons)."""
    frame = frame_from_geojson(fc, field)
    kinds = shapely.get_type_id(frame.geometry.to_numpy())
    if not np.isin(kinds, [3, 6]).all():
        i = int(np.flatnonzero(~np.isin(kinds, [3, 6]))[0])
        raise InputError(f"`{field}.features[{i}].geometry` must be a Polygon or MultiPolygon")
    names = (
        frame["name"].fillna("").astype(str).to_numpy(dtype=object)
        if "name" in frame.columns
        else np.array([f"unit {i}" for i in range(len(frame))], dtype=object)
    )
    return gpd.GeoDataFrame(
        {"unit_id": _ids(frame, ("unit_id", "_feature_id"), "U"), "name": names},
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )


def check_inline(req: Any, *, max_demand: int | None = None, max_sites: int | None = None) -> None:
    """Convert the request's inline GeoJSON once, so bad geometry, CRS or population is a 422
    when the request arrives (a job never fails for it later)."""
    _inline_frames(req, max_demand=max_demand, max_sites=max_sites)


def _inline_frames(
    req: Any, *, max_demand: int | None, max_sites: int | None
) -> dict[str, gpd.GeoDataFrame]:
    frames: dict[str, gpd.GeoDataFrame] = {}
    if req.demand is not None:
        if max_demand is not None and len(req.demand.features) > max_demand:
            _too_large("demand", len(req.demand.features), max_demand)
        frames["demand"] = demand_from_geojson(req.demand, req.population_property)
    for field, flag in (("existing", True), ("sites", False)):
        inline = getattr(req, field)
        if inline is not None:
            frames[field] = sites_from_geojson(inline, existing=flag, field=field)
    if req.units is not None:
        frames["units"] = units_from_geojson(req.units)
    return frames


# --------------------------------------------------------------------------- scenario
def capped(requested: float | None, cap: float) -> float:
    """The solver time limit: the request's, never above the server-wide cap."""
    return cap if requested is None else min(float(requested), cap)


def build_scenario(
    req: Any,
    resolve: Resolver,
    limits: GuardLimits,
    *,
    time_limit: float,
    cache_dir: Any,
    max_demand: int | None = None,
    max_sites: int | None = None,
) -> Scenario:
    """A validated Scenario from a request (inline GeoJSON or dataset ids resolved by
    ``resolve``, read through the file guard with ``limits``).

    ``max_demand`` / ``max_sites`` enforce the synchronous-solve size limits (413 problems
    pointing at ``POST /v1/jobs``).
    """
    from geodata import combine_sites

    frames = _inline_frames(req, max_demand=max_demand, max_sites=max_sites)
    if "demand" in frames:
        demand = frames["demand"]
    else:
        path = resolve("demand_dataset", req.demand_dataset, "population")
        demand = read_dataset(
            path,
            "population",
            "demand_dataset",
            limits,
            population_property=req.population_property,
        )
    if max_demand is not None and len(demand) > max_demand:
        _too_large("demand", len(demand), max_demand)

    for field, flag in (("existing", True), ("sites", False)):
        ref = getattr(req, f"{field}_dataset")
        if field not in frames and ref is not None:
            path = resolve(f"{field}_dataset", ref, "sites")
            frames[field] = read_dataset(path, "sites", f"{field}_dataset", limits, existing=flag)
    if "existing" in frames and "sites" in frames:
        sites = combine_sites(frames["existing"], frames["sites"])
    else:
        sites = frames["existing"] if "existing" in frames else frames["sites"]
    if max_sites is not None and len(sites) > max_sites:
        _too_large("sites", len(sites), max_sites)

    units = frames.get("units")
    if units is None and req.units_dataset is not None:
        path = resolve("units_dataset", req.units_dataset, "units")
        units = read_dataset(path, "units", "units_dataset", limits)

    roads = None
    if req.roads_dataset is not None:
        path = resolve("roads_dataset", req.roads_dataset, "roads")
        roads = read_dataset(
            path, "roads", "roads_dataset", limits, mode=req.mode, cache_dir=cache_dir
        )

    n_existing = int(sites["existing"].astype(bool).sum())
    new_sites, p = req.site_count()
    if p is not None:
        new_sites = p - n_existing
        if new_sites < 0:
            raise InputError(
                f"`p` counts every open site, existing included: it must be at least the "
                f"{n_existing} existing sites, got {p}"
            )
    rules = None
    if req.rules_preset is not None:
        from siting.rules import default_rules

        rules = default_rules()
    return Scenario(
        demand=demand,
        sites=sites,
        model=req.model_name(),
        new_sites=new_sites,
        threshold_minutes=req.threshold_minutes,
        mode=req.mode,
        roads=roads,
        units=units,
        max_snap_distance=req.max_snap_distance,
        detour_factor=req.detour_factor,
        time_limit=time_limit,
        name=req.name,
        rules=rules,
    )


def _too_large(what: str, count: int, limit: int) -> None:
    raise ApiProblem(
        413,
        "Too large for a synchronous solve",
        f"`{what}` has {count:,} features; POST /v1/solve takes at most {limit:,}. "
        "Submit large runs as a job: POST /v1/jobs (same body), then poll GET /v1/jobs/{id}.",
        field=what,
        value=count,
        expected=f"at most {limit} features",
        jobs="/v1/jobs",
    )


# --------------------------------------------------------------------------- what-if
def what_if(
    scenario: Scenario, travel: TravelCosts, req: WhatIfRequest, *, time_limit: float
) -> PlanResult:
    """Re-solve a job's scenario with changes, reusing its travel times."""
    sites = scenario.sites
    ids = sites["site_id"].astype(str)
    known = set(ids)
    for field in ("close_sites", "open_sites"):
        unknown = [s for s in getattr(req, field) if s not in known]
        if unknown:
            raise InputError(
                f"`{field}` has unknown site ids {unknown[:5]}; expected ids of the job's sites "
                f"(e.g. {sorted(known)[:5]})"
            )
    keep = ~ids.isin(req.close_sites).to_numpy()
    if not keep.any():
        raise InputError("`close_sites` removes every site; at least one must remain")
    new_frame = sites[keep].copy()
    if req.open_sites:
        forced = new_frame["site_id"].astype(str).isin(req.open_sites).to_numpy()
        new_frame.loc[forced, "existing"] = True
    changes: dict[str, Any] = {
        "sites": new_frame,
        "cutoff_minutes": travel.cutoff_minutes,
        "time_limit": time_limit,
        "name": f"{scenario.name} (what-if)",
    }
    if req.threshold_minutes is not None:
        if req.threshold_minutes > travel.cutoff_minutes:
            raise InputError(
                f"`threshold_minutes` must be at most {travel.cutoff_minutes:g} (the job's "
                f"travel-time search cutoff), got {req.threshold_minutes:g}; submit a new job "
                "for a larger threshold"
            )
        changes["threshold_minutes"] = req.threshold_minutes
    n_existing = int(new_frame["existing"].astype(bool).sum())
    if req.p is not None:
        if req.p < n_existing:
            raise InputError(
                f"`p` counts every open site, existing and forced-open included: it must be at "
                f"least {n_existing}, got {req.p}"
            )
        changes["new_sites"] = req.p - n_existing
    elif req.new_sites is not None:
        changes["new_sites"] = req.new_sites
    elif scenario.model != "lscp" and scenario.new_sites is not None:
        changes["new_sites"] = min(scenario.new_sites, len(new_frame) - n_existing)
    sub = travel if keep.all() else travel.restrict_sites(np.flatnonzero(keep))
    return plan(scenario.replace(**changes), travel=sub)
