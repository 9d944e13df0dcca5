"""POST /v1/solve: a synchronous planning run for small inputs (large ones go to /v1/jobs)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from api import tasks
from api.dependencies import Pool, SettingsDep, Store, Writer, task_context
from api.routers.common import GEOJSON, GeoJSONResponse, geojson_ok, in_worker, json_body, problems
from api.schemas import SOLVE_EXAMPLE, PlanCollection

__all__ = ["router", "sync_timeout"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["solve"])


def sync_timeout(time_cap: float) -> float:
    """Wall-clock bound of a synchronous solve or what-if (reading inputs, travel times, solve
    and result), after which its worker process is killed."""
    return 4 * time_cap + 120


@router.post(
    "/solve",
    response_class=GeoJSONResponse,
    responses={**geojson_ok(PlanCollection), **problems(401, 403, 404, 413, 415, 422, 504)},
    openapi_extra=json_body("SolveRequest", SOLVE_EXAMPLE),
    summary="Solve a small scenario now",
)
async def solve(
    request: Request, principal: Writer, settings: SettingsDep, storage: Store, pool: Pool
) -> Response:
    """Choose sites for the demand and return them as GeoJSON, with the **coverage score**
    (``coverage.share``: residents within ``threshold_minutes``) and the solve ``status`` and
    ``gap`` as top-level members.

    Inputs are inline GeoJSON (WGS84 lon/lat) or ids of uploaded datasets of the caller's
    tenant. Requests larger than the synchronous limits get 413 with a pointer to
    ``POST /v1/jobs``. The solver time limit is capped by the server.
    """
    body = await request.body()
    ctx = task_context(settings, storage, principal, sync=True)
    timeout = sync_timeout(ctx.time_cap)
    data = await in_worker(request, pool, tasks.solve, ctx, body, timeout=timeout)
    return Response(data, media_type=GEOJSON)
