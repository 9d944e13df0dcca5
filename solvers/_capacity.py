"""The assignable pairs of a capacitated p-median, its plans and their load-bound violations.

Shared by the model's diagnosis (:mod:`solvers.feasibility`), heuristics
(:mod:`solvers.capacitated_heuristics`), formulation (:mod:`solvers.formulations`), solve
(:mod:`solvers.capacitated`) and the certificate of every answer (:mod:`solvers.certificate`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.models import CapacitatedPMedian

logger = logging.getLogger(__name__)

INF = np.inf
EPS = 1e-9
#: load-bound violation below which a plan counts as meeting the bounds
VIOLATION_TOL = 1e-6
#: the heuristic keeps a dense active demand × site cost matrix up to this many cells
_DENSE_PAIRS_LIMIT = 4_000_000


@dataclass(frozen=True, eq=False)
class CapacityPairs:
    """Pairs (demand r, site j, cost c) that may be assigned, sorted by demand then cost."""

    r: np.ndarray
    j: np.ndarray
    c: np.ndarray
    active: np.ndarray  # bool per demand: must be served (weight or load > 0)
    openable: np.ndarray  # bool per site: may be opened
    #: weighted cost, active demand × site (inf where not a pair), when small enough
    dense_wc: np.ndarray | None = None


def capacity_pairs(model: CapacitatedPMedian, dense: bool = True) -> CapacityPairs:
    """The pairs a plan may use: those of demand with weight or load > 0; in hard mode without
    the pairs that would overload their site on their own or go to a site that can never
    reach its ``min_load``. With ``dense``, the weighted costs also as a dense active demand ×
    site array when it is small enough (for the heuristics)."""
    costs, load = model.costs, model.loads
    capacity, min_load = np.asarray(model.capacity), np.asarray(model.min_load)
    active = (model.weights > 0) | (load > 0)
    rows = costs.rows()
    keep = active[rows]
    r, j, c = rows[keep], costs.indices[keep].astype(np.int64), costs.data[keep]
    openable = np.ones(costs.n_sites, dtype=bool)
    if not model.soft:
        # a demand never goes to a site it would overload on its own
        ok = load[r] <= capacity[j] + EPS
        r, j, c = r[ok], j[ok], c[ok]
        # a site that cannot reach its min_load can never be opened
        reach = np.bincount(j, weights=load[r], minlength=costs.n_sites)
        openable = reach >= min_load - EPS
        openable[model.fixed] = True
        ok = openable[j]
        r, j, c = r[ok], j[ok], c[ok]
    order = np.lexsort((j, c, r))
    r, j, c = r[order], j[order], c[order]
    dense_wc = None
    n_active = int(active.sum())
    if dense and n_active * costs.n_sites <= _DENSE_PAIRS_LIMIT:
        row = np.cumsum(active) - 1
        dense_wc = np.full((n_active, costs.n_sites), INF)
        dense_wc[row[r], j] = model.weights[r] * c
    return CapacityPairs(r, j, c, active, openable, dense_wc)


@dataclass
class LoadPlan:
    """A heuristic plan: open sites and, per active demand, the site serving it."""

    open_sites: np.ndarray
    site_of: np.ndarray  # per demand, -1 if inactive
    cost: float  # distance term Σ w c
    violation: float  # total load-bound violation


def better_plan(a: LoadPlan, b: LoadPlan | None, penalty: float) -> bool:
    """True when ``a`` costs less than ``b`` (distance + ``penalty`` × violation) by more
    than round-off; any plan is better than none."""
    if b is None:
        return True
    return a.cost + penalty * a.violation < b.cost + penalty * b.violation - EPS * (
        1.0 + abs(b.cost)
    )


def violation_cost(model: CapacitatedPMedian, pairs: CapacityPairs | None = None) -> float:
    """The cost per unit of load-bound violation: the model's ``violation_cost`` in soft mode,
    else ``Σ_i w_i (max_j c_ij − min_j c_ij) + 1`` over the demand's assignable pairs
    (``pairs``; by default every stored pair of the active demand, which is what soft mode
    keeps) — more than any change in the distance term."""
    if model.soft and model.violation_cost is not None:
        return float(model.violation_cost)
    if pairs is None:  # every stored pair of the active demand
        active = (model.weights > 0) | (model.loads > 0)
        rows = model.costs.rows()
        keep = active[rows]
        r, c = rows[keep], model.costs.data[keep]
    else:
        active, r, c = pairs.active, pairs.r, pairs.c
    n = model.costs.n_demand
    hi = np.full(n, -INF)
    lo = np.full(n, INF)
    np.maximum.at(hi, r, c)
    np.minimum.at(lo, r, c)
    spread = np.where(active & np.isfinite(hi), hi - lo, 0.0)
    return float((model.weights * spread).sum()) + 1.0


def load_violations(
    model: CapacitatedPMedian, open_sites: np.ndarray, site_load: np.ndarray
) -> list[dict[str, Any]]:
    """Each load bound an open site breaks by more than 1e-6: site, load, which bound, its
    limit and the amount."""
    capacity, min_load = np.asarray(model.capacity), np.asarray(model.min_load)
    out = []
    for s in open_sites.tolist():
        load, cap, low = float(site_load[s]), float(capacity[s]), float(min_load[s])
        if load > cap + 1e-6:
            out.append({"site": s, "load": load, "bound": "capacity", "limit": cap,
                        "amount": load - cap})  # fmt: skip
        if load < low - 1e-6:
            out.append({"site": s, "load": load, "bound": "min_load", "limit": low,
                        "amount": low - load})  # fmt: skip
    return out


def site_loads(model: CapacitatedPMedian, site_of: np.ndarray) -> np.ndarray:
    """Per site, the load of the demand assigned to it (``site_of``: per demand, -1 if none)."""
    served = site_of >= 0
    return np.bincount(site_of[served], weights=model.loads[served], minlength=model.costs.n_sites)
