"""FastAPI dependencies: settings, storage, the job manager and the API-key checks."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.jobs import JobManager
from api.problems import ApiProblem
from api.settings import Settings
from api.storage import Storage

__all__ = [
    "API_KEY_HEADER",
    "Jobs",
    "SettingsDep",
    "Store",
    "require_read",
    "require_write",
]

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="A read key (GET endpoints) or a write key (every endpoint).",
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


SettingsDep = Annotated[Settings, Depends(get_settings)]
Store = Annotated[Storage, Depends(get_storage)]
Jobs = Annotated[JobManager, Depends(get_jobs)]


def _matches(key: str, keys: list[str]) -> bool:
    return any(secrets.compare_digest(key.encode(), k.encode()) for k in keys)


def _check(settings: Settings, key: str | None, *, write: bool) -> None:
    if not settings.auth_enabled:
        return
    challenge = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}
    if not key:
        raise ApiProblem(
            401,
            "API key required",
            f"send an API key in the `{API_KEY_HEADER}` header",
            field=API_KEY_HEADER,
            expected="a configured API key",
            headers=challenge,
        )
    if _matches(key, settings.write_keys):
        return
    if _matches(key, settings.read_keys):
        if not write:
            return
        raise ApiProblem(
            403,
            "Write access denied",
            "this API key may only read; this endpoint needs a write key",
            field=API_KEY_HEADER,
            expected="a write key",
        )
    raise ApiProblem(
        401,
        "Invalid API key",
        f"the key in the `{API_KEY_HEADER}` header is not a configured API key",
        field=API_KEY_HEADER,
        expected="a configured API key",
        headers=challenge,
    )


def require_read(
    settings: SettingsDep, key: Annotated[str | None, Security(_scheme)] = None
) -> None:
    """Allow read keys and write keys (401 without or with an unknown key)."""
    _check(settings, key, write=False)


def require_write(
    settings: SettingsDep, key: Annotated[str | None, Security(_scheme)] = None
) -> None:
    """Allow write keys only (401 without or with an unknown key, 403 with a read key)."""
    _check(settings, key, write=True)
