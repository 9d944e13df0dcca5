"""Dominance reductions of covering models, cross-checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from solvers import LSCP, CostMatrix, PCenter, solve
from solvers.covering import reduce_cover
from solvers.reductions import dominated_columns, dominated_rows
from solvers.validation import coverage_limit


def _brute_rows(M: np.ndarray) -> np.ndarray:
    """Row b is redundant when an earlier-equal or strict-subset non-empty row exists."""
    n = len(M)
    out = np.zeros(n, dtype=bool)
    for a, b in itertools.permutations(range(n), 2):
        sa, sb = M[a], M[b]
        if sa.any() and not (sa & ~sb).any() and (sa.sum() < sb.sum() or a < b):
            out[b] = True
    return out


def _brute_cols(M: np.ndarray, fixed: set[int]) -> np.ndarray:
    m = M.shape[1]
    out = np.zeros(m, dtype=bool)
    for j in range(m):
        if j in fixed:
            continue
        if not M[:, j].any():
            out[j] = True
            continue
        for k in range(m):
            if k == j or (M[:, j] & ~M[:, k]).any():
                continue
            if M[:, j].sum() < M[:, k].sum() or k in fixed or k < j:
                out[j] = True
    return out


@pytest.mark.parametrize("seed", range(20))
def test_dominance_masks_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    M = rng.random((12, 7)) < 0.35
    M[rng.integers(0, 12)] = M[rng.integers(0, 12)]  # an identical pair
    M[:, rng.integers(0, 7)] = M[:, rng.integers(0, 7)]
    fixed = set(rng.choice(7, size=int(rng.integers(0, 3)), replace=False).tolist())
    A = sp.csr_array(M)
    assert (dominated_rows(A) == _brute_rows(M)).all()
    got = dominated_columns(A, np.array(sorted(fixed), dtype=np.int64))
    assert (got == _brute_cols(M, fixed)).all()


def test_identical_rows_keep_exactly_one() -> None:
    M = sp.csr_array(np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1]], dtype=bool))
    assert dominated_rows(M).tolist() == [False, True, True, True]


def test_dominance_skipped_above_the_work_limit() -> None:
    M = sp.csr_array(np.array([[1, 0], [1, 1]], dtype=bool))
    assert dominated_rows(M, max_work=1).tolist() == [False, False]
    assert dominated_columns(M, np.zeros(0, dtype=np.int64), max_work=1).tolist() == [False] * 2


def test_reduce_cover_keeps_fixed_and_maps_columns() -> None:
    M = sp.csr_array(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool))
    sub, cols, sub_fixed, info = reduce_cover(M, np.array([0]))
    # column 2 ⊆ column 1 is dropped; column 0 ⊆ column 1 stays (fixed); then row 0 ⊇ row 1
    assert cols.tolist() == [0, 1, 3] and cols[sub_fixed].tolist() == [0]
    assert np.asarray(sub.todense()).astype(int).tolist() == [[0, 1, 0], [0, 0, 1]]
    assert info == {"rows_after_dominance": 2, "sites_after_dominance": 3}


@pytest.mark.parametrize("seed", range(25))
def test_lscp_and_pcenter_optimal_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(5, 25)), int(rng.integers(3, 9))
    D = rng.random((n, m)).round(2)
    fixed = rng.choice(m, size=int(rng.integers(0, 2)), replace=False)
    C = CostMatrix.from_dense(D)
    r = float(D.min(axis=1).max()) + 0.05
    s = solve(LSCP(C, threshold=r, fixed=fixed))
    # coverage is inclusive with round-off: 0.32 + 0.05 covers a cost of 0.37
    limit = coverage_limit(r)
    best = min(
        k
        for k in range(m + 1)
        for S in itertools.combinations(range(m), k)
        if set(fixed.tolist()) <= set(S) and (D[:, list(S)] <= limit).any(axis=1).all()
    )
    assert s.status == "optimal" and s.objective == best
    assert set(fixed.tolist()) <= set(s.open_sites.tolist())
    assert (D[:, s.open_sites] <= limit).any(axis=1).all()
    p = int(rng.integers(max(1, len(fixed)), m))
    s = solve(PCenter(C, p=p, fixed=fixed))
    bp = min(
        D[:, list(S)].min(axis=1).max()
        for S in itertools.combinations(range(m), p)
        if set(fixed.tolist()) <= set(S)
    )
    assert s.status == "optimal" and abs(s.objective - bp) < 1e-12
    assert len(s.open_sites) == p


# ----------------------------------------------------------------- MCLP: interior-point LP first
def _mclp_bruteforce(cover: np.ndarray, w: np.ndarray, p: int, fixed: tuple[int, ...]) -> float:
    free = [j for j in range(cover.shape[1]) if j not in fixed]
    best = 0.0
    for extra in itertools.combinations(free, p - len(fixed)):
        chosen = list(fixed) + list(extra)
        best = max(best, float(w[cover[:, chosen].any(axis=1)].sum()))
    return best


def test_lp_relaxation_bound_of_a_hand_checked_cover() -> None:
    # three sites with disjoint demand sets of weight 5, 3 and 2; p = 2: LP optimum 8, integral
    from solvers._mip import lp_relaxation
    from solvers.formulations import max_cover_mip
    from solvers.options import SolveOptions

    cover = sp.csr_array(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=bool))
    mip = max_cover_mip(cover, np.array([2.0, 3.0, 3.0, 2.0]), 2, np.zeros(0, dtype=np.int64))
    relax = lp_relaxation(mip, SolveOptions())
    assert relax is not None
    assert relax.bound == pytest.approx(8.0, rel=1e-6) and relax.bound >= 8.0
    assert relax.x[:3] == pytest.approx([1.0, 1.0, 0.0], abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_mclp_lp_first_path_matches_brute_force(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # force the large-model path (LP by interior point, rounding, then the MIP) on small
    # random instances and check the optimum, the bound and the proof against brute force
    import solvers.covering as covering

    rng = np.random.default_rng(seed)
    n, m, p = 60, 9, 3
    pts, sites = rng.random((n, 2)), rng.random((m, 2))
    d = np.linalg.norm(pts[:, None] - sites[None], axis=2)
    w = rng.integers(1, 10, n).astype(float)
    fixed = (0,) if seed % 2 else ()
    best = _mclp_bruteforce(d <= 0.3, w, p, fixed)
    model_args = {"threshold": 0.3, "p": p, "weights": w, "fixed": list(fixed)}
    from solvers import MCLP

    regular = solve(MCLP(CostMatrix.from_dense(d), **model_args))
    monkeypatch.setattr(covering, "_LP_FIRST_PAIRS", 0)
    forced = solve(MCLP(CostMatrix.from_dense(d), **model_args))
    assert regular.status == forced.status == "optimal"
    assert regular.objective == forced.objective == pytest.approx(best)
    assert forced.details["lp_bound"] >= best - 1e-9
    assert forced.details["lp_rounded"] <= best + 1e-9
    assert set(fixed) <= set(forced.open_sites.tolist()) and len(forced.open_sites) == p
    # with a time limit a large model also runs the iterated local search before the MIP; its
    # kicks stop after _KICK_STALL without a better plan, long before this generous limit
    timed = solve(MCLP(CostMatrix.from_dense(d), **model_args), time_limit=600)
    assert timed.status == "optimal" and timed.objective == pytest.approx(best)
    if "kicks" in timed.details:  # not proven by the LP bound: local search, then the MIP
        assert timed.details["lp_rounded"] <= timed.details["kicked_value"] <= best + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_mclp_perturb_reaches_the_optimum_and_keeps_fixed_sites(seed: int) -> None:
    from solvers.heuristics import mclp_perturb

    rng = np.random.default_rng(50 + seed)
    n, m, p = 80, 10, 3
    pts, sites = rng.random((n, 2)), rng.random((m, 2))
    cover = np.linalg.norm(pts[:, None] - sites[None], axis=2) <= 0.25
    w = rng.integers(1, 10, n).astype(float)
    fixed = (4,) if seed % 2 else ()
    best = _mclp_bruteforce(cover, w, p, fixed)
    worst_start = np.array(list(fixed) + [j for j in range(m) if j not in fixed][: p - len(fixed)])
    M = sp.csr_array(cover.astype(float))
    plan, kicks = mclp_perturb(M, w, worst_start, fixed, stall=40, seed=seed)
    assert kicks >= 40 and len(plan) == p and set(fixed) <= set(plan.tolist())
    assert float(w[cover[:, plan].any(axis=1)].sum()) == pytest.approx(best)
    again, _ = mclp_perturb(M, w, worst_start, fixed, stall=40, seed=seed)
    np.testing.assert_array_equal(again, plan)
    with pytest.raises(ValueError, match="stall"):
        mclp_perturb(M, w, worst_start, fixed, stall=None)


# ----------------------------------------------------------------- min_cover: its steps decide
def _min_cover_brute(M: np.ndarray, fixed: tuple[int, ...]) -> int:
    m = M.shape[1]
    for k in range(m + 1):
        for S in itertools.combinations(range(m), k):
            if set(fixed) <= set(S) and M[:, list(S)].any(axis=1).all():
                return k
    raise AssertionError("no cover")


def _random_cover(rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, ...]]:
    n, m = int(rng.integers(8, 30)), int(rng.integers(6, 12))
    M = rng.random((n, m)) < rng.uniform(0.15, 0.4)
    M[np.arange(n), rng.integers(0, m, n)] = True  # every row coverable
    fixed = tuple(int(j) for j in rng.choice(m, size=int(rng.integers(0, 2)), replace=False))
    return M, fixed


def test_min_cover_steps_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    from solvers import covering
    from solvers.options import SolveOptions

    seen: set[str] = set()
    for seed in range(40):
        rng = np.random.default_rng(500 + seed)
        M, fixed = _random_cover(rng)
        best = _min_cover_brute(M, fixed)
        cover, f = sp.csr_array(M), np.array(fixed, dtype=np.int64)
        out = covering.min_cover(cover, f, SolveOptions())
        seen.add(out.decided_by)
        assert out.status == "optimal" and len(out.sites) == best, seed
        assert M[:, out.sites].any(axis=1).all() and set(fixed) <= set(out.sites.tolist())
        assert out.bound is not None and out.bound <= best + 1e-9
        # the feasibility question, both sides of the optimum
        no = covering.min_cover(cover, f, SolveOptions(), max_sites=best - 1)
        assert no.status == "infeasible" and no.sites is None, seed
        yes = covering.min_cover(cover, f, SolveOptions(), max_sites=best)
        assert yes.sites is not None and len(yes.sites) <= best
        assert M[:, yes.sites].any(axis=1).all() and set(fixed) <= set(yes.sites.tolist())
        seen |= {no.decided_by, yes.decided_by}
    # the instances exercise the steps before the MIP (the next test forces the MIP)
    assert {"greedy", "lp", "support"} <= seen, seen


def test_min_cover_without_the_lp_steps_decides_by_the_mip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from solvers import covering
    from solvers.options import SolveOptions

    # as when the LP does not finish in its share of the time
    monkeypatch.setattr(covering, "lp_relaxation", lambda *args, **kwargs: None)
    for seed in range(10):
        M, fixed = _random_cover(np.random.default_rng(900 + seed))
        best = _min_cover_brute(M, fixed)
        cover, f = sp.csr_array(M), np.array(fixed, dtype=np.int64)
        out = covering.min_cover(cover, f, SolveOptions())
        assert out.status == "optimal" and len(out.sites) == best and out.decided_by == "mip"
        assert M[:, out.sites].any(axis=1).all()
        no = covering.min_cover(cover, f, SolveOptions(), max_sites=best - 1)
        assert no.status == "infeasible" and no.decided_by == "mip"
        yes = covering.min_cover(cover, f, SolveOptions(), max_sites=best)
        assert yes.sites is not None and len(yes.sites) <= best


def test_lscp_solution_reports_which_step_decided() -> None:
    # two disjoint groups of three rows; columns 0 and 1 cover one group each, column 2 the
    # middle rows of both: greedy takes 0 and 1, the LP bound (2) proves it minimal
    D = np.array([[0.1, 9, 9], [0.1, 9, 0.1], [0.1, 9, 9], [9, 0.1, 9], [9, 0.1, 0.1], [9, 0.1, 9]])
    s = solve(LSCP(CostMatrix.from_dense(D), threshold=0.5))
    assert s.status == "optimal" and s.objective == 2.0 and s.bound == 2.0
    assert sorted(s.open_sites.tolist()) == [0, 1] and s.details["decided_by"] == "lp"


@pytest.mark.parametrize("seed", range(4))
def test_pcenter_cheap_phases_then_exact_match_brute_force(seed: int) -> None:
    # Euclidean points: many distinct radii, so the greedy and LP phases narrow the range
    # before the exact tests; the optimum must still be the brute-force one
    rng = np.random.default_rng(40 + seed)
    demand, cand = rng.random((200, 2)), rng.random((18, 2))
    D = np.sqrt(((demand[:, None, :] - cand[None, :, :]) ** 2).sum(axis=2))
    p = 4
    s = solve(PCenter(CostMatrix.from_dense(D), p=p))
    best = min(D[:, list(S)].min(axis=1).max() for S in itertools.combinations(range(18), p))
    assert s.status == "optimal" and s.objective == pytest.approx(best, abs=1e-12)
    assert s.bound == pytest.approx(best, abs=1e-12) and len(s.open_sites) == p
    steps = {k: v for k, v in s.details.items() if k.startswith("decided_by_")}
    assert sum(steps.values()) <= s.details["iterations"]
    # the cheap phases ran and decided some steps
    assert steps.get("decided_by_greedy", 0) + steps.get("decided_by_lp", 0) > 0


def test_pcenter_farthest_first_by_hand() -> None:
    from solvers.heuristics import pcenter_farthest

    # demand on a line at 0, 1 and 10; sites at 0, 10, 1 and 5
    demand, sites = np.array([0.0, 1.0, 10.0]), np.array([0.0, 10.0, 1.0, 5.0])
    C = CostMatrix.from_dense(np.abs(demand[:, None] - sites[None, :]))
    none = np.zeros(0, dtype=np.int64)
    # first the cheapest site of demand 0 (site 0), then of the farthest demand (10: site 1)
    assert pcenter_farthest(C, np.ones(3), 2, none).tolist() == [0, 1]
    # a fixed site opens first: with site 3 (at 5) open, demand 0 is farthest (5)
    assert pcenter_farthest(C, np.ones(3), 2, np.array([3])).tolist() == [0, 3]
    # weight 0 demand is ignored: only demand 1 counts, its cheapest site is 2
    assert pcenter_farthest(C, np.array([0.0, 1.0, 0.0]), 1, none).tolist() == [2]


def test_pcenter_reports_when_no_p_sites_reach_all_demand() -> None:
    # demand 0 reaches only site 0, demand 1 only site 1: one site cannot serve both
    C = CostMatrix.from_triples(np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0]), (2, 2))
    s = solve(PCenter(C, p=1))
    assert s.status == "infeasible" and len(s.open_sites) == 0
    assert s.reason == "no plan of p = 1 sites (fixed ones included) reaches every demand point"
    s = solve(PCenter(C, p=2))
    assert s.status == "optimal" and s.objective == 2.0 and s.open_sites.tolist() == [0, 1]
    # the other backends: CBC proves the same; the heuristic only says it found no plan
    assert solve(PCenter(C, p=1), backend="cbc").status == "infeasible"
    s = solve(PCenter(C, p=1), backend="heuristic")
    assert s.status == "no_solution"
    assert s.reason == "the heuristic found no plan of p sites reaching every demand point"


def test_cost_matrix_truncated_keeps_zero_costs_and_drops_the_rest() -> None:
    C = CostMatrix.from_dense(np.array([[0.0, 2.0, 1.0], [3.0, 0.5, 4.0]]))
    T = C.truncated(1.0)
    assert T.shape == C.shape and T.nnz == 3
    assert T.to_dense().tolist() == [[0.0, np.inf, 1.0], [np.inf, 0.5, np.inf]]


def test_min_cover_rejects_an_unknown_step() -> None:
    from siting_errors import InputError
    from solvers.covering import min_cover
    from solvers.options import SolveOptions

    cover = sp.csr_array(np.eye(3, dtype=bool))
    with pytest.raises(InputError, match="`stop_after` must be None, 'greedy' or 'lp', got 'mip'"):
        min_cover(cover, np.zeros(0, dtype=np.int64), SolveOptions(), stop_after="mip")
