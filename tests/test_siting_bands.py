"""R1 band plans: every centre serves 30,000–100,000 residents, within its sub-district."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from siting.bands import plan_centre_bands
from siting.rules import default_rules, rules_from_dict, rules_to_dict

R1 = default_rules().R1


def _units(pops: list[float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": [f"u{k}" for k in range(len(pops))], "population": pops},
        geometry=[
            box(500_000 + 5000 * k, 4_500_000, 504_000 + 5000 * k, 4_504_000)
            for k in range(len(pops))
        ],
        crs="EPSG:32649",
    )


def test_band_plan_on_hand_made_units() -> None:
    plan = plan_centre_bands(
        _units([250_000, 20_000, 90_000]),
        population_column="population",
        rule=R1,
        name_column="name",
    )
    table = plan.units.set_index("name")
    assert table["required_centres"].tolist() == [4, 1, 1]
    assert len(plan.centres) == 6
    u0 = plan.centres[plan.centres["unit"] == "u0"]["load"]
    assert u0.sum() == pytest.approx(250_000)
    assert ((u0 >= 30_000 - 1e-6) & (u0 <= 100_000 + 1e-6)).all()
    assert table.loc["u1", "flag"] == "below_min"
    assert "straight-line" in plan.notes[0]


def test_band_plan_respects_an_edited_rule() -> None:
    data = rules_to_dict(default_rules())
    data["R1"]["max_population"] = 60_000
    data["R1"]["extra_per"] = 30_000
    rule = rules_from_dict(data).R1
    plan = plan_centre_bands(_units([120_000]), population_column="population", rule=rule)
    assert plan.units["required_centres"].tolist() == [3]
    assert (plan.centres["load"] <= 60_000 + 1e-6).all()


@pytest.mark.slow
def test_band_plan_on_real_beijing_subdistricts(data_dir: Path) -> None:
    folder = data_dir / "beijing-subdistrict-worldpop"
    units = gpd.read_file(folder / "beijing.shp", encoding="utf-8")
    units["population"] = np.load(folder / "worldpop.npy", allow_pickle=False)[:, 0]
    plan = plan_centre_bands(units, population_column="population", rule=R1, name_column="乡")
    assert plan.total_centres == 433 and len(plan.centres) == 433
    assert (plan.units["status"] == "optimal").all()
    normal = plan.units[plan.units["flag"] == ""]
    assert (normal["violation"] == "").all()
    assert normal["max_load"].max() <= 100_000 + 1e-6
    assert normal["min_load"].min() >= 30_000 - 1e-6
    by_unit = plan.centres.groupby("unit")["load"].sum()
    assert by_unit.sum() == pytest.approx(units["population"].sum())
