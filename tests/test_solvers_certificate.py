"""Every answer certified: the reproducers of issue 15 (HiGHS's warm-start vector, sparse
p-median, solver threads, ids in messages), the certificate's own rules, and the numerics of
bounds and coverage."""

from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from siting.matrix import load_cost_table, load_demand_table, solve_matrix
from siting_errors import InputError
from solvers import (
    LSCP,
    MCLP,
    CapacitatedPMedian,
    CostMatrix,
    PCenter,
    PMedian,
    Solution,
    coverage_limit,
    finite_non_negative,
    solve,
)
from solvers.certificate import certify, meets_bound, optimality_tol
from solvers.result import Status

solve_module = importlib.import_module("solvers.solve")  # `solvers.solve` is the function

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PuLP 3 on the cbc backend


# --------------------------------------------------------------------------- A: HiGHS warm start
def _reproducer_a() -> LSCP:
    rng = np.random.default_rng(31)
    n = int(rng.integers(60, 200))
    xy = rng.integers(0, 1000, size=(n, 2)).astype(float)
    D = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    return LSCP(CostMatrix.from_dense(D), threshold=120)


def test_lscp_after_a_warm_start_is_the_optimum_25_not_the_start_26() -> None:
    """HiGHS 1.16 took the 26-site greedy cover as its start, proved 25 optimal in its
    presolved space and handed back the 26-site vector; it was reported optimal, gap 0."""
    model = _reproducer_a()
    sol = solve(model)
    assert sol.status == "optimal" and sol.objective == 25.0 and len(sol.open_sites) == 25
    assert sol.bound == 25.0 and sol.gap == 0.0
    within = model.costs.within(model.threshold).toarray()
    assert within[:, sol.open_sites].any(axis=1).all()  # the 25 sites cover everyone
    assert solve(model, backend="cbc").objective == 25.0


def test_the_mip_layer_returns_the_vector_s_own_objective() -> None:
    """At the MIP layer: with the warm start HiGHS mishandles, the outcome's objective is the
    returned vector's own and that vector is optimal (solved again without the start)."""
    from solvers._mip import solve_mip, vector_objective
    from solvers.covering import reduce_cover
    from solvers.formulations import set_cover_mip
    from solvers.heuristics import greedy_cover
    from solvers.options import SolveOptions
    from solvers.reductions import coverage_classes

    model = _reproducer_a()
    none = np.zeros(0, dtype=np.int64)
    classes = coverage_classes(model.costs.within(model.threshold), model.weights, none)
    sub, _, sub_fixed, _ = reduce_cover(classes.matrix, none)
    mip = set_cover_mip(sub, sub_fixed)
    warm = np.zeros(sub.shape[1])
    warm[greedy_cover(sub, sub_fixed)] = 1.0
    assert warm.sum() == 26
    out = solve_mip(mip, SolveOptions(), warm_start=warm)
    assert out.x is not None and out.objective == vector_objective(mip, out.x) == 25.0
    assert out.status == "optimal" and out.bound == 25.0


def test_the_smallest_known_warm_start_case() -> None:
    """5 rows, 5 columns: HiGHS 1.16 drops the dominated column 3 of the start (0,0,0,1,1) in
    presolve, calls the rest "feasible in the reduced space: objective 1", reports optimal 1
    with bound 1, and returns the start (objective 2, the true optimum)."""
    import scipy.sparse as sp

    from solvers._mip import solve_mip
    from solvers.formulations import set_cover_mip
    from solvers.options import SolveOptions

    A = [[0, 0, 1, 0, 1], [0, 1, 1, 0, 1], [1, 1, 0, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 0]]
    mip = set_cover_mip(sp.csr_array(np.array(A, dtype=bool)), np.zeros(0, dtype=np.int64))
    out = solve_mip(mip, SolveOptions(), warm_start=np.array([0.0, 0, 0, 1, 1]))
    assert out.status == "optimal" and out.objective == 2.0 and out.bound == 2.0
    assert out.x is not None and out.x.sum() == 2.0


# --------------------------------------------------------------------------- B: sparse p-median
SPARSE_B = (
    "d0:s1 d1:s3 d2:s11 d3:s4 d4:s7|s8 d5:s5|s8 d6:s2 d7:s10 d8:s6 d9:s7|s8 d10:s9 d11:s0|s7 d12:s0"
)


@pytest.fixture
def sparse_b(tmp_path: Path) -> tuple[Path, Path]:
    """Issue 15's reproducer B: every cost 1, each demand reaching the sites listed."""
    costs, demand = ["demand_id,site_id,cost"], ["demand_id,weight"]
    for token in SPARSE_B.split():
        d, reach = token.split(":")
        demand.append(f"{d},1")
        costs += [f"{d},{s},1" for s in reach.split("|")]
    files = tmp_path / "costs.csv", tmp_path / "demand.csv"
    files[0].write_text("\n".join(costs) + "\n", encoding="utf-8")
    files[1].write_text("\n".join(demand) + "\n", encoding="utf-8")
    return files


def test_sparse_pmedian_finds_the_plan_that_lscp_finds(sparse_b: tuple[Path, Path]) -> None:
    """10 sites reach everyone (d4, d5, d9, d11 have a choice; s7 or s8 serves d4 and d9):
    the sparse p-median answered no_solution in milliseconds."""
    costs, demand = load_cost_table(sparse_b[0]), load_demand_table(sparse_b[1])
    for p in (10, 11):
        out = solve_matrix(costs, demand, model="pmedian", p=p)
        assert out["status"] == "optimal" and out["objective"] == 13.0, (p, out)
        assert len(out["sites"]) == p and len(out["assignment"]) == 13
    lscp = solve_matrix(costs, demand, model="lscp", threshold=1.0)
    assert lscp["status"] == "optimal" and lscp["objective"] == 10.0
    for model in ("pmedian", "pcenter"):
        out = solve_matrix(costs, demand, model=model, p=9)
        assert out["status"] == "infeasible" and out["sites"] == []
        assert out["reason"] == (
            "no plan of p = 9 sites (fixed ones included) reaches every demand point"
        )
    out = solve_matrix(costs, demand, model="pmedian", p=10, backend="heuristic")
    assert out["status"] == "feasible" and out["objective"] == 13.0


def test_sparse_pmedian_reproducer_through_the_cli(sparse_b: tuple[Path, Path]) -> None:
    target = sparse_b[0].parent / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "siting", "solve-matrix", "--costs", str(sparse_b[0]),
         "--demand", str(sparse_b[1]), "--model", "pmedian", "--p", "10", "--json", str(target)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(target.read_text(encoding="utf-8"))
    assert out["status"] == "optimal" and out["objective"] == 13.0 and len(out["sites"]) == 10


# --------------------------------------------------------------------------- solver state
def test_threads_set_for_one_solve_never_reach_the_next() -> None:
    """HiGHS keeps one thread pool per calling thread; ``threads=1`` after a default solve
    raised "HiGHS ended with status 'Not Set'"."""
    model = PMedian(CostMatrix.from_dense(np.arange(24.0).reshape(6, 4) % 7), p=2)
    answers = [solve(model, threads=t) for t in (None, 1, 2, None, 1)]
    assert {(s.status.value, s.objective) for s in answers} == {("optimal", answers[0].objective)}
    lscp = _reproducer_a()
    assert solve(lscp, threads=1).objective == solve(lscp, threads=2).objective == 25.0
    # PuLP's HiGHS runs in this thread too (the covering MIP: no LP steps on this backend)
    again = [solve(lscp, backend="pulp-highs", threads=t) for t in (1, None, 2)]
    assert {(s.status.value, s.objective) for s in again} == {("optimal", 25.0)}


# --------------------------------------------------------------------------- ids in messages
def test_reasons_cite_the_csv_ids(tmp_path: Path) -> None:
    costs = tmp_path / "costs.csv"
    costs.write_text("demand_id,site_id,cost\na,s0,1\nb,s1,2\n", encoding="utf-8")
    demand = tmp_path / "demand.csv"
    demand.write_text("demand_id,weight\na,1\nb,1\nc,2\n", encoding="utf-8")
    tables = load_cost_table(costs), load_demand_table(demand)
    for model in ("pmedian", "pcenter"):
        out = solve_matrix(*tables, model=model, p=1)
        assert out["status"] == "infeasible" and out["unreachable_demand"] == ["c"]
        assert out["reason"].endswith(": c (weight 2)"), out["reason"]
    out = solve_matrix(*tables, model="lscp", threshold=1.5)
    assert out["reason"] == (
        "2 demand points (total weight 3) have no candidate within the threshold 1.5: "
        "b (weight 1), c (weight 2)"
    )
    out = solve_matrix(*tables, model="pmedian", p=2, max_load=10)
    assert out["status"] == "infeasible" and "demand c" in out["reason"], out["reason"]


def test_model_messages_cite_the_model_ids() -> None:
    costs = CostMatrix.from_dense(np.array([[1.0, 2.0], [3.0, 1.0], [2.0, 2.0]]))
    ids = {"demand_ids": ["north", "south", "east"], "site_ids": ["clinic-A", "clinic-B"]}
    with pytest.raises(InputError, match=r"`weights` must be finite and >= 0, got -1.0 at demand"
                       r" south"):  # fmt: skip
        PMedian(costs, p=1, weights=[1, -1, 1], **ids)
    with pytest.raises(InputError, match=r"got 5 > 4 at site clinic-B"):
        CapacitatedPMedian(costs, p=1, capacity=[9, 4], min_load=[0, 5], **ids)
    with pytest.raises(InputError, match=r"`site_ids` must have one id per site \(2\), got 3"):
        PMedian(costs, p=1, site_ids=["a", "b", "c"])
    # the fixed site clinic-A reaches 3 of load in all, short of its min_load 5
    sol = solve(CapacitatedPMedian(costs, p=2, capacity=9.0, min_load=[5, 0], fixed=[0], **ids))
    assert sol.status == "infeasible" and sol.reason.startswith("fixed sites clinic-A "), sol.reason
    far = CostMatrix.from_triples([0, 1], [0, 0], [1.0, 1.0], (3, 2))
    sol = solve(LSCP(far, threshold=1.0, **ids))
    assert sol.reason.endswith("east (weight 1)") and sol.details["uncoverable"] == [2]
    sol = solve(LSCP(far, threshold=1.0))  # without ids: the indices, as before
    assert sol.reason.endswith(": 2 (weight 1)")


# --------------------------------------------------------------------------- the certificate
def _fake(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    """Make the model solver's answer wrong in the given way before the certificate sees it."""
    real = solve_module._solve

    def wrong(*args: object, **kwargs: object) -> Solution:
        return dataclasses.replace(real(*args, **kwargs), **changes)

    monkeypatch.setattr(solve_module, "_solve", wrong)


LINE = CostMatrix.from_dense(np.abs(np.arange(6.0)[:, None] - np.array([0.0, 2.0, 5.0])[None]))


def test_optimal_only_when_the_objective_meets_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    model = PMedian(LINE, p=2)  # sites at 2 and 5 serve 0..5 at 2 + 1 + 0 + 1 + 1 + 0 = 5
    right = solve(model)
    assert right.status == "optimal" and right.objective == 5.0 and right.bound == 5.0
    _fake(monkeypatch, open_sites=np.array([0, 1]))  # sites at 0 and 2 (7), still "optimal"
    sol = solve(model)
    assert sol.status == "feasible" and sol.objective == 7.0 and sol.bound == 5.0
    assert sol.gap == pytest.approx(2 / 7) and "certificate" in sol.details


def test_a_bound_past_the_objective_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, bound=6.0, status=Status.FEASIBLE)
    sol = solve(PMedian(LINE, p=2))
    assert sol.status == "feasible" and sol.bound is None and sol.gap is None


def test_a_plan_that_breaks_the_model_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, open_sites=np.array([0]))  # one site for p = 2
    sol = solve(PMedian(LINE, p=2))
    assert sol.status == "no_solution" and not sol.has_solution and len(sol.open_sites) == 0
    assert "1 open sites, p = 2" in sol.reason
    monkeypatch.undo()
    _fake(monkeypatch, open_sites=np.array([1]))  # site 2 does not cover demand 5 within 1
    sol = solve(LSCP(LINE, threshold=1.0))
    assert sol.status == "no_solution" and "no open site within the threshold 1" in sol.reason


def test_a_capacitated_plan_is_checked_against_its_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    model = CapacitatedPMedian(LINE, p=2, capacity=3.0)
    good = solve(model)
    assert good.status == "optimal"
    _fake(
        monkeypatch, assignment=np.where(np.arange(6) < 5, good.open_sites[0], good.open_sites[1])
    )
    sol = solve(model)
    assert sol.status == "no_solution" and "break a load bound" in sol.reason


def test_every_backend_is_certified() -> None:
    for model in (LSCP(LINE, threshold=1.0), MCLP(LINE, threshold=1.0, p=2), PMedian(LINE, p=2),
                  PCenter(LINE, p=2), CapacitatedPMedian(LINE, p=2, capacity=3.0)):  # fmt: skip
        for backend in ("highs", "cbc", "pulp-highs", "heuristic"):
            sol = solve(model, backend=backend)
            exact = backend != "heuristic"
            assert sol.status == ("optimal" if exact else sol.status), (model.name, backend)
            assert sol.has_solution and sol.objective is not None
            assert sol.bound is None or meets_bound(sol.objective, sol.bound, model.sense, 1.0)


def test_heuristic_plans_are_feasible_with_no_bound() -> None:
    sol = solve(PMedian(LINE, p=2), backend="heuristic")
    assert sol.status == "feasible" and sol.bound is None and sol.objective >= 5.0


# --------------------------------------------------------------------------- numerics
def test_bounds_are_rounded_to_the_integer_objective_and_never_negative_zero() -> None:
    w = np.array([21427.0, 1.0])
    model = MCLP(CostMatrix.from_dense(np.array([[0.0, 9.0], [9.0, 0.0]])), threshold=1, p=1,
                 weights=w)  # fmt: skip
    base = solve(model)
    assert base.objective == 21427.0
    # an LP bound a hair below the objective (seen: 21427.99999999953 against 21428)
    sol = certify(model, dataclasses.replace(base, bound=21426.99999999953))
    assert sol.bound == 21427.0 and sol.status == "optimal" and sol.gap == 0.0
    # a valid bound a little above: floor, still a bound (max: the bound is above)
    sol = certify(model, dataclasses.replace(base, bound=21428.4, status=Status.FEASIBLE))
    assert sol.bound == 21428.0 and sol.status == "feasible"
    zero = PMedian(CostMatrix.from_dense(np.zeros((2, 2))), p=1)
    sol = solve(zero)
    assert sol.objective == 0.0 and str(sol.bound) == "0.0" and str(sol.gap) == "0.0"
    sol = certify(zero, dataclasses.replace(sol, bound=-0.0))
    assert str(sol.bound) == "0.0"


def test_a_bound_equal_up_to_round_off_becomes_the_objective() -> None:
    model = PMedian(CostMatrix.from_dense(np.array([[0.1 + 0.2], [0.7]])), p=1)
    sol = solve(model)
    assert sol.objective == pytest.approx(1.0)
    for bound in (sol.objective + 1e-12, sol.objective - 1e-12):
        again = certify(model, dataclasses.replace(sol, bound=bound))
        assert again.bound == again.objective and again.gap == 0.0
    assert optimality_tol(1.0) < 1.1e-6 and optimality_tol(1e7) == pytest.approx(1e-2 + 1e-3)


def test_coverage_has_the_documented_round_off_tolerance() -> None:
    assert coverage_limit(0.3) == 0.3 + 1e-9 and coverage_limit(1000.0) == 1000.0 + 1e-6
    assert 0.1 + 0.2 > 0.3  # the round-off the tolerance is for
    costs = CostMatrix.from_dense(np.array([[0.1 + 0.2, 0.5], [0.5, 0.3]]))
    sol = solve(LSCP(costs, threshold=0.3))
    assert sol.status == "optimal" and sol.objective == 2.0
    sol = solve(MCLP(costs, threshold=0.3, p=1))
    assert sol.objective == 1.0  # each site covers one demand point
    assert costs.within(0.3).toarray().tolist() == [[True, False], [False, True]]
    assert not costs.within(0.3 - 1e-6).toarray()[0, 0]


def test_finite_non_negative_names_the_input_and_the_first_bad_value() -> None:
    with pytest.raises(InputError) as err:
        finite_non_negative(
            [1.0, np.nan, -2.0], "`population`", at="demand", labels=["x", "y", "z"]
        )
    assert (
        str(err.value) == "`population` must be finite and >= 0, got nan at demand y (2 bad values)"
    )
    with pytest.raises(InputError, match=r"^`--max-load` must be finite and >= 0, got inf$"):
        finite_non_negative([np.inf], "`--max-load`", at=None)
    with pytest.raises(InputError, match=r"got 'abc' at data row 3"):
        finite_non_negative([1.0, 2.0, np.nan], "`cost`", at="data row", labels=[1, 2, 3],
                            shown=["1", "2", "abc"])  # fmt: skip
    assert finite_non_negative([0, 1.5], "`w`").tolist() == [0.0, 1.5]
