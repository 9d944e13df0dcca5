"""The FastAPI application: ``create_app(settings)`` builds it, ``app`` is what uvicorn serves.

``uvicorn api.main:app`` (or ``siting serve``) reads the settings from ``SITING_*`` environment
variables. The OpenAPI docs at ``/docs`` use the Swagger UI files of the ``swagger-ui-bundle``
package, served by the app itself, so they work offline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.jobs import JobManager
from api.problems import PROBLEM_JSON, install_handlers
from api.routers import datasets, health, jobs, solve
from api.settings import Settings
from api.storage import Storage

__all__ = ["app", "create_app"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DOCS_STATIC = "/docs-static"
_MULTIPART_SLACK = 64 * 1024  # form boundaries and fields around the file


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for request bodies above a per-path limit, before they are read (Content-Length)
    or while they stream in (chunked bodies)."""

    def __init__(self, app: ASGIApp, limits: dict[str, tuple[int, str]]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        rule = self.limits.get(scope["path"].rstrip("/"))
        if rule is None:
            await self.app(scope, receive, send)
            return
        limit, hint = rule
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._reject(send, limit, hint, scope["path"])
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._reject(send, limit, hint, scope["path"])

    @staticmethod
    async def _reject(send: Send, limit: int, hint: str, path: str) -> None:
        body = json.dumps(
            {
                "type": "https://siting.example/problems/too-large",
                "title": "Request too large",
                "status": 413,
                "detail": f"the request body is larger than the limit of {limit:,} bytes. {hint}",
                "instance": path,
                "field": "(body)",
                "expected": f"at most {limit} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment)."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = Storage(settings.storage_dir)
        manager = JobManager(storage, settings)
        app.state.storage = storage
        app.state.jobs = manager
        manager.start()
        if not settings.auth_enabled:
            logger.warning("no API keys configured (SITING_READ_KEYS / SITING_WRITE_KEYS): open")
        logger.info("siting service started on storage %s", settings.storage_dir)
        try:
            yield
        finally:
            manager.shutdown()

    app = FastAPI(
        title="siting",
        summary="Primary-care facility siting: candidate sites and a coverage score.",
        description=(
            "Coverage (LSCP, MCLP) and p-median / p-center models on population grids and road "
            "networks. Inputs are GeoJSON (WGS84 lon/lat, RFC 7946) or uploaded datasets. "
            "Errors are RFC 9457 problem+json naming the field, the bad value and what was "
            "expected. Send the API key in the `X-API-Key` header."
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
    app.add_middleware(
        BodyLimitMiddleware,
        limits={
            "/v1/solve": (
                settings.sync_max_body_bytes,
                "Submit large runs as a job: POST /v1/jobs (or upload the inputs as datasets).",
            ),
            "/v1/datasets": (settings.max_upload_bytes + _MULTIPART_SLACK, ""),
        },
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    return app


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


app = create_app()
