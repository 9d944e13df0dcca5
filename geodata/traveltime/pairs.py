"""Demand × site travel times: every pair within a cutoff (:func:`travel_times`), each demand
point's ``k`` nearest sites (:func:`nearest_k_times`) and its nearest site (:func:`nearest_times`),
with demand points and sites aggregated by network node and each point's access leg kept."""

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
from geodata.traveltime import search
from geodata.traveltime.engine import bounded_times
from geodata.traveltime.search import max_speed, network_graph
from siting_errors import InputError

__all__ = ["TravelTimes", "nearest_k_times", "nearest_times", "travel_times"]

logger = logging.getLogger(__name__)

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


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InputError(f"`k` must be an integer >= 1, got {k!r}")
    return int(k)


def _check_cutoff(cutoff: object) -> float:
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
        size = max(1, int(search.CHUNK_BYTES // (16 * max(reach, 1.0))))
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
    k = _check_k(k)
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
    rev = network_graph(net, reverse=True)
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
