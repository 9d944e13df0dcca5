"""Exact model reductions: merging demand rows with identical coverage sets, dropping rows that
are constant (uncoverable, or already covered by a fixed site), and — for covering
feasibility models (LSCP, the p-center test) — dropping dominated rows and columns."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["CoverageClasses", "coverage_classes", "dominated_columns", "dominated_rows"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CoverageClasses:
    """Demand grouped by identical coverage sets.

    Attributes:
        matrix: boolean CSR (n_classes × n_sites), one row per distinct coverage set.
        weight: summed demand weight per class.
        label: per original demand row, its class index (-1 when dropped: weight 0, no
            coverage, or already covered by a fixed site — see ``uncoverable`` / ``fixed_covered``).
        uncoverable: original rows with weight > 0 that no site covers.
        fixed_covered: original rows with weight > 0 covered by a fixed site.
    """

    matrix: sp.csr_array
    weight: np.ndarray
    label: np.ndarray
    uncoverable: np.ndarray
    fixed_covered: np.ndarray


def _row_keys(cover: sp.csr_array, seed: int = 0x5171) -> np.ndarray:
    """Two independent 64-bit hashes plus the row length: equal sets give equal keys."""
    rng = np.random.default_rng(seed)
    n_sites = cover.shape[1]
    h1 = rng.integers(1, 2**63 - 1, size=n_sites, dtype=np.int64).astype(np.uint64)
    h2 = rng.integers(1, 2**63 - 1, size=n_sites, dtype=np.int64).astype(np.uint64)
    counts = np.diff(cover.indptr)
    rows = np.repeat(np.arange(cover.shape[0]), counts)
    k1 = np.zeros(cover.shape[0], dtype=np.uint64)
    k2 = np.zeros(cover.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(k1, rows, h1[cover.indices])
        np.bitwise_xor.at(k2, rows, h2[cover.indices])
    keys = np.empty(cover.shape[0], dtype=[("a", np.uint64), ("b", np.uint64), ("n", np.int64)])
    keys["a"], keys["b"], keys["n"] = k1, k2, counts
    return keys


def coverage_classes(
    cover: sp.csr_array, weights: np.ndarray, fixed: np.ndarray
) -> CoverageClasses:
    """Group weighted demand rows of a boolean coverage matrix into distinct coverage sets."""
    cover = sp.csr_array(cover)
    cover.sort_indices()
    n = cover.shape[0]
    counts = np.diff(cover.indptr)
    positive = weights > 0
    uncoverable = np.flatnonzero(positive & (counts == 0))
    fixed_mask = np.zeros(cover.shape[1], dtype=bool)
    fixed_mask[fixed] = True
    if len(fixed):
        hit = np.zeros(n, dtype=bool)
        rows = np.repeat(np.arange(n), counts)
        hit[rows[fixed_mask[cover.indices]]] = True
    else:
        hit = np.zeros(n, dtype=bool)
    fixed_covered = np.flatnonzero(positive & hit)
    keep = np.flatnonzero(positive & (counts > 0) & ~hit)
    label = np.full(n, -1, dtype=np.int64)
    if len(keep) == 0:
        return CoverageClasses(
            sp.csr_array((0, cover.shape[1]), dtype=bool),
            np.zeros(0),
            label,
            uncoverable,
            fixed_covered,
        )
    sub = cover[keep]
    keys = _row_keys(sub)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    label[keep] = inverse
    weight = np.bincount(inverse, weights=weights[keep], minlength=len(first))
    matrix = sub[first]
    logger.debug("coverage classes: %d weighted rows -> %d classes", len(keep), len(first))
    return CoverageClasses(
        sp.csr_array(matrix, dtype=bool), weight, label, uncoverable, fixed_covered
    )


#: skip a dominance test whose pairwise intersection work (Σ count²) would exceed this
#: (measured: 2·10⁸ took 1.1 s on the 100k × 2k benchmark's 38,754 coverage classes)
_DOMINANCE_WORK = 2_000_000_000
_CHUNK = 2_000
#: about this many pairwise products per chunk (bounds the memory of one ``A[chunk] @ Aᵀ``)
_CHUNK_PRODUCTS = 20_000_000


def _chunk(n: int, work: float) -> int:
    """Rows per chunk so one chunk's product holds about ``_CHUNK_PRODUCTS`` entries."""
    return int(max(16, min(_CHUNK, _CHUNK_PRODUCTS * n / max(work, 1.0))))


def _subset_pairs(A: sp.csr_array, chunk_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(a, b)`` with ``a`` in ``chunk_rows``, ``b != a`` and ``row a ⊆ row b``."""
    size = np.diff(A.indptr)
    S = sp.coo_array(A[chunk_rows] @ A.T)
    a = chunk_rows[S.row]
    b = S.col.astype(np.int64)
    hit = (S.data == size[a]) & (b != a)
    return a[hit], b[hit]


def _work(A: sp.csr_array, axis: int) -> float:
    """Σ over the other axis of count², the size of ``A Aᵀ`` (axis 0) or ``Aᵀ A`` (axis 1)."""
    counts = np.diff(sp.csc_array(A).indptr) if axis == 0 else np.diff(A.indptr)
    return float((counts.astype(np.float64) ** 2).sum())


def dominated_rows(cover: sp.csr_array, max_work: float = _DOMINANCE_WORK) -> np.ndarray:
    """Mask of rows implied by another row of a covering system ``cover @ y >= 1``.

    Row ``b`` is redundant when some row ``a`` has ``cover[a] ⊆ cover[b]`` (covering ``a``
    covers ``b``); of identical rows the first is kept. Returns all False when the test would
    cost more than ``max_work`` (the reduction is optional). Empty rows are never dropped.
    """
    A = sp.csr_array(cover, dtype=np.int32)
    n = A.shape[0]
    out = np.zeros(n, dtype=bool)
    work = _work(A, 0)
    if n < 2 or work > max_work:
        return out
    size = np.diff(A.indptr)
    step = _chunk(n, work)
    for lo in range(0, n, step):
        a, b = _subset_pairs(A, np.arange(lo, min(lo + step, n)))
        # a ⊆ b with |a| == |b| means equal rows: drop only the later one
        drop = (size[b] > size[a]) | (b > a)
        out[b[drop & (size[a] > 0)]] = True
    return out


def dominated_columns(
    cover: sp.csr_array, fixed: np.ndarray, max_work: float = _DOMINANCE_WORK
) -> np.ndarray:
    """Mask of non-fixed columns whose rows are a subset of another column's rows.

    In a covering model where every open column costs the same (LSCP, or at most ``p`` sites
    for the p-center test), such a column can be swapped for its dominator in any solution, so
    leaving it out keeps an optimal solution. Of identical columns a fixed one (else the
    lowest-numbered) is kept; empty columns are always dominated. All False when the test
    would cost more than ``max_work``.
    """
    At = sp.csr_array(sp.csc_array(cover, dtype=np.int32).T)
    m = At.shape[0]
    out = np.zeros(m, dtype=bool)
    work = _work(At, 0)
    if m < 2 or work > max_work:
        return out
    fixed_mask = np.zeros(m, dtype=bool)
    fixed_mask[np.asarray(fixed, dtype=np.int64)] = True
    size = np.diff(At.indptr)
    out[(size == 0) & ~fixed_mask] = True
    step = _chunk(m, work)
    for lo in range(0, m, step):
        j, k = _subset_pairs(At, np.arange(lo, min(lo + step, m)))
        # column j's rows ⊆ column k's rows: drop j unless fixed; of equal columns keep the
        # fixed one, else the lowest index
        equal = size[j] == size[k]
        drop = ~fixed_mask[j] & (~equal | fixed_mask[k] | (k < j))
        out[j[drop]] = True
    return out
