"""Fast heuristics for p-median, MCLP and set covering: warm starts and the ``heuristic`` backend.

p-median: greedy addition, then best-improvement vertex substitution (Teitz–Bart) with the
bookkeeping of Whitaker's fast interchange as refined by Resende & Werneck (2003): with the
nearest and second-nearest open site of every demand, the change of cost of *every* swap
(open ``j``, close ``r``) is ``-(gain[j] - loss[r] + extra[r, j])``, where

- ``gain[j]  = Σ_i w_i max(0, d1_i - c_ij)``          (demand that would move to ``j``),
- ``loss[r]  = Σ_{i: φ1(i)=r} w_i (d2_i - d1_i)``      (demand of ``r`` falling back to its 2nd),
- ``extra[r, j] = Σ_{i: φ1(i)=r, c_ij < d2_i} w_i (d2_i - max(c_ij, d1_i))``,

all computed in a few vectorised passes over the reachable pairs per iteration (no loop over
demand points or over swaps). MCLP uses the same idea with coverage counts.

A heuristic proves nothing: solutions built only from heuristics are reported as ``feasible``
with no bound.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from solvers._interchange import DENSE_LIMIT, swap_incremental
from solvers._pairs import SortedPairs
from solvers.costs import CostMatrix

__all__ = [
    "greedy_cover",
    "mclp_greedy",
    "mclp_perturb",
    "mclp_swap",
    "mclp_value",
    "pcenter_farthest",
    "pmedian_cost",
    "pmedian_greedy",
    "pmedian_greedy_swap",
    "pmedian_swap",
]

logger = logging.getLogger(__name__)

#: the heuristics keep at most this many pairs (nearest first) of a large sparse matrix
_PAIR_LIMIT = 8_000_000


def _penalty(pairs: SortedPairs) -> float:
    """Cost per unit weight of a demand with no reachable open site: worse than any plan."""
    max_cost = float(pairs.cost.max()) if pairs.nnz else 1.0
    w = pairs.weight
    positive = w[w > 0]
    if len(positive) == 0:
        return max_cost + 1.0
    return float(w.sum() * (max_cost + 1.0) / positive.min()) + max_cost + 1.0


def pmedian_cost(pairs: SortedPairs, is_open: np.ndarray) -> float:
    """Total weighted cost of serving every row by its nearest open site (``inf`` if one can't)."""
    first, _, _ = pairs.nearest_open(is_open)
    if (first < 0).any():
        return float("inf")
    return float(pairs.weight @ pairs.cost[first])


def _nearest_costs(
    pairs: SortedPairs, is_open: np.ndarray, penalty: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    first, second, _ = pairs.nearest_open(is_open)
    d1 = np.where(first >= 0, pairs.cost[np.maximum(first, 0)], penalty)
    d2 = np.where(second >= 0, pairs.cost[np.maximum(second, 0)], penalty)
    phi1 = np.where(first >= 0, pairs.site[np.maximum(first, 0)], -1)
    return d1, d2, phi1


def pmedian_greedy(
    pairs: SortedPairs,
    p: int,
    start_open: np.ndarray,
    openable: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy addition from the open mask ``start_open`` until ``p`` sites are open.

    Gains are kept up to date incrementally: opening ``j`` only changes the gains of the pairs
    of the demand rows that move to ``j``.
    """
    m = pairs.n_sites
    is_open = np.asarray(start_open, dtype=bool).copy()
    allowed = np.ones(m, dtype=bool) if openable is None else np.asarray(openable, dtype=bool)
    penalty = _penalty(pairs)
    d1, _, _ = _nearest_costs(pairs, is_open, penalty)
    wr = pairs.weight[pairs.row]
    gain = np.bincount(
        pairs.site, weights=wr * np.maximum(d1[pairs.row] - pairs.cost, 0.0), minlength=m
    )
    by_site, site_ptr = pairs.by_site
    while is_open.sum() < p:
        g = np.where(allowed & ~is_open, gain, -np.inf)
        j = int(np.argmax(g))
        if not np.isfinite(g[j]):
            break
        is_open[j] = True
        mine = by_site[site_ptr[j] : site_ptr[j + 1]]
        better = mine[pairs.cost[mine] < d1[pairs.row[mine]]]
        if len(better) == 0:
            continue
        rows = pairs.row[better]
        new_d1 = pairs.cost[better]
        idx, _ = pairs.row_pairs(rows)
        r_idx = pairs.row[idx]
        old = np.maximum(d1[r_idx] - pairs.cost[idx], 0.0)
        d1[rows] = new_d1
        new = np.maximum(d1[r_idx] - pairs.cost[idx], 0.0)
        gain -= np.bincount(pairs.site[idx], weights=wr[idx] * (old - new), minlength=m)
    return is_open


def pmedian_swap(
    pairs: SortedPairs,
    is_open: np.ndarray,
    movable: np.ndarray | None = None,
    openable: np.ndarray | None = None,
    *,
    max_swaps: int | None = None,
    deadline: float | None = None,
) -> np.ndarray:
    """Best-improvement vertex substitution from ``is_open`` until no swap improves.

    ``movable`` marks open sites that may close (default: all); ``openable`` marks sites that may
    open (default: all). Stops early at ``max_swaps`` or at the ``time.perf_counter()``
    ``deadline``.
    """
    m = pairs.n_sites
    is_open = np.asarray(is_open, dtype=bool).copy()
    can_close = np.ones(m, dtype=bool) if movable is None else np.asarray(movable, dtype=bool)
    can_open = np.ones(m, dtype=bool) if openable is None else np.asarray(openable, dtype=bool)
    penalty = _penalty(pairs)
    w = pairs.weight
    wr = w[pairs.row]
    limit = max_swaps if max_swaps is not None else 50 * max(int(is_open.sum()), 1) + 100
    if int(is_open.sum()) * m <= DENSE_LIMIT:
        is_open, swaps = swap_incremental(
            pairs, is_open, can_close, can_open, penalty, limit, deadline
        )
        logger.debug("p-median swap: %d swaps (incremental)", swaps)
        return is_open
    swaps = 0
    while swaps < limit:
        if deadline is not None and time.perf_counter() > deadline:
            break
        d1, d2, phi1 = _nearest_costs(pairs, is_open, penalty)
        current = float(w @ d1)
        d1r = d1[pairs.row]
        closer = pairs.cost < d1r
        gain = np.bincount(
            pairs.site[closer], weights=(wr * (d1r - pairs.cost))[closer], minlength=m
        )
        served = phi1 >= 0
        loss = np.bincount(phi1[served], weights=(w * (d2 - d1))[served], minlength=m)
        out_sites = np.flatnonzero(is_open & can_close)
        in_mask = can_open & ~is_open
        if len(out_sites) == 0 or not in_mask.any():
            break
        pos = np.full(m, -1, dtype=np.int64)
        pos[out_sites] = np.arange(len(out_sites))
        row_pos = np.where(served, pos[np.maximum(phi1, 0)], -1)
        d2r = d2[pairs.row]
        cand = (pairs.cost < d2r) & in_mask[pairs.site] & (row_pos[pairs.row] >= 0)
        c_idx = np.flatnonzero(cand)
        c_val = wr[c_idx] * (d2r[c_idx] - np.maximum(pairs.cost[c_idx], d1r[c_idx]))
        c_pos = row_pos[pairs.row[c_idx]]
        best_profit, best = _best_swap(
            gain, in_mask, loss, out_sites, c_pos, pairs.site[c_idx], c_val
        )
        if best_profit <= 1e-9 * max(abs(current), 1.0):
            break
        r, j = best
        is_open[r], is_open[j] = False, True
        swaps += 1
    logger.debug("p-median swap: %d swaps", swaps)
    return is_open


def _best_swap(
    gain: np.ndarray,
    in_mask: np.ndarray,
    loss: np.ndarray,
    out_sites: np.ndarray,
    e_pos: np.ndarray,
    e_site: np.ndarray,
    e_val: np.ndarray,
) -> tuple[float, tuple[int, int]]:
    """Best ``gain[j] - loss[r] + extra[r, j]`` over closed ``j`` and movable ``r``.

    ``extra`` (>= 0) is given sparsely as entries ``(position of r in out_sites, j, value)``;
    pairs without an entry have ``extra = 0``, so their best is ``max gain - min loss``.
    """
    m = len(gain)
    g = np.where(in_mask, gain, -np.inf)
    j0 = int(np.argmax(g))
    r0 = int(np.argmin(loss[out_sites]))
    best_profit, best = float(g[j0] - loss[out_sites[r0]]), (int(out_sites[r0]), j0)
    if len(e_val):
        extra = sp.csr_array((e_val, (e_pos, e_site)), shape=(len(out_sites), m))
        extra.sum_duplicates()
        rows = np.repeat(np.arange(len(out_sites)), np.diff(extra.indptr))
        profit = g[extra.indices] - loss[out_sites[rows]] + extra.data
        k = int(np.argmax(profit))
        if profit[k] > best_profit:
            best_profit, best = float(profit[k]), (int(out_sites[rows[k]]), int(extra.indices[k]))
    return best_profit, best


def pmedian_greedy_swap(
    costs: CostMatrix,
    weights: np.ndarray,
    p: int,
    fixed: np.ndarray,
    *,
    start: np.ndarray | None = None,
    max_swaps: int | None = None,
    deadline: float | None = None,
) -> np.ndarray:
    """Greedy + swap p-median sites on a cost matrix: sorted open site indices (fixed included).

    ``start`` (site indices) replaces the greedy start: it is completed greedily to ``p`` sites
    (or trimmed to its first ``p``), then improved by swaps; ``max_swaps=0`` skips the swaps.
    Demand with weight 0 is ignored. Very large matrices keep each demand's nearest pairs only.
    """
    w = np.asarray(weights, dtype=np.float64)
    pairs = SortedPairs.build(costs, w, w > 0)
    if pairs.nnz > _PAIR_LIMIT and pairs.n_rows:
        pairs = pairs.nearest(max(8, _PAIR_LIMIT // pairs.n_rows))
    m = costs.n_sites
    fixed_mask = np.zeros(m, dtype=bool)
    fixed_mask[np.asarray(fixed, dtype=np.int64)] = True
    begin = fixed_mask.copy()
    if start is not None:
        extra = [int(s) for s in np.asarray(start, dtype=np.int64) if not fixed_mask[s]]
        begin[extra[: max(p - int(fixed_mask.sum()), 0)]] = True
    is_open = pmedian_greedy(pairs, p, begin)
    if max_swaps != 0:
        is_open = pmedian_swap(pairs, is_open, ~fixed_mask, max_swaps=max_swaps, deadline=deadline)
    return np.flatnonzero(is_open)


# --------------------------------------------------------------------------- covering
def greedy_cover(cover: sp.csr_array, fixed: np.ndarray) -> np.ndarray:
    """Greedy set cover of every row of a boolean matrix (fixed columns open first), then
    removal of redundant non-fixed columns. Rows nothing covers stay uncovered."""
    csc = sp.csc_array(cover)
    n_rows, n_sites = cover.shape
    col = np.repeat(np.arange(n_sites), np.diff(csc.indptr))
    count = np.zeros(n_rows, dtype=np.int64)
    is_open = np.zeros(n_sites, dtype=bool)

    def add(j: int) -> None:
        is_open[j] = True
        count[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] += 1

    for j in np.asarray(fixed, dtype=np.int64):
        add(int(j))
    coverable = np.diff(sp.csr_array(cover).indptr) > 0
    while (coverable & (count == 0)).any():
        gain = np.bincount(col, weights=count[csc.indices] == 0, minlength=n_sites)
        gain[is_open] = -1
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        add(j)
    fixed_mask = np.zeros(n_sites, dtype=bool)
    fixed_mask[np.asarray(fixed, dtype=np.int64)] = True
    # drop redundant columns, least useful first
    sizes = np.diff(csc.indptr)
    for j in sorted(np.flatnonzero(is_open & ~fixed_mask), key=lambda s: sizes[s]):
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        if (count[rows] >= 2).all():
            is_open[j] = False
            count[rows] -= 1
    return np.flatnonzero(is_open)


def pcenter_farthest(
    costs: CostMatrix, weights: np.ndarray, p: int, fixed: np.ndarray
) -> np.ndarray:
    """Farthest-first p-center plan: the fixed sites, then ``p - len(fixed)`` times the
    cheapest closed site of the demand (weight > 0) farthest from every open site.

    Gonzalez's rule on candidate sites; a quick upper bound on the p-center radius, not a
    good plan. Demand no site reaches is ignored; a demand whose reachable sites are all open
    already is skipped.
    """
    csc = costs.csc()
    d = np.full(costs.n_demand, np.inf)
    d[(weights <= 0) | (np.diff(costs.indptr) == 0)] = -1.0
    is_open = np.zeros(costs.n_sites, dtype=bool)

    def open_site(j: int) -> None:
        is_open[j] = True
        lo, hi = csc.indptr[j], csc.indptr[j + 1]
        rows = csc.indices[lo:hi]
        d[rows] = np.minimum(d[rows], csc.data[lo:hi])

    for j in np.unique(np.asarray(fixed, dtype=np.int64)):
        open_site(int(j))
    while int(is_open.sum()) < p:
        i = int(np.argmax(d))
        if d[i] <= 0:
            break
        lo, hi = costs.indptr[i], costs.indptr[i + 1]
        closed = ~is_open[costs.indices[lo:hi]]
        if not closed.any():
            d[i] = -1.0
            continue
        k = int(np.argmin(np.where(closed, costs.data[lo:hi], np.inf)))
        open_site(int(costs.indices[lo + k]))
    return np.flatnonzero(is_open)


def _covering_counts(cover: sp.csr_array, is_open: np.ndarray) -> np.ndarray:
    return cover.astype(np.int64) @ is_open.astype(np.int64)


def mclp_greedy(cover: sp.csr_array, weights: np.ndarray, p: int, fixed: np.ndarray) -> np.ndarray:
    """Greedy maximal covering: add the site covering the most uncovered weight until ``p``."""
    csc = sp.csc_array(cover)
    n_sites = cover.shape[1]
    covered = np.zeros(cover.shape[0], dtype=bool)
    is_open = np.zeros(n_sites, dtype=bool)
    for j in np.asarray(fixed, dtype=np.int64):
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


def mclp_swap(
    cover: sp.csr_array,
    weights: np.ndarray,
    open_sites: np.ndarray,
    fixed: np.ndarray,
    *,
    max_swaps: int | None = None,
) -> np.ndarray:
    """Best-improvement swaps for MCLP: ``gain[j] - loss[r] + extra[r, j]`` over all pairs.

    ``gain[j]`` is the uncovered weight ``j`` covers, ``loss[r]`` the weight only ``r`` covers,
    ``extra[r, j]`` the weight only ``r`` covers that ``j`` covers too.
    """
    cover = sp.csr_array(cover, dtype=np.float64)
    m = cover.shape[1]
    w = np.asarray(weights, dtype=np.float64)
    is_open = np.zeros(m, dtype=bool)
    is_open[np.asarray(open_sites, dtype=np.int64)] = True
    fixed_mask = np.zeros(m, dtype=bool)
    fixed_mask[np.asarray(fixed, dtype=np.int64)] = True
    limit = max_swaps if max_swaps is not None else 50 * max(int(is_open.sum()), 1) + 100
    for _ in range(limit):
        cnt = _covering_counts(cover, is_open)
        gain = (w * (cnt == 0)) @ cover
        single = np.flatnonzero(cnt == 1)
        sub = cover[single][:, np.flatnonzero(is_open)]
        sub = sp.csr_array(sub)
        sub.sort_indices()
        open_idx = np.flatnonzero(is_open)
        owner = open_idx[sub.indices[sub.indptr[:-1]]] if len(single) else np.zeros(0, int)
        loss = np.bincount(owner, weights=w[single], minlength=m)
        out_sites = np.flatnonzero(is_open & ~fixed_mask)
        if len(out_sites) == 0 or is_open.all():
            break
        pos = np.full(m, -1, dtype=np.int64)
        pos[out_sites] = np.arange(len(out_sites))
        keep = pos[owner] >= 0
        phi = sp.csr_array(
            (w[single][keep], (pos[owner[keep]], np.flatnonzero(keep))),
            shape=(len(out_sites), len(single)),
        )
        extra = sp.coo_array(phi @ cover[single])
        best_profit, (r, j) = _best_swap(
            gain, ~is_open, loss, out_sites, extra.row, extra.col, extra.data
        )
        if best_profit <= 1e-9 * max(float(w.sum()), 1.0):
            break
        is_open[r], is_open[j] = False, True
    return np.flatnonzero(is_open)


def mclp_perturb(
    cover: sp.csr_array,
    weights: np.ndarray,
    open_sites: np.ndarray,
    fixed: np.ndarray,
    *,
    until: float | None = None,
    stall: int | None = 50,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Iterated local search for MCLP from ``open_sites``: close ``max(2, p/10)`` random free
    open sites, open as many random closed ones, swap to a local optimum (:func:`mclp_swap`),
    keep the plan if it covers more. Stops after ``stall`` kicks in a row without a better plan
    (``None``: never) or at the ``time.perf_counter()`` value ``until``; at least one of the
    two must be given. Returns the best open sites (sorted) and the number of kicks.
    """
    if stall is None and until is None:
        raise ValueError("mclp_perturb needs `stall` or `until` to stop")
    cover = sp.csr_array(cover, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    m = cover.shape[1]
    fixed_mask = np.zeros(m, dtype=bool)
    fixed_mask[np.asarray(fixed, dtype=np.int64)] = True
    best = np.asarray(open_sites, dtype=np.int64)
    best_value = mclp_value(cover, w, best)
    rng = np.random.default_rng(seed)
    kicks = idle = 0
    while (stall is None or idle < stall) and (until is None or time.perf_counter() < until):
        is_open = np.zeros(m, dtype=bool)
        is_open[best] = True
        movable, closed = np.flatnonzero(is_open & ~fixed_mask), np.flatnonzero(~is_open)
        if len(movable) == 0 or len(closed) == 0:
            break
        q = min(max(2, len(best) // 10), len(movable), len(closed))
        is_open[rng.choice(movable, q, replace=False)] = False
        is_open[rng.choice(closed, q, replace=False)] = True
        plan = mclp_swap(cover, w, np.flatnonzero(is_open), fixed)
        value = mclp_value(cover, w, plan)
        kicks += 1
        if value > best_value:
            best, best_value, idle = plan, value, 0
        else:
            idle += 1
    return np.sort(best), kicks


def mclp_value(cover: sp.csr_array, weights: np.ndarray, open_sites: np.ndarray) -> float:
    """Weight of the demand rows that some site of ``open_sites`` covers."""
    y = np.zeros(cover.shape[1])
    y[np.asarray(open_sites, dtype=np.int64)] = 1.0
    return float(np.asarray(weights)[(cover @ y) > 0].sum())
