"""The FastAPI application: ``create_app(settings)`` builds it, ``app`` is what uvicorn serves.

``uvicorn api.main:app`` (or ``siting serve``) reads the settings from ``SITING_*`` environment
variables when ``app`` is first used; bad settings stop the process with a message naming the
variable. The OpenAPI docs at ``/docs`` use the Swagger UI files of the ``swagger-ui-bundle``
package, served by the app itself, so they work offline.

Start-up: take the storage folder's lock (a second server on the same folder refuses to start),
open and migrate the database, sweep what a previous process left (temporary folders, jobs that
could not record their end), start the worker fork server and the job dispatcher. Requests
pass the authentication middleware (no body read without a valid key), then the body-size
middleware, then the routes, which hand all parsing and planning to worker processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.auth import AuthMiddleware
from api.jobs import JobManager
from api.limits import BodyLimitMiddleware
from api.monitor import HealthMonitor
from api.problems import install_handlers
from api.routers import datasets, health, jobs, solve
from api.schemas import SOLVE_EXAMPLE, SOLVE_REQUEST, WhatIfRequest
from api.settings import Settings
from api.storage import Storage, StorageFault, StorageLock
from api.tasks import TaskContext
from api.workers import WorkerPool

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

DOCS_STATIC = "/docs-static"
_MULTIPART_SLACK = 64 * 1024  # form boundaries and fields around the file
_REF = "#/components/schemas/{model}"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment)."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        root = settings.storage_dir
        lock = StorageLock(root)
        await asyncio.to_thread(_make_root, root)
        await asyncio.to_thread(lock.acquire)
        try:
            storage = await asyncio.to_thread(Storage, root, min_free_bytes=settings.min_free_bytes)
            try:
                swept = await asyncio.to_thread(storage.recover)
            except StorageFault as exc:
                logger.warning("start-up sweep skipped: %s", exc)
            else:
                if any(swept.values()):
                    logger.warning("start-up sweep: %s", swept)
            pool = WorkerPool(settings.request_workers, settings.worker_memory_mb)
            await asyncio.to_thread(pool.start)
            context = TaskContext(
                root=str(root),
                scope=None,
                limits=settings.guard_limits(),
                time_cap=settings.max_time_limit,
            )
            manager = JobManager(storage, pool, context, settings.workers)
            monitor = HealthMonitor(storage)
            await monitor.start()
            app.state.storage = storage
            app.state.pool = pool
            app.state.jobs = manager
            app.state.monitor = monitor
            manager.start()
            if settings.open:
                logger.warning("SITING_OPEN=true: the service runs without API keys")
            logger.info("siting service started on storage %s", root)
            try:
                yield
            finally:
                await monitor.stop()
                await manager.stop()
                pool.kill_all()
        finally:
            lock.release()

    app = FastAPI(
        title="siting",
        summary="Primary-care facility siting: candidate sites and a coverage score.",
        description=(
            "Planning by the Inner Mongolia planning documents' rules (a request without `model`), "
            "or one coverage (LSCP, MCLP) or p-median / p-center model, on population grids and "
            "road networks. Inputs are GeoJSON (WGS84 lon/lat, RFC 7946) or uploaded datasets. "
            "Errors are RFC 9457 problem+json naming the field, the bad value and what was "
            "expected. Send the API key in the `X-API-Key` header; each key sees only its "
            "tenant's datasets and jobs."
        ),
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_handlers(app)
    app.include_router(health.router)
    app.include_router(solve.router)
    app.include_router(datasets.router)
    app.include_router(jobs.router)
    _mount_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(
        BodyLimitMiddleware,
        limits={
            "/v1/solve": (
                settings.sync_max_body_bytes,
                "Submit large runs as a job: POST /v1/jobs (or upload the inputs as datasets).",
            ),
            "/v1/jobs": (
                settings.job_max_body_bytes,
                "Upload large inputs as datasets (POST /v1/datasets) and refer to their ids.",
            ),
            "/v1/datasets": (settings.max_upload_bytes + _MULTIPART_SLACK, ""),
        },
        default=settings.small_max_body_bytes,
    )
    app.add_middleware(AuthMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    return app


def _make_root(root: Any) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only mount of an existing folder is served read-only
        if not root.is_dir():
            raise
        logger.warning("storage %s: %s", root, exc)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request bodies the routes read themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    solve = SOLVE_REQUEST.json_schema(ref_template=_REF)
    solve["examples"] = [SOLVE_EXAMPLE]
    solve["description"] = (
        "One planning run; its shape depends on `model` (absent: plan by the planning documents' "
        "rules). Inputs are inline GeoJSON or ids of uploaded datasets; optional fields are "
        "left out, not null."
    )
    for name, schema in (
        ("SolveRequest", solve),
        ("WhatIfRequest", WhatIfRequest.model_json_schema(ref_template=_REF)),
    ):
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(def_name, definition)
        schemas[name] = schema
    app.openapi_schema = doc
    return doc


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("siting")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "0.0.0"


def _mount_docs(app: FastAPI) -> None:
    import swagger_ui_bundle

    app.mount(
        DOCS_STATIC,
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-static",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png",
        )


def __getattr__(name: str) -> Any:
    """``api.main.app``: the app for the settings in the environment, built on first use (so
    importing this module never reads the environment)."""
    if name != "app":
        raise AttributeError(name)
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise SystemExit(f"siting service: bad settings: {reasons}") from None
    application = create_app(settings)
    globals()["app"] = application
    return application
