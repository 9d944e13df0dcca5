"""GET /health: liveness and storage state (no API key needed), answered from memory."""

from __future__ import annotations

import logging
from importlib import metadata

from fastapi import APIRouter, Request

from api.schemas import HealthInfo, StorageHealth

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return metadata.version("siting")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0.0.0"


@router.get("/health", response_model=HealthInfo, summary="Service health")
async def health(request: Request) -> HealthInfo:
    """``ok``; ``degraded`` when the storage refuses writes (full or read-only disk, a recent
    failed write) or cannot be read, while finished results stay readable. Always 200 while the
    process serves requests. The state is probed every second in the background, so this
    answer never waits for the disk."""
    state = request.app.state.monitor.current()
    return HealthInfo(
        status=state["status"],
        version=_version(),
        schema_version=state["schema_version"],
        jobs=state["jobs"],
        storage=StorageHealth(**state["storage"]),
    )
