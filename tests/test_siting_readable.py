"""Outputs analysts and planners can read (issue 18): layers without zero-length lines, typed
empty layers, an alias for every field, UTF-8 CSVs with a BOM, quiet solvers, readable styles."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point

from siting.outputs import save_result
from siting.planning import plan
from siting.scenario import Scenario

CRS = "EPSG:32649"  # UTM 49N (Hohhot)
X0, Y0 = 500_000.0, 4_500_000.0


def _plan(model: str = "mclp", new_sites: int = 1) -> object:
    # demand at 0, 500, 1000 m (100, 200, 100 residents); candidates at 500 m (on a demand
    # point) and 3000 m; walking 75 m a minute, straight line
    demand = gpd.GeoDataFrame(
        {"demand_id": ["d0", "d1", "d2"], "population": [100.0, 200.0, 100.0]},
        geometry=[Point(X0 + x, Y0) for x in (0, 500, 1000)],
        crs=CRS,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["s0", "s1"], "name": ["中心", "站"], "existing": [False, False]},
        geometry=[Point(X0 + 500, Y0), Point(X0 + 3000, Y0)],
        crs=CRS,
    )
    return plan(
        Scenario(
            demand=demand,
            sites=sites,
            model=model,
            new_sites=new_sites,
            threshold_minutes=10.0,
            detour_factor=1.0,
            walk_speed_kmh=4.5,
        )
    )


def _styles(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as con:
        return dict(con.execute("SELECT f_table_name, styleQML FROM layer_styles").fetchall())


def test_no_zero_length_assignment_lines() -> None:
    result = _plan()
    assert result.chosen_sites["site_id"].tolist() == ["s0"]
    lines = result.layers(demand="points")["assignments"]
    # d1 lies on s0: no line; d0 and d2 are 500 m from it
    assert sorted(lines["demand_id"]) == ["d0", "d2"]
    assert lines.geometry.length.round(6).tolist() == [500.0, 500.0]


def test_empty_layers_are_typed_and_every_field_has_an_alias(tmp_path: Path) -> None:
    result = _plan(new_sites=2)  # both candidates open: the candidates layer is empty
    files = save_result(result, tmp_path, name="t", demand="points")
    types = dict(pyogrio.list_layers(files["gpkg"]))
    assert types["candidates"] == "Point"
    assert types["sites"] == "Point"
    assert types["assignments"] == "LineString"
    assert "Unknown" not in {t for n, t in types.items() if n != "layer_styles"}
    styles = _styles(files["gpkg"])
    for name in types:
        if name == "layer_styles":
            continue
        fields = pyogrio.read_info(files["gpkg"], layer=name)["fields"]
        aliases = dict(re.findall(r'<alias field="([^"]+)" name="([^"]+)"', styles[name]))
        assert set(fields) <= set(aliases), (name, set(fields) - set(aliases))
    assert "Fields" in styles["sites"].split('styleCategories="')[1].split('"')[0]


@pytest.mark.parametrize("layer", ["admin_units", "sites", "candidates", "demand"])
def test_region_fields_have_bilingual_aliases(layer: str) -> None:
    from siting.export.styles import field_alias

    for field in (
        "kind",
        "reason",
        "run_status",
        "error",
        "cached",
        "seconds",
        "worker",
        "solve_status",
        "solve_coverage_share",
        "cross_border_population",
        "touring",
        "unit_id",
    ):
        alias = field_alias(layer, field)
        assert "/ " in alias and re.search(r"[\u4e00-\u9fff]", alias), (field, alias)


def test_csv_outputs_are_utf8_with_a_bom_for_excel(tmp_path: Path) -> None:
    import pandas as pd

    from siting.export import CSV_ENCODING, save_csv

    result = _plan()
    files = save_result(result, tmp_path, name="t", demand="points")
    csvs = [p for k, p in files.items() if k.endswith("_csv")]
    path = save_csv(pd.DataFrame({"name": ["新华街道"], "population": [28106]}), tmp_path / "u.csv")
    for p in [*csvs, path]:
        assert p.read_bytes().startswith(b"\xef\xbb\xbf"), p
    assert CSV_ENCODING == "utf-8-sig"
    back = pd.read_csv(path)
    assert back.columns.tolist() == ["name", "population"]  # the BOM is not in the header
    assert back["name"].iloc[0] == "新华街道"
    lines = path.read_bytes()[3:].decode("utf-8").splitlines()
    assert lines == ["name,population", "新华街道,28106"]


def test_highs_banner_stays_off_stdout() -> None:
    import subprocess
    import sys

    # a fresh process: HiGHS prints its banner on the first Highs() of a process only
    code = (
        "import numpy as np\n"
        "from solvers import LSCP, CostMatrix, solve\n"
        "d = np.array([[0.0, 5, 9], [5, 0, 9], [1, 4, 9], [9, 9, 1], [9, 1, 9]])\n"
        "sol = solve(LSCP(CostMatrix.from_dense(d), threshold=2.0))\n"
        "print(sol.backend, sol.status.value, sorted(int(i) for i in sol.open_sites))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert run.stdout == "highs optimal [0, 1, 2]\n"  # sites 0, 1, 2 cover rows 0-4
    assert "Running HiGHS" not in run.stdout


def test_styles_read_at_city_and_province_scale() -> None:
    import xml.etree.ElementTree as ET

    from siting.export import default_styles

    styles = {k: ET.fromstring(v) for k, v in default_styles(threshold_minutes=15).items()}

    def props(root: ET.Element) -> list[dict[str, str]]:
        return [{p.get("k"): p.get("v") for p in lyr.iter("prop")} for lyr in root.iter("layer")]

    # dense points: sized on the ground (metres), clamped in mm, no outline
    for name in ("demand", "touring", "candidates"):
        for p in props(styles[name]):
            assert p["size_unit"] == "RenderMetersInMapUnits", name
            assert p["outline_style"] == "no", name
            assert p["size_map_unit_scale"].startswith("3x:0,0,1,"), name
    sizes = [float(p["size"]) for p in props(styles["demand"])]
    assert sizes == [90.0, 90.0, 90.0, 120.0]  # metres; uncovered demand larger
    # admin units: a choropleth of the coverage share
    renderer = styles["admin_units"].find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol"
    assert "coverage_share" in renderer.get("attr")
    bounds = [(float(r.get("lower")), float(r.get("upper"))) for r in renderer.iter("range")]
    assert bounds[1:] == [(0.0, 0.5), (0.5, 0.8), (0.8, 0.9), (0.9, 0.99), (0.99, 1.0)]
    fills = [p["style"] for p in props(styles["admin_units"])]
    assert set(fills) == {"solid"}
    # assignment lines: thin, translucent, hidden beyond 1:25,000
    root = styles["assignments"]
    assert root.get("hasScaleBasedVisibilityFlag") == "1"
    assert float(root.get("minScale")) == 25_000 and root.get("maxScale") == "0"
    assert "Rendering" in root.get("styleCategories").split("|")
    (line,) = props(root)
    assert float(line["line_width"]) <= 0.15 and int(line["line_color"].split(",")[3]) < 128
    # compliance: coloured borders only, a violation the catch-all category
    cats = {c.get("value"): c.get("label") for c in styles["compliance"].iter("category")}
    assert cats == {"ok": "ok", "flagged": "flagged (allowed by the rules)", "": "violation"}
    assert {p["style"] for p in props(styles["compliance"])} == {"no"}


def test_projected_geopackage_is_in_the_local_utm_zone_in_metres(tmp_path: Path) -> None:
    import json

    result = _plan()
    files = save_result(result, tmp_path, name="p", demand="points", projected=True)
    for name, _ in pyogrio.list_layers(files["gpkg"]):
        if name == "layer_styles":
            continue
        gdf = pyogrio.read_dataframe(files["gpkg"], layer=name)
        assert gdf.crs.to_epsg() == 32649, name  # UTM 49N: 108-114°E, Hohhot's zone
        assert gdf.crs.axis_info[0].unit_name == "metre"
    sites = pyogrio.read_dataframe(files["gpkg"], layer="sites")
    assert sites.geometry.x.tolist() == pytest.approx([X0 + 500], abs=1e-3)
    assert sites.geometry.y.tolist() == pytest.approx([Y0], abs=1e-3)
    lines = pyogrio.read_dataframe(files["gpkg"], layer="assignments")
    assert lines.geometry.length.tolist() == pytest.approx([500.0, 500.0], abs=1e-3)  # metres
    summary = json.loads(files["summary"].read_text(encoding="utf-8"))
    assert summary["geopackage_crs"] == "EPSG:32649"
    # the GeoJSON stays WGS84 (RFC 7946), and without the option the GeoPackage too
    plain = save_result(result, tmp_path / "plain", name="p", demand="points")
    assert pyogrio.read_info(plain["gpkg"], layer="sites")["crs"] == "EPSG:4326"
    doc = json.loads(files["sites.geojson"].read_text(encoding="utf-8"))
    assert 111 < doc["features"][0]["geometry"]["coordinates"][0] < 112


def test_service_areas_contain_their_covered_residents_on_the_demo() -> None:
    import numpy as np

    from siting.demo import demo_city, demo_scenario

    city = demo_city(seed=0, population=60_000)
    result = plan(demo_scenario(city, new_sites=4, model="mclp"))
    areas = result.service_areas()
    assert areas is not None and len(areas) == len(result.chosen_sites)
    demand = result.demand.to_crs("EPSG:4326")
    covered = demand[demand["covered"].astype(bool) & demand["site_id"].notna()]
    assert len(covered) > 100
    by_site = areas.set_index("site_id").geometry
    pairs = zip(covered["site_id"], covered.geometry, strict=True)
    inside = np.array([by_site[str(s)].covers(p) for s, p in pairs])
    # every covered resident (the demand point, reached through its off-network walk) lies
    # inside the service area of the site that covers them (without the walks: 362 of 487)
    assert inside.all(), covered.loc[~inside, ["demand_id", "site_id"]].head()
    # and the sites themselves lie inside their own areas
    sites = result.chosen_sites.to_crs("EPSG:4326")
    pairs = zip(sites["site_id"], sites.geometry, strict=True)
    assert all(by_site[str(s)].covers(p) for s, p in pairs)


def _plan_with_units(n_units: int) -> object:
    from shapely.geometry import box

    # n_units strips 100 m wide side by side: their labels cannot all fit on the map
    units = gpd.GeoDataFrame(
        {
            "unit_id": [f"u{k:02d}" for k in range(n_units)],
            "name": [f"街道{k}" for k in range(n_units)],
        },
        geometry=[
            box(X0 + 100 * k, Y0 - 500, X0 + 100 * (k + 1), Y0 + 500) for k in range(n_units)
        ],
        crs=CRS,
    )
    xs = [100 * k + 50 for k in range(n_units)]
    demand = gpd.GeoDataFrame(
        {"demand_id": [f"d{k}" for k in range(n_units)], "population": [100.0 + k for k in xs]},
        geometry=[Point(X0 + x, Y0) for x in xs],
        crs=CRS,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["old", "s1"], "name": ["老中心", "新站"], "existing": [True, False]},
        geometry=[Point(X0 + 50, Y0 + 10), Point(X0 + 100 * n_units - 50, Y0 + 10)],
        crs=CRS,
    )
    return plan(
        Scenario(
            demand=demand,
            sites=sites,
            units=units,
            model="mclp",
            new_sites=1,
            threshold_minutes=10.0,
            detour_factor=1.0,
            walk_speed_kmh=4.5,
        )
    )


def test_report_map_declutters_labels_and_has_scale_bar_and_north_arrow() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from siting._mapdeco import nice_length
    from siting.reportmap import plot_plan

    result = _plan_with_units(60)
    fig = plot_plan(result)
    ax = fig.axes[0]
    labels = [c for c in ax.get_children() if type(c).__name__ == "Annotation" and c.get_text()]
    assert 0 < len(labels) < 60  # 60 labels 100 m apart on a 6 km map: most are left out
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    # the unit with the new site keeps its label first
    new_unit = result.units.loc[result.units["new_sites"] > 0, "name"].tolist()
    assert set(new_unit) <= {t.get_text() for t in labels}
    words = {t.get_text() for t in ax.texts}
    assert "N" in words  # north arrow
    assert any(w.endswith(" km") or w.endswith(" m") for w in words)  # scale bar
    plt.close(fig)
    assert [nice_length(v) for v in (1234.0, 2100.0, 7999.0, 0.5)] == [1000, 2000, 5000, 1]


def test_report_lists_existing_sites_too() -> None:
    pytest.importorskip("matplotlib")
    from siting.report import existing_sites_table, render_report

    result = _plan_with_units(5)
    kept = existing_sites_table(result)
    assert kept["site_id"].tolist() == ["old"] and kept["name"].tolist() == ["老中心"]
    text = render_report(result, png=b"")
    assert '<h2 id="existing-sites">Existing sites (1)</h2>' in text
    assert "老中心" in text and "New sites (1)" in text


def test_mclp_ties_go_to_the_plan_nearest_to_its_residents() -> None:
    # residents at 0 m (100) and 600 m (100); candidates at 700 m and 300 m. Each covers both
    # within 10 min (750 m): a tie on coverage. The candidate at 300 m is nearer to both
    # (300 + 300 m against 700 + 100 m): it must be the one kept, whatever the solver found.
    for order in ((700, 300), (300, 700)):
        demand = gpd.GeoDataFrame(
            {"demand_id": ["a", "b"], "population": [100.0, 100.0]},
            geometry=[Point(X0, Y0), Point(X0 + 600, Y0)],
            crs=CRS,
        )
        sites = gpd.GeoDataFrame(
            {"site_id": [f"s{x}" for x in order], "existing": [False, False]},
            geometry=[Point(X0 + x, Y0) for x in order],
            crs=CRS,
        )
        result = plan(
            Scenario(
                demand=demand,
                sites=sites,
                model="mclp",
                new_sites=1,
                threshold_minutes=10.0,
                detour_factor=1.0,
                walk_speed_kmh=4.5,
            )
        )
        assert result.status == "optimal"
        assert result.coverage.covered_population == 200.0  # the optimum, unchanged
        assert result.chosen_sites["site_id"].tolist() == ["s300"], order
        assert result.mean_travel_minutes == pytest.approx(4.0)  # 300 m at 75 m/min
        notes = " ".join(result.notes)
        assert "MCLP tie-break" in notes
        assert result.solution.details["tie_break"]["swaps"] in (0, 1)


def test_mclp_tie_break_never_lowers_coverage() -> None:
    import numpy as np

    from siting.ties import prefer_nearest
    from solvers import MCLP, CostMatrix, solve

    rng = np.random.default_rng(7)
    for _ in range(5):
        d = rng.uniform(0, 20, size=(30, 12))
        w = rng.integers(1, 50, size=30).astype(float)
        costs = CostMatrix.from_dense(d, cutoff=15.0)
        sol = solve(MCLP(costs, threshold=6.0, p=3, weights=w))
        new, note = prefer_nearest(sol, costs, w, 6.0, np.array([], dtype=np.int64), far=15.0)
        assert note is not None and len(new.open_sites) == 3
        covered = [w[(d[:, o] <= 6.0).any(axis=1)].sum() for o in (new.open_sites, sol.open_sites)]
        assert covered[0] == pytest.approx(covered[1])
        total = [
            (w * np.minimum(d[:, o], 15.0).min(axis=1)).sum()
            for o in (new.open_sites, sol.open_sites)
        ]
        assert total[0] <= total[1] + 1e-9
        assert new.objective == sol.objective


def test_console_tables_keep_ids_and_headers_whole() -> None:
    import io

    from rich.console import Console

    from siting.cli._tables import fitted_table, number, print_table, share

    rows = [["89a8100c2a3ffff", "Escola Estadual Professor Fulano de Tal", "12,345", share(0.5)]]
    rows.append(["89a8100c2a40fff", "中山街道社区卫生服务中心", "0", share(float("nan"))])
    table = fitted_table(
        [("site", "left"), ("name", "left"), ("population", "right"), ("share", "right")],
        rows,
        wrap=("name",),
    )
    for width in (40, 60, 200):  # a narrow terminal, 80 columns in a file, a wide one
        console = Console(file=io.StringIO(), width=width)
        print_table(console, table)
        text = console.file.getvalue()
        assert "…" not in text
        assert "89a8100c2a3ffff" in text and "89a8100c2a40fff" in text
        assert "population" in text
        assert "nan" not in text and "–" in text and "50.0%" in text
        assert console.width == width  # restored
    assert [share(None), share("x"), number(float("nan")), number(28106.0)] == [
        "–",
        "–",
        "–",
        "28,106",
    ]


def test_cli_projected_flag_and_readable_console(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "d"
    run = subprocess.run(
        [sys.executable, "-m", "siting", "demo", "--population", "30000", "--model", "mclp",
         "--new-sites", "2", "--projected", "--quiet", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                         "COLUMNS": "60"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # stdout: the tables only, no solver banner, nothing cut, no nan%
    assert "Running HiGHS" not in run.stdout and "THIRD_PARTY" not in run.stdout
    assert "…" not in run.stdout and "nan%" not in run.stdout
    assert "population" in run.stdout and "open sites" in run.stdout
    gpkg = out / "demo.gpkg"
    sites = pyogrio.read_dataframe(gpkg, layer="sites")
    assert sites.crs.to_epsg() == 32649  # UTM 49N, Hohhot
    assert (sites.geometry.x > 100_000).all() and (sites.geometry.y > 4_000_000).all()  # metres
