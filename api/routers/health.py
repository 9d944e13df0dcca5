"""GET /health: liveness and storage check (no API key needed)."""

from __future__ import annotations

import logging
from importlib import metadata

from fastapi import APIRouter

from api.dependencies import Store
from api.schemas import HealthInfo

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return metadata.version("siting")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0.0.0"


@router.get("/health", response_model=HealthInfo, summary="Service health")
def health(storage: Store) -> HealthInfo:
    """``ok`` when the database answers; job counts per status."""
    return HealthInfo(
        status="ok",
        version=_version(),
        schema_version=storage.schema_version(),
        jobs=storage.count_jobs(),
    )
