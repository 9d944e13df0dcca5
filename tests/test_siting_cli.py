"""The command line end to end: `siting demo` and `siting plan` on files, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from geodata.synthetic import save_synthetic_city, synthetic_city
from tests.geojson_rfc7946 import rfc7946_problems


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "siting", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=600,
    )


@pytest.mark.slow
def test_demo_runs_offline_and_writes_valid_outputs(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    proc = _run("demo", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "coverage" in proc.stdout and "新华街道" in proc.stdout
    summary = json.loads((out / "demo_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal"
    assert summary["sites"]["new"] == 6
    assert summary["coverage"]["share"] > summary["baseline_coverage"]["share"]
    for name in ("sites", "demand", "service_areas", "admin_units", "assignments"):
        doc = json.loads((out / f"demo_{name}.geojson").read_text(encoding="utf-8"))
        assert rfc7946_problems(doc) == [], name
        assert doc["features"], name
    sites = json.loads((out / "demo_sites.geojson").read_text(encoding="utf-8"))
    assert sites["coverage"]["share"] == pytest.approx(summary["coverage"]["share"])
    assert (out / "demo.gpkg").stat().st_size > 0


def test_plan_from_files(tmp_path: Path) -> None:
    city = synthetic_city(2, population=20_000)
    paths = save_synthetic_city(city, tmp_path / "city")
    out = tmp_path / "out"
    proc = _run(
        "plan",
        "--population",
        str(paths["population.tif"]),
        "--roads",
        str(paths["roads.graphml"]),
        "--existing",
        str(paths["existing.geojson"]),
        "--sites",
        str(paths["candidates.geojson"]),
        "--units",
        str(paths["subdistricts.geojson"]),
        "--model",
        "pmedian",
        "--new-sites",
        "2",
        "--threshold",
        "10",
        "--mode",
        "walk",
        "--out",
        str(out),
        "--name",
        "t",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "t_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal"
    assert summary["sites"]["new"] == 2
    assert 0 < summary["coverage"]["share"] <= 1
    assert (out / "t.gpkg").exists() and (out / "t_units.csv").exists()


def test_plan_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    proc = _run("plan", "--population", str(tmp_path / "nope.tif"), "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    city = synthetic_city(2, population=20_000)
    paths = save_synthetic_city(city, tmp_path / "city")
    proc = _run(
        "plan",
        "--population",
        str(paths["population.tif"]),
        "--sites",
        str(paths["candidates.geojson"]),
        "--model",
        "mclp",
        "--new-sites",
        "500",
        "--out",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 2
    assert "`new_sites` must be at most the number of candidate" in " ".join(proc.stderr.split())


def test_every_command_has_help() -> None:
    for cmd in ("demo", "plan", "plan-tiers", "solve-matrix"):
        proc = _run(cmd, "--help")
        assert proc.returncode == 0 and "Usage" in proc.stdout


def test_plan_tiers_from_a_tiers_file(tmp_path: Path) -> None:
    import geopandas as gpd

    city = synthetic_city(2, population=20_000)
    paths = save_synthetic_city(city, tmp_path / "city")
    cands = gpd.read_file(paths["candidates.geojson"])
    cands.iloc[:4].to_file(tmp_path / "centres.geojson", driver="GeoJSON")
    cands.iloc[4:].to_file(tmp_path / "stations.geojson", driver="GeoJSON")
    (tmp_path / "tiers.toml").write_text(
        "[[tiers]]\n"
        'tier = "community_health_service_centre"\n'
        'existing = "city/existing.geojson"\n'
        'sites = "centres.geojson"\n'
        "new_sites = 1\n"
        "\n"
        "[[tiers]]\n"
        'tier = "community_health_service_station"\n'
        'sites = "stations.geojson"\n'
        'model = "pmedian"\n'
        "new_sites = 2\n"
        "band = [1000, 10000]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = _run(
        "plan-tiers",
        "--population",
        str(paths["population.tif"]),
        "--roads",
        str(paths["roads.graphml"]),
        "--units",
        str(paths["subdistricts.geojson"]),
        "--tiers",
        str(tmp_path / "tiers.toml"),
        "--out",
        str(out),
        "--name",
        "t",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "t_tiers_summary.json").read_text(encoding="utf-8"))
    assert [s["tier"] for s in summary] == [
        "community_health_service_centre",
        "community_health_service_station",
    ]
    centres, stations = summary
    assert centres["sites"]["existing"] == 1 and centres["sites"]["new"] == 1
    # the centre tier's existing and new sites stay open (as existing) for the stations
    assert stations["sites"]["existing"] == 2 and stations["sites"]["new"] == 2
    assert set(centres["sites"]["new_site_ids"]) <= set(cands["site_id"].iloc[:4])
    assert set(stations["sites"]["new_site_ids"]) <= set(cands["site_id"].iloc[4:])
    sites = json.loads((out / "t_tiers_sites.geojson").read_text(encoding="utf-8"))
    tiers = [f["properties"]["tier"] for f in sites["features"]]
    assert (
        sorted(tiers)
        == ["community_health_service_centre"] * 2 + ["community_health_service_station"] * 2
    )
    for tier in ("community_health_service_centre", "community_health_service_station"):
        assert (out / f"t_{tier}.gpkg").exists() and (out / f"t_{tier}_units.csv").exists()
    # a bad tiers file: a clear message, exit code 2, no traceback
    (tmp_path / "bad.toml").write_text(
        '[[tiers]]\ntier = "village_clinic"\nsites = "stations.geojson"\nnew_site = 1\n',
        encoding="utf-8",
    )
    proc = _run(
        "plan-tiers",
        "--population",
        str(paths["population.tif"]),
        "--tiers",
        str(tmp_path / "bad.toml"),
        "--out",
        str(out),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown key 'new_site' in tier 1 ('village_clinic')" in " ".join(proc.stderr.split())
