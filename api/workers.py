"""Worker processes: everything that reads user data or solves runs in a process of its own,
never in a thread of the server.

Processes are forked by a fork server (``multiprocessing`` ``forkserver``: a single-threaded
process that imported :mod:`api.tasks` once), so starting one costs a fork, not an interpreter
start, and no process is ever forked from the threaded server. The travel-time engine may fork
its own helpers from a worker: a worker is single-threaded when it does. Each worker dies with
the fork server, which dies with the server (``PR_SET_PDEATHSIG``), optionally runs under an
address-space limit, and handles one task: a crash, a memory blow-up or a timeout costs that
request only.

:class:`WorkerPool` runs request work (solve, what-if, upload checks) with a result and a
timeout, at most ``processes`` at once; :meth:`WorkerPool.spawn` starts a job process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
from collections.abc import Callable
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from api.problems import Problem, ProblemRaised, problem_of
from api.storage import storage_fault

__all__ = ["TaskTimeout", "WorkerDied", "WorkerPool", "run_in_child"]

logger = logging.getLogger(__name__)

_PRELOAD = ["__main__", "api.tasks"]
_PR_SET_PDEATHSIG = 1


class WorkerDied(Exception):
    """A worker process ended without an answer (killed, out of memory, crashed)."""


class TaskTimeout(Exception):
    """A worker process did not answer in time and was killed."""


def _context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, ForkServerContext)
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def child_setup(memory_mb: int | None) -> None:
    """First thing in a worker process: die with the server, bound memory.

    The fork server hands every process it forks a copy of its "server alive" pipe and lives
    as long as one is open; a worker closes its copy, so the fork server ends when the server
    does, and the worker (whose parent it is) gets SIGKILL then (``PR_SET_PDEATHSIG``)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive, int):
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the death signal was armed
        os._exit(70)
    if memory_mb:
        import resource

        limit = int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _task_main(
    conn: multiprocessing.connection.Connection,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    memory_mb: int | None,
) -> None:
    child_setup(memory_mb)
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args))
    except BaseException as exc:  # every failure goes back to the server as a problem
        fault = storage_fault(exc) if isinstance(exc, OSError) else None
        problem = problem_of(fault or exc)
        if problem.status >= 500 and fault is None:
            logger.error("worker task %s failed", getattr(fn, "__name__", fn), exc_info=exc)
        if isinstance(exc, MemoryError):
            problem = Problem(
                413,
                "Too large",
                "the request needs more memory than a worker process may use; use smaller "
                "inputs or submit a job",
                slug="too-large",
            )
        outcome = ("problem", problem)
    try:
        conn.send(outcome)
    except Exception as exc:  # noqa: BLE001 - an answer that cannot be pickled is a bug (500)
        conn.send(("problem", problem_of(exc)))
    conn.close()


def run_in_child(fn: Callable[..., Any], *args: Any) -> None:
    """Target of a job process (see :meth:`WorkerPool.spawn`)."""
    fn(*args)


class WorkerPool:
    """Processes for request work and jobs, started from one fork server."""

    def __init__(self, processes: int, memory_mb: int | None = None) -> None:
        self.processes = processes
        self.memory_mb = memory_mb
        self._ctx = _context()
        self._slots = asyncio.Semaphore(processes)
        self._live: set[BaseProcess] = set()

    def start(self) -> None:
        """Start the fork server now (it imports the planning stack once), not on the first
        request."""
        from multiprocessing import forkserver

        forkserver.ensure_running()

    async def run(self, fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
        """``fn(*args)`` in a new worker process; its result, or :class:`ProblemRaised` with
        the problem it raised, :class:`TaskTimeout` after ``timeout`` seconds (the process is
        killed), :class:`WorkerDied` when it ended without answering."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            receiver, sender = self._ctx.Pipe(duplex=False)
            proc = self._ctx.Process(
                target=_task_main, args=(sender, fn, args, self.memory_mb), daemon=True
            )
            await asyncio.to_thread(proc.start)
            sender.close()
            self._live.add(proc)
            ready: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(receiver.fileno(), readable)
            try:
                try:
                    await asyncio.wait_for(ready, timeout)
                except TimeoutError:
                    raise TaskTimeout(f"the worker did not answer within {timeout:g} s") from None
                try:
                    kind, value = await asyncio.to_thread(receiver.recv)
                except (EOFError, OSError):
                    await asyncio.to_thread(proc.join, 5)
                    raise WorkerDied(_ended(proc.exitcode)) from None
            finally:
                loop.remove_reader(receiver.fileno())
                receiver.close()
                if proc.is_alive():
                    proc.kill()
                await asyncio.to_thread(proc.join, 5)
                self._live.discard(proc)
        if kind == "problem":
            raise ProblemRaised(value)
        return value

    def spawn(self, fn: Callable[..., Any], *args: Any) -> BaseProcess:
        """Start ``fn(*args)`` in a new worker process (a job); the caller watches it."""
        proc = self._ctx.Process(target=_job_main, args=(fn, args, self.memory_mb), daemon=True)
        proc.start()
        return proc

    def kill_all(self) -> None:
        """Kill the request processes still running (shutdown)."""
        for proc in list(self._live):
            with contextlib.suppress(Exception):
                proc.kill()


def _job_main(fn: Callable[..., Any], args: tuple[Any, ...], memory_mb: int | None) -> None:
    child_setup(memory_mb)
    fn(*args)


def _ended(exitcode: int | None) -> str:
    """How a worker process ended, in words."""
    if exitcode is None:
        return "the worker process did not end"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (killed, e.g. out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was ended by {name}{hint}"
    return f"the worker process exited with code {exitcode}"


describe_end = _ended
