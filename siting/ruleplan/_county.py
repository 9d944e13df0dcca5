"""County steps on request: R7 sub-centres, R9 lead hospitals, R10 emergency stations."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from siting.compliance import (
    TOWNSHIP_TIER,
)
from siting.ruleplan._state import HOSPITAL_TIER, Progress, State
from siting.travel import straight_line_speed
from solvers import CostMatrix, Status

logger = logging.getLogger(__name__)


def county_steps(state: State, progress: Progress | None) -> None:
    """R7 sub-centres, R9 lead hospitals, R10 emergency stations, when asked."""
    sc = state.scenario
    if not sc.county_steps:
        return
    towns = np.flatnonzero(state.open & (state.tier == TOWNSHIP_TIER))
    if not len(towns):
        state.notes.append(
            f"county steps {', '.join(sc.county_steps)} skipped: no township health centre"
        )
        return
    if progress is not None:
        progress(f"county steps {', '.join(sc.county_steps)}")
    if "R7" in sc.county_steps:
        sub_centres(state, towns)
    if "R9" in sc.county_steps:
        lead_hospitals(state, towns)
    if "R10" in sc.county_steps:
        emergency_stations(state, towns)


def sub_centres(state: State, towns: np.ndarray) -> None:
    """R7: the township health centres that become county sub-centres."""
    from siting.county import choose_sub_centres

    sc = state.scenario
    start = time.perf_counter()
    r7 = state.rules.R7
    if r7.k > len(towns):
        state.notes.append(
            f"R7 asks for {r7.k} sub-centres but there are {len(towns)} township health "
            "centres: all become sub-centres"
        )
        r7 = dataclasses.replace(r7, k=len(towns))
    if r7.mode != sc.mode:
        state.notes.append(
            f"R7 reads {r7.mode} times but the plan's travel is {sc.mode}: R7 uses {sc.mode} times"
        )
    sub = state.costs.restrict_sites(towns)
    sol = choose_sub_centres(sub, state.pop, rule=r7, time_limit=sc.time_limit)
    flag = np.zeros(len(sc.sites), dtype=bool)
    if sol.has_solution:
        flag[towns[sol.open_sites]] = True
    else:
        state.failures.append(f"R7 sub-centres ended {sol.status.value}: {sol.reason}")
    state.designations["sub_centre"] = flag
    state.step(
        "R7",
        "county_sub_centre",
        0,
        time.perf_counter() - start,
        sol.status,
        designated=int(flag.sum()),
    )


def lead_hospitals(state: State, towns: np.ndarray) -> None:
    """R9: the lead hospital of each township health centre (straight-line distance)."""
    from siting.county import allocate_to_leads

    sc = state.scenario
    start = time.perf_counter()
    ids = sc.sites["site_id"].astype(str).to_numpy()
    leads = np.flatnonzero(state.open & (state.tier == HOSPITAL_TIER))
    lead_of = np.full(len(sc.sites), None, dtype=object)
    if not len(leads):
        state.notes.append(
            f"R9 skipped: no site has tier {HOSPITAL_TIER!r} (give the county hospitals as "
            "existing sites with that tier)"
        )
    else:
        d = np.hypot(
            state.xy_s[towns, None, 0] - state.xy_s[None, leads, 0],
            state.xy_s[towns, None, 1] - state.xy_s[None, leads, 1],
        )
        minutes = d * sc.detour_factor / (straight_line_speed(sc) / 3.6) / 60.0
        county_pop = float(state.pop.sum())
        r9 = state.rules.R9
        if county_pop >= r9.single_community_below and len(leads) > r9.lead_hospitals:
            state.notes.append(
                f"R9 allows {r9.lead_hospitals} lead hospitals; the first "
                f"{r9.lead_hospitals} of {len(leads)} county hospitals lead"
            )
            leads, minutes = leads[: r9.lead_hospitals], minutes[:, : r9.lead_hospitals]
        pick = allocate_to_leads(CostMatrix.from_dense(minutes), county_pop, rule=r9)
        lead_of[towns] = np.where(pick >= 0, ids[leads[np.maximum(pick, 0)]], None)
        for k, lead in enumerate(leads):  # a lead serves its township centres' residents
            state.load[lead] = float(np.nansum(state.load[towns[pick == k]]))
        single = county_pop < r9.single_community_below
        state.notes.append(
            f"R9: {len(towns)} township health centres in "
            f"{'one medical community' if single else 'medical communities'} (county "
            f"population {county_pop:,.0f}; lead hospital by straight-line distance)"
        )
    state.designations["lead_hospital"] = lead_of
    state.step("R9", HOSPITAL_TIER, 0, time.perf_counter() - start, Status.OPTIMAL)


def emergency_stations(state: State, towns: np.ndarray) -> None:
    """R10: the fewest township health centres hosting emergency stations so every resident
    any of them reaches within R10's threshold is reached."""
    from siting.county import emergency_stations

    sc = state.scenario
    start = time.perf_counter()
    r10 = state.rules.R10
    sub = state.costs.restrict_sites(towns)
    reach = (sub.row_min() <= r10.threshold_minutes) & (state.pop > 0)
    flag = np.zeros(len(sc.sites), dtype=bool)
    status = Status.OPTIMAL
    if reach.any():
        rows_costs = CostMatrix.from_scipy(sub.truncated(r10.threshold_minutes).csr()[reach])
        sol = emergency_stations(rows_costs, rule=r10, time_limit=sc.time_limit)
        status = sol.status
        if sol.has_solution:
            flag[towns[sol.open_sites]] = True
        else:
            state.failures.append(f"R10 emergency stations ended {sol.status.value}")
    lost = float(state.pop[~reach].sum())
    if lost > 0.5:
        state.notes.append(
            f"R10: {lost:,.0f} residents have no township health centre within "
            f"{r10.threshold_minutes:g} min ({sc.mode}): no emergency station reaches them"
        )
    state.designations["emergency_station"] = flag
    state.step(
        "R10",
        "emergency_station",
        0,
        time.perf_counter() - start,
        status,
        designated=int(flag.sum()),
    )


# ----------------------------------------------------------------------------- result
