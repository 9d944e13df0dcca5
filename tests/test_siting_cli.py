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
    for cmd in ("demo", "plan", "solve-matrix"):
        proc = _run(cmd, "--help")
        assert proc.returncode == 0 and "Usage" in proc.stdout
