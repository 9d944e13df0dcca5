"""The compact network: a road graph turned once into CSR arrays in a projected (UTM) CRS.

Snapping, bounded searches and service areas run on these arrays with scipy, never on
networkx. Node ``i`` of a :class:`Network` is the ``i``-th node of the graph it was built
from (``list(graph.nodes)[i]``). Zero-time edges are kept as explicit zeros in the CSR (scipy's
csgraph treats a stored zero as an edge). :func:`save_network` / :func:`load_network` cache a
network as ``.npz``; :func:`load_or_build_network` builds a network from a road file once and
keeps it in a cache folder under a content hash of its inputs (the file's bytes, the mode, the
speeds, the load options and the build rules' version), so every later run with the same inputs
(and the API) loads the arrays instead of parsing OSM and building a networkx graph again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import networkx as nx
import numpy as np
import scipy.sparse as sp
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError

from siting_errors import CRSError, DataNotFoundError, InputError

if TYPE_CHECKING:
    from geodata._roadlines import LineFields

__all__ = [
    "Network",
    "Roads",
    "load_network",
    "load_or_build_network",
    "network_cache_key",
    "network_from_graph",
    "prepare_network",
    "save_network",
]

logger = logging.getLogger(__name__)

_FORMAT = "siting-network-1"
#: bump when the road rules or the network build change, so cached networks are rebuilt
BUILD_VERSION = "1"
_ARRAYS = ("node_ids", "x", "y", "edge_u", "edge_v", "edge_time", "edge_length")


@dataclass(frozen=True, eq=False)
class Network:
    """A road network as arrays.

    Attributes:
        node_ids: original (OSM) node ids, int64 (positions 0..n-1 when the graph's node keys
            are not integers).
        x, y: node coordinates in ``crs`` (metres), float64.
        crs: a projected CRS (the local UTM zone unless another was asked for).
        graph: ``n × n`` CSR (``scipy.sparse.csr_array``) of edge travel times in seconds, the
            minimum over parallel edges; zero-time edges are stored explicitly.
        edge_u, edge_v, edge_time, edge_length: every directed edge (node indices, seconds,
            metres), parallel edges included, for service areas.
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
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        """Number of directed edges (parallel edges counted)."""
        return len(self.edge_u)

    def reversed_graph(self) -> sp.csr_array:
        """The transposed CSR: searching it from a node gives times *to* that node."""
        return _csr(self.edge_v, self.edge_u, self.edge_time, self.n_nodes)

    def __repr__(self) -> str:
        return (
            f"Network(mode={self.mode!r}, nodes={self.n_nodes}, edges={self.n_edges}, "
            f"crs={self.crs.to_string()!r})"
        )


def _utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM CRS (EPSG 326xx north, 327xx south) of the zone containing a point."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise CRSError(
            f"longitude/latitude must be within ±180/±90 degrees, got ({lon!r}, {lat!r})"
        )
    zone = min(math.floor((lon + 180.0) / 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _csr(u: np.ndarray, v: np.ndarray, t: np.ndarray, n: int) -> sp.csr_array:
    """CSR with the minimum time over parallel edges, built directly from sorted arrays so that
    zero times stay stored (no conversion that could drop explicit zeros); self-loops dropped."""
    keep = u != v
    u, v, t = u[keep], v[keep], t[keep]
    order = np.lexsort((t, v, u))
    u, v, t = u[order], v[order], t[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, t = u[first], v[first], t[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    itype = np.int32 if max(n, len(v)) < 2**31 - 1 else np.int64
    return sp.csr_array((t.astype(np.float64), v.astype(itype), indptr.astype(itype)), shape=(n, n))


def network_from_graph(graph: nx.MultiDiGraph, *, mode: str, crs: CRS | None = None) -> Network:
    """Convert an osmnx-style graph whose edges carry ``travel_time`` (s) — see
    :func:`geodata.roads.add_travel_times` — to a :class:`Network`.

    Coordinates are projected to ``crs`` if given (it must be projected), else to the UTM zone
    of the centre of the graph's extent.
    """
    if not isinstance(graph, nx.MultiDiGraph | nx.DiGraph):
        raise InputError(f"`graph` must be a networkx MultiDiGraph, got {type(graph).__name__}")
    prepared = graph.graph.get("siting_mode")
    if prepared is not None and prepared != mode:
        raise InputError(
            f"the road graph was prepared for mode {prepared!r}, got `mode` {mode!r}; "
            f"prepare it with add_travel_times(graph, mode={mode!r})"
        )
    n = graph.number_of_nodes()
    if n == 0 or next(iter(graph.edges), None) is None:
        raise InputError("the road graph is empty (no nodes or no edges)")
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    try:
        xs = np.array([graph.nodes[node]["x"] for node in nodes], dtype=np.float64)
        ys = np.array([graph.nodes[node]["y"] for node in nodes], dtype=np.float64)
    except KeyError as exc:
        raise InputError("every road-graph node needs coordinates `x` and `y`") from exc
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise InputError("road-graph node coordinates `x`/`y` must be finite numbers")
    source = _graph_crs(graph)
    target = _target_crs(source, xs, ys, crs)
    px, py = Transformer.from_crs(source, target, always_xy=True).transform(xs, ys)
    u_list, v_list, t_list, len_list = [], [], [], []
    for a, b, data in graph.edges(data=True):
        u_list.append(index[a])
        v_list.append(index[b])
        t_list.append(data.get("travel_time"))
        len_list.append(data.get("length"))
    missing = sum(t is None for t in t_list)
    if missing:
        raise InputError(
            f"{missing} of {len(t_list)} road edges have no `travel_time`; "
            "run geodata.roads.add_travel_times(graph, mode=...) first"
        )
    t = np.asarray(t_list, dtype=np.float64)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        raise InputError(
            f"edge `travel_time` must be finite seconds >= 0; {int(bad.sum())} edges are not "
            f"(e.g. {t[bad][0]!r})"
        )
    u = np.asarray(u_list, dtype=np.int64)
    v = np.asarray(v_list, dtype=np.int64)
    length = np.asarray([np.nan if x is None else x for x in len_list], dtype=np.float64)
    if all(isinstance(node, int | np.integer) for node in nodes):
        node_ids = np.asarray(nodes, dtype=np.int64)
    else:
        logger.info("road-graph node keys are not all integers: node_ids are positions 0..n-1")
        node_ids = np.arange(n, dtype=np.int64)
    net = Network(
        node_ids=node_ids,
        x=np.asarray(px, dtype=np.float64),
        y=np.asarray(py, dtype=np.float64),
        crs=target,
        graph=_csr(u, v, t, n),
        edge_u=u,
        edge_v=v,
        edge_time=t,
        edge_length=length,
        mode=mode,
    )
    logger.info("network: %d nodes, %d edges, %s", n, len(u), target.to_string())
    return net


#: a scenario's roads: a prepared :class:`Network`, or an osmnx-style road graph (prepared
#: for a mode by :func:`prepare_network` when travel times are needed)
Roads: TypeAlias = Network | nx.MultiDiGraph


def prepare_network(roads: Roads, *, mode: str) -> Network:
    """The :class:`Network` of ``roads`` for ``mode``: a Network as it is (it must be for
    ``mode``); a road graph with travel times for ``mode`` added unless it has them
    (:func:`geodata.roads.add_travel_times`), then compacted (:func:`network_from_graph`)."""
    if isinstance(roads, Network):
        if roads.mode != mode:
            raise InputError(
                f"the prepared network is for mode {roads.mode!r} but the scenario asks for "
                f"{mode!r}; prepare a network for {mode!r}"
            )
        return roads
    from geodata.roads import add_travel_times

    graph = roads
    needs_times = any("travel_time" not in d for _, _, d in islice(graph.edges(data=True), 50))
    if needs_times or graph.graph.get("siting_mode") != mode:
        graph = add_travel_times(graph, mode=mode)
    return network_from_graph(graph, mode=mode)


def _graph_crs(graph: nx.MultiDiGraph) -> CRS:
    value = graph.graph.get("crs")
    if value is None:
        raise CRSError("the road graph has no `crs` graph attribute (osmnx graphs have one)")
    try:
        return CRS.from_user_input(value)
    except PyprojCRSError as exc:
        raise CRSError(f"the road graph's `crs` {value!r} is not a valid CRS: {exc}") from exc


def _target_crs(source: CRS, xs: np.ndarray, ys: np.ndarray, crs: CRS | None) -> CRS:
    if crs is not None:
        target = CRS.from_user_input(crs)
        if not target.is_projected:
            raise CRSError(f"`crs` must be a projected CRS (metres), got {target.to_string()}")
        return target
    if source.is_geographic:
        lon, lat = xs, ys
    else:
        lon, lat = Transformer.from_crs(source, "EPSG:4326", always_xy=True).transform(xs, ys)
    return _utm_crs(
        (float(np.min(lon)) + float(np.max(lon))) / 2, (float(np.min(lat)) + float(np.max(lat))) / 2
    )


def save_network(net: Network, path: str | Path) -> Path:
    """Cache a network as an ``.npz`` file at exactly ``path`` (folders created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": _FORMAT, "crs": net.crs.to_wkt(), "mode": net.mode}
    with p.open("wb") as out:
        np.savez_compressed(
            out,
            **{name: getattr(net, name) for name in _ARRAYS},
            graph_data=net.graph.data,
            graph_indices=net.graph.indices,
            graph_indptr=net.graph.indptr,
            meta=np.array(json.dumps(meta)),
        )
    return p


def load_network(path: str | Path) -> Network:
    """Read a network written by :func:`save_network`."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"network cache {str(p)!r} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != _FORMAT:
                raise InputError(
                    f"network cache {str(p)!r} has format {meta.get('format')!r}, "
                    f"expected {_FORMAT!r}; rebuild it with save_network"
                )
            arrays = {name: z[name] for name in _ARRAYS}
            n = len(arrays["node_ids"])
            graph = sp.csr_array(
                (z["graph_data"], z["graph_indices"], z["graph_indptr"]), shape=(n, n)
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"{str(p)!r} is not a network cache written by save_network: {exc}"
        ) from exc
    return Network(crs=CRS.from_wkt(meta["crs"]), graph=graph, mode=str(meta["mode"]), **arrays)


def network_cache_key(
    path: str | Path,
    *,
    mode: str,
    speeds: Mapping[str, float] | None = None,
    simplify: bool = False,
    retain_all: bool = False,
    fields: LineFields | None = None,
) -> str:
    """The content hash (SHA-256, hex) a network built from ``path`` is cached under: the
    file's bytes (a shapefile's ``.dbf``/``.shx``/``.prj``/``.cpg`` too), the mode, the speed
    table actually used (defaults with ``speeds`` applied), the load options (a line layer's
    ``fields`` included) and :data:`BUILD_VERSION`. Renaming or touching the file keeps the
    key; changing one byte, a speed or an option changes it."""
    from geodata.roads import _check_mode, _speed_table

    mode = _check_mode(mode)
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"road network file {str(p)!r} does not exist")
    digest = hashlib.sha256()
    parts = [p]
    if p.suffix.lower() == ".shp":
        parts += [
            p.with_suffix(s) for s in (".dbf", ".shx", ".prj", ".cpg") if p.with_suffix(s).is_file()
        ]
    for part in parts:
        with part.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    params = {
        "format": _FORMAT,
        "build": BUILD_VERSION,
        "mode": mode,
        "speeds": sorted(_speed_table(mode, speeds).items()),
        "simplify": bool(simplify),
        "retain_all": bool(retain_all),
        "fields": None if fields is None else dataclasses.asdict(fields),
    }
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()


def load_or_build_network(
    path: str | Path,
    mode: str,
    cache_dir: str | Path,
    *,
    speeds: Mapping[str, float] | None = None,
    simplify: bool = False,
    retain_all: bool = False,
    fields: LineFields | None = None,
) -> Network:
    """The :class:`Network` of a road file for ``mode``, from the cache in ``cache_dir`` when
    it holds one for the same inputs (:func:`network_cache_key`), else built with
    :func:`geodata.roads.load_roads` + :func:`network_from_graph` and written there
    (atomically, so concurrent runs never read half a file). A damaged cache file is rebuilt.
    ``fields`` reads a line layer (:class:`geodata.roads.LineFields`)."""
    from geodata.roads import load_roads

    key = network_cache_key(
        path, mode=mode, speeds=speeds, simplify=simplify, retain_all=retain_all, fields=fields
    )
    target = Path(cache_dir) / f"network-{mode}-{key[:24]}.npz"  # the content alone names it
    if target.is_file():
        try:
            net = load_network(target)
        except InputError as exc:
            logger.warning("network cache %s is unreadable (%s): rebuilding it", target, exc)
        else:
            if net.mode == mode:
                logger.info("network for %s (%s) loaded from the cache %s", path, mode, target)
                return net
    graph = load_roads(
        path, mode=mode, speeds=speeds, simplify=simplify, retain_all=retain_all, fields=fields
    )
    net = network_from_graph(graph, mode=mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        save_network(net, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("network for %s (%s) built and cached as %s", path, mode, target)
    return net
