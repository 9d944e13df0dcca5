"""Exact model reductions: merging demand rows with identical coverage sets, dropping rows that
are constant (uncoverable, or already covered by a fixed site)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["CoverageClasses", "coverage_classes"]

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
