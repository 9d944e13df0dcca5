"""Capacitated p-median with lower and upper load bounds (single-source assignment).

Used for rule R1 (each community health service centre serves 30,000–100,000 residents). The
strong formulation over the stored (reachable) pairs: ``Σ_j x_ij = 1``, ``x_ij <= y_j``,
``min_load_j y_j <= Σ_i load_i x_ij <= capacity_j y_j``, ``Σ y = p``. Before solving, the
obvious reasons for infeasibility are checked and named. In soft mode every bound gets a
penalised slack, so the closest plan is returned with each violation reported.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from solvers._mip import MatrixMIP, relative_gap, solve_mip
from solvers.models import CapacitatedPMedian
from solvers.options import SolveOptions
from solvers.result import Solution, Status

__all__ = ["solve_capacitated"]

logger = logging.getLogger(__name__)

INF = np.inf


def _diagnose(model: CapacitatedPMedian) -> tuple[str, dict] | None:
    costs, loads, w = model.costs, model.loads, model.weights
    active = (w > 0) | (loads > 0)
    counts = np.diff(costs.indptr)
    unreachable = np.flatnonzero(active & (counts == 0))
    if len(unreachable):
        return (f"{len(unreachable)} demand points cannot reach any candidate "
                f"(first: {unreachable[:10].tolist()})", {"unreachable": unreachable.tolist()})
    if model.soft:
        return None
    total = float(loads[active].sum())
    top = np.sort(model.capacity)[::-1][: model.p].sum()
    if total > top + 1e-9:
        return (f"total load {total:g} exceeds the largest possible capacity of {model.p} open "
                f"sites ({top:g})", {"total_load": total, "max_capacity": float(top)})
    # a point heavier than every capacity it can reach
    rows = costs.rows()
    reach_cap = np.zeros(costs.n_demand)
    np.maximum.at(reach_cap, rows, model.capacity[costs.indices])
    heavy = np.flatnonzero(active & (loads > reach_cap + 1e-9))
    if len(heavy):
        return (f"{len(heavy)} demand points are heavier than the capacity of every site they "
                f"can reach (first: {heavy[:10].tolist()})", {"too_heavy": heavy.tolist()})
    fixed_min = float(model.min_load[model.fixed].sum())
    if fixed_min > total + 1e-9:
        return (f"the fixed sites need at least {fixed_min:g} in total (min_load) but the demand "
                f"is only {total:g}", {"fixed_min_load": fixed_min, "total_load": total})
    if float(np.sort(model.min_load)[: model.p].sum()) > total + 1e-9:
        return (f"any {model.p} open sites need more than the total load {total:g} to reach "
                "their min_load", {"total_load": total})
    return None


def solve_capacitated(model: CapacitatedPMedian, options: SolveOptions,
                      warm_start: np.ndarray | None = None) -> Solution:
    """Solve the capacitated p-median; see the module docstring."""
    start = time.perf_counter()
    problem = _diagnose(model)
    if problem is not None:
        reason, details = problem
        return Solution(model="cpmedian", status=Status.INFEASIBLE, objective=None, bound=None,
                        gap=None, time=time.perf_counter() - start, backend=options.backend,
                        reason=reason, details=details)
    costs, w, loads = model.costs, model.weights, model.loads
    n_demand, n_sites = costs.shape
    active = (w > 0) | (loads > 0)
    rows = costs.rows()
    keep = active[rows]
    r, j, c = rows[keep], costs.indices[keep].astype(np.int64), costs.data[keep]
    n_x = len(r)
    act = np.flatnonzero(active)
    row_of = np.full(n_demand, -1, dtype=np.int64)
    row_of[act] = np.arange(len(act))
    n_a = len(act)
    soft = model.soft
    n_slack = 2 * n_sites if soft else 0
    n_cols = n_sites + n_x + n_slack
    x_cols = n_sites + np.arange(n_x)
    # rows: assignment (n_a) | link (n_x) | capacity (n_sites) | min load (n_sites) | p (1)
    link0 = n_a
    cap0 = link0 + n_x
    low0 = cap0 + n_sites
    p_row = low0 + n_sites
    ri = [row_of[r], link0 + np.arange(n_x), link0 + np.arange(n_x), cap0 + j, cap0 + np.arange(n_sites),
          low0 + j, low0 + np.arange(n_sites), np.full(n_sites, p_row)]
    ci = [x_cols, x_cols, j, x_cols, np.arange(n_sites), x_cols, np.arange(n_sites),
          np.arange(n_sites)]
    vi = [np.ones(n_x), np.ones(n_x), -np.ones(n_x), loads[r], -model.capacity, loads[r],
          -model.min_load, np.ones(n_sites)]
    if soft:
        over = n_sites + n_x + np.arange(n_sites)
        under = over + n_sites
        ri += [cap0 + np.arange(n_sites), low0 + np.arange(n_sites)]
        ci += [over, under]
        vi += [-np.ones(n_sites), np.ones(n_sites)]
    A = sp.csc_array(sp.coo_array((np.concatenate(vi), (np.concatenate(ri), np.concatenate(ci))),
                                  shape=(p_row + 1, n_cols)))
    row_lower = np.concatenate([np.ones(n_a), np.full(n_x, -INF), np.full(n_sites, -INF),
                                np.zeros(n_sites), [float(model.p)]])
    row_upper = np.concatenate([np.ones(n_a), np.zeros(n_x), np.zeros(n_sites),
                                np.full(n_sites, INF), [float(model.p)]])
    cost = np.concatenate([np.zeros(n_sites), w[r] * c, np.zeros(n_slack)])
    if soft:
        penalty = model.violation_cost if model.violation_cost is not None else \
            float(c.max() if n_x else 1.0) * 10.0 + 1.0
        cost[n_sites + n_x:] = penalty
    col_lower = np.zeros(n_cols)
    col_lower[model.fixed] = 1.0
    col_upper = np.concatenate([np.ones(n_sites + n_x), np.full(n_slack, INF)])
    integer = np.concatenate([np.ones(n_sites + n_x, dtype=bool), np.zeros(n_slack, dtype=bool)])
    mip = MatrixMIP(cost, A, row_lower, row_upper, col_lower, col_upper, integer, "min")
    out = solve_mip(mip, options)
    if out.x is None:
        reason = out.message
        if out.status == Status.INFEASIBLE:
            reason = ("no assignment meets every load bound (capacity / min_load) with "
                      f"p = {model.p}; run with soft=True for the closest plan")
        return Solution(model="cpmedian", status=out.status, objective=None, bound=out.bound,
                        gap=None, time=time.perf_counter() - start, backend=out.backend,
                        reason=reason)
    x = out.x[n_sites:n_sites + n_x] > 0.5
    open_sites = np.flatnonzero(out.x[:n_sites] > 0.5)
    assignment = np.full(n_demand, -1, dtype=np.int64)
    assignment[r[x]] = j[x]
    load = np.bincount(j[x], weights=loads[r[x]], minlength=n_sites)
    distance_cost = float((w[r[x]] * c[x]).sum())
    details: dict = {"loads": {int(s): float(load[s]) for s in open_sites},
                     "distance_cost": distance_cost}
    reason = None
    if soft:
        viol = []
        for s in open_sites:
            if load[s] > model.capacity[s] + 1e-6:
                viol.append({"site": int(s), "load": float(load[s]), "bound": "capacity",
                             "limit": float(model.capacity[s]),
                             "amount": float(load[s] - model.capacity[s])})
            if load[s] < model.min_load[s] - 1e-6:
                viol.append({"site": int(s), "load": float(load[s]), "bound": "min_load",
                             "limit": float(model.min_load[s]),
                             "amount": float(model.min_load[s] - load[s])})
        details["violations"] = viol
        if viol:
            reason = (f"the load bounds cannot all be met: {len(viol)} violations in the closest "
                      "plan (see details['violations'])")
    objective = distance_cost if not soft else float(out.objective)
    gap = 0.0 if out.status == Status.OPTIMAL else relative_gap(out.objective, out.bound)
    return Solution(model="cpmedian", status=out.status, objective=objective,
                    bound=out.bound if not soft or out.status != Status.OPTIMAL else objective,
                    gap=gap, time=time.perf_counter() - start, backend=out.backend,
                    open_sites=open_sites, assignment=assignment, reason=reason, details=details)
