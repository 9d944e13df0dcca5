"""The HTML plan report and its PNG map, and `siting report` on the synthetic demo city."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from siting import whatif
from siting.report import (
    map_png,
    new_sites_table,
    render_report,
    save_report,
    staffing_table,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs() -> tuple:
    scenario = whatif.demo_case()
    cache = whatif.TravelCache()
    baseline = whatif.run_scenario(whatif.configure(scenario, new_sites=0), cache=cache)
    result = whatif.run_scenario(scenario, cache=cache)
    return baseline, result


def _embedded_png(text: str) -> bytes:
    m = re.search(r'<img id="plan-map"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert m, "no embedded map image"
    return base64.b64decode(m.group(1))


def test_report_holds_map_score_and_every_unit(runs: tuple, tmp_path: Path) -> None:
    baseline, result = runs
    files = save_report(
        result, tmp_path / "r" / "report.html", png=tmp_path / "map.png", baseline=baseline
    )
    text = files["html"].read_text(encoding="utf-8")
    assert _embedded_png(text).startswith(PNG_MAGIC)
    assert files["png"].read_bytes().startswith(PNG_MAGIC)
    assert f"{result.coverage.share:.1%}" in text
    assert f"{baseline.coverage.share:.1%}" in text
    for name in result.scenario.units["name"]:
        assert name in text  # Chinese names kept as UTF-8
    for site_id in new_sites_table(result)["site_id"]:
        assert site_id in text
    assert "R11" in text and "R1 (" in text
    # self-contained: nothing is fetched
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<script" not in text


def test_tables(runs: tuple) -> None:
    _, result = runs
    new = new_sites_table(result)
    assert len(new) == 6 and set(new["kind"]) == {"new"}
    assert new["lon"].between(100, 125).all() and new["lat"].between(35, 50).all()
    staff = staffing_table(result)
    assert staff["name"].iloc[-1] == "total" and len(staff) == 11
    assert staff["population"].iloc[-1] == pytest.approx(300_000)
    # 2.6 GPs per 10,000 residents, rounded up
    assert staff["general_practitioners"].iloc[-1] == 78


def test_report_without_units_or_baseline(runs: tuple) -> None:
    _, result = runs
    bare = whatif.run_scenario(result.scenario.replace(units=None, new_sites=0))
    text = render_report(bare, png=PNG_MAGIC)
    assert "No admin units were given" in text
    assert "opens no new site" in text
    assert map_png(bare).startswith(PNG_MAGIC)


def test_cli_report_on_the_demo_city(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    png = tmp_path / "map.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "siting",
            "report",
            "--out",
            str(out),
            "--png",
            str(png),
            "--model",
            "mclp",
            "--new-sites",
            "3",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert _embedded_png(text).startswith(PNG_MAGIC)
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert "新华街道" in text and "New sites (3)" in text


def test_cli_report_from_files_and_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from geodata.synthetic import save_synthetic_city, synthetic_city
    from siting.cli import app

    paths = save_synthetic_city(synthetic_city(2, population=20_000), tmp_path / "city")
    out = tmp_path / "out" / "report.html"
    args = [
        "report",
        "--population", str(paths["population.tif"]),
        "--roads", str(paths["roads.graphml"]),
        "--existing", str(paths["existing.geojson"]),
        "--sites", str(paths["candidates.geojson"]),
        "--units", str(paths["subdistricts.geojson"]),
        "--model", "mclp",
        "--new-sites", "2",
        "--out", str(out),
        "--quiet",
    ]  # fmt: skip
    runner = CliRunner()
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    text = out.read_text(encoding="utf-8")
    assert _embedded_png(text).startswith(PNG_MAGIC) and "New sites (2)" in text
    missing = str(tmp_path / "missing.tif")
    bad = runner.invoke(app, ["report", "--population", missing, "--out", str(out), "--quiet"])
    assert bad.exit_code == 2
