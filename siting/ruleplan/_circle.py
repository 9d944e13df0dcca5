"""Rule R6 (+ R4, R5): the circle closed with stations and village clinics; R3 touring."""

from __future__ import annotations

import logging
import time
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.reach import nearest_open
from siting.ruleplan._state import Progress, State, tiers_of
from siting.scenario import VILLAGE_SITE_PREFIX
from solvers import LSCP, MCLP, CostMatrix, Status, solve

logger = logging.getLogger(__name__)


def eligible_sites(state: State) -> tuple[np.ndarray, np.ndarray]:
    """Candidates the circle step may open (R5: a station in a sub-district, a village clinic
    in a township; a site's own ``tier`` must agree; villages' own sites are left to R3), and
    the tier each would get."""
    tiers = tiers_of(state, state.s_kind)
    ok = ~state.scenario.existing_mask & ((state.hint == "") | (state.hint == tiers))
    # a village's own site is R3's (one clinic per group; none for a touring group)
    ok &= (
        ~state.scenario.sites["site_id"].astype(str).str.startswith(VILLAGE_SITE_PREFIX).to_numpy()
    )
    return ok, tiers


def close_circle(state: State, progress: Progress | None) -> None:
    """R6: close the circle with the fewest stations / village clinics (or the most residents
    with a budget), R4 co-location preferred."""
    sc = state.scenario
    threshold = float(sc.threshold_minutes or state.rules.R6.threshold_minutes)
    start = time.perf_counter()
    eligible, tiers = eligible_sites(state)
    within = state.costs.within(threshold)
    reach = np.asarray(within @ (eligible | state.open).astype(np.int8)) > 0
    state.coverable = reach & (state.pop > 0)
    _, t_open = nearest_open(state.costs, np.flatnonzero(state.open))
    gap = state.coverable & ~(t_open <= threshold)
    cols = np.flatnonzero(eligible & ~state.open)
    if state.judge_only or not gap.any() or not len(cols):
        state.step("R6", "station / village clinic", 0, time.perf_counter() - start, Status.OPTIMAL)
        return
    rows = np.flatnonzero(gap)
    if progress is not None:
        progress(
            f"R6: closing the {threshold:g}-min circle for {state.pop[rows].sum():,.0f} residents"
        )
    sub = CostMatrix.from_scipy(state.costs.truncated(threshold).csr()[rows][:, cols])
    budget = sc.station_budget
    if budget is None:
        model: Any = LSCP(sub, threshold=threshold, weights=state.pop[rows])
    elif budget == 0:
        state.notes.append("the station budget is 0: the circle step opens nothing (R6)")
        state.step("R6", "station / village clinic", 0, time.perf_counter() - start, Status.OPTIMAL)
        return
    else:
        p = min(int(budget), len(cols))
        model = MCLP(sub, threshold=threshold, p=p, weights=state.pop[rows])
    sol = solve(model, backend=sc.backend, time_limit=sc.time_limit, mip_gap=sc.mip_gap)
    if not sol.has_solution:
        state.failures.append(f"R6 circle ({sol.model}) ended {sol.status.value}: {sol.reason}")
        state.step("R6", "station / village clinic", 0, time.perf_counter() - start, sol.status)
        return
    chosen = cols[sol.open_sites]
    colocated = colocate(state, rows, cols, chosen, threshold)
    if colocated is not None:
        chosen, swapped, near = colocated
        if swapped:
            state.notes.append(
                f"{swapped} circle site(s) swapped for candidates near an activity centre or "
                f"elderly home without losing coverage ({state.rules.R4.cite()})"
            )
    else:
        near = np.zeros(len(chosen), dtype=bool)
    for j, is_near in zip(chosen, near, strict=True):
        state.open_site(int(j), tiers[j], "R6 + R4" if is_near else "R6")
    gap_note = f" (gap {sol.gap:.2%})" if sol.gap else ""
    state.step(
        "R6",
        "station / village clinic",
        len(chosen),
        time.perf_counter() - start,
        sol.status,
        model=sol.model + gap_note,
        residents=round(float(state.pop[rows].sum()), 3),
    )


def colocate(
    state: State, rows: np.ndarray, cols: np.ndarray, chosen: np.ndarray, threshold: float
) -> tuple[np.ndarray, int, np.ndarray] | None:
    """R4: swap each chosen site that is not co-located for a co-located candidate covering
    every resident only it covers (the number of sites and the coverage stay the same)."""
    from siting.county import colocated_candidates

    sc = state.scenario
    if sc.pois is None:
        return None
    near_all = colocated_candidates(sc.sites, sc.pois, rule=state.rules.R4)["colocated"].to_numpy(
        dtype=bool
    )
    cover = state.costs.within(threshold)[rows][:, cols].tocsc().astype(np.int32)
    pos = {int(c): k for k, c in enumerate(cols)}
    picked = [int(c) for c in chosen]
    count = np.asarray(cover[:, [pos[c] for c in picked]].sum(axis=1)).ravel()
    swapped = 0
    for i, c in enumerate(list(picked)):
        if near_all[c]:
            continue
        mine = cover[:, [pos[c]]].toarray().ravel() > 0
        alone = mine & (count == 1)
        if alone.any():
            fits = np.asarray(cover[np.flatnonzero(alone)].sum(axis=0)).ravel() == alone.sum()
        else:
            fits = np.ones(len(cols), dtype=bool)
        options = [
            int(cols[k])
            for k in np.flatnonzero(fits)
            if near_all[cols[k]] and int(cols[k]) not in picked
        ]
        if not options:
            continue
        new = options[0]
        count -= mine.astype(count.dtype)
        count += cover[:, [pos[new]]].toarray().ravel().astype(count.dtype)
        picked[i] = new
        swapped += 1
    out = np.array(picked, dtype=np.int64)
    return out, swapped, near_all[out]


# ----------------------------------------------------------------------------- touring


def list_touring(state: State) -> None:
    """R3: who only touring (mobile) service reaches, with population and location."""
    from siting.villages import touring_demand

    sc = state.scenario
    threshold = float(sc.threshold_minutes or state.rules.R6.threshold_minutes)
    r3 = state.rules.R3
    if state.village_groups is not None and state.travel.village_costs is not None:
        groups = state.village_groups
        assert sc.villages is not None
        site_pos = pd.Index(sc.villages["village_id"].astype(str))
        rows = site_pos.get_indexer(groups["village_id"])
        vc = CostMatrix.from_scipy(state.travel.village_costs.csr()[rows])
        _, t = nearest_open(vc, np.flatnonzero(state.open))
        frame = groups.rename(columns={"touring": "touring"}).copy()
        tour = touring_demand(
            frame, t, threshold_minutes=threshold, population_column="population", rule=r3
        )
        villages = groups.iloc[tour["village"].to_numpy()]
        out = gpd.GeoDataFrame(
            {
                "kind": "village",
                "id": villages["village_id"].to_numpy(),
                "name": villages["name"].to_numpy(),
                "unit_id": villages["unit_id"].to_numpy(),
                "population": tour["population"].to_numpy(),
                "clinic_minutes": np.where(
                    np.isfinite(tour["clinic_minutes"]), tour["clinic_minutes"], np.nan
                ),
                "reason": tour["reason"].to_numpy(),
                "rule": r3.cite(),
            },
            geometry=tour.geometry.to_numpy(),
            crs=tour.crs,
        )
    else:
        lost = (state.pop > 0) & ~(state.coverable if state.coverable is not None else False)
        ids = sc.demand["demand_id"].astype(str).to_numpy()
        units = sc.units["unit_id"].astype(str).to_numpy() if sc.units is not None else np.array([])
        out = gpd.GeoDataFrame(
            {
                "kind": "demand point",
                "id": ids[lost],
                "name": "",
                "unit_id": [units[u] if u >= 0 else None for u in state.d_unit[lost]],
                "population": state.pop[lost],
                "clinic_minutes": np.nan,
                "reason": f"no candidate within {threshold:g} min",
                "rule": r3.cite(),
            },
            geometry=sc.demand.geometry.to_numpy()[lost],
            crs=sc.demand.crs,
        )
    state.touring = out.to_crs("EPSG:4326").reset_index(drop=True)


# ----------------------------------------------------------------------------- county
