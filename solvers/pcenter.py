"""p-center solve: the smallest radius within which ``p`` sites cover all demand.

Bisection over the sorted distinct costs between a lower bound (the largest nearest-candidate
cost) and the radius of a farthest-first plan (on the pairs up to that radius only), each step
a set-covering feasibility test with at most ``p`` sites on the merged, dominance-reduced
coverage classes (:func:`solvers.covering.min_cover`: greedy, LP bound, LP-support MIP, then
the MIP). Cheap tests narrow the range first, each phase until its range is within
:data:`_CHEAP_TOL`: a bisection with the greedy cover, or else swaps from the last plan of
``p`` sites towards covering everything (the smallest radius reached: an upper bound), then
one with the LP bound alone (the largest radius it proves too small: a lower bound); the exact
tests bisect what is left between. Every plan found moves the upper end to its own radius
(often below the radius tested). With a time limit, an exact test that does not decide within
a share of the time left gives way to tests at larger radii, which can still find better plans.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

import numpy as np
import scipy.sparse as sp

from solvers._common import (
    fill_sites,
    make_solution,
    nearest_assignment,
    out_of_time,
    plan_solution,
    remaining,
    unreachable_solution,
)
from solvers.covering import min_cover, reduce_cover
from solvers.feasibility import reach_plan
from solvers.heuristics import greedy_cover, mclp_greedy, mclp_swap, pcenter_farthest
from solvers.models import PCenter
from solvers.options import SolveOptions
from solvers.reductions import coverage_classes
from solvers.result import Solution, Status

__all__ = ["solve_pcenter"]

logger = logging.getLogger(__name__)

#: the greedy and LP phases stop when their range of radii is this narrow (relative): the
#: exact tests bisect what is left, so pinning a cheap bound to many digits buys nothing
_CHEAP_TOL = 1e-3
#: with a time limit, an exact test may use this share of the time left
_EXACT_SHARE = 0.4


def _covered(cover: sp.csr_array, sites: np.ndarray) -> np.ndarray:
    """Per row of a boolean coverage matrix: is some site of ``sites`` covering it?"""
    is_open = np.zeros(cover.shape[1], dtype=bool)
    is_open[sites] = True
    hit = is_open[cover.indices]
    rows = np.repeat(np.arange(cover.shape[0]), np.diff(cover.indptr))
    return np.bincount(rows[hit], minlength=cover.shape[0]) > 0


def solve_pcenter(model: PCenter, options: SolveOptions) -> Solution:
    """Minimise the largest cost from a demand (weight > 0) to its nearest open site."""
    start = time.perf_counter()
    costs, w, fixed, p = model.costs, model.weights, model.fixed, model.p
    active = w > 0
    unreachable = np.flatnonzero(active & (np.diff(costs.indptr) == 0))
    if len(unreachable):
        return unreachable_solution(
            model,
            unreachable,
            start=start,
            backend=options.backend,
            what="cannot reach any candidate",
        )
    if not active.any():
        return plan_solution(
            "pcenter",
            costs,
            fill_sites(fixed, p, costs.n_sites),
            status=Status.OPTIMAL,
            start=start,
            backend=options.backend,
            objective=0.0,
        )
    plan = pcenter_farthest(costs, w, p, fixed)
    ub = float(nearest_assignment(costs, plan)[1][active].max())
    lb = float(costs.row_min()[active].max())
    work = costs.truncated(ub) if np.isfinite(ub) else costs
    values = np.unique(work.data[work.data >= lb])
    lo, hi = 0, len(values) - 1  # values[hi] is feasible once ``best_sites`` is not None
    best_sites: np.ndarray | None = plan if np.isfinite(ub) else None
    infeasible_below = lb  # every radius below this is proven infeasible
    timed_out = False
    iterations = undecided_exact = 0
    setup = [0.0]  # the longest a test took to build its reduced covering system
    decided: dict[str, int] = defaultdict(int)  # which step of the covering test decided
    rows_all = np.flatnonzero(active)
    # the last plan of p sites a test produced (a warm start)
    warm: list[np.ndarray] = [plan] if np.isfinite(ub) else []

    def swapped(part: sp.csr_array, sites: np.ndarray) -> np.ndarray:
        """``sites`` filled to ``p`` and swapped to cover more demand rows of ``part``."""
        weight = np.ones(part.shape[0])
        if len(sites) < p:
            sites = mclp_greedy(part, weight, p, sites)
        sites = mclp_swap(part, weight, sites, fixed)
        warm[:] = [sites]
        return sites

    def test(radius: float, level: str | None) -> tuple[bool | None, np.ndarray | None]:
        """Can ``p`` sites cover every demand within ``radius``? (None: not decided by the
        steps up to ``level``, or out of time.)"""
        t0 = time.perf_counter()
        cover = work.within(radius)
        if (active & (np.diff(cover.indptr) == 0)).any():
            decided["uncoverable"] += 1
            return False, None
        part = sp.csr_array(cover[rows_all])
        if level == "greedy":  # the greedy cover, then swaps from the last plan of p sites
            sites = greedy_cover(part, fixed)
            ok = len(sites) <= p
            if not ok and warm:
                sites = swapped(part, warm[0])
                ok = bool(_covered(part, sites).all())
            decided["greedy" if ok else "undecided"] += 1
            return (True, sites) if ok else (None, None)
        classes = coverage_classes(cover, w, fixed)
        if classes.matrix.shape[0] == 0:
            return True, fixed
        sub, cols, sub_fixed, _ = reduce_cover(classes.matrix, fixed)
        setup[0] = max(setup[0], time.perf_counter() - t0)
        # an exact test gets a share of the time left: one that cannot decide in it gives way
        # to tests at larger radii (better plans) instead of ending the solve
        budget = remaining(options, start, share=1.0 if level else _EXACT_SHARE)
        out = min_cover(sub, sub_fixed, budget, max_sites=p, stop_after=level)
        decided[out.decided_by] += 1
        if out.status == Status.INFEASIBLE:
            return False, None
        return (True, cols[out.sites]) if out.sites is not None else (None, None)

    if best_sites is None:
        # the farthest-first plan leaves demand unreached (a sparse matrix): first p sites
        # that reach every demand point, or the proof that none exist
        iterations += 1
        found = reach_plan(model, options, start, plan=plan)
        decided[found.decided_by] += 1
        if found.sites is None:
            return make_solution(
                "pcenter",
                status=found.status,
                start=start,
                backend=options.backend,
                reason=found.reason,
                details={} if found.needed is None else {"sites_needed": found.needed},
            )
        best_sites = found.sites
        warm[:] = [found.sites]
    levels: list[str | None] = ["greedy", "lp", None] if options.backend == "highs" else [None]
    if options.backend == "heuristic":
        levels = ["greedy"]
    for level in levels:
        a, b = lo, hi
        # a cheap phase stops once its range is narrow; the exact tests bisect to the end
        tol = 0.0 if level is None else _CHEAP_TOL
        while a < b and not timed_out and values[b] - values[a] > tol * values[b]:
            if options.time_limit is not None and (
                options.time_limit - (time.perf_counter() - start) < 2 * setup[0]
            ):
                timed_out = True  # too little time left to set up another test
                break
            mid = (a + b) // 2
            iterations += 1
            ok, sites = test(float(values[mid]), level)
            logger.debug(
                "p-center %s test at %.6g: %s (%.2f s)",
                level or "exact",
                values[mid],
                ok,
                time.perf_counter() - start,
            )
            if ok is True:
                if sites is not None:
                    best_sites = sites
                    radius = float(nearest_assignment(work, sites)[1][active].max())
                    mid = min(mid, int(np.searchsorted(values, radius)))
                b = hi = mid
            elif ok is False:
                a = lo = mid + 1
                infeasible_below = float(values[lo])
            elif level == "greedy":
                a = mid + 1  # greedy needs a larger radius (proves nothing)
            elif level == "lp":
                b = mid  # the LP bound cannot prove this radius (nor any larger) too small
            elif options.time_limit is not None and not out_of_time(options, start):
                a = mid + 1  # not decided in its share of the time: look for better plans above
                undecided_exact += 1
            else:
                timed_out = True
            if out_of_time(options, start) and lo < hi:
                timed_out = True
        if timed_out:
            break
    proven = lo == hi
    best_sites = fill_sites(best_sites, p, costs.n_sites)
    assign, acost = nearest_assignment(costs, best_sites)
    obj = float(acost[active].max())
    return plan_solution(
        "pcenter",
        costs,
        best_sites,
        status=Status.OPTIMAL if proven else Status.FEASIBLE,
        start=start,
        backend=options.backend,
        objective=obj,
        bound=None if proven else infeasible_below,
        assignment=assign,
        details={
            "iterations": iterations,
            "farthest_first_radius": ub,
            "exact_tests_undecided": undecided_exact,
        }
        | {f"decided_by_{k}": v for k, v in decided.items()},
    )
