"""Travel-time matrices and nearest-site times: bounded Dijkstra searches over the compact network.

A pair's time is the demand point's access leg + the network time from its node to the site's
node + the site's access leg. :func:`travel_times` runs one bounded search per distinct site node
on the reversed graph (so one-way streets count in the demand → site direction), in chunks
whose dense result stays under ~200 MB; demand points sharing a node are searched once and
expanded after. Only pairs within the cutoff (inclusive) are kept. :func:`nearest_times` gives
every demand point its nearest site in one search.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geodata.network import Network
from geodata.snapping import Snap
from siting_errors import InputError

__all__ = ["TravelTimes", "nearest_times", "travel_times"]

logger = logging.getLogger(__name__)

#: bytes a chunk of dense Dijkstra rows may take
CHUNK_BYTES = 200_000_000
#: slack on the inclusive cutoff so a time equal to it up to float rounding counts (s)
_EPS = 1e-6


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


def travel_times(net: Network, origins: Snap, destinations: Snap, *, cutoff: float) -> TravelTimes:
    """Seconds from every origin (demand point) to every destination (site) within ``cutoff``
    seconds (inclusive): origin access + network time + destination access."""
    cutoff = _check_cutoff(cutoff)
    o_ok = _check(net, origins, "origins")
    d_ok = _check(net, destinations, "destinations")
    shape = (len(origins.node), len(destinations.node))
    empty = TravelTimes(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), shape)
    if len(o_ok) == 0 or len(d_ok) == 0:
        return empty
    o_access = np.asarray(origins.access_time, dtype=np.float64)[o_ok]
    d_access = np.asarray(destinations.access_time, dtype=np.float64)[d_ok]
    o_nodes, o_order, o_start, o_count = _groups(origins.node[o_ok])
    d_nodes, d_order, d_start, d_count = _groups(destinations.node[d_ok])
    o_min = np.full(len(o_nodes), np.inf)
    np.minimum.at(o_min, np.searchsorted(o_nodes, origins.node[o_ok]), o_access)
    d_min = np.full(len(d_nodes), np.inf)
    np.minimum.at(d_min, np.searchsorted(d_nodes, destinations.node[d_ok]), d_access)
    rev = net.reversed_graph()
    chunk = max(1, CHUNK_BYTES // (8 * net.n_nodes))
    by_access = np.argsort(d_min, kind="stable")  # chunks of similar access share one limit
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    secs_out: list[np.ndarray] = []
    for begin in range(0, len(d_nodes), chunk):
        block = by_access[begin : begin + chunk]
        limit = cutoff + _EPS - float(o_min.min()) - float(d_min[block].min())
        if limit < 0:
            break  # later chunks have larger access legs
        dist = dijkstra(rev, directed=True, indices=d_nodes[block], limit=limit)
        sub = dist[:, o_nodes]  # sub[k, j]: network time from origin node j to site node k
        # node pairs whose best combination of access legs fits within the cutoff
        kk, jj = np.nonzero(sub + o_min[None, :] + d_min[block][:, None] <= cutoff + _EPS)
        if len(kk) == 0:
            continue
        node_t = sub[kk, jj]
        # expand to (origin, site) pairs: origins at node jj × sites at node block[kk]
        site_node = block[kk]
        per_pair = o_count[jj] * d_count[site_node]
        pair = np.repeat(np.arange(len(kk)), per_pair)
        within = np.arange(len(pair)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
        n_sites_here = d_count[site_node][pair]
        o_pos = o_order[o_start[jj][pair] + within // n_sites_here]
        d_pos = d_order[d_start[site_node][pair] + within % n_sites_here]
        total = node_t[pair] + o_access[o_pos] + d_access[d_pos]
        keep = total <= cutoff + _EPS
        rows_out.append(o_ok[o_pos[keep]])
        cols_out.append(d_ok[d_pos[keep]])
        secs_out.append(total[keep])
    if not rows_out:
        return empty
    rows = np.concatenate(rows_out).astype(np.int64)
    cols = np.concatenate(cols_out).astype(np.int64)
    secs = np.concatenate(secs_out).astype(np.float64)
    order = np.lexsort((cols, rows))
    logger.info(
        "travel times: %d pairs within %g s (%d site nodes, %d demand nodes, %d nodes)",
        len(rows),
        cutoff,
        len(d_nodes),
        len(o_nodes),
        net.n_nodes,
    )
    return TravelTimes(rows[order], cols[order], secs[order], shape)


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
    rev = net.reversed_graph()
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
