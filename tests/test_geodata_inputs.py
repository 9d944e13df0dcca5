"""Population, boundaries, GCJ-02 and candidate sites: real data and hand-made cases."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import Point, box

from geodata.boundaries import assign_units, load_boundaries
from geodata.candidates import combine_sites, load_sites, sites_from_points
from geodata.chinacoords import gcj02_to_wgs84, wgs84_to_gcj02
from geodata.crs import local_utm_crs, utm_crs_for
from geodata.population import demand_from_array, load_population
from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

UTM = "EPSG:32649"


def _write_tif(
    path: Path, data: np.ndarray, *, crs: str | None = UTM, nodata: float | None = -99999
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=Affine(100, 0, 500_000, 0, -100, 4_520_000),
        nodata=nodata,
    ) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def test_raster_nodata_nan_negative_and_zero_cells_are_dropped(tmp_path: Path) -> None:
    data = np.array([[10, -99999, np.nan], [-5, 0, 2.5]])
    demand = load_population(_write_tif(tmp_path / "p.tif", data))
    assert demand["population"].tolist() == [10.0, 2.5]
    assert demand["demand_id"].tolist() == ["r0c0", "r1c2"]
    # cell centres: x0 + 50, y0 - 50 for r0c0
    assert (demand.geometry.x.iloc[0], demand.geometry.y.iloc[0]) == (500_050, 4_519_950)


def test_raster_clip_by_boundary() -> None:
    data = np.ones((10, 10))
    t = Affine(100, 0, 0, 0, -100, 1000)
    clip = box(0, 500, 300, 1000)  # the top-left 3 x 5 cells
    assert len(demand_from_array(data, t, UTM, boundary=clip)) == 15


def test_raster_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"missing\.tif"):
        load_population(tmp_path / "missing.tif")
    with pytest.raises(CRSError, match="has no CRS"):
        load_population(_write_tif(tmp_path / "nocrs.tif", np.ones((2, 2)), crs=None))
    with pytest.raises(InputError, match="no cell with population > 0"):
        load_population(_write_tif(tmp_path / "empty.tif", np.full((2, 2), -99999.0)))
    odd = tmp_path / "pop.xyz"
    odd.write_text("1 2 3", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match=r"unsupported format '\.xyz'"):
        load_population(odd)


def test_vector_errors(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("x,y,population\n111.7,40.8,10\n", encoding="utf-8")
    with pytest.raises(CRSError, match="pass crs="):
        load_population(csv)
    assert load_population(csv, crs="EPSG:4326")["population"].tolist() == [10.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,population\n111.7,40.8,-3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"`population` must be a number >= 0, got -3"):
        load_population(bad, crs="EPSG:4326")
    with pytest.raises(InputError, match="no column 'pop'"):
        load_population(csv, crs="EPSG:4326", population_column="pop")


@pytest.mark.slow
def test_wuhan_worldpop_raster(data_dir: Path) -> None:
    path = data_dir / "wuhan-worldpop-age-structure-100m" / "wuhan_pop_age20plus_worldpop_100m.tif"
    demand = load_population(path)
    assert demand["population"].sum() == pytest.approx(9_491_334, abs=1)
    with rasterio.open(path) as src:
        arr = src.read(1)
        expected = int(((arr != src.nodata) & (arr > 0)).sum())
    assert len(demand) == expected
    # clip to the Optics Valley box (cells whose centre is inside), checked with plain numpy
    x0, y0, x1, y1 = 114.49904, 30.48950, 114.52188, 30.49955
    clip = gpd.GeoDataFrame(geometry=[box(x0, y0, x1, y1)], crs="EPSG:4326")
    small = load_population(path, boundary=clip)
    with rasterio.open(path) as src:
        t = src.transform
        rows, cols = np.mgrid[0 : src.height, 0 : src.width]
        cx, cy = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
        inside = (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1) & (arr != src.nodata) & (arr > 0)
    assert len(small) == int(inside.sum())
    assert small["population"].sum() == pytest.approx(float(arr[inside].sum()), rel=1e-6)
    assert 7_500 < small["population"].sum() < 8_700  # SOURCE.md: ~8,061 persons aged 20+


def test_sao_paulo_and_helsinki_vectors(data_dir: Path) -> None:
    sp_csv = data_dir / "osm-sao-paulo-r5py-sample" / "spo_hexgrid.csv"
    demand = load_population(
        sp_csv, x_column="lon", y_column="lat", crs="EPSG:4326", id_column="id"
    )
    assert len(demand) == 319 and demand["population"].sum() == 517_570
    hel = load_population(
        data_dir / "osm-helsinki-pyrosm-hsy" / "helsinki_population_grid_2020.gpkg"
    )
    assert len(hel) <= 92 and hel.crs.to_epsg() == 4326
    zipped = load_population(
        data_dir / "osm-sao-paulo-r5py-sample" / "spo_hexgrid_EPSG32723.gpkg.zip", id_column="id"
    )
    assert zipped["population"].sum() == 517_570 and zipped.crs.to_epsg() == 32723


def test_gcj02_round_trip_and_known_offset() -> None:
    lon, lat = np.array([111.7519]), np.array([40.8414])  # Hohhot
    glon, glat = wgs84_to_gcj02(lon, lat)
    east = (glon - lon)[0] * 111_320 * np.cos(np.radians(40.84))
    north = (glat - lat)[0] * 110_540
    assert 450 < east < 700 and 50 < north < 250  # SOURCE.md: ~570 m east, ~140 m north
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert abs(back_lon - lon)[0] * 111_320 < 1.0 and abs(back_lat - lat)[0] * 110_540 < 1.0
    out = wgs84_to_gcj02(np.array([2.35]), np.array([48.85]))  # Paris: no offset
    assert out[0][0] == 2.35 and out[1][0] == 48.85


@pytest.mark.slow
def test_inner_mongolia_counties_gcj02_to_wgs84(data_dir: Path) -> None:
    folder = data_dir / "inner-mongolia-admin-boundaries"
    units = load_boundaries(folder / "inner_mongolia_county_amap.geojson", coords="gcj02")
    ref = gpd.read_file(folder / "inner_mongolia_county_amap_wgs84.geojson")
    assert len(units) == 103
    assert "康巴什区" in set(units["name"]) and "乌拉特中旗" in set(units["name"])
    for k in (0, 50, 102):
        a = shapely.get_coordinates(units.geometry.iloc[k])
        b = shapely.get_coordinates(ref.geometry.iloc[k])
        assert len(a) == len(b)
        assert np.abs(a - b).max() * 111_000 < 2.0  # metres


def test_beijing_subdistricts_load_with_chinese_names(data_dir: Path) -> None:
    units = load_boundaries(
        data_dir / "beijing-subdistrict-worldpop" / "beijing.shp", name_column="乡"
    )
    assert len(units) == 331 and units["name"].iloc[0] == "建外街道"
    pts = gpd.GeoDataFrame(geometry=units.geometry.representative_point(), crs=units.crs)
    assert (assign_units(pts, units) == np.arange(331)).all()


def test_assign_units_outside_is_minus_one() -> None:
    units = gpd.GeoDataFrame({"unit_id": ["a"], "name": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=UTM)
    pts = gpd.GeoDataFrame(geometry=[Point(0.5, 0.5), Point(5, 5)], crs=UTM)
    assert assign_units(pts, units).tolist() == [0, -1]


def test_utm_zone() -> None:
    assert utm_crs_for(111.7, 40.8).to_epsg() == 32649
    assert utm_crs_for(-46.6, -23.5).to_epsg() == 32723
    pts = gpd.GeoSeries([Point(24.94, 60.17)], crs="EPSG:4326")
    assert local_utm_crs(pts).to_epsg() == 32635


def test_sites_thinning_and_combining(tmp_path: Path) -> None:
    xs = np.array([0.0, 50.0, 120.0, 300.0, 310.0]) + 500_000
    ys = np.zeros(5) + 4_500_000
    sites = sites_from_points(xs, ys, UTM, spacing=100.0)
    kept = sites.geometry.x.to_numpy() - 500_000
    assert np.all(np.diff(np.sort(kept)) >= 100.0)
    assert len(sites) == 3
    path = tmp_path / "clinics.geojson"
    gpd.GeoDataFrame(
        {"id": ["A", "B"], "name": ["一", "二"]},
        geometry=[Point(111.7, 40.8), Point(111.71, 40.8)],
        crs="EPSG:4326",
    ).to_file(path)
    existing = load_sites(path, existing=True)
    assert existing["site_id"].tolist() == ["A", "B"] and existing["existing"].all()
    both = combine_sites(existing, sites)
    assert both["existing"].tolist() == [True, True, False, False, False]
    with pytest.raises(InputError, match="unique across existing and candidate"):
        combine_sites(existing, existing)
