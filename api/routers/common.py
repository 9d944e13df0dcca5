"""Shared pieces of the routers: problem responses and JSON bodies for OpenAPI, GeoJSON
responses, and running work in a worker process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from api.problems import PROBLEM_JSON, ApiProblem
from api.results import collection_text
from api.workers import TaskTimeout, WorkerDied, WorkerPool

__all__ = ["GEOJSON", "GeoJSONResponse", "geojson_ok", "in_worker", "json_body", "problems"]

logger = logging.getLogger(__name__)

GEOJSON = "application/geo+json"

_PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string"},
        "value": {},
        "expected": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing or unknown API key",
    403: "The API key may not write",
    404: "Unknown id (or one of another tenant)",
    409: "The job is not finished",
    413: "Too large",
    415: "Unsupported file format",
    422: "Invalid input (names the field, the bad value and what was expected)",
    503: "Storage read-only or unavailable, or a worker process died",
    504: "The work did not finish in time",
    507: "Storage full",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json errors (400, an unreadable body, and
    503, a storage or worker fault, are always listed)."""
    return {
        code: {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        }
        for code in sorted({400, 503, *codes})
    }


def json_body(schema: str, example: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of component ``schema`` (the body is read
    as bytes and parsed in a worker process, so FastAPI does not see it)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{schema}"},
                    "example": example,
                }
            },
        }
    }


class GeoJSONResponse(JSONResponse):
    """An ``application/geo+json`` response (one feature per line)."""

    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        """GeoJSON text of a FeatureCollection dict."""
        return collection_text(content).encode("utf-8")


def geojson_ok(model: type) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entry of a GeoJSON 200 response."""
    return {200: {"model": model, "description": "GeoJSON FeatureCollection (RFC 7946)"}}


async def in_worker(
    request: Request, pool: WorkerPool, fn: Callable[..., Any], *args: Any, timeout: float
) -> Any:
    """``fn(*args)`` in a worker process; its timeout and death as 504 / 503 problems."""
    try:
        return await pool.run(fn, *args, timeout=timeout)
    except TaskTimeout:
        raise ApiProblem(
            504,
            "Took too long",
            f"{request.method} {request.url.path} did not finish within {timeout:g} s; submit "
            "large runs as a job: POST /v1/jobs",
        ) from None
    except WorkerDied as exc:
        raise ApiProblem(
            503,
            "Worker process died",
            f"{exc}; the request was not completed, try again (or with smaller inputs)",
            headers={"Retry-After": "5"},
        ) from None
