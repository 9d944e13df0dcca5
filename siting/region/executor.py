"""Running a region's unit jobs: on a ``dask.distributed`` cluster (a local one by default) or
serially in this process, with the per-unit cache, progress lines and lost-task reporting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx

from siting.region.cache import load_cached, store
from siting.region.gather import RegionResult
from siting.region.settings import RegionSettings
from siting.region.split import split_region
from siting.region.unit import UnitJob, UnitOutcome, run_unit
from siting_errors import DependencyError, InputError

__all__ = ["plan_region", "warm_up"]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _say(progress: Progress | None, message: str) -> None:
    logger.info(message)
    if progress is not None:
        progress(message)


def _done_line(outcome: UnitOutcome, k: int, n: int) -> str:
    head = f"[{k}/{n}] unit {outcome.unit_id} {outcome.name}"
    if outcome.failed:
        return f"{head}: FAILED {outcome.error}"
    if not outcome.ok:
        return f"{head}: no demand (no resident of the population data lies in it)"
    cov = outcome.summary.get("coverage", {}).get("share")
    how = "cached" if outcome.cached else f"{outcome.seconds:.1f} s on {outcome.worker}"
    share = f"coverage {cov:.1%}, " if cov is not None else ""
    return f"{head}: {share}{len(outcome.new_site_ids)} new ({how})"


def _lost(job: UnitJob, exc: BaseException) -> UnitOutcome:
    note = " (the task was lost: worker died or cluster error)"
    return UnitOutcome.failure(job, exc, note=note)


def warm_up() -> None:
    """Import the planning stack once per worker (osmnx alone takes seconds), so the first
    unit on each worker is not charged for it."""
    import importlib

    for module in (
        "siting.planning",
        "siting.compliance",
        "geodata.roads",
        "geodata.network",
        "geodata.snapping",
        "geodata.traveltime",
        "geodata.euclidean",
        "osmnx",
    ):
        importlib.import_module(module)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DependencyError(
            "region planning on a cluster needs dask.distributed: pip install 'siting[distributed]'"
            " (or run serially with serial=True / --serial)"
        ) from exc
    return distributed


def plan_region(
    units: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    roads: nx.MultiDiGraph | None = None,
    *,
    settings: RegionSettings | None = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    serial: bool = False,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> RegionResult:
    """Plan every unit of a region (module docstring) and gather the results.

    Args:
        units: planning-unit polygons (``unit_id``, ``name``).
        demand, sites, roads: the region's inputs (see :func:`split_region`).
        settings: the shared parameters.
        scheduler: address of a running Dask scheduler (``tcp://HOST:PORT``); ``None`` starts a
            ``LocalCluster`` of ``n_workers`` single-threaded worker processes on loopback.
        serial: run the units one after another in this process (no Dask).
        cache_dir: folder of per-unit results; units whose inputs hash to a stored result are
            skipped.
        progress: called with one line per finished unit (and the dashboard link).
    """
    t0 = time.perf_counter()
    jobs, report = split_region(units, demand, sites, roads, settings=settings)
    timings: dict[str, float] = {"split": time.perf_counter() - t0}
    cache = None if cache_dir is None else Path(cache_dir)
    outcomes: dict[str, UnitOutcome] = {}
    todo: list[UnitJob] = []
    for job in jobs:
        hit = load_cached(cache, job)
        if hit is not None:
            outcomes[job.unit_id] = hit
        else:
            todo.append(job)
    n = len(jobs)
    if outcomes:
        _say(progress, f"{len(outcomes)} of {n} units cached; {len(todo)} to plan")
    done = len(outcomes)
    t1 = time.perf_counter()
    info: dict[str, Any] = {"executor": "serial" if serial else "dask", "workers": 0}

    def finish(job: UnitJob, outcome: UnitOutcome) -> None:
        nonlocal done
        done += 1
        outcomes[job.unit_id] = outcome
        store(cache, job, outcome)
        _say(progress, _done_line(outcome, done, n))

    if todo and serial:
        info["workers"] = 1
        warm_up()
        for job in todo:
            finish(job, run_unit(job))
    elif todo:
        _run_dask(todo, scheduler, n_workers, info, finish, progress)
    timings["run"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    ordered = {job.unit_id: outcomes[job.unit_id] for job in jobs}
    result = RegionResult.gather(
        units, sites, ordered, jobs[0].settings if jobs else RegionSettings().resolved(), report
    )
    timings["gather"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    result.timings.update(timings)
    result.run_info.update(info)
    return result


def _run_dask(
    todo: list[UnitJob],
    scheduler: str | None,
    n_workers: int,
    info: dict[str, Any],
    finish: Callable[[UnitJob, UnitOutcome], None],
    progress: Progress | None,
) -> None:
    distributed = _import_distributed()
    cluster = None
    t0 = time.perf_counter()
    if scheduler is None:
        if n_workers < 1:
            raise InputError(f"`n_workers` must be >= 1, got {n_workers}")
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(scheduler, timeout=30)
        except OSError as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {scheduler!r}: {exc}; start one with "
                "`dask scheduler` and workers with `dask worker tcp://HOST:PORT`"
            ) from exc
    try:
        info["scheduler"] = client.scheduler.address
        info["dashboard"] = client.dashboard_link
        info["workers"] = len(client.scheduler_info().get("workers", {}))
        info["cluster_start_seconds"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        client.run(warm_up)  # import the planning stack once per worker, before timing units
        info["warm_up_seconds"] = round(time.perf_counter() - t1, 3)
        _say(
            progress,
            f"Dask scheduler {info['scheduler']} with {info['workers']} workers; "
            f"dashboard {info['dashboard']}",
        )
        by_future = {}
        # largest units first (demand x sites as the cost estimate): the longest tasks start
        # early rather than finishing alone at the end (longest-processing-time-first)
        for rank, job in enumerate(sorted(todo, key=lambda j: -len(j.demand) * len(j.sites))):
            fut = client.submit(
                run_unit,
                job,
                key=f"unit-{job.unit_id}-{job.key[:12]}",
                priority=len(todo) - rank,
                pure=False,
            )
            by_future[fut] = job
        for fut in distributed.as_completed(list(by_future)):
            job = by_future[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker, an unpicklable result, ...
                outcome = _lost(job, exc)
            finish(job, outcome)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
