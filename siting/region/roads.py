"""A unit's share of the region's road graph: the graph flattened once into arrays
(:class:`RoadIndex`) and cut per unit with array masks into a :class:`RoadWindow`."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import shapely

__all__ = ["RoadIndex", "RoadWindow"]

logger = logging.getLogger(__name__)

_ROAD_KEYS = ("length", "highway", "maxspeed", "oneway", "access", "motor_vehicle", "foot")


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


@dataclass(frozen=True, eq=False)
class RoadWindow:
    """A unit's share of the road graph as plain lists: the client only cuts it out with array
    masks; the worker builds the networkx graph (:meth:`to_graph`), so that CPU work runs in
    parallel. ``digest`` hashes the window's nodes and edges for the cache key."""

    graph_attrs: dict[str, Any]
    nodes: list[tuple[Any, dict[str, Any]]]
    edges: list[tuple[Any, Any, Any, dict[str, Any]]]
    digest: bytes
    kind: type

    def number_of_nodes(self) -> int:
        """Nodes in the window."""
        return len(self.nodes)

    def to_graph(self) -> Any:
        """The window as a graph of the original type (nodes and edges in the graph's order)."""
        graph = self.kind(**self.graph_attrs)
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(self.edges)
        return graph


class RoadIndex:
    """The road graph flattened once (node coordinates, edge end positions, per-element
    digests) so each unit's window is cut with array masks."""

    def __init__(self, roads: nx.MultiDiGraph) -> None:
        self.graph_attrs = dict(roads.graph)
        self.nodes = list(roads.nodes(data=True))
        self.lon = np.array([d["x"] for _, d in self.nodes], dtype=float)
        self.lat = np.array([d["y"] for _, d in self.nodes], dtype=float)
        pos = {n: k for k, (n, _) in enumerate(self.nodes)}
        self.edges = list(roads.edges(keys=True, data=True))
        self.u = np.array([pos[e[0]] for e in self.edges], dtype=np.int64)
        self.v = np.array([pos[e[1]] for e in self.edges], dtype=np.int64)
        self.kind = type(roads)
        self.node_digest = np.array(
            [_digest(f"{n}:{d.get('x')!r}:{d.get('y')!r}") for n, d in self.nodes], dtype="S16"
        )
        self.edge_digest = np.array(
            [
                _digest(f"{u}>{v}#{k}:" + ":".join(repr(d.get(a)) for a in _ROAD_KEYS))
                for u, v, k, d in self.edges
            ],
            dtype="S16",
        )

    def clip(self, area: Any) -> RoadWindow:
        """The window of the nodes inside ``area`` and the edges between them."""
        inside = shapely.contains_xy(area, self.lon, self.lat)
        nodes = np.flatnonzero(inside)
        keep = np.flatnonzero(inside[self.u] & inside[self.v])
        h = hashlib.sha256(repr(sorted(self.graph_attrs.items())).encode("utf-8"))
        h.update(self.node_digest[nodes].tobytes())
        h.update(b"|")
        h.update(self.edge_digest[keep].tobytes())
        return RoadWindow(
            graph_attrs=self.graph_attrs,
            nodes=[self.nodes[k] for k in nodes],
            edges=[self.edges[k] for k in keep],
            digest=h.digest(),
            kind=self.kind,
        )
