"""The compact network: a road graph converted once to CSR arrays in a projected CRS.

Every later step (snapping, bounded searches, service areas) runs on these arrays with scipy,
never on networkx. ``save_network`` / ``load_network`` cache it as ``.npz``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import scipy.sparse as sp
from pyproj import CRS, Transformer

from geodata.crs import utm_crs_for
from siting_errors import DataNotFoundError, InputError

__all__ = ["Network", "load_network", "network_from_graph", "save_network"]

logger = logging.getLogger(__name__)

#: travel time given to zero-time edges so sparse matrices keep them (seconds)
ZERO_EDGE_SECONDS = 1e-6


@dataclass(frozen=True, eq=False)
class Network:
    """A road network as arrays.

    Attributes:
        node_ids: original (OSM) node ids.
        x, y: node coordinates in ``crs`` (metres).
        crs: a projected CRS (the local UTM zone).
        graph: ``n × n`` CSR of edge travel times in seconds (minimum over parallel edges).
        edge_u, edge_v, edge_time, edge_length: every directed edge, for service areas.
        mode: the travel mode the times are for.
    """

    node_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: CRS
    graph: sp.csr_array
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_time: np.ndarray
    edge_length: np.ndarray
    mode: str

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)


def network_from_graph(graph: nx.MultiDiGraph, *, mode: str, crs: CRS | None = None) -> Network:
    """Convert an osmnx-style graph whose edges carry ``travel_time`` (s) to a :class:`Network`."""
    if graph.number_of_nodes() == 0 or graph.number_of_edges() == 0:
        raise InputError("the road graph is empty (no nodes or no edges)")
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    xs = np.fromiter((graph.nodes[n]["x"] for n in nodes), dtype=np.float64, count=len(nodes))
    ys = np.fromiter((graph.nodes[n]["y"] for n in nodes), dtype=np.float64, count=len(nodes))
    src_crs = CRS.from_user_input(graph.graph.get("crs", "EPSG:4326"))
    if src_crs.is_geographic:
        lon, lat = xs, ys
    else:
        lon, lat = Transformer.from_crs(src_crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    target = crs or (
        src_crs
        if src_crs.is_projected
        else utm_crs_for(
            float(np.mean([lon.min(), lon.max()])), float(np.mean([lat.min(), lat.max()]))
        )
    )
    px, py = Transformer.from_crs(src_crs, target, always_xy=True).transform(xs, ys)
    m = graph.number_of_edges()
    u = np.empty(m, dtype=np.int64)
    v = np.empty(m, dtype=np.int64)
    t = np.empty(m, dtype=np.float64)
    length = np.empty(m, dtype=np.float64)
    missing = 0
    for k, (a, b, data) in enumerate(graph.edges(data=True)):
        u[k], v[k] = index[a], index[b]
        tt = data.get("travel_time")
        if tt is None:
            missing += 1
            tt = np.nan
        t[k] = tt
        length[k] = data.get("length", np.nan)
    if missing:
        raise InputError(
            f"{missing} of {m} road edges have no `travel_time`; "
            "run geodata.roads.add_travel_times(graph, mode=...) first"
        )
    if (t < 0).any() or not np.isfinite(t).all():
        raise InputError("edge travel times must be finite and >= 0")
    t_csr = np.maximum(t, ZERO_EDGE_SECONDS)
    coo = sp.coo_array((t_csr, (u, v)), shape=(len(nodes), len(nodes)))
    # minimum over parallel edges: sort so the smallest comes first, then drop duplicates
    order = np.lexsort((t_csr, v, u))
    uu, vv, tt2 = u[order], v[order], t_csr[order]
    first = np.ones(len(uu), dtype=bool)
    first[1:] = (uu[1:] != uu[:-1]) | (vv[1:] != vv[:-1])
    csr = sp.csr_array((tt2[first], (uu[first], vv[first])), shape=coo.shape)
    return Network(
        np.asarray(nodes, dtype=np.int64)
        if all(isinstance(n, int | np.integer) for n in nodes[:100])
        else np.arange(len(nodes), dtype=np.int64),
        np.asarray(px, dtype=np.float64),
        np.asarray(py, dtype=np.float64),
        target,
        csr,
        u,
        v,
        t,
        np.nan_to_num(length),
        mode,
    )


def save_network(net: Network, path: str | Path) -> Path:
    """Cache a network as ``.npz``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        p,
        node_ids=net.node_ids,
        x=net.x,
        y=net.y,
        edge_u=net.edge_u,
        edge_v=net.edge_v,
        edge_time=net.edge_time,
        edge_length=net.edge_length,
        graph_data=net.graph.data,
        graph_indices=net.graph.indices,
        graph_indptr=net.graph.indptr,
        meta=np.array(json.dumps({"crs": net.crs.to_wkt(), "mode": net.mode})),
    )
    return p


def load_network(path: str | Path) -> Network:
    """Read a network written by :func:`save_network`."""
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"network cache {str(p)!r} does not exist")
    with np.load(p, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        n = len(z["node_ids"])
        graph = sp.csr_array((z["graph_data"], z["graph_indices"], z["graph_indptr"]), shape=(n, n))
        return Network(
            z["node_ids"],
            z["x"],
            z["y"],
            CRS.from_wkt(meta["crs"]),
            graph,
            z["edge_u"],
            z["edge_v"],
            z["edge_time"],
            z["edge_length"],
            meta["mode"],
        )
