"""Road graphs from line layers (GeoJSON, GeoPackage, shapefile): the osmnx-style graph
:func:`geodata.roads.load_roads` prepares, built from lines and their attribute fields.

Every vertex is a node, as in the unsimplified OSM graphs :func:`geodata.roads.load_roads`
builds (points snap to a vertex near them, not only to the ends of a long road), and lines join
where they share a vertex (a layer of OSM ways crossing at a shared vertex is connected there,
while a bridge crossing without one is not); with
a ``tolerance`` (metres), line end points within that distance of each other are merged into
one node (lines that stop short of the junction they meet at, as in lane-level or
hand-digitised layers; a small tolerance avoids chaining neighbouring junctions). Each segment
becomes one edge with its true length (metres, in the local UTM zone); ``simplify=True`` in
:func:`geodata.roads.load_roads` merges the vertices that only carry a bend.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from siting_errors import InputError

__all__ = ["SPEED_UNITS", "LineFields", "graph_from_lines"]

logger = logging.getLogger(__name__)

#: speed units a speed field may be in, and their factor to km/h
SPEED_UNITS: dict[str, float] = {"km/h": 1.0, "m/s": 3.6, "mph": 1.609344}
#: class fields looked for when none is named: OSM's ``highway``, Geofabrik's ``fclass``
_CLASS_FIELDS = ("highway", "fclass")
_ONEWAY_FIELDS = ("oneway",)
_SPEED_FIELDS = ("maxspeed",)
# one-way values: forward (the line's direction), reverse (against it), both ways; OSM
# (yes / -1 / no) and Geofabrik (F / T / B) conventions
_FORWARD = frozenset({"yes", "true", "1", "f", "forward", "ft"})
_REVERSE = frozenset({"-1", "reverse", "t", "backward", "tf"})
_BOTH = frozenset({"no", "false", "0", "b", "both", "", "nan", "none"})
#: class of every line when the layer has no class field (drive: the ``default`` speed)
NO_CLASS = "road"


@dataclass(frozen=True)
class LineFields:
    """How to read a road line layer.

    Attributes:
        class_field: the road class (``highway``-like: ``primary``, ``residential``, ...);
            default: ``highway`` or ``fclass`` when the layer has one, else every line is a
            ``road`` (driven at the ``default`` speed).
        speed_field: a speed limit per line, in ``speed_unit`` (a value > 0 wins over the
            class speed when driving; walking ignores it); default: ``maxspeed`` when present.
        speed_unit: ``km/h``, ``m/s`` or ``mph``.
        oneway_field: one-way flags (``yes``/``-1``/``no`` or ``F``/``T``/``B``); default
            ``oneway`` when present, else every line is two-way.
        tolerance: metres within which line end points are merged into one node.
        layer: the layer of a multi-layer file (GeoPackage).
        coords: ``gcj02`` when the layer's longitude/latitude are GCJ-02 (Chinese web maps),
            converted to WGS84; ``wgs84`` (default) reads them as they are.
    """

    class_field: str | None = None
    speed_field: str | None = None
    speed_unit: str = "km/h"
    oneway_field: str | None = None
    tolerance: float = 1.0
    layer: str | None = None
    coords: str = "wgs84"

    def __post_init__(self) -> None:
        if self.speed_unit not in SPEED_UNITS:
            raise InputError(
                f"`speed_unit` must be one of {', '.join(SPEED_UNITS)}, got {self.speed_unit!r}"
            )
        t = self.tolerance
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
            raise InputError(f"`tolerance` must be a number of metres >= 0, got {t!r}")
        if self.coords not in ("wgs84", "gcj02"):
            raise InputError(f"`coords` must be wgs84 or gcj02, got {self.coords!r}")


def _field(frame: pd.DataFrame, given: str | None, defaults: tuple[str, ...], what: str) -> Any:
    if given is not None:
        if given not in frame.columns:
            there = [c for c in frame.columns if c != "geometry"]
            raise InputError(f"{what}: no field {given!r} (fields: {there})")
        return given
    return next((c for c in defaults if c in frame.columns), None)


def _oneway(values: pd.Series, what: str, field: str) -> np.ndarray:
    """Per line: 1 one-way along the line, -1 against it, 0 both ways."""
    text = values.astype(str).str.strip().str.lower()
    out = np.zeros(len(text), dtype=np.int8)
    out[text.isin(_FORWARD).to_numpy()] = 1
    out[text.isin(_REVERSE).to_numpy()] = -1
    unknown = ~text.isin(_FORWARD | _REVERSE | _BOTH).to_numpy() & values.notna().to_numpy()
    if unknown.any():
        raise InputError(
            f"{what}: one-way field {field!r} has values {sorted(set(text[unknown]))[:5]}; "
            "expected yes/-1/no (OSM) or F/T/B (Geofabrik)"
        )
    return out


def _speeds(values: pd.Series, unit: str) -> np.ndarray:
    """Per line: the speed in km/h, NaN where missing or not > 0 (the class speed applies)."""
    kmh = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64) * SPEED_UNITS[unit]
    return np.where(np.isfinite(kmh) & (kmh > 0), kmh, np.nan)


def _lines(frame: gpd.GeoDataFrame, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The (multi)line geometries as single lines, and the row each comes from; other
    geometries (junction points, polygons) are left out with a log line."""
    geoms = frame.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    is_line = np.isin(kinds, [1, 5]) & ~shapely.is_empty(geoms)
    if not is_line.any():
        found = sorted({g.geom_type for g in geoms if g is not None})
        raise InputError(f"{what} has no lines (geometries: {found}); a road layer holds lines")
    if not is_line.all():
        logger.info("%s: %d features that are not lines left out", what, int((~is_line).sum()))
    parts, index = shapely.get_parts(geoms[is_line], return_index=True)
    rows = np.flatnonzero(is_line)[index]
    keep = shapely.get_num_points(parts) >= 2
    return parts[keep], rows[keep]


def _clusters(xy: np.ndarray, is_end: np.ndarray, tolerance: float) -> np.ndarray:
    """A cluster label per vertex: vertices at the same point (to 1 cm), and end points within
    ``tolerance`` of another end point, share one."""
    n = len(xy)
    _, same = np.unique(np.round(xy, 2), axis=0, return_inverse=True)
    same = same.ravel()
    pairs_a = [np.arange(n)]
    pairs_b = [same + n]  # vertex -> its exact-position group (offset past the vertices)
    if tolerance > 0:
        ends = np.flatnonzero(is_end)
        near = cKDTree(xy[ends]).query_pairs(r=tolerance, output_type="ndarray")
        pairs_a.append(ends[near[:, 0]])
        pairs_b.append(same[ends[near[:, 1]]] + n)
    a, b = np.concatenate(pairs_a), np.concatenate(pairs_b)
    size = n + int(same.max()) + 1
    graph = sp.coo_array((np.ones(len(a), dtype=np.int8), (a, b)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels[:n], dtype=np.int64)


def graph_from_lines(
    frame: gpd.GeoDataFrame, fields: LineFields, *, what: str = "road layer"
) -> nx.MultiDiGraph:
    """The osmnx-style road graph of a line layer (module docstring): nodes with ``x``/``y``
    (WGS84 longitude/latitude), edges with ``length`` (metres), ``highway`` (the class),
    ``oneway``, ``reversed``, ``osmid`` (the line's row) and ``maxspeed`` (km/h) where the
    speed field has one; two-way lines get an edge each way. Graph attribute ``crs`` is
    EPSG:4326. ``what`` names the layer in errors."""
    from geodata.chinacoords import gcj02_geometries_to_wgs84
    from geodata.crs import local_utm_crs

    if frame.crs is None:
        raise InputError(f"{what} has no CRS")
    class_field = _field(frame, fields.class_field, _CLASS_FIELDS, what)
    speed_field = _field(frame, fields.speed_field, _SPEED_FIELDS, what)
    oneway_field = _field(frame, fields.oneway_field, _ONEWAY_FIELDS, what)
    lines, rows = _lines(frame, what)
    if fields.coords == "gcj02":
        if not frame.crs.is_geographic:
            raise InputError(f"{what}: coords='gcj02' needs longitude/latitude, got {frame.crs}")
        lines = gcj02_geometries_to_wgs84(lines)
        lonlat = gpd.GeoSeries(lines, crs="EPSG:4326")
    else:
        lonlat = gpd.GeoSeries(lines, crs=frame.crs).to_crs("EPSG:4326")
    metric = lonlat.to_crs(local_utm_crs(lonlat))
    xy = shapely.get_coordinates(metric.to_numpy())
    lon_lat = shapely.get_coordinates(lonlat.to_numpy())
    counts = shapely.get_num_points(metric.to_numpy())
    line_of = np.repeat(np.arange(len(lines)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    is_end = np.zeros(len(xy), dtype=bool)
    is_end[starts] = True
    is_end[starts + counts - 1] = True
    label = _clusters(xy, is_end, float(fields.tolerance))
    is_node = np.ones(len(xy), dtype=bool)  # every vertex (unsimplified, as OSM graphs)
    # node positions: the mean of each used cluster, in longitude/latitude
    used, node_of = np.unique(label[is_node], return_inverse=True)
    node_lon = np.bincount(node_of, weights=lon_lat[is_node, 0]) / np.bincount(node_of)
    node_lat = np.bincount(node_of, weights=lon_lat[is_node, 1]) / np.bincount(node_of)
    cluster_node = np.full(int(label.max()) + 1, -1, dtype=np.int64)
    cluster_node[used] = np.arange(len(used))
    # cumulative length along each line, to cut it into edges between consecutive nodes
    step = np.zeros(len(xy))
    step[1:] = np.hypot(*(xy[1:] - xy[:-1]).T)
    step[starts] = 0.0
    along = np.cumsum(step)
    node_idx = np.flatnonzero(is_node)
    same_line = line_of[node_idx[1:]] == line_of[node_idx[:-1]]
    u = cluster_node[label[node_idx[:-1]][same_line]]
    v = cluster_node[label[node_idx[1:]][same_line]]
    length = along[node_idx[1:]][same_line] - along[node_idx[:-1]][same_line]
    edge_line = line_of[node_idx[1:]][same_line]
    source_row = rows[edge_line]
    classes = (
        frame[class_field]
        .astype("string")
        .str.strip()
        .replace("", pd.NA)
        .fillna(NO_CLASS)
        .to_numpy(dtype=object)
        if class_field
        else np.full(len(frame), NO_CLASS, dtype=object)
    )
    oneway = (
        _oneway(frame[oneway_field], what, oneway_field)
        if oneway_field
        else np.zeros(len(frame), dtype=np.int8)
    )
    speeds = (
        _speeds(frame[speed_field], fields.speed_unit)
        if speed_field
        else np.full(len(frame), np.nan)
    )
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    graph.add_nodes_from(
        (k, {"x": float(x), "y": float(y)})
        for k, (x, y) in enumerate(zip(node_lon, node_lat, strict=True))
    )
    edges = []
    for a, b, metres, row in zip(
        u.tolist(), v.tolist(), length.tolist(), source_row.tolist(), strict=True
    ):
        attrs: dict[str, Any] = {
            "osmid": row,
            "highway": classes[row],
            "length": metres,
            "oneway": bool(oneway[row]),
        }
        if np.isfinite(speeds[row]):
            attrs["maxspeed"] = f"{speeds[row]:g}"
        if oneway[row] >= 0:
            edges.append((a, b, attrs | {"reversed": False}))
        if oneway[row] <= 0:
            edges.append((b, a, attrs | {"reversed": True}))
    graph.add_edges_from(edges)
    logger.info(
        "%s: %d lines -> %d nodes, %d edges (class field %s, speed field %s, one-way field %s)",
        what,
        len(lines),
        graph.number_of_nodes(),
        graph.number_of_edges(),
        class_field,
        speed_field,
        oneway_field,
    )
    return graph
