"""Travel-time matrices and nearest-site times: bounded Dijkstra searches over the compact network.

A pair's time is the demand point's access leg + the network time from its node to the site's
node + the site's access leg. :func:`travel_times` runs one bounded search per distinct site node
on the reversed graph (so one-way streets count in the demand → site direction); demand points
sharing a node are searched once and expanded after (aggregation by node, with each point's
own access leg kept). Only pairs within the cutoff (inclusive) are kept, sparse end to end.
:func:`nearest_k_times` keeps each demand point's ``k`` nearest sites within a longer cutoff
(for p-median); :func:`nearest_times` gives every demand point its nearest site in one search.

The engine is :func:`bounded_times`: ``scipy.sparse.csgraph.dijkstra`` with a limit, run on
*local* subgraphs. A path of ``t`` seconds cannot leave the disc of radius ``t × vmax`` around
its start, where ``vmax`` is the network's largest straight-line speed over any edge (metres
between the edge's end nodes / its time), so sources are grouped on a grid of cells of that
radius and each group is searched on the subgraph of the 3 × 3 cells around it: the same times
as a search on the whole graph, without scipy's O(n_nodes) set-up and dense row per source.
When the disc covers most of the network (driving, long cutoffs) or an edge has zero time and
nonzero length, the whole graph is searched in chunks of dense rows (:data:`CHUNK_BYTES`).
scipy's dijkstra holds the GIL (threads measured no faster), so large jobs are split over
processes (``workers``, forked, Linux/macOS): whole-graph searches hand their rows back
through anonymous shared memory (no pickling of tens of millions of pairs), large local
searches filtered by ``targets`` through a process pool.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import mmap
import multiprocessing
import numbers
import os
import threading
import weakref
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geodata.network import Network
from geodata.snapping import Snap
from siting_errors import InputError

__all__ = [
    "TravelTimes",
    "bounded_times",
    "max_speed",
    "nearest_k_times",
    "nearest_times",
    "travel_times",
]

logger = logging.getLogger(__name__)

#: bytes a chunk of dense Dijkstra rows may take (whole-graph searches)
CHUNK_BYTES = 32_000_000
#: sources × nodes above which ``workers=None`` splits a whole-graph search over two
#: processes (São Paulo driving, 1,000 sources × 17,078 nodes: 1.7 s → 0.8 s on 2 cores)
PARALLEL_WHOLE_WORK = 4_000_000
#: bytes of shared memory a child process's share of a whole-graph search may reserve
#: (reached pairs at most sources × nodes; pages are only committed as they are written)
SHARE_BYTES = 1_000_000_000
#: a local search is used while the subgraph around a group of sources holds at most this
#: share of the network's nodes
LOCAL_SHARE = 0.5
#: estimated work (sources × nodes in their subgraphs) above which ``workers=None`` uses two
#: processes for local searches with ``targets``; below it the fork and result transfer cost
#: more than they save (measured 1.07-1.4x at 1.5e8 on a shared 2-core machine)
PARALLEL_WORK = 100_000_000
#: grid cell side of a group of sources, in search radii (the subgraph searched is 3 × 3 cells)
CELL_RADII = 3.0
#: slack on the inclusive cutoff so a time equal to it up to float rounding counts (s)
_EPS = 1e-6

# per network: the reversed CSR and the largest straight-line speed (computed once)
_CACHE: weakref.WeakKeyDictionary[Network, dict[str, object]] = weakref.WeakKeyDictionary()
# what forked pool workers search (set just before the pool forks, under the lock)
_SHARED: dict[str, object] = {}
_SHARED_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class TravelTimes:
    """Sparse travel times: parallel arrays of demand index, site index and seconds, sorted by
    (row, col). Pairs beyond the cutoff and unsnapped points have no entry; zero times are
    entries like any other."""

    rows: np.ndarray
    cols: np.ndarray
    seconds: np.ndarray
    shape: tuple[int, int]

    def __len__(self) -> int:
        return len(self.rows)

    def to_scipy(self) -> sp.csr_array:
        """As a CSR array (zero times stay stored as explicit entries)."""
        order = np.lexsort((self.cols, self.rows))
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rows, minlength=self.shape[0]), out=indptr[1:])
        return sp.csr_array(
            (self.seconds[order], self.cols[order].astype(np.int64), indptr), shape=self.shape
        )


# --------------------------------------------------------------------------- the engine


def _cached(net: Network) -> dict[str, object]:
    entry = _CACHE.get(net)
    if entry is None:
        entry = {}
        _CACHE[net] = entry
    return entry


def _graph(net: Network, reverse: bool) -> sp.csr_array:
    if not reverse:
        return net.graph
    entry = _cached(net)
    if "reversed" not in entry:
        entry["reversed"] = net.reversed_graph()
    return entry["reversed"]  # type: ignore[return-value]


def max_speed(net: Network) -> float:
    """The largest straight-line speed (m/s) over any edge: the distance between its end nodes
    over its time; ``inf`` when an edge of nonzero length takes no time."""
    entry = _cached(net)
    if "vmax" not in entry:
        g = net.graph
        rows = np.repeat(np.arange(net.n_nodes), np.diff(g.indptr))
        dist = np.hypot(net.x[rows] - net.x[g.indices], net.y[rows] - net.y[g.indices])
        t = g.data
        if bool(((t <= 0) & (dist > 0)).any()):
            vmax = math.inf
        else:
            pos = t > 0
            vmax = float((dist[pos] / t[pos]).max()) if pos.any() else 0.0
        entry["vmax"] = vmax
    return float(entry["vmax"])  # type: ignore[arg-type]


def _expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges ``starts[i] .. starts[i] + counts[i]``."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total) - offsets)


def _subgraph(graph: sp.csr_array, nodes: np.ndarray, local: np.ndarray) -> sp.csr_array:
    """The CSR induced by ``nodes``; ``local`` maps every node to its position in ``nodes``
    (-1 outside), filled by the caller. Explicit zeros stay stored."""
    starts = graph.indptr[nodes].astype(np.int64)
    counts = graph.indptr[nodes + 1].astype(np.int64) - starts
    edges = _expand(starts, counts)
    cols = local[graph.indices[edges]]
    keep = cols >= 0
    row = np.repeat(np.arange(len(nodes)), counts)[keep]
    indptr = np.zeros(len(nodes) + 1, dtype=np.int32)
    np.cumsum(np.bincount(row, minlength=len(nodes)), out=indptr[1:])
    return sp.csr_array(
        (graph.data[edges[keep]], cols[keep].astype(np.int32), indptr),
        shape=(len(nodes), len(nodes)),
    )


@dataclass(frozen=True)
class _Plan:
    """How a bounded search is split: groups of sources, each searching the subgraph of the
    nodes near it (local plans), or chunks of sources on the whole graph."""

    local: bool
    groups: list[np.ndarray]  # positions into the sources
    boxes: np.ndarray | None  # per group: first/last fine column, first/last fine row
    fine_rows: int  # rows of the fine node grid
    node_order: np.ndarray | None  # nodes sorted by fine grid cell (column-major)
    cell_start: np.ndarray | None  # start of each fine cell's nodes in node_order (+1 at end)
    work: float  # estimated sources × nodes in their subgraph


def _plan(net: Network, sources: np.ndarray, limits: np.ndarray) -> _Plan:
    """Groups: the sources in one cell of side ``CELL_RADII`` search radii; each searches the
    nodes in the fine cells (a quarter radius) that meet its sources' bounding box grown by the
    radius, which holds every node a path within the limit can visit."""
    n = net.n_nodes
    radius = float(limits.max()) * max_speed(net) * (1.0 + 1e-9) + 1.0
    x0, y0 = float(net.x.min()), float(net.y.min())
    width = float(net.x.max()) - x0
    height = float(net.y.max()) - y0
    cell = radius * max(CELL_RADII, 1.0)
    if not math.isfinite(radius) or (cell + 2 * radius) ** 2 >= LOCAL_SHARE * max(
        width * height, 1.0
    ):
        chunk = max(1, CHUNK_BYTES // (8 * n))
        groups = [np.arange(b, min(b + chunk, len(sources))) for b in range(0, len(sources), chunk)]
        return _Plan(False, groups, None, 0, None, None, float(len(sources)) * n)
    # the groups
    sx, sy = net.x[sources], net.y[sources]
    coarse_rows = int(height // cell) + 1
    src_cell = ((sx - x0) // cell).astype(np.int64) * coarse_rows + ((sy - y0) // cell).astype(
        np.int64
    )
    order = np.argsort(src_cell, kind="stable")
    _, first = np.unique(src_cell[order], return_index=True)
    bounds = np.append(first, len(order))
    groups = np.split(order, first[1:])
    # the fine node grid and each group's box of fine cells
    fine = radius / 4.0
    cols, rows = int(width // fine) + 1, int(height // fine) + 1
    node_cell = ((net.x - x0) // fine).astype(np.int64) * rows + ((net.y - y0) // fine).astype(
        np.int64
    )
    node_order = np.argsort(node_cell, kind="stable")
    cell_start = np.searchsorted(node_cell[node_order], np.arange(cols * rows + 1))
    ox, oy = sx[order], sy[order]
    lo_x = np.minimum.reduceat(ox, first) - radius
    hi_x = np.maximum.reduceat(ox, first) + radius
    lo_y = np.minimum.reduceat(oy, first) - radius
    hi_y = np.maximum.reduceat(oy, first) + radius
    boxes = np.column_stack(
        [
            np.clip((lo_x - x0) // fine, 0, cols - 1),
            np.clip((hi_x - x0) // fine, 0, cols - 1),
            np.clip((lo_y - y0) // fine, 0, rows - 1),
            np.clip((hi_y - y0) // fine, 0, rows - 1),
        ]
    ).astype(np.int64)
    share = ((boxes[:, 1] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 2] + 1)) / (cols * rows)
    work = float((share * n * np.diff(bounds)).sum())
    return _Plan(True, groups, boxes, rows, node_order, cell_start, work)


def _group_nodes(plan: _Plan, group: int) -> np.ndarray:
    """The nodes in a group's box of fine cells (one contiguous run per fine column)."""
    assert plan.boxes is not None and plan.node_order is not None and plan.cell_start is not None
    c0, c1, r0, r1 = plan.boxes[group]
    rows = plan.fine_rows
    starts = plan.cell_start[np.arange(c0, c1 + 1) * rows + r0]
    ends = plan.cell_start[np.arange(c0, c1 + 1) * rows + r1 + 1]
    return plan.node_order[_expand(starts, ends - starts)]


def _index_type(n: int) -> type:
    """The integer type for node numbers below ``n``: int32 where it fits."""
    return np.int32 if n < 2**31 - 1 else np.int64


@dataclass(frozen=True)
class _Rows:
    """Search results row after row: source positions, reached counts, nodes, seconds."""

    pos: np.ndarray
    counts: np.ndarray
    cols: np.ndarray
    secs: np.ndarray

    @staticmethod
    def join(
        pos: list[np.ndarray],
        counts: list[np.ndarray],
        cols: list[np.ndarray],
        secs: list[np.ndarray],
        itype: type | np.dtype,
    ) -> _Rows:
        def cat(parts: list[np.ndarray], dtype: type | np.dtype) -> np.ndarray:
            if not parts:
                return np.zeros(0, dtype=dtype)
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        return _Rows(
            cat(pos, np.int64), cat(counts, np.int64), cat(cols, itype), cat(secs, np.float64)
        )

    @staticmethod
    def concat(parts: list[_Rows], itype: type | np.dtype) -> _Rows:
        """The rows of ``parts``, one after the other."""
        return _Rows.join(
            [p.pos for p in parts],
            [p.counts for p in parts],
            [p.cols for p in parts],
            [p.secs for p in parts],
            itype,
        )


@dataclass(frozen=True)
class _ShareLayout:
    """Where a child's rows sit in its shared buffer: reached total, counts, nodes, seconds."""

    n_rows: int
    capacity: int  # reached pairs the buffer can hold
    itype: np.dtype

    @property
    def nbytes(self) -> int:
        return 8 + 8 * self.n_rows + 8 * self.capacity + self.itype.itemsize * self.capacity

    def write(self, buffer: mmap.mmap, part: _Rows) -> None:
        m = len(part.cols)
        np.frombuffer(buffer, dtype=np.int64, count=1)[0] = m
        off = 8
        np.frombuffer(buffer, dtype=np.int64, count=self.n_rows, offset=off)[:] = part.counts
        off += 8 * self.n_rows
        np.frombuffer(buffer, dtype=np.float64, count=m, offset=off)[:] = part.secs
        off += 8 * m
        np.frombuffer(buffer, dtype=self.itype, count=m, offset=off)[:] = part.cols

    @staticmethod
    def read(buffer: mmap.mmap, plan: _Plan, share: list[int], itype: np.dtype) -> _Rows:
        """Copies of the rows a child wrote (the searched groups of ``share``, in order)."""
        pos = [plan.groups[g] for g in share]
        n_rows = sum(len(p) for p in pos)
        m = int(np.frombuffer(buffer, dtype=np.int64, count=1)[0])
        off = 8
        counts = np.frombuffer(buffer, dtype=np.int64, count=n_rows, offset=off).copy()
        off += 8 * n_rows
        secs = np.frombuffer(buffer, dtype=np.float64, count=m, offset=off).copy()
        off += 8 * m
        cols = np.frombuffer(buffer, dtype=itype, count=m, offset=off).copy()
        return _Rows(np.concatenate(pos), counts, cols, secs)


def _run_groups(
    graph: sp.csr_array,
    plan: _Plan,
    sources: np.ndarray,
    limits: np.ndarray,
    targets: np.ndarray | None,
    group_ids: list[int],
) -> _Rows:
    """Searches for some groups of a plan: the rows searched (source positions, in search
    order), their reached counts, and the reached nodes and seconds row after row."""
    n = graph.shape[0]
    itype = _index_type(n)
    pos_out: list[np.ndarray] = []
    counts_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    secs_out: list[np.ndarray] = []
    local = np.full(n, -1, dtype=np.int64) if plan.local else None
    every = np.arange(n, dtype=itype) if not plan.local else None
    for g in group_ids:
        pos = plan.groups[g]
        lim = limits[pos]
        top = float(lim.max())
        if top < 0:  # every cutoff negative: empty rows
            pos_out.append(pos)
            counts_out.append(np.zeros(len(pos), dtype=np.int64))
            continue
        if plan.local:
            assert local is not None
            nodes = _group_nodes(plan, g)
            local[nodes] = np.arange(len(nodes))
            sub = _subgraph(graph, nodes, local)
            dist = dijkstra(sub, directed=True, indices=local[sources[pos]], limit=top)
            local[nodes] = -1
            names = nodes.astype(itype)
        else:
            assert every is not None
            dist = dijkstra(graph, directed=True, indices=sources[pos], limit=top)
            names = every
        within = dist <= lim[:, None]
        if targets is not None:
            within &= (targets[nodes] if plan.local else targets)[None, :]
        pos_out.append(pos)
        counts_out.append(np.count_nonzero(within, axis=1))
        # each row's node names picked by its mask, row after row (no index arithmetic)
        cols_out.append(np.broadcast_to(names, dist.shape)[within])
        secs_out.append(dist[within])
    return _Rows.join(pos_out, counts_out, cols_out, secs_out, itype)


def _worker(group_ids: list[int]) -> _Rows:
    return _run_groups(
        _SHARED["graph"],  # type: ignore[arg-type]
        _SHARED["plan"],  # type: ignore[arg-type]
        _SHARED["sources"],  # type: ignore[arg-type]
        _SHARED["limits"],  # type: ignore[arg-type]
        _SHARED["targets"],  # type: ignore[arg-type]
        group_ids,
    )


def _shared_child(
    graph: sp.csr_array,
    plan: _Plan,
    sources: np.ndarray,
    limits: np.ndarray,
    targets: np.ndarray | None,
    group_ids: list[int],
    buffer: mmap.mmap,
) -> None:
    """A forked process's share of a whole-graph search, written into ``buffer`` (shared
    with the parent): reached count, row counts, nodes, seconds. (Forked: the arguments are
    the parent's objects, not copies sent through a pipe.)"""
    part = _run_groups(graph, plan, sources, limits, targets, group_ids)
    _ShareLayout(len(part.pos), len(part.cols), part.cols.dtype).write(buffer, part)


def _split_whole_graph(
    graph: sp.csr_array,
    plan: _Plan,
    sources: np.ndarray,
    limits: np.ndarray,
    targets: np.ndarray | None,
    workers: int,
) -> _Rows:
    """A whole-graph search over ``workers`` processes: this one searches the first share of
    the chunks while forked children search the others and write their rows into anonymous
    shared memory (no pickling of the tens of millions of pairs a driving search reaches).
    Shares are cut so that a child's buffer stays under :data:`SHARE_BYTES`; a child that
    fails has its share searched here instead."""
    n = graph.shape[0]
    itype = _index_type(n)
    width = 8 + np.dtype(itype).itemsize  # seconds + node per reached pair, at most n a row
    # the sources (in order) cut into rounds of ``workers`` equal shares, a share into equal
    # chunks of dense rows; a child's share fits its buffer
    order = np.concatenate(plan.groups)
    chunk_rows = max(len(g) for g in plan.groups)
    share_cap = max(1, SHARE_BYTES // (width * n))
    rounds: list[list[np.ndarray]] = []
    start = 0
    while start < len(order):
        take = min(len(order) - start, workers * share_cap)
        per = -(-take // workers)
        shares = [order[start + i : start + min(i + per, take)] for i in range(0, take, per)]
        rounds.append(shares)
        start += take
    groups: list[np.ndarray] = []
    share_ids: list[list[list[int]]] = []
    for shares in rounds:
        share_ids.append([])
        for share in shares:
            k = -(-len(share) // chunk_rows)
            share_ids[-1].append(list(range(len(groups), len(groups) + k)))
            groups.extend(np.array_split(share, k))
    plan = dataclasses.replace(plan, groups=groups)
    args = (graph, plan, sources, limits, targets)
    parts: list[_Rows] = []
    ctx = multiprocessing.get_context("fork")
    for shares in share_ids:
        children = []
        for share in shares[1:]:
            rows = sum(len(plan.groups[g]) for g in share)
            buffer = mmap.mmap(-1, _ShareLayout(rows, rows * n, np.dtype(itype)).nbytes)
            proc = ctx.Process(target=_shared_child, args=(*args, share, buffer), daemon=True)
            proc.start()
            children.append((share, buffer, proc))
        parts.append(_run_groups(*args, shares[0]))
        for share, buffer, proc in children:
            proc.join()
            if proc.exitcode == 0:
                parts.append(_ShareLayout.read(buffer, plan, share, np.dtype(itype)))
            else:
                logger.warning(
                    "a search process exited with code %s; searching its share here",
                    proc.exitcode,
                )
                parts.append(_run_groups(*args, share))
            buffer.close()
    return _Rows.concat(parts, itype)


def _fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


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
    graph = _graph(net, reverse)
    plan = _plan(net, src, np.maximum(limits, 0.0))
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
    ids = list(range(len(plan.groups)))
    if workers > 1 and _fork_available() and not plan.local:
        found = _split_whole_graph(graph, plan, src, limits, targets, workers)
    elif workers > 1 and _fork_available():
        # interleaved batches balance groups of different sizes
        batches = [ids[i :: 2 * workers] for i in range(2 * workers)]
        with _SHARED_LOCK:  # one pool at a time reads ``_SHARED`` (API jobs run in threads)
            _SHARED.update(graph=graph, plan=plan, sources=src, limits=limits, targets=targets)
            try:
                ctx = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                    parts = list(pool.map(_worker, batches))
            finally:
                _SHARED.clear()
        found = _Rows.concat(parts, _index_type(net.n_nodes))
    else:
        found = _run_groups(graph, plan, src, limits, targets, ids)
    counts = np.zeros(len(src), dtype=np.int64)
    counts[found.pos] = found.counts
    cols, secs = found.cols, found.secs
    if len(found.pos) > 1 and bool((found.pos[1:] < found.pos[:-1]).any()):
        # rows came group by group: gather them into source order (a row keeps its order)
        starts = np.cumsum(found.counts) - found.counts
        order = np.argsort(found.pos, kind="stable")
        gather = _expand(starts[order], found.counts[order])
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


# --------------------------------------------------------------------------- demand × sites


def _check(net: Network, snap: Snap, name: str) -> np.ndarray:
    """Positions of the snapped points of ``snap`` (validated against ``net``)."""
    if not isinstance(snap, Snap):
        raise InputError(f"`{name}` must be a Snap from snap_points, got {type(snap).__name__}")
    node = np.asarray(snap.node)
    if node.size and node.max() >= net.n_nodes:
        raise InputError(
            f"`{name}` refers to node {int(node.max())} but the network has {net.n_nodes} nodes; "
            "snap the points to this network"
        )
    return np.flatnonzero(node >= 0)


def _check_cutoff(cutoff: float) -> float:
    if not isinstance(cutoff, numbers.Real) or not math.isfinite(cutoff) or cutoff <= 0:
        raise InputError(f"`cutoff` must be a number of seconds > 0, got {cutoff!r}")
    return float(cutoff)


def _groups(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct nodes, and for each: start and count into ``order`` (positions sorted by node)."""
    uniq, inverse = np.unique(nodes, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    count = np.bincount(inverse, minlength=len(uniq))
    start = np.cumsum(count) - count
    return uniq, order, start, count


class _Pairs:
    """Demand points and sites aggregated by network node, and the expansion of node-pair
    times to point-pair times (each point's own access leg added)."""

    def __init__(self, net: Network, origins: Snap, destinations: Snap) -> None:
        self.net = net
        self.o_ok = _check(net, origins, "origins")
        self.d_ok = _check(net, destinations, "destinations")
        self.shape = (len(origins.node), len(destinations.node))
        self.empty = len(self.o_ok) == 0 or len(self.d_ok) == 0
        if self.empty:
            return
        self.o_access = np.asarray(origins.access_time, dtype=np.float64)[self.o_ok]
        self.d_access = np.asarray(destinations.access_time, dtype=np.float64)[self.d_ok]
        o_node = np.asarray(origins.node)[self.o_ok]
        d_node = np.asarray(destinations.node)[self.d_ok]
        self.o_nodes, self.o_order, self.o_start, self.o_count = _groups(o_node)
        self.d_nodes, self.d_order, self.d_start, self.d_count = _groups(d_node)
        self.o_min = np.full(len(self.o_nodes), np.inf)
        np.minimum.at(self.o_min, np.searchsorted(self.o_nodes, o_node), self.o_access)
        self.d_min = np.full(len(self.d_nodes), np.inf)
        np.minimum.at(self.d_min, np.searchsorted(self.d_nodes, d_node), self.d_access)
        # network node -> its origin group (-1: no demand there)
        self.o_index = np.full(net.n_nodes, -1, dtype=np.int64)
        self.o_index[self.o_nodes] = np.arange(len(self.o_nodes))

    def blocks(self, cutoff: float) -> list[np.ndarray]:
        """Site-node groups in blocks whose search results stay under ~CHUNK_BYTES, in west →
        east order so that a block's sources share local subgraphs."""
        n = self.net.n_nodes
        order = np.lexsort((self.net.y[self.d_nodes], self.net.x[self.d_nodes]))
        vmax = max_speed(self.net)
        area = max(float(np.ptp(self.net.x)) * float(np.ptp(self.net.y)), 1.0)
        reach = n if not math.isfinite(vmax) else min(n, n * math.pi * (cutoff * vmax) ** 2 / area)
        size = max(1, int(CHUNK_BYTES // (16 * max(reach, 1.0))))
        if size >= len(order):
            return [order]
        return [order[b : b + size] for b in range(0, len(order), size)]

    def expand(
        self, block: np.ndarray, cutoff: float, workers: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(origin position, destination position, seconds) of every pair within ``cutoff``
        whose site is at one of the site nodes ``block``."""
        limits = cutoff + _EPS - float(self.o_min.min()) - self.d_min[block]
        res = bounded_times(
            self.net,
            self.d_nodes[block],
            cutoff=limits,
            reverse=True,
            targets=self.o_index >= 0,
            workers=workers,
        )
        kk = np.repeat(np.arange(len(block)), np.diff(res.indptr))
        jj = self.o_index[res.indices]
        node_t = res.data
        # node pairs whose best combination of access legs fits within the cutoff
        ok = jj >= 0
        kk, jj, node_t = kk[ok], jj[ok], node_t[ok]
        ok = node_t + self.o_min[jj] + self.d_min[block][kk] <= cutoff + _EPS
        kk, jj, node_t = kk[ok], jj[ok], node_t[ok]
        # expand to (origin, site) pairs: origins at node jj × sites at node block[kk]
        site_node = block[kk]
        per_pair = self.o_count[jj] * self.d_count[site_node]
        pair = np.repeat(np.arange(len(kk)), per_pair)
        within = np.arange(len(pair)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
        n_sites_here = self.d_count[site_node][pair]
        o_pos = self.o_order[self.o_start[jj][pair] + within // n_sites_here]
        d_pos = self.d_order[self.d_start[site_node][pair] + within % n_sites_here]
        total = node_t[pair] + self.o_access[o_pos] + self.d_access[d_pos]
        keep = total <= cutoff + _EPS
        return self.o_ok[o_pos[keep]], self.d_ok[d_pos[keep]], total[keep]

    def result(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> TravelTimes:
        if not parts:
            zero = np.zeros(0, np.int64)
            return TravelTimes(zero, zero.copy(), np.zeros(0), self.shape)
        rows = np.concatenate([p[0] for p in parts]).astype(np.int64)
        cols = np.concatenate([p[1] for p in parts]).astype(np.int64)
        secs = np.concatenate([p[2] for p in parts]).astype(np.float64)
        order = np.lexsort((cols, rows))
        return TravelTimes(rows[order], cols[order], secs[order], self.shape)


def travel_times(
    net: Network,
    origins: Snap,
    destinations: Snap,
    *,
    cutoff: float,
    workers: int | None = None,
) -> TravelTimes:
    """Seconds from every origin (demand point) to every destination (site) within ``cutoff``
    seconds (inclusive): origin access + network time + destination access. ``workers``: see
    :func:`bounded_times`."""
    cutoff = _check_cutoff(cutoff)
    pairs = _Pairs(net, origins, destinations)
    if pairs.empty:
        return pairs.result([])
    parts = [pairs.expand(block, cutoff, workers) for block in pairs.blocks(cutoff)]
    tt = pairs.result(parts)
    logger.info(
        "travel times: %d pairs within %g s (%d site nodes, %d demand nodes, %d nodes)",
        len(tt),
        cutoff,
        len(pairs.d_nodes),
        len(pairs.o_nodes),
        net.n_nodes,
    )
    return tt


def _top_k(
    rows: np.ndarray, cols: np.ndarray, secs: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's ``k`` smallest times (ties: lower column first)."""
    order = np.lexsort((cols, secs, rows))
    rows, cols, secs = rows[order], cols[order], secs[order]
    start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(len(rows)) - np.repeat(start, np.diff(np.r_[start, len(rows)]))
    keep = rank < k
    return rows[keep], cols[keep], secs[keep]


def nearest_k_times(
    net: Network,
    origins: Snap,
    destinations: Snap,
    *,
    k: int,
    cutoff: float,
    workers: int | None = None,
) -> TravelTimes:
    """Each origin's ``k`` nearest destinations within ``cutoff`` seconds (inclusive; ties to
    the lower destination index), for p-median runs that need a longer reach than the service
    circle without a dense matrix: the searches run block by block and only the running ``k``
    best per origin are kept, so memory stays ``O(n_origins × k)`` plus one block."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InputError(f"`k` must be an integer >= 1, got {k!r}")
    cutoff = _check_cutoff(cutoff)
    pairs = _Pairs(net, origins, destinations)
    if pairs.empty:
        return pairs.result([])
    best = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    for block in pairs.blocks(cutoff):
        r, c, s = pairs.expand(block, cutoff, workers)
        best = _top_k(
            np.concatenate([best[0], r]),
            np.concatenate([best[1], c]),
            np.concatenate([best[2], s]),
            k,
        )
    tt = pairs.result([best])
    logger.info("%d nearest sites within %g s: %d pairs", k, cutoff, len(tt))
    return tt


def nearest_times(
    net: Network, origins: Snap, destinations: Snap, *, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """For every origin, the time (s) to its nearest destination and that destination's index;
    ``inf`` and -1 when none is within ``cutoff`` seconds (inclusive) or the origin is
    unsnapped. Ties go to the lower destination index at the same node.

    One multi-source Dijkstra: a virtual source joined to every destination node by that
    node's smallest access leg, searched on the reversed graph, so each destination's own
    access leg counts exactly (a plain ``min_only`` search would start every source at 0).
    """
    cutoff = _check_cutoff(cutoff)
    o_ok = _check(net, origins, "origins")
    d_ok = _check(net, destinations, "destinations")
    seconds = np.full(len(origins.node), np.inf)
    site = np.full(len(origins.node), -1, dtype=np.int64)
    if len(o_ok) == 0 or len(d_ok) == 0:
        return seconds, site
    n = net.n_nodes
    d_access = np.asarray(destinations.access_time, dtype=np.float64)[d_ok]
    d_nodes = destinations.node[d_ok]
    # the best destination at each destination node: smallest access, then lowest index
    order = np.lexsort((d_ok, d_access, d_nodes))
    first = np.ones(len(order), dtype=bool)
    first[1:] = d_nodes[order][1:] != d_nodes[order][:-1]
    best = order[first]
    best_site = np.full(n, -1, dtype=np.int64)
    best_site[d_nodes[best]] = d_ok[best]
    # the reversed graph plus a row n (the virtual source) -> destination nodes, built from the
    # CSR arrays directly so that zero times (edges, access legs) stay stored
    rev = _graph(net, reverse=True)
    aug = sp.csr_array(
        (
            np.concatenate([rev.data, d_access[best]]),
            np.concatenate([rev.indices, d_nodes[best]]).astype(np.int64),
            np.append(rev.indptr, rev.indptr[-1] + len(best)).astype(np.int64),
        ),
        shape=(n + 1, n + 1),
    )
    o_access = np.asarray(origins.access_time, dtype=np.float64)[o_ok]
    limit = max(cutoff + _EPS - float(o_access.min()), 0.0)
    dist, pred = dijkstra(aug, directed=True, indices=n, limit=limit, return_predecessors=True)
    # the destination node each shortest path starts at: follow predecessors (pointer jumping)
    root = np.where((pred >= 0) & (pred != n), pred, np.arange(n + 1))
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    node = origins.node[o_ok]
    total = dist[node] + o_access
    ok = total <= cutoff + _EPS
    seconds[o_ok[ok]] = total[ok]
    site[o_ok[ok]] = best_site[root[node[ok]]]
    return seconds, site
