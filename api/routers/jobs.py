"""/v1/jobs: queued planning runs of the caller's tenant, their status, results (GeoJSON,
GeoPackage, compliance, a rules plan's touring list) and what-if re-solves that reuse a finished
job's travel times."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from api import tasks
from api.dependencies import Jobs, Pool, Reader, SettingsDep, Store, Writer, task_context
from api.problems import ApiProblem
from api.results import TOURING_FILE
from api.routers.common import (
    GEOJSON,
    GeoJSONResponse,
    geojson_ok,
    in_worker,
    json_body,
    problems,
)
from api.routers.solve import sync_timeout
from api.schemas import (
    SOLVE_EXAMPLE,
    JobCreated,
    JobInfo,
    PlanCollection,
    WhatIfCollection,
)
from api.storage import RESULT_DIR, Storage
from api.uploads import storage_resolver

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
GPKG = "application/geopackage+sqlite3"
_PREPARE_TIMEOUT_S = 300.0
_JOB_LINK = {"operationId": "get_job", "parameters": {"job_id": "$response.body#/id"}}


def _links(job_id: str, status: str, summary: dict[str, Any] | None = None) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    links = {"self": base}
    if status == "done":
        links.update(
            result=f"{base}/result",
            geopackage=f"{base}/result.gpkg",
            compliance=f"{base}/compliance",
            what_if=f"{base}/what-if",
        )
        if isinstance(summary, dict) and "touring" in summary:
            links["touring"] = f"{base}/touring"
    return links


def _info(record: dict[str, Any]) -> JobInfo:
    fields = {k: v for k, v in record.items() if k not in ("owner", "worker")}
    return JobInfo(**fields, links=_links(record["id"], record["status"], record.get("summary")))


def _record(storage: Storage, job_id: UUID, scope: str | None) -> dict[str, Any]:
    record = storage.get_job(str(job_id), scope)
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


def _finished(storage: Storage, job_id: UUID, scope: str | None) -> dict[str, Any]:
    record = _record(storage, job_id, scope)
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
    responses={
        **problems(401, 403, 404, 413, 415, 422, 504, 507),
        202: {
            "description": "The job was queued",
            "links": {
                "GetJob": _JOB_LINK,
                "GetJobResult": {**_JOB_LINK, "operationId": "job_result"},
                "GetJobGeoPackage": {**_JOB_LINK, "operationId": "job_geopackage"},
                "GetJobCompliance": {**_JOB_LINK, "operationId": "job_compliance"},
                "GetJobTouring": {**_JOB_LINK, "operationId": "job_touring"},
                "WhatIf": {**_JOB_LINK, "operationId": "job_what_if"},
            },
        },
    },
    openapi_extra=json_body("SolveRequest", SOLVE_EXAMPLE),
    summary="Submit a planning job",
    operation_id="create_job",
)
async def create_job(
    request: Request,
    principal: Writer,
    settings: SettingsDep,
    storage: Store,
    pool: Pool,
    jobs: Jobs,
) -> JobCreated:
    """Queue a planning run (same body as ``POST /v1/solve``; up to ``SITING_JOB_MAX_BODY_BYTES``)
    and return its id at once; poll ``GET /v1/jobs/{id}``. The body is validated now, inline
    GeoJSON included, so bad input is a 422 here and never a failed job; it is stored as sent,
    ``null`` values included."""
    body = await request.body()
    await asyncio.to_thread(storage.check_space, len(body))
    ctx = task_context(settings, storage, principal, sync=False)
    stored, refs = await in_worker(
        request, pool, tasks.prepare_job, ctx, body, timeout=_PREPARE_TIMEOUT_S
    )
    resolve = storage_resolver(storage, principal.scope)
    for field, (dataset_id, kind) in refs.items():
        await asyncio.to_thread(resolve, field, UUID(dataset_id), kind)
    record = await asyncio.to_thread(storage.add_job, stored, principal.tenant)
    jobs.wake()
    return JobCreated(id=record["id"], status=record["status"], links=_links(record["id"], ""))


@router.get(
    "",
    response_model=list[JobInfo],
    responses=problems(401, 422),
    summary="List jobs",
    operation_id="list_jobs",
)
def list_jobs(
    principal: Reader, storage: Store, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[JobInfo]:
    """The caller's newest jobs first (every tenant's for an admin key)."""
    return [_info(r) for r in storage.list_jobs(limit, principal.scope)]


@router.get(
    "/{job_id}",
    response_model=JobInfo,
    responses=problems(401, 404, 422),
    summary="Job status and progress",
    operation_id="get_job",
)
def get_job(job_id: UUID, principal: Reader, storage: Store) -> JobInfo:
    """Status (``queued``, ``running``, ``done``, ``failed``), progress 0..1, the current step,
    the error of a failed job and the summary of a finished one."""
    return _info(_record(storage, job_id, principal.scope))


@router.get(
    "/{job_id}/result",
    response_class=GeoJSONResponse,
    responses={**geojson_ok(PlanCollection), **problems(401, 404, 409, 422)},
    summary="Chosen sites as GeoJSON",
    operation_id="job_result",
)
def job_result(job_id: UUID, principal: Reader, storage: Store) -> FileResponse:
    """The chosen sites with the coverage score, status and gap as top-level members."""
    _finished(storage, job_id, principal.scope)
    path = storage.job_dir(str(job_id)) / RESULT_DIR / "sites.geojson"
    return FileResponse(path, media_type=GEOJSON)


@router.get(
    "/{job_id}/result.gpkg",
    response_class=FileResponse,
    responses={
        200: {"description": "GeoPackage with every layer, styled for QGIS", "content": {GPKG: {}}},
        **problems(401, 404, 409, 422),
    },
    summary="All layers as a GeoPackage",
    operation_id="job_geopackage",
)
def job_geopackage(job_id: UUID, principal: Reader, storage: Store) -> FileResponse:
    """Sites, candidates, demand, assignments, service areas and admin units in one file."""
    _finished(storage, job_id, principal.scope)
    path = storage.job_dir(str(job_id)) / RESULT_DIR / "files" / "plan.gpkg"
    return FileResponse(path, media_type=GPKG, filename=f"siting-{job_id}.gpkg")


@router.get(
    "/{job_id}/compliance",
    responses=problems(401, 404, 409, 422),
    summary="Compliance report (JSON)",
    operation_id="job_compliance",
)
def job_compliance(job_id: UUID, principal: Reader, storage: Store) -> dict[str, Any]:
    """Per admin unit (``units``, one row each): ``unit_id``, ``name``, ``kind``,
    ``population``, ``required_centres``, ``planned_centres``, ``shortfall``,
    ``centres_below_band`` / ``centres_within_band`` / ``centres_above_band``, ``flag``,
    ``covered_population``, ``coverage_share``, ``population_beyond``, ``touring_population``,
    ``status`` (ok / flagged / the problems), ``reason`` and ``rules``; ``summary`` holds the
    counts. Needs admin units in the job's input."""
    _finished(storage, job_id, principal.scope)
    path = storage.job_dir(str(job_id)) / RESULT_DIR / "compliance.json"
    doc: dict[str, Any] = json.loads(path.read_text("utf-8"))
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


@router.get(
    "/{job_id}/touring",
    response_class=GeoJSONResponse,
    responses={
        200: {
            "description": "The touring-service list as GeoJSON",
            "content": {GEOJSON: {"schema": {"type": "object"}}},
        },
        **problems(401, 404, 409, 422),
    },
    summary="Touring-service list of a rules plan (GeoJSON)",
    operation_id="job_touring",
)
def job_touring(job_id: UUID, principal: Reader, storage: Store) -> FileResponse:
    """A rules job's touring-service list (rule R3): the villages (or, without villages, the
    demand points) that no fixed facility reaches within the circle, each with its
    ``population``, ``reason`` and ``rule``; ``entries`` and ``population`` are top-level
    members. A single-model job has none (404)."""
    _finished(storage, job_id, principal.scope)
    path = storage.job_dir(str(job_id)) / RESULT_DIR / TOURING_FILE
    if not path.is_file():
        raise ApiProblem(
            404,
            "No touring list",
            f"job {job_id} is not a rules plan, so it has no touring-service list; submit it "
            "without `model` (or with `model: rules`)",
            field="model",
            expected="a job planned by the rules",
        )
    return FileResponse(path, media_type=GEOJSON)


@router.post(
    "/{job_id}/what-if",
    response_class=GeoJSONResponse,
    responses={**geojson_ok(WhatIfCollection), **problems(401, 403, 404, 409, 413, 422, 504)},
    openapi_extra=json_body("WhatIfRequest", {"close_sites": ["c2"], "new_sites": 2}),
    summary="Re-solve a finished job with changes",
    operation_id="job_what_if",
)
async def job_what_if(
    job_id: UUID,
    request: Request,
    principal: Writer,
    settings: SettingsDep,
    storage: Store,
    pool: Pool,
) -> Response:
    """Re-solve the job's scenario with sites opened or closed, ``new_sites`` / ``p`` or the
    threshold changed, reusing its travel times; returns the chosen sites with the new
    coverage, the job's coverage (``base_coverage``) and the ``coverage_difference``. On a
    rules job the edit is judged by the rules (nothing new opens; ``replan: true`` plans by the
    rules again around it) and ``broken_rules`` lists the units whose compliance it makes
    worse (``R1/R2 centres`` short, ``R1 band``, ``R6 circle``) with the reason."""
    body = await request.body()
    record = await asyncio.to_thread(_finished, storage, job_id, principal.scope)
    base = (record["summary"] or {}).get("coverage")
    ctx = task_context(settings, storage, principal, sync=True)
    data = await in_worker(
        request,
        pool,
        tasks.what_if_task,
        ctx,
        str(job_id),
        body,
        base,
        timeout=sync_timeout(ctx.time_cap),
    )
    return Response(data, media_type=GEOJSON)
