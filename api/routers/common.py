"""Shared pieces of the routers: problem responses for OpenAPI and GeoJSON responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse

from api.inputs import collection_text
from api.problems import PROBLEM_JSON

__all__ = ["GEOJSON", "GeoJSONResponse", "geojson_ok", "problems"]

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
    404: "Unknown id",
    409: "The job is not finished",
    413: "Too large",
    415: "Unsupported file format",
    422: "Invalid input (names the field, the bad value and what was expected)",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json errors (400, an unreadable body, is
    always listed)."""
    return {
        code: {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        }
        for code in sorted({400, *codes})
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
