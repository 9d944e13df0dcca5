"""Snapping points to the network: nearest node, with an off-network access leg at walking speed."""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from scipy.spatial import cKDTree

from geodata.network import Network
from geodata.roads import WALK_SPEED_KMH
from siting_errors import CRSError, InputError

__all__ = ["Snap", "snap_points"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Snap:
    """Where each point joins the network (arrays parallel to the points, in their order).

    Attributes:
        node: index of the nearest network node (int64), -1 when farther than the snap distance.
        distance: straight-line distance to the nearest node (m), also for unsnapped points.
        access_time: that distance at walking speed (s): the off-network leg.
        snapped: True where the point reached the network (``node >= 0``).
    """

    node: np.ndarray
    distance: np.ndarray
    access_time: np.ndarray
    snapped: np.ndarray

    def __len__(self) -> int:
        return len(self.node)


def snap_points(
    net: Network,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    max_distance: float = 500.0,
    walk_speed_kmh: float = WALK_SPEED_KMH,
) -> Snap:
    """Snap every point (any CRS; reprojected to ``net.crs``; polygons by their centroid) to
    its nearest network node. Points farther than ``max_distance`` metres are kept with
    ``node = -1`` and counted in a warning — never silently dropped."""
    if not isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
        raise InputError(
            f"`points` must be a GeoDataFrame or GeoSeries, got {type(points).__name__}"
        )
    if points.crs is None:
        raise CRSError("the points to snap have no CRS; set one (e.g. .set_crs('EPSG:4326'))")
    given: tuple[tuple[str, object], ...] = (
        ("max_distance", max_distance),
        ("walk_speed_kmh", walk_speed_kmh),
    )
    for name, value in given:
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise InputError(f"`{name}` must be a number > 0, got {value!r}")
    geom = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    bad = geom.isna() | geom.is_empty
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} of the points to snap have no geometry "
            f"(first at position {int(np.flatnonzero(bad.to_numpy())[0])})"
        )
    geom = geom.to_crs(net.crs)
    if not (geom.geom_type == "Point").all():
        geom = geom.centroid
    xy = np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()])
    if not np.isfinite(xy).all():
        raise InputError("some points to snap have coordinates that cannot be projected")
    if len(xy) == 0:
        empty = np.zeros(0)
        return Snap(np.zeros(0, np.int64), empty, empty.copy(), np.zeros(0, bool))
    tree = cKDTree(np.column_stack([net.x, net.y]))
    distance, nearest = tree.query(xy, k=1)
    snapped = distance <= max_distance
    node = np.where(snapped, nearest, -1).astype(np.int64)
    access = distance / (walk_speed_kmh / 3.6)
    far = int((~snapped).sum())
    if far:
        logger.warning(
            "%d of %d points are more than %g m from the road network: reported unreachable "
            "(node -1)",
            far,
            len(node),
            max_distance,
        )
    return Snap(node, distance.astype(np.float64), access.astype(np.float64), snapped)
