"""Tie-breaking among equally good maximal-covering (MCLP) plans: of the plans covering the same
residents, keep the one whose residents are nearest to their sites.

MCLP maximises the residents within the threshold and says nothing about where, among the many
plans that cover as many, the sites go: a solver returns whichever optimum it meets first, and
that choice can leave residents needlessly far from their site. :func:`prefer_nearest` is a
small post-solve step: it swaps new sites for candidates while the covered population stays
exactly the optimum and the population-weighted travel time to the nearest open site falls
(the p-median objective as the second criterion), and says what it did in a note.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from solvers import CostMatrix, Solution

__all__ = ["MAX_WORK", "prefer_nearest"]

logger = logging.getLogger(__name__)

#: skip the step above this many cost-matrix entries × new sites per round (about a second)
MAX_WORK = 200_000_000
#: at most this many rounds of swaps (each round tries every new site once)
MAX_ROUNDS = 4
_TOL = 1e-9


def _nearest_two(
    costs: CostMatrix, open_mask: np.ndarray, far: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per demand: the nearest open site (-1: none within the matrix), its time and the
    second-nearest open site's time (``far`` where there is none)."""
    n = costs.n_demand
    rows = costs.rows()
    keep = open_mask[costs.indices]
    r, c, d = rows[keep], costs.indices[keep].astype(np.int64), costs.data[keep]
    order = np.lexsort((c, d, r))  # by demand, then time, then site
    r, c, d = r[order], c[order], d[order]
    first = np.full(n, -1, dtype=np.int64)
    best = np.full(n, far)
    second = np.full(n, far)
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if len(r) else np.array([], int)
    first[r[starts]] = c[starts]
    best[r[starts]] = d[starts]
    nxt = starts + 1
    ok = nxt < len(r)
    ok[ok] &= r[nxt[ok]] == r[starts[ok]]
    second[r[starts[ok]]] = d[nxt[ok]]
    return first, best, second


def prefer_nearest(
    solution: Solution,
    costs: CostMatrix,
    weights: np.ndarray,
    threshold: float,
    fixed: np.ndarray,
    *,
    far: float | None = None,
) -> tuple[Solution, str | None]:
    """Among the MCLP plans covering as many residents as ``solution``, move towards the one
    with the least population-weighted travel time to the nearest open site.

    Repeatedly swaps one open non-fixed site for a closed candidate when the swap keeps the
    covered weight exactly (within 1e-9) and lowers the total weighted time the most; pairs
    beyond the travel-time matrix count at ``far`` (default: the largest time in it). Returns
    the solution with the new ``open_sites`` (assignment: the nearest open site within the
    threshold; objective, bound and gap unchanged, ``details["tie_break"]`` added) and a note
    for the planner (also when no swap helps); the solution as it was and ``None`` when the
    step is skipped (no solution, nothing to swap, or above :data:`MAX_WORK`).
    """
    if not solution.has_solution or costs.nnz == 0:
        return solution, None
    m = costs.n_sites
    w = np.asarray(weights, dtype=np.float64)
    fixed_mask = np.zeros(m, dtype=bool)
    fixed_mask[np.asarray(fixed, dtype=np.int64)] = True
    open_mask = np.zeros(m, dtype=bool)
    open_mask[solution.open_sites] = True
    movable = np.flatnonzero(open_mask & ~fixed_mask)
    if not len(movable) or open_mask.all():
        return solution, None
    if costs.nnz * len(movable) > MAX_WORK:
        logger.info("MCLP tie-break skipped: %d entries x %d sites", costs.nnz, len(movable))
        return solution, None
    far_time = float(costs.data.max()) if far is None else float(far)
    within = costs.within(threshold).tocsc().astype(bool)
    csc = costs.csc()
    col_rows = csc.indices
    col_of = np.repeat(np.arange(m), np.diff(csc.indptr))

    def covered_weight(mask: np.ndarray) -> float:
        hit = np.asarray(within[:, np.flatnonzero(mask)].sum(axis=1)).ravel() > 0
        return float(w[hit].sum())

    def total_time(mask: np.ndarray) -> float:
        _, best, _ = _nearest_two(costs, mask, far_time)
        return float((w * best).sum())

    target = covered_weight(open_mask)
    start_time = total_time(open_mask)
    swaps = 0
    for _ in range(MAX_ROUNDS):
        improved = False
        for j in np.flatnonzero(open_mask & ~fixed_mask):
            counts = np.asarray(within[:, np.flatnonzero(open_mask)].sum(axis=1)).ravel()
            only_j = (counts == 1) & np.asarray(within[:, [j]].todense()).ravel()
            lost = float(w[only_j].sum())
            # weight each closed candidate would cover of what is uncovered once j closes
            uncovered = (counts - np.asarray(within[:, [j]].todense()).ravel()) == 0
            gain = np.asarray(within.T @ (w * uncovered)).ravel()
            tied = (~open_mask) & (np.abs(gain - lost) <= _TOL * max(1.0, target))
            if not tied.any():
                continue
            # weighted time saved by opening k once j closes: residents nearer to k than to
            # the nearest remaining open site
            first, best, second = _nearest_two(costs, open_mask, far_time)
            without_j = np.where(first == j, second, best)
            saved_each = np.maximum(0.0, without_j[col_rows] - csc.data) * w[col_rows]
            saved = np.bincount(col_of, weights=saved_each, minlength=m)
            lost_time = float((w * (without_j - best)).sum())
            net = np.where(tied, saved - lost_time, -np.inf)
            k = int(np.argmax(net))
            if net[k] > _TOL * max(1.0, start_time):
                trial = open_mask.copy()
                trial[j], trial[k] = False, True
                if abs(covered_weight(trial) - target) <= _TOL * max(1.0, target):
                    open_mask = trial
                    swaps += 1
                    improved = True
        if not improved:
            break
    if not swaps:
        note = (
            f"MCLP tie-break: no swap of a new site keeps the {target:,.0f} residents covered "
            "(the optimum) and brings residents nearer to their sites; the plan is kept"
        )
        return dataclasses.replace(
            solution, details=dict(solution.details) | {"tie_break": {"swaps": 0}}
        ), note
    end_time = total_time(open_mask)
    first, best, _ = _nearest_two(costs, open_mask, far_time)
    assignment = np.where(best <= threshold, first, -1)
    # the means over residents some site reaches within the matrix (the others count at
    # ``far`` under every plan and would only dilute the figures)
    in_matrix = np.diff(costs.indptr) > 0
    constant = far_time * float(w[~in_matrix].sum())
    reached_w = float(w[in_matrix].sum()) or 1.0
    info = {
        "rule": "among plans covering the same residents, least population-weighted travel",
        "swaps": swaps,
        "mean_minutes_before": round((start_time - constant) / reached_w, 3),
        "mean_minutes_after": round((end_time - constant) / reached_w, 3),
    }
    note = (
        f"MCLP tie-break: of the plans covering the same {target:,.0f} residents (the optimum), "
        f"the one whose residents are nearest to their sites was kept ({swaps} site"
        f"{'s' if swaps != 1 else ''} moved; mean travel time of the residents the sites "
        f"reach {info['mean_minutes_before']:.2f} → {info['mean_minutes_after']:.2f} min)"
    )
    new = dataclasses.replace(
        solution,
        open_sites=np.flatnonzero(open_mask),
        assignment=assignment,
        details=dict(solution.details) | {"tie_break": info},
    )
    return new, note
