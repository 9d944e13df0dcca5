"""Reachable (demand, site) pairs sorted by cost within each demand row, for p-median work.

The heuristics, the Lagrangian bound and the radius formulation all walk each demand's sites
from nearest to farthest; this is that walk, built once and vectorised (no per-row loops).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from solvers.costs import CostMatrix

logger = logging.getLogger(__name__)


def ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``range(starts[k], starts[k] + lengths[k])`` for every ``k``, concatenated, and for
    each element its ``k`` (vectorised, no loop over the ranges)."""
    seg = np.repeat(np.arange(len(starts)), lengths)
    if len(seg) == 0:
        return np.zeros(0, dtype=np.int64), seg
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return offsets + np.arange(len(seg)), seg


def first_two(
    flag: np.ndarray, starts: np.ndarray, ends: np.ndarray, seg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For consecutive segments ``flag[starts[k]:ends[k]]`` (``seg``: each element's ``k``):
    the positions of each segment's first and second True (-1 if none), and its count."""
    cum = np.cumsum(flag, dtype=np.int64)
    padded = np.concatenate([[0], cum])
    before = padded[starts]
    rank = cum - before[seg]  # 1 at the segment's first True, 2 at its second
    first = np.full(len(starts), -1, dtype=np.int64)
    second = np.full(len(starts), -1, dtype=np.int64)
    pos1 = np.flatnonzero(flag & (rank == 1))
    pos2 = np.flatnonzero(flag & (rank == 2))
    first[seg[pos1]] = pos1
    second[seg[pos2]] = pos2
    return first, second, padded[ends] - before


@dataclass(frozen=True, eq=False)
class SortedPairs:
    """Pairs of the active demand rows, sorted by ``(row, cost, site)``.

    Attributes:
        rows: original demand index of every kept row (``n`` rows).
        weight: weight of every kept row.
        indptr: row pointers into the pair arrays (length ``n + 1``).
        row: kept-row index of every pair.
        site: site index of every pair.
        cost: cost of every pair.
        n_sites: number of candidate sites (columns).
        truncated: per row, True when farther pairs were left out (see :meth:`nearest`).
        next_cost: per row, the cost of the nearest pair left out (``inf`` if none).
    """

    rows: np.ndarray
    weight: np.ndarray
    indptr: np.ndarray
    row: np.ndarray
    site: np.ndarray
    cost: np.ndarray
    n_sites: int
    truncated: np.ndarray
    next_cost: np.ndarray

    @classmethod
    def build(cls, costs: CostMatrix, weights: np.ndarray, active: np.ndarray) -> SortedPairs:
        """Pairs of the demand rows where ``active`` is True."""
        rows = np.flatnonzero(active)
        new_row = np.full(costs.n_demand, -1, dtype=np.int64)
        new_row[rows] = np.arange(len(rows))
        all_rows = costs.rows()
        keep = active[all_rows]
        r = new_row[all_rows[keep]]
        j = costs.indices[keep].astype(np.int64)
        c = costs.data[keep]
        order = np.lexsort((j, c, r))
        r, j, c = r[order], j[order], c[order]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=len(rows)), out=indptr[1:])
        n = len(rows)
        return cls(
            rows,
            np.asarray(weights, dtype=np.float64)[rows],
            indptr,
            r,
            j,
            c,
            costs.n_sites,
            np.zeros(n, dtype=bool),
            np.full(n, np.inf),
        )

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def nnz(self) -> int:
        return len(self.site)

    def rank(self) -> np.ndarray:
        """Position of every pair within its row (0 = nearest)."""
        return np.arange(self.nnz) - self.indptr[self.row]

    @cached_property
    def by_site(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair indices ordered by site, and each site's range in that order (``m + 1``)."""
        ptr = np.zeros(self.n_sites + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.site, minlength=self.n_sites), out=ptr[1:])
        return np.argsort(self.site, kind="stable"), ptr

    def row_pairs(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pair indices of ``rows`` concatenated in order, and each one's position in ``rows``."""
        starts = self.indptr[rows]
        return ranges(starts, self.indptr[rows + 1] - starts)

    def nearest(self, k: int) -> SortedPairs:
        """Only the ``k`` nearest pairs of every row (ties at the cut kept whole).

        A row that loses pairs is marked ``truncated`` and remembers the cost of its nearest
        dropped pair in ``next_cost``: every dropped pair costs at least that much.
        """
        counts = np.diff(self.indptr)
        if k <= 0 or counts.max(initial=0) <= k:
            return self
        rank = self.rank()
        cut_cost = np.full(self.n_rows, np.inf)
        long_rows = counts > k
        cut_cost[long_rows] = self.cost[self.indptr[:-1][long_rows] + k]
        keep = (rank < k) | (self.cost < cut_cost[self.row])  # ties with the k-th stay
        dropped = ~keep
        next_cost = np.full(self.n_rows, np.inf)
        np.minimum.at(next_cost, self.row[dropped], self.cost[dropped])
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.row[keep], minlength=self.n_rows), out=indptr[1:])
        return SortedPairs(
            self.rows,
            self.weight,
            indptr,
            self.row[keep],
            self.site[keep],
            self.cost[keep],
            self.n_sites,
            self.truncated | np.isfinite(next_cost),
            np.minimum(self.next_cost, next_cost),
        )

    def nearest_open(self, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: position (pair index) of the nearest and second-nearest open site, -1 if none.

        Also returns the number of open sites among the row's pairs.
        """
        return first_two(is_open[self.site], self.indptr[:-1], self.indptr[1:], self.row)

    def restrict_sites(self, sites: np.ndarray) -> tuple[SortedPairs, np.ndarray]:
        """Pairs of the given sites only, renumbered ``0..len(sites)-1``; also the old→new map."""
        new = np.full(self.n_sites, -1, dtype=np.int64)
        new[sites] = np.arange(len(sites))
        mapped = new[self.site]
        keep = mapped >= 0
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.row[keep], minlength=self.n_rows), out=indptr[1:])
        out = SortedPairs(
            self.rows,
            self.weight,
            indptr,
            self.row[keep],
            mapped[keep],
            self.cost[keep],
            len(sites),
            self.truncated,
            self.next_cost,
        )
        return out, new

    def is_integral(self) -> bool:
        """True when every weighted cost is an integer (objective values are then integers)."""
        wc = self.weight[self.row] * self.cost
        return bool(np.all(wc == np.round(wc)))
