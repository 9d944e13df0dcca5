"""The planning rules: preset loading and validation, R1 counts (real Beijing data), R11, R3."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from siting.compliance import centre_requirements, required_centres, staffing_needs
from siting.rules import default_rules, load_rules, rules_to_dict, save_rules
from siting.villages import choose_group_sites, group_villages
from siting_errors import InputError

RULES = default_rules()


def test_preset_has_every_rule_with_its_source() -> None:
    assert list(RULES.rules) == [f"R{k}" for k in range(1, 13)]
    assert RULES.R1.cite() == "R1 (002 task 1)"
    assert "3-10万居民" in RULES.R1.quote
    assert RULES.R6.threshold_minutes == 10.0 and RULES.R6.urban_mode == "walk"
    assert RULES.R3.joint_clinic_below == 500
    assert RULES.R5.facility_by_kind["subdistrict"] == "community_health_service_station"


def test_preset_round_trips_through_a_file(tmp_path: Path) -> None:
    path = save_rules(RULES, tmp_path / "copy.toml")
    back = load_rules(path)
    assert rules_to_dict(back) == rules_to_dict(RULES)


def test_a_broken_preset_reports_every_problem_at_once(tmp_path: Path) -> None:
    text = (save_rules(RULES, tmp_path / "ok.toml").read_text(encoding="utf-8")
            .replace("min_population = 30000", "min_population = -5")
            .replace('urban_mode = "walk"', 'urban_mode = "bike"')
            .replace("joint_clinic_below = 500\n", "")
            .replace("extra_per = 50000", "extra_per = 50000\nextra_pre = 1"))
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_rules(bad)
    msg = str(err.value)
    assert "has 4 problems" in msg
    assert "R1.min_population must be a positive integer, got -5" in msg
    assert "R6.urban_mode must be one of walk, drive, got 'bike'" in msg
    assert "R3.joint_clinic_below missing" in msg
    assert "R1.extra_pre is not a known parameter" in msg


@pytest.mark.parametrize(("population", "centres"), [
    (29_999, 1), (30_000, 1), (100_000, 1), (100_001, 2), (150_000, 2), (150_001, 3),
    (157_000, 3),  # Kangbashi (003): 1 + ceil(57,000 / 50,000)
    (0, 1),
])
def test_r1_formula_at_the_boundaries(population: int, centres: int) -> None:
    assert required_centres(population, rule=RULES.R1) == centres


def test_r1_flags_small_units_and_shortfall() -> None:
    units = pd.DataFrame({"name": ["a", "b", "c"], "pop": [20_000, 90_000, 260_000],
                          "have": [1, 0, 2]})
    table = centre_requirements(units, population_column="pop", rule=RULES.R1,
                                name_column="name", existing_column="have")
    assert table["required_centres"].tolist() == [1, 1, 5]
    assert table["shortfall"].tolist() == [0, 1, 3]
    assert table["flag"].tolist() == ["below_min", "", ""]
    assert set(table["rule"]) == {"R1 (002 task 1)"}


def test_r1_on_real_beijing_subdistricts(data_dir: Path) -> None:
    folder = data_dir / "beijing-subdistrict-worldpop"
    pop = np.load(folder / "worldpop.npy", allow_pickle=False)[:, 0]
    units = gpd.read_file(folder / "beijing.shp", encoding="utf-8")
    assert len(units) == len(pop) == 331
    units["population"] = pop
    table = centre_requirements(units, population_column="population", rule=RULES.R1,
                                name_column="乡")
    independent = [1 if p <= 100_000 else 1 + math.ceil((p - 100_000) / 50_000) for p in pop]
    assert table["required_centres"].tolist() == independent
    assert int(table["required_centres"].sum()) == 433
    assert int((table["flag"] == "below_min").sum()) == 105
    assert int(table["required_centres"].max()) == 7


def test_r11_staffing_for_100000_residents() -> None:
    assert staffing_needs(100_000, rule=RULES.R11) == {
        "beds": 750, "physicians": 360, "nurses": 412, "general_practitioners": 26,
        "public_health_staff": 83}
    assert staffing_needs(1_001, rule=RULES.R11)["beds"] == 8  # 7.5075 rounds up


def _villages(specs: list[tuple[float, float, float]]) -> gpd.GeoDataFrame:
    """(x, width, population) unit-height boxes on a line; touching when adjacent."""
    return gpd.GeoDataFrame({"population": [p for _, _, p in specs]},
                            geometry=[box(x, 0, x + w, 1) for x, w, _ in specs],
                            crs="EPSG:32649")


def test_r3_chain_of_small_villages_merges_into_one_joint_group() -> None:
    v = group_villages(_villages([(0, 1, 200), (1, 1, 150), (2, 1, 180)]),
                       population_column="population", rule=RULES.R3)
    assert v["group_id"].nunique() == 1
    assert v["joint"].all() and not v["touring"].any()
    assert v["group_population"].iloc[0] == 530
    assert set(v["rule"]) == {"R3 (001 task 3)"}


def test_r3_isolated_small_village_needs_touring_service() -> None:
    v = group_villages(_villages([(0, 1, 800), (5, 1, 120)]), population_column="population",
                       rule=RULES.R3)
    assert v["touring"].tolist() == [False, True]
    assert v["joint"].tolist() == [False, False]


def test_r3_exactly_500_is_not_small() -> None:
    v = group_villages(_villages([(0, 1, 500), (1, 1, 500)]), population_column="population",
                       rule=RULES.R3)
    assert v["group_id"].nunique() == 2 and not v["joint"].any() and not v["touring"].any()


def test_r3_small_village_joins_the_nearest_neighbour() -> None:
    # a small village between two large ones: its centre is 1 from one, 3 from the other
    v = group_villages(_villages([(0, 1, 900), (1, 1, 100), (2, 5, 600)]),
                       population_column="population", rule=RULES.R3)
    g = v["group_id"].tolist()
    assert g[1] == g[0]  # nearest centre is the big village
    assert v["group_population"].iloc[1] == 1000
    assert v["group_id"].nunique() == 2


def test_r3_travel_time_adjacency_for_points() -> None:
    pts = gpd.GeoDataFrame({"population": [300, 250, 900]},
                           geometry=[Point(0, 0), Point(1, 0), Point(50, 0)], crs="EPSG:32649")
    minutes = np.array([[0, 8, 60], [8, 0, 55], [60, 55, 0]], dtype=float)
    v = group_villages(pts, population_column="population", rule=RULES.R3,
                       travel_minutes=minutes)
    assert v["group_id"].tolist()[0] == v["group_id"].tolist()[1] != v["group_id"].tolist()[2]
    with pytest.raises(InputError, match="needs village polygons"):
        group_villages(pts, population_column="population", rule=RULES.R3)
    sites = choose_group_sites(v, minutes, pts["population"].to_numpy())
    assert sites[int(v["group_id"].iloc[0])] == 0  # 250*8 < 300*8
