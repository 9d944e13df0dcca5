"""p-center solve: the smallest radius within which ``p`` sites cover all demand.

Bisection over the sorted distinct costs between a lower bound (the largest nearest-candidate
cost) and the greedy + swap plan's radius, each step a set-covering feasibility test with at
most ``p`` sites on the merged, dominance-reduced coverage classes
(:func:`solvers.covering.min_cover`: greedy, LP bound, LP-support MIP, then the MIP). Cheap
tests narrow the range first: a bisection with the greedy cover alone (the smallest radius it
reaches with ``p`` sites: an upper bound), then one with the LP bound alone (the largest radius
it proves too small: a lower bound); the exact tests bisect only what is left between.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

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
from solvers.heuristics import greedy_cover, pmedian_greedy_swap
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
    decided: dict[str, int] = defaultdict(int)  # which step of the covering test decided

    def test(radius: float, level: str | None) -> tuple[bool | None, np.ndarray | None]:
        """Can ``p`` sites cover every demand within ``radius``? (None: not decided by the
        steps up to ``level``, or out of time.)"""
        classes = coverage_classes(costs.within(radius), w, fixed)
        if len(classes.uncoverable):
            decided["uncoverable"] += 1
            return False, None
        if classes.matrix.shape[0] == 0:
            return True, fixed
        if level == "greedy":  # no dominance reduction needed for the greedy cover alone
            sites = greedy_cover(classes.matrix, fixed)
            decided["greedy" if len(sites) <= p else "undecided"] += 1
            return (True, sites) if len(sites) <= p else (None, None)
        sub, cols, sub_fixed, _ = reduce_cover(classes.matrix, fixed)
        out = min_cover(sub, sub_fixed, remaining(options, start), max_sites=p, stop_after=level)
        decided[out.decided_by] += 1
        if out.status == Status.INFEASIBLE:
            return False, None
        if out.sites is not None:
            return True, cols[out.sites]
        return None, None

    # cheap tests first: the smallest radius the greedy cover reaches with p sites, then the
    # largest the LP bound proves too small; the exact tests bisect what is left between
    levels: list[str | None] = ["greedy", "lp", None] if options.backend == "highs" else [None]
    for level in levels:
        a, b = lo, hi
        while a < b and not timed_out:
            mid = (a + b) // 2
            iterations += 1
            ok, sites = test(float(values[mid]), level)
            if ok is True:
                b = hi = mid
                best_sites = sites if sites is not None else best_sites
            elif ok is False:
                a = lo = mid + 1
                infeasible_below = float(values[lo])
            elif level == "greedy":
                a = mid + 1  # greedy needs a larger radius (proves nothing)
            elif level == "lp":
                b = mid  # the LP bound cannot prove this radius (nor any larger) too small
            else:
                timed_out = True
            if out_of_time(options, start) and lo < hi:
                timed_out = True
        if timed_out:
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
