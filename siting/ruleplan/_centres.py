"""Rules R1 + R5 and R2: centres per sub-district, a township health centre per township."""

from __future__ import annotations

import logging
import time

import numpy as np

from siting.bands import plan_unit_centres
from siting.compliance import (
    CENTRE_TIER,
    TOWNSHIP_TIER,
    required_centres,
)
from siting.ruleplan._state import SEVERITY, UNIT_SECONDS, Progress, State, members
from solvers import Status

logger = logging.getLogger(__name__)


def place_centres(state: State, progress: Progress | None) -> None:
    """R1 + R5: community health service centres per sub-district, within the band."""
    if state.kinds is None or not state.kinds.count("subdistrict"):
        return
    start = time.perf_counter()
    sc, r1 = state.scenario, state.rules.R1
    n_units = len(state.kinds.kinds)
    rows_of = members(np.where(state.d_unit >= 0, state.d_unit, n_units), n_units)
    cols_of = members(np.where(state.s_unit >= 0, state.s_unit, n_units), n_units)
    limit = min(sc.time_limit or UNIT_SECONDS, UNIT_SECONDS)
    opened = worst = 0
    subs = np.flatnonzero(state.kinds.kinds == "subdistrict")
    if progress is not None:
        progress(f"R1: community health service centres in {len(subs)} sub-districts")
    for u in subs:
        rows = rows_of[u][state.pop[rows_of[u]] > 0]
        if not len(rows):
            continue
        cols = cols_of[u]
        existing = state.open[cols] & (state.tier[cols] == CENTRE_TIER)
        if state.judge_only:
            usable = existing
        else:
            usable = existing | (~state.open[cols] & np.isin(state.hint[cols], ["", CENTRE_TIER]))
        cols, existing = cols[usable], existing[usable]
        need = int(required_centres(float(state.pop[rows].sum()), rule=r1))
        p = min(max(need, int(existing.sum())), len(cols))
        if p == 0:
            state.note_unit(
                u,
                "no centre open in the unit, and a judged plan opens nothing new (R1)"
                if state.judge_only
                else "no existing centre and no candidate site inside the unit: R1 cannot "
                "place its centre",
            )
            continue
        if existing.sum() > need:
            state.note_unit(
                u,
                f"{int(existing.sum())} existing centres where R1 requires {need}: existing "
                f"centres stay open ({state.rules.R8.cite()}), so their loads are shared",
            )
        if p < need and not state.judge_only:
            state.note_unit(u, f"only {len(cols)} site(s) inside the unit for {need} centres (R1)")
        res = plan_unit_centres(
            state.block(rows, cols),
            state.pop[rows],
            fixed=existing,
            p=p,
            rule=r1,
            xy=state.xy_d[rows],
            time_limit=limit,
            backend=sc.backend,
        )
        if not res.ok:
            state.failures.append(
                f"R1 in {state.unit_name(u)} ({state.unit_id(u)}): the centre model ended "
                f"{res.status}: {res.reason}"
            )
            worst = max(worst, SEVERITY.index(Status(res.status)))
            continue
        worst = max(worst, SEVERITY.index(Status(res.status)))
        chosen = cols[res.open_sites]
        new = chosen[~state.open[chosen]]
        opened += len(new)
        state.open_site(new, CENTRE_TIER, "R1")
        state.load[chosen] = res.loads
        served = res.assignment >= 0
        state.centre_of[rows[served]] = cols[res.assignment[served]]
        if res.violations and not (p == 1 and state.pop[rows].sum() < r1.min_population):
            state.note_unit(u, "closest plan (soft bounds): " + "; ".join(res.violations) + " (R1)")
    state.step(
        "R1",
        CENTRE_TIER,
        opened,
        time.perf_counter() - start,
        SEVERITY[worst],
        units=len(subs),
    )


# ----------------------------------------------------------------------------- R2


def place_township_centres(state: State, progress: Progress | None) -> None:
    """R2: a township health centre in every township (the best candidate inside it)."""
    if state.kinds is None or not state.kinds.count("township"):
        return
    start = time.perf_counter()
    r2 = state.rules.R2
    n_units = len(state.kinds.kinds)
    rows_of = members(np.where(state.d_unit >= 0, state.d_unit, n_units), n_units)
    cols_of = members(np.where(state.s_unit >= 0, state.s_unit, n_units), n_units)
    towns = np.flatnonzero(state.kinds.kinds == "township")
    if progress is not None:
        progress(f"R2: township health centres in {len(towns)} townships")
    opened = 0
    for u in towns:
        rows = rows_of[u][state.pop[rows_of[u]] > 0]
        cols = cols_of[u]
        have = cols[state.open[cols] & (state.tier[cols] == TOWNSHIP_TIER)]
        missing = r2.per_township - len(have)
        if missing > 0 and not state.judge_only:
            free = cols[~state.open[cols] & np.isin(state.hint[cols], ["", TOWNSHIP_TIER])]
            if not len(free):
                state.note_unit(
                    u, "no township health centre and no candidate site inside the township (R2)"
                )
            else:
                picks = best_sites(state, rows, have, free, missing)
                state.open_site(picks, TOWNSHIP_TIER, "R2")
                opened += len(picks)
                have = np.concatenate([have, picks])
        if len(have) and len(rows):
            block = state.block(rows, have)
            near = np.argmin(block, axis=1)
            state.centre_of[rows] = have[near]
            state.load[have] = np.bincount(near, weights=state.pop[rows], minlength=len(have))
        elif len(have):
            state.load[have] = 0.0
    state.step("R2", TOWNSHIP_TIER, opened, time.perf_counter() - start, Status.OPTIMAL)


def best_sites(
    state: State, rows: np.ndarray, have: np.ndarray, free: np.ndarray, k: int
) -> np.ndarray:
    """``k`` of ``free`` added one at a time, each the one that most lowers the residents'
    weighted travel to their nearest centre (exact for one site: the 1-median given ``have``).
    Without residents: the candidates nearest the unit's other sites' centre."""
    if not len(rows):
        return free[:k]
    w = state.pop[rows]
    block = state.block(rows, free)
    base = state.block(rows, have).min(axis=1) if len(have) else np.full(len(rows), np.inf)
    picks: list[int] = []
    for _ in range(min(k, len(free))):
        score = w @ np.minimum(base[:, None], block)
        score[picks] = np.inf
        j = int(np.argmin(score))
        picks.append(j)
        base = np.minimum(base, block[:, j])
    return free[picks]


# ----------------------------------------------------------------------------- R3
