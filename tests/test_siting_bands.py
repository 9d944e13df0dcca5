"""R1 band plans of one sub-district: every centre serves 30,000–100,000 residents."""

from __future__ import annotations

import numpy as np
import pytest

from siting import InputError
from siting.bands import demand_clusters, plan_unit_centres
from siting.rules import default_rules

R1 = default_rules().R1


def _line(n: int, pop_each: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n demand points 100 m apart on a line, candidates at the same places; minutes = km."""
    x = np.arange(n) * 100.0
    xy = np.column_stack([x, np.zeros(n)])
    costs = np.abs(x[:, None] - x[None, :]) / 1000.0
    return xy, costs, np.full(n, pop_each)


def test_clusters_respect_the_cap_and_the_count() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 5000, (2000, 2))
    pop = rng.gamma(2.0, 50.0, 2000)
    label = demand_clusters(xy, pop, cap=7_500, target=30)
    k = label.max() + 1
    assert k >= 30
    sums = np.bincount(label, weights=pop)
    assert sums.max() <= 7_500 and sums.sum() == pytest.approx(pop.sum())
    # a single point heavier than the cap stays one cluster (it cannot be split)
    assert demand_clusters(np.zeros((1, 2)), np.array([9e4]), cap=10, target=5).tolist() == [0]


def test_two_centres_split_a_line_within_the_band() -> None:
    # 120 points x 1,000 = 120,000 residents: R1 needs 2 centres, each 30,000-100,000
    xy, costs, pop = _line(120, 1_000.0)
    res = plan_unit_centres(costs, pop, fixed=np.zeros(120, bool), p=2, rule=R1, xy=xy)
    assert res.status == "optimal" and not res.violations
    assert len(res.open_sites) == 2 and res.loads.sum() == pytest.approx(120_000)
    assert ((res.loads >= 30_000) & (res.loads <= 100_000)).all()
    # every point goes to one of the open centres, within the unit (all points are inside)
    assert set(np.unique(res.assignment)) == set(res.open_sites.tolist())
    # with no binding bound the best split is two halves, centres near their medians
    assert res.loads.tolist() == pytest.approx([60_000, 60_000])


def test_a_lone_centre_is_the_weighted_median() -> None:
    xy, costs, pop = _line(5, 1.0)
    pop = np.array([1.0, 1.0, 1.0, 1.0, 10.0])
    res = plan_unit_centres(costs, pop, fixed=np.zeros(5, bool), p=1, rule=R1, xy=xy)
    assert res.open_sites.tolist() == [4] and res.loads.tolist() == [14.0]
    # an existing centre is kept whatever its position
    fixed = np.array([True, False, False, False, False])
    res = plan_unit_centres(costs, pop, fixed=fixed, p=1, rule=R1, xy=xy)
    assert res.open_sites.tolist() == [0]


def test_unavoidable_violations_are_named() -> None:
    # 60,000 residents and 3 existing centres (kept): at most two can reach 30,000
    xy, costs, pop = _line(60, 1_000.0)
    fixed = np.zeros(60, bool)
    fixed[[0, 30, 59]] = True
    res = plan_unit_centres(costs, pop, fixed=fixed, p=3, rule=R1, xy=xy)
    assert res.ok and set(res.open_sites.tolist()) == {0, 30, 59}
    assert res.violations and all("fewer than 30,000" in v for v in res.violations)
    assert res.loads.sum() == pytest.approx(60_000)


def test_bad_arguments_are_named() -> None:
    xy, costs, pop = _line(4, 1.0)
    with pytest.raises(InputError, match="`p` must be between"):
        plan_unit_centres(costs, pop, fixed=np.zeros(4, bool), p=5, rule=R1, xy=xy)
    costs[0, 1] = np.inf
    with pytest.raises(InputError, match="must be finite"):
        plan_unit_centres(costs, pop, fixed=np.zeros(4, bool), p=2, rule=R1, xy=xy)
