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
    costs, fixed, p = model.costs, model.fixed, model.p
    active = model.weights > 0
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
    search = _Bisection(model, options, start)
    if search.best_sites is None:
        # the farthest-first plan leaves demand unreached (a sparse matrix): first p sites
        # that reach every demand point, or the proof that none exist
        search.iterations += 1
        found = reach_plan(model, options, start, plan=search.plan)
        search.decided[found.decided_by] += 1
        if found.sites is None:
            return make_solution(
                "pcenter",
                status=found.status,
                start=start,
                backend=options.backend,
                reason=found.reason,
                details={} if found.needed is None else {"sites_needed": found.needed},
            )
        search.best_sites = found.sites
        search.warm[:] = [found.sites]
    levels: list[str | None] = ["greedy", "lp", None] if options.backend == "highs" else [None]
    if options.backend == "heuristic":
        levels = ["greedy"]
    for level in levels:
        search.phase(level)
        if search.timed_out:
            break
    return search.solution()


class _Bisection:
    """The bisection over the sorted distinct costs: the range ``values[lo..hi]`` still open
    (``values[hi]`` feasible once ``best_sites`` is set), the best plan, and the counters."""

    def __init__(self, model: PCenter, options: SolveOptions, start: float) -> None:
        self.model, self.options, self.start = model, options, start
        costs, w, p, fixed = model.costs, model.weights, model.p, model.fixed
        self.active = w > 0
        self.plan = pcenter_farthest(costs, w, p, fixed)
        self.ub = float(nearest_assignment(costs, self.plan)[1][self.active].max())
        self.lb = float(costs.row_min()[self.active].max())
        self.work = costs.truncated(self.ub) if np.isfinite(self.ub) else costs
        self.values = np.unique(self.work.data[self.work.data >= self.lb])
        self.lo, self.hi = 0, len(self.values) - 1
        self.best_sites: np.ndarray | None = self.plan if np.isfinite(self.ub) else None
        self.infeasible_below = self.lb  # every radius below this is proven infeasible
        self.timed_out = False
        self.iterations = self.undecided_exact = 0
        self.setup = 0.0  # the longest a test took to build its reduced covering system
        self.decided: dict[str, int] = defaultdict(int)  # which covering step decided
        self.rows_all = np.flatnonzero(self.active)
        # the last plan of p sites a test produced (a warm start)
        self.warm: list[np.ndarray] = [self.plan] if np.isfinite(self.ub) else []

    def swapped(self, part: sp.csr_array, sites: np.ndarray) -> np.ndarray:
        """``sites`` filled to ``p`` and swapped to cover more demand rows of ``part``."""
        p, weight = self.model.p, np.ones(part.shape[0])
        if len(sites) < p:
            sites = mclp_greedy(part, weight, p, sites)
        sites = mclp_swap(part, weight, sites, self.model.fixed)
        self.warm[:] = [sites]
        return sites

    def test(self, radius: float, level: str | None) -> tuple[bool | None, np.ndarray | None]:
        """Can ``p`` sites cover every demand within ``radius``? (None: not decided by the
        steps up to ``level``, or out of time.)"""
        model, fixed, p = self.model, self.model.fixed, self.model.p
        t0 = time.perf_counter()
        cover = self.work.within(radius)
        if (self.active & (np.diff(cover.indptr) == 0)).any():
            self.decided["uncoverable"] += 1
            return False, None
        part = sp.csr_array(cover[self.rows_all])
        if level == "greedy":  # the greedy cover, then swaps from the last plan of p sites
            sites = greedy_cover(part, fixed)
            ok = len(sites) <= p
            if not ok and self.warm:
                sites = self.swapped(part, self.warm[0])
                ok = bool(_covered(part, sites).all())
            self.decided["greedy" if ok else "undecided"] += 1
            return (True, sites) if ok else (None, None)
        classes = coverage_classes(cover, model.weights, fixed)
        if classes.matrix.shape[0] == 0:
            return True, fixed
        sub, cols, sub_fixed, _ = reduce_cover(classes.matrix, fixed)
        self.setup = max(self.setup, time.perf_counter() - t0)
        # an exact test gets a share of the time left: one that cannot decide in it gives way
        # to tests at larger radii (better plans) instead of ending the solve
        budget = remaining(self.options, self.start, share=1.0 if level else _EXACT_SHARE)
        out = min_cover(sub, sub_fixed, budget, max_sites=p, stop_after=level)
        self.decided[out.decided_by] += 1
        if out.status == Status.INFEASIBLE:
            return False, None
        return (True, cols[out.sites]) if out.sites is not None else (None, None)

    def phase(self, level: str | None) -> None:
        """Bisect the open range with the tests of ``level``: a cheap phase stops once its
        range is narrow (:data:`_CHEAP_TOL`), the exact tests bisect to the end."""
        options, values = self.options, self.values
        a, b = self.lo, self.hi
        tol = 0.0 if level is None else _CHEAP_TOL
        while a < b and not self.timed_out and values[b] - values[a] > tol * values[b]:
            if options.time_limit is not None and (
                options.time_limit - (time.perf_counter() - self.start) < 2 * self.setup
            ):
                self.timed_out = True  # too little time left to set up another test
                break
            mid = (a + b) // 2
            self.iterations += 1
            ok, sites = self.test(float(values[mid]), level)
            logger.debug(
                "p-center %s test at %.6g: %s (%.2f s)",
                level or "exact",
                values[mid],
                ok,
                time.perf_counter() - self.start,
            )
            if ok is True:
                if sites is not None:
                    self.best_sites = sites
                    radius = float(nearest_assignment(self.work, sites)[1][self.active].max())
                    mid = min(mid, int(np.searchsorted(values, radius)))
                b = self.hi = mid
            elif ok is False:
                a = self.lo = mid + 1
                self.infeasible_below = float(values[self.lo])
            elif level == "greedy":
                a = mid + 1  # greedy needs a larger radius (proves nothing)
            elif level == "lp":
                b = mid  # the LP bound cannot prove this radius (nor any larger) too small
            elif options.time_limit is not None and not out_of_time(options, self.start):
                a = mid + 1  # not decided in its share of the time: look for better plans above
                self.undecided_exact += 1
            else:
                self.timed_out = True
            if out_of_time(options, self.start) and self.lo < self.hi:
                self.timed_out = True

    def solution(self) -> Solution:
        """The best plan, optimal when the range closed; the bound is the smallest radius not
        proven too small."""
        costs, p = self.model.costs, self.model.p
        proven = self.lo == self.hi
        assert self.best_sites is not None
        best_sites = fill_sites(self.best_sites, p, costs.n_sites)
        assign, acost = nearest_assignment(costs, best_sites)
        return plan_solution(
            "pcenter",
            costs,
            best_sites,
            status=Status.OPTIMAL if proven else Status.FEASIBLE,
            start=self.start,
            backend=self.options.backend,
            objective=float(acost[self.active].max()),
            bound=self.infeasible_below,  # = values[lo], the objective once the range closed
            assignment=assign,
            details={
                "iterations": self.iterations,
                "farthest_first_radius": self.ub,
                "exact_tests_undecided": self.undecided_exact,
            }
            | {f"decided_by_{k}": v for k, v in self.decided.items()},
        )
