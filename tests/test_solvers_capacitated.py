"""Capacitated p-median with load bounds: hand cases and Lorena & Senne's real SJC instances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siting_errors import InputError
from solvers import CapacitatedPMedian, CostMatrix, solve
from solvers.instances import load_cpmp

# two clusters on a line: A = {0, 1, 2} at x = 0, 1, 2; B = {3} at x = 10
X = np.array([0.0, 1.0, 2.0, 10.0])
D = CostMatrix.from_dense(np.abs(X[:, None] - X[None, :]))


def test_capacity_forces_a_split() -> None:
    # uncapacitated p=2 opens 1 and 3 (cost 2); capacity 2 makes site 1 take only two points
    w = np.array([1.0, 1.0, 1.0, 1.0])
    free = solve(CapacitatedPMedian(D, p=2, capacity=10.0, weights=w))
    assert free.objective == pytest.approx(2.0)
    capped = solve(CapacitatedPMedian(D, p=2, capacity=2.0, weights=w))
    assert capped.status == "optimal"
    # best: {1: 0,1 or 1,2} + {3: 3, and 2 or 0 goes to 3}: 1 + 8 = 9 (2 -> 3 costs 8)
    assert capped.objective == pytest.approx(9.0)
    assert max(capped.details["loads"].values()) <= 2.0


def test_min_load_closes_a_tiny_site() -> None:
    w = np.array([1.0, 1.0, 1.0, 1.0])
    sol = solve(CapacitatedPMedian(D, p=2, capacity=10.0, min_load=2.0, weights=w))
    # site 3 alone would serve 1 < 2: it must take one of cluster A too (2 -> 3 costs 8)
    assert sol.objective == pytest.approx(1.0 + 8.0)
    assert min(sol.details["loads"].values()) >= 2.0


def test_fixed_site_and_loads_separate_from_weights() -> None:
    sol = solve(CapacitatedPMedian(D, p=2, capacity=5.0, weights=np.ones(4),
                                   loads=np.array([1.0, 1.0, 1.0, 4.0]), fixed=[0]))
    assert 0 in sol.open_sites.tolist()
    assert sol.details["loads"][3] == pytest.approx(4.0)


def test_infeasible_capacity_names_the_reason() -> None:
    sol = solve(CapacitatedPMedian(D, p=2, capacity=1.5, weights=np.ones(4)))
    assert sol.status == "infeasible"
    assert "total load 4 exceeds the largest possible capacity of 2 open sites (3)" in sol.reason


def test_soft_mode_returns_the_closest_plan_with_violations() -> None:
    sol = solve(CapacitatedPMedian(D, p=1, capacity=3.0, weights=np.ones(4), soft=True,
                                   violation_cost=100.0))
    assert sol.status == "optimal"
    (violation,) = sol.details["violations"]
    assert violation["bound"] == "capacity" and violation["amount"] == pytest.approx(1.0)
    assert "cannot all be met" in sol.reason


def test_bad_bounds() -> None:
    with pytest.raises(InputError, match="`min_load` must not exceed `capacity`"):
        CapacitatedPMedian(D, p=2, capacity=1.0, min_load=2.0)


SJC = {"SJC1": 17288.99, "SJC2": 33270.94, "SJC3a": 45335.16, "SJC3b": 40635.90,
       "SJC4a": 61925.51, "SJC4b": 52458.02}


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n == "SJC1" else pytest.mark.slow)
                                  for n in SJC])
def test_lorena_senne_sjc(data_dir: Path, name: str) -> None:
    inst = load_cpmp(data_dir / "cpmp-lorena-senne" / f"{name}.dat")
    sol = solve(CapacitatedPMedian(inst.costs(), p=inst.p, capacity=inst.capacity,
                                   loads=inst.demand), time_limit=1500)
    assert sol.status == "optimal", sol.reason
    assert sol.objective == pytest.approx(SJC[name], rel=1e-4)
    loads = np.bincount(sol.assignment, weights=inst.demand, minlength=len(inst.demand))
    assert (loads <= inst.capacity + 1e-6).all()
