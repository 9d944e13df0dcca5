"""R1 band plans for one sub-district: where its community health service centres go, so that
every centre serves between ``min_population`` and ``max_population`` residents, each resident
assigned within the sub-district.

:func:`plan_unit_centres` takes the sub-district's travel times (its demand points × its sites,
every pair finite: the caller fills pairs beyond the search cutoff), the residents per point,
the number of centres ``p`` (R1's count, existing centres included) and which sites are existing
centres (kept open). It solves the capacitated p-median with lower and upper load bounds
(:class:`solvers.CapacitatedPMedian`) in soft mode: where the bounds cannot all hold, the closest
plan (the least total violation) comes back with each violation named.

Demand points are grouped first into clusters of at most a quarter of ``min_population``
residents (population-balanced k-d splits, at least ``12 p`` of them), each assigned as a whole:
a cluster's cost to a site is its members' population-weighted mean time, so the objective of a
plan is exact and only the members' split is restricted. This keeps a unit of thousands of points
to a model of a few dozen rows (a 6,000-point, 8-site unit would otherwise take HiGHS about
25 s, its 40-cluster version well under a second). With many candidate sites only the two
cheapest per cluster (and the existing centres) stay in the model. One centre needs no model:
the site with the least weighted travel (the 1-median), found by enumeration.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.rules import CentreBandRule
from siting_errors import InputError
from solvers import CapacitatedPMedian, CostMatrix, Status, solve

__all__ = ["UnitCentres", "demand_clusters", "plan_unit_centres"]

logger = logging.getLogger(__name__)

#: clusters per centre (at least), and the fewest clusters a unit is split into
_CLUSTERS_PER_CENTRE = 12
_MIN_CLUSTERS = 24
#: a cluster holds at most this share of R1's minimum population
_CLUSTER_SHARE = 0.25
#: above this many sites, only the cheapest per cluster (and the fixed ones) stay in the model
_MAX_SITES = 60
_SITES_PER_CLUSTER = 2


@dataclass(frozen=True, eq=False)
class UnitCentres:
    """The centres of one sub-district.

    Attributes:
        open_sites: positions (in the unit's sites) of the open centres, existing included.
        assignment: per demand point, the position of its centre (-1 for points without
            residents or when the solve failed).
        loads: residents assigned to each open centre (``open_sites`` order).
        status: the solve status (``optimal``, ``feasible``, ``infeasible``, ``no_solution``).
        violations: each load bound the plan breaks, as a sentence.
        reason: why the solve failed (``None`` when it did not).
        seconds: wall time.
        clusters: demand clusters in the model (0 when no model was needed).
    """

    open_sites: np.ndarray
    assignment: np.ndarray
    loads: np.ndarray
    status: str
    violations: tuple[str, ...]
    reason: str | None
    seconds: float
    clusters: int

    @property
    def ok(self) -> bool:
        """True when the plan exists (optimal or feasible)."""
        return self.status in (Status.OPTIMAL.value, Status.FEASIBLE.value)


def demand_clusters(
    xy: np.ndarray, population: np.ndarray, *, cap: float, target: int
) -> np.ndarray:
    """Cluster label (0, 1, …) of each point: population-balanced k-d splits (the most
    populous cluster is halved along its longer side at its population median) until there are
    at least ``target`` clusters and none holds more than ``cap`` residents, or nothing more
    can be split (single points, identical coordinates)."""
    xy = np.asarray(xy, dtype=np.float64)
    pop = np.asarray(population, dtype=np.float64)
    n = len(pop)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    leaves: list[np.ndarray] = []
    heap: list[tuple[float, int]] = []
    done: list[np.ndarray] = []

    def push(idx: np.ndarray) -> None:
        leaves.append(idx)
        heapq.heappush(heap, (-float(pop[idx].sum()), len(leaves) - 1))

    push(np.arange(n))
    while heap:
        count = len(heap) + len(done)
        neg, k = heap[0]
        if count >= target and -neg <= cap:
            break
        heapq.heappop(heap)
        idx = leaves[k]
        span = xy[idx].max(axis=0) - xy[idx].min(axis=0)
        if len(idx) < 2 or not (span > 0).any():
            done.append(idx)
            continue
        axis = int(np.argmax(span))
        order = idx[np.argsort(xy[idx, axis], kind="stable")]
        cum = np.cumsum(pop[order])
        cut = int(np.searchsorted(cum, cum[-1] / 2.0)) + 1
        cut = min(max(cut, 1), len(order) - 1)
        push(order[:cut])
        push(order[cut:])
    label = np.empty(n, dtype=np.int64)
    groups = [leaves[k] for _, k in heap] + done
    for g, idx in enumerate(groups):
        label[idx] = g
    return label


def _violation_text(violation: dict[str, Any], what: str = "a centre") -> str:
    bound = "more than" if violation["bound"] == "capacity" else "fewer than"
    return f"{what} serves {violation['load']:,.0f} residents, {bound} {violation['limit']:,.0f}"


def _one_centre(costs: np.ndarray, pop: np.ndarray, fixed: np.ndarray, start: float) -> UnitCentres:
    """p = 1: the existing centre, else the 1-median by enumeration."""
    site = int(np.flatnonzero(fixed)[0]) if fixed.any() else int(np.argmin(pop @ costs))
    assignment = np.where(pop > 0, site, -1)
    return UnitCentres(
        np.array([site]),
        assignment,
        np.array([float(pop.sum())]),
        Status.OPTIMAL.value,
        (),
        None,
        time.perf_counter() - start,
        0,
    )


def plan_unit_centres(
    costs: np.ndarray,
    population: np.ndarray,
    *,
    fixed: np.ndarray,
    p: int,
    rule: CentreBandRule,
    xy: np.ndarray,
    time_limit: float | None = 30.0,
    backend: str = "highs",
) -> UnitCentres:
    """Place ``p`` centres among a sub-district's sites (module docstring).

    Args:
        costs: dense minutes, the unit's demand points × its sites, all finite.
        population: residents per demand point.
        fixed: bool per site, the existing centres (always open; ``p`` counts them).
        p: centres to open in all (R1's count, at least the existing ones).
        rule: R1 (the band).
        xy: metric coordinates of the demand points (for the clusters).
        time_limit, backend: solver options.
    """
    start = time.perf_counter()
    costs = np.asarray(costs, dtype=np.float64)
    pop = np.asarray(population, dtype=np.float64)
    fixed = np.asarray(fixed, dtype=bool)
    n, m = costs.shape
    if len(pop) != n or len(fixed) != m or len(xy) != n:
        raise InputError(
            f"`costs` is {n} x {m} but there are {len(pop)} populations, {len(xy)} points and "
            f"{len(fixed)} fixed flags"
        )
    if not np.isfinite(costs).all():
        raise InputError("`costs` must be finite: fill the pairs beyond the search cutoff")
    n_fixed = int(fixed.sum())
    if not n_fixed <= p <= m:
        raise InputError(f"`p` must be between the {n_fixed} existing centres and {m}, got {p}")
    if p == 1:
        return _one_centre(costs, pop, fixed, start)
    served = np.flatnonzero(pop > 0)
    target = max(_MIN_CLUSTERS, _CLUSTERS_PER_CENTRE * p)
    label = demand_clusters(
        xy[served], pop[served], cap=_CLUSTER_SHARE * rule.min_population, target=target
    )
    k = int(label.max()) + 1 if len(label) else 0
    weight = np.bincount(label, weights=pop[served], minlength=k)
    share = sp.csr_array(
        (pop[served] / weight[label], (label, np.arange(len(served)))), shape=(k, len(served))
    )
    cluster_costs = share @ costs[served]
    columns = np.arange(m)
    if m > _MAX_SITES:
        cheap = np.argsort(np.where(fixed, np.inf, cluster_costs), axis=1)[:, :_SITES_PER_CLUSTER]
        keep = np.union1d(np.flatnonzero(fixed), cheap.ravel())
        if len(keep) > _MAX_SITES:
            score = weight @ cluster_costs[:, keep]
            free = keep[~fixed[keep]]
            best = free[np.argsort(score[~fixed[keep]], kind="stable")]
            keep = np.union1d(np.flatnonzero(fixed), best[: max(_MAX_SITES - n_fixed, p)])
        columns = keep
    model = CapacitatedPMedian(
        CostMatrix.from_dense(cluster_costs[:, columns]),
        p=p,
        weights=weight,
        capacity=float(rule.max_population),
        min_load=float(rule.min_population),
        fixed=np.flatnonzero(fixed[columns]),
        soft=True,
    )
    sol = solve(model, time_limit=time_limit, backend=backend)
    if not sol.has_solution:
        return UnitCentres(
            np.zeros(0, dtype=np.int64),
            np.full(n, -1, dtype=np.int64),
            np.zeros(0),
            sol.status.value,
            (),
            sol.reason or f"the centre model ended {sol.status.value}",
            time.perf_counter() - start,
            k,
        )
    open_sites = columns[sol.open_sites]
    assignment = np.full(n, -1, dtype=np.int64)
    assignment[served] = columns[sol.assignment[label]]
    loads = np.array([pop[assignment == s].sum() for s in open_sites])
    violations = tuple(
        _violation_text(v) for v in sol.details.get("violations", ()) if v.get("amount", 0) > 0.5
    )
    return UnitCentres(
        open_sites,
        assignment,
        loads,
        sol.status.value,
        violations,
        None,
        time.perf_counter() - start,
        k,
    )
