"""Candidate and existing sites: files, greedy thinning of points, population, combining."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Geod
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point, Polygon, box

from geodata.candidates import (
    combine_sites,
    load_sites,
    sites_from_points,
    sites_from_population,
    thin_points,
)
from geodata.population import demand_from_array, load_population
from siting_errors import CRSError, DataNotFoundError, InputError

UTM = "EPSG:32649"
GEOD = Geod(ellps="WGS84")


def _columns_ok(sites: gpd.GeoDataFrame) -> None:
    assert list(sites.columns) == ["site_id", "name", "existing", "geometry"]
    assert sites["site_id"].is_unique
    assert all(isinstance(v, str) for v in sites["site_id"])
    assert all(isinstance(v, str) for v in sites["name"])
    assert sites["existing"].dtype == bool
    assert (sites.geom_type == "Point").all()


def _greedy_reference(xy: np.ndarray, spacing: float) -> list[int]:
    """The textbook O(n * kept) greedy thinning, as an independent check."""
    kept: list[int] = []
    for k, p in enumerate(xy):
        if not kept or np.hypot(*(xy[kept] - p).T).min() >= spacing:
            kept.append(k)
    return kept


# --- thinning ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "spacing", "seed"), [(400, 50.0, 0), (1500, 8.0, 1), (200, 400.0, 2)]
)
def test_thin_points_is_exactly_the_greedy_order(n: int, spacing: float, seed: int) -> None:
    xy = np.random.default_rng(seed).random((n, 2)) * 1000
    assert thin_points(xy, spacing).tolist() == _greedy_reference(xy, spacing)


def test_thin_points_hand_case_and_properties() -> None:
    xy = np.array([[0, 0], [50, 0], [120, 0], [300, 0], [310, 0], [100, 0.0]])
    # 50 is too close to 0; 120 is 120 from 0 -> kept; 310 too close to 300; 100 too close to 120
    assert thin_points(xy, 100.0).tolist() == [0, 2, 3]
    assert thin_points(xy, 100.0000001).tolist() == [0, 2, 3]
    assert thin_points(np.array([[0, 0], [100.0, 0]]), 100.0).tolist() == [0, 1]  # >= kept
    assert thin_points(np.zeros((0, 2)), 10.0).tolist() == []
    # on a dense cloud: pairwise >= spacing, and every point within spacing of a kept one
    xy = np.random.default_rng(3).normal(0, 2000, (100_000, 2))
    kept = thin_points(xy, 250.0)
    tree = cKDTree(xy[kept])
    assert tree.query(xy[kept], k=2)[0][:, 1].min() >= 250.0
    assert tree.query(xy)[0].max() < 250.0
    assert 400 < len(kept) < 2000


def test_thin_points_bad_input() -> None:
    with pytest.raises(InputError, match=r"\(n, 2\) array"):
        thin_points(np.zeros(5), 10.0)
    with pytest.raises(InputError, match="`spacing` must be a finite number > 0"):
        thin_points(np.zeros((2, 2)), 0)
    with pytest.raises(InputError, match="1 points are not"):
        thin_points(np.array([[0, 0], [np.nan, 1]]), 10.0)


def test_sites_from_points_measures_true_metres_in_any_crs() -> None:
    # points every 0.001° of longitude along 60°N: 55.5 m apart on the ground
    lon = 24.9 + 0.001 * np.arange(21)
    lat = np.full(21, 60.17)
    step = GEOD.inv(lon[0], lat[0], lon[1], lat[1])[2]
    assert step == pytest.approx(55.5, abs=0.1)
    sites = sites_from_points(lon, lat, "EPSG:4326", spacing=100.0)
    _columns_ok(sites)
    # every second point is kept (111 m apart), in the input CRS, with ids C0, C1, ...
    np.testing.assert_allclose(sites.geometry.x, lon[::2])
    assert sites["site_id"].tolist() == [f"C{k}" for k in range(11)]
    assert sites.crs.to_epsg() == 4326 and not sites["existing"].any()
    assert (sites["name"] == "").all()
    # the same points in Web Mercator (where they look 111 m apart) give the same sites
    merc = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs("EPSG:3857")
    msites = sites_from_points(merc.x, merc.y, "EPSG:3857", spacing=100.0, prefix="N")
    assert len(msites) == 11 and msites["site_id"].iloc[-1] == "N10"
    assert msites.crs.to_epsg() == 3857
    np.testing.assert_allclose(msites.to_crs("EPSG:4326").geometry.x, lon[::2])


def test_sites_from_points_on_a_road_like_cloud() -> None:
    rng = np.random.default_rng(6)
    x = 500_000 + rng.uniform(0, 10_000, 20_000)
    y = 4_500_000 + rng.uniform(0, 10_000, 20_000)
    sites = sites_from_points(x, y, UTM, spacing=500.0)
    xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    assert cKDTree(xy).query(xy, k=2)[0][:, 1].min() >= 499.9  # UTM zone = the data's zone
    assert cKDTree(xy).query(np.column_stack([x, y]))[0].max() < 500.1
    assert sites.geometry.iloc[0].coords[0] == (x[0], y[0])  # the first point is always kept


def test_sites_from_points_bad_input() -> None:
    with pytest.raises(InputError, match="same length, got 3 and 2"):
        sites_from_points([1, 2, 3], [1, 2], UTM, spacing=10)
    with pytest.raises(InputError, match="`x` is empty"):
        sites_from_points([], [], UTM, spacing=10)
    with pytest.raises(InputError, match=r"must be finite numbers, 1 points are not \(first \[1\]"):
        sites_from_points([500_000, np.nan], [4_500_000, 4_500_000], UTM, spacing=10)
    with pytest.raises(InputError, match="got -5"):
        sites_from_points([500_000], [4_500_000], UTM, spacing=-5)
    with pytest.raises(CRSError, match="no CRS"):
        sites_from_points([500_000], [4_500_000], None, spacing=10)


# --- from population --------------------------------------------------------------------------


def test_sites_from_population_densest_first() -> None:
    #   100 m cells; populations on one row: 5 9 0 7 7 1
    grid = np.array([[5, 9, 0, 7, 7, 1.0]])
    demand = demand_from_array(grid, Affine(100, 0, 500_000, 0, -100, 4_520_000), UTM)
    sites = sites_from_population(demand, min_population=0, spacing=150.0)
    _columns_ok(sites)
    # 9 (c1) first; 7 (c3) is 200 m away -> kept; 7 (c4) is 100 m from c3 -> dropped;
    # 5 (c0) is 100 m from c1 -> dropped; 1 (c5) is 200 m from c3 -> kept
    assert sites["site_id"].tolist() == ["Cr0c1", "Cr0c3", "Cr0c5"]
    assert sites.crs.to_epsg() == 32649
    above = sites_from_population(demand, min_population=6, spacing=150.0, prefix="P")
    assert above["site_id"].tolist() == ["Pr0c1", "Pr0c3"]
    with pytest.raises(InputError, match=r"population >= 100 \(largest: 9\)"):
        sites_from_population(demand, min_population=100, spacing=150.0)
    with pytest.raises(InputError, match="no column 'population'"):
        sites_from_population(demand.drop(columns="population"), spacing=150.0)


def test_sites_from_population_on_sao_paulo(data_dir: Path) -> None:
    demand = load_population(
        data_dir / "osm-sao-paulo-r5py-sample" / "spo_hexgrid.csv",
        x_column="lon",
        y_column="lat",
        crs="EPSG:4326",
        id_column="id",
    )
    sites = sites_from_population(demand, min_population=500, spacing=600.0)
    _columns_ok(sites)
    densest = demand["demand_id"].iloc[int(demand["population"].to_numpy().argmax())]
    assert sites["site_id"].iloc[0] == "C" + densest
    proj = sites.to_crs("EPSG:32723")
    xy = np.column_stack([proj.geometry.x, proj.geometry.y])
    assert cKDTree(xy).query(xy, k=2)[0][:, 1].min() >= 600.0
    pops = demand.set_index("demand_id")["population"]
    chosen = pops.loc[[s[1:] for s in sites["site_id"]]].to_numpy()
    assert (chosen >= 500).all() and (np.diff(chosen) <= 0).all()  # densest first
    # every eligible cell is within 600 m of a site (the thinning is maximal)
    eligible = demand[demand["population"] >= 500].to_crs("EPSG:32723")
    gaps = cKDTree(xy).query(np.column_stack([eligible.geometry.x, eligible.geometry.y]))[0]
    assert gaps.max() < 600.0


# --- files ------------------------------------------------------------------------------------


def test_load_sites_geojson_with_chinese_names(tmp_path: Path) -> None:
    path = tmp_path / "clinics.geojson"
    gpd.GeoDataFrame(
        {"id": ["A", "B"], "name": ["海流图镇卫生院", None]},
        geometry=[Point(108.5, 41.6), Point(108.6, 41.6)],
        crs="EPSG:4326",
    ).to_file(path)
    existing = load_sites(path, existing=True)
    _columns_ok(existing)
    assert existing["site_id"].tolist() == ["A", "B"] and existing["existing"].all()
    assert existing["name"].tolist() == ["海流图镇卫生院", ""]
    assert not load_sites(path)["existing"].any()
    with pytest.raises(InputError, match=r"1 sites have no 'name' \(rows \[1\]\)"):
        load_sites(path, id_column="name")


def test_load_sites_csv_polygons_and_default_ids(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("lon,lat,label\n111.7,40.8,x\n111.8,40.9,y\n", encoding="utf-8")
    with pytest.raises(CRSError, match=r"s\.csv' has no CRS: pass crs="):
        load_sites(csv, x_column="lon", y_column="lat")
    sites = load_sites(csv, x_column="lon", y_column="lat", crs="EPSG:4326", name_column="label")
    assert sites["site_id"].tolist() == ["C0", "C1"] and sites["name"].tolist() == ["x", "y"]
    assert sites.geometry.iloc[1].coords[0] == (111.8, 40.9)
    assert load_sites(csv, x_column="lon", y_column="lat", crs="EPSG:4326", existing=True)[
        "site_id"
    ].tolist() == ["E0", "E1"]
    ell = Polygon([(0, 0), (300, 0), (300, 100), (100, 100), (100, 300), (0, 300)])
    shapes = gpd.GeoDataFrame(
        {"site_id": [7, 8, 9]},
        geometry=[ell, box(500, 0, 600, 100), LineString([(0, 0), (0, 9)])],
        crs=UTM,
    )
    shapes.to_file(tmp_path / "shapes.gpkg")
    sites = load_sites(tmp_path / "shapes.gpkg")
    assert sites["site_id"].tolist() == ["7", "8", "9"]
    assert ell.contains(sites.geometry.iloc[0]) and box(500, 0, 600, 100).contains(
        sites.geometry.iloc[1]
    )
    assert LineString([(0, 0), (0, 9)]).distance(sites.geometry.iloc[2]) < 1e-9
    assert sites.crs.to_epsg() == 32649


def test_load_sites_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"missing\.geojson"):
        load_sites(tmp_path / "missing.geojson")
    dup = tmp_path / "dup.csv"
    dup.write_text(  # UTM 49N metres (Hohhot)
        "id,x,y\n"
        + "".join(f"{c},{500_000 + i},{4_500_000 + i}\n" for i, c in enumerate("ABACCA")),
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"must be unique, 2 are repeated: \['A', 'C'\]"):
        load_sites(dup, crs=UTM)
    with pytest.raises(InputError, match=r"no column 'code' \(columns: \['id', 'x', 'y'\]\)"):
        load_sites(dup, crs=UTM, id_column="code")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,1\nfoo,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"must be numbers, 1 rows are not \(first rows: \[1\]\)"):
        load_sites(bad, crs=UTM)
    gpd.GeoDataFrame({"id": []}, geometry=[], crs=UTM).to_file(tmp_path / "none.gpkg")
    with pytest.raises(InputError, match="has no features"):
        load_sites(tmp_path / "none.gpkg")
    gpd.GeoDataFrame(
        {"id": ["a", "b"]}, geometry=[Point(500_001, 4_500_001), None], crs=UTM
    ).to_file(tmp_path / "hole.gpkg")
    with pytest.raises(InputError, match=r"1 sites have no geometry \(ids \['b'\]\)"):
        load_sites(tmp_path / "hole.gpkg")
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(500_001, 4_500_001)]).to_file(
            tmp_path / "n.shp"
        )
    with pytest.raises(CRSError, match=r"n\.shp' has no CRS; pass crs="):
        load_sites(tmp_path / "n.shp")
    assert load_sites(tmp_path / "n.shp", crs=UTM).crs.to_epsg() == 32649


def test_load_sites_sao_paulo_school_cells(data_dir: Path, tmp_path: Path) -> None:
    sites = load_sites(
        data_dir / "osm-sao-paulo-r5py-sample" / "spo_hexgrid.csv",
        x_column="lon",
        y_column="lat",
        crs="EPSG:4326",
        id_column="id",
    )
    _columns_ok(sites)
    assert len(sites) == 323  # SOURCE.md: 323 cells, ids unique
    hexes = load_sites(
        f"zip://{data_dir / 'osm-sao-paulo-r5py-sample'}/spo_hexgrid_EPSG32723.gpkg.zip",
        id_column="id",
    )
    assert hexes.crs.to_epsg() == 32723 and set(hexes["site_id"]) == set(sites["site_id"])


# --- combining --------------------------------------------------------------------------------


def test_combine_sites_existing_first_in_one_crs() -> None:
    existing = gpd.GeoDataFrame(
        {"site_id": ["H1", "H2"], "name": ["卫生院", "诊所"]},
        geometry=[Point(111.7, 40.8), Point(111.71, 40.8)],
        crs="EPSG:4326",
    )
    cands = sites_from_points(
        np.array([500_000.0, 501_000.0, 502_000.0]), np.full(3, 4_500_000.0), UTM, spacing=100.0
    )
    both = combine_sites(existing, cands)
    _columns_ok(both)
    assert both["site_id"].tolist() == ["H1", "H2", "C0", "C1", "C2"]
    assert both["existing"].tolist() == [True, True, False, False, False]
    assert both["name"].tolist() == ["卫生院", "诊所", "", "", ""]
    assert both.crs.to_epsg() == 4326
    back = both.iloc[2:].to_crs(UTM)
    np.testing.assert_allclose(back.geometry.x, [500_000, 501_000, 502_000], atol=1e-6)
    # flags come from the role, not from the input's own column; a missing name is ""
    relabelled = combine_sites(
        cands.assign(existing=False).drop(columns="name"),
        existing.to_crs(UTM).assign(existing=True),
    )
    assert relabelled["existing"].tolist() == [True, True, True, False, False]
    assert relabelled["name"].tolist()[:3] == ["", "", ""]


def test_combine_sites_errors() -> None:
    a = gpd.GeoDataFrame({"site_id": ["1", "2"]}, geometry=[Point(0, 0), Point(1, 1)], crs=UTM)
    b = gpd.GeoDataFrame({"site_id": [2, 3]}, geometry=[Point(5, 5), Point(6, 6)], crs=UTM)
    with pytest.raises(InputError, match=r"unique across existing and candidate.*: \['2'\]"):
        combine_sites(a, b)
    with pytest.raises(CRSError, match="`candidates` has no CRS"):
        combine_sites(a, gpd.GeoDataFrame({"site_id": ["9"]}, geometry=[Point(0, 0)]))
    with pytest.raises(InputError, match="`existing` has no column 'site_id'"):
        combine_sites(gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=UTM), a)
    assert shapely.get_x(combine_sites(a, b.assign(site_id=["7", "8"])).geometry).tolist() == [
        0,
        1,
        5,
        6,
    ]
