"""Snapping points to the network: nearest node, with an off-network access leg at walking speed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from scipy.spatial import cKDTree

from geodata.network import Network
from siting_errors import CRSError, InputError

__all__ = ["Snap", "snap_points"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Snap:
    """Where each point joins the network.

    Attributes:
        node: index of the nearest network node, -1 when farther than the snap distance.
        distance: straight-line distance to that node (m).
        access_time: the off-network leg at walking speed (s); 0 for unsnapped points.
        snapped: True where the point reached the network.
    """

    node: np.ndarray
    distance: np.ndarray
    access_time: np.ndarray
    snapped: np.ndarray


def snap_points(
    net: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    max_distance: float = 500.0,
    walk_speed_kmh: float = 4.5,
) -> Snap:
    """Snap every point to its nearest node; points beyond ``max_distance`` metres are kept with
    ``node = -1`` and reported in the log (never silently dropped)."""
    if points.crs is None:
        raise CRSError("the points to snap have no CRS")
    if max_distance <= 0:
        raise InputError(f"`max_distance` must be > 0 metres, got {max_distance!r}")
    if walk_speed_kmh <= 0:
        raise InputError(f"`walk_speed_kmh` must be > 0, got {walk_speed_kmh!r}")
    geom = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    geom = geom.to_crs(net.crs)
    centroids = geom.centroid if not (geom.geom_type == "Point").all() else geom
    xy = np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()])
    tree = cKDTree(np.column_stack([net.x, net.y]))
    dist, node = tree.query(xy, k=1)
    ok = dist <= max_distance
    node = np.where(ok, node, -1).astype(np.int64)
    access = np.where(ok, dist / (walk_speed_kmh / 3.6), 0.0)
    if (~ok).any():
        logger.warning(
            "%d of %d points are more than %g m from the network",
            int((~ok).sum()),
            len(ok),
            max_distance,
        )
    return Snap(node, dist, access, ok)
