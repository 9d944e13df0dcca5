"""R3 joint village clinics: grouping small villages with adjacent neighbours, touring service,
and each group's clinic site."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from shapely.geometry import Point, box

from siting.rules import default_rules
from siting.villages import choose_group_sites, group_villages, touring_demand
from siting_errors import InputError

RULES = default_rules()
R3 = RULES.R3
UTM = "EPSG:32649"


def _strip(specs: list[tuple[float, float, float]]) -> gpd.GeoDataFrame:
    """Villages as unit-height boxes ``(x, width, population)`` on a line (metres);
    consecutive boxes touch."""
    return gpd.GeoDataFrame(
        {"population": [p for _, _, p in specs]},
        geometry=[box(x, 0, x + w, 1) for x, w, _ in specs],
        crs=UTM,
    )


def _group(villages: gpd.GeoDataFrame, rule: object = R3, **kw: object) -> gpd.GeoDataFrame:
    return group_villages(villages, population_column="population", rule=rule, **kw)


def test_chain_of_three_small_touching_villages_forms_one_joint_group() -> None:
    v = _group(_strip([(0, 1, 200), (1, 1, 150), (2, 1, 180)]))
    assert v["group_id"].tolist() == [0, 0, 0]
    assert v["joint"].all() and v["small"].all() and not v["touring"].any()
    assert v["group_population"].tolist() == [530, 530, 530]
    assert v["group_size"].tolist() == [3, 3, 3]
    assert set(v["rule"]) == {"R3 (001 task 3)"}


def test_isolated_small_village_is_served_by_touring() -> None:
    v = _group(_strip([(0, 1, 800), (5, 1, 120)]))  # a 4 m gap: not adjacent
    assert v["group_id"].tolist() == [0, 1]
    assert v["touring"].tolist() == [False, True]
    assert v["joint"].tolist() == [False, False]
    assert v["small"].tolist() == [False, True]


def test_exactly_500_is_not_small_but_499_is() -> None:
    v = _group(_strip([(0, 1, 500), (1, 1, 700)]))
    assert v["group_id"].tolist() == [0, 1]
    assert not v["small"].any() and not v["joint"].any() and not v["touring"].any()
    w = _group(_strip([(0, 1, 499), (1, 1, 700)]))
    assert w["group_id"].tolist() == [0, 0] and w["joint"].all()
    assert w["group_population"].tolist() == [1199, 1199]


def test_small_village_between_a_big_and_a_small_neighbour_joins_the_nearest() -> None:
    # the small neighbour is nearer (centre 1 m away, the big one 3 m): the two small villages
    # make a joint group of 550 and the big village stays alone
    v = _group(_strip([(0, 5, 900), (5, 1, 150), (6, 1, 400)]))
    assert v["group_id"].tolist() == [0, 1, 1]
    assert v["joint"].tolist() == [False, True, True]
    assert v["group_population"].tolist() == [900, 550, 550]
    # the big neighbour is nearer: the small village joins it, and then the other small
    # village, whose only neighbour is now in the big village's group, joins too
    w = _group(_strip([(0, 1, 900), (1, 1, 150), (2, 5, 400)]))
    assert w["group_id"].tolist() == [0, 0, 0]
    assert w["group_population"].iloc[0] == 1450


def test_equally_near_neighbours_tie_to_the_more_populous() -> None:
    v = _group(_strip([(0, 1, 600), (1, 1, 100), (2, 1, 900)]))
    assert v["group_id"].tolist() == [0, 1, 1]
    v = _group(_strip([(0, 1, 900), (1, 1, 100), (2, 1, 600)]))
    assert v["group_id"].tolist() == [0, 0, 1]


def test_small_chain_keeps_merging_until_it_reaches_the_threshold() -> None:
    # 100 joins 120 (its only neighbour); at 220 the pair is still small and joins the big
    # village next to 120
    v = _group(_strip([(0, 1, 100), (1, 1, 120), (2, 3, 2000), (5, 1, 700)]))
    assert v["group_id"].tolist() == [0, 0, 0, 1]
    assert v["group_population"].tolist() == [2220, 2220, 2220, 700]
    assert not v["touring"].any()


def test_small_joint_group_without_more_neighbours_is_touring() -> None:
    v = _group(_strip([(0, 1, 100), (1, 1, 120), (10, 1, 2000)]))
    assert v["group_id"].tolist() == [0, 0, 1]
    assert v["joint"].tolist() == [True, True, False]
    assert v["touring"].tolist() == [True, True, False]


def test_the_threshold_is_the_rules_parameter() -> None:
    villages = _strip([(0, 1, 200), (1, 1, 150), (2, 1, 180)])
    low = RULES.with_params("R3", joint_clinic_below=150).R3
    assert _group(villages, low)["group_id"].tolist() == [0, 1, 2]  # 150 is not below 150
    high = RULES.with_params("R3", joint_clinic_below=1000).R3
    v = _group(villages, high)
    assert v["group_id"].tolist() == [0, 0, 0] and v["touring"].all()


def test_travel_time_adjacency_for_points() -> None:
    pts = gpd.GeoDataFrame(
        {"population": [300, 250, 900, 100]},
        geometry=[Point(0, 0), Point(1, 0), Point(50, 0), Point(90, 0)],
        crs=UTM,
    )
    inf = np.inf
    minutes = np.array(
        [
            [0, 8, 60, inf],
            [8, 0, 15, inf],  # 15 = R3.adjacency_minutes: adjacent
            [60, 15, 0, 15.5],  # 15.5: not adjacent
            [inf, inf, 15.5, 0],
        ]
    )
    v = _group(pts, travel_minutes=minutes)
    # 250 (smallest) joins 300 at 8 min rather than 900 at 15; 550 is enough
    assert v["group_id"].tolist() == [0, 0, 1, 2]
    assert v["touring"].tolist() == [False, False, False, True]
    # sparse: a missing entry is unreachable; the shorter direction counts
    upper = sp.csr_array(np.triu(np.where(np.isinf(minutes), 0, minutes)))
    assert _group(pts, travel_minutes=upper)["group_id"].tolist() == [0, 0, 1, 2]
    wider = RULES.with_params("R3", adjacency_minutes=16.0).R3
    assert _group(pts, wider, travel_minutes=minutes)["group_id"].tolist() == [0, 0, 1, 1]
    with pytest.raises(InputError, match="'touching' adjacency needs village polygons"):
        _group(pts)
    with pytest.raises(InputError, match=r"must be 4 x 4 \(one row per village\), got \(3, 3\)"):
        _group(pts, travel_minutes=minutes[:3, :3])
    with pytest.raises(InputError, match="travel times >= 0"):
        _group(pts, travel_minutes=np.where(minutes == 8, np.nan, minutes))


def test_travel_time_adjacency_overrides_touching_polygons() -> None:
    villages = _strip([(0, 1, 200), (1, 1, 150), (2, 1, 180)])  # all touching
    minutes = np.array([[0, 40, 10], [40, 0, 40], [10, 40, 0]], dtype=float)  # a river
    by_time = RULES.with_params("R3", adjacency="travel_time").R3
    v = _group(villages, by_time, travel_minutes=minutes)
    assert v["group_id"].tolist() == [0, 1, 0]
    assert v["touring"].tolist() == [True, True, True]
    with pytest.raises(InputError, match="adjacency is 'travel_time'"):
        _group(villages, by_time)
    # touching adjacency, travel times only decide which neighbour is nearest
    # from village 1: 600 is 5 minutes away one way (20 the other), 900 is 9 both ways
    near = np.array([[0, 20, 1], [5, 0, 9], [1, 9, 0]], dtype=float)
    assert _group(_strip([(0, 1, 600), (1, 1, 100), (2, 1, 900)]), travel_minutes=near)[
        "group_id"
    ].tolist() == [0, 0, 1]


def test_lonlat_villages_are_measured_in_metres() -> None:
    # at 41°N a degree of longitude is ~84 km, of latitude ~111 km: the east neighbour's centre
    # is 0.008° of longitude away (~0.67 km), the north one's 0.007° of latitude (~0.78 km);
    # in degrees the north one would look nearer
    cell = 0.004
    geoms = [
        box(110.0, 41.0, 110.0 + cell, 41.0 + cell),  # small, in the middle
        box(110.0 + cell, 41.0, 110.012 + cell, 41.0 + cell),  # east
        box(110.0, 41.0 + cell, 110.0 + cell, 41.010 + cell),
    ]  # north
    v = gpd.GeoDataFrame({"population": [100, 600, 600]}, geometry=geoms, crs="EPSG:4326")
    grouped = _group(v)
    assert grouped["group_id"].tolist() == [0, 0, 1]


def _touching_pairs(geoms: np.ndarray) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i, j in itertools.combinations(range(len(geoms)), 2)
        if shapely.intersects(geoms[i], geoms[j])
    }


def test_grouping_invariants_on_a_random_grid() -> None:
    rng = np.random.default_rng(7)
    side = 12
    cells = [box(x, y, x + 1, y + 1) for y in range(side) for x in range(side)]
    keep = rng.random(len(cells)) > 0.15  # holes make some villages isolated
    geoms = np.array([c for c, k in zip(cells, keep, strict=True) if k])
    pop = rng.choice([50, 120, 300, 480, 500, 900, 1500], size=len(geoms))
    v = _group(gpd.GeoDataFrame({"population": pop}, geometry=geoms, crs=UTM))
    gid = v["group_id"].to_numpy()
    pairs = _touching_pairs(geoms)
    totals = pd.Series(pop).groupby(gid).sum()
    for g, members in pd.Series(range(len(gid))).groupby(gid):
        idx = set(members)
        outside = {j for i, j in pairs if i in idx and j not in idx} | {
            i for i, j in pairs if j in idx and i not in idx
        }
        # a group stays under the threshold only when nothing is adjacent to it
        assert totals[g] >= 500 or not outside
        assert (v["touring"].to_numpy()[members.to_numpy()] == (totals[g] < 500)).all()
        # villages of 500+ never merge with each other on their own: a joint group holds a
        # small village, and is connected
        if len(idx) > 1:
            assert (pop[list(idx)] < 500).any()
            seen, todo = set(), [min(idx)]
            while todo:
                i = todo.pop()
                seen.add(i)
                todo += [
                    j
                    for a, b in pairs
                    for i2, j in ((a, b), (b, a))
                    if i2 == i and j in idx and j not in seen
                ]
            assert seen == idx
    # villages of 500+ are never grouped with each other
    for _, members in pd.Series(range(len(gid))).groupby(gid):
        assert (pop[members.to_numpy()] >= 500).sum() <= 1


def test_choose_group_sites_minimises_weighted_travel() -> None:
    villages = _strip([(0, 1, 200), (1, 1, 150), (2, 1, 180), (10, 1, 900)])
    groups = _group(villages)
    assert groups["group_id"].tolist() == [0, 0, 0, 1]
    minutes = np.array(
        [[0, 5, 12, 60], [5, 0, 6, 60], [12, 6, 0, 60], [60, 60, 60, 0]], dtype=float
    )
    sites = choose_group_sites(groups, minutes, "population")
    # site 0: 150*5 + 180*12 = 2910; site 1: 200*5 + 180*6 = 2080; site 2: 200*12 + 150*6 = 3300
    assert sites["site"].tolist() == [1, 3]
    assert sites["weighted_cost"].tolist() == [2080.0, 0.0]
    assert sites["mean_cost"].iloc[0] == pytest.approx(2080 / 530)
    assert sites["population"].tolist() == [530.0, 900.0]
    assert set(sites["rule"]) == {"R3 (001 task 3)"}
    # sparse input (missing = unreachable, missing diagonal = 0) gives the same choice
    sparse = sp.csr_array(np.where(np.eye(4, dtype=bool), 0, minutes))
    pd.testing.assert_frame_equal(choose_group_sites(groups, sparse, "population"), sites)


def test_choose_group_sites_matches_brute_force_and_handles_unreachable() -> None:
    rng = np.random.default_rng(3)
    n = 7
    groups = pd.DataFrame({"group_id": [0, 0, 0, 1, 1, 1, 1]}, index=list("abcdefg"))
    costs = rng.uniform(1, 30, (n, n))
    np.fill_diagonal(costs, 0)
    w = rng.integers(10, 400, n).astype(float)
    out = choose_group_sites(groups, costs, w)
    for g, members in ((0, [0, 1, 2]), (1, [3, 4, 5, 6])):
        best = min(members, key=lambda s: sum(w[i] * costs[i, s] for i in members))
        assert out.loc[out["group_id"] == g, "site"].item() == best
        assert out.loc[out["group_id"] == g, "site_label"].item() == "abcdefg"[best]
    # nobody can reach village 1 from 0 or 2: village 1 is no site although it is cheapest
    costs[[0, 2], 1] = np.inf
    costs[1, 0], costs[1, 2] = 50.0, 50.0
    chosen = choose_group_sites(groups, costs, w).iloc[0]
    assert chosen["site"] != 1 and chosen["unreached_population"] == 0
    costs[:, :3] = np.inf  # nothing reaches anything in group 0: the fewest unreached win
    np.fill_diagonal(costs, 0)
    chosen = choose_group_sites(groups, costs, w).iloc[0]
    assert chosen["site"] == int(np.argmax(w[:3]))
    assert chosen["unreached_population"] == w[:3].sum() - w[:3].max()
    with pytest.raises(InputError, match="`costs` must be 7 x 7"):
        choose_group_sites(groups, costs[:3], w)
    with pytest.raises(InputError, match="`weights` must be 7 finite numbers"):
        choose_group_sites(groups, costs, w[:3])


def test_group_villages_rejects_bad_input() -> None:
    villages = _strip([(0, 1, 200), (1, 1, 150)])
    with pytest.raises(InputError, match=r"must be the R3 rule \(JointClinicRule\), got R1"):
        _group(villages, RULES.R1)
    with pytest.raises(InputError, match="has no column 'people'"):
        group_villages(villages, population_column="people", rule=R3)
    villages.loc[0, "population"] = -3
    with pytest.raises(InputError, match=r"`population` must be finite and >= 0, got \[-3.0\]"):
        _group(villages)


def test_touring_demand_lists_unreached_and_small_isolated_villages() -> None:
    # 0: big, clinic 4 min away; 1: big, nearest clinic 25 min; 2: small and isolated
    v = _group(_strip([(0, 1, 800), (1, 1, 900), (5, 1, 120)]))
    need = touring_demand(
        v, [4.0, 25.0, np.nan], threshold_minutes=10.0, population_column="population", rule=R3
    )
    assert need["village"].tolist() == [1, 2]
    assert need["population"].tolist() == [900.0, 120.0]
    assert need["reason"].tolist() == ["no clinic within 10 min", "no clinic within 10 min"]
    assert need.crs == v.crs and need.geometry.within(v.geometry.union_all().buffer(1e-9)).all()
    # a small isolated village 10 min (inclusive) from a clinic still has no clinic of its own
    need = touring_demand(
        v, [4.0, 10.0, 10.0], threshold_minutes=10.0, population_column="population", rule=R3
    )
    assert need["village"].tolist() == [2] and need["reason"].tolist() == ["group under 500"]
    assert need["rule"].tolist() == ["R3 (001 task 3)"]
    with pytest.raises(InputError, match=r"one time per village \(3\), got \(2,\)"):
        touring_demand(v, [1.0, 2.0], threshold_minutes=10, population_column="population", rule=R3)
