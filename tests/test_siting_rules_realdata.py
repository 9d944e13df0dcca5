"""Plans by the rules on the real data sets (slow): Beijing's 331 units by R1, Urad Middle
Banner's townships and villages (R2, R3, county steps), São Paulo's roads (R6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geodata.population import spread_population
from siting.cases import load_case
from siting.planning import plan
from siting.workflow import build_scenario

pytestmark = pytest.mark.slow


def test_beijing_331_units_get_433_centres_within_the_band(data_dir: Path) -> None:
    case = load_case("beijing", data_dir=data_dir)
    units = case.frames["beijing_units"]
    demand = spread_population(units.rename(columns={"unit_id": "demand_id"}))
    # spread, never collapsed: every unit is many points, their sum its population
    per_unit = demand.groupby("area_id")["population"].agg(["size", "sum"])
    assert (per_unit["size"] > 1).all()
    assert per_unit["sum"].sum() == pytest.approx(units["population"].sum())
    scenario = build_scenario(
        demand,
        units=units[["unit_id", "name", "geometry"]],
        model="rules",
        unit_kind="subdistrict",
        station_budget=0,  # R1 only: the circle step is another test's
        threshold_minutes=10.0,
        mode="walk",
    )
    result = plan(scenario)
    assert result.status == "optimal"
    comp = result.compliance
    assert len(comp) == 331 and comp["required_centres"].sum() == 433
    assert (comp["planned_centres"] == comp["required_centres"]).all()
    centres = result.chosen_sites[result.chosen_sites["tier"] == "community_health_service_centre"]
    assert len(centres) == 433 and (centres["rule"] == "R1").all()
    # the band holds wherever the unit's population allows it: only units under 30,000
    # (105 of them, flagged) have a centre below it, and none is above
    assert (comp["centres_above_band"] == 0).all()
    below = comp[comp["centres_below_band"] > 0]
    assert len(below) == 105 and (below["population"] < 30_000).all()
    assert (below["flag"] == "below_min").all()
    assert centres["assigned_population"].sum() == pytest.approx(units["population"].sum())
    # residents are assigned within their own unit
    d = result.demand
    own = d["centre_id"].map(centres.set_index("site_id")["unit_id"])
    assert (own == d["unit_id"]).all()


def test_urad_middle_banner_townships_and_villages(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "um"
    proc = subprocess.run(
        [sys.executable, "-m", "siting", "prepare", "urad-middle", "--out", str(out), "--plan"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**__import__("os").environ, "SITING_DATA_DIR": str(data_dir)},
    )
    assert proc.returncode == 0, proc.stderr
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "real: the county polygon" in readme and "derived" in readme
    comp = pd.read_csv(out / "plan" / "urad-middle_compliance.csv", dtype={"unit_id": str})
    comp = comp.set_index("name")
    # kinds from the name suffix: 6 镇 and 4 苏木 are townships, the two state farms unknown
    towns = comp[comp["kind"] == "township"]
    assert len(towns) == 10 and comp["kind"].isna().sum() == 2
    assert (towns["planned_centres"] == 1).all() and (towns["shortfall"] == 0).all()
    sites = json.loads((out / "plan" / "urad-middle_sites.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in sites["features"]]
    r2 = {p["name"] for p in props if p["rule"] == "R2"}
    assert r2 == {"川井苏木驻地", "新忽热苏木驻地"}  # the two townships without a centre
    clinics = [p for p in props if p["tier"] == "village_clinic"]
    assert clinics and all(p["rule"].startswith("R3") for p in clinics)
    assert any("joint clinic" in p["rule"] for p in clinics)
    assert any(p.get("sub_centre") for p in props)  # R7
    assert {p.get("lead_hospital") for p in props if p["tier"] == "township_health_centre"} == {
        "H1"
    }  # R9: one community
    touring = json.loads((out / "plan" / "urad-middle_touring.geojson").read_text("utf-8"))
    names = [f["properties"]["name"] for f in touring["features"]]
    assert names and all(
        n.endswith(("嘎查委员会", "村民委员会", "村委会", "生活区")) for n in names
    )
    summary = json.loads((out / "plan" / "urad-middle_summary.json").read_text("utf-8"))
    assert summary["status"] == "optimal"
    assert any(line.startswith("derived") for line in summary["provenance"])
    assert summary["compliance"]["population_beyond"] == pytest.approx(
        summary["compliance"]["touring_population"]
    )


def test_sao_paulo_circle_reaches_every_reachable_resident(data_dir: Path) -> None:
    from geodata.roads import load_roads

    case = load_case("sao-paulo", data_dir=data_dir)
    scenario = build_scenario(
        case.frames["population"],
        roads=load_roads(case.files["roads"], mode="walk"),
        model="rules",
        threshold_minutes=10.0,
        mode="walk",
    )
    result = plan(scenario)
    assert result.status == "optimal"
    best = result.travel.costs.row_min()  # nearest site of all, open or not
    reachable = best <= 10.0
    pop = result.demand["population"].to_numpy()
    covered = result.demand["covered"].to_numpy(dtype=bool)
    # inside the circle exactly those some candidate reaches; the rest is the touring list
    assert np.array_equal(covered, reachable)
    assert result.touring["population"].sum() == pytest.approx(pop[~reachable].sum())
    new = result.chosen_sites
    assert (new["tier"] == "community_health_service_station").all() and len(new) > 10
