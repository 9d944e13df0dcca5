"""p-center solve: the smallest radius within which ``p`` sites cover all demand.

Bisection over the sorted distinct costs between a lower bound (the largest nearest-candidate
cost) and the greedy + swap plan's radius, each step a set-covering feasibility test with at
most ``p`` sites on the merged, dominance-reduced coverage classes
(:func:`solvers.covering.min_cover`: greedy, LP bound, LP-support MIP, then the MIP).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from solvers._common import (
    describe,
    fill_sites,
    make_solution,
    nearest_assignment,
    out_of_time,
    remaining,
)
from solvers._mip import relative_gap
from solvers.covering import min_cover, reduce_cover
from solvers.heuristics import pmedian_greedy_swap
from solvers.models import PCenter
from solvers.options import SolveOptions
from solvers.reductions import coverage_classes
from solvers.result import Solution, Status

__all__ = ["solve_pcenter"]

logger = logging.getLogger(__name__)


def solve_pcenter(model: PCenter, options: SolveOptions) -> Solution:
    """Minimise the largest cost from a demand (weight > 0) to its nearest open site."""
    start = time.perf_counter()
    costs, w, fixed, p = model.costs, model.weights, model.fixed, model.p
    active = w > 0
    unreachable = np.flatnonzero(active & (np.diff(costs.indptr) == 0))
    if len(unreachable):
        return make_solution(
            "pcenter",
            status=Status.INFEASIBLE,
            start=start,
            backend=options.backend,
            reason=(
                f"{len(unreachable)} demand points (total weight {w[unreachable].sum():g}) "
                f"cannot reach any candidate: {describe(unreachable, w)}"
            ),
            details={"unreachable": unreachable.tolist()},
        )
    heur = pmedian_greedy_swap(costs, w, p, fixed, max_swaps=0)
    _, heur_cost = nearest_assignment(costs, heur)
    ub = float(heur_cost[active].max()) if active.any() else 0.0
    lb = float(costs.row_min()[active].max()) if active.any() else 0.0
    if options.backend == "heuristic":
        return make_solution(
            "pcenter",
            status=Status.FEASIBLE,
            start=start,
            backend="heuristic",
            objective=ub,
            bound=lb,
            gap=relative_gap(ub, lb),
            open_sites=heur,
            assignment=nearest_assignment(costs, heur)[0],
        )
    values = np.unique(costs.data)
    values = values[(values >= lb) & (values <= ub)]
    lo, hi = 0, len(values) - 1  # values[hi] is feasible (the heuristic's radius)
    best_sites = heur
    infeasible_below = lb  # every radius below this is proven infeasible
    timed_out = False
    iterations = 0
    decided: dict[str, int] = {}  # which step of the covering test decided, per step
    while lo < hi:
        mid = (lo + hi) // 2
        iterations += 1
        classes = coverage_classes(costs.within(float(values[mid])), w, fixed)
        if len(classes.uncoverable):
            lo = mid + 1
            infeasible_below = float(values[lo])
            continue
        if classes.matrix.shape[0] == 0:
            hi, best_sites = mid, fixed
            continue
        sub, cols, sub_fixed, _ = reduce_cover(classes.matrix, fixed)
        out = min_cover(sub, sub_fixed, remaining(options, start), max_sites=p)
        decided[out.decided_by] = decided.get(out.decided_by, 0) + 1
        if out.status == Status.INFEASIBLE:
            lo = mid + 1
            infeasible_below = float(values[lo])
        elif out.sites is not None:
            hi = mid
            best_sites = cols[out.sites]
        else:
            timed_out = True
            break
        if out_of_time(options, start):
            timed_out = lo < hi
            break
    best_sites = fill_sites(best_sites, p, costs.n_sites)
    assign, acost = nearest_assignment(costs, best_sites)
    obj = float(acost[active].max()) if active.any() else 0.0
    status = Status.FEASIBLE if timed_out else Status.OPTIMAL
    bound = obj if status == Status.OPTIMAL else infeasible_below
    return make_solution(
        "pcenter",
        status=status,
        start=start,
        backend=options.backend,
        objective=obj,
        bound=bound,
        gap=0.0 if status == Status.OPTIMAL else relative_gap(obj, bound),
        open_sites=best_sites,
        assignment=assign,
        details={"iterations": iterations} | {f"decided_by_{k}": v for k, v in decided.items()},
    )
