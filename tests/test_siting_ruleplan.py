"""Planning by the rules: each rule places (or designates) what it should, in the plan itself.

Hand-made cases on straight-line walking travel (x 1.3 detour at 4.5 km/h: 10 minutes are
577 m in a straight line), in UTM metres, so every expected site can be checked by hand.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from siting import InputError
from siting.compliance import staffing_needs
from siting.kinds import kind_from_name, unit_kinds
from siting.planning import plan
from siting.rules import default_rules
from siting.scenario import Scenario
from siting.workflow import broken_rules, build_scenario, judge, run_plan, what_if

CRS = "EPSG:32649"
X0, Y0 = 500_000.0, 4_500_000.0
RULES = default_rules()


def _points(rows: list[tuple], columns: list[str]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows, columns=[*columns, "x", "y"])
    geom = [Point(X0 + x, Y0 + y) for x, y in zip(frame.pop("x"), frame.pop("y"), strict=True)]
    return gpd.GeoDataFrame(frame, geometry=geom, crs=CRS)


def _demand(rows: list[tuple[float, float, float]]) -> gpd.GeoDataFrame:
    """(x, y, population) points, ids d0, d1, ..."""
    return _points(
        [(f"d{i}", pop, x, y) for i, (x, y, pop) in enumerate(rows)], ["demand_id", "population"]
    )


def _sites(rows: list[tuple], existing: bool) -> gpd.GeoDataFrame:
    """(site_id, x, y[, tier]) rows."""
    full = [(r[0], r[0], existing, r[3] if len(r) > 3 else "", r[1], r[2]) for r in rows]
    return _points(full, ["site_id", "name", "existing", "tier"])


def _units(rows: list[tuple[str, str, tuple[float, float, float, float]]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"unit_id": [r[0] for r in rows], "name": [r[1] for r in rows]},
        geometry=[box(X0 + a, Y0 + b, X0 + c, Y0 + d) for _, _, (a, b, c, d) in rows],
        crs=CRS,
    )


def _rules_plan(demand, candidates=(), existing=(), units=None, **kw):  # type: ignore[no-untyped-def]
    scenario = build_scenario(
        _demand(demand),
        sites=_sites(list(candidates), False) if candidates else None,
        existing=_sites(list(existing), True) if existing else None,
        units=units,
        model="rules",
        threshold_minutes=10.0,
        mode="walk",
        **kw,
    )
    return plan(scenario)


def _open(result) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return result.chosen_sites.set_index("site_id")


# ------------------------------------------------------------------------------------ R1


def test_r1_places_the_required_centres_within_the_band() -> None:
    # one sub-district of 150,000 (R1: 1 + ceil(50,000 / 50,000) = 2 centres): two towns of
    # 75,000 each 4 km apart, an existing centre in the west one, candidates in both
    units = _units([("U1", "新华街道", (-1000, -1000, 6000, 1000))])
    demand = [(0, 0, 75_000.0), (4000, 0, 75_000.0)]
    result = _rules_plan(
        demand,
        candidates=[("C_west", 100, 0), ("C_east", 4100, 0), ("C_mid", 2000, 0)],
        existing=[("E1", -50, 0)],
        units=units,
    )
    sites = _open(result)
    centres = sites[sites["tier"] == "community_health_service_centre"]
    assert sorted(centres.index) == ["C_east", "E1"]  # one new, in the east town
    assert centres.loc["C_east", "rule"] == "R1" and centres.loc["E1", "rule"] == "existing"
    assert centres["assigned_population"].tolist() == pytest.approx([75_000, 75_000])
    row = result.compliance.set_index("unit_id").loc["U1"]
    assert (row.required_centres, row.planned_centres, row.shortfall) == (2, 2, 0)
    assert row.centres_within_band == 2 and row.status == "ok" and row.reason == ""
    # each resident's centre is in its own unit: the demand table says which one
    assert result.demand.set_index("demand_id")["centre_id"].to_dict() == {
        "d0": "E1",
        "d1": "C_east",
    }


def test_r1_keeps_small_units_to_one_centre_and_assigns_within_the_unit() -> None:
    # two sub-districts side by side: U1 10,000 residents (under 30,000: one centre, flagged),
    # U2 60,000 with its centre near the border; U1's residents are not given to U2's centre
    units = _units(
        [("U1", "小街道", (-1000, -1000, 1000, 1000)), ("U2", "大街道", (1000, -1000, 3000, 1000))]
    )
    result = _rules_plan(
        [(900, 0, 10_000.0), (1500, 0, 60_000.0)],
        candidates=[("C1", -500, 0), ("C2", 1100, 0)],
        units=units,
    )
    sites = _open(result)
    assert sites.loc["C1", "assigned_population"] == pytest.approx(10_000)
    assert sites.loc["C2", "assigned_population"] == pytest.approx(60_000)
    comp = result.compliance.set_index("unit_id")
    assert comp.loc["U1", "flag"] == "below_min" and comp.loc["U1", "status"] == "flagged"
    assert "population 10,000 < 30,000: keeps its one centre (R1" in comp.loc["U1", "reason"]
    assert comp.loc["U2", "status"] == "ok"


def test_r1_names_what_the_data_cannot_avoid() -> None:
    # no candidate and no centre inside U2: a shortfall named with its reason, exit-worthy
    # only as a listed violation (the plan itself is fine)
    units = _units(
        [("U1", "甲街道", (-1000, -1000, 1000, 1000)), ("U2", "乙街道", (1000, -1000, 3000, 1000))]
    )
    result = _rules_plan(
        [(0, 0, 40_000.0), (2000, 0, 40_000.0)], candidates=[("C1", 0, 0)], units=units
    )
    assert result.status == "optimal"
    row = result.compliance.set_index("unit_id").loc["U2"]
    assert row.shortfall == 1 and "centre(s) short (R1)" in row.status
    assert "no existing centre and no candidate site inside the unit" in row.reason


# ------------------------------------------------------------------------------------ R2


def test_r2_places_the_best_township_centre() -> None:
    # a township (镇) without a centre: of two candidates, the one nearer most residents
    units = _units([("T1", "乌加河镇", (-5000, -5000, 5000, 5000))])
    result = _rules_plan(
        [(0, 0, 3_000.0), (300, 0, 2_000.0), (4000, 0, 500.0)],
        candidates=[("far", 4000, 100), ("near", 100, 0)],
        units=units,
    )
    sites = _open(result)
    assert sites.loc["near", "tier"] == "township_health_centre"
    assert sites.loc["near", "rule"] == "R2"
    assert sites.loc["near", "assigned_population"] == pytest.approx(5_500)
    row = result.compliance.set_index("unit_id").loc["T1"]
    assert row.kind == "township" and row.required_centres == 1 and row.planned_centres == 1
    # R1's band is not applied to townships
    assert row.centres_below_band == 0 and row.flag == ""


# ------------------------------------------------------------------------------ R3 (+ R5)


def _villages() -> gpd.GeoDataFrame:
    # A (300) and B (300) 2 km apart (adjacent: R3 adjacency 15 min ~ 865 m walk? no: the
    # case uses drive, 15 min = 5.77 km), C (800) alone, D (200) 30 km away from everyone
    return _points(
        [
            ("A", "甲村", 300.0, 0, 0),
            ("B", "乙村", 300.0, 2000, 0),
            ("C", "丙村", 800.0, 0, 12_000),
            ("D", "丁嘎查", 200.0, 30_000, 30_000),
        ],
        ["village_id", "name", "population"],
    )


def test_r3_groups_small_villages_and_lists_touring_service() -> None:
    villages = _villages()
    demand = villages.rename(columns={"village_id": "demand_id"})[
        ["demand_id", "population", "geometry"]
    ]
    scenario = build_scenario(
        demand,
        existing=_sites([("THC", 500, 500, "township_health_centre")], True),
        sites=_sites([("S1", 600, 600)], False),
        units=_units([("T1", "川井苏木", (-5000, -5000, 40_000, 40_000))]),
        villages=villages,
        model="rules",
        threshold_minutes=10.0,
        mode="drive",
    )
    result = plan(scenario)
    sites = _open(result)
    clinics = sites[sites["tier"] == "village_clinic"]
    # A+B (600) share one joint clinic, C (800) has its own, D (200, alone) gets none
    assert len(clinics) == 2 and "V:C" in clinics.index
    joint = clinics.drop(index="V:C")
    assert (
        joint.index[0] in ("V:A", "V:B") and "joint clinic of 2 villages" in joint["rule"].iloc[0]
    )
    groups = result.village_groups.set_index("village_id")
    assert groups.loc["A", "group_id"] == groups.loc["B", "group_id"]
    assert bool(groups.loc["D", "touring"]) and not bool(groups.loc["C", "touring"])
    # the touring list: D, with its population and location (WGS84)
    touring = result.touring.set_index("id")
    assert list(touring.index) == ["D"] and touring.loc["D", "population"] == 200
    assert touring.crs.to_epsg() == 4326
    # the circle (R6) does not open D's own site: touring service is R3's answer for it
    assert "V:D" not in sites.index
    row = result.compliance.set_index("unit_id").loc["T1"]
    assert row.touring_population == pytest.approx(200)
    assert row.population_beyond == pytest.approx(row.touring_population)


def test_r5_no_village_clinics_in_sub_districts() -> None:
    villages = _villages()
    demand = villages.rename(columns={"village_id": "demand_id"})[
        ["demand_id", "population", "geometry"]
    ]
    scenario = build_scenario(
        demand,
        sites=_sites([("S1", 600, 600)], False),
        units=_units([("U1", "青春山街道", (-5000, -5000, 40_000, 40_000))]),
        villages=villages,
        model="rules",
        threshold_minutes=10.0,
        mode="drive",
    )
    result = plan(scenario)
    assert not (result.chosen_sites["tier"] == "village_clinic").any()
    assert any("lie in sub-districts: no village clinic" in n for n in result.notes)


# ------------------------------------------------------------------------------ R6 (+ R4)


def _circle_case(**kw):  # type: ignore[no-untyped-def]
    # an existing centre covers d0; d1 and d2 (800 m apart) are covered together by C_mid
    # (400 m from each: 6.9 min) or each by its own candidate; d3 has no candidate in reach
    return _rules_plan(
        [(0, 0, 1000.0), (3000, 0, 500.0), (3800, 0, 700.0), (9000, 0, 50.0)],
        candidates=[("C_left", 3000, 50), ("C_mid", 3400, 0), ("C_right", 3800, 50)],
        existing=[("E1", 0, 100)],
        units=None,
        **kw,
    )


def test_r6_closes_the_circle_with_the_fewest_stations() -> None:
    result = _circle_case()
    sites = _open(result)
    new = sites[sites["status"] == "new"]
    assert list(new.index) == ["C_mid"]  # one station covers both
    assert new.loc["C_mid", "tier"] == "community_health_service_station"
    assert new.loc["C_mid", "rule"] == "R6"
    # every resident some candidate reaches is inside; the rest is the touring list
    assert result.coverage.covered_population == pytest.approx(2200)
    assert result.touring["id"].tolist() == ["d3"]
    assert result.touring["population"].sum() == pytest.approx(50)


def test_r4_prefers_a_colocated_station() -> None:
    # two stations are needed (d1 and d2 are 2 km apart); next to d2 there are two
    # candidates, the farther one beside an elderly home: R4 swaps it in
    pois = _points([("P1", 5000, 650)], ["site_id"])  # 450 m from C3, 650 m from C2
    result = _rules_plan(
        [(0, 0, 1000.0), (3000, 0, 500.0), (5000, 0, 700.0)],
        candidates=[("C1", 3000, 0), ("C2", 5000, 0), ("C3", 5000, 200)],
        existing=[("E1", 0, 0)],
        pois=pois,
    )
    new = _open(result)
    new = new[new["status"] == "new"]
    assert set(new.index) == {"C1", "C3"} and new.loc["C3", "rule"] == "R6 + R4"
    assert result.coverage.share == pytest.approx(1.0)
    without = _rules_plan(
        [(0, 0, 1000.0), (3000, 0, 500.0), (5000, 0, 700.0)],
        candidates=[("C1", 3000, 0), ("C2", 5000, 0), ("C3", 5000, 200)],
        existing=[("E1", 0, 0)],
    )
    assert set(without.chosen_sites.query("status == 'new'")["site_id"]) == {"C1", "C2"}


def test_a_station_budget_maximises_the_residents_inside() -> None:
    result = _rules_plan(
        [(0, 0, 1000.0), (3000, 0, 500.0), (5000, 0, 700.0)],
        candidates=[("C1", 3000, 0), ("C2", 5000, 0)],
        existing=[("E1", 0, 0)],
        station_budget=1,
    )
    new = result.chosen_sites.query("status == 'new'")["site_id"].tolist()
    assert new == ["C2"]  # 700 residents beat 500
    assert result.coverage.covered_population == pytest.approx(1700)


# ------------------------------------------------------------------------- county, R11


def test_county_steps_designate_sub_centres_leads_and_emergency_stations() -> None:
    # three townships with their centres; residents mostly around T1's and T2's centres
    units = _units(
        [
            ("T1", "甲镇", (-2000, -2000, 2000, 2000)),
            ("T2", "乙镇", (2000, -2000, 6000, 2000)),
            ("T3", "丙苏木", (6000, -2000, 10_000, 2000)),
        ]
    )
    result = _rules_plan(
        [(0, 0, 9000.0), (4000, 0, 8000.0), (8000, 0, 300.0)],
        existing=[
            ("THC1", 0, 50, "township_health_centre"),
            ("THC2", 4000, 50, "township_health_centre"),
            ("THC3", 8000, 50, "township_health_centre"),
            ("H1", 100, 100, "county_hospital"),
        ],
        units=units,
        county_steps=("R7", "R9", "R10"),
    )
    sites = _open(result)
    # R7: the two populous townships' centres become the county's 2 sub-centres
    assert set(sites.index[sites["sub_centre"].astype(bool)]) == {"THC1", "THC2"}
    # R9: one community (under 200,000) led by H1
    assert sites.loc[["THC1", "THC2", "THC3"], "lead_hospital"].tolist() == ["H1"] * 3
    # R10 (30 min): every township centre reaches only its own residents on foot here
    assert sites["emergency_station"].astype(bool).sum() == 3
    assert [s["rule"] for s in result.summary()["steps"]][-3:] == ["R7", "R9", "R10"]


def test_r11_staffing_follows_each_facility_load() -> None:
    result = _circle_case()
    sites = result.chosen_sites
    staff = staffing_needs(sites["assigned_population"].to_numpy(), rule=RULES.R11)
    for col in ("beds", "physicians", "nurses", "general_practitioners", "public_health_staff"):
        assert sites[col].tolist() == staff[col].tolist()
    assert (sites["beds"] > 0).all()


# ------------------------------------------------------------------------------ kinds


def test_unit_kinds_from_column_suffix_or_forced() -> None:
    units = _units(
        [
            ("A", "海流图镇", (0, 0, 1, 1)),
            ("B", "青春山街道", (1, 0, 2, 1)),
            ("C", "川井苏木", (2, 0, 3, 1)),
            ("D", "国营牧场", (3, 0, 4, 1)),
        ]
    )
    k = unit_kinds(units)
    assert k.kinds.tolist() == ["township", "subdistrict", "township", ""]
    assert "name suffix" in k.source and "1 of unknown kind" in k.describe()
    assert unit_kinds(units, force="subdistrict").kinds.tolist() == ["subdistrict"] * 4
    units["kind"] = ["subdistrict", "township", "镇", None]
    k = unit_kinds(units)
    assert k.kinds.tolist() == ["subdistrict", "township", "township", ""]
    assert k.source == "the column 'kind'"
    units["kind"] = ["city", "", "", ""]
    with pytest.raises(InputError, match="unit kind column 'kind' has 'city'"):
        unit_kinds(units)
    # no recognisable name at all: a city's units, all sub-districts (R1 everywhere)
    plain = _units([("A", "north", (0, 0, 1, 1))])
    assert unit_kinds(plain).kinds.tolist() == ["subdistrict"]
    assert (
        kind_from_name("石哈河镇") == "township"
        and kind_from_name("建外街道办事处") == "subdistrict"
    )


# --------------------------------------------------------------------- judging, what-if


def test_baseline_and_what_if_show_the_rules_an_edit_breaks() -> None:
    units = _units([("U1", "新华街道", (-1000, -1000, 6000, 1000))])
    scenario = build_scenario(
        _demand([(0, 0, 75_000.0), (4000, 0, 75_000.0)]),
        sites=_sites([("C_east", 4100, 0)], False),
        existing=_sites([("E1", -50, 0)], True),
        units=units,
        model="rules",
        threshold_minutes=10.0,
    )
    run = run_plan(scenario, baseline=True)
    assert run.baseline is not None
    base = run.baseline.compliance.iloc[0]
    assert base.shortfall == 1 and base.centres_above_band == 1  # E1 alone serves 150,000
    assert (run.baseline.chosen_sites["status"] == "new").sum() == 0
    # closing the new east centre breaks R1 (a centre short, E1 over the band) and R6
    edited = judge(run.result, close_sites=["C_east"])
    assert "C_east" not in set(edited.chosen_sites["site_id"])
    broken = broken_rules(run.result, edited)
    assert broken["unit_id"].tolist() == ["U1"]
    assert broken["rules"].iloc[0] == "R1/R2 centres, R1 band, R6 circle"
    # every centre closed: the judged plan says it opens nothing new (a candidate exists)
    bare = judge(run.result, close_sites=["C_east", "E1"]).compliance.iloc[0]
    assert bare.shortfall == 2 and "a judged plan opens nothing new (R1)" in bare.reason
    # re-planning by the rules around the closure uses what is left: none inside, listed
    again = what_if(scenario, run.travel, close_sites=["C_east"])
    assert again.compliance.iloc[0].shortfall == 1
    with pytest.raises(InputError, match="`close_sites` has unknown site ids"):
        what_if(scenario, run.travel, close_sites=["nope"])


def test_rules_scenario_validation() -> None:
    demand = _demand([(0, 0, 10.0)])
    sites = _sites([("C1", 0, 0)], False)
    base = {"demand": demand, "sites": sites, "model": "rules"}
    with pytest.raises(InputError, match="`new_sites` of a rules plan must be None"):
        Scenario(**base, new_sites=3)
    with pytest.raises(InputError, match="`unit_kind` must be one of subdistrict, township"):
        Scenario(**base, unit_kind="city")
    with pytest.raises(InputError, match="`county_steps` must be among R7, R9, R10"):
        Scenario(**base, county_steps=("R8",))
    with pytest.raises(InputError, match="`station_budget` must be an integer >= 0"):
        Scenario(**base, station_budget=-1)
    with pytest.raises(InputError, match="site's `tier` must be empty or a tier of the preset"):
        plan(Scenario(**base | {"sites": _sites([("C1", 0, 0, "hospital")], True)}))
    # an existing centre alone still gets judged: 10 residents, no candidate needed
    result = plan(Scenario(**base, new_sites=0))
    assert result.status == "optimal" and np.isclose(result.coverage.share, 0.0)
