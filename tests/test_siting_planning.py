"""The planning workflow on hand-checkable layouts (straight-line travel: 75 m per minute)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from siting import InputError
from siting.planning import plan
from siting.scenario import Scenario
from siting.travel import travel_costs

CRS = "EPSG:32649"  # UTM 49N (Hohhot)
X0, Y0 = 500_000.0, 4_500_000.0
SPEED = 4.5  # km/h -> 75 m per minute


def _demand(xs: list[float], pops: list[float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(len(xs))], "population": pops},
        geometry=[Point(X0 + x, Y0) for x in xs],
        crs=CRS,
    )


def _sites(xs: list[float], existing: list[bool]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "site_id": [f"s{i}" for i in range(len(xs))],
            "name": [f"site {i}" for i in range(len(xs))],
            "existing": existing,
        },
        geometry=[Point(X0 + x, Y0) for x in xs],
        crs=CRS,
    )


def _scenario(**kw: object) -> Scenario:
    # demand at 0, 500, 1000, 3000, 3500 m; populations 100, 200, 100, 1000, 50
    demand = _demand([0, 500, 1000, 3000, 3500], [100, 200, 100, 1000, 50])
    sites = _sites([500, 3250, 1800], [False, False, False])
    base = dict(
        demand=demand,
        sites=sites,
        model="mclp",
        new_sites=1,
        threshold_minutes=10.0,
        mode="walk",
        detour_factor=1.0,
        walk_speed_kmh=SPEED,
    )
    base.update(kw)
    return Scenario(**base)


def test_mclp_picks_the_heaviest_cluster_and_scores_coverage() -> None:
    result = plan(_scenario())
    assert result.status == "optimal"
    # s1 at 3250 m reaches 3000 (250 m) and 3500 (250 m): 1050 of 1450 residents
    assert result.chosen_sites["site_id"].tolist() == ["s1"]
    assert result.coverage.covered_population == pytest.approx(1050)
    assert result.coverage.share == pytest.approx(1050 / 1450)
    assert "straight-line" in " ".join(result.notes)


def test_coverage_boundary_is_inclusive() -> None:
    # 750 m at 75 m/min is exactly 10 minutes
    demand = _demand([0, 750, 750.5], [1, 1, 1])
    sites = _sites([0], [False])
    result = plan(
        Scenario(
            demand=demand,
            sites=sites,
            model="mclp",
            new_sites=1,
            threshold_minutes=10.0,
            detour_factor=1.0,
            walk_speed_kmh=SPEED,
        )
    )
    assert result.coverage.covered_population == pytest.approx(2)
    assert result.demand["covered"].tolist() == [True, True, False]


def test_existing_site_stays_open_and_new_sites_are_extra() -> None:
    sites = _sites([500, 3250, 1800], [True, False, False])
    result = plan(_scenario(sites=sites, new_sites=1))
    chosen = result.chosen_sites.set_index("site_id")["status"].to_dict()
    assert chosen == {"s0": "existing", "s1": "new"}
    assert result.coverage.covered_population == pytest.approx(1450)  # everyone
    baseline = plan(_scenario(sites=sites, new_sites=0), travel=result.travel)
    assert baseline.coverage.covered_population == pytest.approx(400)


def test_pmedian_assigns_nearest_and_reports_mean_time() -> None:
    result = plan(
        _scenario(model="pmedian", new_sites=2, threshold_minutes=10.0, cutoff_minutes=120.0)
    )
    assert sorted(result.chosen_sites["site_id"]) == ["s0", "s1"]
    # travel minutes: 500/75, 0, 500/75, 250/75, 250/75 weighted by 100,200,100,1000,50
    expected = (100 * 500 + 0 + 100 * 500 + 1000 * 250 + 50 * 250) / 75 / 1450
    assert result.mean_travel_minutes == pytest.approx(expected)
    assert result.demand["site_id"].tolist() == ["s0", "s0", "s0", "s1", "s1"]
    sites = result.sites.set_index("site_id")
    assert sites.loc["s1", "assigned_population"] == pytest.approx(1050)
    assert sites.loc["s1", "max_travel_min"] == pytest.approx(250 / 75, abs=1e-3)


def test_lscp_covers_everyone_coverable_and_lists_the_others() -> None:
    # d1 is 5 km from the only site (66.7 min): no plan covers it within 10 minutes
    scenario = _scenario(
        demand=_demand([0, 5000], [10, 20]),
        sites=_sites([0], [False]),
        model="lscp",
        new_sites=None,
    )
    result = plan(scenario)
    assert result.status == "optimal"  # over the coverable residents
    assert result.chosen_sites["site_id"].tolist() == ["s0"]
    assert result.coverage.covered_population == pytest.approx(10)
    lost = result.uncoverable()
    assert lost["demand_id"].tolist() == ["d1"] and lost["population"].tolist() == [20]
    assert np.isnan(lost["best_site_min"].iloc[0])  # beyond the 30-minute search
    assert result.summary()["uncoverable"] == {"points": 1, "population": 20.0}
    assert "uncoverable" in result.layers()
    assert any("LSCP covers everyone else" in note for note in result.notes)
    # its real travel time is known all the same (66.7 minutes), it is reachable
    assert result.demand["travel_time_min"].iloc[1] == pytest.approx(5000 / 75, abs=1e-3)
    assert result.unreachable_population == 0.0
    # strict: today's infeasible answer, naming the demand point
    strict = plan(scenario.replace(strict=True))
    assert strict.status == "infeasible"
    assert "d1" in strict.solution.reason or "1" in strict.solution.reason
    assert list(strict.solution.details["uncoverable"]) == [1]


def test_lscp_refuses_new_sites() -> None:
    with pytest.raises(InputError, match="`new_sites` is not used by LSCP"):
        _scenario(model="lscp", new_sites=2)


def test_lscp_finds_the_fewest_sites() -> None:
    result = plan(_scenario(model="lscp", new_sites=None))
    # s0 covers 0..1000 (500 m each way); s1 covers 3000..3500 -> 2 sites; s2 covers nothing
    assert sorted(result.chosen_sites["site_id"]) == ["s0", "s1"]
    assert result.coverage.share == pytest.approx(1.0)


def test_unit_table_sums_population() -> None:
    units = gpd.GeoDataFrame(
        {"unit_id": ["u1", "u2"], "name": ["新华街道", "中山街道"]},
        geometry=[
            box(X0 - 100, Y0 - 100, X0 + 2000, Y0 + 100),
            box(X0 + 2000, Y0 - 100, X0 + 4000, Y0 + 100),
        ],
        crs=CRS,
    )
    result = plan(_scenario(units=units))
    table = result.units.set_index("unit_id")
    assert table.loc["u1", "population"] == pytest.approx(400)
    assert table.loc["u2", "population"] == pytest.approx(1050)
    assert table.loc["u2", "covered_population"] == pytest.approx(1050)
    assert table.loc["u1", "name"] == "新华街道"
    assert table.loc["u2", "new_sites"] == 1


def test_what_if_reuses_travel_times() -> None:
    scenario = _scenario()
    travel = travel_costs(scenario)
    more = plan(scenario.replace(new_sites=2), travel=travel)
    assert more.coverage.covered_population == pytest.approx(1450)
    with pytest.raises(InputError, match="computed up to 30"):
        plan(scenario.replace(threshold_minutes=20.0), travel=travel)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"model": "kmeans"},
            "`model` must be one of lscp, mclp, pmedian, pcenter, rules, got 'kmeans'",
        ),
        ({"mode": "bike"}, "`mode` must be one of walk, drive, got 'bike'"),
        ({"threshold_minutes": 0}, "`threshold_minutes` must be a number > 0, got 0"),
        ({"threshold_minutes": -5.0}, "`threshold_minutes` must be a number > 0"),
        ({"new_sites": 5}, "at most the number of candidate (non-existing) sites (3), got 5"),
        ({"new_sites": None}, "`new_sites` is required for model 'mclp'"),
        ({"roads": "city.osm.pbf"}, "`roads` must be a geodata Network or an osmnx-style"),
    ],
)
def test_bad_parameters(change: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        _scenario(**change)
    assert message in str(err.value)


def test_bad_frames() -> None:
    demand = _demand([0], [1]).drop(columns="population")
    with pytest.raises(InputError, match=r"missing \['population'\]"):
        _scenario(demand=demand)
    no_crs = _demand([0], [1]).set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="has no CRS"):
        _scenario(demand=no_crs)
    empty = _demand([0], [0])
    with pytest.raises(InputError, match="no population"):
        _scenario(demand=empty)
    neg = _demand([0, 1], [1, np.nan])
    with pytest.raises(InputError, match="must be finite and >= 0"):
        _scenario(demand=neg)


def _two_towns() -> Scenario:
    """Two towns 3 km apart (40 min at 75 m/min), one new site, p-median."""
    return _scenario(
        demand=_demand([0, 100, 3000], [100, 100, 150]),
        sites=_sites([50, 3000], [False, False]),
        model="pmedian",
    )


def test_pmedian_and_pcenter_extend_the_search_instead_of_pricing_a_penalty() -> None:
    # two towns 3 km apart (40 min at 75 m/min; search cutoff 30 min), one new site: the
    # search is extended until every resident has a real time, then the plan is exact
    scenario = _two_towns()
    result = plan(scenario)
    assert result.status == "optimal"
    # s0: 200 x 50 m + 150 x 2950 m = 452,500 m; s1: 100 x 3000 + 100 x 2900 = 590,000 m
    assert result.chosen_sites["site_id"].tolist() == ["s0"]
    assert result.solution.objective == pytest.approx((200 * 50 + 150 * 2950) / 75)
    assert result.unreachable_population == 0.0
    assert result.demand["travel_time_min"].tolist() == pytest.approx(
        [50 / 75, 50 / 75, 2950 / 75], abs=1e-3
    )
    assert result.summary()["search_minutes"] is None  # searched without a limit
    extended = [n for n in result.notes if "limit of the travel-time search was lifted" in n]
    assert len(extended) == 1 and not any(
        "penalty" in n or "counts them" in n for n in result.notes
    )
    # p-center: the worst time, a real one (s1 at 3000 m: 3000 m for d0; s0: 2950 m for d2)
    pc = plan(scenario.replace(model="pcenter"))
    assert pc.status == "optimal"
    assert pc.chosen_sites["site_id"].tolist() == ["s0"]
    assert pc.solution.objective == pytest.approx(2950 / 75, abs=1e-6)
    assert pc.demand["travel_time_min"].max() == pytest.approx(pc.solution.objective, abs=1e-3)


def test_mean_travel_time_leaves_out_only_residents_with_no_route() -> None:
    # straight-line travel reaches everyone: MCLP's demand beyond the 30-minute search still
    # gets its true time to the nearest open site (4000 m / 75 = 53.3 min)
    result = plan(_scenario(demand=_demand([0, 4500], [100, 100]), sites=_sites([500], [False])))
    assert result.demand["travel_time_min"].tolist() == pytest.approx(
        [500 / 75, 4000 / 75], abs=1e-3
    )
    assert result.unreachable_population == 0.0
    assert result.mean_travel_minutes == pytest.approx((500 + 4000) / 75 / 2, abs=1e-3)


def test_inputs_that_do_not_overlap_are_an_error_naming_both_extents() -> None:
    far = _sites([500], [False]).set_geometry(
        gpd.GeoSeries([Point(24.94, 60.17)], crs="EPSG:4326").to_crs(CRS)
    )
    with pytest.raises(
        InputError, match=r"the population \(lon 111\..*\) and the sites \(lon 24\.9"
    ):
        plan(_scenario(sites=far, new_sites=1))


def test_implausible_threshold_warns() -> None:
    result = plan(_scenario(threshold_minutes=600.0))
    assert any("outside the plausible range" in note for note in result.notes)


def test_pmedian_past_the_pair_limit_reports_the_true_objective_with_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the two towns again, with a search that may not grow: the solve counts the far town at
    # exactly the 30-minute limit (a lower bound), the result gives its true time
    import siting.reach

    monkeypatch.setattr(siting.reach, "MAX_PAIRS", 1)
    scenario = _two_towns()
    result = plan(scenario)
    assert result.status == "feasible"
    assert result.chosen_sites["site_id"].tolist() == ["s0"]
    true = (200 * 50 + 150 * 2950) / 75
    lower = 200 * 50 / 75 + 150 * 30.0  # the far town at the 30-minute limit
    assert result.solution.objective == pytest.approx(true)
    assert result.solution.bound == pytest.approx(lower)
    assert result.solution.gap == pytest.approx((true - lower) / true)
    assert result.demand["travel_time_min"].iloc[2] == pytest.approx(2950 / 75, abs=1e-3)
    assert sum("would exceed 1 pairs" in note for note in result.notes) == 1
