"""Coordinate reference systems: picking the local UTM zone and projecting inputs to metres."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
from pyproj import CRS

from siting_errors import CRSError

__all__ = ["local_utm_crs", "to_projected", "utm_crs_for"]

logger = logging.getLogger(__name__)


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 / UTM CRS of the zone containing ``(lon, lat)`` (north or south)."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise CRSError(f"longitude/latitude out of range: ({lon!r}, {lat!r})")
    zone = min(int(math.floor((lon + 180) / 6)) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def local_utm_crs(data: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """The UTM zone of the centre of ``data``'s extent (which must have a CRS)."""
    if data.crs is None:
        raise CRSError("the data has no CRS; set one (e.g. .set_crs('EPSG:4326'))")
    minx, miny, maxx, maxy = data.to_crs("EPSG:4326").total_bounds
    return utm_crs_for((minx + maxx) / 2, (miny + maxy) / 2)


def to_projected(data: gpd.GeoDataFrame, crs: CRS | None = None) -> gpd.GeoDataFrame:
    """``data`` in metres: its own CRS if projected, else ``crs`` or the local UTM zone."""
    if data.crs is None:
        raise CRSError("the data has no CRS; set one (e.g. .set_crs('EPSG:4326'))")
    if crs is None and data.crs.is_projected:
        return data
    return data.to_crs(crs or local_utm_crs(data))
