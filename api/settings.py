"""Service settings: every knob of the HTTP service, read from ``SITING_*`` environment variables.

Library code never reads these; the app factory passes explicit values down.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

logger = logging.getLogger(__name__)

KeyList = Annotated[list[str], NoDecode]


def _split(value: Any) -> Any:
    """Comma-separated text (``a,b``) or a JSON list (``["a","b"]``) → list of strings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return [str(v) for v in json.loads(text)]
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Service settings (environment variables ``SITING_<NAME>``, e.g. ``SITING_STORAGE_DIR``).

    Lists (keys, CORS origins) are comma-separated or JSON lists. With no read and no write key
    configured the service is open (a warning is logged at start-up).
    """

    model_config = SettingsConfigDict(env_prefix="SITING_", extra="ignore")

    storage_dir: Path = Field(
        Path("siting-service-data"),
        description="Directory of the SQLite database, uploaded datasets and job results "
        "(mount a volume here). Not SITING_DATA_DIR, which names the real-data folder.",
    )
    read_keys: KeyList = Field(
        default_factory=list, description="API keys allowed on read (GET) endpoints."
    )
    write_keys: KeyList = Field(
        default_factory=list,
        description="API keys allowed on write endpoints (upload, delete, solve, jobs); "
        "they may read too.",
    )
    max_upload_bytes: int = Field(200 * 1024 * 1024, gt=0, description="Largest upload (413).")
    sync_max_body_bytes: int = Field(
        5 * 1024 * 1024, gt=0, description="Largest request body of POST /v1/solve (413)."
    )
    sync_max_demand: int = Field(
        5_000, gt=0, description="Most demand points POST /v1/solve accepts (use jobs above)."
    )
    sync_max_sites: int = Field(
        500, gt=0, description="Most sites POST /v1/solve accepts (use jobs above)."
    )
    max_time_limit: float = Field(
        300.0, gt=0, description="Server-wide cap on every solver time limit (seconds)."
    )
    sync_time_limit: float = Field(
        30.0, gt=0, description="Default and cap of the solver time limit of POST /v1/solve."
    )
    cors_origins: KeyList = Field(
        default_factory=list, description="Origins allowed by CORS (empty: CORS off)."
    )
    workers: int = Field(2, ge=1, le=64, description="Job worker threads.")
    state_cache_size: int = Field(
        8, ge=0, description="Finished jobs whose scenario and travel times stay in memory."
    )

    @field_validator("read_keys", "write_keys", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @property
    def auth_enabled(self) -> bool:
        """Whether API keys are checked at all."""
        return bool(self.read_keys or self.write_keys)


def get_settings() -> Settings:
    """Settings from the environment (a fresh object each call)."""
    return Settings()
