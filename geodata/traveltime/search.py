"""Planning a bounded search: the largest straight-line speed of a network bounds how far a
path of ``t`` seconds can go, so sources are grouped on a grid and each group searches only the
subgraph around it (a local plan), or the whole graph in chunks of dense rows."""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from geodata.network import Network

__all__ = [
    "CELL_RADII",
    "CHUNK_BYTES",
    "LOCAL_SHARE",
    "SearchPlan",
    "expand_ranges",
    "group_nodes",
    "index_type",
    "max_speed",
    "network_graph",
    "plan_search",
    "subgraph",
]

logger = logging.getLogger(__name__)

#: bytes a chunk of dense Dijkstra rows may take (whole-graph searches)
CHUNK_BYTES = 32_000_000
#: a local search is used while the subgraph around a group of sources holds at most this
#: share of the network's nodes
LOCAL_SHARE = 0.5
#: grid cell side of a group of sources, in search radii (the subgraph searched is 3 × 3 cells)
CELL_RADII = 3.0

# per network: the reversed CSR and the largest straight-line speed (computed once)
_CACHE: weakref.WeakKeyDictionary[Network, dict[str, object]] = weakref.WeakKeyDictionary()


def _cached(net: Network) -> dict[str, object]:
    entry = _CACHE.get(net)
    if entry is None:
        entry = {}
        _CACHE[net] = entry
    return entry


def network_graph(net: Network, reverse: bool) -> sp.csr_array:
    """The network's CSR of edge times, or its reverse (computed once per network)."""
    if not reverse:
        return net.graph
    entry = _cached(net)
    if "reversed" not in entry:
        entry["reversed"] = net.reversed_graph()
    reversed_graph: sp.csr_array = entry["reversed"]
    return reversed_graph


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


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges ``starts[i] .. starts[i] + counts[i]``."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total) - offsets)


def subgraph(graph: sp.csr_array, nodes: np.ndarray, local: np.ndarray) -> sp.csr_array:
    """The CSR induced by ``nodes``; ``local`` maps every node to its position in ``nodes``
    (-1 outside), filled by the caller. Explicit zeros stay stored."""
    starts = graph.indptr[nodes].astype(np.int64)
    counts = graph.indptr[nodes + 1].astype(np.int64) - starts
    edges = expand_ranges(starts, counts)
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
class SearchPlan:
    """How a bounded search is split: groups of sources, each searching the subgraph of the
    nodes near it (local plans), or chunks of sources on the whole graph."""

    local: bool
    groups: list[np.ndarray]  # positions into the sources
    boxes: np.ndarray | None  # per group: first/last fine column, first/last fine row
    fine_rows: int  # rows of the fine node grid
    node_order: np.ndarray | None  # nodes sorted by fine grid cell (column-major)
    cell_start: np.ndarray | None  # start of each fine cell's nodes in node_order (+1 at end)
    work: float  # estimated sources × nodes in their subgraph


def plan_search(net: Network, sources: np.ndarray, limits: np.ndarray) -> SearchPlan:
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
        return SearchPlan(False, groups, None, 0, None, None, float(len(sources)) * n)
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
    return SearchPlan(True, groups, boxes, rows, node_order, cell_start, work)


def group_nodes(plan: SearchPlan, group: int) -> np.ndarray:
    """The nodes in a group's box of fine cells (one contiguous run per fine column)."""
    assert plan.boxes is not None and plan.node_order is not None and plan.cell_start is not None
    c0, c1, r0, r1 = plan.boxes[group]
    rows = plan.fine_rows
    starts = plan.cell_start[np.arange(c0, c1 + 1) * rows + r0]
    ends = plan.cell_start[np.arange(c0, c1 + 1) * rows + r1 + 1]
    return plan.node_order[expand_ranges(starts, ends - starts)]


def index_type(n: int) -> type:
    """The integer type for node numbers below ``n``: int32 where it fits."""
    return np.int32 if n < 2**31 - 1 else np.int64
