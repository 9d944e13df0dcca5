"""Results out: a plan as an RFC 7946 FeatureCollection with the coverage score (and, for a rules
plan, each site's tier and rule), the compliance report as JSON, a rules plan's touring list,
and a job's result folder written atomically."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from api.state import save_state
from api.storage import RESULT_DIR, SUMMARY_FILE
from siting import PlanResult
from siting._json import json_number, jsonable, to_json
from siting.export import geojson_dict, geojson_text

__all__ = [
    "SITE_PROPERTIES",
    "TOURING_FILE",
    "collection_text",
    "compliance_json",
    "plan_collection",
    "touring_collection",
    "write_result",
]

logger = logging.getLogger(__name__)

SITE_PROPERTIES = (
    "site_id",
    "name",
    "status",
    "assigned_population",
    "covered_population",
    "mean_travel_min",
    "max_travel_min",
    "tier",
    "rule",
    "unit_id",
    "beds",
    "physicians",
    "nurses",
    "general_practitioners",
    "public_health_staff",
)
#: the file of a job's touring list (a rules plan's ``touring`` layer)
TOURING_FILE = "touring.geojson"


def plan_collection(result: PlanResult, **extra: Any) -> dict[str, Any]:
    """The chosen sites as an RFC 7946 FeatureCollection with the coverage score and the solve
    status and gap as top-level members; a rules plan's sites carry their ``tier`` and the
    ``rule`` that opened them, R11 beds and staff."""
    sol = result.solution
    members: dict[str, Any] = {
        "model": result.scenario.model,
        "status": result.status,
        "gap": json_number(sol.gap, 6),
        "objective": json_number(sol.objective, 6),
        "bound": json_number(sol.bound, 6),
        "coverage": result.coverage.as_dict() if result.coverage is not None else None,
        "mean_travel_minutes": json_number(result.mean_travel_minutes, 3),
        "unreachable_population": json_number(result.unreachable_population, 3),
        "notes": list(result.notes),
        **extra,
    }
    layer = result.chosen_sites.reset_index(drop=True)
    columns = [c for c in SITE_PROPERTIES if c in layer.columns]
    return jsonable(
        geojson_dict(layer, properties=columns, id_column="site_id", extra=members, name="sites")
    )


def touring_collection(result: PlanResult) -> dict[str, Any] | None:
    """A rules plan's touring-service list (R3) as a FeatureCollection: the villages (or demand
    points) no fixed facility reaches within the circle, with population and reason; ``None``
    for a single-model run."""
    touring = result.touring
    if touring is None:
        return None
    layer = touring.reset_index(drop=True)
    population = float(layer["population"].sum()) if "population" in layer.columns else 0.0
    columns = [c for c in layer.columns if c != layer.geometry.name]
    members = {"entries": len(layer), "population": json_number(population, 3)}
    return jsonable(geojson_dict(layer, properties=columns, extra=members, name="touring"))


def collection_text(doc: dict[str, Any]) -> str:
    """A FeatureCollection as GeoJSON text."""
    return geojson_text(doc)


def compliance_json(result: PlanResult, summary: dict[str, Any]) -> dict[str, Any]:
    """The per-unit compliance report as JSON (``units`` is ``None`` without admin units);
    ``summary`` is the run's ``result.summary()``."""
    table = result.compliance
    if table is None:
        return {"units": None, "reason": "the run had no admin units (`units`)"}
    records = json.loads(table.to_json(orient="records", force_ascii=False))
    return {"units": records, "summary": jsonable(summary.get("compliance"))}


def write_result(job_dir: Path, result: PlanResult, summary: dict[str, Any]) -> Path:
    """Write every result file of a job into a temporary folder, then move it into place as
    ``result/`` (``summary.json`` last: a result folder with it is complete)."""
    from siting.outputs import save_result

    tmp = job_dir / f"{RESULT_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        (tmp / "sites.geojson").write_text(
            collection_text(plan_collection(result)), encoding="utf-8"
        )
        (tmp / "compliance.json").write_text(
            to_json(compliance_json(result, summary)), encoding="utf-8"
        )
        touring = touring_collection(result)
        if touring is not None:
            (tmp / TOURING_FILE).write_text(collection_text(touring), encoding="utf-8")
        save_result(result, tmp / "files", name="plan", summary=summary)
        save_state(result.scenario, result.travel, tmp / "state")
        with (tmp / SUMMARY_FILE).open("w", encoding="utf-8") as f:
            f.write(to_json(summary))
            f.flush()
            os.fsync(f.fileno())
        final = job_dir / RESULT_DIR
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
