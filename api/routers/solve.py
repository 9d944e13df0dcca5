"""POST /v1/solve: a synchronous planning run for small inputs (large ones go to /v1/jobs)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from api.dependencies import SettingsDep, Store, require_write
from api.inputs import build_scenario, capped, plan_collection
from api.routers.common import GeoJSONResponse, geojson_ok, problems
from api.schemas import PlanCollection, SolveRequest
from siting import plan

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["solve"])


@router.post(
    "/solve",
    response_class=GeoJSONResponse,
    responses={**geojson_ok(PlanCollection), **problems(401, 403, 404, 413, 415, 422)},
    dependencies=[Depends(require_write)],
    summary="Solve a small scenario now",
)
async def solve(req: SolveRequest, settings: SettingsDep, storage: Store) -> GeoJSONResponse:
    """Choose sites for the demand and return them as GeoJSON, with the **coverage score**
    (``coverage.share``: residents within ``threshold_minutes``) and the solve ``status`` and
    ``gap`` as top-level members.

    Inputs are inline GeoJSON (WGS84 lon/lat) or ids of uploaded datasets. Requests larger
    than the synchronous limits get 413 with a pointer to ``POST /v1/jobs``. The solver time
    limit is capped by the server.
    """
    cap = min(settings.sync_time_limit, settings.max_time_limit)

    def run() -> dict:
        scenario = build_scenario(
            req,
            storage,
            time_limit=capped(req.time_limit, cap),
            max_demand=settings.sync_max_demand,
            max_sites=settings.sync_max_sites,
        )
        return plan_collection(plan(scenario))

    return GeoJSONResponse(await run_in_threadpool(run))
