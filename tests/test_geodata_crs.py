"""CRS helpers (UTM zone choice, projection to metres) and GCJ-02 <-> WGS84 conversion."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import (
    Point,
    box,
)

from geodata.chinacoords import (
    gcj02_to_wgs84,
    wgs84_to_gcj02,
)
from geodata.crs import local_utm_crs, to_projected, utm_crs_for
from siting_errors import CRSError, InputError

GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --- UTM zones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (111.7, 40.8, 32649),  # Hohhot
        (-46.63, -23.55, 32723),  # São Paulo (south)
        (24.94, 60.17, 32635),  # Helsinki
        (5.32, 60.39, 32632),  # Bergen: the 32V exception (plain rule says 31)
        (15.63, 78.22, 32633),  # Longyearbyen: Svalbard exception (plain rule says 33 too)
        (8.0, 78.0, 32631),  # Svalbard west: 31X although the plain rule says 32
        (180.0, 10.0, 32660),  # the antimeridian belongs to zone 60
        (-180.0, -10.0, 32701),
        (0.0, 0.0, 32631),  # the equator counts as north
    ],
)
def test_utm_zone_rule(lon: float, lat: float, epsg: int) -> None:
    assert utm_crs_for(lon, lat).to_epsg() == epsg


def test_utm_zone_rejects_bad_and_polar_coordinates() -> None:
    with pytest.raises(CRSError, match=r"\(200.0, 10.0\)"):
        utm_crs_for(200.0, 10.0)
    with pytest.raises(CRSError, match="outside the UTM range"):
        utm_crs_for(10.0, 86.0)
    with pytest.raises(CRSError, match="nan"):
        utm_crs_for(float("nan"), 10.0)


def test_local_utm_uses_the_centroid_not_the_extent() -> None:
    # 99 points in zone 49 (Hohhot) and one far east in zone 51: the extent's centre is in
    # zone 50, the data's centroid in zone 49
    rng = np.random.default_rng(0)
    lon = np.r_[111.5 + 0.2 * rng.random(99), 124.0]
    lat = np.r_[40.7 + 0.2 * rng.random(99), 40.8]
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    assert utm_crs_for((lon.min() + lon.max()) / 2, 40.8).to_epsg() == 32650
    assert local_utm_crs(pts).to_epsg() == 32649


def test_local_utm_from_projected_data_bounds_and_geometries() -> None:
    # São Paulo points given in UTM 23S come back as UTM 23S
    sp = gpd.GeoDataFrame(
        geometry=[Point(333_000, 7_394_000), Point(334_000, 7_395_000)], crs="EPSG:32723"
    )
    assert local_utm_crs(sp).to_epsg() == 32723
    assert local_utm_crs((24.9, 60.15, 24.96, 60.18)).to_epsg() == 32635  # bounds, lon/lat
    assert (
        local_utm_crs((333_000, 7_394_000, 334_000, 7_395_000), crs="EPSG:32723").to_epsg() == 32723
    )
    assert local_utm_crs(box(111.6, 40.7, 111.8, 40.9)).to_epsg() == 32649
    assert local_utm_crs([Point(-46.6, -23.5), Point(-46.7, -23.6)]).to_epsg() == 32723


def test_local_utm_across_the_antimeridian() -> None:
    # Fiji straddles 180°: a naive mean of longitudes (≈0°) would pick zone 31
    fiji = gpd.GeoSeries(
        [Point(178.4, -18.1), Point(-179.9, -16.8), Point(179.8, -17.5)], crs="EPSG:4326"
    )
    assert local_utm_crs(fiji).to_epsg() in (32760, 32701)
    # bounds with minx > maxx cross the antimeridian
    assert local_utm_crs((178.0, -19.0, -179.0, -16.0)).to_epsg() == 32760


def test_local_utm_errors_name_the_problem() -> None:
    with pytest.raises(CRSError, match="no CRS"):
        local_utm_crs(gpd.GeoSeries([Point(0, 0)]))
    with pytest.raises(InputError, match="got str"):
        local_utm_crs("EPSG:4326")
    with pytest.raises(CRSError, match="no non-empty geometry"):
        local_utm_crs(gpd.GeoSeries([Point()], crs="EPSG:4326"))


def test_to_projected_gives_true_metres_even_from_web_mercator() -> None:
    # two points 1 km apart along the 60°N parallel (Helsinki)
    lon2 = GEOD.fwd(24.94, 60.17, 90.0, 1000.0)[0]
    ll = gpd.GeoDataFrame(
        {"k": [0, 1]}, geometry=[Point(24.94, 60.17), Point(lon2, 60.17)], crs="EPSG:4326"
    )
    merc = ll.to_crs("EPSG:3857")
    assert merc.geometry.iloc[0].distance(merc.geometry.iloc[1]) == pytest.approx(2000, rel=0.01)
    for data in (ll, merc):
        proj = to_projected(data)
        assert proj.crs.to_epsg() == 32635
        assert proj.geometry.iloc[0].distance(proj.geometry.iloc[1]) == pytest.approx(
            1000, rel=1e-3
        )
        assert proj["k"].tolist() == [0, 1]
    same = to_projected(ll).pipe(to_projected)
    assert same.crs.to_epsg() == 32635
    already = to_projected(ll)
    assert to_projected(already) is already  # no needless copy
    assert to_projected(ll, "EPSG:32634").crs.to_epsg() == 32634  # explicit target
    assert to_projected(ll.geometry).crs.to_epsg() == 32635  # GeoSeries too


def test_to_projected_errors_name_the_input() -> None:
    with pytest.raises(CRSError, match="`demand` has no CRS"):
        to_projected(gpd.GeoDataFrame(geometry=[Point(0, 0)]), name="demand")
    ll = gpd.GeoDataFrame(geometry=[Point(24.94, 60.17)], crs="EPSG:4326")
    with pytest.raises(CRSError, match="must be a projected CRS"):
        to_projected(ll, "EPSG:4326")
    with pytest.raises(CRSError, match="not a valid CRS"):
        to_projected(ll, "EPSG:0")
    with pytest.raises(InputError, match="got list"):
        to_projected([Point(0, 0)], name="sites")


# --- GCJ-02 -----------------------------------------------------------------------------------


def test_gcj02_offset_in_hohhot_matches_source_md() -> None:
    # SOURCE.md (inner-mongolia-admin-boundaries): ~570 m east / ~140 m north in Hohhot
    lon, lat = 111.6708, 40.8183
    glon, glat = wgs84_to_gcj02(lon, lat)
    east = _metres(lon, lat, glon, lat) * np.sign(glon - lon)
    north = _metres(lon, lat, lon, glat) * np.sign(glat - lat)
    assert east == pytest.approx(570, abs=30)
    assert north == pytest.approx(140, abs=25)


def test_gcj02_round_trip_is_below_a_metre_across_china() -> None:
    rng = np.random.default_rng(1)
    lon = rng.uniform(75, 134, 5000)
    lat = rng.uniform(18, 53, 5000)
    glon, glat = wgs84_to_gcj02(lon, lat)
    offset = _metres(lon, lat, glon, glat)
    assert np.median(offset) > 200 and offset.max() < 1000  # the obfuscation moves points
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert _metres(lon, lat, wlon, wlat).max() < 0.01
    back = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))  # the other way round
    assert _metres(lon, lat, *back).max() < 0.01
    assert wlon.shape == lon.shape


def test_gcj02_outside_china_nan_and_shapes() -> None:
    lon = np.array([2.35, 139.69, -46.6, np.nan])  # Paris, Tokyo, São Paulo, missing
    lat = np.array([48.85, 35.69, -23.5, 40.0])
    for f in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = f(lon, lat)
        np.testing.assert_array_equal(out_lon[:3], lon[:3])
        np.testing.assert_array_equal(out_lat[:3], lat[:3])
        assert np.isnan(out_lon[3])
    grid_lon, grid_lat = wgs84_to_gcj02(np.full((2, 3), 111.7), np.full((2, 3), 40.8))
    assert grid_lon.shape == (2, 3) and grid_lat.shape == (2, 3)
    scalar = wgs84_to_gcj02(111.7, 40.8)
    assert float(scalar[0]) == pytest.approx(float(grid_lon[0, 0]))
    with pytest.raises(InputError, match="same shape"):
        wgs84_to_gcj02(np.zeros(3), np.zeros(4))
