"""GCJ-02 ("Mars" coordinates of Chinese web maps: Amap, Tencent, ...) ↔ WGS84 conversion.

The forward transform is the widely published GCJ-02 obfuscation formula (Krasovsky ellipsoid
constants). The inverse has no closed form: it is a fixed-point iteration, accurate to well under
1 m after a few rounds. Outside mainland China's rough bounding box the offset is zero, as in the
formula's reference implementations. Baidu's BD-09 is a different, further offset system and is
not handled here.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike

from siting_errors import InputError

__all__ = [
    "gcj02_geometries_to_wgs84",
    "gcj02_to_wgs84",
    "wgs84_to_gcj02",
]

logger = logging.getLogger(__name__)

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as in the published formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_MAX_ITERATIONS = 20
_TOLERANCE_DEG = 1e-10  # ~0.01 mm: the iteration stops once every step is below this


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return ~((lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))


def _dlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _dlon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 (degrees) at WGS84 ``(lon, lat)``; zero outside China."""
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    out = _outside_china(lon, lat)
    return np.where(out, 0.0, dlon), np.where(out, 0.0, dlat)


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = np.broadcast_arrays(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
    except ValueError as exc:
        raise InputError(
            f"`lon` and `lat` must have the same shape, got {np.shape(lon)} and {np.shape(lat)}"
        ) from exc
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude/latitude (degrees; scalars or arrays) to GCJ-02.

    Points outside China are returned unchanged; NaN stays NaN.
    """
    x, y = _as_arrays(lon, lat)
    dlon, dlat = _offset(x, y)
    return x + dlon, y + dlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitude/latitude (degrees; scalars or arrays) to WGS84.

    Fixed-point iteration ``w ← w − (gcj(w) − g)`` from ``w = g``: the offset field is smooth, so
    each round gains about two orders of magnitude; it stops when every step is below 1e-10°
    (≈0.01 mm). The round trip ``wgs84_to_gcj02(gcj02_to_wgs84(g)) == g`` holds to that accuracy.
    """
    g_lon, g_lat = _as_arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_MAX_ITERATIONS):
        dlon, dlat = _offset(w_lon, w_lat)
        step_lon = (w_lon + dlon) - g_lon
        step_lat = (w_lat + dlat) - g_lat
        w_lon, w_lat = w_lon - step_lon, w_lat - step_lat
        steps = np.abs(np.concatenate([step_lon.ravel(), step_lat.ravel()]))
        if not np.any(steps[np.isfinite(steps)] > _TOLERANCE_DEG):
            break
    return w_lon, w_lat


def gcj02_geometries_to_wgs84(geometries: ArrayLike) -> np.ndarray:
    """Shapely geometries whose longitude/latitude are GCJ-02 (an Amap or Tencent export,
    whatever CRS the file claims) with every vertex converted to WGS84 (z values dropped)."""
    import shapely

    def convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return np.asarray(shapely.transform(np.asarray(geometries, dtype=object), convert))
