"""One planning unit: its job (:class:`UnitJob`), what its task returns (:class:`UnitOutcome`)
and the task itself (:func:`run_unit`), which plans the unit and never raises."""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from siting.region.roads import RoadWindow
from siting.region.settings import RegionSettings
from siting_errors import InputError

__all__ = ["UnitJob", "UnitOutcome", "run_unit"]

logger = logging.getLogger(__name__)

#: the status of a unit no resident of the population data lies in
NO_DEMAND = "no_demand"


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
    roads: RoadWindow | None
    settings: RegionSettings
    key: str = ""


@dataclass(frozen=True, eq=False)
class UnitOutcome:
    """What a unit's task returns (``status`` ``ok``, ``no_demand`` (no resident of the
    population data lies in the unit: nothing to plan, not a failure) or ``failed``; never
    raised).

    Attributes:
        demand: the unit's demand points with ``unit_id``, ``site_id`` (nearest open site,
            possibly a neighbour's existing one), ``travel_time_min``, ``covered``, ``touring``.
        new_site_ids: the sites the unit opened (its own candidates).
        service_areas: the service areas (EPSG:4326) of every site open in the unit's plan
            (its own and the neighbours' existing ones within the buffer), or ``None``
            (straight-line travel); the region unions a site's areas over the units.
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
    service_areas: gpd.GeoDataFrame | None = None
    error: str | None = None
    detail: str | None = None
    seconds: float = 0.0
    worker: str = ""
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Whether the unit was planned."""
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        """Whether the unit's task raised (a unit without demand has not failed)."""
        return self.status == "failed"

    @classmethod
    def failure(
        cls,
        job: UnitJob,
        exc: BaseException,
        *,
        note: str = "",
        seconds: float = 0.0,
        worker: str = "",
    ) -> UnitOutcome:
        """The outcome of a unit whose task raised ``exc`` (with its traceback)."""
        return cls(
            unit_id=job.unit_id,
            name=job.name,
            key=job.key,
            status="failed",
            error=f"{type(exc).__name__}: {exc}{note}",
            detail="".join(traceback.format_exception(exc)),
            seconds=seconds,
            worker=worker,
        )


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_unit(job: UnitJob) -> UnitOutcome:
    """Plan one unit; never raises (a failure comes back as ``status="failed"``)."""
    start = time.perf_counter()
    try:
        return _run_unit(job, start)
    except Exception as exc:  # noqa: BLE001 - per-unit isolation: report it, plan the others
        logger.warning("unit %s (%s) failed: %s", job.unit_id, job.name, exc)
        return UnitOutcome.failure(
            job, exc, seconds=time.perf_counter() - start, worker=_worker_name()
        )


def _run_unit(job: UnitJob, start: float) -> UnitOutcome:
    from siting.planning import plan
    from siting.scenario import Scenario

    s = job.settings
    if s.mode is None or s.threshold_minutes is None:
        raise InputError("the unit's settings are not resolved (use RegionSettings.resolved())")
    if len(job.demand) == 0:
        return UnitOutcome(
            unit_id=job.unit_id,
            name=job.name,
            key=job.key,
            status=NO_DEMAND,
            summary={"notes": ["no resident of the population data lies in this unit"]},
            seconds=time.perf_counter() - start,
            worker=_worker_name(),
        )
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
        service_areas=result.service_areas(),
        seconds=time.perf_counter() - start,
        worker=_worker_name(),
    )
