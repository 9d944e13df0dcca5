"""Fast heuristics: greedy + swap for p-median, greedy for MCLP (warm starts, ``heuristic`` mode).

They work on the sparse cost matrix; a pair that is not stored costs ``big`` (a penalty larger
than any stored cost), so a demand with no open reachable site is strongly discouraged.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from solvers.costs import CostMatrix

__all__ = ["mclp_greedy", "pmedian_greedy_swap"]

logger = logging.getLogger(__name__)

_DENSE_LIMIT = 30_000_000  # cells; above this the p-median heuristic works on the k nearest


def _dense_costs(costs: CostMatrix, big: float) -> np.ndarray:
    return costs.to_dense(fill=big)


def pmedian_greedy_swap(
    costs: CostMatrix,
    weights: np.ndarray,
    p: int,
    fixed: np.ndarray,
    *,
    max_swaps: int = 10_000,
    rng_seed: int = 0,
) -> np.ndarray:
    """Open sites by greedy addition then first-improvement vertex substitution (Teitz–Bart).

    Returns the sorted open site indices (fixed ones included). Exact objective bookkeeping
    with the nearest and second-nearest open site per demand (Whitaker's fast interchange).
    """
    active = weights > 0
    big = (float(costs.data.max()) if costs.nnz else 1.0) * 10.0 + 1.0
    sub = CostMatrix.from_triples(
        *_active_triples(costs, active), (int(active.sum()), costs.n_sites)
    )
    w = weights[active]
    if sub.n_demand * sub.n_sites > _DENSE_LIMIT:
        # keep only the greedy phase on a sparse matrix: adequate as a warm start
        return _greedy_sparse(sub, w, p, fixed, big)
    d = _dense_costs(sub, big)
    wd = d * w[:, None]
    n_sites = d.shape[1]
    is_open = np.zeros(n_sites, dtype=bool)
    is_open[fixed] = True
    best = d[:, is_open].min(axis=1) if is_open.any() else np.full(d.shape[0], big * 10)
    while is_open.sum() < p:
        gain = (np.maximum(best[:, None] - d, 0.0) * w[:, None]).sum(axis=0)
        gain[is_open] = -1.0
        j = int(np.argmax(gain))
        is_open[j] = True
        best = np.minimum(best, d[:, j])
    del wd
    # vertex substitution with nearest / second nearest bookkeeping
    free = set(np.flatnonzero(~is_open).tolist())
    movable = np.flatnonzero(is_open & ~np.isin(np.arange(n_sites), fixed))
    swaps = 0
    improved = True
    while improved and swaps < max_swaps:
        improved = False
        open_idx = np.flatnonzero(is_open)
        sub_d = d[:, open_idx]
        order = np.argsort(sub_d, axis=1)[:, :2]
        d1 = np.take_along_axis(sub_d, order[:, :1], axis=1)[:, 0]
        d2 = (
            np.take_along_axis(sub_d, order[:, 1:2], axis=1)[:, 0]
            if len(open_idx) > 1
            else np.full(len(d1), big * 10)
        )
        near = open_idx[order[:, 0]]
        current = float((w * d1).sum())
        candidates = np.array(sorted(free))
        if len(candidates) == 0 or len(movable) == 0:
            break
        # for each closing site r: demand served by r moves to min(d2, d_new); others min(d1, d_new)
        best_delta, best_pair = -1e-9 * max(current, 1.0), None
        for r in movable:
            served = near == r
            base_r = np.where(served, d2, d1)
            # cost if we open each candidate j and close r
            new = np.minimum(base_r[:, None], d[:, candidates])
            totals = (new * w[:, None]).sum(axis=0)
            k = int(np.argmin(totals))
            delta = totals[k] - current
            if delta < best_delta:
                best_delta, best_pair = delta, (int(r), int(candidates[k]))
        if best_pair is not None:
            r, j = best_pair
            is_open[r], is_open[j] = False, True
            free.discard(j)
            free.add(r)
            movable = np.flatnonzero(is_open & ~np.isin(np.arange(n_sites), fixed))
            swaps += 1
            improved = True
    return np.flatnonzero(is_open)


def _active_triples(costs: CostMatrix, active: np.ndarray) -> tuple:
    new_row = np.cumsum(active) - 1
    rows = costs.rows()
    keep = active[rows]
    return new_row[rows[keep]], costs.indices[keep], costs.data[keep]


def _greedy_sparse(
    costs: CostMatrix, w: np.ndarray, p: int, fixed: np.ndarray, big: float
) -> np.ndarray:
    csc = costs.csc()
    rows_of = csc.indices
    is_open = np.zeros(costs.n_sites, dtype=bool)
    is_open[fixed] = True
    best = np.full(costs.n_demand, big)
    for j in np.flatnonzero(is_open):
        sl = slice(csc.indptr[j], csc.indptr[j + 1])
        best[rows_of[sl]] = np.minimum(best[rows_of[sl]], csc.data[sl])
    col = np.repeat(np.arange(costs.n_sites), np.diff(csc.indptr))
    while is_open.sum() < p:
        g = np.maximum(best[rows_of] - csc.data, 0.0) * w[rows_of]
        gain = np.bincount(col, weights=g, minlength=costs.n_sites)
        gain[is_open] = -1.0
        j = int(np.argmax(gain))
        is_open[j] = True
        sl = slice(csc.indptr[j], csc.indptr[j + 1])
        best[rows_of[sl]] = np.minimum(best[rows_of[sl]], csc.data[sl])
    return np.flatnonzero(is_open)


def mclp_greedy(cover: sp.csr_array, weights: np.ndarray, p: int, fixed: np.ndarray) -> np.ndarray:
    """Greedy maximal covering: add the site covering the most uncovered weight, ``p`` times."""
    csc = sp.csc_array(cover)
    n_sites = cover.shape[1]
    covered = np.zeros(cover.shape[0], dtype=bool)
    is_open = np.zeros(n_sites, dtype=bool)
    for j in fixed:
        is_open[j] = True
        covered[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = True
    col = np.repeat(np.arange(n_sites), np.diff(csc.indptr))
    while is_open.sum() < p:
        gain = np.bincount(
            col, weights=weights[csc.indices] * ~covered[csc.indices], minlength=n_sites
        )
        gain[is_open] = -1.0
        j = int(np.argmax(gain))
        is_open[j] = True
        covered[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = True
    return np.flatnonzero(is_open)
