"""Background planning jobs: a worker pool outside the event loop, results written to storage.

A job's life: ``queued`` (request stored) → ``running`` (progress updated) → ``done`` (result
files under ``jobs/<id>/result/``) or ``failed`` (with the reason). Jobs still ``running`` when
the process died are marked failed at the next start; ``queued`` ones are resumed.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from api.inputs import (
    build_scenario,
    capped,
    collection_text,
    compliance_json,
    jsonable,
    plan_collection,
)
from api.problems import ApiProblem, redact_paths
from api.schemas import SolveRequest
from api.settings import Settings
from api.storage import Storage, now_iso
from siting import PlanResult, Scenario, SitingError, plan
from siting.planning import TravelCosts

__all__ = ["RESULT_DIR", "JobManager"]

logger = logging.getLogger(__name__)

RESULT_DIR = "result"
STATE_FILE = "state.pkl"


class JobManager:
    """Runs jobs on a thread pool and keeps the newest jobs' scenario and travel times."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.max_time_limit = settings.max_time_limit
        self.cache_size = settings.state_cache_size
        self._executor = ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="siting-job"
        )
        self._futures: dict[str, Future[None]] = {}
        self._cache: OrderedDict[str, tuple[Scenario, TravelCosts]] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Recover after a restart: fail interrupted jobs, resume queued ones."""
        failed = self.storage.fail_interrupted()
        if failed:
            logger.warning("marked %d interrupted jobs as failed: %s", len(failed), failed)
        for job_id in self.storage.jobs_with_status("queued"):
            self._submit(job_id)

    def shutdown(self) -> None:
        """Stop taking jobs; running ones finish in their threads (or die with the process)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ submit / run
    def submit(self, request: SolveRequest) -> dict[str, Any]:
        """Store and queue a job; return its record."""
        record = self.storage.add_job(request.model_dump(mode="json", exclude_none=True))
        self._submit(record["id"])
        return record

    def _submit(self, job_id: str) -> None:
        future = self._executor.submit(self._run, job_id)
        with self._lock:
            self._futures[job_id] = future
        future.add_done_callback(lambda _f: self._forget(job_id))

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._futures.pop(job_id, None)

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until a job submitted by this process has finished (tests, CLI)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    def _run(self, job_id: str) -> None:
        storage = self.storage
        storage.update_job(
            job_id, status="running", started=now_iso(), progress=0.05, message="loading inputs"
        )
        step = {"progress": 0.05}

        def progress(message: str) -> None:
            step["progress"] = min(0.9, step["progress"] + 0.2)
            storage.update_job(job_id, progress=round(step["progress"], 3), message=message)

        try:
            req = SolveRequest.model_validate(storage.job_request(job_id))
            scenario = build_scenario(
                req, storage, time_limit=capped(req.time_limit, self.max_time_limit)
            )
            result = plan(scenario, progress=progress)
            storage.update_job(job_id, progress=0.95, message="writing results")
            self._write_result(job_id, result)
        except (SitingError, ApiProblem) as exc:
            logger.info("job %s failed: %s", job_id, exc)
            storage.update_job(
                job_id,
                status="failed",
                finished=now_iso(),
                message="failed",
                error=redact_paths(f"{type(exc).__name__}: {exc}"),
            )
            return
        except Exception as exc:
            logger.exception("job %s failed with an unexpected error", job_id)
            storage.update_job(
                job_id,
                status="failed",
                finished=now_iso(),
                message="failed",
                error=redact_paths(f"internal error ({type(exc).__name__}): {exc}"),
            )
            return
        with self._lock:
            self._remember(job_id, result.scenario, result.travel)
        storage.update_job(
            job_id,
            status="done",
            progress=1.0,
            finished=now_iso(),
            message="finished",
            summary=jsonable(result.summary()),
        )

    def _write_result(self, job_id: str, result: PlanResult) -> None:
        """Write every result file into a temporary folder, then move it into place."""
        from siting.outputs import save_result

        folder = self.storage.job_dir(job_id)
        tmp = folder / f"{RESULT_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (tmp / "sites.geojson").write_text(
            collection_text(plan_collection(result)), encoding="utf-8"
        )
        (tmp / "compliance.json").write_text(
            json.dumps(compliance_json(result), ensure_ascii=False), encoding="utf-8"
        )
        save_result(result, tmp / "files", name="plan")
        with (tmp / STATE_FILE).open("wb") as out:
            pickle.dump((result.scenario, result.travel), out, protocol=pickle.HIGHEST_PROTOCOL)
        final = folder / RESULT_DIR
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)

    # ------------------------------------------------------------------ results
    def result_path(self, job_id: str, name: str) -> Path:
        """A file of a finished job's result folder."""
        return self.storage.job_dir(job_id) / RESULT_DIR / name

    def _remember(self, job_id: str, scenario: Scenario, travel: TravelCosts) -> None:
        if self.cache_size <= 0:
            return
        self._cache[job_id] = (scenario, travel)
        self._cache.move_to_end(job_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def state(self, job_id: str) -> tuple[Scenario, TravelCosts]:
        """A finished job's scenario and travel times (memory, else its state file)."""
        with self._lock:
            if job_id in self._cache:
                self._cache.move_to_end(job_id)
                return self._cache[job_id]
        # our own file, written by _write_result in this storage directory
        with self.result_path(job_id, STATE_FILE).open("rb") as f:
            scenario, travel = pickle.load(f)
        with self._lock:
            self._remember(job_id, scenario, travel)
        return scenario, travel
