"""Sparse demand × site cost matrices: the one input type of every model in ``solvers``.

A stored entry is a reachable (demand, site) pair with its cost (travel time, distance); a pair
that is not stored is unreachable. Explicit zero costs are kept (a demand point on a site's node
costs 0 and is reachable), which is why this wrapper exists instead of a bare scipy matrix:
scipy drops explicit zeros in many operations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting_errors import InputError
from solvers.validation import coverage_limit

__all__ = ["CostMatrix"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CostMatrix:
    """Immutable CSR cost matrix, rows = demand points, columns = candidate sites.

    Build it with :meth:`from_dense`, :meth:`from_triples` or :meth:`from_scipy`; never mutate
    the arrays. Duplicate (demand, site) pairs keep the smallest cost.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]
    _csc: list[Any] = field(default_factory=list, repr=False)

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_triples(
        cls,
        rows: np.ndarray,
        cols: np.ndarray,
        costs: np.ndarray,
        shape: tuple[int, int],
    ) -> CostMatrix:
        """Build from parallel arrays of demand index, site index and cost."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        costs = np.asarray(costs, dtype=np.float64).ravel()
        n_demand, n_sites = (int(shape[0]), int(shape[1]))
        if not (len(rows) == len(cols) == len(costs)):
            raise InputError(
                "cost triples must have equal lengths, got "
                f"rows={len(rows)}, cols={len(cols)}, costs={len(costs)}"
            )
        if n_demand < 0 or n_sites < 0:
            raise InputError(f"cost matrix shape must be non-negative, got {shape}")
        if len(rows):
            if rows.min() < 0 or rows.max() >= n_demand:
                raise InputError(
                    f"demand index must be in [0, {n_demand}), got values in "
                    f"[{rows.min()}, {rows.max()}]"
                )
            if cols.min() < 0 or cols.max() >= n_sites:
                raise InputError(
                    f"site index must be in [0, {n_sites}), got values in "
                    f"[{cols.min()}, {cols.max()}]"
                )
            bad = ~np.isfinite(costs) | (costs < 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(
                    "costs must be finite and non-negative (leave unreachable pairs out), got "
                    f"{costs[i]!r} for demand {rows[i]}, site {cols[i]} ({int(bad.sum())} bad)"
                )
        key = rows * n_sites + cols
        if len(key) > 1 and not (key[1:] > key[:-1]).all():
            # sort by (row, col), cheapest first within a pair, then keep the first of each
            # duplicate pair (input already in row-major order, e.g. from a dense or CSR
            # matrix, skips this: it was 90 % of building a 5,000 × 300 dense matrix)
            order = np.lexsort((costs, key))
            rows, cols, costs, key = rows[order], cols[order], costs[order], key[order]
            keep = np.ones(len(rows), dtype=bool)
            keep[1:] = key[1:] != key[:-1]
            rows, cols, costs = rows[keep], cols[keep], costs[keep]
        indptr = np.zeros(n_demand + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(rows, minlength=n_demand))
        return cls(
            indptr,
            cols.astype(np.int32 if n_sites < 2**31 else np.int64),
            costs,
            (n_demand, n_sites),
        )

    @classmethod
    def from_dense(cls, costs: np.ndarray, cutoff: float = np.inf) -> CostMatrix:
        """Build from a dense array; ``inf``, ``nan`` and entries ``> cutoff`` are unreachable."""
        arr = np.asarray(costs, dtype=np.float64)
        if arr.ndim != 2:
            raise InputError(f"cost matrix must be 2-dimensional, got shape {arr.shape}")
        keep = np.isfinite(arr) & (arr <= cutoff)
        rows, cols = np.nonzero(keep)
        return cls.from_triples(rows, cols, arr[rows, cols], arr.shape)

    @classmethod
    def from_scipy(cls, matrix: sp.spmatrix | sp.sparray) -> CostMatrix:
        """Build from a scipy sparse matrix; every *stored* entry (zeros included) is reachable."""
        coo = sp.coo_array(matrix)
        return cls.from_triples(coo.row, coo.col, coo.data, coo.shape)

    # ----------------------------------------------------------------- views
    @property
    def n_demand(self) -> int:
        """Number of demand points (rows)."""
        return self.shape[0]

    @property
    def n_sites(self) -> int:
        """Number of candidate sites (columns)."""
        return self.shape[1]

    @property
    def nnz(self) -> int:
        """Number of reachable pairs."""
        return len(self.data)

    def csr(self) -> sp.csr_array:
        """The matrix as a scipy CSR array (explicit zeros kept)."""
        return sp.csr_array((self.data, self.indices, self.indptr), shape=self.shape)

    def csc(self) -> sp.csc_array:
        """The matrix as a scipy CSC array (explicit zeros kept; computed once)."""
        if not self._csc:
            self._csc.append(self.csr().tocsc())
        return self._csc[0]

    def rows(self) -> np.ndarray:
        """Demand index of every stored entry (CSR order)."""
        return np.repeat(np.arange(self.n_demand, dtype=np.int64), np.diff(self.indptr))

    def _kept(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """The entries within ``threshold`` (see :func:`~solvers.validation.coverage_limit`)
        and the CSR row pointer of those entries."""
        mask = self.data <= coverage_limit(threshold)
        kept = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
        return mask, kept[self.indptr]

    def within(self, threshold: float) -> sp.csr_array:
        """Boolean coverage matrix: ``cost <= threshold`` (inclusive, with the tolerance of
        :func:`~solvers.validation.coverage_limit`), unreachable pairs False."""
        mask, indptr = self._kept(threshold)
        return sp.csr_array(
            (np.ones(int(mask.sum()), dtype=bool), self.indices[mask], indptr), shape=self.shape
        )

    def truncated(self, threshold: float) -> CostMatrix:
        """The pairs with ``cost <= threshold`` (inclusive, with the tolerance of
        :func:`~solvers.validation.coverage_limit`) as a cost matrix; the others become
        unreachable."""
        mask, indptr = self._kept(threshold)
        return CostMatrix(indptr, self.indices[mask], self.data[mask], self.shape)

    def restrict_sites(self, sites: np.ndarray) -> CostMatrix:
        """The sub-matrix of the given site columns, renumbered ``0..len(sites)-1`` in order."""
        sites = np.asarray(sites, dtype=np.int64).ravel()
        new_index = np.full(self.n_sites, -1, dtype=np.int64)
        new_index[sites] = np.arange(len(sites))
        mapped = new_index[self.indices]
        keep = mapped >= 0
        return CostMatrix.from_triples(
            self.rows()[keep], mapped[keep], self.data[keep], (self.n_demand, len(sites))
        )

    def to_dense(self, fill: float = np.inf) -> np.ndarray:
        """Dense array with ``fill`` for unreachable pairs (only for small matrices)."""
        out = np.full(self.shape, fill, dtype=np.float64)
        out[self.rows(), self.indices] = self.data
        return out

    def row_min(self) -> np.ndarray:
        """Smallest cost per demand point (``inf`` where no site is reachable)."""
        out = np.full(self.n_demand, np.inf)
        nonempty = np.diff(self.indptr) > 0
        if self.nnz:
            out[nonempty] = np.minimum.reduceat(self.data, self.indptr[:-1][nonempty])
        return out
