"""The HTTP service with FastAPI's TestClient: every endpoint, auth, limits, errors, restarts."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas import EXAMPLE_SITES
from api.settings import Settings
from api.storage import Storage
from geodata.synthetic import save_synthetic_city, synthetic_city
from tests.api_support import LAT, LON
from tests.api_support import body as _body
from tests.api_support import client as _client
from tests.api_support import fc as _fc
from tests.api_support import problem as _problem
from tests.api_support import upload as _upload
from tests.api_support import wait as _wait

READ, WRITE = "read-key", "write-key"


@pytest.fixture
def client(tmp_path: Path):
    with _client(tmp_path / "store") as c:
        yield c


@pytest.fixture
def keyed(tmp_path: Path):
    with _client(tmp_path / "store", read_keys=[READ], write_keys=[WRITE]) as c:
        yield c


@pytest.fixture(scope="module")
def city_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    city = synthetic_city(1, population=20_000, extent_km=3.0)
    return save_synthetic_city(city, tmp_path_factory.mktemp("city"))


def _city_job_body(c: TestClient, files: dict[str, Path], **headers: str) -> dict[str, Any]:
    ids = {
        name: _upload(c, kind, files[name], **headers)["id"]
        for kind, name in [
            ("population", "population.tif"),
            ("roads", "roads.graphml"),
            ("sites", "candidates.geojson"),
            ("sites", "existing.geojson"),
            ("units", "subdistricts.geojson"),
        ]
    }
    return {
        "demand_dataset": ids["population.tif"],
        "roads_dataset": ids["roads.graphml"],
        "sites_dataset": ids["candidates.geojson"],
        "existing_dataset": ids["existing.geojson"],
        "units_dataset": ids["subdistricts.geojson"],
        "model": "mclp",
        "new_sites": 2,
        "rules_preset": "inner_mongolia",
    }


# --------------------------------------------------------------------------- health and docs
def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    doc = r.json()
    assert doc["status"] == "ok" and doc["schema_version"] == 2


def test_docs_are_self_hosted(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert not re.search(r"(src|href)=[\"']?https?://", r.text), "docs must not use a CDN"
    assert not re.search(r"https?://cdn", r.text)
    for asset in re.findall(r"(?:src|href)=\"(/docs-static/[^\"]+)\"", r.text):
        assert client.get(asset).status_code == 200, asset
    assert "swagger-ui-bundle.js" in r.text


def test_openapi_has_examples_and_versioned_paths(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/health", "/v1/solve", "/v1/datasets", "/v1/jobs", "/v1/jobs/{job_id}"} <= paths
    assert "/v1/jobs/{job_id}/what-if" in paths
    schemas = spec["components"]["schemas"]
    for name in ("SolveRequest", "PlanCollection", "WhatIfRequest", "JobInfo", "DatasetInfo"):
        assert schemas[name].get("examples"), name


# --------------------------------------------------------------------------- solve
def test_solve_returns_geojson_with_coverage(client: TestClient) -> None:
    r = client.post("/v1/solve", json=_body())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert doc["status"] == "optimal" and doc["gap"] == 0.0
    assert 0 < doc["coverage"]["share"] <= 1 and doc["coverage"]["threshold"] == 10.0
    assert [f["id"] for f in doc["features"]] == ["c2"]  # the 2,500-resident cluster
    props = doc["features"][0]["properties"]
    # the only open site: every resident's nearest (all 4,500, straight-line travel reaches
    # everyone), 2,500 of them within the circle
    assert props["status"] == "new" and props["covered_population"] == 2500.0
    assert props["assigned_population"] == doc["coverage"]["total_weight"] == 4500.0
    assert "crs" not in doc


def test_solve_with_existing_sites_and_p(client: TestClient) -> None:
    existing = _fc([(LON, LAT, {"site_id": "e1", "name": "old clinic"})])
    r = client.post("/v1/solve", json=_body(existing=existing, new_sites=None, p=2))
    assert r.status_code == 200, r.text
    statuses = {f["id"]: f["properties"]["status"] for f in r.json()["features"]}
    assert statuses == {"e1": "existing", "c2": "new"}
    r = client.post("/v1/solve", json=_body(existing=existing, new_sites=None, p=0))
    _problem(r, 422)


def test_solve_polygon_demand(client: TestClient) -> None:
    d = 0.001
    demand = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[LON, LAT], [LON + d, LAT], [LON + d, LAT + d], [LON, LAT + d], [LON, LAT]]
                    ],
                },
                "properties": {"pop": 100},
            }
        ],
    }
    r = client.post("/v1/solve", json=_body(demand=demand, population_property="pop"))
    assert r.status_code == 200, r.text
    assert r.json()["coverage"]["total_weight"] == 100.0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["demand"].update(type="Feature"), "demand.type"),
        (lambda b: b["demand"]["features"][0].update(geometry={"type": "Point"}), "demand"),
        (
            lambda b: b["demand"]["features"][0].update(
                geometry={"type": "Point", "coordinates": ["a", "b"]}
            ),
            "demand",
        ),
        (lambda b: b["demand"]["features"][0]["properties"].pop("population"), "demand"),
        (lambda b: b["demand"]["features"][1]["properties"].update(population=-5), "demand"),
        (lambda b: b.update(model="nope"), "model"),
        (lambda b: b.update(threshold_minutes=-1), "threshold_minutes"),
        (lambda b: b.pop("demand"), "(request)"),
        (lambda b: b.update(sites_dataset=str(uuid.uuid4())), "(request)"),
    ],
)
def test_solve_malformed_input_is_a_422_problem(client: TestClient, mutate, field: str) -> None:
    body = _body()
    mutate(body)
    doc = _problem(client.post("/v1/solve", json=body), 422)
    assert doc["field"].startswith(field.split(".")[0]) or field == "(request)"
    assert doc["detail"]


def test_an_unknown_model_lists_the_models(client: TestClient) -> None:
    body = _body()
    body["model"] = "nope"
    doc = _problem(client.post("/v1/solve", json=body), 422)
    assert doc["field"] == "model"
    assert "one of 'lscp', 'mclp', 'pmedian', 'pcenter', or 'rules'" in doc["detail"]
    assert "'nope'" in doc["detail"]


def test_solve_not_json_is_a_problem(client: TestClient) -> None:
    r = client.post("/v1/solve", content=b"{not json", headers={"content-type": "application/json"})
    _problem(r, 422)


def test_solve_wrong_crs(client: TestClient) -> None:
    body = _body()
    body["demand"]["features"][0]["geometry"]["coordinates"] = [500_000.0, 4_500_000.0]
    doc = _problem(client.post("/v1/solve", json=body), 422)
    assert doc["title"] == "CRSError"
    assert "lon/lat" in doc["detail"] and "500000" in doc["detail"]
    body = _body()
    body["demand"]["crs"] = {"type": "name", "properties": {"name": "EPSG:not-a-crs"}}
    doc = _problem(client.post("/v1/solve", json=body), 422)
    assert doc["field"] == "demand.crs"


def test_solve_projected_crs_member_is_honoured(client: TestClient) -> None:
    demand = _fc([(500_000.0, 4_500_000.0, {"population": 10})])
    demand["crs"] = {"type": "name", "properties": {"name": "EPSG:32649"}}
    sites = _fc([(500_100.0, 4_500_000.0, {"site_id": "s"})])
    sites["crs"] = demand["crs"]
    r = client.post("/v1/solve", json=_body(demand=demand, sites=sites))
    assert r.status_code == 200, r.text
    assert r.json()["coverage"]["share"] == 1.0


def test_solve_too_many_features_points_to_jobs(tmp_path: Path) -> None:
    with _client(tmp_path / "s", sync_max_demand=2) as c:
        doc = _problem(c.post("/v1/solve", json=_body()), 413)
        assert "/v1/jobs" in doc["detail"] and doc["field"] == "demand"


def test_solve_body_too_large(tmp_path: Path) -> None:
    with _client(tmp_path / "s", sync_max_body_bytes=200) as c:
        doc = _problem(c.post("/v1/solve", json=_body()), 413)
        assert "/v1/jobs" in doc["detail"]


def test_solve_domain_error_is_4xx(client: TestClient) -> None:
    doc = _problem(client.post("/v1/solve", json=_body(new_sites=5)), 422)
    assert doc["title"] == "InputError" and doc["field"] == "new_sites"


# --------------------------------------------------------------------------- auth
def test_auth_read_and_write_keys(keyed: TestClient) -> None:
    assert keyed.get("/health").status_code == 200  # open
    _problem(keyed.get("/v1/datasets"), 401)
    doc = _problem(keyed.get("/v1/datasets", headers={"X-API-Key": "wrong"}), 401)
    assert doc["field"] == "X-API-Key"
    assert keyed.get("/v1/datasets", headers={"X-API-Key": READ}).status_code == 200
    assert keyed.get("/v1/jobs", headers={"X-API-Key": WRITE}).status_code == 200
    _problem(keyed.post("/v1/solve", json=_body()), 401)
    _problem(keyed.post("/v1/solve", json=_body(), headers={"X-API-Key": READ}), 403)
    _problem(keyed.post("/v1/jobs", json=_body(), headers={"X-API-Key": READ}), 403)
    r = keyed.post("/v1/solve", json=_body(), headers={"X-API-Key": WRITE})
    assert r.status_code == 200
    r = keyed.delete(f"/v1/datasets/{uuid.uuid4()}", headers={"X-API-Key": READ})
    _problem(r, 403)
    r = keyed.post(
        "/v1/datasets",
        data={"kind": "sites"},
        files={"file": ("s.geojson", b"{}")},
        headers={"X-API-Key": READ},
    )
    _problem(r, 403)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SITING_STORAGE_DIR", str(tmp_path))
    monkeypatch.setenv("SITING_READ_KEYS", "a, b")
    monkeypatch.setenv("SITING_WRITE_KEYS", '["w"]')
    monkeypatch.setenv("SITING_CORS_ORIGINS", "https://planning.example")
    monkeypatch.setenv("SITING_MAX_TIME_LIMIT", "12.5")
    s = Settings()
    assert s.storage_dir == tmp_path and s.read_keys == ["a", "b"] and s.write_keys == ["w"]
    assert s.max_time_limit == 12.5 and s.auth_enabled
    with TestClient(create_app(s)) as c:
        r = c.options(
            "/v1/datasets",
            headers={
                "Origin": "https://planning.example",
                "Access-Control-Request-Method": "GET",
            },
        )
        assert r.headers["access-control-allow-origin"] == "https://planning.example"


# --------------------------------------------------------------------------- datasets
def test_dataset_upload_list_get_delete(client: TestClient, city_files: dict[str, Path]) -> None:
    info = _upload(client, "population", city_files["population.tif"])
    assert info["kind"] == "population" and info["meta"]["features"] > 0
    assert info["filename"] == "population.tif"
    listed = client.get("/v1/datasets").json()
    assert [d["id"] for d in listed] == [info["id"]]
    assert client.get(f"/v1/datasets/{info['id']}").json() == info
    assert client.delete(f"/v1/datasets/{info['id']}").status_code == 204
    _problem(client.get(f"/v1/datasets/{info['id']}"), 404)
    _problem(client.delete(f"/v1/datasets/{info['id']}"), 404)
    assert client.get("/v1/datasets").json() == []


def test_dataset_names_are_never_paths(client: TestClient, tmp_path: Path) -> None:
    sites = json.dumps(EXAMPLE_SITES).encode()
    r = client.post(
        "/v1/datasets",
        data={"kind": "sites", "name": "../../etc/passwd"},
        files={"file": ("../../../evil.geojson", sites)},
    )
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["filename"] == "evil.geojson" and info["name"] == "../../etc/passwd"
    stored = list((tmp_path / "store" / "datasets").rglob("*"))
    assert all(p.is_relative_to(tmp_path / "store") for p in stored)
    assert {p.name for p in stored if p.is_file()} == {"data.geojson"}
    assert not (tmp_path / "evil.geojson").exists()


def test_dataset_bad_inputs(client: TestClient) -> None:
    r = client.post("/v1/datasets", data={"kind": "sites"}, files={"file": ("x.exe", b"MZ")})
    doc = _problem(r, 415)
    assert "x.exe" in doc["detail"]
    r = client.post(
        "/v1/datasets",
        data={"kind": "sites"},
        files={"file": ("x.geojson", b'{"type": "FeatureCollection", "features": [')},
    )
    assert r.status_code in (415, 422), r.text
    assert "/datasets/" not in r.text and "`file`" in r.json()["detail"]  # no server path
    r = client.post("/v1/datasets", data={"kind": "nope"}, files={"file": ("x.geojson", b"{}")})
    _problem(r, 422)
    r = client.post("/v1/datasets", data={"kind": "sites"}, files={"file": ("x.geojson", b"")})
    _problem(r, 422)
    _problem(client.get("/v1/datasets/not-a-uuid"), 422)
    _problem(client.get(f"/v1/datasets/{uuid.uuid4()}"), 404)
    assert client.get("/v1/datasets").json() == []
    assert not any((Path(client.app.state.storage.root) / "datasets").iterdir())


def test_dataset_upload_too_large(tmp_path: Path) -> None:
    with _client(tmp_path / "s", max_upload_bytes=1000) as c:
        big = b"x" * 200_000
        r = c.post("/v1/datasets", data={"kind": "sites"}, files={"file": ("a.geojson", big)})
        _problem(r, 413)
        # a body just under the request limit but a file over the upload limit
        r = c.post(
            "/v1/datasets", data={"kind": "sites"}, files={"file": ("a.geojson", b"x" * 2000)}
        )
        _problem(r, 413)
        assert c.get("/v1/datasets").json() == []


def test_solve_with_datasets(client: TestClient, city_files: dict[str, Path]) -> None:
    body = _city_job_body(client, city_files)
    r = client.post("/v1/solve", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "optimal" and len(doc["features"]) == 3  # 1 existing + 2 new
    pop = _upload(client, "population", city_files["population.tif"])["id"]
    doc = _problem(client.post("/v1/solve", json={**body, "sites_dataset": pop}), 422)
    assert doc["field"] == "sites_dataset"


# --------------------------------------------------------------------------- jobs
def test_job_lifecycle_results_and_what_if(client: TestClient, city_files: dict[str, Path]) -> None:
    body = _city_job_body(client, city_files)
    r = client.post("/v1/jobs", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    info = _wait(client, job_id)
    assert info["status"] == "done", info
    assert info["progress"] == 1.0 and info["summary"]["status"] == "optimal"
    assert set(info["links"]) >= {"result", "geopackage", "compliance", "what_if"}
    assert [j["id"] for j in client.get("/v1/jobs").json()] == [job_id]

    r = client.get(f"/v1/jobs/{job_id}/result")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    result = r.json()
    base_share = result["coverage"]["share"]
    assert result["status"] == "optimal" and 0 < base_share < 1

    r = client.get(f"/v1/jobs/{job_id}/result.gpkg")
    assert r.status_code == 200 and r.content[:16] == b"SQLite format 3\x00"

    r = client.get(f"/v1/jobs/{job_id}/compliance")
    assert r.status_code == 200
    assert len(r.json()["units"]) == 3 and r.json()["summary"]["units"] == 3

    # what-if: one more new site never lowers coverage
    t0 = time.perf_counter()
    r = client.post(f"/v1/jobs/{job_id}/what-if", json={"new_sites": 3})
    assert r.status_code == 200, r.text
    assert time.perf_counter() - t0 < 5
    w = r.json()
    assert w["base_coverage"]["share"] == base_share
    assert w["coverage_difference"]["share"] == pytest.approx(w["coverage"]["share"] - base_share)
    assert w["coverage_difference"]["share"] >= 0

    new_ids = [f["id"] for f in result["features"] if f["properties"]["status"] == "new"]
    r = client.post(f"/v1/jobs/{job_id}/what-if", json={"close_sites": new_ids[:1]})
    assert r.status_code == 200, r.text
    assert new_ids[0] not in {f["id"] for f in r.json()["features"]}
    assert r.json()["coverage_difference"]["share"] <= 1e-9

    r = client.post(f"/v1/jobs/{job_id}/what-if", json={"threshold_minutes": 15})
    assert r.status_code == 200 and r.json()["coverage"]["threshold"] == 15.0
    doc = _problem(client.post(f"/v1/jobs/{job_id}/what-if", json={"threshold_minutes": 500}), 422)
    assert doc["field"] == "threshold_minutes"
    doc = _problem(client.post(f"/v1/jobs/{job_id}/what-if", json={"close_sites": ["nope"]}), 422)
    assert doc["field"] == "close_sites"
    _problem(client.post(f"/v1/jobs/{job_id}/what-if", json={"p": 0}), 422)


def test_what_if_open_sites(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json=_body()).json()["id"]
    assert _wait(client, job_id)["status"] == "done"
    r = client.post(f"/v1/jobs/{job_id}/what-if", json={"open_sites": ["c1"]})
    assert r.status_code == 200, r.text
    ids = {f["id"] for f in r.json()["features"]}
    assert ids == {"c1", "c2"}
    assert r.json()["coverage_difference"]["share"] > 0


def test_job_unknown_ids_and_states(client: TestClient) -> None:
    missing = uuid.uuid4()
    for path in ("", "/result", "/result.gpkg", "/compliance"):
        _problem(client.get(f"/v1/jobs/{missing}{path}"), 404)
    _problem(client.post(f"/v1/jobs/{missing}/what-if", json={}), 404)
    _problem(client.get("/v1/jobs/123"), 422)
    doc = _problem(client.post("/v1/jobs", json=_body(sites=None, sites_dataset=str(missing))), 404)
    assert doc["field"] == "sites_dataset"
    # a failing job: the domain error is its reason; results are 409
    job_id = client.post("/v1/jobs", json=_body(new_sites=5)).json()["id"]
    info = _wait(client, job_id)
    assert info["status"] == "failed" and "new_sites" in info["error"]
    doc = _problem(client.get(f"/v1/jobs/{job_id}/result"), 409)
    assert doc["job_status"] == "failed"
    # a job without units has no compliance report
    job_id = client.post("/v1/jobs", json=_body()).json()["id"]
    assert _wait(client, job_id)["status"] == "done"
    _problem(client.get(f"/v1/jobs/{job_id}/compliance"), 404)


def test_not_found_route_is_a_problem(client: TestClient) -> None:
    _problem(client.get("/v1/nothing"), 404)
    _problem(client.put("/v1/solve", json={}), 405)


# --------------------------------------------------------------------------- durability
def test_restart_marks_running_jobs_failed_and_keeps_results(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with _client(store) as c:
        done = c.post("/v1/jobs", json=_body()).json()["id"]
        assert _wait(c, done)["status"] == "done"
        before = c.get(f"/v1/jobs/{done}/result").json()
    # simulate a job that was running when the process died, and one still queued
    storage = Storage(store)
    running = storage.add_job(json.dumps(_body()).encode(), "open")["id"]
    storage.update_job(running, status="running", progress=0.4, message="solving")
    queued = storage.add_job(json.dumps(_body()).encode(), "open")["id"]
    with _client(store) as c:
        info = c.get(f"/v1/jobs/{running}").json()
        assert info["status"] == "failed" and "stopped while this job was running" in info["error"]
        assert _wait(c, queued)["status"] == "done"  # resumed
        assert c.get(f"/v1/jobs/{done}/result").json() == before
        r = c.post(f"/v1/jobs/{done}/what-if", json={"close_sites": ["c2"]})  # state from disk
        assert r.status_code == 200, r.text
        assert r.json()["coverage_difference"]["share"] < 0


def test_storage_schema_is_versioned(tmp_path: Path) -> None:
    s = Storage(tmp_path)
    assert s.schema_version() == 2
    import sqlite3

    con = sqlite3.connect(tmp_path / "siting.sqlite3")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute("INSERT INTO schema_version VALUES (99)")
    con.commit()
    con.close()
    with pytest.raises(RuntimeError, match="newer"):
        Storage(tmp_path)


def test_job_whose_dataset_vanished_fails_with_the_reason(tmp_path: Path) -> None:
    store = tmp_path / "store"
    missing = str(uuid.uuid4())
    body = _body(sites=None, sites_dataset=missing)
    queued = Storage(store).add_job(json.dumps(body).encode(), "open")["id"]  # resumed at start
    with _client(store) as c:
        info = _wait(c, queued)
        assert info["status"] == "failed"
        assert missing in info["error"] and "internal error" not in info["error"]
