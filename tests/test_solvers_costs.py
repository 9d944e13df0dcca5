"""CostMatrix: explicit zeros kept, duplicates keep the cheapest, inclusive coverage, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from siting_errors import InputError
from solvers import CostMatrix


def test_zero_cost_pairs_are_reachable() -> None:
    m = CostMatrix.from_triples([0, 1], [1, 0], [0.0, 2.0], (2, 2))
    assert m.nnz == 2
    dense = m.to_dense()
    assert dense[0, 1] == 0.0 and np.isinf(dense[0, 0])
    assert m.within(0.0).toarray().tolist() == [[False, True], [False, False]]
    # a scipy matrix built from it keeps the explicit zero
    assert m.csr().nnz == 2 and m.csc().nnz == 2


def test_duplicates_keep_the_cheapest() -> None:
    m = CostMatrix.from_triples([0, 0, 0], [1, 1, 0], [5.0, 3.0, 7.0], (1, 2))
    assert m.to_dense().tolist() == [[7.0, 3.0]]


def test_sorted_and_shuffled_triples_give_the_same_matrix() -> None:
    # row-major input skips the sort; shuffled input with duplicates is sorted and deduplicated
    rng = np.random.default_rng(7)
    dense = 1.0 + rng.random((40, 9)) * 10
    dense[rng.random(dense.shape) < 0.3] = np.inf
    ordered = CostMatrix.from_dense(dense)
    r, c = np.nonzero(np.isfinite(dense))
    perm = rng.permutation(len(r))
    dup = perm[:25]
    rows = np.r_[r[perm], r[dup], r[dup]]
    cols = np.r_[c[perm], c[dup], c[dup]]
    costs = np.r_[dense[r, c][perm], dense[r[dup], c[dup]] + 1.0, dense[r[dup], c[dup]] - 0.5]
    shuffled = CostMatrix.from_triples(rows, cols, costs, dense.shape)
    expect = dense.copy()
    expect[r[dup], c[dup]] -= 0.5
    assert np.array_equal(ordered.to_dense(), dense)
    assert np.array_equal(shuffled.to_dense(), expect)
    assert np.array_equal(shuffled.indptr, ordered.indptr)


def test_within_is_inclusive() -> None:
    m = CostMatrix.from_dense(np.array([[10.0, 10.000001], [9.999, np.inf]]))
    assert m.within(10.0).toarray().tolist() == [[True, False], [True, False]]


def test_from_dense_cutoff_and_row_min() -> None:
    m = CostMatrix.from_dense(np.array([[1.0, 4.0], [np.inf, np.nan]]), cutoff=3.0)
    assert m.nnz == 1
    assert m.row_min().tolist() == [1.0, np.inf]


def test_restrict_sites_renumbers_in_given_order() -> None:
    m = CostMatrix.from_dense(np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]))
    sub = m.restrict_sites(np.array([2, 0]))
    assert sub.to_dense().tolist() == [[2.0, 0.0], [5.0, 3.0]]


def test_from_scipy_keeps_stored_zeros() -> None:
    s = sp.csr_array((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    assert CostMatrix.from_scipy(s).nnz == 2


@pytest.mark.parametrize(
    ("rows", "cols", "costs", "message"),
    [
        ([0], [0], [-1.0], "costs must be finite and non-negative"),
        ([0], [0], [np.nan], "costs must be finite and non-negative"),
        ([2], [0], [1.0], r"demand index must be in \[0, 2\)"),
        ([0], [5], [1.0], r"site index must be in \[0, 2\)"),
        ([0, 1], [0], [1.0], "cost triples must have equal lengths"),
    ],
)
def test_bad_triples(rows: list, cols: list, costs: list, message: str) -> None:
    with pytest.raises(InputError, match=message):
        CostMatrix.from_triples(rows, cols, costs, (2, 2))


@pytest.mark.parametrize("seed", range(8))
def test_nearest_assignment_matches_brute_force_with_ties(seed: int) -> None:
    from solvers._common import nearest_assignment

    rng = np.random.default_rng(seed)
    n, m = 60, 9
    D = rng.integers(0, 4, size=(n, m)).astype(float)  # many ties, explicit zeros
    stored = rng.random((n, m)) < 0.5
    rows, cols = np.nonzero(stored)
    C = CostMatrix.from_triples(rows, cols, D[rows, cols], (n, m))
    open_sites = rng.choice(m, size=4, replace=False)
    assign, cost = nearest_assignment(C, open_sites)
    for i in range(n):
        options = [(D[i, j], j) for j in sorted(open_sites) if stored[i, j]]
        if not options:
            assert assign[i] == -1 and cost[i] == np.inf
        else:
            want_cost, want_site = min(options)
            assert (assign[i], cost[i]) == (want_site, want_cost)
    assert nearest_assignment(C, np.zeros(0, dtype=np.int64))[0].tolist() == [-1] * n
