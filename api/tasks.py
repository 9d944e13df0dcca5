"""The work done in worker processes (:mod:`api.workers`): parsing and validating request bodies,
synchronous solves, what-if re-solves, upload checks and whole jobs.

The server hands each function raw bytes and plain settings; the worker parses the JSON (strict:
no NaN, no duplicate keys, bounded nesting), reads user files through the guard and answers
bytes or small dicts, so the server's event loop never parses or plans anything. The fork server
imports this module once, which imports the whole planning stack.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import highspy
import osmnx
import pyogrio
import rasterio
from pydantic import TypeAdapter, ValidationError

import siting.outputs
import solvers.covering
import solvers.pcenter
import solvers.pmedian
from api.inputs import build_scenario, capped, check_inline, what_if
from api.problems import ApiProblem, ProblemRaised, problem_of, validation_problem
from api.results import collection_text, plan_collection, write_result
from api.schemas import SOLVE_REQUEST, WhatIfRequest
from api.state import load_state
from api.storage import RESULT_DIR, Storage, StorageFault, now_iso, storage_fault
from api.uploads import storage_resolver, validate_upload
from geodata.guard import GuardLimits, parse_json
from siting import SitingError, workflow
from siting._json import jsonable

__all__ = [
    "JOB_EXIT_UNRECORDED",
    "TaskContext",
    "check_upload",
    "parse_body",
    "prepare_job",
    "run_job",
    "solve",
    "what_if_task",
]

logger = logging.getLogger(__name__)

# what a plan imports on first use, imported here so the fork server holds it and a worker does
# not import (and compile) it again for every request: ~70 ms a request
_PRELOADED = (
    highspy,
    osmnx,
    pyogrio,
    rasterio,
    siting.outputs,
    solvers.covering,
    solvers.pcenter,
    solvers.pmedian,
)

#: exit code of a job process that could not record the job's end (the server records it)
JOB_EXIT_UNRECORDED = 75
_MODEL_TAGS = ("rules", "lscp", "mclp", "pmedian", "pcenter")
_MODEL_EXPECTED = (
    "one of 'lscp', 'mclp', 'pmedian', 'pcenter', or 'rules' (the default when absent: a plan "
    "by the rules)"
)
_WHAT_IF = TypeAdapter(WhatIfRequest)
_REFS = {
    "demand_dataset": "population",
    "sites_dataset": "sites",
    "existing_dataset": "sites",
    "units_dataset": "units",
    "roads_dataset": "roads",
}


@dataclass(frozen=True)
class TaskContext:
    """What a worker needs to know about the service and the caller."""

    root: str
    scope: str | None
    limits: GuardLimits
    time_cap: float
    max_demand: int | None = None
    max_sites: int | None = None


def parse_body(body: bytes, adapter: TypeAdapter[Any]) -> Any:
    """A request body as a validated model (:class:`ProblemRaised` with a 422 naming each bad
    field otherwise)."""
    try:
        data = parse_json(body, "(body)", max_depth=64)
    except SitingError as exc:
        problem = problem_of(exc)
        raise ProblemRaised(
            replace(problem, members={**problem.members, "field": "(body)"})
        ) from None
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = list(err["loc"])
            if loc and loc[0] in _MODEL_TAGS:  # the tag of the request shape chosen by `model`
                loc = loc[1:]
            if loc == ["model"] and err["type"] == "literal_error":  # an unknown model
                err = {**err, "msg": _MODEL_EXPECTED}
            errors.append({**err, "loc": ("body", *loc)})
        raise ProblemRaised(validation_problem(errors)) from None


def _storage(ctx: TaskContext) -> Storage:
    return Storage(ctx.root, prepare=False)


def solve(ctx: TaskContext, body: bytes) -> bytes:
    """``POST /v1/solve``: the plan as GeoJSON bytes."""
    req = parse_body(body, SOLVE_REQUEST)
    storage = _storage(ctx)
    scenario = build_scenario(
        req,
        storage_resolver(storage, ctx.scope),
        ctx.limits,
        time_limit=capped(req.time_limit, ctx.time_cap),
        cache_dir=storage.root / "networks",
        max_demand=ctx.max_demand,
        max_sites=ctx.max_sites,
    )
    return collection_text(plan_collection(workflow.run_plan(scenario).result)).encode("utf-8")


def prepare_job(ctx: TaskContext, body: bytes) -> tuple[bytes, dict[str, tuple[str, str]]]:
    """``POST /v1/jobs``: the request validated (inline GeoJSON converted once, so bad input is
    a 422 now, never a failed job) and re-serialised with its explicit ``null`` values kept;
    the dataset ids it refers to (field → (id, kind))."""
    req = parse_body(body, SOLVE_REQUEST)
    check_inline(req)
    refs = {
        field: (str(getattr(req, field)), kind)
        for field, kind in _REFS.items()
        if getattr(req, field) is not None
    }
    stored = req.model_dump(mode="json", exclude_unset=True)
    stored["model"] = req.model_name()  # explicit: what an absent `model` means may change
    return json.dumps(stored, ensure_ascii=False, allow_nan=False).encode("utf-8"), refs


def what_if_task(ctx: TaskContext, job_id: str, body: bytes, base: dict[str, Any] | None) -> bytes:
    """``POST /v1/jobs/{id}/what-if``: the re-solve as GeoJSON bytes, with the job's coverage
    (``base``) and the difference; on a rules job also the units whose compliance the edit
    breaks (``broken_rules``) and the edited plan's compliance counts."""
    req = parse_body(body, _WHAT_IF)
    folder = _storage(ctx).job_dir(job_id) / RESULT_DIR / "state"
    try:
        scenario, travel = load_state(folder)
    except SitingError as exc:
        raise ApiProblem(
            409,
            "No what-if state",
            f"job {job_id}: {exc}",
            field="job_id",
            value=job_id,
            expected="a job finished by this version of the service",
        ) from None
    result, broken = what_if(scenario, travel, req, time_limit=capped(req.time_limit, ctx.time_cap))
    new = result.coverage.as_dict() if result.coverage is not None else None
    diff: dict[str, float | None] = {"share": None, "covered_weight": None}
    if base and new:
        diff = {
            "share": round(new["share"] - base["share"], 6),
            "covered_weight": round(new["covered_weight"] - base["covered_weight"], 3),
        }
    extra: dict[str, Any] = {}
    if broken is not None:
        counts = result.summary().get("compliance")
        extra = {
            "broken_rules": jsonable(broken.to_dict("records")),
            "compliance": None
            if counts is None
            else jsonable({k: v for k, v in counts.items() if k != "table"}),
        }
    doc = plan_collection(result, base_coverage=base, coverage_difference=diff, **extra)
    return collection_text(doc).encode("utf-8")


def check_upload(
    ctx: TaskContext, kind: str, path: str, crs: str | None, filename: str
) -> dict[str, Any]:
    """``POST /v1/datasets``: an uploaded file checked and read; its metadata."""
    return validate_upload(kind, Path(path), ctx.limits, crs=crs, filename=filename)


def _stored_request(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored job request as sent; one stored before rules plans (no `model`, a site count)
    was an MCLP run."""
    if "model" not in doc and any(k in doc for k in ("new_sites", "p")):
        return {**doc, "model": "mclp"}
    return doc


def run_job(ctx: TaskContext, job_id: str, worker: str) -> None:
    """A whole job in its own process: inputs, travel times, solve, result files, the end
    recorded in the database (``done`` or ``failed`` with the reason). When the end cannot be
    recorded (full or read-only disk) the process exits with :data:`JOB_EXIT_UNRECORDED` and
    the server records it."""
    storage = _storage(ctx)
    step = {"progress": 0.05}

    def update(**values: Any) -> None:
        try:
            storage.update_job(job_id, worker=worker, **values)
        except StorageFault as exc:  # progress is not worth failing a job for
            logger.warning("job %s: progress not recorded: %s", job_id, exc)

    def progress(message: str) -> None:
        step["progress"] = min(0.9, step["progress"] + 0.2)
        update(progress=round(step["progress"], 3), message=message)

    try:
        update(message="loading inputs")
        req = SOLVE_REQUEST.validate_python(_stored_request(storage.job_request(job_id)))
        scenario = build_scenario(
            req,
            storage_resolver(storage, None),
            ctx.limits,
            time_limit=capped(req.time_limit, ctx.time_cap),
            cache_dir=storage.root / "networks",
        )
        result = workflow.run_plan(scenario, progress=progress).result
        update(progress=0.95, message="writing results")
        summary = jsonable(result.summary())
        write_result(storage.job_dir(job_id), result, summary)
        storage.update_job(
            job_id,
            worker=worker,
            status="done",
            progress=1.0,
            finished=now_iso(),
            message="finished",
            summary=summary,
        )
    except BaseException as exc:
        fault = storage_fault(exc) if isinstance(exc, OSError | StorageFault) else None
        problem = problem_of(fault or exc)
        if problem.status >= 500 and fault is None:
            logger.error("job %s failed with an unexpected error", job_id, exc_info=exc)
            error = f"internal error ({type(exc).__name__}): {problem.detail}"
        else:
            logger.info("job %s failed: %s", job_id, problem.detail)
            error = f"{problem.title}: {problem.detail}"
        try:
            storage.update_job(
                job_id,
                worker=worker,
                status="failed",
                finished=now_iso(),
                message="failed",
                error=error,
            )
        except StorageFault:
            logger.warning("job %s: its failure could not be recorded", job_id)
            os._exit(JOB_EXIT_UNRECORDED)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
