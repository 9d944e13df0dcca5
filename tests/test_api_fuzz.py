"""Property-based fuzzing of the OpenAPI schema (schemathesis): no 5xx, no schema violations."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.settings import Settings


def _app(tmp: Path):
    return create_app(
        Settings(
            storage_dir=tmp,
            sync_time_limit=2.0,
            max_time_limit=5.0,
            sync_max_demand=200,
            sync_max_sites=50,
            max_upload_bytes=100_000,
            workers=1,
        )
    )


_TMP = Path(tempfile.mkdtemp(prefix="siting-api-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
APP = _app(_TMP)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _lifespan():
    # run the app's start-up once; schemathesis' own clients then find its state
    with TestClient(APP):
        yield


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
