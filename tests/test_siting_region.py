"""Region planning (siting.region, geodata.synthetic_province): counting rule, Dask vs serial,
per-unit failures, the per-unit cache and the plan-region command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geodata.synthetic import synthetic_province, synthetic_units
from siting.region import RegionSettings, plan_region, split_region, unit_key
from siting_errors import DependencyError

DATA = Path(os.environ.get("SITING_DATA_DIR", Path(__file__).resolve().parents[2] / "shared/data"))
COUNTIES = DATA / "inner-mongolia-admin-boundaries" / "inner_mongolia_county_amap_wgs84.geojson"

SETTINGS = RegionSettings(new_sites=2, time_limit=30.0)


@pytest.fixture(scope="module")
def province():
    units = synthetic_units(2, 2, size_km=20.0)
    return synthetic_province(units, 3, population=200_000, cell_km=1.0, candidates_per_unit=10)


@pytest.fixture(scope="module")
def serial_result(province):
    p = province
    return plan_region(p.units, p.demand, p.sites, p.roads, settings=SETTINGS, serial=True)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as c:
        yield c


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.demand, b.demand, check_exact=True)
    pd.testing.assert_frame_equal(a.sites, b.sites, check_exact=True)
    pd.testing.assert_frame_equal(a.compliance, b.compliance, check_exact=True)
    assert a.coverage_share == b.coverage_share
    assert (a.service_areas is None) == (b.service_areas is None)
    if a.service_areas is not None:  # cached units bring their service areas back
        assert a.service_areas["site_id"].tolist() == b.service_areas["site_id"].tolist()
        assert a.service_areas.geometry.geom_equals_exact(b.service_areas.geometry, 1e-9).all()
    assert {u: o.new_site_ids for u, o in a.outcomes.items()} == {
        u: o.new_site_ids for u, o in b.outcomes.items()
    }


def test_synthetic_province_is_deterministic(province):
    again = synthetic_province(
        synthetic_units(2, 2, size_km=20.0),
        3,
        population=200_000,
        cell_km=1.0,
        candidates_per_unit=10,
    )
    pd.testing.assert_frame_equal(province.demand, again.demand, check_exact=True)
    pd.testing.assert_frame_equal(province.sites, again.sites, check_exact=True)
    assert list(province.roads.edges(keys=True, data=True)) == list(
        again.roads.edges(keys=True, data=True)
    )
    assert province.demand["population"].sum() == 200_000
    assert set(province.demand["unit_id"]) == set(province.units["unit_id"])


def test_split_counts_each_demand_point_once(province):
    p = province
    jobs, report = split_region(p.units, p.demand, p.sites, p.roads, settings=SETTINGS)
    assert [j.unit_id for j in jobs] == p.units["unit_id"].tolist()
    ids = pd.concat([j.demand["demand_id"] for j in jobs])
    assert not ids.duplicated().any() and len(ids) == len(p.demand)
    assert report["demand_outside"] == 0
    for job in jobs:
        own = job.sites["home_unit"] == job.unit_id
        # neighbours contribute existing sites only; candidates are opened by their own unit
        assert job.sites.loc[~own, "existing"].all()
        assert (job.demand["unit_id"] == job.unit_id).all()
    assert any((j.sites["home_unit"] != j.unit_id).any() for j in jobs)
    no_buffer, _ = split_region(
        p.units, p.demand, p.sites, p.roads, settings=RegionSettings(new_sites=2, buffer_km=0.0)
    )
    assert all((j.sites["home_unit"] == j.unit_id).all() for j in no_buffer)


def test_unit_key_follows_the_unit_inputs(province):
    p = province
    jobs, _ = split_region(p.units, p.demand, p.sites, p.roads, settings=SETTINGS)
    demand = p.demand.copy()
    first = demand.index[demand["unit_id"] == jobs[0].unit_id][0]
    demand.loc[first, "population"] += 1
    changed, _ = split_region(p.units, demand, p.sites, p.roads, settings=SETTINGS)
    assert changed[0].key != jobs[0].key
    assert [j.key for j in changed[1:]] == [j.key for j in jobs[1:]]
    assert unit_key(jobs[1]) == jobs[1].key
    other, _ = split_region(
        p.units, p.demand, p.sites, p.roads, settings=RegionSettings(new_sites=3, time_limit=30.0)
    )
    assert other[0].key != jobs[0].key


def test_serial_region_plan_is_complete(serial_result, province, tmp_path):
    r = serial_result
    assert not r.failed
    assert len(r.demand) == len(province.demand)
    assert r.demand["demand_id"].is_unique
    assert (r.sites["status"] == "new").sum() == 2 * len(province.units)
    served = r.sites["assigned_population"].sum()
    reached = r.demand.loc[r.demand["site_id"].notna(), "population"].sum()
    assert served == pytest.approx(reached)
    assert 0 < r.coverage_share <= 1
    assert list(r.compliance["unit_id"]) == province.units["unit_id"].tolist()
    files = r.save(tmp_path, name="r")
    import pyogrio

    names = {row[0] for row in pyogrio.list_layers(files["gpkg"])}
    assert {"sites", "candidates", "demand", "admin_units"} <= names
    # issue 18: assignment lines (none of zero length) and every open site's service area
    assert {"assignments", "service_areas"} <= names
    lines = pyogrio.read_dataframe(files["gpkg"], layer="assignments")
    at_site = r.demand["site_id"].notna() & r.demand.geometry.geom_equals(
        r.sites.set_index("site_id").geometry.reindex(r.demand["site_id"]).set_axis(r.demand.index)
    )
    assert len(lines) == int(r.demand["site_id"].notna().sum() - at_site.sum()) > 0
    assert (lines.to_crs(lines.estimate_utm_crs()).length > 0).all()
    areas = pyogrio.read_dataframe(files["gpkg"], layer="service_areas")
    open_ids = set(r.sites.loc[r.sites["status"] != "candidate", "site_id"])
    assert set(areas["site_id"]) == open_ids
    covered = r.demand[r.demand["covered"].astype(bool)]
    by_site = areas.set_index("site_id").geometry
    pairs = zip(covered["site_id"], covered.geometry, strict=True)
    inside = [by_site[s] is not None and by_site[s].covers(p) for s, p in pairs]
    assert np.mean(inside) == 1.0  # covered residents lie in their site's area
    summary = json.loads(files["summary"].read_text(encoding="utf-8"))
    assert summary["units_ok"] == 4 and "counted only in the unit" in summary["counting_rule"]


class _SharedCluster:
    """Stands in for a new LocalCluster: hands out the module's cluster, whose closing is left
    to the fixture (one cluster start for the whole module keeps the tests fast)."""

    def __init__(self, cluster, seen: dict) -> None:
        self._cluster = cluster
        self._seen = seen

    def __call__(self, **kwargs):
        self._seen.update(kwargs)
        return self

    def __getattr__(self, name):
        return getattr(self._cluster, name)

    def close(self) -> None:
        self._seen["closed"] = True


def test_local_cluster_equals_serial_run(serial_result, province, cluster, monkeypatch, tmp_path):
    import distributed

    p = province
    seen: dict = {}
    monkeypatch.setattr(distributed, "LocalCluster", _SharedCluster(cluster, seen))
    lines: list[str] = []
    r = plan_region(
        p.units, p.demand, p.sites, p.roads, settings=SETTINGS, n_workers=2, progress=lines.append
    )
    # the default path asks for worker processes on loopback, and closes what it started
    assert seen["processes"] is True and seen["host"] == "127.0.0.1" and seen["n_workers"] == 2
    assert seen["closed"]
    assert r.run_info["executor"] == "dask" and r.run_info["workers"] == 2
    assert r.run_info["scheduler"].startswith("tcp://127.0.0.1:")
    assert any("dashboard" in line for line in lines)
    assert sum("unit " in line and "/4]" in line for line in lines) == 4
    assert len({o.worker for o in r.outcomes.values()}) >= 1
    _same(r, serial_result)

    # same cluster (one start for the module): a broken unit fails alone, reruns use the cache
    _broken_unit_fails_alone_and_rerun_skips_cached_units(
        serial_result, province, cluster, tmp_path
    )


def _broken_unit_fails_alone_and_rerun_skips_cached_units(
    serial_result, province, cluster, tmp_path
):
    p = province
    broken_unit = p.units["unit_id"].iloc[1]
    demand = p.demand.copy()
    demand.loc[demand["unit_id"] == broken_unit, "population"] = np.nan
    cache = tmp_path / "cache"
    r = plan_region(
        p.units,
        demand,
        p.sites,
        p.roads,
        settings=SETTINGS,
        scheduler=cluster.scheduler_address,
        cache_dir=cache,
    )
    assert list(r.failed) == [broken_unit]
    assert "InputError" in r.failed[broken_unit] and "population" in r.failed[broken_unit]
    assert sum(o.ok for o in r.outcomes.values()) == 3
    row = r.compliance.set_index("unit_id").loc[broken_unit]
    assert row["status"].startswith("failed: InputError")
    assert len(list(cache.glob("*.npz"))) == 3
    r.save(tmp_path / "out")  # a partial region still exports

    # rerun with the inputs fixed: the 3 finished units come from the cache
    lines: list[str] = []
    again = plan_region(
        p.units,
        p.demand,
        p.sites,
        p.roads,
        settings=SETTINGS,
        serial=True,
        cache_dir=cache,
        progress=lines.append,
    )
    cached = {u for u, o in again.outcomes.items() if o.cached}
    assert cached == set(p.units["unit_id"]) - {broken_unit}
    assert not again.failed
    assert any("3 of 4 units cached" in line for line in lines)
    _same(again, serial_result)

    # everything cached: no cluster is even contacted
    third = plan_region(
        p.units,
        p.demand,
        p.sites,
        p.roads,
        settings=SETTINGS,
        scheduler="tcp://0.0.0.0:1",
        cache_dir=cache,
    )
    assert all(o.cached for o in third.outcomes.values())
    _same(third, serial_result)


def test_cache_holds_arrays_and_json_and_a_broken_file_is_recomputed(
    serial_result, province, tmp_path, caplog
):
    p = province
    cache = tmp_path / "cache"
    plan_region(
        p.units, p.demand, p.sites, p.roads, settings=SETTINGS, serial=True, cache_dir=cache
    )
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 4
    with np.load(files[0], allow_pickle=False) as data:  # no pickle: arrays and JSON only
        meta = json.loads(str(data["meta"]))
    assert meta["format"] == "siting-unit-outcome-2" and meta["status"] == "ok"
    assert meta["areas"]["columns"][0]["name"] == "site_id"
    assert [c["name"] for c in meta["columns"]][:2] == ["demand_id", "population"]
    files[0].write_bytes(files[0].read_bytes()[:200])  # a truncated file
    with caplog.at_level("WARNING", logger="siting.region.cache"):
        again = plan_region(
            p.units, p.demand, p.sites, p.roads, settings=SETTINGS, serial=True, cache_dir=cache
        )
    assert "ignoring unreadable cache file" in caplog.text
    assert sum(o.cached for o in again.outcomes.values()) == 3
    _same(again, serial_result)


def test_missing_dask_is_a_dependency_error(province, monkeypatch):
    p = province
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(DependencyError, match="siting\\[distributed\\]"):
        plan_region(p.units, p.demand, p.sites, p.roads, settings=SETTINGS)


def test_cli_plan_region_serial(tmp_path):
    from typer.testing import CliRunner

    from siting.cli import app

    units = tmp_path / "units.geojson"
    synthetic_units(1, 2, size_km=15.0).to_file(units, driver="GeoJSON")
    out = tmp_path / "out"
    args = [
        "plan-region",
        "--units",
        str(units),
        "--synthetic",
        "--synthetic-population",
        "60000",
        "--cell-km",
        "1.5",
        "--serial",
        "--out",
        str(out),
        "--quiet",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "2/2 units planned (0 cached)" in res.output
    assert (out / "region.gpkg").exists() and (out / "region_compliance.csv").exists()
    res = CliRunner().invoke(app, args)
    assert "(2 cached)" in res.output


@pytest.mark.slow
@pytest.mark.skipif(not COUNTIES.exists(), reason="Inner Mongolia boundaries not available")
def test_real_county_polygons_split_without_double_counting():
    from geodata.boundaries import load_boundaries

    units = load_boundaries(COUNTIES, id_column="adcode")
    units = units[units["unit_id"].str.startswith("1501")].reset_index(drop=True)
    prov = synthetic_province(units, 0, population=3_000_000, cell_km=2.0)
    jobs, report = split_region(prov.units, prov.demand, prov.sites, prov.roads)
    assert len(jobs) == 9
    total = sum(j.demand["population"].sum() for j in jobs) + report["population_outside"]
    assert total == pytest.approx(3_000_000)
    assert all(len(j.demand) > 0 and j.roads.number_of_nodes() > 0 for j in jobs)
