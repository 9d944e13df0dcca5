"""Is there any plan at all? The checks that prove a model has none (with the reason, by the
caller's ids) before an optimiser runs, and the search for a first plan that serves every
demand point when a sparse cost matrix leaves some demand with few sites in reach.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from solvers._capacity import EPS, CapacityPairs
from solvers._common import remaining
from solvers.covering import min_cover, reduce_cover
from solvers.heuristics import greedy_cover, mclp_greedy, mclp_swap
from solvers.models import CapacitatedPMedian, PCenter, PMedian
from solvers.options import SolveOptions
from solvers.reductions import coverage_classes
from solvers.result import Status

__all__ = ["ReachPlan", "capacity_diagnosis", "reach_matrix", "reach_plan"]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- p sites reaching all
@dataclass(frozen=True, eq=False)
class ReachPlan:
    """The answer of :func:`reach_plan`.

    Attributes:
        status: ``feasible`` (``sites`` reach every demand point), ``infeasible`` (proven: no
            ``p`` sites do) or ``no_solution`` (the heuristic backend, or the time limit,
            ended the search without an answer).
        sites: at most ``p`` sites (fixed ones included) reaching every demand, or None.
        reason: why there is no plan (``infeasible`` / ``no_solution``), else None.
        needed: a proven lower bound on the number of sites that reach every demand point.
        decided_by: the step that answered (``greedy``, ``swaps``, or the step of
            :func:`solvers.covering.min_cover`).
    """

    status: Status
    sites: np.ndarray | None
    reason: str | None
    needed: float | None
    decided_by: str


def reach_matrix(model: PMedian | PCenter) -> sp.csr_array:
    """Boolean demand × site matrix of the stored (reachable) pairs of the demand with weight
    > 0 (one row per such demand point, in order)."""
    costs = model.costs
    reach = sp.csr_array(
        (np.ones(costs.nnz, dtype=bool), costs.indices, costs.indptr), shape=costs.shape
    )
    return sp.csr_array(reach[np.flatnonzero(model.weights > 0)])


def _covers_all(reach: sp.csr_array, sites: np.ndarray) -> bool:
    is_open = np.zeros(reach.shape[1], dtype=bool)
    is_open[np.asarray(sites, dtype=np.int64)] = True
    return bool((reach.astype(np.int64) @ is_open.astype(np.int64) > 0).all())


def reach_plan(
    model: PMedian | PCenter,
    options: SolveOptions,
    start: float,
    plan: np.ndarray | None = None,
) -> ReachPlan:
    """Do ``p`` sites (fixed ones included) exist that reach every demand point with weight
    > 0? On a sparse cost matrix (a missing pair is unreachable) this is a set-covering
    question, and the p-median and p-center have a plan only when its answer is yes.

    The search, cheapest first: the greedy cover, from the fixed sites and the sites that are
    the only one some demand point reaches (every plan has them); swaps towards reaching every
    demand point, from those sites filled greedily to ``p`` and from ``plan`` (a plan of ``p``
    sites, e.g. the greedy p-median's); then, unless the backend
    is ``heuristic``, the exact covering test (:func:`solvers.covering.min_cover` with at most
    ``p`` sites, on merged and dominance-reduced demand classes: LP bound, LP-support MIP, the
    MIP) within what is left of the time limit (``start``: ``time.perf_counter()`` at the
    start of the solve). ``no_solution`` only when the heuristic backend or the time limit
    ends the search undecided.
    """
    p, fixed = model.p, np.asarray(model.fixed, dtype=np.int64)
    reach = reach_matrix(model)
    counts = np.diff(reach.indptr)
    forced = np.union1d(fixed, reach.indices[reach.indptr[:-1][counts == 1]])
    sites = greedy_cover(reach, forced)
    if len(sites) <= p:
        return ReachPlan(Status.FEASIBLE, sites, None, None, "greedy")
    ones = np.ones(reach.shape[0])
    starts = [forced] if len(forced) <= p else []
    if plan is not None:
        starts.append(np.asarray(plan, dtype=np.int64))
    for begin in starts:
        if len(begin) < p:
            begin = mclp_greedy(reach, ones, p, begin)
        swapped = mclp_swap(reach, ones, begin, fixed)
        if _covers_all(reach, swapped):
            return ReachPlan(Status.FEASIBLE, swapped, None, None, "swaps")
    if options.backend == "heuristic":
        return ReachPlan(
            Status.NO_SOLUTION,
            None,
            "the heuristic found no plan of p sites reaching every demand point",
            None,
            "undecided",
        )
    classes = coverage_classes(reach, np.ones(reach.shape[0]), fixed)
    if classes.matrix.shape[0] == 0:  # the fixed sites reach everyone
        return ReachPlan(Status.FEASIBLE, fixed, None, None, "fixed")
    sub, cols, sub_fixed, _ = reduce_cover(classes.matrix, fixed)
    out = min_cover(sub, sub_fixed, remaining(options, start), max_sites=p)
    if out.status == Status.INFEASIBLE:
        needed = p + 1.0 if out.bound is None else max(float(out.bound), p + 1.0)
        return ReachPlan(
            Status.INFEASIBLE,
            None,
            f"no plan of p = {p} sites (fixed ones included) reaches every demand point",
            needed,
            out.decided_by,
        )
    if out.sites is None:
        return ReachPlan(
            Status.NO_SOLUTION,
            None,
            "time limit reached before a plan reaching every demand point was found",
            out.bound,
            out.decided_by,
        )
    return ReachPlan(Status.FEASIBLE, cols[out.sites], None, out.bound, out.decided_by)


def _first(values: np.ndarray, limit: int = 10) -> str:
    """The first ``limit`` numbers of ``values``, and how many there are in all."""
    shown = ", ".join(f"{v:g}" for v in np.asarray(values)[:limit].tolist())
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


def capacity_diagnosis(
    model: CapacitatedPMedian, pairs: CapacityPairs
) -> tuple[str, dict[str, Any]] | None:
    """A reason (and details) why no plan of a capacitated p-median can exist, or None when
    none was found. Demand points and sites are named by the caller's ids."""
    costs, load = model.costs, model.loads
    min_load = np.asarray(model.min_load)
    active = pairs.active
    counts = np.diff(costs.indptr)
    unreachable = np.flatnonzero(active & (counts == 0))
    if len(unreachable):
        return (
            f"{len(unreachable)} demand points (total load {load[unreachable].sum():g}) cannot "
            f"reach any candidate site: demand {model.demand_names(unreachable)}",
            {"unreachable": unreachable.tolist()},
        )
    if model.soft:
        return None
    served = np.zeros(costs.n_demand, dtype=bool)
    served[pairs.r] = True
    heavy = np.flatnonzero(active & ~served)
    if len(heavy):
        return (
            f"{len(heavy)} demand points are heavier than the capacity of every site they can "
            f"reach (or reach only sites that can never meet their min_load): demand "
            f"{model.demand_names(heavy)} with load {_first(load[heavy])}",
            {"too_heavy": heavy.tolist()},
        )
    fixed = model.fixed
    closed_fixed = fixed[~_reachable_min_ok(model, pairs)[fixed]]
    if len(closed_fixed):
        return (
            f"fixed sites {model.site_names(closed_fixed)} cannot reach their min_load "
            f"({_first(min_load[closed_fixed])}) from the demand they can serve",
            {"fixed_below_min_load": closed_fixed.tolist()},
        )
    total = float(load[active].sum())
    fixed_min = float(min_load[fixed].sum())
    if fixed_min > total + EPS:
        return (
            f"the fixed sites need at least {fixed_min:g} of load in total (their min_load) "
            f"but the total load is only {total:g}",
            {"fixed_min_load": fixed_min, "total_load": total},
        )
    return _diagnose_groups(model, pairs, total)


def _reachable_min_ok(model: CapacitatedPMedian, pairs: CapacityPairs) -> np.ndarray:
    reach = np.bincount(pairs.j, weights=model.loads[pairs.r], minlength=model.costs.n_sites)
    return reach >= np.asarray(model.min_load) - EPS


def _diagnose_groups(
    model: CapacitatedPMedian, pairs: CapacityPairs, total: float
) -> tuple[str, dict[str, Any]] | None:
    """Bounds on the number of open sites per group of demand and sites linked by reachable
    pairs (e.g. one group per sub-district), compared with ``p``.

    In a group, the fewest sites that can hold its load are its fixed sites plus the largest
    free capacities; the most sites that can each reach their ``min_load`` are its fixed sites
    plus the smallest free ``min_load`` values that the load can pay for. Both ignore which
    demand reaches which site inside the group, so they are necessary conditions only.
    """
    n_d, n_s = model.costs.shape
    load, p = model.loads, model.p
    cap, low = np.asarray(model.capacity), np.asarray(model.min_load)
    graph = sp.coo_array(
        (np.ones(len(pairs.r)), (pairs.r, n_d + pairs.j)), shape=(n_d + n_s, n_d + n_s)
    )
    _, label = connected_components(graph, directed=False)
    is_fixed = np.zeros(n_s, dtype=bool)
    is_fixed[model.fixed] = True
    dem = np.flatnonzero(pairs.active)
    site = np.flatnonzero(pairs.openable)
    d_group, s_group = label[dem], label[n_d + site]
    with_demand = np.unique(d_group)
    d_order, s_order = np.argsort(d_group, kind="stable"), np.argsort(s_group, kind="stable")
    d_bounds = (
        np.searchsorted(d_group[d_order], with_demand, side="left"),
        np.searchsorted(d_group[d_order], with_demand, side="right"),
    )
    s_sorted = s_group[s_order]
    groups = []
    for g, lo_d, hi_d in zip(with_demand, *d_bounds, strict=True):
        demand = dem[d_order[lo_d:hi_d]]
        sites = site[s_order[np.searchsorted(s_sorted, g) : np.searchsorted(s_sorted, g, "right")]]
        g_load = float(load[demand].sum())
        fx, free = sites[is_fixed[sites]], sites[~is_fixed[sites]]
        rest = g_load - float(cap[fx].sum())
        n_min = max(len(fx), 1)
        if rest > EPS:
            cum = np.cumsum(np.sort(cap[free])[::-1])
            k = int(np.searchsorted(cum, rest - EPS))
            if k >= len(free):
                return (
                    f"a group of {len(demand)} demand points (total load {g_load:g}; demand "
                    f"{model.demand_names(demand, 5)}) can reach only {len(sites)} sites, "
                    f"with total capacity {float(cap[sites].sum()):g}",
                    {"demand": demand.tolist(), "sites": sites.tolist(), "load": g_load},
                )
            n_min = max(n_min, len(fx) + k + 1)
        spare = g_load - float(low[fx].sum())
        if spare < -EPS:
            return (
                f"the fixed sites {model.site_names(fx)} need {float(low[fx].sum()):g} of load "
                f"in total (their min_load) but the demand they can reach totals only {g_load:g}",
                {"demand": demand.tolist(), "sites": fx.tolist(), "load": g_load},
            )
        n_max = len(fx) + int(np.searchsorted(np.cumsum(np.sort(low[free])), spare + EPS, "right"))
        groups.append(
            {
                "demand": demand[:10].tolist(),
                "n_demand": len(demand),
                "load": g_load,
                "n_sites": len(sites),
                "min_open": n_min,
                "max_open": n_max,
            }
        )
    # sites that no demand can reach: open only if fixed or free of a min_load
    lone = site[~np.isin(s_group, with_demand)]
    lone_fixed = int(is_fixed[lone].sum())
    n_min_total = sum(g["min_open"] for g in groups) + lone_fixed
    n_max_total = sum(g["max_open"] for g in groups) + lone_fixed
    n_max_total += int(((low[lone] <= EPS) & ~is_fixed[lone]).sum())
    split = len(groups) > 1
    where = (
        f" (the demand falls into {len(groups)} groups that share no reachable site; "
        "details['groups'] gives each group's bounds)"
        if split
        else ""
    )
    details = {"p": p, "total_load": total, "groups": groups}
    if n_min_total > p:
        if not split and lone_fixed == 0:
            top = float(cap[model.fixed].sum()) + float(
                np.sort(cap[pairs.openable & ~is_fixed])[::-1][: p - len(model.fixed)].sum()
            )
            reason = (
                f"total load {total:g} exceeds the largest possible capacity of p = {p} open "
                f"sites ({top:g}); at least {n_min_total} sites are needed"
            )
        else:
            reason = (
                f"staying within capacity needs at least {n_min_total} open sites{where}, "
                f"but p = {p}"
            )
        return reason, {"min_open": n_min_total, **details}
    if n_max_total < p:
        return (
            f"at most {n_max_total} open sites can each reach their min_load with a total load "
            f"of {total:g}{where}, but p = {p}",
            {"max_open": n_max_total, **details},
        )
    return None
