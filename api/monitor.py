"""The service's health, probed in the background: ``GET /health`` answers from memory.

Every ``interval`` seconds a probe (in a thread) reads the storage state (free space, read-only
mount, recent write faults), the job counts and the schema version; ``/health`` returns the
latest probe without touching the disk or the database, so it stays fast however busy the
service is. A probe older than ``stale_after`` seconds (the disk or database hangs) is reported
as ``degraded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from api.storage import Storage, StorageFault

__all__ = ["HealthMonitor"]

logger = logging.getLogger(__name__)


class HealthMonitor:
    """Probes a storage folder every ``interval`` seconds."""

    def __init__(self, storage: Storage, interval: float = 1.0, stale_after: float = 15.0) -> None:
        self.storage = storage
        self.interval = interval
        self.stale_after = stale_after
        self._snapshot: dict[str, Any] | None = None
        self._taken = 0.0
        self._task: asyncio.Task[None] | None = None

    def probe(self) -> dict[str, Any]:
        """Read the state now (blocking)."""
        state = self.storage.health()
        counts: dict[str, int] = {}
        version: int | None = None
        try:
            counts = self.storage.count_jobs()
            version = self.storage.schema_version()
        except StorageFault as exc:
            state = {**state, "writable": False, "problem": state["problem"] or str(exc)}
        return {"storage": state, "jobs": counts, "schema_version": version}

    async def start(self) -> None:
        """Take a first probe, then keep probing in the background."""
        await self._refresh()
        self._task = asyncio.create_task(self._loop(), name="siting-health")

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _refresh(self) -> None:
        self._snapshot = await asyncio.to_thread(self.probe)
        self._taken = time.monotonic()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._refresh()
            except Exception:  # a failed probe must not end probing; staleness shows it
                logger.exception("health probe failed")

    def current(self) -> dict[str, Any]:
        """The latest probe, with ``status`` ``ok`` or ``degraded``."""
        snapshot = self._snapshot or {
            "storage": {"writable": False, "free_bytes": None, "problem": "not probed yet"},
            "jobs": {},
            "schema_version": None,
        }
        age = time.monotonic() - self._taken
        storage = dict(snapshot["storage"])
        if self._snapshot is not None and age > self.stale_after:
            storage["problem"] = f"the storage has not answered a health probe for {age:.0f} s"
            storage["writable"] = False
        return {
            **snapshot,
            "storage": storage,
            "status": "ok" if storage["problem"] is None else "degraded",
        }
