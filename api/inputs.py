"""Thin adapters between API requests and ``siting``: inputs → Scenario, results → GeoJSON.

No domain logic: validation beyond the request shape is done by ``siting`` / ``geodata``
(whose errors name the field); this module only converts, enforces the service's size limits
and restricts a job's travel times to a subset of sites for what-if runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import shapely.geometry

from api.problems import ApiProblem
from api.schemas import FeatureCollection, SolveRequest, WhatIfRequest
from api.storage import Storage
from siting import CRSError, DataNotFoundError, InputError, PlanResult, Scenario, plan
from siting._json import json_number, jsonable
from siting.export import geojson_dict, geojson_text
from siting.planning import TravelCosts

__all__ = [
    "DATASET_SUFFIXES",
    "SITE_PROPERTIES",
    "build_scenario",
    "compliance_json",
    "dataset_suffix",
    "jsonable",
    "plan_collection",
    "validate_dataset",
    "what_if",
]

logger = logging.getLogger(__name__)

#: File suffixes each dataset kind accepts (longest match wins).
DATASET_SUFFIXES: dict[str, tuple[str, ...]] = {
    "population": (".tif", ".tiff", ".geojson", ".json", ".gpkg"),
    "roads": (".osm.pbf", ".pbf", ".osm", ".xml", ".graphml"),
    "sites": (".geojson", ".json", ".gpkg"),
    "units": (".geojson", ".json", ".gpkg"),
}
SITE_PROPERTIES = (
    "site_id",
    "name",
    "status",
    "assigned_population",
    "covered_population",
    "mean_travel_min",
    "max_travel_min",
)
_WGS84 = pyproj.CRS.from_epsg(4326)


# --------------------------------------------------------------------------- datasets
def dataset_suffix(kind: str, filename: str) -> str:
    """The stored suffix of an upload (from an allow-list), or an UnsupportedFormatError."""
    from siting import UnsupportedFormatError

    allowed = DATASET_SUFFIXES[kind]
    name = filename.lower()
    for suffix in sorted(allowed, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise UnsupportedFormatError(
        f"`file` {filename!r} has an unsupported format for a {kind} dataset; expected one of "
        f"{', '.join(allowed)}"
    )


def validate_dataset(kind: str, path: Path) -> dict[str, Any]:
    """Read an uploaded file with the domain loader; return metadata (raises on bad data)."""
    if kind == "population":
        from geodata import load_population

        demand = load_population(path)
        return {
            "features": len(demand),
            "population": round(float(demand["population"].sum()), 3),
            "crs": demand.crs.to_string() if demand.crs else None,
        }
    if kind == "sites":
        from geodata import load_sites

        sites = load_sites(path)
        return {"features": len(sites), "crs": sites.crs.to_string() if sites.crs else None}
    if kind == "units":
        from geodata import load_boundaries

        units = load_boundaries(path)
        return {"features": len(units), "crs": units.crs.to_string() if units.crs else None}
    # roads: parsed (and the compact network cached) on first use, per travel mode
    return {}


def _dataset(storage: Storage, dataset_id: UUID, field: str, kind: str) -> Path:
    record = storage.get_dataset(str(dataset_id))
    if record is None:
        raise ApiProblem(
            404,
            "Dataset not found",
            f"`{field}`: no dataset with id {dataset_id}; upload one with POST /v1/datasets",
            field=field,
            value=str(dataset_id),
            expected="the id of an uploaded dataset",
        )
    if record["kind"] != kind:
        raise ApiProblem(
            422,
            "Wrong dataset kind",
            f"`{field}`: dataset {dataset_id} is a {record['kind']!r} dataset; expected {kind!r}",
            field=field,
            value=str(dataset_id),
            expected=f"a {kind} dataset",
        )
    path = storage.dataset_path(record)
    if not path.is_file():
        raise DataNotFoundError(f"`{field}`: the file of dataset {dataset_id} is missing")
    return path


# --------------------------------------------------------------------------- GeoJSON in
def _crs_of(fc: FeatureCollection, field: str) -> pyproj.CRS:
    if fc.crs is None:
        return _WGS84
    props = fc.crs.get("properties") if isinstance(fc.crs, dict) else None
    name = props.get("name") if isinstance(props, dict) else None
    try:
        return pyproj.CRS.from_user_input(name)
    except (pyproj.exceptions.CRSError, TypeError) as exc:
        raise CRSError(
            f"`{field}.crs` names no usable CRS (got {fc.crs!r}); expected none (RFC 7946: WGS84 "
            'lon/lat) or {"type": "name", "properties": {"name": "EPSG:4326"}}'
        ) from exc


def frame_from_geojson(fc: FeatureCollection, field: str) -> gpd.GeoDataFrame:
    """A FeatureCollection as a GeoDataFrame (properties as columns, ``_feature_id``)."""
    crs = _crs_of(fc, field)
    geoms: list[Any] = []
    rows: list[dict[str, Any]] = []
    for i, feature in enumerate(fc.features):
        where = f"{field}.features[{i}].geometry"
        if feature.geometry is None:
            raise InputError(f"`{where}` is null; expected a GeoJSON geometry")
        try:
            geom = shapely.geometry.shape(feature.geometry)
        except Exception as exc:  # shapely raises many types on bad input
            text = json.dumps(feature.geometry, default=str)[:120]
            raise InputError(
                f"`{where}` is not a valid GeoJSON geometry ({type(exc).__name__}: {exc}); "
                f"got {text}"
            ) from exc
        if geom.is_empty:
            raise InputError(f"`{where}` is empty; expected coordinates")
        coords = shapely.get_coordinates(geom)
        if not np.isfinite(coords).all():
            raise InputError(f"`{where}` has non-finite coordinates")
        if crs.is_geographic and (
            (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()
        ):
            x, y = coords[0]
            raise CRSError(
                f"`{where}` has coordinates ({x:g}, {y:g}) outside longitude/latitude ranges; "
                f"expected WGS84 lon/lat (RFC 7946), or name the CRS in a `crs` member"
            )
        geoms.append(geom)
        props = dict(feature.properties or {})
        props["_feature_id"] = feature.id
        rows.append(props)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs)


def _ids(frame: gpd.GeoDataFrame, columns: tuple[str, ...], prefix: str) -> np.ndarray:
    for col in columns:
        if col in frame.columns and frame[col].notna().all():
            return frame[col].astype(str).to_numpy(dtype=object)
    return np.array([f"{prefix}{i}" for i in range(len(frame))], dtype=object)


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
    pop = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"`{field}.features[{i}].properties.{population_property}` must be a number >= 0, "
            f"got {raw.iloc[i]!r} ({int(bad.sum())} bad features)"
        )
    geoms = frame.geometry.to_numpy()
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    return gpd.GeoDataFrame(
        {"demand_id": _ids(frame, ("demand_id", "_feature_id"), "d"), "population": pop},
        geometry=points,
        crs=frame.crs,
    )


def sites_from_geojson(fc: FeatureCollection, *, existing: bool, field: str) -> gpd.GeoDataFrame:
    """Sites (``site_id``, ``name``, ``existing``) from GeoJSON; polygons become points."""
    frame = frame_from_geojson(fc, field)
    geoms = frame.geometry.to_numpy()
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
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
        geometry=points,
        crs=frame.crs,
    )


def units_from_geojson(fc: FeatureCollection, field: str = "units") -> gpd.GeoDataFrame:
    """Admin units (``unit_id``, ``name``, polygons)."""
    frame = frame_from_geojson(fc, field)
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


# --------------------------------------------------------------------------- scenario
def capped(requested: float | None, cap: float) -> float:
    """The solver time limit: the request's, never above the server-wide cap."""
    return cap if requested is None else min(float(requested), cap)


def build_scenario(
    req: SolveRequest,
    storage: Storage,
    *,
    time_limit: float,
    max_demand: int | None = None,
    max_sites: int | None = None,
) -> Scenario:
    """A validated Scenario from a request (inline GeoJSON or dataset ids).

    ``max_demand`` / ``max_sites`` enforce the synchronous-solve size limits (413 problems
    pointing at ``POST /v1/jobs``).
    """
    from geodata import combine_sites, load_boundaries, load_population, load_sites

    if max_demand is not None and req.demand is not None and len(req.demand.features) > max_demand:
        _too_large("demand", len(req.demand.features), max_demand)
    if req.demand is not None:
        demand = demand_from_geojson(req.demand, req.population_property)
    else:
        path = _dataset(storage, req.demand_dataset, "demand_dataset", "population")
        kwargs = (
            {}
            if path.suffix in (".tif", ".tiff")
            else {"population_column": req.population_property}
        )
        demand = load_population(path, **kwargs)
    if max_demand is not None and len(demand) > max_demand:
        _too_large("demand", len(demand), max_demand)

    frames: dict[str, gpd.GeoDataFrame] = {}
    for field, flag in (("existing", True), ("sites", False)):
        inline = getattr(req, field)
        ref = getattr(req, f"{field}_dataset")
        if inline is not None:
            frames[field] = sites_from_geojson(inline, existing=flag, field=field)
        elif ref is not None:
            frames[field] = load_sites(
                _dataset(storage, ref, f"{field}_dataset", "sites"), existing=flag
            )
    if len(frames) == 2:
        sites = combine_sites(frames["existing"], frames["sites"])
    else:
        sites = next(iter(frames.values()))
    if max_sites is not None and len(sites) > max_sites:
        _too_large("sites", len(sites), max_sites)

    units = None
    if req.units is not None:
        units = units_from_geojson(req.units)
    elif req.units_dataset is not None:
        units = load_boundaries(_dataset(storage, req.units_dataset, "units_dataset", "units"))

    roads = None
    if req.roads_dataset is not None:
        from geodata.network import load_or_build_network

        path = _dataset(storage, req.roads_dataset, "roads_dataset", "roads")
        roads = load_or_build_network(path, req.mode, storage.root / "networks")

    n_existing = int(sites["existing"].astype(bool).sum())
    new_sites = req.new_sites
    if req.p is not None:
        new_sites = req.p - n_existing
        if new_sites < 0:
            raise InputError(
                f"`p` counts every open site, existing included: it must be at least the "
                f"{n_existing} existing sites, got {req.p}"
            )
    rules = None
    if req.rules_preset is not None:
        from siting.rules import default_rules

        rules = default_rules()
    return Scenario(
        demand=demand,
        sites=sites,
        model=req.model,
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


# --------------------------------------------------------------------------- results out
def plan_collection(result: PlanResult, **extra: Any) -> dict[str, Any]:
    """The chosen sites as an RFC 7946 FeatureCollection with the coverage score and the solve
    status and gap as top-level members."""
    sol = result.solution
    members: dict[str, Any] = {
        "status": result.status,
        "gap": json_number(sol.gap, 6),
        "objective": json_number(sol.objective, 6),
        "bound": json_number(sol.bound, 6),
        "coverage": result.coverage.as_dict() if result.coverage is not None else None,
        "mean_travel_minutes": json_number(result.mean_travel_minutes, 3),
        "unreachable_population": json_number(result.unreachable_population, 3),
        "notes": list(result.notes),
        **extra,
    }
    layer = result.chosen_sites.reset_index(drop=True)
    columns = [c for c in SITE_PROPERTIES if c in layer.columns]
    return jsonable(
        geojson_dict(layer, properties=columns, id_column="site_id", extra=members, name="sites")
    )


def collection_text(doc: dict[str, Any]) -> str:
    """A FeatureCollection as GeoJSON text."""
    return geojson_text(doc)


def compliance_json(result: PlanResult) -> dict[str, Any]:
    """The per-unit compliance report as JSON (``units`` is ``None`` without admin units)."""
    table = result.compliance
    if table is None:
        return {"units": None, "reason": "the run had no admin units (`units`)"}
    records = json.loads(table.to_json(orient="records", force_ascii=False))
    return {"units": records, "summary": jsonable(result.summary().get("compliance"))}


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
