"""The HTTP service plans by the rules: a job without ``model`` gets each site's tier and rule,
the compliance table, the touring list, and what-if edits judged by the rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api_support import LAT, LON, fc, problem, wait
from tests.api_support import client as _client

COMPLIANCE_COLUMNS = {
    "unit_id",
    "name",
    "population",
    "required_centres",
    "planned_centres",
    "shortfall",
    "centres_below_band",
    "centres_within_band",
    "centres_above_band",
    "flag",
    "covered_population",
    "coverage_share",
    "population_beyond",
    "touring_population",
    "status",
    "reason",
}


@pytest.fixture
def c(tmp_path: Path):
    with _client(tmp_path / "store") as client:
        yield client


def _box(x0: float, y0: float, x1: float, y1: float, **properties: Any) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": properties,
    }


def _units(**extra: dict[str, Any]) -> dict[str, Any]:
    """Sub-district A (新华街道: 60,000 residents, R1: one centre) and township B (乙镇: 6,500,
    R2: one township health centre); kinds from the names' suffixes unless ``extra`` adds
    properties per unit id."""
    return {
        "type": "FeatureCollection",
        "features": [
            _box(
                LON,
                LAT,
                LON + 0.015,
                LAT + 0.01,
                unit_id="A",
                name="新华街道",
                **extra.get("A", {}),
            ),
            _box(
                LON + 0.03,
                LAT,
                LON + 0.05,
                LAT + 0.01,
                unit_id="B",
                name="乙镇",
                **extra.get("B", {}),
            ),
        ],
    }


def _rules_body(**changes: Any) -> dict[str, Any]:
    """A rules request (no ``model``): six points of 10,000 in A, three of 2,000 in B and one
    of 500 in B's far corner that no candidate reaches within 10 minutes (touring, R3);
    straight-line walking at 4.5 km/h × 1.3."""
    demand = fc(
        [
            (
                LON + 0.002 + 0.004 * (i % 3),
                LAT + 0.003 + 0.004 * (i // 3),
                {"demand_id": f"a{i}", "population": 10_000},
            )
            for i in range(6)
        ]
        + [
            (LON + 0.032 + 0.002 * i, LAT + 0.003, {"demand_id": f"b{i}", "population": 2_000})
            for i in range(3)
        ]
        + [(LON + 0.048, LAT + 0.009, {"demand_id": "b9", "population": 500})]
    )
    sites = fc(
        [
            (LON + 0.006, LAT + 0.005, {"site_id": "c1", "name": "A plot 1"}),
            (LON + 0.010, LAT + 0.007, {"site_id": "c2", "name": "A plot 2"}),
            (LON + 0.002, LAT + 0.003, {"site_id": "c3", "name": "A plot 3"}),
            (LON + 0.034, LAT + 0.003, {"site_id": "t1", "name": "B plot 1"}),
            (LON + 0.036, LAT + 0.004, {"site_id": "t2", "name": "B plot 2"}),
        ]
    )
    out: dict[str, Any] = {"demand": demand, "sites": sites, "units": _units(), "name": "tiny"}
    out.update(changes)
    return out


def test_rules_job_tiers_compliance_touring_and_what_if(c: TestClient) -> None:
    r = c.post("/v1/jobs", json=_rules_body())
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    info = wait(c, job)
    assert info["status"] == "done", info
    assert info["links"]["touring"] == f"/v1/jobs/{job}/touring"

    result = c.get(f"/v1/jobs/{job}/result").json()
    assert result["model"] == "rules"
    sites = {f["id"]: f["properties"] for f in result["features"]}
    assert {k: (p["tier"], p["rule"], p["status"]) for k, p in sites.items()} == {
        "c1": ("community_health_service_centre", "R1", "new"),  # A's centroid-most plot
        "t1": ("township_health_centre", "R2", "new"),
    }
    assert sites["c1"]["assigned_population"] == 60_000
    assert sites["t1"]["assigned_population"] == 6_500

    comp = c.get(f"/v1/jobs/{job}/compliance").json()
    rows = {u["unit_id"]: u for u in comp["units"]}
    assert set(rows["A"]) >= COMPLIANCE_COLUMNS
    a, b = rows["A"], rows["B"]
    assert (a["kind"], a["required_centres"], a["planned_centres"], a["shortfall"]) == (
        "subdistrict",
        1,
        1,
        0,
    )
    assert a["centres_within_band"] == 1 and a["status"] == "ok" and a["coverage_share"] == 1.0
    assert (b["kind"], b["required_centres"], b["planned_centres"]) == ("township", 1, 1)
    assert b["covered_population"] == 6_000 and b["population_beyond"] == 500
    assert b["touring_population"] == 500 and b["status"] == "flagged"
    assert "touring service (R3)" in b["reason"]

    touring = c.get(f"/v1/jobs/{job}/touring")
    assert touring.status_code == 200
    assert touring.headers["content-type"].startswith("application/geo+json")
    t = touring.json()
    assert t["entries"] == 1 and t["population"] == 500
    (feature,) = t["features"]
    assert feature["properties"]["id"] == "b9" and feature["properties"]["unit_id"] == "B"
    assert feature["geometry"]["coordinates"] == pytest.approx([LON + 0.048, LAT + 0.009])

    # closing A's new centre breaks R1 (no centre left) and R6 (its 60,000 leave the circle)
    r = c.post(f"/v1/jobs/{job}/what-if", json={"close_sites": ["c1"]})
    assert r.status_code == 200, r.text
    w = r.json()
    assert {f["id"] for f in w["features"]} == {"t1"}  # judged: nothing new opens
    (broken,) = w["broken_rules"]
    assert broken["unit_id"] == "A" and broken["rules"] == "R1/R2 centres, R6 circle"
    assert broken["status_before"] == "ok" and "1 short (R1)" in broken["reason"]
    assert w["compliance"]["shortfall"] == 1
    assert w["coverage_difference"]["covered_weight"] == pytest.approx(-60_000)

    # replanned by the rules around the edit: another plot of A becomes its centre
    r = c.post(f"/v1/jobs/{job}/what-if", json={"close_sites": ["c1"], "replan": True})
    assert r.status_code == 200, r.text
    w = r.json()
    tiers = {f["id"]: f["properties"]["tier"] for f in w["features"]}
    assert tiers.get("t1") == "township_health_centre"
    assert "community_health_service_centre" in {tiers.get("c2"), tiers.get("c3")}
    assert w["compliance"]["shortfall"] == 0

    # an edit that keeps every rule breaks none
    r = c.post(f"/v1/jobs/{job}/what-if", json={"open_sites": ["c2"]})
    assert r.status_code == 200 and r.json()["broken_rules"] == []

    for bad, field in (
        ({"new_sites": 2}, "new_sites"),
        ({"threshold_minutes": 15}, "threshold_minutes"),
        ({"close_sites": ["nope"]}, "close_sites"),
    ):
        assert problem(c.post(f"/v1/jobs/{job}/what-if", json=bad), 422)["field"] == field


def test_rules_solve_kinds_from_a_property_and_bad_requests(c: TestClient) -> None:
    units = _units(A={"level": "街道"}, B={"level": "镇"})
    r = c.post("/v1/solve", json=_rules_body(units=units, unit_kind_column="level"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["model"] == "rules"
    assert {f["id"]: f["properties"]["rule"] for f in doc["features"]} == {"c1": "R1", "t1": "R2"}

    # every unit a township: R2 in both, no sub-district centre
    r = c.post("/v1/solve", json=_rules_body(unit_kind="township"))
    assert r.status_code == 200, r.text
    assert {f["properties"]["tier"] for f in r.json()["features"]} == {"township_health_centre"}

    for path in ("/v1/solve", "/v1/jobs"):
        got = problem(c.post(path, json=_rules_body(new_sites=2)), 422)
        assert "plans by the rules" in got["detail"]
        got = problem(c.post(path, json=_rules_body(unit_kind_column="nope")), 422)
        assert got["field"] == "unit_kind_column"
        got = problem(c.post(path, json=_rules_body(units=_units(A={"kind": "city"}))), 422)
        assert "'city'" in got["detail"]
        got = problem(c.post(path, json=_rules_body(station_budget=-1)), 422)
        assert got["field"] == "station_budget"
    assert c.get("/v1/jobs").json() == []  # nothing was queued


def test_model_job_has_no_touring_list(c: TestClient) -> None:
    body = _rules_body(model="mclp", new_sites=1)
    job = c.post("/v1/jobs", json=body).json()["id"]
    info = wait(c, job)
    assert info["status"] == "done" and "touring" not in info["links"]
    assert problem(c.get(f"/v1/jobs/{job}/touring"), 404)["field"] == "model"
    r = c.post(f"/v1/jobs/{job}/what-if", json={"close_sites": ["c1"]})
    assert r.status_code == 200 and "broken_rules" not in r.json()  # a model job: no rules


def test_rules_job_with_villages_keeps_them_for_what_if(c: TestClient) -> None:
    """Villages (R3) go on the touring list and survive the job's what-if state (their travel
    times are stored with the sites')."""
    villages = fc(
        [
            (LON + 0.035, LAT + 0.005, {"village_id": "v1", "name": "近村", "population": 300}),
            (LON + 0.048, LAT + 0.009, {"village_id": "v2", "name": "远村", "population": 200}),
        ]
    )
    job = c.post("/v1/jobs", json=_rules_body(villages=villages)).json()["id"]
    assert wait(c, job)["status"] == "done"
    t = c.get(f"/v1/jobs/{job}/touring").json()
    by_id = {f["properties"]["id"]: f["properties"] for f in t["features"]}
    assert by_id["v2"]["kind"] == "village" and by_id["v2"]["name"] == "远村"
    assert by_id["v2"]["reason"] == "no clinic within 10 min"
    r = c.post(f"/v1/jobs/{job}/what-if", json={"close_sites": ["t1"]})
    assert r.status_code == 200, r.text
    (broken,) = r.json()["broken_rules"]
    assert broken["unit_id"] == "B" and "R1/R2 centres" in broken["rules"]


def test_a_job_stored_without_model_and_with_a_count_runs_as_mclp() -> None:
    from api.tasks import _stored_request

    assert _stored_request({"new_sites": 2})["model"] == "mclp"
    assert "model" not in _stored_request({"threshold_minutes": 10})
    assert _stored_request({"model": "pmedian", "p": 2})["model"] == "pmedian"
