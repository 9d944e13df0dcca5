"""The planning workflow: scenario → travel times → model → solve → result with coverage score.

``plan(scenario)`` runs everything; ``travel_costs(scenario)`` is the expensive first half
(network preparation, snapping, bounded searches) and can be passed back to ``plan`` so what-if
variants (sites added or removed, another ``new_sites`` or a threshold within the search cutoff)
re-solve without recomputing travel times.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.boundaries import assign_units
from geodata.crs import local_utm_crs
from siting.coverage import coverage_score, weighted_mean
from siting.reach import nearest_open, nearest_open_exact
from siting.result import PlanResult
from siting.scenario import STRAIGHT_LINE_SPEED_KMH, Scenario
from siting_errors import InputError
from solvers import LSCP, MCLP, CostMatrix, PCenter, PMedian, Solution, solve

#: service thresholds (minutes) outside this range get a warning: seconds or metres, likely
PLAUSIBLE_THRESHOLD_MINUTES = (1.0, 120.0)
#: a search "without a limit" (30 years, longer than any route)
NO_LIMIT_SECONDS = 1e9

if TYPE_CHECKING:
    from geodata.crs import Extent
    from geodata.network import Network
    from geodata.snapping import Snap

__all__ = [
    "TravelCosts",
    "demand_frame",
    "nearest_open",
    "plan",
    "site_frame",
    "site_units",
    "straight_line_speed",
    "travel_costs",
    "travel_notes",
    "unit_table",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class TravelCosts:
    """Travel times (minutes) from every demand point to every site within ``cutoff_minutes``.

    Attributes:
        costs: the sparse demand × site matrix (a missing pair is farther than the cutoff or
            unreachable).
        cutoff_minutes: the search limit used.
        method: ``network`` or ``straight_line``.
        demand_snapped / site_snapped: which points reached the network (all True for
            straight-line runs).
        network: the :class:`geodata.Network` used (``None`` for straight-line runs).
        site_snap: the sites' snap to the network (``None`` for straight-line runs).
        demand_ids / site_ids: the row and column labels, to check a scenario matches.
        village_costs / village_ids: a rules plan's villages × sites matrix (rule R3), within
            the same cutoff, and its row labels (``None`` without villages).
    """

    costs: CostMatrix
    cutoff_minutes: float
    method: str
    demand_snapped: np.ndarray
    site_snapped: np.ndarray
    network: Network | None
    site_snap: Snap | None
    demand_ids: np.ndarray
    site_ids: np.ndarray
    seconds: float
    village_costs: CostMatrix | None = None
    village_ids: np.ndarray | None = None

    def restrict_sites(self, index: np.ndarray) -> TravelCosts:
        """The travel costs of a subset of the sites, in the order of ``index`` (what-if runs
        that close sites reuse the travel times this way)."""
        index = np.asarray(index, dtype=np.int64)
        return dataclasses.replace(
            self,
            costs=self.costs.restrict_sites(index),
            site_snapped=np.asarray(self.site_snapped)[index],
            site_snap=None if self.site_snap is None else self.site_snap_subset(index),
            site_ids=np.asarray(self.site_ids)[index],
            village_costs=None
            if self.village_costs is None
            else self.village_costs.restrict_sites(index),
        )

    def site_snap_subset(self, index: np.ndarray) -> Snap:
        """The site snap restricted to the given site indices (for service areas)."""
        snap = self.site_snap
        if snap is None:
            raise InputError("straight-line travel costs have no site snap")
        return type(snap)(
            **{
                f.name: (
                    getattr(snap, f.name)[index]
                    if isinstance(getattr(snap, f.name), np.ndarray)
                    else getattr(snap, f.name)
                )
                for f in dataclasses.fields(snap)
            }
        )


def search_seconds(minutes: float) -> float:
    """A search limit in seconds for geodata's searches; ``inf`` (no limit) as
    :data:`NO_LIMIT_SECONDS`."""
    return minutes * 60.0 if np.isfinite(minutes) else NO_LIMIT_SECONDS


def _say(progress: Progress | None, message: str) -> None:
    logger.info(message)
    if progress is not None:
        progress(message)


def travel_costs(scenario: Scenario, *, progress: Progress | None = None) -> TravelCosts:
    """Compute the demand × site travel-time matrix of a scenario (minutes, sparse)."""
    start = time.perf_counter()
    cutoff = scenario.search_cutoff_minutes
    demand_ids = scenario.demand["demand_id"].astype(str).to_numpy()
    site_ids = scenario.sites["site_id"].astype(str).to_numpy()
    if scenario.roads is None:
        from geodata.euclidean import straight_line_times

        _say(progress, "straight-line travel times (no road network given)")
        crs = local_utm_crs(scenario.demand)
        speed = straight_line_speed(scenario)
        site_xy = scenario.sites.geometry.to_crs(crs)

        def line(points: gpd.GeoDataFrame) -> CostMatrix:
            tt = straight_line_times(
                points.geometry.to_crs(crs),
                site_xy,
                speed_kmh=speed,
                detour_factor=scenario.detour_factor,
                cutoff=search_seconds(cutoff),
            )
            return CostMatrix.from_triples(
                tt.rows, tt.cols, np.round(tt.seconds / 60.0, 9), tt.shape
            )

        costs = line(scenario.demand)
        if costs.nnz == 0:
            _no_pairs(scenario, cutoff)
        ones_d = np.ones(len(demand_ids), dtype=bool)
        ones_s = np.ones(len(site_ids), dtype=bool)
        villages = _rules_villages(scenario)
        return TravelCosts(
            costs,
            cutoff,
            "straight_line",
            ones_d,
            ones_s,
            None,
            None,
            demand_ids,
            site_ids,
            time.perf_counter() - start,
            None if villages is None else line(villages),
            None if villages is None else villages["village_id"].astype(str).to_numpy(),
        )

    from geodata.network import Network, prepare_network
    from geodata.snapping import snap_points
    from geodata.traveltime import travel_times

    if not isinstance(scenario.roads, Network):
        _say(progress, "preparing the road network")
    net = prepare_network(scenario.roads, mode=scenario.mode)
    _say(progress, f"snapping {len(demand_ids):,} demand points and {len(site_ids):,} sites")
    dsnap = snap_points(
        net,
        scenario.demand,
        max_distance=scenario.max_snap_distance,
        walk_speed_kmh=scenario.walk_speed_kmh,
    )
    ssnap = snap_points(
        net,
        scenario.sites,
        max_distance=scenario.max_snap_distance,
        walk_speed_kmh=scenario.walk_speed_kmh,
    )
    for what, frame, snap in (
        ("population", scenario.demand, dsnap),
        ("sites", scenario.sites, ssnap),
    ):
        if not np.asarray(snap.snapped).any():
            _off_network(scenario, what, frame, net)
    _say(progress, f"travel times within {cutoff:g} minutes ({scenario.mode})")
    tt = travel_times(net, dsnap, ssnap, cutoff=search_seconds(cutoff))
    costs = CostMatrix.from_triples(tt.rows, tt.cols, np.round(tt.seconds / 60.0, 9), tt.shape)
    if costs.nnz == 0:
        _no_pairs(scenario, cutoff)
    villages = _rules_villages(scenario)
    village_costs = None
    if villages is not None:
        vsnap = snap_points(
            net,
            villages,
            max_distance=scenario.max_snap_distance,
            walk_speed_kmh=scenario.walk_speed_kmh,
        )
        vt = travel_times(net, vsnap, ssnap, cutoff=search_seconds(cutoff))
        village_costs = CostMatrix.from_triples(
            vt.rows, vt.cols, np.round(vt.seconds / 60.0, 9), vt.shape
        )
    return TravelCosts(
        costs,
        cutoff,
        "network",
        np.asarray(dsnap.snapped),
        np.asarray(ssnap.snapped),
        net,
        ssnap,
        demand_ids,
        site_ids,
        time.perf_counter() - start,
        village_costs,
        None if villages is None else villages["village_id"].astype(str).to_numpy(),
    )


def _rules_villages(scenario: Scenario) -> gpd.GeoDataFrame | None:
    """The villages whose travel times a rules plan needs (R3), else ``None``."""
    if scenario.model != "rules" or scenario.villages is None:
        return None
    return scenario.villages


def straight_line_speed(scenario: Scenario) -> float:
    """The speed (km/h) of a scenario's straight-line travel times."""
    if scenario.mode == "walk":
        return float(scenario.walk_speed_kmh)
    return STRAIGHT_LINE_SPEED_KMH[scenario.mode]


def travel_notes(scenario: Scenario, travel: TravelCosts) -> list[str]:
    """Sentences on how travel times were obtained: the straight-line fallback, points too far
    from the road network."""
    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    notes = []
    if travel.method == "straight_line":
        notes.append(
            f"travel times are straight-line distance x {scenario.detour_factor} (detour factor) "
            f"at {straight_line_speed(scenario):g} km/h: no road network was given"
        )
    n_unsnapped_d = int((~travel.demand_snapped).sum())
    if n_unsnapped_d:
        lost = float(pop[~travel.demand_snapped].sum())
        notes.append(
            f"{n_unsnapped_d:,} demand points ({lost:,.0f} residents) are more than "
            f"{scenario.max_snap_distance:g} m from the road network and count as unreachable"
        )
    n_unsnapped_s = int((~travel.site_snapped).sum())
    if n_unsnapped_s:
        ids = travel.site_ids[~travel.site_snapped][:10].tolist()
        notes.append(
            f"{n_unsnapped_s:,} sites are more than {scenario.max_snap_distance:g} m from the road "
            f"network and cannot serve anyone: {ids}"
        )
    return notes


def _swap_hint(a: Extent, b: Extent, what: str) -> str:
    if a.swapped().overlaps(b):
        return f"; the {what}'s longitude and latitude look swapped (swapped, they would overlap)"
    return ""


def _off_network(scenario: Scenario, what: str, frame: gpd.GeoDataFrame, net: Network) -> None:
    """No point of ``frame`` reached the road network: the inputs do not overlap."""
    from geodata.crs import extent_of

    mine, roads = extent_of(frame), extent_of(net.x, net.y, net.crs)
    where = "do not overlap" if not mine.overlaps(roads) else "barely overlap"
    raise InputError(
        f"the {what} ({mine}) and the road network ({roads}) {where}: none of the {len(frame):,} "
        f"{'demand points' if what == 'population' else 'sites'} is within "
        f"{scenario.max_snap_distance:g} m (max_snap_distance) of a road. Check that both "
        f"files cover the same place{_swap_hint(mine, roads, what)}"
    )


def _no_pairs(scenario: Scenario, cutoff: float) -> None:
    """No site is within the search of any resident. For p-median / p-center that only says
    the search is short (it is extended) unless the extents are apart: then the inputs do not
    overlap."""
    from geodata.crs import extent_of

    people, sites = extent_of(scenario.demand), extent_of(scenario.sites)
    if scenario.model in ("pmedian", "pcenter") and people.overlaps(sites):
        return
    where = "do not overlap" if not people.overlaps(sites) else "are far apart"
    raise InputError(
        f"the population ({people}) and the sites ({sites}) {where}: no site is within "
        f"{cutoff:g} minutes ({scenario.mode}) of any resident. Check that both files cover the "
        f"same place{_swap_hint(sites, people, 'sites')}"
    )


def _check_travel(scenario: Scenario, travel: TravelCosts) -> None:
    ids_d = scenario.demand["demand_id"].astype(str).to_numpy()
    ids_s = scenario.sites["site_id"].astype(str).to_numpy()
    if len(ids_d) != len(travel.demand_ids) or (ids_d != travel.demand_ids).any():
        raise InputError("`travel` was computed for other demand points than the scenario's")
    if len(ids_s) != len(travel.site_ids) or (ids_s != travel.site_ids).any():
        raise InputError(
            "`travel` was computed for other sites than the scenario's; "
            "use travel.restrict_sites() to keep a subset of sites"
        )
    if scenario.search_cutoff_minutes > travel.cutoff_minutes + 1e-9:
        raise InputError(
            f"the scenario needs travel times up to {scenario.search_cutoff_minutes:g} minutes "
            f"but `travel` was computed up to {travel.cutoff_minutes:g}; recompute travel_costs"
        )
    villages = _rules_villages(scenario)
    if villages is not None:
        ids_v = villages["village_id"].astype(str).to_numpy()
        if (
            travel.village_ids is None
            or len(ids_v) != len(travel.village_ids)
            or (ids_v != travel.village_ids).any()
        ):
            raise InputError(
                "`travel` was computed without the scenario's villages; recompute travel_costs"
            )


def _solve(
    scenario: Scenario, costs: CostMatrix, weights: np.ndarray, penalty: float | None = None
) -> Solution:
    fixed = np.flatnonzero(scenario.existing_mask)
    opts: dict[str, Any] = {
        "backend": scenario.backend,
        "time_limit": scenario.time_limit,
        "mip_gap": scenario.mip_gap,
    }
    threshold = scenario.threshold_minutes
    new_sites = scenario.new_sites or 0  # None only for LSCP (the Scenario checks)
    model: LSCP | MCLP | PMedian | PCenter
    if scenario.model == "lscp":
        assert threshold is not None  # required for LSCP and MCLP (the Scenario checks)
        model = LSCP(costs, threshold=threshold, weights=weights, fixed=fixed)
    elif scenario.model == "mclp":
        assert threshold is not None
        model = MCLP(
            costs,
            threshold=threshold,
            p=new_sites + len(fixed),
            weights=weights,
            fixed=fixed,
        )
    else:
        # A sparse matrix (travel times up to the search limit) can leave demand with no open
        # site in it under some plans; a "beyond the search" site, always open, serves it at
        # exactly the limit (a lower bound on its true time: siting.reach.solve_extending)
        active = weights > 0
        counts = np.diff(costs.indptr)
        if not (counts[active] == costs.n_sites).all() and penalty is not None:
            return _solve_with_far_site(scenario, costs, weights, fixed, penalty, opts)
        cls = PMedian if scenario.model == "pmedian" else PCenter
        model = cls(costs, p=new_sites + len(fixed), weights=weights, fixed=fixed)
    return solve(model, **opts)


def _solve_with_far_site(
    scenario: Scenario,
    costs: CostMatrix,
    weights: np.ndarray,
    fixed: np.ndarray,
    penalty: float,
    opts: dict[str, Any],
) -> Solution:
    """p-median / p-center with an extra always-open site at ``penalty`` for every demand;
    the extra site is removed from the returned solution (its demand: assignment -1), and so
    are its penalties from the objective's meaning: the caller re-prices them
    (:func:`siting.reach.solve_extending`)."""
    n, m = costs.shape
    rows = np.concatenate([costs.rows(), np.arange(n)])
    cols = np.concatenate([costs.indices.astype(np.int64), np.full(n, m)])
    data = np.concatenate([costs.data, np.full(n, float(penalty))])
    wider = CostMatrix.from_triples(rows, cols, data, (n, m + 1))
    fixed_far = np.append(fixed, m)
    cls = PMedian if scenario.model == "pmedian" else PCenter
    p = (scenario.new_sites or 0) + len(fixed_far)
    model = cls(wider, p=p, weights=weights, fixed=fixed_far)
    sol = solve(model, **opts)
    if not sol.has_solution:
        return sol
    assignment = sol.assignment.copy()
    far = assignment == m
    assignment[far] = -1
    return dataclasses.replace(
        sol,
        open_sites=sol.open_sites[sol.open_sites != m],
        assignment=assignment,
        details=dict(sol.details)
        | {"beyond_cutoff_penalty": float(penalty), "beyond_cutoff_demand": int(far.sum())},
    )


def input_notes(scenario: Scenario) -> list[str]:
    """The notes the inputs carry (an undeclared nodata value, generated candidates:
    ``attrs["notes"]`` of the demand and the sites) and a threshold outside the plausible
    range of a service circle."""
    notes = [
        str(n) for frame in (scenario.demand, scenario.sites) for n in frame.attrs.get("notes", [])
    ]
    t = scenario.threshold_minutes
    low, high = PLAUSIBLE_THRESHOLD_MINUTES
    if t is not None and not low <= t <= high:
        note = (
            f"the service threshold is {t:g} minutes, outside the plausible range of a service "
            f"circle ({low:g}-{high:g} minutes): check it is in minutes (not seconds or metres)"
        )
        logger.warning(note)
        notes.append(note)
    return notes


def _solve_honestly(
    scenario: Scenario,
    travel: TravelCosts,
    pop: np.ndarray,
    notes: list[str],
    progress: Progress | None,
) -> tuple[Solution, TravelCosts]:
    """The solve with one meaning of unreachable and uncoverable residents
    (:mod:`siting.reach`): LSCP covers everyone coverable (unless ``strict``), p-median and
    p-center extend the search instead of pricing anyone at a penalty."""
    from siting.reach import solve_extending, uncoverable_rows

    costs = travel.costs
    if scenario.model in ("pmedian", "pcenter"):
        network = travel.network

        def recompute(cutoff: float) -> TravelCosts:
            wider = scenario.replace(cutoff_minutes=cutoff)
            if network is not None:
                wider = wider.replace(roads=network)
            return travel_costs(wider)

        solution, travel, _, extra = solve_extending(
            scenario,
            travel,
            pop,
            solve=lambda c, w, penalty: _solve(scenario, c, w, penalty),
            recompute=recompute,
            say=lambda message: _say(progress, message),
        )
        notes.extend(extra)
        return solution, travel
    weights = pop.copy()
    threshold = scenario.threshold_minutes
    assert threshold is not None  # required for LSCP and MCLP (the Scenario checks)
    lost = uncoverable_rows(costs, threshold) & (pop > 0)
    if lost.any():
        who = (
            f"{int(lost.sum()):,} demand points ({float(pop[lost].sum()):,.0f} residents) have no "
            f"site (candidate or existing) within {threshold:g} minutes"
        )
        if scenario.model == "lscp" and not scenario.strict:
            weights[lost] = 0.0
            notes.append(
                f"{who}: LSCP covers everyone else (everyone coverable, as ArcGIS's Minimize "
                "Facilities does) and lists them in the `uncoverable` layer; strict=True "
                "answers infeasible instead"
            )
        elif scenario.model == "mclp":
            notes.append(
                f"{who}: no plan over these sites can cover them (the `uncoverable` layer "
                "lists them)"
            )
    return _solve(scenario, costs, weights), travel


def plan(
    scenario: Scenario,
    *,
    travel: TravelCosts | None = None,
    progress: Progress | None = None,
) -> PlanResult:
    """Solve a scenario end to end and build its result (coverage score, tables, layers).

    Pass ``travel`` from an earlier run of the same demand and sites to skip recomputing travel
    times (what-if runs).
    """
    if travel is None:
        travel = travel_costs(scenario, progress=progress)
    else:
        _check_travel(scenario, travel)
    if scenario.model == "rules":
        from siting.ruleplan import plan_by_rules

        return plan_by_rules(scenario, travel, progress=progress)
    timings: dict[str, float] = {}
    notes: list[str] = travel_notes(scenario, travel)
    timings["travel_times"] = travel.seconds
    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    notes.extend(input_notes(scenario))

    _say(progress, f"solving {scenario.model} ({scenario.backend})")
    t0 = time.perf_counter()
    solution, travel = _solve_honestly(scenario, travel, pop, notes, progress)
    timings["solve"] = time.perf_counter() - t0
    if solution.reason:
        notes.append(solution.reason)

    t0 = time.perf_counter()
    result = _build_result(scenario, travel, solution, pop, notes, timings)
    timings["result"] = time.perf_counter() - t0
    return result


def _build_result(
    scenario: Scenario,
    travel: TravelCosts,
    solution: Solution,
    pop: np.ndarray,
    notes: list[str],
    timings: dict[str, float],
) -> PlanResult:
    costs = travel.costs
    existing = scenario.existing_mask
    open_idx = solution.open_sites if solution.has_solution else np.flatnonzero(existing)
    # nearest open site and its time, per demand point, with no search limit (siting.reach)
    nearest, times = nearest_open_exact(scenario, travel, open_idx)
    if solution.has_solution and solution.model == "pmedian" and len(solution.assignment):
        # the model's own assignment where it has one (a capacitated plan need not serve a
        # resident from the nearest site); the nearest open site for the others
        assigned = solution.assignment
        ok = assigned >= 0
        if ok.any():
            lookup = pd.Series(
                costs.data, index=pd.MultiIndex.from_arrays([costs.rows(), costs.indices])
            )
            times = times.copy()
            times[ok] = lookup.reindex(
                pd.MultiIndex.from_arrays([np.flatnonzero(ok), assigned[ok]])
            ).to_numpy()
            nearest = np.where(ok, assigned, nearest)

    threshold = scenario.threshold_minutes
    cov = coverage_score(pop, times, threshold) if threshold is not None else None
    demand = demand_frame(scenario, nearest, times)
    sites = site_frame(scenario, open_idx, nearest, times, demand["covered"].to_numpy())
    reachable = nearest >= 0

    units_table = compliance = None
    if scenario.units is not None:
        # the unit of every site, found once for the unit table and the compliance report
        site_unit = site_units(scenario, sites)
        units_table = unit_table(scenario, demand, sites, site_unit)
        compliance = _compliance(scenario, costs, demand, sites, site_unit)

    mean_travel = weighted_mean(np.where(reachable, times, np.nan), pop)
    unreachable_pop = float(pop[~reachable].sum())
    return PlanResult(
        scenario=scenario,
        solution=solution,
        coverage=cov,
        sites=sites,
        demand=demand,
        units=units_table,
        mean_travel_minutes=mean_travel,
        unreachable_population=unreachable_pop,
        notes=tuple(notes),
        travel=travel,
        timings=timings,
        compliance=compliance,
    )


def demand_frame(scenario: Scenario, nearest: np.ndarray, times: np.ndarray) -> gpd.GeoDataFrame:
    """The demand layer of a result: each point's nearest open site (``site_id``, ``None`` when
    none is within the cutoff), ``travel_time_min``, ``covered`` (within the threshold) and,
    with units, ``unit_id`` / ``unit_name``."""
    threshold = scenario.threshold_minutes
    covered = (
        np.isfinite(times) & (times <= threshold) if threshold is not None else np.isfinite(times)
    )
    reachable = nearest >= 0
    site_ids = scenario.sites["site_id"].astype(str).to_numpy()
    keep = ["demand_id", "name"] if "name" in scenario.demand.columns else ["demand_id"]
    demand = scenario.demand[[*keep, "population", "geometry"]].copy()
    demand["demand_id"] = demand["demand_id"].astype(str)
    demand["site_id"] = np.where(reachable, site_ids[np.maximum(nearest, 0)], None)
    demand["travel_time_min"] = np.where(reachable, np.round(times, 3), np.nan)
    demand["covered"] = covered
    if scenario.units is not None:
        uidx = assign_units(demand, scenario.units)
        uid = scenario.units["unit_id"].astype(str).to_numpy()
        uname = scenario.units["name"].astype(str).to_numpy()
        demand["unit_id"] = np.where(uidx >= 0, uid[np.maximum(uidx, 0)], None)
        demand["unit_name"] = np.where(uidx >= 0, uname[np.maximum(uidx, 0)], None)
    return demand


def site_frame(
    scenario: Scenario,
    open_idx: np.ndarray,
    nearest: np.ndarray,
    times: np.ndarray,
    covered: np.ndarray,
) -> gpd.GeoDataFrame:
    """Every site with ``status`` (existing / new / candidate) and the residents whose
    nearest open site it is: ``assigned_population``, ``covered_population``,
    ``mean_travel_min``, ``max_travel_min``."""
    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    n_sites = len(scenario.sites)
    existing = scenario.existing_mask
    status = np.where(existing, "existing", "candidate").astype(object)
    status[np.setdiff1d(open_idx, np.flatnonzero(existing))] = "new"
    reachable = nearest >= 0
    t_ok = np.where(reachable, times, 0.0)
    idx = np.where(reachable, nearest, n_sites)
    assigned_pop = np.bincount(idx, weights=pop, minlength=n_sites + 1)[:n_sites]
    covered_pop = np.bincount(idx, weights=pop * covered, minlength=n_sites + 1)[:n_sites]
    wsum = np.bincount(idx, weights=pop * t_ok, minlength=n_sites + 1)[:n_sites]
    tmax = np.zeros(n_sites + 1)
    np.maximum.at(tmax, idx, np.where(pop > 0, t_ok, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_t = np.where(assigned_pop > 0, wsum / assigned_pop, np.nan)
    sites = scenario.sites.copy()
    sites["site_id"] = sites["site_id"].astype(str)
    if "name" not in sites.columns:
        sites["name"] = ""
    sites["status"] = status
    sites["assigned_population"] = np.round(assigned_pop, 3)
    sites["covered_population"] = np.round(covered_pop, 3)
    sites["mean_travel_min"] = np.round(mean_t, 3)
    sites["max_travel_min"] = np.where(assigned_pop > 0, np.round(tmax[:n_sites], 3), np.nan)
    return sites


def site_units(scenario: Scenario, sites: gpd.GeoDataFrame) -> np.ndarray:
    """The ``unit_id`` of the unit holding each site (``None`` outside every unit)."""
    assert scenario.units is not None
    sidx = assign_units(sites, scenario.units)
    uid = scenario.units["unit_id"].astype(str).to_numpy()
    return np.asarray(np.where(sidx >= 0, uid[np.maximum(sidx, 0)], None), dtype=object)


def unit_table(
    scenario: Scenario, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, site_unit: np.ndarray
) -> pd.DataFrame:
    """Per admin unit: population, covered population and share, mean travel time, existing
    and new sites (``site_unit``: each site's unit id, :func:`site_units`)."""
    units = scenario.units
    assert units is not None  # called only for scenarios with units
    frame = pd.DataFrame(
        {
            "unit_id": units["unit_id"].astype(str).to_numpy(),
            "name": units["name"].astype(str).to_numpy(),
        }
    )
    d = pd.DataFrame(
        {
            "unit_id": demand["unit_id"],
            "population": demand["population"],
            "covered": demand["population"] * demand["covered"],
            "wt": demand["population"] * demand["travel_time_min"].fillna(0.0),
            "wreach": demand["population"] * demand["travel_time_min"].notna(),
        }
    )
    agg = d.groupby("unit_id").agg(
        population=("population", "sum"),
        covered_population=("covered", "sum"),
        wt=("wt", "sum"),
        wreach=("wreach", "sum"),
    )
    frame = frame.merge(agg, left_on="unit_id", right_index=True, how="left").fillna(
        {"population": 0.0, "covered_population": 0.0, "wt": 0.0, "wreach": 0.0}
    )
    frame["coverage_share"] = np.where(
        frame["population"] > 0, frame["covered_population"] / frame["population"], np.nan
    )
    frame["mean_travel_min"] = np.where(frame["wreach"] > 0, frame["wt"] / frame["wreach"], np.nan)
    frame = frame.drop(columns=["wt", "wreach"])
    for kind in ("existing", "new"):
        counts = pd.Series(site_unit[sites["status"].to_numpy() == kind]).value_counts()
        frame[f"{kind}_sites"] = frame["unit_id"].map(counts).fillna(0).astype(int)
    return frame


def _compliance(
    scenario: Scenario,
    costs: CostMatrix,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    site_unit: np.ndarray,
) -> pd.DataFrame:
    """The per-unit compliance report of a single-model run (rules: the scenario's, else the
    packaged preset); every open site counts as its unit's centre."""
    from siting.compliance import compliance_table
    from siting.kinds import unit_kinds
    from siting.rules import default_rules

    rules = scenario.rules if scenario.rules is not None else default_rules()
    units = scenario.units
    assert units is not None
    is_open = (sites["status"] != "candidate").to_numpy()
    site_table = pd.DataFrame(
        {
            "unit_id": site_unit[is_open],
            "assigned_population": sites.loc[is_open, "assigned_population"].to_numpy(),
        }
    )
    threshold = scenario.threshold_minutes
    best = costs.row_min()
    touring = ~(best <= threshold) if threshold is not None else ~np.isfinite(best)
    frame = pd.DataFrame(
        {
            "unit_id": demand["unit_id"].to_numpy(),
            "population": demand["population"].to_numpy(),
            "covered": demand["covered"].to_numpy(),
            "touring": touring,
        }
    )
    kinds = unit_kinds(units, column=scenario.unit_kind_column, force=scenario.unit_kind)
    return compliance_table(
        units, site_table, frame, rules=rules, kinds=kinds.kinds, threshold_minutes=threshold
    )
