"""Admin-unit boundaries (load, GCJ-02 conversion, repair) and point-in-unit assignment."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon, box

from geodata.boundaries import assign_units, load_boundaries
from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

UTM = "EPSG:32649"
GEOD = Geod(ellps="WGS84")


def _columns_ok(units: gpd.GeoDataFrame) -> None:
    assert list(units.columns) == ["unit_id", "name", "geometry"]
    assert units.crs.to_epsg() == 4326
    assert units["unit_id"].is_unique
    assert all(isinstance(v, str) for v in units["unit_id"]) and all(
        isinstance(v, str) for v in units["name"]
    )
    assert set(units.geom_type) <= {"Polygon", "MultiPolygon"}
    assert units.is_valid.all()


# --- real data --------------------------------------------------------------------------------


def test_beijing_subdistricts_keep_chinese_names(data_dir: Path) -> None:
    shp = data_dir / "beijing-subdistrict-worldpop" / "beijing.shp"
    units = load_boundaries(shp)  # name picked from the 乡 column automatically
    _columns_ok(units)
    assert len(units) == 331  # SOURCE.md
    assert units["name"].iloc[0] == "建外街道" and units["name"].iloc[1] == "展览路街道"
    assert units["unit_id"].tolist()[:3] == ["U0", "U1", "U2"]  # no id column: row numbers
    assert units["name"].nunique() == 330  # SOURCE.md: 330 distinct township names
    csv = pd.read_csv(
        data_dir / "beijing-subdistrict-worldpop" / "beijing_subdistrict_population.csv"
    )
    assert units["name"].tolist() == csv["township"].tolist()  # same rows, same UTF-8 text
    counties = load_boundaries(shp, name_column="县")
    assert counties["name"].nunique() == 16 and "朝阳区" in set(counties["name"])
    minx, miny, maxx, maxy = units.total_bounds
    assert (minx, miny, maxx, maxy) == pytest.approx(
        (115.41685, 39.44145, 117.50811, 41.05924), abs=1e-5
    )


def test_beijing_centroids_fall_in_their_own_unit(data_dir: Path) -> None:
    folder = data_dir / "beijing-subdistrict-worldpop"
    units = load_boundaries(folder / "beijing.shp")
    csv = pd.read_csv(folder / "beijing_subdistrict_population.csv")
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(csv["centroid_lon"], csv["centroid_lat"]), crs="EPSG:4326"
    )
    got = assign_units(pts, units)
    # independent check: geopandas' spatial join (no point of this data lies on a border)
    joined = gpd.sjoin(pts, units, how="left", predicate="within")
    expected = joined.groupby(level=0)["index_right"].min().fillna(-1).astype(int).to_numpy()
    np.testing.assert_array_equal(got, expected)
    # concave units have their centroid in a neighbour: 313 of 331 land at home
    assert int((got == np.arange(331)).sum()) == 313 and (got >= 0).all()
    inner = gpd.GeoDataFrame(geometry=units.representative_point(), crs="EPSG:4326")
    np.testing.assert_array_equal(assign_units(inner, units), np.arange(331))


@pytest.fixture(scope="module")
def counties(data_dir: Path) -> gpd.GeoDataFrame:
    path = data_dir / "inner-mongolia-admin-boundaries" / "inner_mongolia_county_amap.geojson"
    return load_boundaries(path, coords="gcj02")


def test_inner_mongolia_counties_from_gcj02(counties: gpd.GeoDataFrame, data_dir: Path) -> None:
    folder = data_dir / "inner-mongolia-admin-boundaries"
    _columns_ok(counties)
    assert len(counties) == 103  # SOURCE.md
    names = dict(zip(counties["unit_id"], counties["name"], strict=True))
    assert names["150603"] == "康巴什区" and names["150824"] == "乌拉特中旗"
    assert names["150102"] == "新城区"
    # vertices agree with the WGS84 copy made by the data's curator (< 2 m)
    ref = load_boundaries(folder / "inner_mongolia_county_amap_wgs84.geojson")
    assert ref["unit_id"].tolist() == counties["unit_id"].tolist()
    a = shapely.get_coordinates(counties.geometry.to_numpy())
    b = shapely.get_coordinates(ref.geometry.to_numpy())
    assert len(a) == len(b)
    sample = np.random.default_rng(4).choice(len(a), 20_000, replace=False)
    gap = GEOD.inv(a[sample, 0], a[sample, 1], b[sample, 0], b[sample, 1])[2]
    assert np.max(gap) < 2.0
    # areas quoted in SOURCE.md (EPSG:6933)
    area = dict(zip(counties["unit_id"], counties.to_crs("EPSG:6933").area / 1e6, strict=True))
    assert area["150603"] == pytest.approx(359, rel=0.01)
    assert area["150824"] == pytest.approx(22_817, rel=0.01)
    assert sum(area.values()) == pytest.approx(1_144_693, rel=0.001)


def test_gcj02_conversion_moves_every_unit(counties: gpd.GeoDataFrame, data_dir: Path) -> None:
    path = data_dir / "inner-mongolia-admin-boundaries" / "inner_mongolia_county_amap.geojson"
    raw = load_boundaries(path)  # coords="wgs84": the file's coordinates are taken as they are
    assert raw["unit_id"].tolist() == counties["unit_id"].tolist()
    a = shapely.get_coordinates(raw.geometry.to_numpy())
    b = shapely.get_coordinates(counties.geometry.to_numpy())
    shift = GEOD.inv(a[::50, 0], a[::50, 1], b[::50, 0], b[::50, 1])[2]
    assert 400 < np.median(shift) < 700 and np.max(shift) < 900  # GCJ-02 offsets
    # every unit's outline moved; for a small county (Kangbashi, 359 km2) by > 1 % of its area
    kangbashi = counties.index[counties["unit_id"] == "150603"][0]
    moved = shapely.area(
        shapely.symmetric_difference(raw.geometry.to_numpy(), counties.geometry.to_numpy())
    )
    assert (moved > 0).all()
    assert moved[kangbashi] / counties.geometry.iloc[kangbashi].area > 0.01


def test_assign_units_outside_china_and_projected_points(counties: gpd.GeoDataFrame) -> None:
    hohhot_cbd = gpd.GeoSeries([Point(111.6708, 40.8183), Point(2.35, 48.85)], crs="EPSG:4326")
    idx = assign_units(hohhot_cbd.to_crs(UTM), counties)  # reprojected to the units' CRS
    assert counties["unit_id"].iloc[idx[0]][:4] == "1501"  # a Hohhot district
    assert idx[1] == -1


# --- hand-made files --------------------------------------------------------------------------


def test_invalid_geometries_are_repaired(tmp_path: Path) -> None:
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])  # self-intersecting
    spike = Polygon([(10, 0), (11, 0), (11, 1), (10, 1), (10, 0), (9, 0), (10, 0)])
    ok = box(20, 0, 21, 1)
    gdf = gpd.GeoDataFrame(
        {"code": ["bow", "spike", "ok"], "name": ["a", "b", "c"]},
        geometry=[bowtie, spike, ok],
        crs="EPSG:4326",
    )
    assert not gdf.is_valid.iloc[0] and not gdf.is_valid.iloc[1]
    path = tmp_path / "bad.geojson"
    gdf.to_file(path)
    units = load_boundaries(path)
    _columns_ok(units)
    assert units["unit_id"].tolist() == ["bow", "spike", "ok"]
    assert units.geometry.iloc[0].area == pytest.approx(2.0)  # two triangles of area 1
    assert units.geometry.iloc[1].area == pytest.approx(1.0)  # the spike collapses away
    assert units.geometry.iloc[2].equals(ok)


def test_ids_names_and_reprojection(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"adcode": [150102, 150103], "NAME": ["新城区", None], "other": ["x", "y"]},
        geometry=[
            box(500_000, 4_500_000, 501_000, 4_501_000),
            box(501_000, 4_500_000, 502_000, 4_501_000),
        ],
        crs=UTM,
    )
    gdf.to_file(tmp_path / "u.gpkg", layer="units")
    units = load_boundaries(tmp_path / "u.gpkg", layer="units")
    assert units["unit_id"].tolist() == ["150102", "150103"]
    assert units["name"].tolist() == ["新城区", ""]
    assert units.crs.to_epsg() == 4326
    assert units.geometry.iloc[0].centroid.x == pytest.approx(111.0059, abs=1e-3)
    custom = load_boundaries(tmp_path / "u.gpkg", id_column="other", name_column="other")
    assert custom["unit_id"].tolist() == ["x", "y"] == custom["name"].tolist()
    with pytest.raises(InputError, match=r"no column 'code' \(columns: \['adcode', 'NAME', 'oth"):
        load_boundaries(tmp_path / "u.gpkg", id_column="code")
    with pytest.raises(CRSError, match="coords='gcj02' needs longitude/latitude"):
        load_boundaries(tmp_path / "u.gpkg", coords="gcj02")


def test_shapefile_without_cpg_is_read_as_utf8(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"乡": ["海流图镇", "乌加河镇"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    gdf.to_file(tmp_path / "t.shp", encoding="utf-8")
    (tmp_path / "t.cpg").unlink(missing_ok=True)
    assert load_boundaries(tmp_path / "t.shp")["name"].tolist() == ["海流图镇", "乌加河镇"]
    gdf.to_file(tmp_path / "g.shp", encoding="gbk")
    (tmp_path / "g.cpg").unlink(missing_ok=True)
    with pytest.raises(InputError, match="encoding='gbk'"):
        load_boundaries(tmp_path / "g.shp")
    assert load_boundaries(tmp_path / "g.shp", encoding="gbk")["name"].tolist() == [
        "海流图镇",
        "乌加河镇",
    ]


def test_boundary_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"nowhere\.geojson"):
        load_boundaries(tmp_path / "nowhere.geojson")
    pts = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(1, 1)], crs="EPSG:4326")
    pts.to_file(tmp_path / "pts.geojson")
    with pytest.raises(InputError, match=r"must hold polygons, got \['Point'\]"):
        load_boundaries(tmp_path / "pts.geojson")
    with pytest.raises(InputError, match="`coords` must be one of"):
        load_boundaries(tmp_path / "pts.geojson", coords="bd09")
    two = gpd.GeoDataFrame({"id": ["A", "A", "B"]}, geometry=[box(0, 0, 1, 1)] * 3, crs="EPSG:4326")
    two.to_file(tmp_path / "dup.geojson")
    with pytest.raises(InputError, match=r"must be unique, 1 are repeated \(e.g. \['A'\]\)"):
        load_boundaries(tmp_path / "dup.geojson")
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        two.set_crs(None, allow_override=True).to_file(tmp_path / "noprj.shp")
    with pytest.raises(CRSError, match=r"noprj\.shp' has no CRS"):
        load_boundaries(tmp_path / "noprj.shp")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("nonsense", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match="not a readable vector file"):
        load_boundaries(junk)
    gpd.GeoDataFrame({"id": []}, geometry=[], crs="EPSG:4326").to_file(tmp_path / "e.geojson")
    with pytest.raises(InputError, match="has no features"):
        load_boundaries(tmp_path / "e.geojson")


# --- assign_units -----------------------------------------------------------------------------


def test_assign_units_hand_case() -> None:
    units = gpd.GeoDataFrame(
        {"unit_id": ["a", "b", "c"]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), box(5, 5, 15, 15)],
        crs=UTM,
    )
    pts = gpd.GeoDataFrame(
        geometry=[
            Point(2, 2),  # a
            Point(12, 2),  # b
            Point(10, 2),  # on the a|b border: the first unit wins
            Point(12, 8),  # in b and c (overlap): b
            Point(12, 12),  # c only
            Point(50, 50),  # outside
            None,  # missing
            Point(),  # empty
            LineString([(12, 11), (13, 14)]),  # a line: its representative point, in c
        ],
        crs=UTM,
    )
    assert assign_units(pts, units).tolist() == [0, 1, 0, 1, 2, -1, -1, -1, 2]
    assert assign_units(pts.geometry, units).dtype == np.int64
    empty = assign_units(pts.iloc[:0], units)
    assert empty.shape == (0,)


def test_assign_units_matches_sjoin_on_random_points() -> None:
    rng = np.random.default_rng(5)
    cells = [box(x, y, x + 1, y + 1) for x in range(10) for y in range(10)]
    units = gpd.GeoDataFrame(
        {"unit_id": [str(i) for i in range(100)]}, geometry=cells, crs="EPSG:4326"
    )
    xy = rng.uniform(-1, 11, (2000, 2))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:4326")
    got = assign_units(pts, units)
    expected = np.where(
        (xy >= 0).all(1) & (xy < 10).all(1),
        np.floor(xy[:, 0]).astype(int) * 10 + np.floor(xy[:, 1]).astype(int),
        -1,
    )
    np.testing.assert_array_equal(got, expected)


def test_assign_units_errors() -> None:
    units = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=UTM)
    with pytest.raises(CRSError, match="`points` has no CRS"):
        assign_units(gpd.GeoDataFrame(geometry=[Point(0, 0)]), units)
    with pytest.raises(CRSError, match="`units` has no CRS"):
        assign_units(units, gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))
    with pytest.raises(InputError, match="`points` must be a GeoDataFrame"):
        assign_units([Point(0, 0)], units)
