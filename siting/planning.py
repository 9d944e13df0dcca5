"""The planning workflow: scenario → travel times → model → solve → result with coverage score.

``plan(scenario)`` runs everything; :func:`siting.travel.travel_costs` is the expensive first
half (network preparation, snapping, bounded searches) and can be passed back to ``plan`` so what-if
variants (sites added or removed, another ``new_sites`` or a threshold within the search cutoff)
re-solve without recomputing travel times.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from siting.coverage import coverage_score, weighted_mean
from siting.reach import nearest_open_exact
from siting.result import PlanResult
from siting.scenario import Scenario
from siting.tables import compliance_frame, demand_frame, site_frame, site_units, unit_table
from siting.travel import Progress, TravelCosts, check_travel, say, travel_costs, travel_notes
from solvers import LSCP, MCLP, CostMatrix, PCenter, PMedian, Solution, solve

#: service thresholds (minutes) outside this range get a warning: seconds or metres, likely
PLAUSIBLE_THRESHOLD_MINUTES = (1.0, 120.0)

__all__ = ["input_notes", "plan"]

logger = logging.getLogger(__name__)


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
            say=lambda message: say(progress, message),
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
        check_travel(scenario, travel)
    if scenario.model == "rules":
        from siting.ruleplan import plan_by_rules

        return plan_by_rules(scenario, travel, progress=progress)
    timings: dict[str, float] = {}
    notes: list[str] = travel_notes(scenario, travel)
    timings["travel_times"] = travel.seconds
    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    notes.extend(input_notes(scenario))

    say(progress, f"solving {scenario.model} ({scenario.backend})")
    t0 = time.perf_counter()
    solution, travel = _solve_honestly(scenario, travel, pop, notes, progress)
    if scenario.model == "mclp" and scenario.threshold_minutes is not None:
        from siting.ties import prefer_nearest  # ties among equal coverage (issue 18)

        solution, tie_note = prefer_nearest(
            solution,
            travel.costs,
            pop,
            scenario.threshold_minutes,
            np.flatnonzero(scenario.existing_mask),
            far=travel.cutoff_minutes,
        )
        if tie_note:
            notes.append(tie_note)
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
        compliance = compliance_frame(scenario, costs, demand, sites, site_unit)

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
