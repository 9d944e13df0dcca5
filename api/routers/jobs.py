"""/v1/jobs: queued planning runs, their status, results (GeoJSON, GeoPackage, compliance) and
what-if re-solves that reuse a finished job's travel times."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from api.dependencies import Jobs, SettingsDep, Store, require_read, require_write
from api.inputs import capped, plan_collection, what_if
from api.problems import ApiProblem
from api.routers.common import GeoJSONResponse, geojson_ok, problems
from api.schemas import (
    JobCreated,
    JobInfo,
    PlanCollection,
    SolveRequest,
    WhatIfCollection,
    WhatIfRequest,
)
from api.storage import Storage

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
GPKG = "application/geopackage+sqlite3"


def _links(job_id: str, status: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    links = {"self": base}
    if status == "done":
        links.update(
            result=f"{base}/result",
            geopackage=f"{base}/result.gpkg",
            compliance=f"{base}/compliance",
            what_if=f"{base}/what-if",
        )
    return links


def _info(record: dict[str, Any]) -> JobInfo:
    return JobInfo(**record, links=_links(record["id"], record["status"]))


def _record(storage: Storage, job_id: UUID) -> dict[str, Any]:
    record = storage.get_job(str(job_id))
    if record is None:
        raise ApiProblem(
            404,
            "Job not found",
            f"no job with id {job_id}",
            field="job_id",
            value=str(job_id),
            expected="the id returned by POST /v1/jobs",
        )
    return record


def _finished(storage: Storage, job_id: UUID) -> dict[str, Any]:
    record = _record(storage, job_id)
    if record["status"] != "done":
        detail = f"job {job_id} is {record['status']}"
        if record["error"]:
            detail += f": {record['error']}"
        raise ApiProblem(
            409,
            "Job not finished",
            detail + "; results exist once its status is 'done'",
            field="job_id",
            value=str(job_id),
            expected="a job with status 'done'",
            job_status=record["status"],
        )
    return record


@router.post(
    "",
    status_code=202,
    response_model=JobCreated,
    responses=problems(401, 403, 404, 422),
    dependencies=[Depends(require_write)],
    summary="Submit a planning job",
)
def create_job(req: SolveRequest, storage: Store, jobs: Jobs) -> JobCreated:
    """Queue a planning run (same body as ``POST /v1/solve``, no size limit) and return its id
    at once; poll ``GET /v1/jobs/{id}``."""
    for field in (
        "demand_dataset",
        "sites_dataset",
        "existing_dataset",
        "units_dataset",
        "roads_dataset",
    ):
        ref = getattr(req, field)
        if ref is not None and storage.get_dataset(str(ref)) is None:
            raise ApiProblem(
                404,
                "Dataset not found",
                f"`{field}`: no dataset with id {ref}; upload one with POST /v1/datasets",
                field=field,
                value=str(ref),
                expected="the id of an uploaded dataset",
            )
    record = jobs.submit(req)
    return JobCreated(id=record["id"], status=record["status"], links=_links(record["id"], ""))


@router.get(
    "",
    response_model=list[JobInfo],
    responses=problems(401, 422),
    dependencies=[Depends(require_read)],
    summary="List jobs",
)
def list_jobs(storage: Store, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[JobInfo]:
    """The newest jobs first."""
    return [_info(r) for r in storage.list_jobs(limit)]


@router.get(
    "/{job_id}",
    response_model=JobInfo,
    responses=problems(401, 404, 422),
    dependencies=[Depends(require_read)],
    summary="Job status and progress",
)
def get_job(job_id: UUID, storage: Store) -> JobInfo:
    """Status (``queued``, ``running``, ``done``, ``failed``), progress 0..1, the current step,
    the error of a failed job and the summary of a finished one."""
    return _info(_record(storage, job_id))


@router.get(
    "/{job_id}/result",
    response_class=GeoJSONResponse,
    responses={**geojson_ok(PlanCollection), **problems(401, 404, 409, 422)},
    dependencies=[Depends(require_read)],
    summary="Chosen sites as GeoJSON",
)
def job_result(job_id: UUID, storage: Store, jobs: Jobs) -> GeoJSONResponse:
    """The chosen sites with the coverage score, status and gap as top-level members."""
    _finished(storage, job_id)
    path = jobs.result_path(str(job_id), "sites.geojson")
    return GeoJSONResponse(json.loads(path.read_text(encoding="utf-8")))


@router.get(
    "/{job_id}/result.gpkg",
    response_class=FileResponse,
    responses={
        200: {"description": "GeoPackage with every layer, styled for QGIS", "content": {GPKG: {}}},
        **problems(401, 404, 409, 422),
    },
    dependencies=[Depends(require_read)],
    summary="All layers as a GeoPackage",
)
def job_geopackage(job_id: UUID, storage: Store, jobs: Jobs) -> FileResponse:
    """Sites, candidates, demand, assignments, service areas and admin units in one file."""
    _finished(storage, job_id)
    path = jobs.result_path(str(job_id), "files/plan.gpkg")
    return FileResponse(path, media_type=GPKG, filename=f"siting-{job_id}.gpkg")


@router.get(
    "/{job_id}/compliance",
    responses=problems(401, 404, 409, 422),
    dependencies=[Depends(require_read)],
    summary="Compliance report (JSON)",
)
def job_compliance(job_id: UUID, storage: Store, jobs: Jobs) -> dict[str, Any]:
    """Per admin unit: required vs planned centres, band status, coverage within the service
    circle, touring-service population (needs admin units in the job's input)."""
    _finished(storage, job_id)
    doc = json.loads(jobs.result_path(str(job_id), "compliance.json").read_text("utf-8"))
    if doc.get("units") is None:
        raise ApiProblem(
            404,
            "No compliance report",
            f"job {job_id} was run without admin units, so it has no compliance report; "
            "submit it with `units` or `units_dataset`",
            field="units",
            expected="a job run with admin units",
        )
    return doc


@router.post(
    "/{job_id}/what-if",
    response_class=GeoJSONResponse,
    responses={**geojson_ok(WhatIfCollection), **problems(401, 403, 404, 409, 422)},
    dependencies=[Depends(require_write)],
    summary="Re-solve a finished job with changes",
)
async def job_what_if(
    job_id: UUID, req: WhatIfRequest, settings: SettingsDep, storage: Store, jobs: Jobs
) -> GeoJSONResponse:
    """Re-solve the job's scenario with sites opened or closed, ``new_sites`` / ``p`` or the
    threshold changed, reusing its travel times; returns the chosen sites with the new
    coverage, the job's coverage (``base_coverage``) and the ``coverage_difference``."""
    record = _finished(storage, job_id)
    cap = min(settings.sync_time_limit, settings.max_time_limit)

    def run() -> dict[str, Any]:
        scenario, travel = jobs.state(str(job_id))
        result = what_if(scenario, travel, req, time_limit=capped(req.time_limit, cap))
        base = (record["summary"] or {}).get("coverage")
        new = result.coverage.as_dict() if result.coverage is not None else None
        diff: dict[str, float | None] = {"share": None, "covered_weight": None}
        if base and new:
            diff = {
                "share": round(new["share"] - base["share"], 6),
                "covered_weight": round(new["covered_weight"] - base["covered_weight"], 3),
            }
        return plan_collection(result, base_coverage=base, coverage_difference=diff)

    return GeoJSONResponse(await run_in_threadpool(run))
