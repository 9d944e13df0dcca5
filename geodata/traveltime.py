"""Travel-time matrices: bounded Dijkstra searches from sites over the compact network.

One bounded search per distinct site node (on the reversed graph, so one-way streets are
respected in the demand → site direction), in chunks so memory stays bounded; demand points that
share a node are aggregated first and expanded after. A pair's time is the demand's access leg +
network time + the site's access leg; only pairs within the cutoff (inclusive) are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geodata.network import Network
from geodata.snapping import Snap
from siting_errors import InputError

__all__ = ["TravelTimes", "travel_times"]

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 200_000_000
#: slack on the inclusive cutoff, so a time equal to it up to float rounding counts (s)
_EPS = 1e-6


@dataclass(frozen=True, eq=False)
class TravelTimes:
    """Sparse travel times: parallel arrays of demand index, site index and seconds."""

    rows: np.ndarray
    cols: np.ndarray
    seconds: np.ndarray
    shape: tuple[int, int]

    def to_scipy(self) -> sp.csr_array:
        """As a CSR array (zero times are stored as explicit entries)."""
        return sp.csr_array((self.seconds, (self.rows, self.cols)), shape=self.shape)


def _reverse(net: Network) -> sp.csr_array:
    return sp.csr_array(net.graph.T)


def travel_times(net: Network, origins: Snap, destinations: Snap, *, cutoff: float) -> TravelTimes:
    """Seconds from every origin (demand) to every destination (site) within ``cutoff``."""
    if cutoff <= 0:
        raise InputError(f"`cutoff` must be > 0 seconds, got {cutoff!r}")
    n_o, n_d = len(origins.node), len(destinations.node)
    o_ok = np.flatnonzero(origins.snapped)
    d_ok = np.flatnonzero(destinations.snapped)
    if len(o_ok) == 0 or len(d_ok) == 0:
        return TravelTimes(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), (n_o, n_d))
    # demand aggregated by node: min access per node is not enough (access differs per point),
    # so searches give node times; per point we add its own access afterwards.
    o_nodes = origins.node[o_ok]
    uniq_o, o_inv = np.unique(o_nodes, return_inverse=True)
    # origins grouped by node (CSR-like)
    order_o = np.argsort(o_inv, kind="stable")
    o_start = np.searchsorted(o_inv[order_o], np.arange(len(uniq_o)))
    o_count = np.diff(np.append(o_start, len(order_o)))
    node_pos = np.full(net.n_nodes, -1, dtype=np.int64)
    node_pos[uniq_o] = np.arange(len(uniq_o))
    d_nodes = destinations.node[d_ok]
    uniq_d, d_inv = np.unique(d_nodes, return_inverse=True)
    # the search limit: cutoff minus the smallest site access leg at that node, minus the
    # smallest demand access (both >= 0, so this is safe)
    min_o_access = float(origins.access_time[o_ok].min())
    rev = _reverse(net)
    chunk = max(1, int(_CHUNK_BYTES // (8 * max(net.n_nodes, 1))))
    rows_out, cols_out, secs_out = [], [], []
    d_order = np.argsort(d_inv, kind="stable")
    d_start = np.searchsorted(d_inv[d_order], np.arange(len(uniq_d)))
    d_count = np.diff(np.append(d_start, len(d_order)))
    min_d_access = np.full(len(uniq_d), np.inf)
    np.minimum.at(min_d_access, d_inv, destinations.access_time[d_ok])
    for start in range(0, len(uniq_d), chunk):
        block = np.arange(start, min(start + chunk, len(uniq_d)))
        limit = max(cutoff + _EPS - min_o_access - float(min_d_access[block].min()), 0.0)
        dist = dijkstra(rev, directed=True, indices=uniq_d[block], limit=limit)
        # dist[k, node]: time from node to site node uniq_d[block[k]]
        sub = dist[:, uniq_o]
        kk, oo = np.nonzero(np.isfinite(sub))
        node_t = sub[kk, oo]
        # expand origin nodes to their origins
        idx = order_o[_expand(o_start[oo], o_count[oo])]
        k_rep = np.repeat(kk, o_count[oo])
        base = np.repeat(node_t, o_count[oo]) + origins.access_time[o_ok[idx]]
        # expand site nodes to their sites
        site_node = block[k_rep]
        s_idx = d_order[_expand(d_start[site_node], d_count[site_node])]
        reps = d_count[site_node]
        total = np.repeat(base, reps) + destinations.access_time[d_ok[s_idx]]
        keep = total <= cutoff + _EPS
        rows_out.append(o_ok[np.repeat(idx, reps)[keep]])
        cols_out.append(d_ok[s_idx[keep]])
        secs_out.append(total[keep])
    if rows_out:
        rows = np.concatenate(rows_out).astype(np.int64)
        cols = np.concatenate(cols_out).astype(np.int64)
        secs = np.concatenate(secs_out).astype(np.float64)
    else:
        rows = cols = np.zeros(0, np.int64)
        secs = np.zeros(0)
    logger.info(
        "travel times: %d pairs within %.0f s (%d site nodes, %d demand nodes)",
        len(rows),
        cutoff,
        len(uniq_d),
        len(uniq_o),
    )
    return TravelTimes(rows, cols, secs, (n_o, n_d))


def _expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``range(s, s + c)`` for every (s, c), vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total) - offsets)
