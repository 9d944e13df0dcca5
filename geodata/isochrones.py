"""Service areas (isochrones): the road network from which each site is reached within a
threshold, as buffered, dissolved polygons.

Travel is towards the site (the demand → site direction of :mod:`geodata.traveltime`): a
search on the reversed graph from the site's node, with the site's own access leg deducted
from the threshold. An edge ``u → v`` whose end ``v`` reaches the site in ``d`` seconds is
covered from ``v`` back towards ``u`` for the fraction ``(limit - d) / time`` of its straight
segment (all of it when that is ≥ 1); the covered segments and the site's node are buffered by
``buffer`` metres and dissolved. Polygons are built in the network's metric CRS and returned
in EPSG:4326.

:func:`add_access_legs` adds the off-network legs of given points (the walk from a resident's
door, or a site's, to the road network) to such areas, so that a resident reached through that
walk lies inside the area that serves them.
"""

from __future__ import annotations

import logging
import math
import numbers

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from geodata.network import Network
from geodata.snapping import Snap, snap_points
from geodata.traveltime.search import expand_ranges
from siting_errors import InputError

__all__ = ["add_access_legs", "service_areas"]

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 200_000_000


def service_areas(
    net: Network,
    sources: Snap,
    *,
    threshold: float,
    buffer: float = 50.0,
    site_ids: np.ndarray | list[str] | None = None,
) -> gpd.GeoDataFrame:
    """One polygon per site (row order of ``sources``): the network within ``threshold``
    seconds of the site, buffered by ``buffer`` metres. Columns ``site_id`` (strings; default
    positions), ``threshold_min``, ``reached_nodes``, ``geometry`` (EPSG:4326). A site that is
    not on the network (snap node -1), or whose access leg alone exceeds the threshold, gets a
    row with no geometry (None) and 0 reached nodes, and is counted in a warning."""
    given: tuple[tuple[str, object], ...] = (("threshold", threshold), ("buffer", buffer))
    for name, value in given:
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise InputError(f"`{name}` must be a number > 0, got {value!r}")
    if not isinstance(sources, Snap):
        raise InputError(f"`sources` must be a Snap from snap_points, got {type(sources).__name__}")
    n_sites = len(sources.node)
    ids = np.arange(n_sites) if site_ids is None else np.asarray(site_ids)
    if len(ids) != n_sites:
        raise InputError(f"`site_ids` must have one id per site ({n_sites}), got {len(ids)}")
    if n_sites and int(np.max(sources.node)) >= net.n_nodes:
        raise InputError("`sources` were snapped to another network; snap them to this one")
    polys: list[shapely.Geometry | None] = [None] * n_sites
    reached = np.zeros(n_sites, dtype=np.int64)
    limits = float(threshold) - np.asarray(sources.access_time, dtype=np.float64)
    todo = np.flatnonzero((np.asarray(sources.node) >= 0) & (limits >= 0))
    unsnapped = int((np.asarray(sources.node) < 0).sum())
    if unsnapped:
        logger.warning(
            "%d of %d sites are not on the road network: no service area", unsnapped, n_sites
        )
    # edges grouped by their head v, to gather the edges into the reached nodes
    by_v = np.argsort(net.edge_v, kind="stable")
    v_count = np.bincount(net.edge_v, minlength=net.n_nodes)
    v_start = np.cumsum(v_count) - v_count
    rev = net.reversed_graph()
    chunk = max(1, _CHUNK_BYTES // (8 * net.n_nodes))
    for begin in range(0, len(todo), chunk):
        block = todo[begin : begin + chunk]
        dist = dijkstra(
            rev, directed=True, indices=sources.node[block], limit=float(limits[block].max())
        )
        for row, s in enumerate(block):
            polys[s], reached[s] = _area(
                net, dist[row], limits[s], int(sources.node[s]), buffer, by_v, v_start, v_count
            )
    too_far = int(((np.asarray(sources.node) >= 0) & (limits < 0)).sum())
    if too_far:
        logger.warning(
            "%d sites are farther from the road network than the threshold: no service area",
            too_far,
        )
    frame = gpd.GeoDataFrame(
        {
            "site_id": ids.astype(str),
            "threshold_min": float(threshold) / 60.0,
            "reached_nodes": reached,
        },
        geometry=gpd.GeoSeries(polys, crs=net.crs).to_numpy(),
        crs=net.crs,
    ).to_crs("EPSG:4326")
    invalid = ~frame.geometry.is_valid & frame.geometry.notna()
    if invalid.any():
        fixed = shapely.make_valid(frame.geometry[invalid].to_numpy())
        frame.loc[invalid, "geometry"] = [_polygonal(g) for g in fixed]
    return frame


def _area(
    net: Network,
    d: np.ndarray,
    limit: float,
    node: int,
    buffer: float,
    by_v: np.ndarray,
    v_start: np.ndarray,
    v_count: np.ndarray,
) -> tuple[shapely.Geometry, int]:
    """The buffered reached network of one site, and the number of nodes reached."""
    heads = np.flatnonzero(d <= limit)
    edges = by_v[expand_ranges(v_start[heads], v_count[heads])]
    u, v, t = net.edge_u[edges], net.edge_v[edges], net.edge_time[edges]
    slack = limit - d[v]
    with np.errstate(divide="ignore", invalid="ignore"):
        part = np.where(t > 0, np.minimum(slack / t, 1.0), 1.0)
    use = part > 0
    # a fully covered two-way street appears once per direction: keep one
    full = use & (part >= 1.0)
    pair = np.minimum(u, v) * np.int64(net.n_nodes) + np.maximum(u, v)
    _, first = np.unique(pair[full], return_index=True)
    use[np.flatnonzero(full)] = False
    use[np.flatnonzero(full)[first]] = True
    x0, y0 = net.x[v[use]], net.y[v[use]]
    x1 = x0 + (net.x[u[use]] - x0) * part[use]
    y1 = y0 + (net.y[u[use]] - y0) * part[use]
    segments = shapely.linestrings(
        np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
    )
    # segments joined into lines at degree-2 nodes and simplified within a metre (well inside
    # the buffer), each line buffered and the buffers dissolved: several times faster than
    # noding the lines first or buffering every segment
    pieces = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(segments)))
    pieces = shapely.simplify(pieces, min(1.0, buffer / 10.0))
    site = shapely.points(net.x[node], net.y[node])
    shape = shapely.union_all(shapely.buffer(np.append(pieces, site), buffer, quad_segs=4))
    return shape, len(heads)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygon parts of a geometry repaired by make_valid."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def add_access_legs(
    areas: gpd.GeoDataFrame,
    net: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    area_row: np.ndarray,
    *,
    buffer: float = 50.0,
    max_distance: float = 500.0,
) -> gpd.GeoDataFrame:
    """``areas`` (from :func:`service_areas`) with the off-network leg of every point added to
    the area of its row: the straight walk from the point to its nearest network node,
    buffered by ``buffer`` metres, unioned into the polygon of row ``area_row[i]`` (-1: none).
    Points farther than ``max_distance`` from the network (unsnapped) add only their buffered
    point. An area without geometry gets one when points are given for it. Returns a new
    frame in EPSG:4326 (the same rows and columns)."""
    if not math.isfinite(buffer) or buffer <= 0:
        raise InputError(f"`buffer` must be a number > 0, got {buffer!r}")
    rows = np.asarray(area_row, dtype=np.int64)
    if len(rows) != len(points):
        raise InputError(f"`area_row` must hold one row per point ({len(points)}), got {len(rows)}")
    if len(rows) and (rows.max() >= len(areas) or rows.min() < -1):
        raise InputError(f"`area_row` values must be -1 or rows of `areas` (< {len(areas)})")
    out = areas.to_crs(net.crs)
    keep = rows >= 0
    if not keep.any():
        return out.to_crs("EPSG:4326")
    pts = points[keep]
    snap = snap_points(net, pts, max_distance=max_distance)
    xy = shapely.get_coordinates(
        (pts.geometry if isinstance(pts, gpd.GeoDataFrame) else pts).to_crs(net.crs).centroid
    )
    node = np.asarray(snap.node)
    end = np.where(node[:, None] >= 0, np.column_stack([net.x[node], net.y[node]]), xy)
    legs = shapely.linestrings(np.stack([xy, end], axis=1))
    legs = np.where(node >= 0, legs, shapely.points(xy))
    shapes = shapely.buffer(legs, buffer, quad_segs=4)
    geoms = out.geometry.to_numpy().copy()
    for r in np.unique(rows[keep]):
        mine = shapes[rows[keep] == r]
        base = geoms[r]
        geoms[r] = shapely.union_all(mine if base is None else np.append(mine, base))
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=net.crs))
    return out.to_crs("EPSG:4326")
