"""The engine of every travel-time computation: :func:`bounded_times`, bounded Dijkstra searches
from many sources on local subgraphs (or the whole graph), split over processes when large."""

from __future__ import annotations

import logging
import os

import numpy as np
import scipy.sparse as sp

from geodata.network import Network
from geodata.traveltime._execution import (
    Search,
    fork_available,
    run_groups,
    run_in_children,
    split_whole_graph,
)
from geodata.traveltime.search import expand_ranges, network_graph, plan_search
from siting_errors import InputError

__all__ = ["PARALLEL_WHOLE_WORK", "PARALLEL_WORK", "bounded_times"]

logger = logging.getLogger(__name__)

#: sources × nodes above which ``workers=None`` splits a whole-graph search over two
#: processes (São Paulo driving, 1,000 sources × 17,078 nodes: 1.7 s → 0.8 s on 2 cores)
PARALLEL_WHOLE_WORK = 4_000_000
#: estimated work (sources × nodes in their subgraphs) above which ``workers=None`` uses two
#: processes for local searches with ``targets``; below it the fork and result transfer cost
#: more than they save (measured 1.07-1.4x at 1.5e8 on a shared 2-core machine)
PARALLEL_WORK = 100_000_000


def bounded_times(
    net: Network,
    sources: np.ndarray,
    *,
    cutoff: float | np.ndarray,
    reverse: bool = False,
    targets: np.ndarray | None = None,
    workers: int | None = None,
) -> sp.csr_array:
    """Network times (s) from each source node to every node reached within its cutoff
    (inclusive), or *to* each source node from every node when ``reverse``.

    Args:
        net: the network.
        sources: node indices (duplicates allowed, each gets its row).
        cutoff: seconds, one for all or one per source; a negative cutoff gives an empty row.
        reverse: search the reversed graph (times towards the sources).
        targets: a boolean mask over the nodes: keep only these columns (filtered inside
            each search, so a large job keeps, and ships between processes, only what it
            needs).
        workers: processes to split the searches over; ``None`` picks 2 (or the cores there
            are, if fewer) only for large local jobs with ``targets`` (:data:`PARALLEL_WORK`),
            1 otherwise: shipping big results back costs more than the second core saves.

    Returns:
        a ``len(sources) × n_nodes`` CSR (``scipy.sparse.csr_array``); every reached node is
        stored, a zero time (the source itself) as an explicit zero.
    """
    src = np.asarray(sources, dtype=np.int64).reshape(-1)
    if src.size and (src.min() < 0 or src.max() >= net.n_nodes):
        raise InputError(f"`sources` must be node indices in 0..{net.n_nodes - 1}")
    limits = np.broadcast_to(np.asarray(cutoff, dtype=np.float64), src.shape).copy()
    if np.isnan(limits).any():
        raise InputError("`cutoff` must be numbers of seconds, got NaN")
    shape = (len(src), net.n_nodes)
    if len(src) == 0:
        return sp.csr_array(shape, dtype=np.float64)
    if targets is not None:
        targets = np.asarray(targets, dtype=bool)
        if targets.shape != (net.n_nodes,):
            raise InputError(f"`targets` must be a boolean mask of the {net.n_nodes} nodes")
    graph = network_graph(net, reverse)
    plan = plan_search(net, src, np.maximum(limits, 0.0))
    if workers is None:
        # forking pays only when the searches dominate: large local jobs whose results are
        # filtered in the workers, and large whole-graph jobs (their rows come back through
        # shared memory)
        if plan.local:
            big = targets is not None and plan.work > PARALLEL_WORK
        else:
            big = plan.work > PARALLEL_WHOLE_WORK
        workers = min(2, os.cpu_count() or 1) if big else 1
    workers = max(1, min(int(workers), len(src) if not plan.local else len(plan.groups)))
    search = Search(graph, plan, src, limits, targets)
    if workers > 1 and fork_available() and not plan.local:
        found = split_whole_graph(search, workers)
    elif workers > 1 and fork_available():
        found = run_in_children(search, workers)
    else:
        found = run_groups(search, list(range(len(plan.groups))))
    counts = np.zeros(len(src), dtype=np.int64)
    counts[found.pos] = found.counts
    cols, secs = found.cols, found.secs
    if len(found.pos) > 1 and bool((found.pos[1:] < found.pos[:-1]).any()):
        # rows came group by group: gather them into source order (a row keeps its order)
        starts = np.cumsum(found.counts) - found.counts
        order = np.argsort(found.pos, kind="stable")
        gather = expand_ranges(starts[order], found.counts[order])
        cols, secs = cols[gather], secs[gather]
    indptr = np.zeros(len(src) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    itype = np.int32 if net.n_nodes < 2**31 - 1 and nnz < 2**31 - 1 else np.int64
    logger.debug(
        "bounded search: %d sources, %d groups (%s), %d reached, %d workers",
        len(src),
        len(plan.groups),
        "local" if plan.local else "whole graph",
        nnz,
        workers,
    )
    return sp.csr_array(
        (secs, cols.astype(itype, copy=False), indptr.astype(itype, copy=False)), shape=shape
    )
