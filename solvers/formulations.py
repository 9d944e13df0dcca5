"""MIP builders of the covering, maximal covering, p-median and capacitated p-median models,
as sparse arrays.

Pure functions: data in, :class:`~solvers._mip.MatrixMIP` out, vectorised (no Python loop over
demand points). The ``solve_*`` functions live in :mod:`solvers.covering`,
:mod:`solvers.pmedian` and :mod:`solvers.pcenter`.

p-median uses the radius formulation (Elloumi 2010; García, Labbé & Marín 2011), which has the
LP bound of the strong formulation ``x_ij <= y_j`` with far fewer variables when costs repeat.
For demand ``i`` with distinct site costs ``D_0 < D_1 < ... < D_{K-1}``::

    cost_i = D_0 + Σ_k (D_{k+1} - D_k) z_ik,     z_ik = 1  iff no open site costs <= D_k

and in the chained form used here (one row per level, each pair appears once)::

    z_i0 + Σ_{c_ij = D_0} y_j >= 1,      z_ik - z_i,k-1 + Σ_{c_ij = D_k} y_j >= 0.

*Truncation.* Keeping only the first ``t_i`` levels of a demand makes its cost
``min(true cost, D_{t_i})`` (``D_{t_i}``: the first level left out, or the cheapest pair left
out of a truncated row): never more than the true cost, so the truncated optimum is a lower
bound. If at that optimum every demand has an open site within its kept levels, its truncated
cost *is* its true cost, so it is optimal for the full model. A demand is *complete* (no
``z`` on its last kept level) when all its levels are kept, or when an open site within them
is certain (a fixed site, or fewer than ``p`` candidates lie beyond).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from solvers._capacity import CapacityPairs, LoadPlan, load_violations
from solvers._mip import MatrixMIP
from solvers._pairs import SortedPairs
from solvers.models import CapacitatedPMedian

__all__ = [
    "CapacitatedLayout",
    "Levels",
    "RadiusModel",
    "capacitated_mip",
    "capacitated_plan",
    "capacitated_vector",
    "max_cover_mip",
    "pmedian_levels",
    "pmedian_radius_mip",
    "set_cover_mip",
]

logger = logging.getLogger(__name__)

INF = np.inf


# --------------------------------------------------------------------------- covering
def set_cover_mip(
    cover: sp.csr_array, fixed: np.ndarray, max_sites: int | None = None
) -> MatrixMIP:
    """``min Σ y`` s.t. every row of the boolean ``cover`` has an open column; fixed ``y = 1``;
    optionally ``Σ y <= max_sites`` (the p-center feasibility test)."""
    n_rows, n_sites = cover.shape
    A = sp.csr_array(cover, dtype=np.float64)
    lower = np.ones(n_rows)
    upper = np.full(n_rows, INF)
    if max_sites is not None:
        A = sp.vstack([A, sp.csr_array(np.ones((1, n_sites)))], format="csr")
        lower = np.append(lower, -INF)
        upper = np.append(upper, float(max_sites))
    col_lower = np.zeros(n_sites)
    col_lower[np.asarray(fixed, dtype=np.int64)] = 1.0
    return MatrixMIP(
        c=np.ones(n_sites),
        A=sp.csc_array(A),
        row_lower=lower,
        row_upper=upper,
        col_lower=col_lower,
        col_upper=np.ones(n_sites),
        integer=np.ones(n_sites, dtype=bool),
        sense="min",
    )


def max_cover_mip(
    cover: sp.csr_array, weight: np.ndarray, p: int, fixed: np.ndarray, offset: float = 0.0
) -> MatrixMIP:
    """MCLP over demand classes: ``max offset + Σ w_c z_c`` s.t. ``z_c <= Σ_{j covers c} y_j``,
    ``Σ y = p``, fixed ``y = 1``, ``0 <= z <= 1`` continuous (integral at an optimum, since
    ``z_c = min(1, Σ y)`` for binary ``y``). Columns: ``y`` (sites) then ``z`` (classes)."""
    k, n_sites = cover.shape
    rows_cov = sp.hstack(
        [-sp.csr_array(cover, dtype=np.float64), sp.eye_array(k, format="csr")], format="csr"
    )
    row_p = sp.csr_array(np.concatenate([np.ones(n_sites), np.zeros(k)])[None, :])
    col_lower = np.zeros(n_sites + k)
    col_lower[np.asarray(fixed, dtype=np.int64)] = 1.0
    return MatrixMIP(
        c=np.concatenate([np.zeros(n_sites), np.asarray(weight, dtype=np.float64)]),
        A=sp.vstack([rows_cov, row_p], format="csc"),
        row_lower=np.concatenate([np.full(k, -INF), [float(p)]]),
        row_upper=np.concatenate([np.zeros(k), [float(p)]]),
        col_lower=col_lower,
        col_upper=np.ones(n_sites + k),
        integer=np.concatenate([np.ones(n_sites, dtype=bool), np.zeros(k, dtype=bool)]),
        sense="max",
        offset=float(offset),
    )


# --------------------------------------------------------------------------- p-median
@dataclass(frozen=True, eq=False)
class Levels:
    """Distinct cost levels of every row of a :class:`SortedPairs`.

    Attributes:
        rank: per pair, the index of its level within its row (0 = cheapest).
        count: per row, the number of levels.
    """

    rank: np.ndarray
    count: np.ndarray


def pmedian_levels(pairs: SortedPairs) -> Levels:
    """Level of every pair (pairs of equal cost in a row share a level)."""
    new = np.ones(pairs.nnz, dtype=bool)
    if pairs.nnz > 1:
        new[1:] = (pairs.row[1:] != pairs.row[:-1]) | (pairs.cost[1:] != pairs.cost[:-1])
    level = np.cumsum(new) - 1
    count = np.bincount(pairs.row[new], minlength=pairs.n_rows)
    first_level = np.concatenate([[0], np.cumsum(count)[:-1]])
    return Levels(level - first_level[pairs.row], count)


@dataclass(frozen=True, eq=False)
class RadiusModel:
    """The truncated radius MIP and what is needed to read and warm-start it.

    Columns: ``y`` (``n_sites``) then one ``z`` per (row, level) with a variable.
    """

    mip: MatrixMIP
    n_sites: int
    z_row: np.ndarray
    z_cost: np.ndarray
    last_cost: np.ndarray
    complete: np.ndarray

    def warm(self, is_open: np.ndarray, nearest_cost: np.ndarray) -> np.ndarray:
        """Column values of the plan ``is_open`` whose rows' nearest open costs are given."""
        x = np.zeros(self.mip.n_cols)
        x[: self.n_sites] = is_open
        x[self.n_sites :] = nearest_cost[self.z_row] > self.z_cost
        return x

    def short_rows(self, nearest_cost: np.ndarray) -> np.ndarray:
        """Rows whose nearest open site lies beyond their kept levels (truncation not exact)."""
        return np.flatnonzero(~self.complete & (nearest_cost > self.last_cost))


def pmedian_radius_mip(
    pairs: SortedPairs,
    levels: Levels,
    depth: np.ndarray,
    complete: np.ndarray,
    p: int,
    fixed_mask: np.ndarray,
) -> RadiusModel:
    """Truncated radius formulation keeping the first ``depth[i]`` levels of row ``i``.

    ``complete[i]`` says the caller knows row ``i`` has an open site within its kept levels
    (rows with all levels kept are complete unless their pairs were truncated).
    """
    n, m = pairs.n_rows, pairs.n_sites
    if (np.diff(pairs.indptr) == 0).any():
        raise ValueError("every row of a p-median radius model needs at least one reachable site")
    depth = np.minimum(np.maximum(depth, 1), levels.count)
    complete = complete | ((depth >= levels.count) & ~pairs.truncated)
    kept = levels.rank < depth[pairs.row]
    new = np.ones(pairs.nnz, dtype=bool)
    if pairs.nnz > 1:
        new[1:] = (pairs.row[1:] != pairs.row[:-1]) | (pairs.cost[1:] != pairs.cost[:-1])
    lv = np.flatnonzero(new & kept)  # first pair of every kept level
    lv_row, lv_rank, lv_cost = pairs.row[lv], levels.rank[lv], pairs.cost[lv]
    n_lv = len(lv)
    # cost of the next level: the following kept level of the row, else the first left out
    next_cost = np.empty(n_lv)
    same_row_next = np.zeros(n_lv, dtype=bool)
    same_row_next[:-1] = lv_row[1:] == lv_row[:-1]
    next_cost[:-1] = lv_cost[1:]
    beyond = np.full(n, INF)
    cut = depth < levels.count
    if cut.any():
        out_first = np.flatnonzero(new & ~kept & (levels.rank == depth[pairs.row]))
        beyond[pairs.row[out_first]] = pairs.cost[out_first]
    beyond = np.where(cut, beyond, pairs.next_cost)
    next_cost[~same_row_next] = beyond[lv_row[~same_row_next]]
    is_last = ~same_row_next
    has_z = ~(is_last & complete[lv_row])
    z_of_level = np.full(n_lv, -1, dtype=np.int64)
    z_of_level[has_z] = np.arange(int(has_z.sum()))
    n_z = int(has_z.sum())
    level_index = np.cumsum(new & kept) - 1  # per kept pair: its level's row in the MIP
    kp = np.flatnonzero(kept)
    prev = np.flatnonzero(lv_rank > 0)
    rows = np.concatenate([level_index[kp], np.flatnonzero(has_z), prev, np.full(m, n_lv)])
    cols = np.concatenate(
        [
            pairs.site[kp],
            m + z_of_level[has_z],
            m + z_of_level[prev - 1],
            np.arange(m),
        ]
    )
    vals = np.concatenate([np.ones(len(kp)), np.ones(n_z), -np.ones(len(prev)), np.ones(m)])
    A = sp.csc_array(sp.coo_array((vals, (rows, cols)), shape=(n_lv + 1, m + n_z)))
    w = pairs.weight
    first_cost = np.zeros(n)
    first_cost[lv_row[lv_rank == 0]] = lv_cost[lv_rank == 0]
    col_lower = np.zeros(m + n_z)
    col_lower[:m] = fixed_mask
    integer = np.zeros(m + n_z, dtype=bool)
    integer[:m] = True
    mip = MatrixMIP(
        c=np.concatenate([np.zeros(m), (w[lv_row] * (next_cost - lv_cost))[has_z]]),
        A=A,
        row_lower=np.concatenate([(lv_rank == 0).astype(np.float64), [float(p)]]),
        row_upper=np.concatenate([np.full(n_lv, INF), [float(p)]]),
        col_lower=col_lower,
        col_upper=np.ones(m + n_z),
        integer=integer,
        sense="min",
        offset=float(w @ first_cost),
    )
    last_cost = np.full(n, INF)
    last_cost[lv_row[is_last]] = lv_cost[is_last]
    return RadiusModel(mip, m, lv_row[has_z], lv_cost[has_z], last_cost, complete)


# --------------------------------------------------------------------------- capacitated p-median
# Over the stored (reachable) pairs only: a pair the caller leaves out of the cost matrix is
# never assigned. Rows: assignment (every active demand once), strong linking x_ij <= y_j,
# capacity (+ over_j in soft mode), min load (- under_j), Σ y = p; fixed y = 1.
@dataclass(frozen=True, eq=False)
class CapacitatedLayout:
    """Column layout of the MIP: y (sites) | x (pairs) | over | under (soft mode)."""

    n_sites: int
    r: np.ndarray
    j: np.ndarray
    c: np.ndarray
    soft: bool

    @property
    def n_x(self) -> int:
        return len(self.r)

    @property
    def x0(self) -> int:
        return self.n_sites

    @property
    def over0(self) -> int:
        return self.n_sites + self.n_x


def capacitated_mip(
    model: CapacitatedPMedian,
    pairs: CapacityPairs,
    r: np.ndarray,
    j: np.ndarray,
    c: np.ndarray,
    penalty: float,
    site_ok: np.ndarray,
    strong: bool = True,
) -> tuple[MatrixMIP, CapacitatedLayout]:
    """The capacitated p-median MIP over the pairs ``(r, j, c)`` (a subset of ``pairs``), with
    sites where ``site_ok`` is False closed and soft-mode slacks at ``penalty`` per unit::

        min  Σ w_i c_ij x_ij  (+ penalty · Σ_j (over_j + under_j) in soft mode)
        s.t. Σ_j x_ij = 1                                 every active demand
             Σ_i l_i x_ij <= capacity_j y_j (+ over_j)    upper load bound
             Σ_i l_i x_ij >= min_load_j y_j (- under_j)   lower load bound
             x_ij <= y_j                                  strong linking (``strong``)
             Σ_j y_j = p,  y_j = 1 for fixed sites,  x, y binary
    """
    n_d, n_s = model.costs.shape
    load = model.loads
    cap, low = np.asarray(model.capacity), np.asarray(model.min_load)
    lay = CapacitatedLayout(n_s, r, j, c, model.soft)
    n_x = lay.n_x
    act = np.flatnonzero(pairs.active)
    row_of = np.full(n_d, -1, dtype=np.int64)
    row_of[act] = np.arange(len(act))
    n_a = len(act)
    soft = model.soft
    n_cols = n_s + n_x + (2 * n_s if soft else 0)
    xc = n_s + np.arange(n_x)
    sites = np.arange(n_s)
    # rows: assignment (n_a) | link (n_x) | capacity (n_s) | min load (n_s) | count (1)
    lk = np.arange(n_x) if strong or soft else np.flatnonzero(load[r] <= 0)
    n_l = len(lk)
    link0, cap0 = n_a, n_a + n_l
    low0 = cap0 + n_s
    p_row = low0 + n_s
    ri = [row_of[r], link0 + np.arange(n_l), link0 + np.arange(n_l), cap0 + j, cap0 + sites,
          low0 + j, low0 + sites, np.full(n_s, p_row)]  # fmt: skip
    ci = [xc, xc[lk], j[lk], xc, sites, xc, sites, sites]
    vi = [np.ones(n_x), np.ones(n_l), -np.ones(n_l), load[r], -cap, load[r], -low, np.ones(n_s)]
    if soft:
        ri += [cap0 + sites, low0 + sites]
        ci += [lay.over0 + sites, lay.over0 + n_s + sites]
        vi += [-np.ones(n_s), np.ones(n_s)]
    A = sp.csc_array(
        sp.coo_array(
            (np.concatenate(vi), (np.concatenate(ri), np.concatenate(ci))),
            shape=(p_row + 1, n_cols),
        )
    )
    row_lower = np.concatenate(
        [np.ones(n_a), np.full(n_l, -INF), np.full(n_s, -INF), np.zeros(n_s), [float(model.p)]]
    )
    row_upper = np.concatenate(
        [np.ones(n_a), np.zeros(n_l), np.zeros(n_s), np.full(n_s, INF), [float(model.p)]]
    )
    cost = np.zeros(n_cols)
    cost[xc] = model.weights[r] * c
    col_lower = np.zeros(n_cols)
    col_lower[model.fixed] = 1.0
    col_upper = np.ones(n_cols)
    col_upper[:n_s] = site_ok.astype(np.float64)
    col_upper[model.fixed] = 1.0
    integer = np.ones(n_cols, dtype=bool)
    if soft:
        cost[lay.over0 :] = penalty
        total = float(load[pairs.active].sum())
        col_upper[lay.over0 : lay.over0 + n_s] = total
        col_upper[lay.over0 + n_s :] = low
        integer[lay.over0 :] = False
    return MatrixMIP(cost, A, row_lower, row_upper, col_lower, col_upper, integer, "min"), lay


def capacitated_vector(
    model: CapacitatedPMedian, lay: CapacitatedLayout, plan: LoadPlan
) -> np.ndarray | None:
    """The MIP column values of a heuristic plan (None if it uses a dropped pair)."""
    n_s = lay.n_sites
    n_cols = n_s + lay.n_x + (2 * n_s if lay.soft else 0)
    vec = np.zeros(n_cols)
    vec[plan.open_sites] = 1.0
    chosen = plan.site_of[lay.r] == lay.j
    if int(chosen.sum()) != int((plan.site_of >= 0).sum()):
        return None
    vec[lay.x0 + np.flatnonzero(chosen)] = 1.0
    if lay.soft:
        served = plan.site_of >= 0
        sl = np.bincount(plan.site_of[served], weights=model.loads[served], minlength=n_s)
        is_open = vec[:n_s] > 0.5
        vec[lay.over0 : lay.over0 + n_s] = np.where(
            is_open, np.maximum(sl - np.asarray(model.capacity), 0.0), 0.0
        )
        low = np.asarray(model.min_load)
        vec[lay.over0 + n_s :] = np.where(is_open, np.maximum(low - sl, 0.0), 0.0)
    return vec


def capacitated_plan(model: CapacitatedPMedian, lay: CapacitatedLayout, x: np.ndarray) -> LoadPlan:
    """The plan of MIP column values ``x``: open sites, assignment, distance and violation."""
    open_sites = np.flatnonzero(x[: lay.n_sites] > 0.5)
    chosen = x[lay.x0 : lay.x0 + lay.n_x] > 0.5
    site_of = np.full(model.costs.n_demand, -1, dtype=np.int64)
    site_of[lay.r[chosen]] = lay.j[chosen]
    cost = float((model.weights[lay.r[chosen]] * lay.c[chosen]).sum())
    served = site_of >= 0
    site_load = np.bincount(site_of[served], weights=model.loads[served],
                            minlength=lay.n_sites)  # fmt: skip
    viol = sum(v["amount"] for v in load_violations(model, open_sites, site_load))
    return LoadPlan(open_sites, site_of, cost, float(viol))
