"""Who a plan reaches: one meaning of unreachable and uncoverable residents for every model.

- *Unreachable*: no route to any open site at all (more than the snap distance from the road
  network, or on a part of it with no open site). Unreachable residents are reported, never
  given a travel time, and left out of every mean travel time (which is always shown with
  them beside it).
- *Uncoverable*: no site, open or not, within the service threshold. LSCP covers everyone
  else, as ArcGIS's *Minimize Facilities* does, and lists them (``strict`` keeps the
  infeasible answer); MCLP reports them too, since no plan over those sites can cover them.
- Every resident's time to the nearest open site is exact, whatever the search limit of the
  travel-time matrix: the residents the matrix leaves without an open site get one more search
  from the open sites (:func:`nearest_open_exact`).
- p-median and p-center never price a resident at a penalty: :func:`solve_extending` counts a
  resident beyond the search limit at exactly that limit (a lower bound on the true time) and
  extends the search until the plan leaves nobody beyond it (then the plan is optimal for the
  true times), up to :data:`MAX_PAIRS` pairs; past that, the plan's true objective is reported
  with the solver's bound (status ``feasible``, with the gap).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from solvers import CostMatrix, Solution, Status

if TYPE_CHECKING:
    from siting.scenario import Scenario
    from siting.travel import TravelCosts

__all__ = [
    "MAX_PAIRS",
    "nearest_open",
    "nearest_open_exact",
    "solve_extending",
    "uncoverable_rows",
]

logger = logging.getLogger(__name__)

#: the most (demand, site) pairs a search is extended to for p-median / p-center
MAX_PAIRS = 40_000_000

#: solve(costs, weights, penalty): a p-median / p-center solve where a resident with no open
#: site in ``costs`` counts at ``penalty`` (``None``: no such resident is allowed)
Solve = Callable[[CostMatrix, np.ndarray, "float | None"], Solution]
#: recompute(cutoff_minutes): the travel costs searched up to another limit (``inf``: all)
Recompute = Callable[[float], "TravelCosts"]


def uncoverable_rows(costs: CostMatrix, threshold: float) -> np.ndarray:
    """Rows (demand points) no site covers within ``threshold`` (inclusive)."""
    return ~(costs.row_min() <= threshold)


def nearest_open(costs: CostMatrix, open_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand point, the nearest open site within the matrix (a column index, -1 when none
    is in it) and its travel time (``inf`` then); ties go to the lowest column."""
    open_idx = np.asarray(open_idx, dtype=np.int64)
    times = np.full(costs.n_demand, np.inf)
    nearest = np.full(costs.n_demand, -1, dtype=np.int64)
    if not len(open_idx):
        return nearest, times
    sub = costs.restrict_sites(open_idx)
    if not sub.nnz:
        return nearest, times
    row_has = np.diff(sub.indptr) > 0
    mins = sub.row_min()
    times[row_has] = mins[row_has]
    rows = sub.rows()
    hits = np.flatnonzero(sub.data == mins[rows])
    first = np.full(costs.n_demand, -1, dtype=np.int64)
    first[rows[hits[::-1]]] = sub.indices[hits[::-1]]
    nearest = np.where(first >= 0, open_idx[np.maximum(first, 0)], -1)
    return nearest, times


def _exact(
    scenario: Scenario, travel: TravelCosts, rows: np.ndarray, open_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For the demand ``rows``, the nearest open site (index into the sites, -1 when none can
    be reached) and its time in minutes (``inf`` then), with no search limit: one multi-source
    search on the network, or the nearest open site in a straight line."""
    site = np.full(len(rows), -1, dtype=np.int64)
    minutes = np.full(len(rows), np.inf)
    if not len(rows) or not len(open_idx):
        return site, minutes
    points = scenario.demand.iloc[rows]
    if travel.network is None:
        from scipy.spatial import cKDTree

        from geodata.crs import local_utm_crs
        from siting.travel import straight_line_speed

        crs = local_utm_crs(scenario.demand)
        a = _xy(points.geometry.to_crs(crs))
        b = _xy(scenario.sites.geometry.iloc[open_idx].to_crs(crs))
        metres, k = cKDTree(b).query(a, k=1)
        speed = straight_line_speed(scenario) / 3.6
        return open_idx[k], np.round(metres * scenario.detour_factor / speed / 60.0, 9)
    from geodata.snapping import snap_points
    from geodata.traveltime import nearest_times
    from siting.travel import NO_LIMIT_SECONDS

    net = travel.network
    dsnap = snap_points(
        net,
        points,
        max_distance=scenario.max_snap_distance,
        walk_speed_kmh=scenario.walk_speed_kmh,
    )
    ssnap = travel.site_snap_subset(np.asarray(open_idx, dtype=np.int64))
    seconds, k = nearest_times(net, dsnap, ssnap, cutoff=NO_LIMIT_SECONDS)
    ok = k >= 0
    site[ok] = np.asarray(open_idx)[k[ok]]
    minutes[ok] = np.round(seconds[ok] / 60.0, 9)
    return site, minutes


def _xy(points: object) -> np.ndarray:
    import shapely

    geoms = np.asarray(points.to_numpy())  # type: ignore[attr-defined]
    if not (shapely.get_type_id(geoms) == 0).all():
        geoms = shapely.centroid(geoms)
    return np.asarray(shapely.get_coordinates(geoms)).reshape(len(geoms), 2)


def nearest_open_exact(
    scenario: Scenario, travel: TravelCosts, open_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per demand point, the nearest open site (index into the sites, -1 when no open site can
    be reached at all) and its travel time in minutes (``inf`` then): from the matrix where
    it holds an open site, else from one more search without a limit (module docstring)."""
    open_idx = np.asarray(open_idx, dtype=np.int64)
    nearest, times = nearest_open(travel.costs, open_idx)
    # off the network (not snapped) stays unreachable: no second search for those
    beyond = np.flatnonzero((nearest < 0) & np.asarray(travel.demand_snapped, dtype=bool))
    if len(beyond) and np.isfinite(travel.cutoff_minutes):
        site, minutes = _exact(scenario, travel, beyond, open_idx)
        nearest[beyond], times[beyond] = site, minutes
    return nearest, times


def _objective(model: str, weights: np.ndarray, times: np.ndarray) -> float:
    active = weights > 0
    if model == "pcenter":
        return float(times[active].max()) if active.any() else 0.0
    return float((weights[active] * times[active]).sum())


def solve_extending(
    scenario: Scenario,
    travel: TravelCosts,
    weights: np.ndarray,
    *,
    solve: Solve,
    recompute: Recompute,
    say: Callable[[str], None] = lambda _: None,
) -> tuple[Solution, TravelCosts, np.ndarray, list[str]]:
    """Solve a p-median / p-center scenario so that no resident is priced at a penalty
    (module docstring). ``weights`` are the residents per demand point.

    Returns the solution, the travel costs it was solved on (searched farther when needed),
    the weights used (0 for residents who cannot reach any site) and the notes to show.
    """
    residents = np.asarray(weights, dtype=np.float64)
    weights = residents.copy()
    weights[~np.asarray(travel.demand_snapped, dtype=bool)] = 0.0  # off the network
    first_cutoff = travel.cutoff_minutes
    notes: list[str] = []
    no_route = np.zeros(len(weights), dtype=bool)
    while True:
        costs = travel.costs
        complete = not np.isfinite(travel.cutoff_minutes)
        if complete:
            no_route = (weights > 0) & (np.diff(costs.indptr) == 0)
            weights[no_route] = 0.0
        solution = solve(costs, weights, None if complete else travel.cutoff_minutes)
        if not solution.has_solution:
            break
        nearest, _ = nearest_open(costs, solution.open_sites)
        far = (weights > 0) & (nearest < 0)
        if complete or not far.any():
            break
        active = int((weights > 0).sum())
        if active * costs.n_sites <= MAX_PAIRS:
            cutoff = np.inf
        elif 4 * costs.nnz <= MAX_PAIRS:
            cutoff = 2.0 * travel.cutoff_minutes
        else:
            solution = _true_objective(scenario, travel, solution, weights, far)
            notes.append(
                f"{int(far.sum()):,} demand points ({float(weights[far].sum()):,.0f} residents) "
                f"are farther than {travel.cutoff_minutes:g} minutes from this plan's sites, "
                f"and searching farther would exceed {MAX_PAIRS:,} pairs: the solve counted "
                f"them at {travel.cutoff_minutes:g} minutes (a lower bound), the objective "
                "and the outputs give their true travel times, so the plan is reported "
                "feasible with its gap to that bound"
            )
            break
        say(
            f"{int(far.sum()):,} demand points have no open site within {travel.cutoff_minutes:g} "
            "minutes in this plan: searching "
            + ("without a limit" if not np.isfinite(cutoff) else f"up to {cutoff:g} minutes")
        )
        travel = recompute(cutoff)
    if travel.cutoff_minutes > first_cutoff:
        reach = (
            "lifted"
            if not np.isfinite(travel.cutoff_minutes)
            else f"extended to {travel.cutoff_minutes:g} minutes"
        )
        notes.append(
            f"the {first_cutoff:g}-minute limit of the travel-time search was {reach} so that "
            f"every resident the {scenario.model} plan can reach has a real travel time"
        )
    if no_route.any():
        notes.append(
            f"{int(no_route.sum()):,} demand points ({float(residents[no_route].sum()):,.0f} "
            "residents) are on the road network but on a part of it from which no site can be "
            f"reached: they are left out of the {scenario.model} objective and reported "
            "unreachable"
        )
    return solution, travel, weights, notes


def _true_objective(
    scenario: Scenario,
    travel: TravelCosts,
    solution: Solution,
    weights: np.ndarray,
    far: np.ndarray,
) -> Solution:
    """The solution with its objective recomputed from the true travel times (the residents
    beyond the search given theirs) and the solver's bound kept: status ``feasible``."""
    _, times = nearest_open(travel.costs, solution.open_sites)
    rows = np.flatnonzero(far)
    _, minutes = _exact(scenario, travel, rows, solution.open_sites)
    times[rows] = minutes
    reachable = np.isfinite(times)
    objective = _objective(solution.model, np.where(reachable, weights, 0.0), times)
    bound = solution.bound if solution.bound is not None else solution.objective
    gap = None if bound is None else abs(objective - bound) / max(abs(objective), 1e-9)
    return dataclasses.replace(
        solution, status=Status.FEASIBLE, objective=objective, bound=bound, gap=gap
    )
