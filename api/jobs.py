"""Background planning jobs: a dispatcher in the server's event loop, each job in a worker process.

A job's life: ``queued`` (request stored) → ``running`` (claimed atomically in SQLite by this
server, progress written by the job's process) → ``done`` (result files under
``jobs/<id>/result/``) or ``failed`` (with the reason). The dispatcher starts at most
``workers`` job processes and watches them; a process that ends without recording the job's end
(killed, out of memory, or the disk was full) gets it recorded here: ``done`` when its result
folder is complete, else ``failed``. When even that cannot be written it is retried until it
can, and the start-up sweep (:meth:`api.storage.Storage.recover`) catches what is left. A clean
shutdown stops the running jobs and queues them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from multiprocessing.process import BaseProcess

from api.storage import Storage, StorageFault
from api.tasks import JOB_EXIT_UNRECORDED, TaskContext, run_job
from api.workers import WorkerPool, describe_end

__all__ = ["JobManager"]

logger = logging.getLogger(__name__)

_IDLE_S = 0.5
_BACKOFF_S = 5.0


class JobManager:
    """Claims queued jobs and runs each in a worker process."""

    def __init__(
        self, storage: Storage, pool: WorkerPool, context: TaskContext, workers: int
    ) -> None:
        self.storage = storage
        self.pool = pool
        self.context = context
        self.workers = workers
        self.worker_id = f"server-{uuid.uuid4().hex[:12]}"
        self._running: dict[str, BaseProcess] = {}
        self._unrecorded: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start dispatching (the caller ran the start-up sweep first)."""
        self._task = asyncio.create_task(self._loop(), name="siting-jobs")

    async def stop(self) -> None:
        """Stop dispatching, end the running job processes and queue their jobs again."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for proc in self._running.values():
            with contextlib.suppress(Exception):
                proc.kill()
        for proc in self._running.values():
            await asyncio.to_thread(proc.join, 10)
        self._running.clear()
        try:
            requeued = await asyncio.to_thread(self.storage.requeue, self.worker_id)
        except StorageFault as exc:
            logger.warning("running jobs not requeued (%s); the next start fails them", exc)
        else:
            if requeued:
                logger.info("requeued %d running jobs: %s", len(requeued), requeued)

    def wake(self) -> None:
        """A job was queued: look for work now."""
        self._wake.set()

    @property
    def running(self) -> list[str]:
        """Ids of the jobs whose processes run now."""
        return list(self._running)

    # ------------------------------------------------------------------ the loop
    async def _loop(self) -> None:
        while not self._stopping:
            delay = _IDLE_S
            try:
                await self._reap()
                await self._record_unrecorded()
                await self._dispatch()
            except StorageFault as exc:
                logger.warning("job dispatch paused: %s", exc)
                delay = _BACKOFF_S
            except Exception:
                logger.exception("job dispatch failed; retrying")
                delay = _BACKOFF_S
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _dispatch(self) -> None:
        while len(self._running) < self.workers and not self._stopping:
            job_id = await asyncio.to_thread(self.storage.claim_next_job, self.worker_id)
            if job_id is None:
                return
            proc = await asyncio.to_thread(
                self.pool.spawn, run_job, self.context, job_id, self.worker_id
            )
            self._running[job_id] = proc
            logger.info("job %s started in process %s", job_id, proc.pid)

    async def _reap(self) -> None:
        for job_id, proc in list(self._running.items()):
            if proc.exitcode is None:
                continue
            await asyncio.to_thread(proc.join, 1)
            del self._running[job_id]
            if proc.exitcode == 0:
                continue
            if proc.exitcode == JOB_EXIT_UNRECORDED:
                reason = (
                    "the job could not write its results or record its end: the storage disk "
                    "was full or read-only; submit it again"
                )
            else:
                reason = f"the job's worker process ended abnormally: {describe_end(proc.exitcode)}"
            logger.warning("job %s: %s", job_id, reason)
            self._unrecorded[job_id] = reason

    async def _record_unrecorded(self) -> None:
        for job_id, reason in list(self._unrecorded.items()):
            status = await asyncio.to_thread(self.storage.record_end, job_id, reason)
            del self._unrecorded[job_id]
            if status:
                logger.info("job %s recorded as %s after its process ended", job_id, status)
