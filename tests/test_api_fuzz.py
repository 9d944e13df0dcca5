"""Property-based testing of the OpenAPI document (schemathesis) with API keys on: every
operation with every built-in check, then the stateful phase (upload → get → delete → get,
submit → poll → results), with 0 failures.

Positive data acceptance counts 413, 415 and 422 as answers to schema-valid requests: a schema
cannot say that ``new_sites`` must not exceed the number of candidate sites, that a polygon must
not cross itself or that an uploaded file must hold a GeoTIFF; those answers are 4xx problems
naming the input, which the other checks verify.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from api.main import create_app
from api.settings import Settings

pytestmark = pytest.mark.slow

WRITE = "fuzz-write-key"
READ = "fuzz-read-key"
HEADERS = {"X-API-Key": WRITE}


def _app(tmp: Path) -> Any:
    return create_app(
        Settings(
            storage_dir=tmp,
            write_keys=[f"fuzz:{WRITE}"],
            read_keys=[f"fuzz:{READ}"],
            sync_time_limit=2.0,
            max_time_limit=5.0,
            sync_max_demand=200,
            sync_max_sites=50,
            max_upload_bytes=100_000,
            workers=1,
            request_workers=2,
        )
    )


_TMP = Path(tempfile.mkdtemp(prefix="siting-api-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
APP = _app(_TMP)  # schemathesis runs its lifespan once and keeps it for the whole module
CONFIG = SchemathesisConfig.from_dict(
    {
        "headers": HEADERS,
        # the coverage phase enumerates ~10,000 cases for POST /v1/solve alone (~6 min); the
        # suite keeps the examples, fuzzing and stateful phases (bounded by max_examples)
        "phases": {"coverage": {"enabled": False}},
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "413", "415", "422"]
            }
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@_SETTINGS
def test_api_conforms_to_its_schema(case) -> None:
    case.call_and_validate(headers=HEADERS)


class _Workflow(schema.as_state_machine()):  # type: ignore[misc]
    def get_call_kwargs(self, case) -> dict[str, Any]:
        return {"headers": HEADERS}


TestStateful = _Workflow.TestCase
TestStateful.settings = settings(
    max_examples=10,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
