"""RFC 9457 problem details: the one place where every error becomes an HTTP response.

``SitingError`` subclasses map to 4xx here (and only here); request validation errors become
422 problems naming each field, the bad value and what was expected; anything else is a 500
(a real bug, logged with its traceback).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from siting_errors import (
    CRSError,
    DataNotFoundError,
    DependencyError,
    InputError,
    SitingError,
    SolverError,
    UnsupportedFormatError,
)

__all__ = [
    "PROBLEM_JSON",
    "ApiProblem",
    "install_handlers",
    "problem_response",
    "redact_paths",
    "status_for",
]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://siting.example/problems/"

# most specific first
_STATUS: tuple[tuple[type[SitingError], int, str], ...] = (
    (UnsupportedFormatError, 415, "unsupported-format"),
    (CRSError, 422, "crs"),
    (InputError, 422, "invalid-input"),
    (DataNotFoundError, 404, "not-found"),
    (SolverError, 422, "solver"),
    (DependencyError, 422, "dependency-missing"),
    (SitingError, 400, "bad-request"),
)
_FIELD = re.compile(r"`([A-Za-z_][\w.\[\]]*)`")
_STORED_PATH = re.compile(
    r"""['"]?[^'"\s]*/(datasets|jobs)/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"""
    r"""(/[^'"\s]*)?['"]?"""
)


def redact_paths(text: str) -> str:
    """``text`` with server file paths of datasets and jobs replaced by ``dataset <id>``."""
    return _STORED_PATH.sub(lambda m: f"{m.group(1)[:-1]} {m.group(2)}", text)


class ApiProblem(Exception):
    """An error the API raises itself (unknown id, too large, not allowed, wrong state)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        value: Any = None,
        expected: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.value = value
        self.expected = expected
        self.headers = headers
        self.extra = extra


def status_for(exc: SitingError) -> tuple[int, str]:
    """The HTTP status and problem type slug of a domain error."""
    for cls, status, slug in _STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 400, "bad-request"  # pragma: no cover - SitingError is last above


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> JSONResponse:
    """A problem+json response (members with value ``None`` are left out)."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + (slug or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in members.items() if v is not None})
    return JSONResponse(
        jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _short(value: Any, limit: int = 200) -> Any:
    """A JSON-safe, bounded echo of a bad value."""
    try:
        value = jsonable_encoder(value)
    except Exception:  # noqa: BLE001 - echoing a bad value must never fail the error response
        value = repr(value)
    text = repr(value)
    if len(text) > limit:
        return text[:limit] + "…"
    return value


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            field=exc.field,
            value=_short(exc.value) if exc.value is not None else None,
            expected=exc.expected,
            **exc.extra,
        )

    @app.exception_handler(SitingError)
    async def _siting_error(request: Request, exc: SitingError) -> JSONResponse:
        status, slug = status_for(exc)
        detail = redact_paths(str(exc) or type(exc).__name__)
        match = _FIELD.search(detail)
        logger.info("%s %s -> %d %s: %s", request.method, request.url.path, status, slug, detail)
        return problem_response(
            status,
            type(exc).__name__,
            detail,
            instance=request.url.path,
            slug=slug,
            field=match.group(1) if match else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
            errors.append(
                {
                    "field": field or "(request)",
                    "in": loc[0] if loc else None,
                    "value": _short(err.get("input")),
                    "expected": err.get("msg", ""),
                }
            )
        first = errors[0] if errors else {"field": "(request)", "value": None, "expected": ""}
        detail = f"`{first['field']}`: {first['expected']} (got {first['value']!r})" + (
            f"; and {len(errors) - 1} more problems" if len(errors) > 1 else ""
        )
        return problem_response(
            422,
            "Request validation failed",
            detail,
            instance=request.url.path,
            slug="validation",
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem_response(
            exc.status_code,
            title,
            detail,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(
            500,
            "Internal server error",
            f"an unexpected {type(exc).__name__} occurred; this is a bug, please report it",
            instance=request.url.path,
        )
