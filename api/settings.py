"""Service settings: every knob of the HTTP service, read from ``SITING_*`` environment variables.

Library code never reads these; the app factory passes explicit values down. Settings that
leave the service unusable or unintentionally open refuse to load (a ``ValueError`` naming the
variable), so the service does not start with them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from geodata.guard import GuardLimits

__all__ = ["ApiKey", "Settings", "get_settings"]

logger = logging.getLogger(__name__)

KeyList = Annotated[list[str], NoDecode]
Role = Literal["read", "write", "admin"]
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _split(value: Any) -> Any:
    """Comma-separated text (``a,b``) or a JSON list (``["a","b"]``) → list of strings (blank
    entries dropped)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return [str(v).strip() for v in json.loads(text) if str(v).strip()]
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class ApiKey:
    """One configured key: its role and the tenant owning what it creates.

    An entry ``tenant:key`` names the tenant (letters, digits, ``_.-``); an entry without a
    colon is its own tenant, named ``key-`` + the first 12 hex digits of its SHA-256 (so two
    bare write keys never see each other's data, and the key itself is never stored).
    """

    __slots__ = ("role", "secret", "tenant")

    def __init__(self, entry: str, role: Role, variable: str) -> None:
        tenant, sep, secret = entry.partition(":")
        if not sep:
            secret = entry
            tenant = "key-" + hashlib.sha256(entry.encode()).hexdigest()[:12]
        elif not _TENANT.match(tenant) or not secret:
            raise ValueError(
                f"{variable}: entry {tenant + ':…'!r} must be `key` or `tenant:key` with a tenant "
                "of letters, digits, '_', '.', '-' (at most 64) and a non-empty key"
            )
        self.secret = secret
        self.tenant = tenant
        self.role: Role = role


class Settings(BaseSettings):
    """Service settings (environment variables ``SITING_<NAME>``, e.g. ``SITING_STORAGE_DIR``).

    Lists (keys, CORS origins) are comma-separated or JSON lists. With no key configured the
    service refuses to start unless ``SITING_OPEN=true`` says it is meant to be open.
    """

    model_config = SettingsConfigDict(env_prefix="SITING_", extra="ignore")

    storage_dir: Path = Field(
        default=Path("siting-service-data"),
        description="Directory of the SQLite database, uploaded datasets and job results "
        "(mount a volume here). Not SITING_DATA_DIR, which names the real-data folder.",
    )
    read_keys: KeyList = Field(
        default_factory=list,
        description="Keys for the GET endpoints of their tenant (`tenant:key` or `key`).",
    )
    write_keys: KeyList = Field(
        default_factory=list,
        description="Keys for every endpoint of their tenant (`tenant:key` or `key`).",
    )
    admin_keys: KeyList = Field(
        default_factory=list, description="Keys that read and write every tenant's data."
    )
    open: bool = Field(
        default=False, description="Serve without API keys (everyone reads and writes everything)."
    )
    max_upload_bytes: int = Field(
        default=200 * 1024 * 1024, gt=0, description="Largest upload (413)."
    )
    sync_max_body_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="Largest request body of POST /v1/solve (413)."
    )
    job_max_body_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, description="Largest request body of POST /v1/jobs (413)."
    )
    small_max_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest body of every other request (what-if, ...)."
    )
    sync_max_demand: int = Field(
        default=5_000,
        gt=0,
        description="Most demand points POST /v1/solve accepts (use jobs above).",
    )
    sync_max_sites: int = Field(
        default=500, gt=0, description="Most sites POST /v1/solve accepts (use jobs above)."
    )
    max_time_limit: float = Field(
        default=300.0, gt=0, description="Server-wide cap on every solver time limit (seconds)."
    )
    sync_time_limit: float = Field(
        default=30.0,
        gt=0,
        description="Default and cap of the solver time limit of POST /v1/solve.",
    )
    cors_origins: KeyList = Field(
        default_factory=list, description="Origins allowed by CORS (empty: CORS off)."
    )
    workers: int = Field(default=2, ge=1, le=64, description="Job worker processes.")
    request_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Worker processes for synchronous solves, what-ifs and upload checks.",
    )
    worker_memory_mb: int | None = Field(
        default=None,
        gt=0,
        description="Address-space limit of each worker process (MB; none if unset).",
    )
    min_free_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Free space below which writes are refused (507) and /health is degraded.",
    )
    max_raster_cells: int = Field(
        default=GuardLimits.max_raster_cells, gt=0, description="Largest raster (width × height)."
    )
    max_raster_bands: int = Field(
        default=GuardLimits.max_raster_bands, gt=0, description="Most bands."
    )
    max_raster_bytes: int = Field(
        default=GuardLimits.max_raster_bytes,
        gt=0,
        description="Largest decompressed raster (bytes).",
    )
    max_vector_features: int = Field(
        default=GuardLimits.max_vector_features, gt=0, description="Most features in a vector file."
    )
    max_geojson_bytes: int = Field(
        default=GuardLimits.max_json_bytes,
        gt=0,
        description="Largest GeoJSON dataset (parsed whole).",
    )

    @field_validator("read_keys", "write_keys", "admin_keys", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @model_validator(mode="after")
    def _keys_or_open(self) -> Settings:
        keys = self.api_keys()
        if self.open and keys:
            raise ValueError(
                "SITING_OPEN=true and API keys are both set; keep the keys (and drop "
                "SITING_OPEN) or drop the keys to serve openly"
            )
        if not self.open and not keys:
            raise ValueError(
                "no API key configured: SITING_WRITE_KEYS / SITING_READ_KEYS / SITING_ADMIN_KEYS "
                "are empty after parsing; set a key, or SITING_OPEN=true to serve without keys"
            )
        secrets = [k.secret for k in keys]
        if len(set(secrets)) != len(secrets):
            raise ValueError("the same API key is configured twice (in one or several roles)")
        return self

    def api_keys(self) -> list[ApiKey]:
        """Every configured key with its role and tenant."""
        out: list[ApiKey] = []
        for variable, role, entries in (
            ("SITING_READ_KEYS", "read", self.read_keys),
            ("SITING_WRITE_KEYS", "write", self.write_keys),
            ("SITING_ADMIN_KEYS", "admin", self.admin_keys),
        ):
            out.extend(ApiKey(entry, role, variable) for entry in entries)  # type: ignore[arg-type]
        return out

    @property
    def auth_enabled(self) -> bool:
        """Whether API keys are checked at all."""
        return not self.open

    def guard_limits(self) -> GuardLimits:
        """The limits of the file guard."""
        return GuardLimits(
            max_raster_cells=self.max_raster_cells,
            max_raster_bands=self.max_raster_bands,
            max_raster_bytes=self.max_raster_bytes,
            max_vector_features=self.max_vector_features,
            max_json_bytes=self.max_geojson_bytes,
        )


def get_settings() -> Settings:
    """Settings from the environment (a fresh object each call)."""
    return Settings()
