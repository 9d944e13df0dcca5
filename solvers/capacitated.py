"""Capacitated p-median with lower and upper load bounds (single-source assignment).

Used for rule R1 (each community health service centre serves 30,000–100,000 residents).

Formulation, over the stored (reachable) pairs only — a pair the caller leaves out of the cost
matrix is never assigned (that is how "assign only within the sub-district" is expressed)::

    min  Σ w_i c_ij x_ij  (+ violation_cost · Σ_j (over_j + under_j) in soft mode)
    s.t. Σ_j x_ij = 1                                 every demand with weight or load > 0
         Σ_i l_i x_ij <= capacity_j y_j (+ over_j)    upper load bound
         Σ_i l_i x_ij >= min_load_j y_j (- under_j)   lower load bound
         x_ij <= y_j                                  strong linking, every pair
         Σ_j y_j = p,  y_j = 1 for fixed sites,  x, y binary

``w`` are the model's weights (objective) and ``l`` its loads (default: the weights). The strong
linking rows make the LP bound much tighter; they are always on (they are also what keeps a
zero-load demand, or a soft-mode overload, away from a closed site).

The solve (each step in its own module: the diagnosis in :mod:`solvers.feasibility`, the
heuristics in :mod:`solvers.capacitated_heuristics`, the MIP in :mod:`solvers.formulations`):

1. **Diagnosis** before any solver runs: unreachable demand, a demand heavier than every
   capacity it can reach, fixed sites that cannot reach their ``min_load``, and — per group of
   demand and sites that share no reachable pair (e.g. sub-districts) — the fewest sites needed
   to stay within capacity and the most sites that can each reach their ``min_load``, compared
   with ``p``. Each gives status ``infeasible`` with a sentence in ``reason`` and data in
   ``details``.
2. **Heuristic** plan: p-median greedy + swap sites (or the caller's ``warm_start`` sites),
   single-source assignment by regret with capacity / min-load repair, shift and swap local
   search, locate–allocate rounds (move each centre to its cluster's best site) and site
   exchanges (close a centre, open one of the sites that would serve its cluster best; screened
   by a fast assignment), then the exact assignment of the best sites. It is the MIP's warm
   start and the result of the ``heuristic`` backend. On Lorena & Senne's SJC instances the
   exchanges take the plan from up to 9.8 % to 0.8–1.0 % above the optimum (SJC4a: 6 s), which
   lets HiGHS reach the optimum of SJC4a within 120 s.
3. **Reduced-cost fixing**: the LP relaxation is solved (HiGHS); a pair or site whose reduced
   cost pushes the LP bound above the heuristic's objective cannot be in any better plan and is
   dropped. On Lorena & Senne's SJC instances this removes ~80–90 % of the pairs.
4. The MIP on what is left (``solve_mip``, any backend).

Soft mode (``soft=True``) adds the slacks ``over_j`` / ``under_j`` at ``violation_cost`` per unit
of load. The default cost is ``Σ_i w_i (max_j c_ij − min_j c_ij) + 1`` — more than any change in
the distance term — so one unit less violation always wins: the result is the plan with the least
total violation and, among those, the cheapest (for violation differences of at least one load
unit). ``details["violations"]`` lists each violated bound.

Objective reported: the soft-model objective (distance cost + penalty) in soft mode, else the
distance cost ``Σ w_i c_ij``; ``details["distance_cost"]`` always holds the distance term.
Lorena & Senne's CPMP objective is the *unweighted* sum of client–median distances (their
SJC1 optimum 17288.99 is reproduced with ``weights=1, loads=demand``; weighting the distance by
demand gives about 1.13 million for the same plan).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from siting_errors import InputError
from solvers._capacity import (
    VIOLATION_TOL,
    CapacityPairs,
    LoadPlan,
    better_plan,
    capacity_pairs,
    load_violations,
    site_loads,
    violation_cost,
)
from solvers._common import make_solution, plan_solution, remaining
from solvers._mip import MatrixMIP, lp_relaxation, solve_mip
from solvers.capacitated_heuristics import capacitated_heuristic
from solvers.certificate import meets_bound
from solvers.feasibility import capacity_diagnosis
from solvers.formulations import (
    CapacitatedLayout,
    capacitated_mip,
    capacitated_plan,
    capacitated_vector,
)
from solvers.models import CapacitatedPMedian
from solvers.options import SolveOptions
from solvers.result import Solution, Status

__all__ = ["solve_capacitated"]

logger = logging.getLogger(__name__)

#: share of the time limit, and most seconds, the heuristic may spend on assignment MIPs
_HEURISTIC_SHARE = 0.25
_HEURISTIC_SECONDS = 30.0


def _solution(
    model: CapacitatedPMedian,
    status: Status,
    *,
    start: float,
    backend: str,
    plan: LoadPlan | None = None,
    bound: float | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    penalty: float = 0.0,
) -> Solution:
    """The :class:`Solution` of ``plan`` (or of no plan): loads, distance term and, in soft
    mode, each violated bound and the penalty in ``details``."""
    details = dict(details or {})
    if plan is None:
        return make_solution("cpmedian", status=status, start=start, backend=backend,
                             bound=bound, reason=reason, details=details)  # fmt: skip
    site_load = site_loads(model, plan.site_of)
    details["loads"] = {int(s): float(site_load[s]) for s in plan.open_sites}
    details["distance_cost"] = plan.cost
    objective = plan.cost
    if model.soft:
        viol = load_violations(model, plan.open_sites, site_load)
        total = float(sum(v["amount"] for v in viol))
        details["violations"] = viol
        details["violation_total"] = total
        details["violation_cost"] = penalty
        objective = plan.cost + penalty * total
        if viol and reason is None:
            reason = (
                f"the hard load bounds cannot all be met: the closest plan violates "
                f"{len(viol)} of them by {total:g} in all (see details['violations'])"
            )
    return plan_solution(
        "cpmedian",
        model.costs,
        plan.open_sites,
        status=status,
        start=start,
        backend=backend,
        objective=objective,
        bound=bound,
        assignment=plan.site_of,
        reason=reason,
        details=details,
    )


def _check_warm_start(
    model: CapacitatedPMedian, pairs: CapacityPairs, warm_start: np.ndarray
) -> np.ndarray:
    """The caller's warm-start sites, validated, with the fixed sites and without sites that
    can never meet their ``min_load``."""
    sites = np.unique(np.asarray(warm_start).ravel())
    n_s = model.costs.n_sites
    if not np.issubdtype(sites.dtype, np.integer) or (
        len(sites) and (sites[0] < 0 or sites[-1] >= n_s)
    ):
        raise InputError(
            f"`warm_start` must be site indices in [0, {n_s}), got {sites[:10].tolist()}"
        )
    sites = np.union1d(sites.astype(np.int64), model.fixed)
    if len(sites) > model.p:
        raise InputError(
            f"`warm_start` together with the fixed sites names {len(sites)} sites, "
            f"more than p = {model.p}"
        )
    # sites that can never meet their min_load are left out (the heuristic completes the set)
    return sites[pairs.openable[sites]]


def _heuristic_plan(
    model: CapacitatedPMedian,
    pairs: CapacityPairs,
    penalty: float,
    warm_start: np.ndarray | None,
    options: SolveOptions,
) -> LoadPlan | None:
    """The heuristic's plan within its time budget (all of the time limit for the heuristic
    backend; else a quarter of it, at most 30 s), or None when it meets no hard bound set."""
    if options.backend == "heuristic":
        budget = options.time_limit or _HEURISTIC_SECONDS
    else:
        budget = _HEURISTIC_SHARE * (options.time_limit or _HEURISTIC_SECONDS / _HEURISTIC_SHARE)
        budget = min(budget, _HEURISTIC_SECONDS)
    exact = options.backend != "heuristic"
    plan = capacitated_heuristic(model, pairs, penalty, warm_start, budget, exact)
    if plan is not None and not model.soft and plan.violation > VIOLATION_TOL:
        return None  # the heuristic did not meet every bound: no usable plan
    return plan


def _reduced_cost_fixing(
    model: CapacitatedPMedian,
    pairs: CapacityPairs,
    plan: LoadPlan,
    penalty: float,
    options: SolveOptions,
    mip: MatrixMIP,
    lay: CapacitatedLayout,
) -> tuple[float, MatrixMIP, CapacitatedLayout, dict[str, Any]] | None:
    """The LP relaxation of ``mip``: its bound, the MIP without the pairs and sites whose
    reduced cost pushes the bound above ``plan``'s objective (they are in no better plan), its
    layout and the details (``proof`` when the LP bound already proves ``plan`` optimal).
    None when the LP is not solved in time."""
    upper = plan.cost + (penalty * plan.violation if model.soft else 0.0)
    fixing = lp_relaxation(mip, options, method="choose", slack=0.0)
    if fixing is None or fixing.reduced_costs is None:
        return None
    lp_bound, rc = fixing.bound, fixing.reduced_costs
    r, j, c, site_ok = pairs.r, pairs.j, pairs.c, pairs.openable
    if meets_bound(upper, lp_bound, "min", options.mip_gap):
        return lp_bound, mip, lay, {"lp_bound": lp_bound, "proof": "LP bound"}
    slack = upper - lp_bound + 1e-7 * max(1.0, abs(upper))
    keep_y = site_ok & (rc[: lay.n_sites] <= slack)
    keep_y[model.fixed] = True
    keep_y[plan.open_sites] = True
    keep_x = (rc[lay.x0 : lay.x0 + lay.n_x] <= slack) & keep_y[j]
    keep_x |= plan.site_of[r] == j
    r, j, c = r[keep_x], j[keep_x], c[keep_x]
    mip, lay = capacitated_mip(model, pairs, r, j, c, penalty, keep_y)
    details = {
        "lp_bound": lp_bound,
        "pairs_kept": int(keep_x.sum()),
        "sites_kept": int(keep_y.sum()),
    }
    return lp_bound, mip, lay, details


def solve_capacitated(
    model: CapacitatedPMedian, options: SolveOptions, warm_start: np.ndarray | None = None
) -> Solution:
    """Solve the capacitated p-median with load bounds; see the module docstring.

    Args:
        model: the validated model.
        options: backend, time limit, gap, threads, verbosity.
        warm_start: open site indices for the heuristic to start from (instead of the
            p-median greedy + swap sites).
    """
    start = time.perf_counter()
    pairs = capacity_pairs(model)
    problem = capacity_diagnosis(model, pairs)
    if problem is not None:
        reason, why = problem
        logger.info("capacitated p-median infeasible: %s", reason)
        return _solution(model, Status.INFEASIBLE, start=start, backend=options.backend,
                         reason=reason, details=why)  # fmt: skip
    penalty = violation_cost(model, pairs)
    details: dict[str, Any] = {"pairs": len(pairs.r)}
    if warm_start is not None:
        warm_start = _check_warm_start(model, pairs, warm_start)
    plan = _heuristic_plan(model, pairs, penalty, warm_start, options)
    details["heuristic_time"] = time.perf_counter() - start
    if plan is not None:
        details["heuristic_objective"] = plan.cost + (
            penalty * plan.violation if model.soft else 0.0
        )
    if options.backend == "heuristic":
        if plan is None:
            return _solution(model, Status.NO_SOLUTION, start=start, backend="heuristic",
                             reason="the heuristic found no plan that meets every load bound; "
                             "use a MIP backend or soft=True", details=details)  # fmt: skip
        return _solution(model, Status.FEASIBLE, start=start, backend="heuristic", plan=plan,
                         details=details, penalty=penalty)  # fmt: skip
    mip, lay = capacitated_mip(model, pairs, pairs.r, pairs.j, pairs.c, penalty, pairs.openable)
    lp_bound = None
    if plan is not None:
        fixing = _reduced_cost_fixing(
            model, pairs, plan, penalty, remaining(options, start), mip, lay
        )
        if fixing is not None:
            lp_bound, mip, lay, fixed_details = fixing
            details |= fixed_details
            if "proof" in fixed_details:
                return _solution(model, Status.OPTIMAL, start=start, backend=options.backend,
                                 plan=plan, bound=lp_bound, details=details,
                                 penalty=penalty)  # fmt: skip
    warm = capacitated_vector(model, lay, plan) if plan is not None else None
    out = solve_mip(mip, remaining(options, start), warm)
    bound = out.bound
    if lp_bound is not None:
        bound = lp_bound if bound is None else max(bound, lp_bound)
    if bound is None and out.status != Status.INFEASIBLE:
        # time ran out before any LP bound: every demand at its nearest site
        nearest = model.costs.row_min()
        bound = float(model.weights @ np.where(np.isfinite(nearest), nearest, 0.0))
        details["bound_source"] = "nearest site per demand (no LP bound within the time limit)"
    if out.x is None:
        if plan is not None:  # time limit before the MIP found anything: the heuristic plan
            return _solution(model, Status.FEASIBLE, start=start, backend=out.backend,
                             plan=plan, bound=bound, details=details,
                             penalty=penalty)  # fmt: skip
        reason = out.message
        if out.status == Status.INFEASIBLE:
            reason = (
                f"no assignment meets every load bound (capacity / min_load) with p = {model.p} "
                "(none of the quick checks names a single cause); use soft=True for the closest "
                "plan"
            )
        return _solution(model, out.status, start=start, backend=out.backend, bound=bound,
                         reason=reason, details=details)  # fmt: skip
    found = capacitated_plan(model, lay, out.x)
    status = out.status
    if plan is not None and status != Status.OPTIMAL and better_plan(plan, found, penalty):
        found = plan
    return _solution(model, status, start=start, backend=out.backend, plan=found, bound=bound,
                     details=details, penalty=penalty)  # fmt: skip
