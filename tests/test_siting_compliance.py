"""The per-admin-unit compliance report: R1 counts and bands, R6 circle, R3 touring demand."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from siting import InputError
from siting.compliance import band_status, compliance_table
from siting.planning import plan
from siting.rules import default_rules
from tests.test_siting_planning import CRS, X0, Y0, _scenario

RULES = default_rules().with_params("R1", min_population=500, max_population=1000, extra_per=500)


def test_band_status_is_inclusive_at_both_ends() -> None:
    r1 = default_rules().R1  # 30,000-100,000
    got = band_status([29_999, 30_000, 100_000, 100_001], rule=r1)
    assert got.tolist() == ["below", "within", "within", "above"]


def test_compliance_table_by_hand() -> None:
    units = pd.DataFrame({"unit_id": ["a", "b", "c"], "name": ["甲", "乙", "丙"]})
    sites = pd.DataFrame(
        {"unit_id": ["a", "a", "b", None], "assigned_population": [400.0, 800.0, 1200.0, 50.0]}
    )
    demand = pd.DataFrame(
        {
            "unit_id": ["a", "a", "b", "b", "c", None],
            "population": [700.0, 500.0, 1100.0, 100.0, 300.0, 9.0],
            "covered": [True, True, True, False, False, False],
            "touring": [False, False, False, False, True, False],
        }
    )
    t = compliance_table(units, sites, demand, rules=RULES).set_index("unit_id")
    # a: 1,200 residents -> 1 + ceil(200/500) = 2 centres; has 2, one below the 500 band
    assert t.loc["a", "required_centres"] == 2 and t.loc["a", "planned_centres"] == 2
    assert t.loc["a", "shortfall"] == 0
    assert (t.loc["a", "centres_below_band"], t.loc["a", "centres_within_band"]) == (1, 1)
    assert t.loc["a", "status"] == "1 below / 0 above the 500-1,000 band (R1)"
    # b: 1,200 -> 2 required, 1 planned (above band), 100 outside the circle
    assert t.loc["b", "shortfall"] == 1 and t.loc["b", "centres_above_band"] == 1
    assert t.loc["b", "population_beyond"] == pytest.approx(100.0)
    assert t.loc["b", "coverage_share"] == pytest.approx(1100 / 1200)
    # c: 300 residents, under the minimum: one centre required, flagged; all touring demand
    assert t.loc["c", "required_centres"] == 1 and t.loc["c", "flag"] == "below_min"
    assert t.loc["c", "touring_population"] == pytest.approx(300.0)
    assert "300 need touring service (R3)" in t.loc["c", "status"]
    assert t.loc["a", "rules"].startswith("R1 (") and "R6 (" in t.loc["a", "rules"]
    # the demand point outside every unit is in no row
    assert t["population"].sum() == pytest.approx(2700.0)


def test_compliance_table_names_missing_columns() -> None:
    units = pd.DataFrame({"unit_id": ["a"], "name": ["甲"]})
    sites = pd.DataFrame({"unit_id": ["a"]})
    demand = pd.DataFrame({"unit_id": ["a"], "population": [1.0], "covered": [1], "touring": [0]})
    with pytest.raises(InputError, match=r"`sites` lacks columns \['assigned_population'\]"):
        compliance_table(units, sites, demand, rules=RULES)


def test_plan_carries_the_report_into_result_summary_and_layers() -> None:
    units = gpd.GeoDataFrame(
        {"unit_id": ["u1", "u2"], "name": ["新华街道", "中山街道"]},
        geometry=[
            box(X0 - 100, Y0 - 100, X0 + 2000, Y0 + 100),
            box(X0 + 2000, Y0 - 100, X0 + 4000, Y0 + 100),
        ],
        crs=CRS,
    )
    result = plan(_scenario(units=units, rules=RULES))
    # MCLP opens s1 (3,250 m) in u2; u1 (400 residents) has no centre and nobody covered
    c = result.compliance.set_index("unit_id")
    assert c.loc["u1", "required_centres"] == 1 and c.loc["u1", "planned_centres"] == 0
    assert c.loc["u1", "flag"] == "below_min"
    assert c.loc["u1", "population_beyond"] == pytest.approx(400.0)
    assert c.loc["u2", "required_centres"] == 2  # 1,050 residents
    assert c.loc["u2", "centres_above_band"] == 1  # s1 serves more than 1,000
    assert c.loc["u2", "touring_population"] == 0.0
    summary = result.summary()["compliance"]
    assert summary["required_centres"] == 3 and summary["planned_centres"] == 1
    assert summary["units_ok"] == 0
    layer = result.layers()["admin_units"].set_index("unit_id")
    assert layer.loc["u2", "shortfall"] == 1 and layer.loc["u2", "name"] == "中山街道"
    with pytest.raises(InputError, match="`rules` must be a RulePreset"):
        _scenario(rules={"R1": {}})
