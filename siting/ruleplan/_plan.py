"""The rules plan end to end: the steps in order, then compliance and staffing (R11)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from siting.compliance import (
    CENTRE_TIER,
    STAFFING_FIELDS,
    TOWNSHIP_TIER,
    compliance_table,
    staffing_needs,
)
from siting.coverage import coverage_score, weighted_mean
from siting.reach import nearest_open_exact
from siting.result import PlanResult
from siting.ruleplan._centres import place_centres, place_township_centres
from siting.ruleplan._circle import close_circle, list_touring
from siting.ruleplan._county import county_steps
from siting.ruleplan._state import HOSPITAL_TIER, SEVERITY, Progress, State, setup
from siting.ruleplan._villages import place_village_clinics
from siting.scenario import Scenario
from siting.tables import demand_frame, site_frame, unit_table
from siting.travel import TravelCosts, travel_notes
from siting_errors import InputError
from solvers import Solution, Status

logger = logging.getLogger(__name__)


def solution(state: State, seconds: float) -> Solution:
    worst = max((SEVERITY.index(s) for s in state.statuses), default=0)
    if state.failures:
        worst = max(worst, SEVERITY.index(Status.NO_SOLUTION))
    status = SEVERITY[worst]
    new = int((state.open & ~state.scenario.existing_mask).sum())
    return Solution(
        model="rules",
        status=status,
        objective=float(new) if status in (Status.OPTIMAL, Status.FEASIBLE) else None,
        bound=None,
        gap=None,
        time=seconds,
        backend=state.scenario.backend,
        open_sites=np.flatnonzero(state.open),
        reason="; ".join(state.failures) or None,
        details={"steps": list(state.steps)},
    )


def build(state: State, timings: dict[str, float]) -> PlanResult:
    sc = state.scenario
    t0 = time.perf_counter()
    open_idx = np.flatnonzero(state.open)
    # every resident's real time to the nearest open site: unreachable means no route at all
    nearest, times = nearest_open_exact(sc, state.travel, open_idx)
    threshold = sc.threshold_minutes
    cov = coverage_score(state.pop, times, float(threshold)) if threshold is not None else None
    demand = demand_frame(sc, nearest, times)
    covered = demand["covered"].to_numpy()
    sites = site_frame(sc, open_idx, nearest, times, covered)
    ids = sites["site_id"].to_numpy()
    demand["centre_id"] = np.where(state.centre_of >= 0, ids[np.maximum(state.centre_of, 0)], None)
    coverable = state.coverable if state.coverable is not None else np.zeros(len(state.pop), bool)
    demand["touring"] = (state.pop > 0) & ~coverable
    nearest_pop = sites["assigned_population"].to_numpy(dtype=np.float64)
    primary = np.isin(state.tier, [CENTRE_TIER, TOWNSHIP_TIER, HOSPITAL_TIER]) & state.open
    load = np.where(primary & np.isfinite(state.load), state.load, nearest_pop)
    load = np.where(state.open, load, 0.0)
    sites["nearest_population"] = np.round(nearest_pop, 3)
    sites["assigned_population"] = np.round(load, 3)
    sites["tier"] = np.where(state.open, state.tier, "").astype(str)
    sites["rule"] = np.where(state.open, state.rule, "").astype(str)
    units_ids = sc.units["unit_id"].astype(str).to_numpy() if sc.units is not None else np.array([])
    site_unit = np.array([units_ids[u] if u >= 0 else None for u in state.s_unit], dtype=object)
    sites["unit_id"] = site_unit
    sites["unit_kind"] = np.where(state.s_unit >= 0, state.s_kind, "").astype(str)
    for key, values in state.designations.items():
        sites[key] = values
    staff = staffing_needs(np.maximum(load, 0.0), rule=state.rules.R11)
    assert isinstance(staff, pd.DataFrame)
    for name in STAFFING_FIELDS:
        sites[name] = np.where(state.open, staff[name].to_numpy(), 0)
    units_table = compliance = None
    if sc.units is not None and state.kinds is not None:
        units_table = unit_table(sc, demand, sites, site_unit)
        open_sites = sites[state.open]
        compliance = compliance_table(
            sc.units,
            open_sites[["unit_id", "assigned_population", "tier"]],
            pd.DataFrame(
                {
                    "unit_id": demand["unit_id"].to_numpy(),
                    "population": state.pop,
                    "covered": covered,
                    "touring": demand["touring"].to_numpy(),
                }
            ),
            rules=state.rules,
            kinds=state.kinds.kinds,
            unit_notes=state.unit_notes,
            threshold_minutes=threshold,
        )
    reachable = nearest >= 0
    timings["result"] = time.perf_counter() - t0
    steps = pd.DataFrame(state.steps)
    return PlanResult(
        scenario=sc,
        solution=solution(state, sum(float(s["seconds"]) for s in state.steps)),
        coverage=cov,
        sites=sites,
        demand=demand,
        units=units_table,
        mean_travel_minutes=weighted_mean(np.where(reachable, times, np.nan), state.pop),
        unreachable_population=float(state.pop[~reachable].sum()),
        notes=tuple(state.notes),
        travel=state.travel,
        timings=timings,
        compliance=compliance,
        touring=state.touring,
        village_groups=state.village_groups,
        steps=steps,
        unit_kinds=None if state.kinds is None else state.kinds.describe(),
    )


def plan_by_rules(
    scenario: Scenario, travel: TravelCosts, *, progress: Progress | None = None
) -> PlanResult:
    """Plan ``scenario`` by its rules preset (module docstring), on ``travel`` — the
    scenario's travel times from :func:`siting.planning.travel_costs`. Use
    :func:`siting.plan` (it computes ``travel`` when not given)."""
    if scenario.model != "rules":
        raise InputError(
            f"plan_by_rules needs a scenario with model 'rules', got {scenario.model!r}"
        )
    timings = {"travel_times": travel.seconds}
    state = setup(scenario, travel)
    state.notes.extend(travel_notes(scenario, travel))
    if state.kinds is not None:
        state.notes.append(state.kinds.describe())
    else:
        state.notes.append(
            "no admin units: R1 and R2 (centres per sub-district and township) are not applied"
        )
    if state.judge_only:
        state.notes.append("no new sites (new_sites=0): the open sites are judged as they are")
    t0 = time.perf_counter()
    place_centres(state, progress)
    place_township_centres(state, progress)
    place_village_clinics(state, progress)
    close_circle(state, progress)
    list_touring(state)
    county_steps(state, progress)
    timings["plan"] = time.perf_counter() - t0
    if state.filled_pairs:
        state.notes.append(
            f"{state.filled_pairs:,} resident-site pairs inside units lie beyond the "
            f"{travel.cutoff_minutes:g}-min search: their R1/R2 assignment uses straight-line "
            f"estimates (x {scenario.detour_factor} detour)"
        )
    for failure in state.failures:
        state.notes.append(failure)
    return build(state, timings)
