"""The command line end to end: `siting demo` and `siting plan` on files, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyogrio
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
    # every unit's verdict is printed: ok, or flagged with its reason
    assert "keeps its one centre (R1, 'or by sub-district')" in " ".join(proc.stdout.split())
    summary = json.loads((out / "demo_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal"
    assert summary["coverage"]["share"] > summary["baseline_coverage"]["share"]
    # issue 16's done criteria on demo_compliance.csv
    comp = pd.read_csv(out / "demo_compliance.csv")
    assert (comp["shortfall"] == 0).all()
    assert (comp["centres_above_band"] == 0).all()
    below = comp[comp["centres_below_band"] > 0]
    assert (below["population"] < 30_000).all() and (below["flag"] == "below_min").all()
    assert comp["population_beyond"].to_numpy() == pytest.approx(
        comp["touring_population"].to_numpy()
    )
    assert set(comp["status"]) <= {"ok", "flagged"} and "reason" in comp.columns
    assert summary["compliance"]["units"] == len(comp) == 10
    for name in ("sites", "demand", "service_areas", "admin_units", "assignments", "compliance"):
        doc = json.loads((out / f"demo_{name}.geojson").read_text(encoding="utf-8"))
        assert rfc7946_problems(doc) == [], name
        assert doc["features"], name
    sites = json.loads((out / "demo_sites.geojson").read_text(encoding="utf-8"))
    assert sites["coverage"]["share"] == pytest.approx(summary["coverage"]["share"])
    tiers = {f["properties"]["tier"] for f in sites["features"]}
    assert tiers == {"community_health_service_centre", "community_health_service_station"}
    assert (out / "demo.gpkg").stat().st_size > 0
    # the single-model run stays an option
    proc = _run("demo", "--out", str(tmp_path / "mclp"), "--model", "mclp", "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "mclp" / "demo_summary.json").read_text(encoding="utf-8"))
    assert summary["sites"]["new"] == 6


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
    assert "`--new-sites` must be at most the number of candidate" in " ".join(proc.stderr.split())


def test_plan_by_the_rules_from_files(tmp_path: Path) -> None:
    city = synthetic_city(2, population=60_000, n_candidates=40)
    paths = save_synthetic_city(city, tmp_path / "city")
    out = tmp_path / "out"
    proc = _run(
        "plan",
        "--population", str(paths["population.tif"]),
        "--roads", str(paths["roads.graphml"]),
        "--existing", str(paths["existing.geojson"]),
        "--sites", str(paths["candidates.geojson"]),
        "--units", str(paths["subdistricts.geojson"]),
        "--out", str(out),
        "--name", "r",
        "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "by the rules" in proc.stdout and "compliance per unit" in proc.stdout
    summary = json.loads((out / "r_summary.json").read_text(encoding="utf-8"))
    assert summary["scenario"]["model"] == "rules"
    assert [s["rule"] for s in summary["steps"]] == ["R1", "R6"]
    comp = pd.read_csv(out / "r_compliance.csv")
    assert list(comp.columns[:3]) == ["unit_id", "name", "kind"] and "reason" in comp.columns
    assert summary["compliance"]["table"][0]["unit_id"] == comp["unit_id"].iloc[0]
    assert (comp["shortfall"] == 0).all()
    layers = {name for name, _ in pyogrio.list_layers(out / "r.gpkg")}
    assert {"sites", "compliance", "touring", "admin_units"} <= layers
    sites = pyogrio.read_dataframe(out / "r.gpkg", layer="sites")
    assert {"tier", "rule", "status", "assigned_population", "beds", "nurses"} <= set(sites)
    assert set(sites["rule"]) <= {"existing", "R1", "R6"}
    gpkg_comp = pyogrio.read_dataframe(out / "r.gpkg", layer="compliance")
    assert gpkg_comp["reason"].fillna("").tolist() == comp["reason"].fillna("").tolist()
    # --new-sites belongs to one model
    bad = _run(
        "plan", "--population", str(paths["population.tif"]), "--new-sites", "3",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert bad.returncode == 2 and "--new-sites` is for one model" in bad.stderr


def test_a_failed_rules_plan_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import siting.bands
    from siting.cli import app
    from solvers import Solution, Status

    def no_solution(model: object, **_: object) -> Solution:
        return Solution("cpmedian", Status.NO_SOLUTION, None, None, None, 1.0, "highs",
                        reason="time limit reached before any plan")  # fmt: skip

    monkeypatch.setattr(siting.bands, "solve", no_solution)
    # one sub-district of 120,000: R1 needs 2 centres, a model (not the 1-median)
    city = synthetic_city(2, population=120_000, n_candidates=40, n_subdistricts=1)
    paths = save_synthetic_city(city, tmp_path / "city")
    args = [
        "plan",
        "--population", str(paths["population.tif"]),
        "--sites", str(paths["candidates.geojson"]),
        "--units", str(paths["subdistricts.geojson"]),
        "--out", str(tmp_path / "out"),
        "--quiet",
    ]  # fmt: skip
    done = CliRunner().invoke(app, args)
    # the R1 model ends without a plan: exit 1, the reason named
    assert done.exit_code == 1, done.output
    summary = json.loads((tmp_path / "out" / "plan_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "no_solution"
    assert "time limit reached before any plan" in summary["reason"]


def test_every_command_has_help() -> None:
    for cmd in ("demo", "plan", "plan-tiers", "solve-matrix", "report", "prepare"):
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
