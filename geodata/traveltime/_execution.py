"""Running the searches of a plan: group by group in this process, or split over forked child
processes that inherit the search (no pickling of the graph) and hand back their rows through
anonymous shared memory (whole-graph searches) or a pipe (local searches filtered by targets).
A child that fails has its share searched in this process instead, with a warning."""

from __future__ import annotations

import dataclasses
import logging
import mmap
import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geodata.traveltime.search import SearchPlan, group_nodes, index_type, subgraph

__all__ = [
    "SHARE_BYTES",
    "Rows",
    "Search",
    "fork_available",
    "run_groups",
    "run_in_children",
    "split_whole_graph",
]

logger = logging.getLogger(__name__)

#: bytes of shared memory a child process's share of a whole-graph search may reserve
#: (reached pairs at most sources × nodes; pages are only committed as they are written)
SHARE_BYTES = 1_000_000_000


@dataclass(frozen=True)
class Rows:
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
    ) -> Rows:
        def cat(parts: list[np.ndarray], dtype: type | np.dtype) -> np.ndarray:
            if not parts:
                return np.zeros(0, dtype=dtype)
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        return Rows(
            cat(pos, np.int64), cat(counts, np.int64), cat(cols, itype), cat(secs, np.float64)
        )

    @staticmethod
    def concat(parts: list[Rows], itype: type | np.dtype) -> Rows:
        """The rows of ``parts``, one after the other."""
        return Rows.join(
            [p.pos for p in parts],
            [p.counts for p in parts],
            [p.cols for p in parts],
            [p.secs for p in parts],
            itype,
        )


@dataclass(frozen=True)
class ShareLayout:
    """Where a child's rows sit in its shared buffer: reached total, counts, nodes, seconds."""

    n_rows: int
    capacity: int  # reached pairs the buffer can hold
    itype: np.dtype

    @property
    def nbytes(self) -> int:
        return 8 + 8 * self.n_rows + 8 * self.capacity + self.itype.itemsize * self.capacity

    def write(self, buffer: mmap.mmap, part: Rows) -> None:
        m = len(part.cols)
        np.frombuffer(buffer, dtype=np.int64, count=1)[0] = m
        off = 8
        np.frombuffer(buffer, dtype=np.int64, count=self.n_rows, offset=off)[:] = part.counts
        off += 8 * self.n_rows
        np.frombuffer(buffer, dtype=np.float64, count=m, offset=off)[:] = part.secs
        off += 8 * m
        np.frombuffer(buffer, dtype=self.itype, count=m, offset=off)[:] = part.cols

    @staticmethod
    def read(buffer: mmap.mmap, plan: SearchPlan, share: list[int], itype: np.dtype) -> Rows:
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
        return Rows(np.concatenate(pos), counts, cols, secs)


@dataclass(frozen=True, eq=False)
class Search:
    """Everything one bounded search needs, handed explicitly to whoever runs its groups (this
    process, or a forked child that inherits it without pickling)."""

    graph: sp.csr_array
    plan: SearchPlan
    sources: np.ndarray
    limits: np.ndarray
    targets: np.ndarray | None


def run_groups(search: Search, group_ids: list[int]) -> Rows:
    """Searches for some groups of a plan: the rows searched (source positions, in search
    order), their reached counts, and the reached nodes and seconds row after row."""
    graph, plan, sources, limits, targets = (
        search.graph,
        search.plan,
        search.sources,
        search.limits,
        search.targets,
    )
    n = graph.shape[0]
    itype = index_type(n)
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
            nodes = group_nodes(plan, g)
            local[nodes] = np.arange(len(nodes))
            sub = subgraph(graph, nodes, local)
            dist = dijkstra(sub, directed=True, indices=local[sources[pos]], limit=top)
            local[nodes] = -1
            names: np.ndarray = nodes.astype(itype)
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
    return Rows.join(pos_out, counts_out, cols_out, secs_out, itype)


def _piped_child(search: Search, group_ids: list[int], conn: Connection) -> None:
    """A forked process's share of a local search, sent back through ``conn`` (the search
    itself is inherited from the parent, not sent)."""
    try:
        conn.send(run_groups(search, group_ids))
    finally:
        conn.close()


def _shared_child(search: Search, group_ids: list[int], buffer: mmap.mmap) -> None:
    """A forked process's share of a whole-graph search, written into ``buffer`` (shared
    with the parent): reached count, row counts, nodes, seconds. (Forked: the search is the
    parent's object, not a copy sent through a pipe.)"""
    part = run_groups(search, group_ids)
    ShareLayout(len(part.pos), len(part.cols), part.cols.dtype).write(buffer, part)


def _lost_share(search: Search, share: list[int], exitcode: int | None) -> Rows:
    logger.warning("a search process exited with code %s; searching its share here", exitcode)
    return run_groups(search, share)


def run_in_children(search: Search, workers: int) -> Rows:
    """A local search over ``workers`` processes: this one searches every ``workers``-th group
    while forked children search the others (interleaved, which balances groups of different
    sizes) and send their rows back through pipes; a child that fails has its share searched
    here instead."""
    ids = list(range(len(search.plan.groups)))
    shares = [ids[k::workers] for k in range(workers)]
    ctx = multiprocessing.get_context("fork")
    children = []
    for share in shares[1:]:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_piped_child, args=(search, share, send), daemon=True)
        proc.start()
        send.close()
        children.append((share, receive, proc))
    parts = [run_groups(search, shares[0])]
    for share, receive, proc in children:
        try:
            part = receive.recv()  # before join: a child blocks until its rows are read
        except EOFError:
            part = None
        receive.close()
        proc.join()
        parts.append(part if part is not None else _lost_share(search, share, proc.exitcode))
    return Rows.concat(parts, index_type(search.graph.shape[0]))


def split_whole_graph(search: Search, workers: int) -> Rows:
    """A whole-graph search over ``workers`` processes: this one searches the first share of
    the chunks while forked children search the others and write their rows into anonymous
    shared memory (no pickling of the tens of millions of pairs a driving search reaches).
    Shares are cut so that a child's buffer stays under :data:`SHARE_BYTES`; a child that
    fails has its share searched here instead."""
    plan = search.plan
    n = search.graph.shape[0]
    itype = index_type(n)
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
        for cut in shares:
            k = -(-len(cut) // chunk_rows)
            share_ids[-1].append(list(range(len(groups), len(groups) + k)))
            groups.extend(np.array_split(cut, k))
    search = dataclasses.replace(search, plan=dataclasses.replace(plan, groups=groups))
    parts: list[Rows] = []
    ctx = multiprocessing.get_context("fork")
    for round_ids in share_ids:
        children = []
        for share in round_ids[1:]:
            rows = sum(len(groups[g]) for g in share)
            buffer = mmap.mmap(-1, ShareLayout(rows, rows * n, np.dtype(itype)).nbytes)
            proc = ctx.Process(target=_shared_child, args=(search, share, buffer), daemon=True)
            proc.start()
            children.append((share, buffer, proc))
        parts.append(run_groups(search, round_ids[0]))
        for share, buffer, proc in children:
            proc.join()
            if proc.exitcode == 0:
                parts.append(ShareLayout.read(buffer, search.plan, share, np.dtype(itype)))
            else:
                parts.append(_lost_share(search, share, proc.exitcode))
            buffer.close()
    return Rows.concat(parts, itype)


def fork_available() -> bool:
    """Whether child processes can be forked here (Linux, macOS)."""
    return "fork" in multiprocessing.get_all_start_methods()
