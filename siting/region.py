"""Region-scale planning: split a region into planning units (counties), plan each unit as a
Dask task with a cross-border buffer, cache per unit, and gather one GeoPackage + compliance.

Workflow (:func:`plan_region`):

1. :func:`split_region` builds one :class:`UnitJob` per unit. **Counting rule (no double
   counting):** every demand point belongs to exactly one unit, the one containing it
   (:func:`geodata.assign_units`; on a shared border the first unit in file order), and is
   counted, solved for and reported only there; points outside every unit are dropped (and
   reported). Every candidate site belongs to the unit containing it and only that unit may
   open it, so no site is opened twice. A unit's scenario also holds the **existing** sites of
   its neighbours within ``buffer_km`` of its border (fixed open, never counted in its own
   centres) and the road network within the same buffer, so demand near a border may be served
   (and counted as covered) by a neighbour's clinic across the border. New sites a neighbour
   opens are decided concurrently and are not seen by the unit, so cross-border coverage by new
   sites is not credited: the region's coverage is conservative (a lower bound). Travel times
   are computed on the buffered network only, so they are exact for paths that stay within the
   buffer and an over-estimate otherwise (also conservative).
2. Each job's inputs are hashed (:func:`unit_key`: unit geometry, demand, sites, roads,
   settings, rules, a format version). With ``cache_dir``, a finished unit is stored as
   ``<unit_id>-<key>.pkl`` as soon as its result reaches the client; a rerun with the same
   inputs loads it instead of recomputing. Failed units are never cached.
3. Jobs run as tasks on a ``dask.distributed`` cluster: a ``LocalCluster`` of worker
   processes on loopback by default, or an existing scheduler (``scheduler="tcp://HOST:PORT"``).
   Each task is :func:`run_unit`, which never raises: a unit whose inputs are broken (or whose
   solve fails) comes back as a failed :class:`UnitOutcome` with the error, and the other units
   carry on; a task lost with its worker is reported the same way. Progress is reported per unit
   (one line each, after the dashboard link). ``serial=True`` runs the same tasks in-process.
4. :class:`RegionResult` merges the units: demand points, sites (per-site served population
   recomputed over every unit's demand, so a clinic serving across a border counts all its
   residents), one compliance report (:func:`siting.compliance.compliance_table` over the
   merged tables; failed units listed with their error) and :meth:`RegionResult.save` writes
   one GeoPackage, the compliance CSV and a JSON summary.

Dask is an optional dependency (extra ``distributed``), imported only when a cluster is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting_errors import DependencyError, InputError

__all__ = [
    "RegionResult",
    "RegionSettings",
    "RoadWindow",
    "UnitJob",
    "UnitOutcome",
    "load_region_inputs",
    "plan_region",
    "run_unit",
    "split_region",
    "unit_key",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: bump when the cached outcome format or the planning semantics change
CACHE_VERSION = 1
#: speeds (km/h) used to derive the default buffer: the farthest one travels within the circle
_BUFFER_SPEED_KMH = {"walk": 4.5, "drive": 60.0}

COUNTING_RULE = (
    "each demand point is counted only in the unit that contains it; only that unit's "
    "candidates may be opened for it; existing sites of neighbouring units within the buffer "
    "may serve it across the border (and count it as covered), new sites of neighbours are not "
    "credited (conservative)"
)


@dataclass(frozen=True)
class RegionSettings:
    """The planning parameters shared by every unit.

    Attributes:
        model: ``lscp``, ``mclp``, ``pmedian`` or ``pcenter``.
        new_sites: new sites per unit (an int for every unit, or ``{unit_id: n}``; units not in
            the mapping get 0); capped at the unit's own candidates. Not used by LSCP.
        threshold_minutes: the service circle (R6); ``None`` uses the rules' R6.
        mode: ``walk`` or ``drive``; ``None`` uses the rules' R6 rural mode.
        buffer_km: cross-border buffer; ``None`` = how far one travels within the circle
            (threshold × 60 km/h driving, 4.5 km/h walking).
        max_snap_distance, cutoff_minutes, detour_factor, backend, time_limit, mip_gap: as in
            :class:`siting.Scenario`.
        rules: a :class:`siting.rules.RulePreset`; ``None`` uses the packaged preset.
    """

    model: str = "mclp"
    new_sites: int | Mapping[str, int] | None = 2
    threshold_minutes: float | None = None
    mode: str | None = None
    buffer_km: float | None = None
    max_snap_distance: float = 2000.0
    cutoff_minutes: float | None = None
    detour_factor: float = 1.3
    backend: str = "highs"
    time_limit: float | None = 60.0
    mip_gap: float = 0.0
    rules: Any = None

    def resolved(self) -> RegionSettings:
        """A copy with the rules, threshold, mode and buffer filled in."""
        from siting.rules import RulePreset, default_rules

        rules = self.rules if self.rules is not None else default_rules()
        if not isinstance(rules, RulePreset):
            raise InputError(f"`rules` must be a RulePreset, got {type(rules).__name__}")
        threshold = (
            self.threshold_minutes
            if self.threshold_minutes is not None
            else rules.R6.threshold_minutes
        )
        mode = self.mode or rules.R6.rural_mode
        if mode not in _BUFFER_SPEED_KMH:
            raise InputError(f"`mode` must be walk or drive, got {mode!r}")
        buffer_km = self.buffer_km
        if buffer_km is None:
            buffer_km = float(threshold) / 60.0 * _BUFFER_SPEED_KMH[mode]
        if not np.isfinite(buffer_km) or buffer_km < 0:
            raise InputError(f"`buffer_km` must be >= 0, got {buffer_km!r}")
        if isinstance(self.new_sites, Mapping):
            new_sites: Any = {str(k): int(v) for k, v in self.new_sites.items()}
        else:
            new_sites = self.new_sites
        return RegionSettings(
            **{
                **{f: getattr(self, f) for f in self.__dataclass_fields__},
                "threshold_minutes": float(threshold),
                "mode": mode,
                "buffer_km": float(buffer_km),
                "rules": rules,
                "new_sites": new_sites,
            }
        )

    def describe(self) -> dict[str, Any]:
        """JSON-ready parameters (the rules by name)."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "rules"}
        if isinstance(out["new_sites"], Mapping):
            out["new_sites"] = dict(sorted(out["new_sites"].items()))
        out["rules"] = None if self.rules is None else self.rules.name
        return out

    def new_sites_for(self, unit_id: str) -> int | None:
        """The new sites asked of one unit (before capping at its candidates)."""
        if isinstance(self.new_sites, Mapping):
            return int(self.new_sites.get(unit_id, 0))
        return self.new_sites


@dataclass(frozen=True, eq=False)
class UnitJob:
    """One unit's inputs, ready to be shipped to a worker.

    ``demand`` holds only the unit's own points; ``sites`` its own sites plus the neighbours'
    existing sites within the buffer (column ``home_unit``: the unit containing each site);
    ``roads`` the road network within the buffer as a :class:`RoadWindow` (``None`` for
    straight-line runs); ``unit`` the one-row admin-unit frame; ``key`` the hash of all of them
    and the settings.
    """

    unit_id: str
    name: str
    unit: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    roads: Any
    settings: RegionSettings
    key: str = ""


@dataclass(frozen=True, eq=False)
class UnitOutcome:
    """What a unit's task returns (``status`` ``ok`` or ``failed``; never raised).

    Attributes:
        demand: the unit's demand points with ``unit_id``, ``site_id`` (nearest open site,
            possibly a neighbour's existing one), ``travel_time_min``, ``covered``, ``touring``.
        new_site_ids: the sites the unit opened (its own candidates).
        summary: solve status, objective, gap, coverage, notes, timings.
        error / detail: the error line and traceback of a failed unit.
        seconds: time spent in the task; ``worker``: host and process that ran it.
        cached: loaded from the cache rather than computed in this run.
    """

    unit_id: str
    name: str
    key: str
    status: str
    demand: gpd.GeoDataFrame | None = None
    new_site_ids: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    detail: str | None = None
    seconds: float = 0.0
    worker: str = ""
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Whether the unit was planned."""
        return self.status == "ok"


# ------------------------------------------------------------------------------- inputs


def load_region_inputs(
    units: str | Path,
    *,
    id_column: str | None = None,
    coords: str = "wgs84",
    only: tuple[str, ...] = (),
    population: str | Path | None = None,
    roads: str | Path | None = None,
    sites: str | Path | None = None,
    existing: str | Path | None = None,
    mode: str = "drive",
    synthetic_seed: int | None = None,
    synthetic_population: int = 24_000_000,
    cell_km: float = 2.0,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, Any]:
    """The region's units, demand, sites and roads from files, or a synthetic province.

    ``only`` keeps the units whose id starts with one of the prefixes (e.g. ``1501`` for
    Hohhot's counties). With ``synthetic_seed``, population, roads and sites are generated in
    the unit polygons (:func:`geodata.synthetic_province.synthetic_province`) and the other
    files are not read; else ``population`` and ``sites`` (candidates) are required.
    """
    from geodata.boundaries import load_boundaries

    frame = load_boundaries(units, id_column=id_column, coords=coords)
    if only:
        keep = frame["unit_id"].astype(str).str.startswith(tuple(only))
        if not keep.any():
            raise InputError(f"no unit id starts with {list(only)} in {str(units)!r}")
        frame = frame[keep].reset_index(drop=True)
    if synthetic_seed is not None:
        from geodata.synthetic_province import synthetic_province

        province = synthetic_province(
            frame, synthetic_seed, population=synthetic_population, cell_km=cell_km
        )
        return province.units, province.demand, province.sites, province.roads
    if population is None or sites is None:
        raise InputError(
            "give --population and --sites (candidates; --existing optional), or --synthetic"
        )
    from geodata.candidates import combine_sites, load_sites
    from geodata.population import load_population

    demand = load_population(population)
    cands = load_sites(sites, existing=False)
    all_sites = (
        combine_sites(load_sites(existing, existing=True), cands) if existing is not None else cands
    )
    graph = None
    if roads is not None:
        from geodata.roads import load_roads

        graph = load_roads(roads, mode=mode)
    return frame, demand, all_sites, graph


# ------------------------------------------------------------------------------- splitting


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


_ROAD_KEYS = ("length", "highway", "maxspeed", "oneway", "access", "motor_vehicle", "foot")


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


@dataclass(frozen=True, eq=False)
class RoadWindow:
    """A unit's share of the road graph as plain lists: the client only cuts it out with array
    masks; the worker builds the networkx graph (:meth:`to_graph`), so that CPU work runs in
    parallel. ``digest`` hashes the window's nodes and edges for the cache key."""

    graph_attrs: dict[str, Any]
    nodes: list[tuple[Any, dict[str, Any]]]
    edges: list[tuple[Any, Any, Any, dict[str, Any]]]
    digest: bytes
    kind: type

    def number_of_nodes(self) -> int:
        """Nodes in the window."""
        return len(self.nodes)

    def to_graph(self) -> Any:
        """The window as a graph of the original type (nodes and edges in the graph's order)."""
        graph = self.kind(**self.graph_attrs)
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(self.edges)
        return graph


class _RoadIndex:
    """The road graph flattened once (node coordinates, edge end positions, per-element
    digests) so each unit's window is cut with array masks."""

    def __init__(self, roads: Any) -> None:
        self.graph_attrs = dict(roads.graph)
        self.nodes = list(roads.nodes(data=True))
        self.lon = np.array([d["x"] for _, d in self.nodes], dtype=float)
        self.lat = np.array([d["y"] for _, d in self.nodes], dtype=float)
        pos = {n: k for k, (n, _) in enumerate(self.nodes)}
        self.edges = list(roads.edges(keys=True, data=True))
        self.u = np.array([pos[e[0]] for e in self.edges], dtype=np.int64)
        self.v = np.array([pos[e[1]] for e in self.edges], dtype=np.int64)
        self.kind = type(roads)
        self.node_digest = np.array(
            [_digest(f"{n}:{d.get('x')!r}:{d.get('y')!r}") for n, d in self.nodes], dtype="S16"
        )
        self.edge_digest = np.array(
            [
                _digest(f"{u}>{v}#{k}:" + ":".join(repr(d.get(a)) for a in _ROAD_KEYS))
                for u, v, k, d in self.edges
            ],
            dtype="S16",
        )

    def clip(self, area: Any) -> RoadWindow:
        """The window of the nodes inside ``area`` and the edges between them."""
        inside = shapely.contains_xy(area, self.lon, self.lat)
        nodes = np.flatnonzero(inside)
        keep = np.flatnonzero(inside[self.u] & inside[self.v])
        h = hashlib.sha256(repr(sorted(self.graph_attrs.items())).encode("utf-8"))
        h.update(self.node_digest[nodes].tobytes())
        h.update(b"|")
        h.update(self.edge_digest[keep].tobytes())
        return RoadWindow(
            graph_attrs=self.graph_attrs,
            nodes=[self.nodes[k] for k in nodes],
            edges=[self.edges[k] for k in keep],
            digest=h.digest(),
            kind=self.kind,
        )


def split_region(
    units: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    roads: Any = None,
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
    buffered = np.array(
        [_buffer_unit(g, s.buffer_km * 1000.0) for g in units.geometry.to_numpy()], dtype=object
    )
    shapely.prepare(buffered)
    s_lon, s_lat = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    road_index = None if roads is None else _RoadIndex(roads)
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


# ------------------------------------------------------------------------------- hashing


def _hash_frame(h: Any, frame: gpd.GeoDataFrame, columns: tuple[str, ...]) -> None:
    h.update(str(len(frame)).encode())
    for col in columns:
        if col not in frame.columns:
            h.update(f"<no {col}>".encode())
            continue
        values = frame[col]
        if values.dtype.kind in "biuf":
            h.update(np.ascontiguousarray(values.to_numpy(dtype=np.float64)).tobytes())
        else:
            h.update("\x1f".join(map(str, values.tolist())).encode("utf-8"))
    h.update(b"\x1e".join(shapely.to_wkb(frame.geometry.to_numpy()).tolist()))


def _hash_roads(h: Any, roads: Any) -> None:
    if roads is None:
        h.update(b"<straight line>")
    elif isinstance(roads, RoadWindow):
        h.update(roads.digest)
    else:  # a graph given directly
        h.update(_RoadIndex(roads).clip(shapely.box(-180, -90, 180, 90)).digest)


def unit_key(job: UnitJob) -> str:
    """SHA-256 of everything that determines a unit's result (the cache key)."""
    from siting.rules import rules_to_dict

    h = hashlib.sha256()
    s = job.settings
    meta = {
        "version": CACHE_VERSION,
        "unit_id": job.unit_id,
        "settings": {**s.describe(), "new_sites": s.new_sites_for(job.unit_id)},
        "rules": None if s.rules is None else rules_to_dict(s.rules),
    }
    h.update(json.dumps(meta, sort_keys=True, default=str).encode("utf-8"))
    h.update(shapely.to_wkb(job.unit.geometry.iloc[0]))
    _hash_frame(h, job.demand, ("demand_id", "population"))
    _hash_frame(h, job.sites, ("site_id", "existing", "home_unit"))
    _hash_roads(h, job.roads)
    return h.hexdigest()


# ------------------------------------------------------------------------------- one unit


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_unit(job: UnitJob) -> UnitOutcome:
    """Plan one unit; never raises (a failure comes back as ``status="failed"``)."""
    start = time.perf_counter()
    try:
        return _run_unit(job, start)
    except Exception as exc:  # per-unit isolation: report, do not lose the other units
        logger.warning("unit %s (%s) failed: %s", job.unit_id, job.name, exc)
        return UnitOutcome(
            unit_id=job.unit_id,
            name=job.name,
            key=job.key,
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            detail=traceback.format_exc(),
            seconds=time.perf_counter() - start,
            worker=_worker_name(),
        )


def _run_unit(job: UnitJob, start: float) -> UnitOutcome:
    from siting.planning import plan
    from siting.scenario import Scenario

    s = job.settings
    if len(job.demand) == 0:
        raise InputError(f"unit {job.unit_id} ({job.name}) has no demand points inside it")
    own = job.sites["home_unit"].to_numpy() == job.unit_id
    candidates = int((own & ~job.sites["existing"].astype(bool).to_numpy()).sum())
    notes = []
    new_sites = s.new_sites_for(job.unit_id)
    if s.model != "lscp" and new_sites is not None and new_sites > candidates:
        notes.append(
            f"asked for {new_sites} new sites but the unit has {candidates} candidates; "
            f"opening at most {candidates}"
        )
        new_sites = candidates
    # neighbours' candidates are not in job.sites; the unit's own are openable, all existing
    # ones (own and neighbours' in the buffer) are fixed open
    scenario = Scenario(
        demand=job.demand,
        sites=job.sites,
        model=s.model,
        new_sites=None if s.model == "lscp" else new_sites,
        threshold_minutes=s.threshold_minutes,
        mode=s.mode,
        roads=None if job.roads is None else job.roads.to_graph(),
        units=job.unit[["unit_id", "name", "geometry"]],
        max_snap_distance=s.max_snap_distance,
        cutoff_minutes=s.cutoff_minutes,
        detour_factor=s.detour_factor,
        backend=s.backend,
        time_limit=s.time_limit,
        mip_gap=s.mip_gap,
        name=f"{job.unit_id} {job.name}",
        rules=s.rules,
    )
    result = plan(scenario)
    if not result.solution.has_solution:
        raise InputError(
            f"unit {job.unit_id} ({job.name}): the solve ended {result.status}"
            + (f" ({result.solution.reason})" if result.solution.reason else "")
        )
    best = result.travel.costs.row_min()
    threshold = s.threshold_minutes
    demand = result.demand[
        ["demand_id", "population", "site_id", "travel_time_min", "covered", "geometry"]
    ].copy()
    demand["unit_id"] = job.unit_id
    demand["touring"] = ~(best <= threshold)
    new_ids = result.sites.loc[result.sites["status"] == "new", "site_id"].astype(str)
    summary = result.summary()
    summary.pop("scenario", None)
    summary["notes"] = notes + summary.get("notes", [])
    summary["demand_points"] = len(job.demand)
    summary["sites_in_scenario"] = len(job.sites)
    summary["neighbour_existing_sites"] = int((~own).sum())
    summary["road_nodes"] = 0 if job.roads is None else job.roads.number_of_nodes()
    return UnitOutcome(
        unit_id=job.unit_id,
        name=job.name,
        key=job.key,
        status="ok",
        demand=demand,
        new_site_ids=tuple(sorted(new_ids)),
        summary=summary,
        seconds=time.perf_counter() - start,
        worker=_worker_name(),
    )


# ------------------------------------------------------------------------------- caching


def _cache_path(cache_dir: Path, job: UnitJob) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in job.unit_id)
    return cache_dir / f"{safe}-{job.key[:24]}.pkl"


def _load_cached(cache_dir: Path | None, job: UnitJob) -> UnitOutcome | None:
    if cache_dir is None:
        return None
    path = _cache_path(cache_dir, job)
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            outcome = pickle.load(fh)  # our own cache folder; written by _store
    except Exception as exc:  # a truncated or foreign file: recompute
        logger.warning("ignoring unreadable cache file %s: %s", path, exc)
        return None
    if not isinstance(outcome, UnitOutcome) or outcome.key != job.key or not outcome.ok:
        return None
    return UnitOutcome(**{**outcome.__dict__, "cached": True})


def _store(cache_dir: Path | None, job: UnitJob, outcome: UnitOutcome) -> None:
    if cache_dir is None or not outcome.ok:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = _cache_path(cache_dir, job)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            pickle.dump(outcome, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------- running


def _say(progress: Progress | None, message: str) -> None:
    logger.info(message)
    if progress is not None:
        progress(message)


def _done_line(outcome: UnitOutcome, k: int, n: int) -> str:
    head = f"[{k}/{n}] unit {outcome.unit_id} {outcome.name}"
    if not outcome.ok:
        return f"{head}: FAILED {outcome.error}"
    cov = outcome.summary.get("coverage", {}).get("share")
    how = "cached" if outcome.cached else f"{outcome.seconds:.1f} s on {outcome.worker}"
    share = f"coverage {cov:.1%}, " if cov is not None else ""
    return f"{head}: {share}{len(outcome.new_site_ids)} new ({how})"


def _lost(job: UnitJob, exc: BaseException) -> UnitOutcome:
    return UnitOutcome(
        unit_id=job.unit_id,
        name=job.name,
        key=job.key,
        status="failed",
        error=f"{type(exc).__name__}: {exc} (the task was lost: worker died or cluster error)",
        detail="".join(traceback.format_exception(exc)),
    )


def _warm_up() -> None:
    """Import the planning stack once per worker (osmnx alone takes seconds), so the first
    unit on each worker is not charged for it."""
    import importlib

    for module in (
        "siting.planning",
        "siting.compliance",
        "geodata.roads",
        "geodata.network",
        "geodata.snapping",
        "geodata.traveltime",
        "geodata.euclidean",
        "osmnx",
    ):
        importlib.import_module(module)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DependencyError(
            "region planning on a cluster needs dask.distributed: pip install 'siting[distributed]'"
            " (or run serially with serial=True / --serial)"
        ) from exc
    return distributed


def plan_region(
    units: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    roads: Any = None,
    *,
    settings: RegionSettings | None = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    serial: bool = False,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> RegionResult:
    """Plan every unit of a region (module docstring) and gather the results.

    Args:
        units: planning-unit polygons (``unit_id``, ``name``).
        demand, sites, roads: the region's inputs (see :func:`split_region`).
        settings: the shared parameters.
        scheduler: address of a running Dask scheduler (``tcp://HOST:PORT``); ``None`` starts a
            ``LocalCluster`` of ``n_workers`` single-threaded worker processes on loopback.
        serial: run the units one after another in this process (no Dask).
        cache_dir: folder of per-unit results; units whose inputs hash to a stored result are
            skipped.
        progress: called with one line per finished unit (and the dashboard link).
    """
    t0 = time.perf_counter()
    jobs, report = split_region(units, demand, sites, roads, settings=settings)
    timings: dict[str, float] = {"split": time.perf_counter() - t0}
    cache = None if cache_dir is None else Path(cache_dir)
    outcomes: dict[str, UnitOutcome] = {}
    todo: list[UnitJob] = []
    for job in jobs:
        hit = _load_cached(cache, job)
        if hit is not None:
            outcomes[job.unit_id] = hit
        else:
            todo.append(job)
    n = len(jobs)
    if outcomes:
        _say(progress, f"{len(outcomes)} of {n} units cached; {len(todo)} to plan")
    done = len(outcomes)
    t1 = time.perf_counter()
    info: dict[str, Any] = {"executor": "serial" if serial else "dask", "workers": 0}

    def finish(job: UnitJob, outcome: UnitOutcome) -> None:
        nonlocal done
        done += 1
        outcomes[job.unit_id] = outcome
        _store(cache, job, outcome)
        _say(progress, _done_line(outcome, done, n))

    if todo and serial:
        info["workers"] = 1
        _warm_up()
        for job in todo:
            finish(job, run_unit(job))
    elif todo:
        _run_dask(todo, scheduler, n_workers, info, finish, progress)
    timings["run"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    ordered = {job.unit_id: outcomes[job.unit_id] for job in jobs}
    result = RegionResult.gather(
        units, sites, ordered, jobs[0].settings if jobs else RegionSettings().resolved(), report
    )
    timings["gather"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    result.timings.update(timings)
    result.run_info.update(info)
    return result


def _run_dask(
    todo: list[UnitJob],
    scheduler: str | None,
    n_workers: int,
    info: dict[str, Any],
    finish: Callable[[UnitJob, UnitOutcome], None],
    progress: Progress | None,
) -> None:
    distributed = _import_distributed()
    cluster = None
    t0 = time.perf_counter()
    if scheduler is None:
        if n_workers < 1:
            raise InputError(f"`n_workers` must be >= 1, got {n_workers}")
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(scheduler, timeout=30)
        except OSError as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {scheduler!r}: {exc}; start one with "
                "`dask scheduler` and workers with `dask worker tcp://HOST:PORT`"
            ) from exc
    try:
        info["scheduler"] = client.scheduler.address
        info["dashboard"] = client.dashboard_link
        info["workers"] = len(client.scheduler_info().get("workers", {}))
        info["cluster_start_seconds"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        client.run(_warm_up)  # import the planning stack once per worker, before timing units
        info["warm_up_seconds"] = round(time.perf_counter() - t1, 3)
        _say(
            progress,
            f"Dask scheduler {info['scheduler']} with {info['workers']} workers; "
            f"dashboard {info['dashboard']}",
        )
        by_future = {}
        # largest units first (demand x sites as the cost estimate): the longest tasks start
        # early rather than finishing alone at the end (longest-processing-time-first)
        for rank, job in enumerate(sorted(todo, key=lambda j: -len(j.demand) * len(j.sites))):
            fut = client.submit(
                run_unit,
                job,
                key=f"unit-{job.unit_id}-{job.key[:12]}",
                priority=len(todo) - rank,
                pure=False,
            )
            by_future[fut] = job
        for fut in distributed.as_completed(list(by_future)):
            job = by_future[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # lost worker, unpicklable result, ...
                outcome = _lost(job, exc)
            finish(job, outcome)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------- gathering


@dataclass(frozen=True, eq=False)
class RegionResult:
    """The gathered region plan.

    Attributes:
        units: the planning units (``unit_id``, ``name``, polygon).
        outcomes: per unit, in unit order.
        demand: every planned demand point (``unit_id``, ``site_id``, ``covered``, ...).
        sites: every site with ``status`` (existing / new / candidate), ``unit_id`` (the unit
            containing it), ``assigned_population`` and ``covered_population`` over all units.
        compliance: the per-unit compliance report; failed units have ``status``
            ``failed: ...`` and no figures.
        settings: the resolved settings; report: what was left out by the split.
        timings, run_info: seconds per stage; executor, scheduler, dashboard, workers.
    """

    units: gpd.GeoDataFrame
    outcomes: dict[str, UnitOutcome]
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    compliance: pd.DataFrame
    settings: RegionSettings
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        """``unit_id`` → error of every failed unit."""
        return {u: o.error or "" for u, o in self.outcomes.items() if not o.ok}

    @property
    def coverage_share(self) -> float | None:
        """Covered / total population over the planned units."""
        pop = self.demand["population"].to_numpy(dtype=float)
        if len(pop) == 0 or pop.sum() <= 0:
            return None
        return float((pop * self.demand["covered"].to_numpy(dtype=bool)).sum() / pop.sum())

    @classmethod
    def gather(
        cls,
        units: gpd.GeoDataFrame,
        sites: gpd.GeoDataFrame,
        outcomes: dict[str, UnitOutcome],
        settings: RegionSettings,
        report: dict[str, Any],
    ) -> RegionResult:
        """Merge unit outcomes (module docstring, step 4)."""
        from geodata.boundaries import assign_units
        from siting.compliance import compliance_table

        units = units.to_crs("EPSG:4326").reset_index(drop=True)
        units = units.assign(unit_id=units["unit_id"].astype(str))
        ok = [o for o in outcomes.values() if o.ok and o.demand is not None]
        frames = [o.demand for o in ok]
        if frames:
            demand = gpd.GeoDataFrame(
                pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326"
            )
        else:
            demand = gpd.GeoDataFrame(
                {c: [] for c in ("demand_id", "population", "site_id", "unit_id", "covered")},
                geometry=[],
                crs="EPSG:4326",
            )
        sites = sites.to_crs("EPSG:4326").reset_index(drop=True).copy()
        if "existing" not in sites.columns:
            sites["existing"] = False
        sites["site_id"] = sites["site_id"].astype(str)
        if "name" not in sites.columns:
            sites["name"] = ""
        sidx = assign_units(sites, units)
        uid = units["unit_id"].to_numpy()
        sites["unit_id"] = np.where(sidx >= 0, uid[np.maximum(sidx, 0)], None)
        new_ids = {s for o in ok for s in o.new_site_ids}
        existing = sites["existing"].astype(bool).to_numpy()
        sites["status"] = np.where(
            existing, "existing", np.where(sites["site_id"].isin(new_ids), "new", "candidate")
        )
        pop = demand["population"].to_numpy(dtype=float)
        served = pd.DataFrame(
            {
                "site_id": demand["site_id"].to_numpy(),
                "pop": pop,
                "cov": pop * demand["covered"].to_numpy(dtype=bool),
                "cross": pop
                * (
                    demand["unit_id"].to_numpy()
                    != sites.set_index("site_id")["unit_id"]
                    .reindex(demand["site_id"].to_numpy())
                    .to_numpy()
                ),
            }
        ).dropna(subset=["site_id"])
        agg = served.groupby("site_id")[["pop", "cov", "cross"]].sum()
        sites["assigned_population"] = sites["site_id"].map(agg["pop"]).fillna(0.0).round(3)
        sites["covered_population"] = sites["site_id"].map(agg["cov"]).fillna(0.0).round(3)
        sites["cross_border_population"] = sites["site_id"].map(agg["cross"]).fillna(0.0).round(3)
        keep = [
            c
            for c in (
                "site_id",
                "name",
                "existing",
                "status",
                "unit_id",
                "assigned_population",
                "covered_population",
                "cross_border_population",
            )
            if c in sites.columns
        ]
        sites = gpd.GeoDataFrame(sites[[*keep, "geometry"]], geometry="geometry", crs="EPSG:4326")

        ok_ids = [o.unit_id for o in ok]
        rules = settings.rules
        if ok_ids:
            open_sites = sites[(sites["status"] != "candidate") & sites["unit_id"].isin(ok_ids)]
            comp = compliance_table(
                units[units["unit_id"].isin(ok_ids)][["unit_id", "name"]],
                open_sites[["unit_id", "assigned_population"]],
                pd.DataFrame(
                    {
                        "unit_id": demand["unit_id"].to_numpy(),
                        "population": pop,
                        "covered": demand["covered"].to_numpy(dtype=bool),
                        "touring": demand["touring"].to_numpy(dtype=bool),
                    }
                ),
                rules=rules,
            )
        else:
            comp = pd.DataFrame(columns=["unit_id", "name", "status"])
        failed = [o for o in outcomes.values() if not o.ok]
        if failed:
            comp = pd.concat(
                [
                    comp,
                    pd.DataFrame(
                        {
                            "unit_id": [o.unit_id for o in failed],
                            "name": [o.name for o in failed],
                            "status": [f"failed: {o.error}" for o in failed],
                        }
                    ),
                ],
                ignore_index=True,
            )
        order = {u: k for k, u in enumerate(units["unit_id"])}
        comp = comp.sort_values("unit_id", key=lambda c: c.map(order)).reset_index(drop=True)
        return cls(
            units=units[["unit_id", "name", "geometry"]],
            outcomes=outcomes,
            demand=demand,
            sites=sites,
            compliance=comp,
            settings=settings,
            report=report,
        )

    def unit_table(self) -> pd.DataFrame:
        """One row per unit: run status, error, cached, seconds, worker, coverage, new sites."""
        rows = []
        for o in self.outcomes.values():
            rows.append(
                {
                    "unit_id": o.unit_id,
                    "name": o.name,
                    "run_status": o.status,
                    "error": o.error,
                    "cached": o.cached,
                    "seconds": round(o.seconds, 3),
                    "worker": o.worker,
                    "solve_status": o.summary.get("status"),
                    "coverage_share": o.summary.get("coverage", {}).get("share"),
                    "new_sites": len(o.new_site_ids),
                }
            )
        return pd.DataFrame(rows)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """``sites`` (open), ``candidates``, ``demand`` and ``admin_units`` (compliance and run
        status per unit) for the GeoPackage."""
        table = self.unit_table().rename(columns={"coverage_share": "solve_coverage_share"})
        table = table.drop(columns=["name"])
        comp = self.compliance.drop(columns=["name"])
        admin = self.units.merge(comp, on="unit_id", how="left").merge(
            table, on="unit_id", how="left"
        )
        return {
            "sites": self.sites[self.sites["status"] != "candidate"].reset_index(drop=True),
            "candidates": self.sites[self.sites["status"] == "candidate"].reset_index(drop=True),
            "demand": self.demand.reset_index(drop=True),
            "admin_units": gpd.GeoDataFrame(admin, geometry="geometry", crs="EPSG:4326"),
        }

    def summary(self) -> dict[str, Any]:
        """JSON-ready: totals, coverage, the counting rule, per-unit status and errors, timings."""
        pop = float(self.demand["population"].sum()) if len(self.demand) else 0.0
        cov = self.coverage_share
        return {
            "units": len(self.outcomes),
            "units_ok": sum(o.ok for o in self.outcomes.values()),
            "units_failed": len(self.failed),
            "units_cached": sum(o.cached for o in self.outcomes.values()),
            "population_planned": round(pop, 3),
            "coverage_share": None if cov is None else round(cov, 6),
            "new_sites": int((self.sites["status"] == "new").sum()),
            "existing_sites": int((self.sites["status"] == "existing").sum()),
            "cross_border_population": round(float(self.sites["cross_border_population"].sum()), 3),
            "counting_rule": COUNTING_RULE,
            "settings": self.settings.describe(),
            "left_out": self.report,
            "failed": self.failed,
            "unit_results": [
                {
                    "unit_id": o.unit_id,
                    "name": o.name,
                    "status": o.status,
                    "error": o.error,
                    "cached": o.cached,
                    "seconds": round(o.seconds, 3),
                    "worker": o.worker,
                    "key": o.key,
                    "solve": o.summary,
                }
                for o in self.outcomes.values()
            ],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "run": self.run_info,
        }

    def save(self, out_dir: str | Path, *, name: str = "region") -> dict[str, Path]:
        """Write ``<name>.gpkg`` (styled layers), ``<name>_compliance.csv`` and
        ``<name>_summary.json`` (with every unit's error and traceback-free status)."""
        from siting.export import default_styles, save_geopackage

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "gpkg": save_geopackage(
                self.layers(),
                out / f"{name}.gpkg",
                styles=default_styles(threshold_minutes=self.settings.threshold_minutes or 10.0),
            ),
            "compliance_csv": out / f"{name}_compliance.csv",
            "summary": out / f"{name}_summary.json",
        }
        self.compliance.to_csv(files["compliance_csv"], index=False, encoding="utf-8")
        files["summary"].write_text(
            json.dumps(self.summary(), ensure_ascii=False, indent=2, default=_json_default),
            encoding="utf-8",
        )
        logger.info("wrote the region plan to %s", out)
        return files


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)
