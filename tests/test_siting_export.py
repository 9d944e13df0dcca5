"""Exports: RFC 7946 GeoJSON (WGS84, rounding, ring orientation, JSON-safe properties) and
multi-layer GeoPackages with QGIS styles in ``layer_styles``."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from siting.export import (
    default_styles,
    geojson_dict,
    save_geojson,
    save_geopackage,
    save_layers,
)
from siting_errors import CRSError, InputError
from tests.geojson_rfc7946 import assert_rfc7946, decimals, rfc7946_problems, signed_area

UTM = "EPSG:32649"  # UTM 49N: central meridian 111°E (Hohhot)
X0, Y0 = 500_000.0, 4_520_000.0
TO_WGS = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
NAMES = ["新华街道", "中山街道", "海拉尔街道"]


def _square(x: float, y: float, size: float, *, clockwise: bool) -> list[tuple[float, float]]:
    ring = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    return ring[::-1] if clockwise else ring


def _wgs(x: float, y: float, precision: int = 6) -> list[float]:
    lon, lat = TO_WGS.transform(x, y)
    return [round(lon, precision), round(lat, precision)]


def _units() -> gpd.GeoDataFrame:
    cw = Polygon(_square(X0, Y0, 1000, clockwise=True))
    holed = Polygon(  # both rings the wrong way round: exterior CW, hole CCW
        _square(X0 + 2000, Y0, 1000, clockwise=True),
        [_square(X0 + 2200, Y0 + 200, 300, clockwise=False)],
    )
    multi = MultiPolygon(
        [
            Polygon(_square(X0 + 4000, Y0, 500, clockwise=True)),
            Polygon(_square(X0 + 5000, Y0, 500, clockwise=False)),
        ]
    )
    return gpd.GeoDataFrame(
        {"unit_id": ["u1", "u2", "u3"], "name": NAMES, "population": [np.int64(12), np.nan, 3.5]},
        geometry=[cw, holed, multi],
        crs=UTM,
    )


def _sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "site_id": ["a", "b", "c"],
            "name": ["新华社区卫生服务中心", "中山站", "新站"],
            "status": ["existing", "new", "new"],
            "capacity": pd.array([3000, None, 5000], dtype="Int64"),
            "score": [np.float32(0.5), np.inf, np.nan],
            "flag": [np.bool_(True), False, True],
            "opened": pd.to_datetime(["2024-05-01 08:30", None, "2025-01-02 00:00"]).tz_localize(
                "Asia/Shanghai"
            ),
        },
        geometry=[Point(X0, Y0), Point(X0 + 1.23456789, Y0 + 10), None],
        crs=UTM,
    )


def _assignments() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"demand_id": ["d1", "d2"], "site_id": ["a", "b"], "travel_time_min": [3.25, 12.0]},
        geometry=[LineString([(X0 + 100, Y0 + 100), (X0, Y0)]), LineString([(X0, Y0), (X0, Y0)])],
        crs=UTM,
    )


def _layers() -> dict[str, gpd.GeoDataFrame]:
    return {"sites": _sites(), "admin_units": _units(), "assignments": _assignments()}


# --- the checker itself must catch what it claims to -----------------------------------------


def _doc(geometry: dict | None, **members: object) -> dict:
    feature = {"type": "Feature", "geometry": geometry, "properties": {"a": 1}}
    return {"type": "FeatureCollection", "features": [feature], **members}


def test_checker_flags_each_violation() -> None:
    ccw = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    cw = ccw[::-1]
    assert rfc7946_problems(_doc({"type": "Polygon", "coordinates": [ccw]})) == []
    assert rfc7946_problems(_doc(None)) == []
    cases = {
        "exterior ring is not counter-clockwise": _doc({"type": "Polygon", "coordinates": [cw]}),
        "hole is not clockwise": _doc(
            {
                "type": "Polygon",
                "coordinates": [[[-1, -1], [2, -1], [2, 2], [-1, 2], [-1, -1]], ccw],
            }
        ),
        "not closed": _doc({"type": "Polygon", "coordinates": [[*ccw[:-1], [0, 0.5]]]}),
        "at least 4 positions": _doc(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}
        ),
        "outside WGS84": _doc({"type": "Point", "coordinates": [500000.0, 4520000.0]}),
        "more than 6 decimals": _doc({"type": "Point", "coordinates": [111.1234567, 40.0]}),
        "member 'crs' is not allowed": _doc(None, crs={"type": "name"}),
        "not strict JSON": {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": None, "properties": {"a": float("nan")}}],
        },
    }
    for expected, doc in cases.items():
        problems = rfc7946_problems(doc, max_decimals=6)
        assert any(expected in p for p in problems), (expected, problems)
    assert decimals(111.25) == 2 and decimals(1e-7) == 7 and decimals(120.0) == 0
    assert signed_area(ccw) == 1.0 and signed_area(cw) == -1.0


# --- GeoJSON -----------------------------------------------------------------------------------


def test_polygons_come_out_wgs84_rounded_and_right_hand() -> None:
    units = _units()
    doc = geojson_dict(units, name="admin_units")
    assert_rfc7946(doc, max_decimals=6)
    assert "crs" not in doc
    cw_in = _square(X0, Y0, 1000, clockwise=True)
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    # the clockwise input ring comes out reversed (counter-clockwise), reprojected and rounded
    expected = [_wgs(x, y) for x, y in [cw_in[0], *cw_in[:0:-1], cw_in[0]]]
    assert ring == expected
    assert ring[0] == [111.0, _wgs(X0, Y0 + 1000)[1]]  # easting 500 km: the central meridian
    assert 40.83 < ring[0][1] < 40.85
    exterior, hole = doc["features"][1]["geometry"]["coordinates"]
    assert signed_area(exterior) > 0 > signed_area(hole)
    assert len(hole) == 5
    multi = doc["features"][2]["geometry"]
    assert multi["type"] == "MultiPolygon" and len(multi["coordinates"]) == 2
    assert all(signed_area(poly[0]) > 0 for poly in multi["coordinates"])
    # raw geopandas output keeps the clockwise rings: the checker sees the difference
    raw = json.loads(units.to_crs(4326).to_json(drop_id=True))
    assert any("not counter-clockwise" in p for p in rfc7946_problems(raw, max_decimals=None))


def test_precision_controls_decimals() -> None:
    p = geojson_dict(_sites(), precision=3)["features"][1]["geometry"]["coordinates"]
    assert p == _wgs(X0 + 1.23456789, Y0 + 10, 3)
    assert max(decimals(v) for v in p) <= 3
    six = geojson_dict(_sites())["features"][1]["geometry"]["coordinates"]
    assert six == _wgs(X0 + 1.23456789, Y0 + 10, 6) and max(decimals(v) for v in six) == 6
    for bad in (-1, 16, 2.5, True):
        with pytest.raises(InputError, match="precision"):
            geojson_dict(_sites(), precision=bad)


def test_properties_are_json_safe() -> None:
    doc = geojson_dict(_sites(), name="sites")
    assert_rfc7946(doc, max_decimals=6)
    a, b, c = (f["properties"] for f in doc["features"])
    assert a == {
        "site_id": "a",
        "name": "新华社区卫生服务中心",
        "status": "existing",
        "capacity": 3000,
        "score": 0.5,
        "flag": True,
        "opened": "2024-05-01T08:30:00+08:00",
    }
    assert type(a["capacity"]) is int and type(a["score"]) is float and type(a["flag"]) is bool
    assert b["capacity"] is None and b["score"] is None and b["opened"] is None  # NA, inf, NaT
    assert c["score"] is None  # NaN
    assert doc["features"][2]["geometry"] is None  # missing geometry -> null
    json.dumps(doc, allow_nan=False)  # strict JSON throughout
    # other value types: dates, durations, lists, mappings, numpy ints in object columns
    odd = gpd.GeoDataFrame(
        {
            "day": [dt.date(2024, 5, 1)],
            "wait": pd.to_timedelta([90], unit="s"),
            "ids": [[np.int64(1), 2]],
            "meta": [{"k": np.float64(1.5), "n": np.nan}],
        },
        geometry=[Point(X0, Y0)],
        crs=UTM,
    )
    props = geojson_dict(odd)["features"][0]["properties"]
    assert props == {
        "day": "2024-05-01",
        "wait": "P0DT0H1M30S",
        "ids": [1, 2],
        "meta": {"k": 1.5, "n": None},
    }


def test_empty_geometries_are_null() -> None:
    gdf = gpd.GeoDataFrame({"k": [1, 2]}, geometry=[Polygon(), Point(X0, Y0)], crs=UTM)
    doc = geojson_dict(gdf)
    assert doc["features"][0]["geometry"] is None
    assert doc["features"][1]["geometry"] == {"type": "Point", "coordinates": _wgs(X0, Y0)}
    assert_rfc7946(doc)


def test_selected_properties_ids_and_extra_members() -> None:
    doc = geojson_dict(
        _sites(),
        properties={"site_id": "id", "name": "名称"},
        id_column="site_id",
        extra={"status": "optimal", "coverage": {"share": np.float64(0.5), "gap": np.nan}},
    )
    assert list(doc) == ["type", "status", "coverage", "features"]
    assert doc["coverage"] == {"share": 0.5, "gap": None}
    assert [f["id"] for f in doc["features"]] == ["a", "b", "c"]
    assert doc["features"][0]["properties"] == {"id": "a", "名称": "新华社区卫生服务中心"}
    assert list(geojson_dict(_sites(), properties=["status"])["features"][0]["properties"]) == [
        "status"
    ]
    assert_rfc7946(doc)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"properties": ["nope"]}, r"columns that do not exist: \['nope'\]"),
        ({"properties": "name"}, "got the string 'name'"),
        ({"properties": {"name": "x", "status": "x"}}, "would both become the property 'x'"),
        ({"id_column": "nope"}, "`id_column` 'nope' is not a column"),
        ({"id_column": "capacity"}, r"1 missing value\(s\) \(index \[1\]\)"),
        ({"id_column": "status"}, "duplicate ids"),
        ({"extra": {"crs": "EPSG:4326"}}, "member 'crs' is reserved"),
        ({"extra": {"features": []}}, "member 'features' is reserved"),
    ],
)
def test_bad_geojson_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        geojson_dict(_sites(), name="sites", **kwargs)


def test_missing_crs_names_the_layer(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)])
    with pytest.raises(CRSError, match="layer 'demand' has no CRS"):
        geojson_dict(gdf, name="demand")
    with pytest.raises(CRSError, match="layer 'plan_demand' has no CRS"):
        save_geojson(gdf, tmp_path / "plan_demand.geojson")
    assert not (tmp_path / "plan_demand.geojson").exists()
    with pytest.raises(CRSError, match="layer 'sites' has no CRS"):
        save_geopackage({"sites": gdf}, tmp_path / "x.gpkg")
    with pytest.raises(InputError, match="must be a GeoDataFrame, got DataFrame"):
        geojson_dict(pd.DataFrame({"a": [1]}), name="t")


def test_unprojectable_coordinates_are_an_error() -> None:
    gdf = gpd.GeoDataFrame(geometry=[Point(X0, Y0), Point(1e30, 1e30)], crs=UTM)
    with pytest.raises(CRSError, match=r"layer 'far': 1 feature\(s\) \(index \[1\]\)"):
        geojson_dict(gdf, name="far")


def test_save_geojson_is_utf8_one_feature_per_line(tmp_path: Path) -> None:
    path = save_geojson(_units(), tmp_path / "out" / "units.geojson", id_column="unit_id")
    raw = path.read_bytes()
    assert "海拉尔街道".encode() in raw and b"\\u" not in raw  # Chinese kept, not escaped
    lines = raw.decode("utf-8").splitlines()
    assert len(lines) == 2 + 3 and lines[1].startswith('{"type":"Feature","id":"u1"')
    doc = json.loads(raw)
    assert_rfc7946(doc, max_decimals=6)
    assert doc == geojson_dict(_units(), id_column="unit_id")
    back = pyogrio.read_dataframe(path)  # GDAL reads it too
    assert back.crs.to_epsg() == 4326 and back["name"].tolist() == NAMES
    empty = save_geojson(_units().iloc[:0], tmp_path / "empty.geojson")
    assert json.loads(empty.read_text(encoding="utf-8")) == {
        "type": "FeatureCollection",
        "features": [],
    }


# --- GeoPackage --------------------------------------------------------------------------------


def test_geopackage_round_trip_with_styles(tmp_path: Path) -> None:
    path = tmp_path / "plan.gpkg"
    path.write_text("an old file to replace")
    styles = default_styles()
    out = save_geopackage(_layers(), path, styles=styles)
    assert out == path
    listed = {str(name): str(kind) for name, kind in pyogrio.list_layers(path)}
    assert listed["sites"] == "Point" and listed["assignments"] == "LineString"
    assert listed["admin_units"] == "MultiPolygon"  # Polygon + MultiPolygon promoted
    assert "layer_styles" in listed
    expected_fields = {
        "sites": ["site_id", "name", "status", "capacity", "score", "flag", "opened"],
        "admin_units": ["unit_id", "name", "population"],
        "assignments": ["demand_id", "site_id", "travel_time_min"],
    }
    for name, gdf in _layers().items():
        info = pyogrio.read_info(path, layer=name)
        assert list(info["fields"]) == expected_fields[name]
        assert info["features"] == len(gdf)
        back = pyogrio.read_dataframe(path, layer=name)
        assert back.crs.to_epsg() == 4326
        assert len(back) == len(gdf)
    units = pyogrio.read_dataframe(path, layer="admin_units")
    assert units["name"].tolist() == NAMES
    assert units.geometry.iloc[0].geoms[0].exterior.coords[0] == pytest.approx(
        TO_WGS.transform(X0, Y0 + 1000), abs=1e-9
    )
    sites = pyogrio.read_dataframe(path, layer="sites")
    assert sites["name"].tolist() == ["新华社区卫生服务中心", "中山站", "新站"]
    assert sites["flag"].tolist() == [True, False, True]
    assert sites["capacity"].iloc[0] == 3000 and np.isnan(sites["capacity"].iloc[1])
    assert sites["opened"].iloc[0] == pd.Timestamp("2024-05-01 08:30", tz="Asia/Shanghai")

    with sqlite3.connect(path) as con:
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, styleName, styleQML, useAsDefault "
            "FROM layer_styles ORDER BY id"
        ).fetchall()
        geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents"))
    con.close()
    assert sorted(r[0] for r in rows) == ["admin_units", "assignments", "sites"]  # no others
    for table, geom_col, style_name, qml, default in rows:
        assert geom_col == geom_cols[table] == "geom"
        assert style_name == table and default == 1
        root, given = ET.fromstring(qml), ET.fromstring(styles[table])
        assert root.tag == "qgis"
        # the given style, with an alias added for every field it had none for
        assert ET.tostring(root.find("renderer-v2")) == ET.tostring(given.find("renderer-v2"))
        aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
        assert set(aliases) >= set(expected_fields[table])
        assert aliases["site_id" if table != "admin_units" else "unit_id"].endswith(" id")
        if table == "sites":
            assert aliases["capacity"] == "capacity" and aliases["flag"] == "标记 / flag"
    assert contents["layer_styles"] == "attributes"
    via_gdal = pyogrio.read_dataframe(path, layer="layer_styles")
    assert sorted(via_gdal["f_table_name"]) == ["admin_units", "assignments", "sites"]
    assert set(via_gdal.columns) >= {"styleQML", "useAsDefault", "update_time"}


def test_geopackage_overwrites_and_can_keep_crs(tmp_path: Path) -> None:
    path = tmp_path / "p.gpkg"
    save_geopackage(_layers(), path)
    save_geopackage({"单元": _units()}, path, crs=None)
    assert [str(n) for n, _ in pyogrio.list_layers(path)] == ["单元"]  # no styles, no old layers
    back = pyogrio.read_dataframe(path, layer="单元")
    assert back.crs.to_epsg() == 32649
    assert back.geometry.iloc[0].geoms[0].exterior.coords[0] == (X0, Y0 + 1000)
    save_geopackage({"u": _units()}, path, crs=3857)
    assert pyogrio.read_dataframe(path).crs.to_epsg() == 3857


def test_geopackage_keeps_awkward_columns(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {
            "fid": ["x", "y"],
            "geom": [1, 2],
            "mixed": [1, "a"],
            "tags": [["a", "b"], None],
            "wait": pd.to_timedelta([90, 60], unit="s"),
            "kind": pd.Categorical(["新", "旧"]),
        },
        geometry=[Point(X0, Y0), Point(X0 + 1, Y0)],
        crs=UTM,
    )
    path = save_geopackage({"t": gdf}, tmp_path / "t.gpkg")
    back = pyogrio.read_dataframe(path)
    assert back["fid"].tolist() == ["x", "y"] and back["geom"].tolist() == [1, 2]
    assert back["mixed"].tolist() == ["1", "a"]
    assert back["tags"].iloc[0] == '["a","b"]' and pd.isna(back["tags"].iloc[1])
    assert back["wait"].tolist() == ["P0DT0H1M30S", "P0DT0H1M0S"]
    assert back["kind"].tolist() == ["新", "旧"]


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ({}, "non-empty mapping"),
        ({"": _sites()}, "non-empty strings, got ''"),
        ({"  ": _sites()}, "non-empty strings"),
        ({" sites": _sites()}, "leading or trailing white space"),
        ({"Sites": _sites(), "sites": _sites()}, "duplicate layer names 'Sites' and 'sites'"),
        ({"layer_styles": _sites()}, "reserved"),
        ({"gpkg_sites": _sites()}, "reserved"),
        ({"sites": pd.DataFrame({"a": [1]})}, "must be a GeoDataFrame"),
    ],
)
def test_bad_layers_are_refused_and_leave_the_old_file(
    tmp_path: Path, layers: dict, message: str
) -> None:
    path = save_geopackage({"keep": _sites()}, tmp_path / "p.gpkg")
    with pytest.raises(InputError, match=message):
        save_geopackage(layers, path)
    assert [str(n) for n, _ in pyogrio.list_layers(path)] == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.gpkg"]  # no temporary left


def test_bad_styles_and_fields_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"styles\['sites'\]` is not well-formed XML"):
        save_geopackage({"sites": _sites()}, tmp_path / "a.gpkg", styles={"sites": "<qgis"})
    with pytest.raises(InputError, match="must be QML with a <qgis> root"):
        save_geopackage({"sites": _sites()}, tmp_path / "a.gpkg", styles={"sites": "<x/>"})
    twins = _sites().assign(Name="x")
    with pytest.raises(InputError, match="columns 'name' and 'Name' would be the same"):
        save_geopackage({"sites": twins}, tmp_path / "a.gpkg")
    with pytest.raises(CRSError, match="`crs` must be a valid CRS"):
        save_geopackage({"sites": _sites()}, tmp_path / "a.gpkg", crs="EPSG:999999")
    assert not (tmp_path / "a.gpkg").exists()


# --- styles and save_layers --------------------------------------------------------------------


def _colour(symbol: ET.Element) -> tuple[int, ...]:
    value = symbol.find("layer/Option/Option[@name='color']").get("value")
    return tuple(int(v) for v in value.split(","))


def test_default_styles_are_qgis_qml() -> None:
    styles = default_styles()
    assert set(styles) >= {"sites", "demand", "assignments", "service_areas", "admin_units"}
    roots = {}
    for name, qml in styles.items():
        assert qml.startswith("<!DOCTYPE qgis")
        root = ET.fromstring(qml)
        assert root.tag == "qgis" and root.get("version", "").startswith("3."), name
        renderer = root.find("renderer-v2")
        assert renderer is not None, name
        for symbol in renderer.iter("symbol"):  # both QGIS property encodings, same values
            layer = symbol.find("layer")
            options = {o.get("name"): o.get("value") for o in layer.findall("Option/Option")}
            assert options == {p.get("k"): p.get("v") for p in layer.findall("prop")}
        roots[name] = root

    sites = roots["sites"].find("renderer-v2")
    # planner-added sites (existing, with `added` true) get their own category, the others
    # fall back to `status`
    assert sites.get("type") == "categorizedSymbol"
    assert sites.get("attr") == (
        "CASE WHEN attribute(@feature, 'added') THEN 'added' ELSE \"status\" END"
    )
    cats = {c.get("value"): c.get("symbol") for c in sites.iter("category")}
    assert set(cats) == {"existing", "added", "new", "candidate"}
    symbols = {s.get("name"): s for s in sites.find("symbols")}
    existing, added, new = (symbols[cats[k]] for k in ("existing", "added", "new"))
    assert len({_colour(existing), _colour(added), _colour(new)}) == 3
    shape = "layer/Option/Option[@name='name']"
    assert len({sym.find(shape).get("value") for sym in (existing, added, new)}) == 3

    demand = roots["demand"].find("renderer-v2")
    assert demand.get("type") == "graduatedSymbol" and "travel_time_min" in demand.get("attr")
    ranges = [(float(r.get("lower")), float(r.get("upper"))) for r in demand.iter("range")]
    assert ranges[0][0] == 0 and ranges[2][1] == 10.0 and ranges[-1][1] >= 1e9
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # contiguous
    dsym = {s.get("name"): s for s in demand.find("symbols")}
    first, last = (dsym[r.get("symbol")] for r in list(demand.iter("range"))[::3])
    assert _colour(first)[1] > _colour(first)[0] and _colour(last)[0] > _colour(last)[1]
    size = "layer/Option/Option[@name='size']"
    assert float(last.find(size).get("value")) > float(first.find(size).get("value"))

    line = roots["assignments"].find("renderer-v2/symbols/symbol")
    assert line.get("type") == "line"
    areas = roots["service_areas"].find("renderer-v2/symbols/symbol")
    assert areas.get("type") == "fill" and 0 < _colour(areas)[3] < 255  # semi-transparent
    units = roots["admin_units"]
    assert units.get("labelsEnabled") == "1"
    assert units.find("labeling/settings/text-style").get("fieldName") == "name"

    five = ET.fromstring(default_styles(threshold_minutes=15)["demand"])
    assert [float(r.get("upper")) for r in five.iter("range")][:3] == [5.0, 10.0, 15.0]
    with pytest.raises(InputError, match="threshold_minutes"):
        default_styles(threshold_minutes=0)


def test_save_layers_writes_every_file(tmp_path: Path) -> None:
    files = save_layers(
        _layers(),
        tmp_path / "out",
        stem="hohhot",
        id_columns={"sites": "site_id"},
        extra_members={"sites": {"coverage": {"share": 0.75}}},
    )
    assert set(files) == {"gpkg", "sites.geojson", "admin_units.geojson", "assignments.geojson"}
    assert files["gpkg"] == tmp_path / "out" / "hohhot.gpkg"
    assert files["sites.geojson"] == tmp_path / "out" / "hohhot_sites.geojson"
    sites = json.loads(files["sites.geojson"].read_text(encoding="utf-8"))
    assert sites["coverage"] == {"share": 0.75} and sites["features"][0]["id"] == "a"
    for key, path in files.items():
        if key.endswith(".geojson"):
            assert_rfc7946(json.loads(path.read_text(encoding="utf-8")), max_decimals=6)
    with sqlite3.connect(files["gpkg"]) as con:
        (n_styles,) = con.execute("SELECT count(*) FROM layer_styles").fetchone()
    con.close()
    assert n_styles == 3  # default styles for the three standard layers present

    only = save_layers({"sites": _sites()}, tmp_path / "g", formats=["geojson"])
    assert [p.name for p in only.values()] == ["plan_sites.geojson"]
    with pytest.raises(InputError, match="`formats` must be a non-empty selection"):
        save_layers({"sites": _sites()}, tmp_path, formats=["shp"])
    with pytest.raises(InputError, match=r"`id_columns` names layers that do not exist: \['x'\]"):
        save_layers({"sites": _sites()}, tmp_path, id_columns={"x": "site_id"})
    with pytest.raises(InputError, match="usable in a file name"):
        save_layers({"a/b": _sites()}, tmp_path)
