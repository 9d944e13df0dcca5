"""Honest answers on hand-made inputs (issue 17): exit codes, CSV inputs with ids and names,
GCJ-02 inputs, road line layers and flag names on the command line; the demand grid; a region
unit without demand; the command line's start imports only what it needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from geodata.chinacoords import wgs84_to_gcj02
from siting.grid import demand_grid

LON, LAT = 111.70, 40.82  # Hohhot
DEG_PER_M = 1 / 111_320.0  # latitude degrees per metre


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siting", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def _csv_town(tmp_path: Path) -> tuple[Path, Path]:
    """Four villages north of a clinic plot on one meridian (0, 300, 600 m and 3 km: the last
    one is 52 minutes' walk from any site, so no site covers it within 10 minutes), and two
    candidate plots, as CSV files with ids and Chinese names."""
    people = tmp_path / "villages.csv"
    people.write_text(
        "code,名称,lon,lat,pop\n"
        + "".join(
            f"V{k},村{k},{LON},{LAT + metres * DEG_PER_M},{pop}\n"
            for k, (metres, pop) in enumerate([(0, 100), (300, 200), (600, 150), (3000, 50)])
        ),
        encoding="utf-8",
    )
    plots = tmp_path / "plots.csv"
    plots.write_text(
        f"code,名称,lon,lat\nP1,卫生室甲,{LON},{LAT + 300 * DEG_PER_M}\n"
        f"P2,卫生室乙,{LON},{LAT + 1500 * DEG_PER_M}\n",
        encoding="utf-8",
    )
    return people, plots


def _csv_flags(people: Path, plots: Path) -> list[str | Path]:
    return [
        "--population", people, "--sites", plots, "--population-column", "pop",
        "--x-column", "lon", "--y-column", "lat", "--crs", "EPSG:4326",
        "--id-column", "code", "--name-column", "名称", "--quiet",
    ]  # fmt: skip


def test_plan_reads_csv_points_and_keeps_ids_and_names(tmp_path: Path) -> None:
    people, plots = _csv_town(tmp_path)
    out = tmp_path / "out"
    proc = _run("plan", *_csv_flags(people, plots), "--model", "mclp", "--new-sites", "1",
                "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    demand = json.loads((out / "plan_demand.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in demand["features"]]
    assert [p["demand_id"] for p in props] == ["V0", "V1", "V2", "V3"]
    assert [p["name"] for p in props] == ["村0", "村1", "村2", "村3"]
    sites = json.loads((out / "plan_sites.geojson").read_text(encoding="utf-8"))
    [site] = sites["features"]
    assert site["properties"]["site_id"] == "P1" and site["properties"]["name"] == "卫生室甲"
    # P1 covers 0, 300 and 600 m (at most 4 min 20 s walking with the detour)
    assert sites["coverage"]["covered_weight"] == 450.0
    assert "mean travel time │ 7.26 min over 500 residents (0 unreachable, not" in _said(proc)


def test_lscp_covers_the_coverable_and_strict_exits_1(tmp_path: Path) -> None:
    people, plots = _csv_town(tmp_path)
    flags = _csv_flags(people, plots)
    out = tmp_path / "lscp"
    proc = _run("plan", *flags, "--model", "lscp", "--out", out)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal" and summary["sites"]["new_site_ids"] == ["P1"]
    assert summary["uncoverable"] == {"points": 1, "population": 50.0}
    lost = pd.read_csv(out / "plan_uncoverable.csv")
    assert lost["demand_id"].tolist() == ["V3"] and lost["population"].tolist() == [50]
    assert lost["lat"].iloc[0] == pytest.approx(LAT + 3000 * DEG_PER_M, abs=1e-6)
    assert "--strict answers infeasible" in _said(proc)
    strict = _run("plan", *flags, "--model", "lscp", "--strict", "--out", tmp_path / "s")
    assert strict.returncode == 1
    assert "the plan failed (infeasible)" in _said(strict)
    # --new-sites means nothing to LSCP: an error naming the flag
    bad = _run("plan", *flags, "--model", "lscp", "--new-sites", "2", "--out", tmp_path / "b")
    assert bad.returncode == 2 and "`--new-sites` is not used by LSCP" in _said(bad)


def test_inputs_that_do_not_overlap_exit_2_naming_both_extents(tmp_path: Path) -> None:
    people, _ = _csv_town(tmp_path)
    helsinki = tmp_path / "helsinki.csv"
    helsinki.write_text("code,名称,lon,lat\nH1,clinic,24.94,60.17\n", encoding="utf-8")
    proc = _run("plan", *_csv_flags(people, helsinki), "--model", "mclp", "--new-sites", "1",
                "--out", tmp_path / "out")  # fmt: skip
    assert proc.returncode == 2
    said = _said(proc)
    assert "the population (lon 111.7000..111.7000, lat 40.8200..40.8469)" in said
    assert "the sites (lon 24.9400..24.9400, lat 60.1700..60.1700) do not overlap" in said


def test_coordinate_mistakes_exit_2_with_the_file_and_the_cause(tmp_path: Path) -> None:
    people, plots = _csv_town(tmp_path)
    flags = [str(f) for f in _csv_flags(people, plots)]
    swapped = [{"lon": "lat", "lat": "lon"}.get(f, f) for f in flags]
    proc = _run("plan", *swapped, "--model", "mclp", "--new-sites", "1", "--out", tmp_path / "o")
    assert proc.returncode == 2
    said = _said(proc)
    assert "villages.csv" in said and "(40.82, 111.7)" in said and "swapped" in said
    no_crs = [f for f in flags if f not in ("--crs", "EPSG:4326")]
    proc = _run("plan", *no_crs, "--model", "mclp", "--new-sites", "1", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "has no CRS: pass --crs" in _said(proc)
    missing = [f if f != "pop" else "people" for f in flags]
    proc = _run("plan", *missing, "--model", "mclp", "--new-sites", "1", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "pass --population-column" in _said(proc)


def test_gcj02_inputs_are_converted(tmp_path: Path) -> None:
    from siting.inputs import load_scenario

    people, plots = _csv_town(tmp_path)
    frame = pd.read_csv(people)
    glon, glat = wgs84_to_gcj02(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    frame.assign(lon=glon, lat=glat).to_csv(tmp_path / "gcj.csv", index=False)
    args = {"population_column": "pop", "x_column": "lon", "y_column": "lat", "crs": "EPSG:4326"}
    scenario = load_scenario(
        population=tmp_path / "gcj.csv", sites=plots, coords="gcj02", model="mclp", new_sites=1,
        **args,
    )  # fmt: skip
    back = scenario.demand.geometry
    assert np.allclose(back.x, frame["lon"], atol=1e-7) and np.allclose(back.y, frame["lat"])
    assert abs(glon[0] - LON) > 1e-3  # GCJ-02 is ~500 m off in Hohhot: the test means it


def test_road_line_layer_from_the_command_line(tmp_path: Path) -> None:
    people, plots = _csv_town(tmp_path)
    roads = tmp_path / "roads.geojson"
    gpd.GeoDataFrame(
        {"kind": ["primary"], "limit": [10.0], "one": ["no"]},
        geometry=[LineString([(LON, LAT + k * 0.001) for k in range(-1, 31)])],  # ~110 m apart
        crs="EPSG:4326",
    ).to_file(roads)
    out = tmp_path / "out"
    proc = _run("plan", *_csv_flags(people, plots), "--roads", roads, "--mode", "drive",
                "--road-class-column", "kind", "--road-speed-column", "limit",
                "--road-speed-unit", "m/s", "--road-oneway-column", "one", "--model", "pmedian",
                "--new-sites", "1", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    demand = json.loads((out / "plan_demand.geojson").read_text(encoding="utf-8"))
    times = [f["properties"]["travel_time_min"] for f in demand["features"]]
    # from each village's vertex to P1's (vertices 0.001 deg = 111.3 m apart) at 10 m/s
    # (36 km/h), plus both walks to the vertices at 4.5 km/h (1.25 m/s)
    step = 0.001 / DEG_PER_M
    at = np.array([0.0, 300.0, 600.0, 3000.0])
    vertex, plot = np.round(at / step), np.round(300.0 / step)
    walk = np.abs(at - vertex * step) + abs(300.0 - plot * step)
    expected = (np.abs(vertex - plot) * step / 10.0 + walk / 1.25) / 60.0
    assert np.allclose(times, expected, atol=0.02)  # 111,320 m a degree: ~0.3 % off here
    flags_on_osm = _run("plan", *_csv_flags(people, plots), "--road-speed-unit", "m/s",
                        "--model", "mclp", "--new-sites", "1", "--out", out)  # fmt: skip
    assert flags_on_osm.returncode == 2 and "`--road-speed-unit` is for road line" in _said(
        flags_on_osm
    )


def test_solve_matrix_exit_codes(tmp_path: Path) -> None:
    costs = tmp_path / "costs.csv"
    costs.write_text("demand_id,site_id,cost\na,s1,5\nb,s1,50\n", encoding="utf-8")
    demand = tmp_path / "demand.csv"
    demand.write_text("demand_id,weight\na,1\nb,1\n", encoding="utf-8")
    out = tmp_path / "r.json"
    proc = _run("solve-matrix", "--costs", costs, "--demand", demand, "--model", "lscp",
                "--threshold", "10", "--json", out)  # fmt: skip
    assert proc.returncode == 1
    result = json.loads(out.read_text(encoding="utf-8"))  # written all the same
    assert result["status"] == "infeasible" and result["unreachable_demand"] == ["b"]
    ok = _run("solve-matrix", "--costs", costs, "--demand", demand, "--model", "mclp",
              "--p", "1", "--threshold", "10", "--json", out)  # fmt: skip
    assert ok.returncode == 0
    warn = _run("solve-matrix", "--costs", costs, "--demand", demand, "--model", "mclp",
                "--p", "1", "--threshold", "600", "--json", out)  # fmt: skip
    assert warn.returncode == 0 and "--threshold 600 is at least every cost" in _said(warn)


def test_demand_grid_sums_points_into_cells() -> None:
    # four points: two in one 1 km cell, one in the next cell east, one unreachable
    x0, y0 = 500_100.0, 4_500_100.0
    demand = gpd.GeoDataFrame(
        {
            "population": [10.0, 30.0, 5.0, 7.0],
            "travel_time_min": [2.0, 6.0, 12.0, np.nan],
            "covered": [True, True, False, False],
        },
        geometry=[Point(x0, y0), Point(x0 + 500, y0 + 500), Point(x0 + 1000, y0), Point(x0, y0)],
        crs="EPSG:32649",
    )
    grid = demand_grid(demand, size=1000.0, uncoverable=np.array([False, False, True, False]))
    assert grid["points"].tolist() == [3, 1]
    assert grid["population"].tolist() == [47.0, 5.0]
    assert grid["covered_population"].tolist() == [40.0, 0.0]
    assert grid["unreachable_population"].tolist() == [7.0, 0.0]
    assert grid["uncoverable_population"].tolist() == [0.0, 5.0]
    assert grid["mean_travel_min"].tolist() == [pytest.approx((10 * 2 + 30 * 6) / 40), 12.0]
    assert grid["max_travel_min"].tolist() == [6.0, 12.0]
    assert grid.crs.to_epsg() == 4326
    cell = grid.to_crs("EPSG:32649").geometry.iloc[0]
    assert cell.area == pytest.approx(1e6, rel=1e-6)


def test_plan_layers_switch_to_the_grid() -> None:
    from siting.planning import plan
    from siting.scenario import Scenario

    xs = np.arange(30) * 100.0
    demand = gpd.GeoDataFrame(
        {"demand_id": [f"d{k}" for k in range(30)], "population": np.ones(30)},
        geometry=[Point(500_000 + x, 4_500_000) for x in xs],
        crs="EPSG:32649",
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["s0"]}, geometry=[Point(500_000, 4_500_000)], crs="EPSG:32649"
    )
    result = plan(Scenario(demand=demand, sites=sites, model="mclp", new_sites=1))
    points, grid = result.layers(), result.layers(demand="grid")
    assert "demand" in points and "uncoverable" in points and "demand_grid" not in points
    assert "demand_grid" in grid and "demand" not in grid and "assignments" not in grid
    assert grid["demand_grid"]["population"].sum() == 30.0


def test_region_unit_without_demand_is_not_a_failure() -> None:
    from geodata.synthetic import synthetic_province, synthetic_units
    from siting.region import RegionSettings, plan_region

    units = synthetic_units(2, 1, size_km=10.0)
    province = synthetic_province(units, 1, population=20_000, cell_km=1.0, candidates_per_unit=4)
    empty = province.units["unit_id"].iloc[1]
    demand = province.demand[province.demand["unit_id"] != empty]
    result = plan_region(
        province.units, demand, province.sites, province.roads,
        settings=RegionSettings(new_sites=1, time_limit=30.0), serial=True,
    )  # fmt: skip
    assert result.failed == {} and result.no_demand == [empty]
    summary = result.summary()
    assert summary["units_ok"] == 1 and summary["units_no_demand"] == 1
    status = result.compliance.set_index("unit_id")["status"]
    assert status[empty] == "no demand"


def test_the_command_line_starts_without_the_geo_stack() -> None:
    code = (
        "import sys, siting.cli; "
        "print(sorted(m for m in ('pandas', 'geopandas', 'scipy', 'networkx', 'shapely') "
        "if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ("pass population_column=", "pass --population-column"),
        ("pass crs= (e.g. crs='EPSG:4326')", "pass --crs (e.g. --crs 'EPSG:4326')"),
        ("`new_sites` must be at most 3", "`--new-sites` must be at most 3"),
        ("(candidate_spacing); plots (sites)", "(--candidate-spacing); plots (--sites)"),
        ("(candidate_spacing 5 m: max_candidates)", "(--candidate-spacing 5 m: --max-candidates)"),
        ("strict=True answers infeasible", "--strict answers infeasible"),
        ("the (population) and `unknown_name` stay", "the (population) and `unknown_name` stay"),
    ],
)  # fmt: skip
def test_messages_name_the_flags(message: str, said: str) -> None:
    from siting._flags import cli_words

    assert cli_words(message) == said
