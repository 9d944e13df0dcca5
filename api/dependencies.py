"""FastAPI dependencies: settings, storage, the worker pool, the job manager and the caller.

The API key itself is checked by :class:`api.auth.AuthMiddleware` before the body is read;
:func:`require_read` / :func:`require_write` hand the caller's :class:`Principal` to the routes
(and declare the key in the OpenAPI document).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.auth import API_KEY_HEADER, Principal
from api.jobs import JobManager
from api.problems import ApiProblem
from api.settings import Settings
from api.storage import Storage
from api.tasks import TaskContext
from api.workers import WorkerPool

__all__ = [
    "Jobs",
    "Pool",
    "Reader",
    "SettingsDep",
    "Store",
    "Writer",
    "require_read",
    "require_write",
    "task_context",
]

logger = logging.getLogger(__name__)

_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="A read key (GET endpoints of its tenant), a write key (every endpoint of its "
    "tenant) or an admin key (every tenant).",
)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_storage(request: Request) -> Storage:
    """The app's storage."""
    return request.app.state.storage


def get_jobs(request: Request) -> JobManager:
    """The app's job manager."""
    return request.app.state.jobs


def get_pool(request: Request) -> WorkerPool:
    """The app's worker pool."""
    return request.app.state.pool


SettingsDep = Annotated[Settings, Depends(get_settings)]
Store = Annotated[Storage, Depends(get_storage)]
Jobs = Annotated[JobManager, Depends(get_jobs)]
Pool = Annotated[WorkerPool, Depends(get_pool)]


def _principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # the middleware always sets it
        raise ApiProblem(401, "API key required", f"send an API key in `{API_KEY_HEADER}`")
    return principal


def require_read(
    request: Request, _key: Annotated[str | None, Security(_scheme)] = None
) -> Principal:
    """The caller (any key)."""
    return _principal(request)


def require_write(
    request: Request, _key: Annotated[str | None, Security(_scheme)] = None
) -> Principal:
    """The caller, who must hold a write or admin key (403 otherwise)."""
    principal = _principal(request)
    if not principal.can_write:
        raise ApiProblem(
            403,
            "Write access denied",
            "this API key may only read; this endpoint needs a write key",
            field=API_KEY_HEADER,
            expected="a write key",
        )
    return principal


Reader = Annotated[Principal, Depends(require_read)]
Writer = Annotated[Principal, Depends(require_write)]


def task_context(
    settings: Settings, storage: Storage, principal: Principal, *, sync: bool
) -> TaskContext:
    """What a worker process needs for a request of ``principal`` (``sync``: the limits of a
    synchronous solve or what-if)."""
    cap = settings.max_time_limit
    if sync:
        cap = min(settings.sync_time_limit, cap)
    return TaskContext(
        root=str(storage.root),
        scope=principal.scope,
        limits=settings.guard_limits(),
        time_cap=cap,
        max_demand=settings.sync_max_demand if sync else None,
        max_sites=settings.sync_max_sites if sync else None,
    )
