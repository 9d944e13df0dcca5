"""Exact p-median: heuristic plans, Lagrangian bound and reduction, truncated radius MIP.

How a proven optimum is reached (every step keeps an optimal plan reachable):

1. *Heuristic.* Greedy addition + best-improvement swaps (:mod:`solvers.heuristics`), from the
   ``warm_start`` sites too when given. Its cost is the upper bound ``UB``.
2. *Lagrangian bound* (:mod:`solvers.lagrangian`; above a million pairs on each demand's
   ``2 m/p + 10`` nearest sites, which keeps it valid for the full matrix): a lower bound
   ``LB``, as strong as the LP of the strong formulation at convergence.
3. *Plans from the relaxation.* Its open sets at the last steps that raised the bound are
   improved by swaps, then an iterated local search kicks the best plan (a few sites swapped
   for sites the relaxation favours) until kicks stop paying. On the 5,000 × 300 benchmark
   this cuts the distance to ``LB`` from 1.7 % (greedy + swap) to about 0.5 %.
4. *Reduction* with the best plan: sites that cannot be in a plan better than ``UB`` are
   removed, sites in every plan of cost ``<= UB`` are fixed open. If ``LB >= UB`` (rounded up
   for integer costs) the plan is optimal and no MIP is built.
5. *Truncated radius MIP* (:func:`solvers.formulations.pmedian_radius_mip`) over the kept sites:
   each demand keeps its cost levels up to a depth (first: two levels beyond the best plan's
   level). The truncated optimum is a lower bound; when every demand has an open site within
   its kept levels it is the true optimum (see that module's docstring). Otherwise the demand
   rows that fell outside are deepened (doubled, at least to their level in that optimum) and
   the MIP is solved again, warm-started from the best plan.

The returned ``objective`` is always recomputed on the full cost matrix; ``bound`` is the best
of the Lagrangian bound and the MIP's bound (both valid for the full model).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from siting_errors import InputError, SolverError
from solvers._common import (
    deadline,
    fill_sites,
    make_solution,
    nearest_assignment,
    out_of_time,
    plan_solution,
    remaining,
    share_deadline,
    unreachable_solution,
)
from solvers._mip import solve_mip
from solvers._pairs import SortedPairs
from solvers.feasibility import reach_plan
from solvers.formulations import Levels, pmedian_levels, pmedian_radius_mip
from solvers.heuristics import pmedian_cost, pmedian_greedy, pmedian_swap
from solvers.lagrangian import LagrangianBound, pmedian_lagrangian
from solvers.models import PMedian
from solvers.options import SolveOptions
from solvers.result import Solution, Status

__all__ = ["solve_pmedian"]

logger = logging.getLogger(__name__)

#: the heuristics and the Lagrangian bound keep each demand's nearest pairs above this size
_PAIR_LIMIT = 6_000_000
#: shares of the time left for: the first greedy + swap plan, the Lagrangian bound, and the
#: swaps from the relaxation's open sets (the truncated MIP gets the rest)
_HEURISTIC_SHARE = 0.15
_LAGRANGIAN_SHARE = 0.5
_POLISH_SHARE = 0.4
#: above this many pairs the Lagrangian bound runs on each row's nearest ``2 m/p + 10``
_LAGRANGIAN_PAIRS = 1_000_000
#: iterated local search after the relaxation's plans: kicks without a better plan before it
#: stops, and its random seed (solves are deterministic)
_KICK_STALL = 10
#: when the MIP is skipped: kicks in a row without a better plan that end the local search
#: early (else it runs to the time limit)
_SKIP_STALL = 200
_KICK_SEED = 20031
#: with a time limit, the truncated MIP is skipped above about this many cost levels
_MIP_LEVELS = 200_000
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
    active = model.weights > 0
    unreachable = np.flatnonzero(active & (np.diff(model.costs.indptr) == 0))
    if len(unreachable):
        return unreachable_solution(
            model,
            unreachable,
            start=start,
            backend=options.backend,
            what="cannot reach any candidate site",
        )
    return _Search(model, options, start).run(warm_start)


class _Search:
    """One p-median solve: the best plan so far (``best_open``, cost ``ub``) and the steps of
    the module docstring, each a method."""

    def __init__(self, model: PMedian, options: SolveOptions, start: float) -> None:
        self.model, self.options, self.start = model, options, start
        self.active = model.weights > 0
        self.m, self.p = model.costs.n_sites, model.p
        self.fixed_mask = _mask(model.fixed, self.m)
        self.pairs = SortedPairs.build(model.costs, model.weights, self.active)
        pairs = self.pairs
        self.work = (
            pairs.nearest(max(8, _PAIR_LIMIT // pairs.n_rows)) if pairs.nnz > _PAIR_LIMIT else pairs
        )
        self.best_open, self.ub = self.fixed_mask, np.inf
        self.details: dict[str, Any] = {"iterations": 0}

    def run(self, warm_start: np.ndarray | None) -> Solution:
        options = self.options
        # 1. heuristic plan(s)
        no_plan = self.first_plans(warm_start)
        if no_plan is not None:
            return no_plan
        self.details["heuristic_objective"] = self.ub
        if int(self.fixed_mask.sum()) == self.p:
            return self.finish(
                Status.OPTIMAL, self.fixed_mask, None, options.backend, proof="all sites fixed"
            )
        if options.backend == "heuristic":
            return plan_solution(
                "pmedian",
                self.model.costs,
                np.flatnonzero(self.best_open),
                status=Status.FEASIBLE,
                start=self.start,
                backend="heuristic",
                objective=self.ub,
                details=self.details,
            )
        # 2. Lagrangian bound; 3. plans from the relaxation; 4. reduction
        lag, lb = self.relaxation()
        ub = self.ub
        if ub - lb <= 1e-9 * max(abs(ub), 1.0) or (
            options.mip_gap and ub - lb <= options.mip_gap * abs(ub)
        ):
            return self.finish(
                Status.OPTIMAL, self.best_open, lb, options.backend, proof="lagrangian bound"
            )
        if out_of_time(options, self.start):
            return self.finish(
                Status.FEASIBLE, self.best_open, lb, options.backend, proof="time limit"
            )
        # 5. truncated radius MIP over the kept sites, deepened until exact; its first size is
        # about the rows' ranks of their site in the best plan, plus 3 (see _first_depth)
        first, _, _ = self.work.nearest_open(self.best_open)
        size = int((first - self.work.indptr[:-1] + 3)[first >= 0].sum())
        if size > _MIP_LEVELS and options.time_limit is not None:
            # too big to gain anything in the time left (100,000 × 2,000: 1.25 million levels,
            # the root LP does not finish): the time goes to the local search instead, until
            # the time limit or _SKIP_STALL kicks in a row without a better plan. The choice
            # depends on the size and on a time limit being set, never on the machine's speed.
            self.best_open, self.ub, kicks = _perturb(
                self.work, self.pairs, self.best_open, self.ub, self.fixed_mask, lag,
                deadline(options, self.start), _SKIP_STALL,
            )  # fmt: skip
            self.details["polished_plans"] += kicks
            self.details["mip"] = f"skipped (~{size} levels)"
            return self.finish(
                Status.FEASIBLE, self.best_open, lb, options.backend, proof="local search"
            )
        status, bound, backend = self.radius_mip(lag, lb)
        return self.finish(status, self.best_open, bound, backend)

    def consider(self, plan: np.ndarray) -> None:
        """Keep ``plan`` when it is cheaper than the best so far."""
        cost = pmedian_cost(self.pairs, plan)
        if cost < self.ub:
            self.best_open, self.ub = plan, cost

    def first_plans(self, warm_start: np.ndarray | None) -> Solution | None:
        """Greedy + swap from the fixed sites (and from ``warm_start``); on a sparse matrix
        whose greedy plans leave demand unreached, from p sites that reach everyone. Returns
        the answer when there is no plan (else None)."""
        options, m, p, fixed_mask = self.options, self.m, self.p, self.fixed_mask
        starts = [fixed_mask]
        if warm_start is not None:
            ws = np.asarray(warm_start, dtype=np.int64).ravel()
            if len(ws) and (ws.min() < 0 or ws.max() >= m):
                raise InputError(
                    f"`warm_start` must hold site indices in [0, {m}), got {ws.tolist()}"
                )
            extra = [int(s) for s in ws if not fixed_mask[s]][: p - int(fixed_mask.sum())]
            starts.insert(0, fixed_mask | _mask(np.array(extra, dtype=np.int64), m))
        first_plans = (
            deadline(options, self.start)
            if options.backend == "heuristic"
            else share_deadline(options, self.start, _HEURISTIC_SHARE)
        )
        plan = fixed_mask
        for begin in starts:
            plan = pmedian_greedy(self.work, p, begin)
            plan = pmedian_swap(self.work, plan, ~fixed_mask, deadline=first_plans)
            self.consider(plan)
        if np.isfinite(self.ub):
            return None
        # a sparse matrix where the greedy plans leave demand with no open site in reach:
        # first p sites that reach every demand point (or the proof that none exist)
        found = reach_plan(self.model, options, self.start, plan=np.flatnonzero(plan))
        self.details["reach_decided_by"] = found.decided_by
        if found.sites is None:
            needed = {} if found.needed is None else {"sites_needed": found.needed}
            return make_solution(
                "pmedian",
                status=found.status,
                start=self.start,
                backend=options.backend,
                reason=found.reason,
                details=self.details | needed,
            )
        grown = pmedian_greedy(self.work, p, fixed_mask | _mask(found.sites, m))
        self.consider(pmedian_swap(self.work, grown, ~fixed_mask, deadline=first_plans))
        self.consider(_mask(fill_sites(found.sites, p, m), m))  # reaches everyone
        if not np.isfinite(self.ub):  # p sites reach everyone (above), so a plan was found
            raise SolverError("p-median: a plan reaching every demand point was lost")
        return None

    def relaxation(self) -> tuple[LagrangianBound, float]:
        """The Lagrangian bound, swaps from the relaxation's plans, kicks, and the reduction
        tests with the best plan: the last Lagrangian result and the best bound."""
        options, start, p, m = self.options, self.start, self.p, self.m
        costs, w, work, fixed_mask = (
            self.model.costs,
            self.model.weights,
            self.work,
            self.fixed_mask,
        )
        integral = bool(np.all(costs.data == np.round(costs.data)) and np.all(w == np.round(w)))
        # the bound stays valid on each row's nearest pairs (see solvers.lagrangian) and on
        # large instances converges as far on 2 m/p + 10 of them as on all (5,000 × 300:
        # 2,139.4 in 1.6 s on 40 vs 14.8 s on 300); small ones keep every pair
        near = work.nearest(2 * -(-m // p) + 10) if work.nnz > _LAGRANGIAN_PAIRS else work

        def lagrangian(**extra: Any) -> LagrangianBound:
            return pmedian_lagrangian(
                near,
                p,
                fixed_mask,
                self.ub,
                self.best_open,
                integral=integral,
                deadline=share_deadline(options, start, _LAGRANGIAN_SHARE),
                **extra,
            )

        lag = lagrangian()
        if lag.upper_bound < self.ub:
            self.best_open, self.ub = lag.best_open, lag.upper_bound
        polish_end = share_deadline(options, start, _POLISH_SHARE)
        polished = 0
        for plan in lag.plans:
            if polish_end is not None and time.perf_counter() >= polish_end:
                break
            self.consider(pmedian_swap(work, plan, ~fixed_mask, deadline=polish_end))
            polished += 1
        if self.ub - lag.lower_bound > 1e-9 * max(abs(self.ub), 1.0):
            self.best_open, self.ub, kicks = _perturb(
                work, self.pairs, self.best_open, self.ub, fixed_mask, lag, polish_end
            )
            polished += kicks
        self.details |= {"polished_plans": polished, "polished_objective": self.ub}
        first_bound, steps = lag.lower_bound, lag.iterations
        if self.ub < lag.upper_bound:  # the reduction tests are stronger with the better plan
            lag = lagrangian(
                multipliers=lag.multipliers, max_iterations=150, keep_plans=0, step=0.1
            )
            steps += lag.iterations
            if lag.upper_bound < self.ub:
                self.best_open, self.ub = lag.best_open, lag.upper_bound
        lb = max(lag.lower_bound, first_bound)
        self.details |= {
            "lagrangian_bound": lb,
            "lagrangian_iterations": steps,
            "candidates_kept": int(lag.keep.sum()),
            "fixed_open_by_reduction": int((lag.forced_open & ~fixed_mask).sum()),
        }
        return lag, lb

    def radius_mip(self, lag: LagrangianBound, lb: float) -> tuple[Status, float, str]:
        """The truncated radius MIP over the sites the reduction kept, deepened until exact
        (or out of time): status, bound and backend; the best plan is updated."""
        options, start = self.options, self.start
        tol = 1e-9 * max(abs(self.ub), 1.0)
        keep = np.flatnonzero(lag.keep)
        sub, _ = self.pairs.restrict_sites(keep)
        sub_fixed = lag.forced_open[keep]
        levels = pmedian_levels(sub)
        best_sub = self.best_open[keep]
        depth, cap = _first_depth(sub, levels, best_sub, sub_fixed, self.p)
        bound, status, backend = lb, Status.FEASIBLE, options.backend
        iterations = 0
        while True:
            iterations += 1
            depth = np.minimum(depth, cap)
            model_r = pmedian_radius_mip(sub, levels, depth, depth >= cap, self.p, sub_fixed)
            first, _, _ = sub.nearest_open(best_sub)
            warm = model_r.warm(best_sub, sub.cost[first])
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
            if cost < self.ub - tol:
                best_sub, self.ub = plan_sub, cost
            if out.status != Status.OPTIMAL:
                break
            first, _, _ = sub.nearest_open(plan_sub)
            short = model_r.short_rows(sub.cost[first])
            if len(short) == 0:
                status, best_sub = Status.OPTIMAL, plan_sub
                break
            logger.debug("p-median: %d demand rows need deeper levels", len(short))
            lvl = np.where(first[short] >= 0, levels.rank[first[short]], levels.count[short])
            depth[short] = np.maximum(2 * depth[short], lvl + 1)
            if out_of_time(options, start):
                break
        self.best_open = _mask(keep[np.flatnonzero(best_sub)], self.m)
        self.details |= {
            "iterations": iterations,
            "levels_kept": int(np.minimum(depth, levels.count).sum()),
        }
        if status != Status.OPTIMAL and self.ub - bound <= tol:
            status = Status.OPTIMAL
        return status, bound, backend

    def finish(
        self, status: Status, plan: np.ndarray, bound: float | None, backend: str, **extra: object
    ) -> Solution:
        """The solution of ``plan``: every demand at its nearest open site."""
        costs, w = self.model.costs, self.model.weights
        sites = np.flatnonzero(plan)
        assign, acost = nearest_assignment(costs, sites)
        return plan_solution(
            "pmedian",
            costs,
            sites,
            status=status,
            start=self.start,
            backend=backend,
            objective=float(w[self.active] @ acost[self.active]),
            bound=bound,
            assignment=assign,
            details=self.details | extra,
        )


def _perturb(
    work: SortedPairs,
    pairs: SortedPairs,
    best_open: np.ndarray,
    ub: float,
    fixed_mask: np.ndarray,
    lag: LagrangianBound,
    until: float | None,
    stall: int | None = _KICK_STALL,
) -> tuple[np.ndarray, float, int]:
    """Iterated local search from the best plan: close a few random open sites, open as many
    of the sites the relaxation favours (smallest ``ρ`` at the best multipliers), swap to a
    local optimum, keep it if cheaper; stops after ``stall`` kicks in a row that find nothing
    (``None``: never), or at ``until``. Returns the plan, its cost and the number of kicks."""
    rng = np.random.default_rng(_KICK_SEED)
    p = int(best_open.sum())
    if work.nnz > _LAGRANGIAN_PAIRS:  # kicks are local: a row's 3 m/p + 10 nearest sites do
        work = work.nearest(3 * -(-work.n_sites // p) + 10)
    # ρ as in the relaxation (pairs beyond the Lagrangian's add 0: λ is capped below them)
    wc = work.weight[work.row] * work.cost
    reduced = np.minimum(wc - lag.multipliers[work.row], 0.0)
    rho = np.bincount(work.site, weights=reduced, minlength=work.n_sites)
    kicks = idle = 0
    while (stall is None or idle < stall) and (until is None or time.perf_counter() < until):
        movable = np.flatnonzero(best_open & ~fixed_mask)
        closed = np.flatnonzero(~best_open)
        if len(movable) == 0 or len(closed) == 0:
            break
        q = min(max(2, p // 10), len(movable), len(closed))
        pool = closed[np.argsort(rho[closed], kind="stable")[: max(2 * q, 2 * p)]]
        plan = best_open.copy()
        plan[rng.choice(movable, q, replace=False)] = False
        plan[rng.choice(pool, q, replace=False)] = True
        plan = pmedian_swap(work, plan, ~fixed_mask, deadline=until)
        cost = pmedian_cost(work, plan)  # exact unless a row has no open site among its pairs
        if not np.isfinite(cost):
            cost = pmedian_cost(pairs, plan)
        kicks += 1
        if cost < ub - 1e-9 * max(abs(ub), 1.0):
            best_open, ub, idle = plan, cost, 0
        else:
            idle += 1
    return best_open, ub, kicks


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
