"""What-if functions (the notebook's widget callbacks) on the synthetic demo city."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyogrio
import pytest

from siting import InputError, whatif
from siting.export import field_aliases, geojson_dict
from siting.rules import default_rules, save_rules
from tests.geojson_rfc7946 import assert_rfc7946


@pytest.fixture(scope="module")
def case() -> dict:
    scenario = whatif.demo_case()
    cache = whatif.TravelCache()
    baseline = whatif.run_scenario(whatif.configure(scenario, new_sites=0), cache=cache)
    result = whatif.run_scenario(scenario, cache=cache)
    return {"scenario": scenario, "cache": cache, "baseline": baseline, "result": result}


def test_demo_case_reuses_travel_times(case: dict) -> None:
    cache = case["cache"]
    assert cache.misses == 1 and cache.hits >= 1
    assert case["scenario"].cutoff_minutes == 45.0
    # a threshold within the cutoff re-solves without new travel times
    r = whatif.run_scenario(whatif.configure(case["scenario"], threshold_minutes=15), cache=cache)
    assert cache.misses == 1
    assert r.coverage.threshold_minutes == 15.0
    assert r.coverage.share >= case["result"].coverage.share


def test_compare_baseline_and_plan(case: dict) -> None:
    c = whatif.compare(case["baseline"], case["result"])
    assert c.coverage_before == pytest.approx(case["baseline"].coverage.share)
    assert c.coverage_after == pytest.approx(case["result"].coverage.share)
    assert c.coverage_gained > 0.1
    assert c.moved_in - c.moved_out == pytest.approx(c.population_gained)
    assert c.population_gained == pytest.approx(c.covered_after - c.covered_before)
    assert len(c.sites_added) == 6 and c.sites_removed == []
    assert set(c.sites_added) == set(whatif.scenario_summary(case["result"])["new_site_ids"])
    units = c.units
    assert units is not None and len(units) == 10
    assert units["covered_change"].sum() == pytest.approx(c.population_gained)
    assert (units["sites_after"] - units["sites_before"]).sum() == 6
    assert "新华街道" in set(units["name"])
    assert set(c.demand["change"]) <= {"", "in", "out"}
    assert c.as_dict()["sites_added"] == c.sites_added


def test_add_candidate_from_the_list(case: dict) -> None:
    result = case["result"]
    cand = result.sites.loc[result.sites["status"] == "candidate", "site_id"].iloc[0]
    scenario = whatif.add_site(case["scenario"], cand)
    row = scenario.sites.set_index("site_id").loc[cand]
    assert bool(row["existing"]) and bool(row["added"])
    after = whatif.run_scenario(scenario, cache=case["cache"])
    c = whatif.compare(result, after)
    assert cand in c.sites_added
    assert c.coverage_gained >= -1e-12  # one more fixed site never loses coverage under MCLP
    s = whatif.scenario_summary(after)
    assert s["added_sites"] == 1 and s["new_sites_chosen"] == 6
    with pytest.raises(InputError, match="already open"):
        whatif.add_site(scenario, cand)
    with pytest.raises(InputError, match="no site"):
        whatif.add_site(scenario, "nope")


def test_add_site_by_click_and_remove_it(case: dict) -> None:
    sc = case["scenario"]
    centre = sc.demand.to_crs("EPSG:4326").geometry.union_all().centroid
    added = whatif.add_site(sc, lon=centre.x, lat=centre.y, name="新站点")
    assert added.sites["site_id"].iloc[-1] == "ADD1"
    assert added.sites["name"].iloc[-1] == "新站点"
    again = whatif.add_site(added, lon=centre.x + 0.01, lat=centre.y)
    assert again.sites["site_id"].iloc[-1] == "ADD2"
    after = whatif.run_scenario(added, cache=case["cache"])
    assert "ADD1" in whatif.open_site_ids(after)
    removed = whatif.remove_site(added, "ADD1")
    assert "ADD1" not in set(removed.sites["site_id"])
    with pytest.raises(InputError):
        whatif.add_site(sc, lon=500.0, lat=40.0)
    with pytest.raises(InputError):
        whatif.add_site(sc)


def test_remove_existing_site_restricts_cached_travel(case: dict) -> None:
    cache = case["cache"]
    misses = cache.misses
    closed = whatif.remove_site(case["scenario"], "E01")
    after = whatif.run_scenario(closed, cache=cache)
    assert cache.misses == misses  # a subset of the cached sites: no new travel times
    c = whatif.compare(case["result"], after)
    # E01 closed (MCLP may also move some of its new sites around the gap)
    assert "E01" in c.sites_removed and "E01" not in whatif.open_site_ids(after)
    assert c.coverage_gained <= 1e-12
    with pytest.raises(InputError, match="no site"):
        whatif.remove_site(case["scenario"], "E99")


def test_configure_mode_and_rules(case: dict, tmp_path: Path) -> None:
    sc = case["scenario"]
    assert whatif.configure(sc) is sc
    drive = whatif.configure(sc, mode="drive", new_sites=2)
    assert drive.mode == "drive" and drive.new_sites == 2
    with pytest.raises(InputError):
        whatif.configure(sc, mode="fly")
    with pytest.raises(InputError):
        whatif.configure(sc, threshold_minutes=-1)
    path = save_rules(default_rules().with_params("R1", min_population=10_000), tmp_path / "x.toml")
    presets = whatif.rule_presets([path])
    assert next(iter(presets)) == default_rules().name and len(presets) == 2
    other = next(p for k, p in presets.items() if k != default_rules().name)
    r = whatif.run_scenario(whatif.configure(sc, rules=other), cache=case["cache"])
    assert whatif.scenario_summary(r)["rules"] == other.name
    assert r.compliance is not None


def test_compare_refuses_other_demand(case: dict) -> None:
    other = whatif.demo_case(seed=1)
    r = whatif.run_scenario(whatif.configure(other, new_sites=1))
    if (
        len(r.demand) == len(case["result"].demand)
        and (
            r.demand["demand_id"].to_numpy() == case["result"].demand["demand_id"].to_numpy()
        ).all()
    ):
        pytest.skip("seed 1 has the same demand ids")
    with pytest.raises(InputError, match="different demand"):
        whatif.compare(case["result"], r)


def test_map_layers_are_wgs84(case: dict) -> None:
    layers = whatif.map_layers(case["result"])
    assert set(layers) >= {"demand", "sites", "candidates", "service_areas", "admin_units"}
    for name, gdf in layers.items():
        assert gdf.crs.to_epsg() == 4326, name
        assert len(gdf), name
    lon, lat = layers["sites"].geometry.x, layers["sites"].geometry.y
    assert np.all((lon > 100) & (lon < 125) & (lat > 35) & (lat < 50))
    assert set(layers["sites"]["status"]) == {"existing", "new"}
    assert "coverage_share" in layers["admin_units"].columns


def test_export_scenario_is_styled(case: dict, tmp_path: Path) -> None:
    scenario = whatif.configure(case["scenario"], threshold_minutes=15)
    first = case["result"].sites.query("status == 'candidate'")["site_id"].iloc[0]
    result = whatif.run_scenario(whatif.add_site(scenario, first), cache=case["cache"])
    path = whatif.export_scenario(result, tmp_path / "chosen.gpkg")
    layers = {name for name, _ in pyogrio.list_layers(path)} - {"layer_styles"}
    expected = result.layers()
    assert layers == set(expected) >= {"sites", "demand", "service_areas", "admin_units"}
    for name in layers:
        info = pyogrio.read_info(path, layer=name)
        assert info["crs"] == "EPSG:4326", name
        assert set(info["fields"]) >= {c for c in expected[name].columns if c != "geometry"}, name
        assert info["features"] == len(expected[name]), name
    units = pyogrio.read_dataframe(path, layer="admin_units")
    assert set(units["name"]) == set(case["scenario"].units["name"])  # Chinese kept in UTF-8
    with sqlite3.connect(path) as con:
        styles = dict(con.execute("SELECT f_table_name, styleQML FROM layer_styles").fetchall())
    assert set(styles) == layers  # one default style row per layer
    assert "15.000000" in styles["demand"]  # graduated by the run's own threshold
    for name in layers:
        root = ET.fromstring(styles[name])
        aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
        # the standard aliases, and one for every other field of the layer
        assert aliases.items() >= field_aliases(name).items(), name
        assert set(aliases) >= set(pyogrio.read_info(path, layer=name)["fields"]), name
    assert "出行时间" in field_aliases("demand")["travel_time_min"]


def test_map_geojson_is_rfc7946(case: dict) -> None:
    for name, gdf in whatif.map_layers(case["result"]).items():
        assert_rfc7946(geojson_dict(gdf, precision=6, name=name), max_decimals=6)


@pytest.mark.slow
def test_real_case_sao_paulo(data_dir: Path) -> None:
    scenario = whatif.real_case("sao-paulo", data_dir=data_dir, new_sites=4)
    cache = whatif.TravelCache()
    one = whatif.run_scenario(whatif.configure(scenario, new_sites=1), cache=cache)
    four = whatif.run_scenario(scenario, cache=cache)
    assert cache.misses == 1
    c = whatif.compare(one, four)
    assert 0 < c.coverage_before < c.coverage_after < 1
    assert len(whatif.open_site_ids(four)) == 4
    with pytest.raises(InputError):
        whatif.real_case("atlantis", data_dir=data_dir)


def test_real_case_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="sao-paulo"):
        whatif.real_case("sao-paulo", data_dir=tmp_path)
