"""OR-Library p-median pmed1–pmed40: our solver reproduces every proven optimum (Beasley 1985)."""

from __future__ import annotations

from pathlib import Path

import pytest

from solvers import PMedian, solve
from solvers.instances import load_orlib_optima, load_orlib_pmed

FAST = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20, 21, 23, 24, 25}


def _params() -> list:
    return [
        pytest.param(k, marks=() if k in FAST else pytest.mark.slow, id=f"pmed{k}")
        for k in range(1, 41)
    ]


@pytest.mark.parametrize("k", _params())
def test_orlib_optimum(data_dir: Path, k: int) -> None:
    folder = data_dir / "orlib-pmed"
    optimum = load_orlib_optima(folder / "pmedopt.txt")[f"pmed{k}"]
    costs, p = load_orlib_pmed(folder / f"pmed{k}.txt")
    # an exhaustive proof: no time limit, so a busy machine makes it slower, never wrong
    solution = solve(PMedian(costs, p=p))
    assert solution.status == "optimal", solution.reason
    assert solution.objective == pytest.approx(optimum)
    assert len(solution.open_sites) == p


def test_last_duplicate_edge_wins(data_dir: Path) -> None:
    """pmed1 lists {19,20} and {30,70} twice; min() instead of last-wins gives 5718."""
    costs, p = load_orlib_pmed(data_dir / "orlib-pmed" / "pmed1.txt")
    assert costs.shape == (100, 100) and p == 5
    assert solve(PMedian(costs, p=p)).objective == 5819


def test_heuristic_is_feasible_but_never_claims_optimality(data_dir: Path) -> None:
    costs, p = load_orlib_pmed(data_dir / "orlib-pmed" / "pmed6.txt")
    sol = solve(PMedian(costs, p=p), backend="heuristic")
    assert sol.status == "feasible" and sol.bound is None and sol.gap is None
    assert sol.objective >= 7824
