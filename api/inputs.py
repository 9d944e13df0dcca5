"""Thin adapters between API requests and :mod:`siting.workflow`: inline GeoJSON and dataset
ids → frames → :func:`siting.workflow.build_scenario`, and a job's what-if request →
:func:`siting.workflow.what_if` / :func:`~siting.workflow.judge` /
:func:`~siting.workflow.broken_rules`.

No domain logic: validation beyond the request shape is done by ``siting`` / ``geodata``
(whose errors name the field); this module converts and enforces the service's size limits and
which what-if fields fit which job. Stored datasets are read through
:func:`api.uploads.read_dataset` (the file guard).
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
from siting import InputError, PlanResult, Scenario, workflow
from siting.kinds import unit_kinds
from siting.travel import TravelCosts

__all__ = [
    "build_scenario",
    "capped",
    "check_inline",
    "demand_from_geojson",
    "frame_from_geojson",
    "pois_from_geojson",
    "sites_from_geojson",
    "units_from_geojson",
    "villages_from_geojson",
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


def _text_column(frame: gpd.GeoDataFrame, column: str) -> np.ndarray:
    """A property as text (missing → empty): a property may hold any JSON value, the outputs
    take text only."""
    return frame[column].map(lambda v: "" if v is None or v != v else str(v)).to_numpy(dtype=object)


def sites_from_geojson(fc: FeatureCollection, *, existing: bool, field: str) -> gpd.GeoDataFrame:
    """Sites (``site_id``, ``name``, ``existing``, and ``tier`` when a feature has it: what an
    existing facility is, e.g. ``township_health_centre``) from GeoJSON; polygons become
    points."""
    frame = frame_from_geojson(fc, field)
    names = (
        _text_column(frame, "name")
        if "name" in frame.columns
        else np.full(len(frame), "", dtype=object)
    )
    columns: dict[str, Any] = {
        "site_id": _ids(frame, ("site_id", "id", "_feature_id"), "E" if existing else "C"),
        "name": names,
        "existing": np.full(len(frame), existing),
    }
    if "tier" in frame.columns:
        columns["tier"] = _text_column(frame, "tier")
    return gpd.GeoDataFrame(columns, geometry=_points(frame), crs=frame.crs)


def units_from_geojson(
    fc: FeatureCollection, field: str = "units", *, kind_column: str | None = None
) -> gpd.GeoDataFrame:
    """Admin units (``unit_id``, ``name``, polygons; a ``kind`` property and ``kind_column``
    are kept as text: the unit's kind for a rules plan)."""
    frame = frame_from_geojson(fc, field)
    kinds = shapely.get_type_id(frame.geometry.to_numpy())
    if not np.isin(kinds, [3, 6]).all():
        i = int(np.flatnonzero(~np.isin(kinds, [3, 6]))[0])
        raise InputError(f"`{field}.features[{i}].geometry` must be a Polygon or MultiPolygon")
    names = (
        _text_column(frame, "name")
        if "name" in frame.columns
        else np.array([f"unit {i}" for i in range(len(frame))], dtype=object)
    )
    columns: dict[str, Any] = {
        "unit_id": _ids(frame, ("unit_id", "_feature_id"), "U"),
        "name": names,
    }
    for extra in dict.fromkeys(c for c in ("kind", kind_column) if c):
        if extra in frame.columns and extra not in columns:
            columns[extra] = _text_column(frame, extra)
        elif extra == kind_column:
            raise InputError(
                f"`unit_kind_column` {kind_column!r} is not a property of `{field}` (properties: "
                f"{[c for c in frame.columns if c not in ('geometry', '_feature_id')][:20]}); "
                "expected the property holding each unit's kind"
            )
    return gpd.GeoDataFrame(columns, geometry=frame.geometry.to_numpy(), crs=frame.crs)


def villages_from_geojson(fc: FeatureCollection, field: str = "villages") -> gpd.GeoDataFrame:
    """Administrative villages for rule R3 (``village_id``, ``name``, ``population``; points or
    polygons), ids from ``village_id`` / ``village_code`` / ``id`` / ``code``."""
    frame = frame_from_geojson(fc, field)
    kinds = shapely.get_type_id(frame.geometry.to_numpy())
    if not np.isin(kinds, [0, 3, 6]).all():
        i = int(np.flatnonzero(~np.isin(kinds, [0, 3, 6]))[0])
        raise InputError(
            f"`{field}.features[{i}].geometry` must be a Point, Polygon or MultiPolygon"
        )
    if "population" not in frame.columns:
        raise InputError(
            f"`{field}.features[0].properties.population` is missing; expected each village's "
            "population (a number >= 0)"
        )
    raw = frame["population"]
    what = f"`{field}.features.properties.population`"
    flags = raw.map(lambda v: isinstance(v, bool)).to_numpy()
    if flags.any():
        i = int(np.flatnonzero(flags)[0])
        raise InputError(f"{what} must be a number, got {raw.iloc[i]!r} at feature {i}")
    ids = _ids(frame, ("village_id", "village_code", "id", "code", "_feature_id"), "v")
    if len(set(ids)) < len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].tolist()[:5]
        raise InputError(f"`{field}` village ids must be unique, got duplicates {dup}")
    name_col = next((c for c in ("name", "village_name") if c in frame.columns), None)
    return gpd.GeoDataFrame(
        {
            "village_id": ids,
            "name": _text_column(frame, name_col) if name_col else ids,
            "population": check_population(raw, what),
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )


def pois_from_geojson(fc: FeatureCollection, field: str = "pois") -> gpd.GeoDataFrame:
    """Points of interest for rule R4 (activity centres, elderly homes); polygons become
    points."""
    frame = frame_from_geojson(fc, field)
    return gpd.GeoDataFrame(
        {"poi_id": _ids(frame, ("poi_id", "id", "_feature_id"), "P")},
        geometry=_points(frame),
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
    kind_column = getattr(req, "unit_kind_column", None)
    if req.units is not None:
        frames["units"] = units = units_from_geojson(req.units, kind_column=kind_column)
        if req.model_name() == "rules":  # a kind the rules do not know is a 422 now
            unit_kinds(units, column=kind_column, force=getattr(req, "unit_kind", None))
    if getattr(req, "villages", None) is not None:
        frames["villages"] = villages_from_geojson(req.villages)
    if getattr(req, "pois", None) is not None:
        frames["pois"] = pois_from_geojson(req.pois)
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
    ``resolve``, read through the file guard with ``limits``), built by
    :func:`siting.workflow.build_scenario`.

    ``max_demand`` / ``max_sites`` enforce the synchronous-solve size limits (413 problems
    pointing at ``POST /v1/jobs``).
    """
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
    n_sites = sum(len(frames[f]) for f in ("existing", "sites") if f in frames)
    if max_sites is not None and n_sites > max_sites:
        _too_large("sites", n_sites, max_sites)
    existing, candidates = frames.get("existing"), frames.get("sites")
    if candidates is None:  # existing sites alone: judged / served as they are, none generated
        existing, candidates = None, existing

    units = frames.get("units")
    kind_column = getattr(req, "unit_kind_column", None)
    if units is None and req.units_dataset is not None:
        path = resolve("units_dataset", req.units_dataset, "units")
        keep = (kind_column,) if kind_column else ()
        units = read_dataset(path, "units", "units_dataset", limits, keep=keep)

    roads = None
    if req.roads_dataset is not None:
        path = resolve("roads_dataset", req.roads_dataset, "roads")
        roads = read_dataset(
            path, "roads", "roads_dataset", limits, mode=req.mode, cache_dir=cache_dir
        )

    new_sites, p = req.site_count()
    if p is not None:
        n_existing = sum(
            int(f["existing"].astype(bool).sum()) for f in (existing, candidates) if f is not None
        )
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
    return workflow.build_scenario(
        demand,
        sites=candidates,
        existing=existing,
        roads=roads,
        units=units,
        model=req.model_name(),
        new_sites=new_sites,
        threshold_minutes=req.threshold_minutes,
        mode=req.mode,
        max_snap_distance=req.max_snap_distance,
        detour_factor=req.detour_factor,
        time_limit=time_limit,
        name=req.name,
        rules=rules,
        villages=frames.get("villages"),
        pois=frames.get("pois"),
        **req.plan_parameters(),
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
) -> tuple[PlanResult, pd.DataFrame | None]:
    """A finished job's scenario planned again with the request's changes on its travel times
    (:func:`siting.workflow.what_if`). On a rules job: the job's plan again, then its edit
    judged by the rules (:func:`siting.workflow.judge`; with ``replan``, planned by the rules
    around the edits) and the units whose compliance the edit breaks
    (:func:`siting.workflow.broken_rules`); ``None`` for a single-model job."""
    if scenario.model != "rules":
        if req.replan:
            raise InputError(
                f"`replan` is for rules jobs; this job ran model {scenario.model!r}, whose "
                "what-if always plans again"
            )
        result = workflow.what_if(
            scenario,
            travel,
            close_sites=req.close_sites,
            open_sites=req.open_sites,
            threshold_minutes=req.threshold_minutes,
            new_sites=req.new_sites,
            p=req.p,
            time_limit=time_limit,
        )
        return result, None
    for field in ("new_sites", "p"):
        if getattr(req, field) is not None:
            raise InputError(
                f"`{field}` is for single-model jobs; on a rules job the rules decide how many "
                "sites open: give `open_sites` / `close_sites` (and `replan`)"
            )
    job_plan = workflow.run_plan(scenario.replace(time_limit=time_limit), travel=travel).result
    if req.replan:
        edited = workflow.what_if(
            scenario,
            travel,
            close_sites=req.close_sites,
            open_sites=req.open_sites,
            threshold_minutes=req.threshold_minutes,
            time_limit=time_limit,
        )
    else:
        if req.threshold_minutes is not None:
            raise InputError(
                "`threshold_minutes` on a rules job needs `replan: true` (the plan is planned "
                "again for the new circle)"
            )
        edited = workflow.judge(job_plan, close_sites=req.close_sites, open_sites=req.open_sites)
    return edited, workflow.broken_rules(job_plan, edited)
