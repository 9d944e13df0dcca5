"""Demand from population rasters and vector files: hand-made cases, errors and real data."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import Point, Polygon, box

from geodata.population import (
    demand_from_array,
    load_population,
    load_population_raster,
    load_population_vector,
    spread_population,
)
from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

UTM = "EPSG:32649"
T = Affine(100, 0, 500_000, 0, -100, 4_520_000)  # 100 m cells, top-left corner (500000, 4520000)

WUHAN = ("wuhan-worldpop-age-structure-100m", "wuhan_pop_age20plus_worldpop_100m.tif")


def _write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = UTM,
    nodata: float | None = -99999,
    dtype: str = "float32",
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=dtype,
        crs=crs,
        transform=T,
        nodata=nodata,
    ) as dst:
        dst.write(data.astype(dtype), 1)
    return path


def _columns_ok(demand: gpd.GeoDataFrame) -> None:
    assert list(demand.columns) == ["demand_id", "population", "geometry"]
    assert demand["population"].dtype == np.float64 and (demand["population"] > 0).all()
    assert all(isinstance(i, str) for i in demand["demand_id"])
    assert demand["demand_id"].is_unique
    assert (demand.geometry.geom_type == "Point").all()


# --- rasters: hand-made -----------------------------------------------------------------------


def test_raster_drops_nodata_nan_negative_and_zero_cells(tmp_path: Path) -> None:
    data = np.array([[10, -99999, np.nan], [-5, 0, 2.5]])
    demand = load_population(_write_tif(tmp_path / "p.tif", data))
    _columns_ok(demand)
    assert demand["population"].tolist() == [10.0, 2.5]
    assert demand["demand_id"].tolist() == ["r0c0", "r1c2"]
    # cell centres: (x0 + 50, y0 - 50) for r0c0, (x0 + 250, y0 - 150) for r1c2
    assert demand.geometry.iloc[0].coords[0] == (500_050, 4_519_950)
    assert demand.geometry.iloc[1].coords[0] == (500_250, 4_519_850)
    assert demand.crs.to_epsg() == 32649


def test_raster_positive_nodata_value_is_dropped(tmp_path: Path) -> None:
    # integer rasters often use the type's maximum as nodata: it must not become 65535 persons
    data = np.array([[65535, 7], [3, 65535]])
    demand = load_population(_write_tif(tmp_path / "u16.tif", data, nodata=65535, dtype="uint16"))
    assert demand["population"].tolist() == [7.0, 3.0]
    assert demand["demand_id"].tolist() == ["r0c1", "r1c0"]


def test_raster_without_nodata_keeps_positive_cells_and_band_choice(tmp_path: Path) -> None:
    path = tmp_path / "two.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=2, width=2, count=2, dtype="float32", crs=UTM, transform=T
    ) as dst:
        dst.write(np.array([[1, 2], [3, 4]], dtype="float32"), 1)
        dst.write(np.array([[0, 0], [0, 9]], dtype="float32"), 2)
    assert load_population(path)["population"].sum() == 10.0
    assert load_population(path, band=2)["demand_id"].tolist() == ["r1c1"]
    with pytest.raises(InputError, match=r"`band` must be in 1..2 for .*two.tif', got 3"):
        load_population(path, band=3)


def test_demand_from_array_matches_numpy_on_random_data() -> None:
    rng = np.random.default_rng(3)
    arr = rng.normal(2, 3, (60, 80))  # about a quarter negative
    arr[rng.random(arr.shape) < 0.1] = np.nan
    arr[5, 7] = -1
    demand = demand_from_array(arr, T, UTM, nodata=-1)
    keep = np.isfinite(arr) & (arr > 0)
    assert len(demand) == int(keep.sum())
    assert demand["population"].sum() == pytest.approx(float(arr[keep].sum()), rel=1e-12)
    rows, cols = np.nonzero(keep)  # row-major order, as the ids
    assert demand["demand_id"].tolist() == [f"r{r}c{c}" for r, c in zip(rows, cols, strict=True)]
    np.testing.assert_allclose(demand.geometry.x, 500_000 + 100 * (cols + 0.5))
    np.testing.assert_allclose(demand.geometry.y, 4_520_000 - 100 * (rows + 0.5))


def test_demand_from_array_masked_array_and_odd_transform() -> None:
    arr = np.ma.masked_array([[5.0, 6.0], [7.0, 8.0]], mask=[[False, True], [False, False]])
    skew = Affine(10, 2, 1000, 1, -20, 5000)  # rotated / sheared grid
    demand = demand_from_array(arr, skew, UTM)
    assert demand["demand_id"].tolist() == ["r0c0", "r1c0", "r1c1"]
    x, y = skew @ (1.5, 1.5)  # the centre of r1c1
    assert demand.geometry.iloc[2].coords[0] == pytest.approx((x, y))


def test_demand_from_array_boundary_clip_by_cell_centre() -> None:
    data = np.ones((10, 10))
    t = Affine(100, 0, 0, 0, -100, 1000)
    top_left = box(0, 500, 300, 1000)  # the top-left 3 x 5 cells
    clipped = demand_from_array(data, t, UTM, boundary=top_left)
    assert len(clipped) == 15
    assert set(clipped["demand_id"]) == {f"r{r}c{c}" for r in range(5) for c in range(3)}
    # a triangle: a cell is kept iff its centre is inside (checked independently)
    tri = Polygon([(0, 0), (1000, 0), (0, 1000)])
    rows, cols = np.mgrid[0:10, 0:10]
    cx, cy = (cols + 0.5) * 100, 1000 - (rows + 0.5) * 100
    assert len(demand_from_array(data, t, UTM, boundary=tri)) == int((cx + cy < 1000).sum())
    # a GeoDataFrame boundary in another CRS is reprojected first
    ll = gpd.GeoDataFrame(geometry=[top_left], crs=UTM).to_crs("EPSG:4326")
    assert len(demand_from_array(data, t, UTM, boundary=ll)) == 15
    with pytest.raises(InputError, match="inside the boundary"):
        demand_from_array(data, t, UTM, boundary=box(5000, 5000, 6000, 6000))
    with pytest.raises(InputError, match="`boundary` must be a GeoDataFrame"):
        demand_from_array(data, t, UTM, boundary=[0, 0, 1, 1])
    with pytest.raises(CRSError, match="`boundary` has no CRS"):
        demand_from_array(data, t, UTM, boundary=gpd.GeoDataFrame(geometry=[top_left]))


def test_demand_from_array_bad_input() -> None:
    with pytest.raises(CRSError, match="has no CRS"):
        demand_from_array(np.ones((2, 2)), T, None)
    with pytest.raises(InputError, match=r"2-dimensional, got shape \(4,\)"):
        demand_from_array(np.ones(4), T, UTM)
    with pytest.raises(InputError, match=r"affine\.Affine"):
        demand_from_array(np.ones((2, 2)), (100, 0, 0, 0, -100, 0), UTM)
    with pytest.raises(InputError, match="no cell with population > 0"):
        demand_from_array(np.zeros((3, 3)), T, UTM)


def test_raster_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"missing\.tif"):
        load_population(tmp_path / "missing.tif")
    with pytest.raises(CRSError, match=r"nocrs.tif' has no CRS"):
        load_population(_write_tif(tmp_path / "nocrs.tif", np.ones((2, 2)), crs=None))
    with pytest.raises(InputError, match=r"empty.tif'.*no cell with population > 0"):
        load_population(_write_tif(tmp_path / "empty.tif", np.full((2, 2), -99999.0)))
    with pytest.raises(InputError, match="no cell with population > 0"):
        load_population(_write_tif(tmp_path / "nan.tif", np.full((2, 2), np.nan), nodata=None))
    fake = tmp_path / "fake.tif"
    fake.write_text("not a tiff", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match="not a readable raster"):
        load_population(fake)
    with pytest.raises(InputError, match=r"does not take \['population_column'\]"):
        load_population(_write_tif(tmp_path / "ok.tif", np.ones((2, 2))), population_column="p")


def test_unsupported_format_lists_the_suffixes(tmp_path: Path) -> None:
    odd = tmp_path / "pop.xyz"
    odd.write_text("1 2 3", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match=r"unsupported format '\.xyz'") as err:
        load_population(odd)
    for suffix in (".tif", ".tiff", ".geojson", ".json", ".gpkg", ".shp", ".csv", ".zip"):
        assert suffix in str(err.value)
    with pytest.raises(DataNotFoundError, match=r"nothere\.xyz"):  # a missing file says so first
        load_population(tmp_path / "nothere.xyz")


# --- vectors: hand-made -----------------------------------------------------------------------


def _cells() -> gpd.GeoDataFrame:
    """Three 100 m squares and an L-shaped polygon (its centroid lies outside it)."""
    ell = Polygon([(0, 0), (300, 0), (300, 100), (100, 100), (100, 300), (0, 300)])
    return gpd.GeoDataFrame(
        {"code": ["a", "b", "c", "L"], "population": [10, 0, 5.5, 40]},
        geometry=[box(1000, 0, 1100, 100), box(1100, 0, 1200, 100), box(1200, 0, 1300, 100), ell],
        crs=UTM,
    )


def test_vector_polygons_become_points_inside_them(tmp_path: Path) -> None:
    cells = _cells()
    assert not cells.geometry.iloc[3].contains(cells.geometry.iloc[3].centroid)
    path = tmp_path / "cells.gpkg"
    cells.to_file(path, layer="grid")
    demand = load_population(path, id_column="code")
    _columns_ok(demand)
    assert demand["demand_id"].tolist() == ["a", "c", "L"]  # the 0-population row is dropped
    assert demand["population"].tolist() == [10.0, 5.5, 40.0]
    polygons = cells.geometry.to_numpy()[[0, 2, 3]]
    assert shapely.contains(polygons, demand.geometry.to_numpy()).all()
    assert demand.crs.to_epsg() == 32649
    # default ids are the 0-based row in the file
    assert load_population(path, layer="grid")["demand_id"].tolist() == ["d0", "d2", "d3"]


def test_vector_formats_agree(tmp_path: Path) -> None:
    cells = _cells()
    cells.to_file(tmp_path / "cells.geojson")
    cells.to_file(tmp_path / "cells.shp")
    cells.to_file(tmp_path / "cells.gpkg")
    with zipfile.ZipFile(tmp_path / "cells.gpkg.zip", "w") as zf:
        zf.write(tmp_path / "cells.gpkg", "cells.gpkg")
    pts = cells.assign(geometry=cells.representative_point())
    pd.DataFrame(
        {
            "code": cells["code"],
            "population": cells["population"],
            "x": pts.geometry.x,
            "y": pts.geometry.y,
        }
    ).to_csv(tmp_path / "cells.csv", index=False)
    reference = load_population(tmp_path / "cells.gpkg", id_column="code")
    sources = [
        (tmp_path / "cells.geojson", {}),
        (tmp_path / "cells.shp", {}),
        (tmp_path / "cells.gpkg.zip", {}),
        (f"zip://{tmp_path / 'cells.gpkg.zip'}", {}),
        (tmp_path / "cells.csv", {"crs": UTM}),
    ]
    for path, extra in sources:
        demand = load_population(path, id_column="code", **extra)
        assert demand["demand_id"].tolist() == ["a", "c", "L"], path
        assert demand["population"].tolist() == [10.0, 5.5, 40.0], path
        assert demand.crs.to_epsg() == 32649, path
        assert demand.geom_equals_exact(reference, tolerance=1e-3).all(), path


def test_vector_crs_rules(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("x,y,population\n111.7,40.8,10\n", encoding="utf-8")
    with pytest.raises(CRSError, match=r"p.csv' has no CRS: pass crs="):
        load_population(csv)
    assert load_population(csv, crs="EPSG:4326")["population"].tolist() == [10.0]
    with pytest.raises(CRSError, match="not a valid CRS"):
        load_population(csv, crs="EPSG:bogus")
    # a shapefile without .prj has no CRS: crs= is required, and then used
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        _cells().set_crs(None, allow_override=True).to_file(tmp_path / "noprj.shp")
    assert not (tmp_path / "noprj.prj").exists()
    with pytest.raises(CRSError, match=r"noprj.shp' has no CRS; pass crs="):
        load_population(tmp_path / "noprj.shp")
    assert load_population(tmp_path / "noprj.shp", crs=UTM).crs.to_epsg() == 32649
    # a file that declares its CRS keeps it: crs= only fills a missing one
    _cells().to_file(tmp_path / "declared.gpkg")
    assert load_population(tmp_path / "declared.gpkg", crs="EPSG:32650").crs.to_epsg() == 32649


def test_vector_bad_population_values_are_errors(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text("x,y,pop,name\n500001,4500002,10,a\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no column 'population' \(columns: \['x', 'y', 'pop'"):
        load_population(csv, crs=UTM)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "x,y,population\n500001,4500002,5\n500003,4500004,-3\n500005,4500006,\n500007,4500008,many\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"must be a number >= 0, got '-3' on row 1 \(3 bad rows"):
        load_population(bad, crs=UTM)
    nan = tmp_path / "nan.csv"
    nan.write_text("x,y,population\n500001,4500002,5\n500003,4500004,\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"got nan on row 1 \(1 bad rows"):
        load_population(nan, crs=UTM)
    coords = tmp_path / "coords.csv"
    coords.write_text("lon,lat,population\n500001,4500002,5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no coordinate column 'x' .*pass x_column="):
        load_population(coords, crs=UTM)
    zeros = tmp_path / "zeros.csv"
    zeros.write_text("x,y,population\n500001,4500002,0\n500003,4500004,0\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"zeros.csv' has no cell with population > 0"):
        load_population(zeros, crs=UTM)
    empty = tmp_path / "empty.geojson"
    gpd.GeoDataFrame({"population": []}, geometry=[], crs="EPSG:4326").to_file(empty)
    with pytest.raises(InputError, match="no cell with population > 0"):
        load_population(empty)
    dup = tmp_path / "dup.csv"
    dup.write_text("id,x,y,population\nA,500001,4500002,5\nA,500003,4500004,6\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"must be unique, 1 are repeated \(e.g. \['A'\]\)"):
        load_population(dup, crs=UTM, id_column="id")
    with pytest.raises(InputError, match="no column 'code'"):
        load_population(dup, crs=UTM, id_column="code")


def test_vector_lines_and_missing_geometries_are_errors(tmp_path: Path) -> None:
    lines = gpd.GeoDataFrame(
        {"population": [5]},
        geometry=[shapely.LineString([(500_000, 4_500_000), (500_001, 4_500_001)])],
        crs=UTM,
    )
    lines.to_file(tmp_path / "lines.gpkg")
    with pytest.raises(InputError, match=r"must hold points or polygons, got \['LineString'\]"):
        load_population(tmp_path / "lines.gpkg")
    holes = gpd.GeoDataFrame(
        {"population": [5, 6]}, geometry=[Point(500_000, 4_500_000), None], crs=UTM
    )
    holes.to_file(tmp_path / "holes.gpkg")
    with pytest.raises(InputError, match=r"1 rows have no geometry \(first rows: \[1\]\)"):
        load_population(tmp_path / "holes.gpkg")


def test_vector_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"nope\.gpkg"):
        load_population_vector(tmp_path / "nope.gpkg")
    with pytest.raises(DataNotFoundError, match=r"nope\.zip"):
        load_population(f"zip://{tmp_path / 'nope.zip'}")
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(UnsupportedFormatError, match="not a readable vector file"):
        load_population(junk)


# --- real data --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wuhan(data_dir: Path) -> tuple[Path, np.ndarray, Affine, float]:
    path = data_dir.joinpath(*WUHAN)
    with rasterio.open(path) as src:
        return path, src.read(1), src.transform, src.nodata


def test_wuhan_raster_totals(wuhan: tuple[Path, np.ndarray, Affine, float]) -> None:
    path, arr, _, nodata = wuhan
    assert nodata == -99999 and arr.shape == (1668, 1662)
    demand = load_population_raster(path)
    _columns_ok(demand)
    assert demand["population"].sum() == pytest.approx(9_491_334, abs=0.5)  # SOURCE.md
    keep = (arr != nodata) & (arr > 0)
    assert len(demand) == int(keep.sum())
    assert demand.crs.to_epsg() == 4326
    assert demand["population"].max() == pytest.approx(179.9, abs=0.05)  # SOURCE.md max pixel


def test_wuhan_raster_clip_matches_numpy(wuhan: tuple[Path, np.ndarray, Affine, float]) -> None:
    path, arr, t, nodata = wuhan
    rows, cols = np.mgrid[0 : arr.shape[0], 0 : arr.shape[1]]
    cx, cy = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    valid = (arr != nodata) & (arr > 0)
    # Optics Valley box (the paired road network's extent)
    x0, y0, x1, y1 = 114.499, 30.4895, 114.522, 30.4996
    clip = gpd.GeoDataFrame(geometry=[box(x0, y0, x1, y1)], crs="EPSG:4326")
    small = load_population(path, boundary=clip)
    inside = valid & (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)
    assert len(small) == int(inside.sum()) > 300
    assert small["population"].sum() == pytest.approx(arr[inside].sum(dtype=np.float64), rel=1e-12)
    assert 7_500 < small["population"].sum() < 9_000  # SOURCE.md: ~8,061 persons aged 20+
    r, c = np.nonzero(inside)
    assert set(small["demand_id"]) == {f"r{i}c{j}" for i, j in zip(r, c, strict=True)}
    # a triangle given in UTM 50N, checked with half-planes in lon/lat (edges are short enough
    # for the projection's curvature to be far below a cell)
    tri_ll = np.array([[114.25, 30.55], [114.35, 30.55], [114.25, 30.65]])
    tri = gpd.GeoDataFrame(geometry=[Polygon(tri_ll)], crs="EPSG:4326").to_crs("EPSG:32650")
    part = load_population(path, boundary=tri)
    in_tri = valid & (cx > 114.25) & (cy > 30.55) & ((cx - 114.25) + (cy - 30.55) < 0.1)
    assert abs(len(part) - int(in_tri.sum())) <= 3  # cells whose centre is on the curved edge
    assert part["population"].sum() == pytest.approx(arr[in_tri].sum(dtype=np.float64), rel=2e-3)


def test_sao_paulo_hexgrid_csv_and_zipped_gpkg(data_dir: Path) -> None:
    folder = data_dir / "osm-sao-paulo-r5py-sample"
    csv = load_population(
        folder / "spo_hexgrid.csv", x_column="lon", y_column="lat", crs="EPSG:4326", id_column="id"
    )
    _columns_ok(csv)
    assert len(csv) == 319 and csv["population"].sum() == 517_570  # SOURCE.md
    assert csv["demand_id"].str.len().eq(15).all()  # H3 resolution-9 ids
    hexes = load_population(folder / "spo_hexgrid_EPSG32723.gpkg.zip", id_column="id")
    assert len(hexes) == 319 and hexes["population"].sum() == 517_570
    assert hexes.crs.to_epsg() == 32723
    # the polygons' inside points lie within ~one hex radius (≈200 m) of the CSV centroids
    merged = hexes.merge(csv.to_crs("EPSG:32723"), on="demand_id", suffixes=("", "_csv"))
    assert len(merged) == 319 and (merged["population"] == merged["population_csv"]).all()
    gap = merged.geometry.distance(gpd.GeoSeries(merged["geometry_csv"], crs="EPSG:32723"))
    assert gap.max() < 200


def test_helsinki_population_grid(data_dir: Path) -> None:
    path = data_dir / "osm-helsinki-pyrosm-hsy" / "helsinki_population_grid_2020.gpkg"
    demand = load_population(path, id_column="id", layer="population_grid_2020")
    _columns_ok(demand)
    assert len(demand) == 92 and demand.crs.to_epsg() == 4326  # SOURCE.md: 92 cells, all > 0
    grid = gpd.read_file(path)
    assert demand["population"].sum() == grid["population"].sum() == 71_724
    assert shapely.contains(grid.geometry.to_numpy(), demand.geometry.to_numpy()).all()


def test_beijing_population_from_the_csv(data_dir: Path) -> None:
    folder = data_dir / "beijing-subdistrict-worldpop"
    demand = load_population(
        folder / "beijing_subdistrict_population.csv",
        x_column="centroid_lon",
        y_column="centroid_lat",
        population_column="worldpop_population",
        id_column="row",
        crs="EPSG:4326",
    )
    assert len(demand) == 331
    assert demand["population"].sum() == 20_755_648  # SOURCE.md
    npy = np.load(folder / "worldpop.npy", allow_pickle=False)
    np.testing.assert_array_equal(demand["population"].to_numpy(), npy[:, 0])


def test_spread_population_over_polygon_area(tmp_path: Path) -> None:
    # a 1 km x 500 m rectangle (12,000 residents) on a 250 m grid: 4 x 2 cells of 1,500 each;
    # an L-shaped polygon's parts weigh by area; a point stays a point
    rect = box(500_000, 4_500_000, 501_000, 4_500_500)
    ell = Polygon(
        [(502_000, 4_500_000), (502_500, 4_500_000), (502_500, 4_500_250),
         (502_250, 4_500_250), (502_250, 4_500_500), (502_000, 4_500_500)]
    )  # fmt: skip
    areas = gpd.GeoDataFrame(
        {"demand_id": ["r", "l", "p"], "population": [12_000.0, 3_000.0, 7.0]},
        geometry=[rect, ell, Point(503_000, 4_500_000)],
        crs=UTM,
    )
    out = spread_population(areas, spacing=250.0)
    r = out[out["area_id"] == "r"]
    assert len(r) == 8 and r["population"].tolist() == pytest.approx([1_500.0] * 8)
    assert shapely.contains(rect, r.geometry.to_numpy()).all()  # inside, never a centroid
    ell_pts = out[out["area_id"] == "l"]
    assert len(ell_pts) == 3 and ell_pts["population"].sum() == pytest.approx(3_000.0)
    assert out.loc[out["area_id"] == "p", "demand_id"].tolist() == ["p"]
    assert out["demand_id"].is_unique and out.crs == areas.crs
    # a large polygon is capped at max_points cells (coarser grid), its sum kept
    coarse = spread_population(areas.iloc[:1], spacing=10.0, max_points=50)
    assert 40 <= len(coarse) <= 80 and coarse["population"].sum() == pytest.approx(12_000.0)
    with pytest.raises(InputError, match="`spacing` must be a number of metres > 0"):
        spread_population(areas, spacing=0)
    # the loader spreads polygons when asked (siting plan --polygon-spacing)
    path = tmp_path / "areas.geojson"
    areas.to_crs("EPSG:4326").to_file(path)
    one_each = load_population_vector(path)
    spread = load_population_vector(path, polygon_spacing=250.0)
    assert len(one_each) == 3 and len(spread) == 8 + 3 + 1
    assert spread["population"].sum() == pytest.approx(15_007.0)
