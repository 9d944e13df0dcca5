"""Lagrangian lower bound, primal heuristic and candidate reduction for the p-median.

Relaxing the assignment constraints ``Σ_j x_ij = 1`` with multipliers ``λ_i`` gives, for any
``λ``, the lower bound ``L(λ) = Σ_i λ_i + Σ_{j open} ρ_j`` with
``ρ_j = Σ_i min(0, w_i c_ij - λ_i)`` (unreachable pairs contribute 0) and the open sites the
fixed ones plus the ``p - |fixed|`` free sites of smallest ``ρ``. ``L`` is maximised by
subgradient optimisation (Held–Wolfe–Crowder steps towards the best known upper bound). Only
pairs with ``w_i c_ij < λ_i`` add to ``ρ``; rows are sorted by cost, so those are a prefix of
each row, found by binary search, and a step touches only them. Every few steps the
relaxation's open sites are evaluated as a plan (a Lagrangian heuristic), and the open sets at
the last steps that raised the bound are returned as starts for a local search.

Reduction (valid for every ``λ``): forcing a closed free site ``j`` open raises the bound to at
least ``L + ρ_j - max ρ_open``; if that exceeds the upper bound ``UB`` (cost of a known plan),
no plan containing ``j`` costs ``<= UB``, so ``j`` can be removed without losing an optimum.
Symmetrically, an open free site whose closing pushes the bound above ``UB`` is in every
optimal plan (``forced_open``). When every weighted cost is an integer, bounds are rounded up.

Pairs may be truncated to each demand's nearest sites (:meth:`SortedPairs.nearest`): ``λ_i``
is then capped at ``w_i`` × the cost of its nearest dropped pair, so every dropped pair has
``w_i c_ij - λ_i >= 0`` and contributes exactly 0 — the bound stays exact for the full matrix.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from solvers._pairs import SortedPairs, ranges

__all__ = ["LagrangianBound", "pmedian_lagrangian"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LagrangianBound:
    """Outcome of :func:`pmedian_lagrangian`.

    Attributes:
        lower_bound: best proven lower bound on the p-median cost (rounded up when integral).
        upper_bound: cost of ``best_open`` (the best plan seen, heuristic one included).
        best_open: open-site mask of that plan.
        keep: mask of sites that may be open in a plan better than the incumbent (the
            incumbent's own sites are always kept, so an optimum survives the reduction).
        forced_open: mask of sites open in every plan of cost ``<= upper_bound`` (fixed sites
            included; always a subset of the incumbent's sites).
        multipliers: the best ``λ`` (to restart from).
        iterations: subgradient steps taken.
        plans: open-site masks of the relaxation at the last steps that raised the bound
            (distinct, the strongest bound first): starts for a local search, which turns
            them into plans far better than greedy ones.
    """

    lower_bound: float
    upper_bound: float
    best_open: np.ndarray
    keep: np.ndarray
    forced_open: np.ndarray
    multipliers: np.ndarray
    iterations: int
    plans: tuple[np.ndarray, ...] = ()


class _Below:
    """The pairs with ``w_i c_ij < λ_i``: a prefix of every row, since rows are sorted by cost.

    Each row's prefix end is found by a binary search run on all rows at once (a few passes
    over the rows, not over the pairs). Near convergence the prefixes hold about ``m / p``
    pairs per row, so the subgradient steps touch those instead of every pair.
    """

    def __init__(self, pairs: SortedPairs, wc: np.ndarray) -> None:
        self.wc = wc
        self.starts, self.ends = pairs.indptr[:-1], pairs.indptr[1:]
        longest = int((self.ends - self.starts).max(initial=0))
        self.passes = max(longest, 1).bit_length()

    def pairs(self, lam: np.ndarray) -> np.ndarray:
        lo, hi = self.starts.copy(), self.ends.copy()
        for _ in range(self.passes):  # first pair of each row with w c >= λ
            mid = (lo + hi) // 2
            go = lo < hi
            less = go & (self.wc[np.minimum(mid, len(self.wc) - 1)] < lam)
            lo = np.where(less, mid + 1, lo)
            hi = np.where(go & ~less, mid, hi)
        return ranges(self.starts, lo - self.starts)[0]


def _choose(rho: np.ndarray, free: np.ndarray, k: int, fixed_mask: np.ndarray) -> np.ndarray:
    is_open = fixed_mask.copy()
    if k > 0:
        part = free[np.argpartition(rho[free], k - 1)[:k]] if k < len(free) else free
        is_open[part] = True
    return is_open


def pmedian_lagrangian(
    pairs: SortedPairs,
    p: int,
    fixed_mask: np.ndarray,
    upper_bound: float,
    best_open: np.ndarray,
    *,
    integral: bool = False,
    multipliers: np.ndarray | None = None,
    max_iterations: int = 2000,
    deadline: float | None = None,
    heuristic_every: int = 20,
    keep_plans: int = 8,
    step: float = 2.0,
) -> LagrangianBound:
    """Subgradient optimisation of ``L(λ)``, Lagrangian heuristic, then the reduction tests.

    Args:
        pairs: the demand rows (weight > 0) and their reachable sites, nearest first.
        p: number of open sites, fixed ones included.
        fixed_mask: sites that are always open.
        upper_bound, best_open: cost and open-site mask of a known plan (``inf`` if none).
        multipliers: starting ``λ`` (default: each row's second-cheapest weighted cost).
        integral: every plan's cost is an integer (bounds are rounded up; a site is removed as
            soon as no plan containing it can be *strictly* better than the incumbent).
        max_iterations, deadline: stopping rules (``deadline`` in ``time.perf_counter()``).
        heuristic_every: evaluate the relaxation's open sites as a plan every that many steps.
        keep_plans: how many of the relaxation's open sets to return as ``plans``.
        step: the first step-size factor (halved after 30 steps without a better bound); a
            small one stays near good ``multipliers``.
    """
    n, m = pairs.n_rows, pairs.n_sites
    w = pairs.weight
    wc = w[pairs.row] * pairs.cost
    cap = np.where(pairs.truncated, w * pairs.next_cost, np.inf)
    scale = max(abs(upper_bound), 1.0) if np.isfinite(upper_bound) else 1.0
    free = np.flatnonzero(~fixed_mask)
    k = p - int(fixed_mask.sum())
    # start: λ_i = the second-cheapest weighted cost of the row (cheapest if only one)
    second = np.minimum(pairs.indptr[:-1] + 1, pairs.indptr[1:] - 1)
    if multipliers is not None:
        lam = np.minimum(np.asarray(multipliers, dtype=np.float64), cap)
    else:
        lam = np.minimum(wc[np.maximum(second, 0)] if pairs.nnz else np.zeros(n), cap)
    best_lb, best_lam = -np.inf, lam.copy()
    ub, ub_open = float(upper_bound), np.asarray(best_open, dtype=bool).copy()
    theta, stall, it = step, 0, 0
    seen_open: bytes | None = None
    plans: OrderedDict[bytes, np.ndarray] = OrderedDict()
    done = 1.0 - 1e-6 if integral else 1e-9 * scale
    below = _Below(pairs, wc)
    for it in range(1, max_iterations + 1):
        idx = below.pairs(lam)  # only pairs with w_i c_ij < λ_i add to ρ
        reduced = np.minimum(wc[idx] - lam[pairs.row[idx]], 0.0)
        rho = np.bincount(pairs.site[idx], weights=reduced, minlength=m)
        is_open = _choose(rho, free, k, fixed_mask)
        lb = float(lam.sum() + rho[is_open].sum())
        if lb > best_lb + 1e-9 * scale:
            best_lb, best_lam, stall = lb, lam.copy(), 0
            if keep_plans:
                key = np.packbits(is_open).tobytes()
                plans[key] = is_open
                plans.move_to_end(key)
                if len(plans) > keep_plans:
                    plans.popitem(last=False)
        else:
            stall += 1
            if stall >= 30:
                theta, stall = theta / 2.0, 0
        if it % heuristic_every == 1:
            key = np.packbits(is_open).tobytes()
            if key != seen_open:
                seen_open = key
                first, _, _ = pairs.nearest_open(is_open)
                if (first >= 0).all():
                    cost = float(w @ pairs.cost[first])
                    if cost < ub - 1e-9 * scale:
                        ub, ub_open = cost, is_open.copy()
        if ub - best_lb <= done or theta < 1e-4:
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        assigned = idx[(reduced < 0) & is_open[pairs.site[idx]]]
        g = 1.0 - np.bincount(pairs.row[assigned], minlength=n)
        norm = float(g @ g)
        if norm == 0:
            break
        target = ub if np.isfinite(ub) else best_lb + abs(best_lb) * 0.05 + 1.0
        lam = np.minimum(lam + theta * max(target - lb, 1e-9 * scale) / norm * g, cap)
    # the bound at the best multipliers, and the reduction tests
    lb, keep, forced = _reduction(
        pairs, wc, best_lam, free, k, fixed_mask, ub, ub_open, integral, tol=1e-7 * scale
    )
    logger.debug(
        "lagrangian: bound %.6g, plan %.6g after %d steps; %d of %d sites kept, %d forced",
        lb,
        ub,
        it,
        int(keep.sum()),
        m,
        int((forced & ~fixed_mask).sum()),
    )
    return LagrangianBound(
        min(lb, ub), ub, ub_open, keep, forced, best_lam, it, tuple(reversed(plans.values()))
    )


def _reduction(
    pairs: SortedPairs,
    wc: np.ndarray,
    lam: np.ndarray,
    free: np.ndarray,
    k: int,
    fixed_mask: np.ndarray,
    ub: float,
    ub_open: np.ndarray,
    integral: bool,
    tol: float,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The bound at multipliers ``lam`` (rounded up when ``integral``) and the reduction tests
    against the plan ``ub_open`` of cost ``ub`` (round-off ``tol``): the bound, the sites kept
    and the sites forced open (see the module docstring)."""
    m = pairs.n_sites
    reduced = np.minimum(wc - lam[pairs.row], 0.0)
    rho = np.bincount(pairs.site, weights=reduced, minlength=m)
    is_open = _choose(rho, free, k, fixed_mask)
    lb = float(lam.sum() + rho[is_open].sum())
    if integral:
        lb = float(np.ceil(lb - 1e-6))
    keep = np.ones(m, dtype=bool)
    forced = fixed_mask.copy()
    free_open = np.flatnonzero(is_open & ~fixed_mask)
    free_closed = np.flatnonzero(~is_open & ~fixed_mask)
    if len(free_open) and len(free_closed) and np.isfinite(ub):
        worst_open = rho[free_open].max()
        best_closed = rho[free_closed].min()
        raw = float(lam.sum() + rho[is_open].sum())
        # integral costs: a plan strictly better than the incumbent costs at most ub - 1
        limit = ub - 1.0 + 1e-6 if integral else ub + tol
        keep[free_closed[raw + rho[free_closed] - worst_open > limit]] = False
        forced[free_open[raw - rho[free_open] + best_closed > ub + tol]] = True
    keep |= ub_open  # the incumbent always stays (its sites pass the tests anyway)
    forced = (forced & ub_open) | fixed_mask
    return lb, keep, forced
