"""Exact p-median: heuristic plan, Lagrangian bound and reduction, truncated radius MIP.

How a proven optimum is reached (every step keeps an optimal plan reachable):

1. *Heuristic.* Greedy addition + best-improvement swaps (:mod:`solvers.heuristics`), from the
   ``warm_start`` sites too when given. Its cost is the upper bound ``UB``.
2. *Lagrangian bound* (:mod:`solvers.lagrangian`): a lower bound ``LB`` (as strong as the LP of
   the strong formulation at convergence), plans from the relaxation improved by swaps, and a
   reduction: sites that cannot be in a plan better than ``UB`` are removed, sites in every plan
   of cost ``<= UB`` are fixed open. If ``LB >= UB`` (rounded up for integer costs) the plan is
   optimal and no MIP is built.
3. *Truncated radius MIP* (:func:`solvers.formulations.pmedian_radius_mip`) over the kept sites:
   each demand keeps its cost levels up to a depth (first: two levels beyond the heuristic
   plan's level). The truncated optimum is a lower bound; when every demand has an open site
   within its kept levels it is the true optimum (see that module's docstring). Otherwise the
   demand rows that fell outside are deepened (doubled, at least to their level in that
   optimum) and the MIP is solved again, warm-started from the best plan.

The returned ``objective`` is always recomputed on the full cost matrix; ``bound`` is the best
of the Lagrangian bound and the MIP's bound (both valid for the full model).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from solvers._common import (
    deadline,
    describe,
    make_solution,
    nearest_assignment,
    out_of_time,
    remaining,
)
from solvers._mip import relative_gap, solve_mip
from solvers._pairs import SortedPairs
from solvers.formulations import Levels, pmedian_levels, pmedian_radius_mip
from solvers.heuristics import pmedian_cost, pmedian_greedy, pmedian_swap
from solvers.lagrangian import pmedian_lagrangian
from solvers.models import PMedian
from solvers.options import SolveOptions
from solvers.result import Solution, Status

__all__ = ["solve_pmedian"]

logger = logging.getLogger(__name__)

#: the heuristics and the Lagrangian bound keep each demand's nearest pairs above this size
_PAIR_LIMIT = 6_000_000
#: HiGHS settings once a good plan is known: its primal heuristics rarely beat the warm start
_PROVE = {
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_feasibility_jump": False,
}


def _mask(sites: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[np.asarray(sites, dtype=np.int64)] = True
    return out


def solve_pmedian(
    model: PMedian, options: SolveOptions, warm_start: np.ndarray | None = None
) -> Solution:
    """Solve a :class:`PMedian` (see the module docstring); ``warm_start``: open site indices."""
    start = time.perf_counter()
    costs, w, p = model.costs, model.weights, model.p
    m = costs.n_sites
    fixed_mask = _mask(model.fixed, m)
    active = w > 0
    unreachable = np.flatnonzero(active & (np.diff(costs.indptr) == 0))
    if len(unreachable):
        return make_solution(
            "pmedian",
            status=Status.INFEASIBLE,
            start=start,
            backend=options.backend,
            reason=(
                f"{len(unreachable)} demand points (total weight {w[unreachable].sum():g}) "
                f"cannot reach any candidate site: {describe(unreachable, w)}"
            ),
            details={"unreachable": unreachable.tolist()},
        )
    pairs = SortedPairs.build(costs, w, active)
    work = pairs.nearest(max(8, _PAIR_LIMIT // pairs.n_rows)) if pairs.nnz > _PAIR_LIMIT else pairs
    stop = deadline(options, start)

    # 1. heuristic plan(s)
    starts = [fixed_mask]
    if warm_start is not None:
        ws = np.asarray(warm_start, dtype=np.int64).ravel()
        if len(ws) and (ws.min() < 0 or ws.max() >= m):
            raise ValueError(f"`warm_start` must hold site indices in [0, {m}), got {ws.tolist()}")
        extra = [int(s) for s in ws if not fixed_mask[s]][: p - int(fixed_mask.sum())]
        starts.insert(0, fixed_mask | _mask(np.array(extra, dtype=np.int64), m))
    best_open, ub = fixed_mask, np.inf
    for begin in starts:
        plan = pmedian_greedy(work, p, begin)
        plan = pmedian_swap(work, plan, ~fixed_mask, deadline=stop)
        cost = pmedian_cost(pairs, plan)
        if cost < ub:
            best_open, ub = plan, cost
    heuristic_cost = ub
    details: dict = {"heuristic_objective": heuristic_cost, "iterations": 0}

    def finish(
        status: Status, plan: np.ndarray, bound: float | None, backend: str, **extra: object
    ) -> Solution:
        sites = np.flatnonzero(plan)
        assign, acost = nearest_assignment(costs, sites)
        obj = float(w[active] @ acost[active])
        if status == Status.OPTIMAL:
            gap: float | None = 0.0
            bound = obj if bound is None else min(bound, obj)
        else:
            gap = relative_gap(obj, bound)
        return make_solution(
            "pmedian",
            status=status,
            start=start,
            backend=backend,
            objective=obj,
            bound=bound,
            gap=gap,
            open_sites=sites,
            assignment=assign,
            details=details | extra,
        )

    if not np.isfinite(ub):  # cannot happen with reachable demand and p >= 1, but be honest
        return make_solution(
            "pmedian",
            status=Status.NO_SOLUTION,
            start=start,
            backend=options.backend,
            reason="no plan serving every demand point was found",
        )
    if int(fixed_mask.sum()) == p:
        return finish(Status.OPTIMAL, fixed_mask, None, options.backend, proof="all sites fixed")
    if options.backend == "heuristic":
        return make_solution(
            "pmedian",
            status=Status.FEASIBLE,
            start=start,
            backend="heuristic",
            objective=ub,
            open_sites=np.flatnonzero(best_open),
            assignment=nearest_assignment(costs, np.flatnonzero(best_open))[0],
            details=details,
        )

    # 2. Lagrangian bound, heuristic and reduction
    integral = bool(np.all(costs.data == np.round(costs.data)) and np.all(w == np.round(w)))
    lag = pmedian_lagrangian(work, p, fixed_mask, ub, best_open, integral=integral, deadline=stop)
    rounds = 0
    while lag.upper_bound < ub - 1e-9 * max(abs(ub), 1.0) and rounds < 3:
        rounds += 1
        plan = pmedian_swap(work, lag.best_open, ~fixed_mask, deadline=stop)
        cost = pmedian_cost(pairs, plan)
        best_open, ub = (plan, cost) if cost < lag.upper_bound else (lag.best_open, lag.upper_bound)
        lag = pmedian_lagrangian(
            work,
            p,
            fixed_mask,
            ub,
            best_open,
            integral=integral,
            multipliers=lag.multipliers,
            max_iterations=400,
            deadline=stop,
        )
    if lag.upper_bound < ub:
        best_open, ub = lag.best_open, lag.upper_bound
    lb = lag.lower_bound
    details |= {
        "lagrangian_bound": lb,
        "lagrangian_iterations": lag.iterations,
        "candidates_kept": int(lag.keep.sum()),
        "fixed_open_by_reduction": int((lag.forced_open & ~fixed_mask).sum()),
    }
    tol = 1e-9 * max(abs(ub), 1.0)
    if ub - lb <= tol or (options.mip_gap and ub - lb <= options.mip_gap * abs(ub)):
        return finish(Status.OPTIMAL, best_open, lb, options.backend, proof="lagrangian bound")
    if out_of_time(options, start):
        return finish(Status.FEASIBLE, best_open, lb, options.backend, proof="time limit")

    # 3. truncated radius MIP over the kept sites, deepened until exact
    keep = np.flatnonzero(lag.keep)
    sub, _ = pairs.restrict_sites(keep)
    sub_fixed = lag.forced_open[keep]
    levels = pmedian_levels(sub)
    best_sub = best_open[keep]
    depth, cap = _first_depth(sub, levels, best_sub, sub_fixed, p)
    bound, status, backend = lb, Status.FEASIBLE, options.backend
    iterations = 0
    while True:
        iterations += 1
        depth = np.minimum(depth, cap)
        model_r = pmedian_radius_mip(sub, levels, depth, depth >= cap, p, sub_fixed)
        first, _, _ = sub.nearest_open(best_sub)
        near = sub.cost[first]
        warm = model_r.warm(best_sub, near)
        out = solve_mip(
            model_r.mip, remaining(options, start), warm_start=warm, highs_options=_PROVE
        )
        backend = out.backend
        if out.bound is not None and out.status in (Status.OPTIMAL, Status.FEASIBLE):
            bound = max(bound, out.bound)
        if out.x is None:
            break
        plan_sub = out.x[: sub.n_sites] > 0.5
        cost = pmedian_cost(sub, plan_sub)
        if cost < ub - tol:
            best_sub, ub = plan_sub, cost
        if out.status != Status.OPTIMAL:
            break
        first, _, _ = sub.nearest_open(plan_sub)
        short = model_r.short_rows(sub.cost[first])
        if len(short) == 0:
            status = Status.OPTIMAL
            best_sub = plan_sub
            break
        logger.debug("p-median: %d demand rows need deeper levels", len(short))
        lvl = np.where(first[short] >= 0, levels.rank[first[short]], levels.count[short])
        depth[short] = np.maximum(2 * depth[short], lvl + 1)
        if out_of_time(options, start):
            break
    best_open = _mask(keep[np.flatnonzero(best_sub)], m)
    details |= {"iterations": iterations, "levels_kept": int(np.minimum(depth, levels.count).sum())}
    if status != Status.OPTIMAL and ub - bound <= tol:
        status = Status.OPTIMAL
    return finish(status, best_open, bound, backend)


def _first_depth(
    pairs: SortedPairs, levels: Levels, plan: np.ndarray, fixed_mask: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """Starting depth per row (two levels beyond the plan's) and the depth that is enough.

    A row needs no level beyond its nearest fixed site's, nor beyond the first level past
    which fewer than ``p`` candidates remain (one of the ``p`` open sites must lie within).
    """
    rank = levels.rank
    first, _, _ = pairs.nearest_open(plan)
    depth = rank[first] + 3
    cap = np.full(pairs.n_rows, np.iinfo(np.int64).max)
    on_fixed = fixed_mask[pairs.site]
    if on_fixed.any():
        np.minimum.at(cap, pairs.row[on_fixed], rank[on_fixed] + 1)
    beyond = pairs.n_sites - (pairs.rank() + 1) < p
    if beyond.any():
        np.minimum.at(cap, pairs.row[beyond], rank[beyond] + 1)
    return np.minimum(depth, cap), cap
