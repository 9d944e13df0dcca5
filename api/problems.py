"""RFC 9457 problem details: the one place where every error becomes an HTTP response.

:func:`problem_of` turns any exception into a :class:`Problem` (status, title, detail and the
members ``field`` / ``value`` / ``expected``): ``SitingError`` subclasses map to 4xx here (and
only here), request validation errors to 422 naming each field, storage faults to 507/503,
anything else to 500 (a real bug, logged with its traceback). Worker processes build the same
:class:`Problem` and hand it back, so an error means the same wherever it happened.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.storage import StorageFault
from geodata.guard import SizeLimitError
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
    "ASGIApp",
    "ApiProblem",
    "Problem",
    "ProblemRaised",
    "install_handlers",
    "problem_bytes",
    "problem_of",
    "problem_response",
    "redact_paths",
    "send_problem",
    "status_for",
    "validation_problem",
]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_TYPE_BASE = "https://siting.example/problems/"

# most specific first
_STATUS: tuple[tuple[type[SitingError], int, str], ...] = (
    (SizeLimitError, 413, "too-large"),
    (UnsupportedFormatError, 415, "unsupported-format"),
    (CRSError, 422, "crs"),
    (InputError, 422, "invalid-input"),
    (DataNotFoundError, 404, "not-found"),
    (SolverError, 422, "solver"),
    (DependencyError, 422, "dependency-missing"),
    (SitingError, 400, "bad-request"),
)
_FIELD = re.compile(r"`([A-Za-z_][\w.\[\]-]*)`")
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


@dataclass(frozen=True)
class Problem:
    """A problem+json response: plain data, so worker processes can send it back."""

    status: int
    title: str
    detail: str
    slug: str | None = None
    members: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] | None = None

    def body(self, instance: str | None) -> dict[str, Any]:
        """The JSON document (members with value ``None`` left out)."""
        slug = self.slug or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        doc: dict[str, Any] = {
            "type": _TYPE_BASE + slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        doc.update({k: v for k, v in self.members.items() if v is not None})
        return doc


class ProblemRaised(Exception):
    """Carries a :class:`Problem` (from a worker process) to the handlers."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def status_for(exc: SitingError) -> tuple[int, str]:
    """The HTTP status and problem type slug of a domain error."""
    for cls, status, slug in _STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 400, "bad-request"  # pragma: no cover - SitingError is last above


def _safe(value: Any) -> Any:
    """``value`` with non-finite floats as text (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def _short(value: Any, limit: int = 200) -> Any:
    """A JSON-safe, bounded echo of a bad value."""
    try:
        value = _safe(jsonable_encoder(value))
        text = json.dumps(value, ensure_ascii=False)
    except Exception:  # noqa: BLE001 - echoing a bad value must never fail the error response
        value = text = repr(value)
    if len(text) > limit:
        return text[:limit] + "…"
    return value


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    """The 422 problem of request validation errors (pydantic's ``errors()`` list, locations
    starting with ``body`` / ``query`` / ``path`` / ``header``)."""
    listed = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else None
        field_name = ".".join(loc[1:] if where else loc)
        listed.append(
            {
                "field": field_name or "(body)",
                "in": where,
                "value": _short(err.get("input")),
                "expected": str(err.get("msg", "")),
            }
        )
    first = listed[0] if listed else {"field": "(request)", "value": None, "expected": ""}
    detail = f"`{first['field']}`: {first['expected']} (got {_short(first['value'], 80)!r})" + (
        f"; and {len(listed) - 1} more problems" if len(listed) > 1 else ""
    )
    return Problem(
        422,
        "Request validation failed",
        detail,
        slug="validation",
        members={"field": first["field"], "errors": listed},
    )


def problem_of(exc: BaseException) -> Problem:
    """The problem an exception means (500 for anything that is not a known error)."""
    if isinstance(exc, ProblemRaised):
        return exc.problem
    if isinstance(exc, ApiProblem):
        return Problem(
            exc.status,
            exc.title,
            exc.detail,
            members={
                "field": exc.field,
                "value": _short(exc.value) if exc.value is not None else None,
                "expected": exc.expected,
                **exc.extra,
            },
            headers=exc.headers,
        )
    if isinstance(exc, StorageFault):
        headers = {"Retry-After": "60"} if exc.status == 503 else None
        return Problem(exc.status, exc.title, str(exc), slug=exc.slug, headers=headers)
    if isinstance(exc, SitingError):
        status, slug = status_for(exc)
        detail = redact_paths(str(exc) or type(exc).__name__)
        match = _FIELD.search(detail)
        return Problem(
            status,
            type(exc).__name__,
            detail,
            slug=slug,
            members={"field": match.group(1) if match else None},
        )
    if isinstance(exc, RequestValidationError):
        return validation_problem(list(exc.errors()))
    if isinstance(exc, ValidationError):
        return validation_problem(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        )
    return Problem(
        500,
        "Internal server error",
        f"an unexpected {type(exc).__name__} occurred; this is a bug, please report it",
    )


def problem_bytes(problem: Problem, instance: str | None) -> bytes:
    """The JSON body of a problem (for responses sent outside FastAPI, e.g. by middleware)."""
    return json.dumps(problem.body(instance), ensure_ascii=False).encode()


async def send_problem(send: Send, path: str, problem: Problem) -> None:
    """Answer with ``problem`` straight from ASGI middleware (the body is never read; the
    connection is closed after the response)."""
    body = problem_bytes(problem, path)
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (problem.headers or {}).items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def problem_response(problem: Problem, instance: str | None) -> JSONResponse:
    """A problem+json response."""
    return JSONResponse(
        jsonable_encoder(problem.body(instance)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route answers at this path (for the ``Allow`` header of a 405)."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    async def _known(request: Request, exc: Exception) -> JSONResponse:
        problem = problem_of(exc)
        if problem.status >= 500 and not isinstance(exc, StorageFault | ProblemRaised):
            logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        else:
            logger.info(
                "%s %s -> %d: %s", request.method, request.url.path, problem.status, problem.detail
            )
        return problem_response(problem, request.url.path)

    for cls in (
        ApiProblem,
        ProblemRaised,
        SitingError,
        StorageFault,
        RequestValidationError,
        ValidationError,
        Exception,
    ):
        app.add_exception_handler(cls, _known)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
            detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
        return problem_response(
            Problem(exc.status_code, title, detail, headers=headers), request.url.path
        )
