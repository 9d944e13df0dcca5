"""Service areas (isochrones): the part of the road network within the threshold of each site,
as buffered, dissolved polygons."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from geodata.network import Network
from geodata.snapping import Snap
from siting_errors import InputError

__all__ = ["service_areas"]

logger = logging.getLogger(__name__)


def service_areas(
    net: Network,
    sources: Snap,
    *,
    threshold: float,
    buffer: float = 50.0,
    site_ids: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """One polygon per site: network edges from which the site is reached within ``threshold``
    seconds (travel towards the site; an edge partly within it contributes the reached part of
    its straight segment), buffered by ``buffer`` metres and dissolved. Output in EPSG:4326."""
    if threshold <= 0:
        raise InputError(f"`threshold` must be > 0 seconds, got {threshold!r}")
    if buffer <= 0:
        raise InputError(f"`buffer` must be > 0 metres, got {buffer!r}")
    n_sites = len(sources.node)
    ids = np.asarray(site_ids if site_ids is not None else np.arange(n_sites)).astype(str)
    polys: list[shapely.Geometry | None] = [None] * n_sites
    reached_nodes = np.zeros(n_sites, dtype=np.int64)
    ok = np.flatnonzero(sources.snapped)
    if len(ok):
        rev = net.graph.T.tocsr()
        limits = threshold - sources.access_time[ok]
        dist = dijkstra(
            rev, directed=True, indices=sources.node[ok], limit=float(max(limits.max(), 0.0))
        )
        u, v, t = net.edge_u, net.edge_v, net.edge_time
        for row, s in enumerate(ok):
            lim = limits[row]
            if lim < 0:
                continue
            d = dist[row]
            # towards the site: edge u -> v is usable from u if d[v] + t <= lim; reached part
            # from the v end covers (lim - d[v]) / t of the edge
            dv = d[v]
            part = np.clip((lim - dv) / np.where(t > 0, t, 1e-9), 0.0, 1.0)
            use = np.isfinite(dv) & (part > 0)
            if not use.any():
                pt = shapely.points(net.x[sources.node[s]], net.y[sources.node[s]])
                polys[s] = shapely.buffer(pt, buffer)
                continue
            x0, y0 = net.x[v[use]], net.y[v[use]]
            x1 = x0 + (net.x[u[use]] - x0) * part[use]
            y1 = y0 + (net.y[u[use]] - y0) * part[use]
            lines = shapely.linestrings(
                np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
            )
            polys[s] = shapely.union_all(shapely.buffer(lines, buffer, quad_segs=4))
            reached_nodes[s] = int(np.isfinite(d[d <= lim]).sum())
    geo = gpd.GeoSeries(polys, crs=net.crs)
    frame = gpd.GeoDataFrame(
        {"site_id": ids, "threshold_min": threshold / 60.0, "reached_nodes": reached_nodes},
        geometry=geo.to_numpy(),
        crs=net.crs,
    )
    frame = frame[frame.geometry.notna()].to_crs("EPSG:4326")
    frame["geometry"] = shapely.make_valid(frame.geometry.to_numpy())
    return frame.reset_index(drop=True)
