"""Exports: RFC 7946 GeoJSON (orientation, rounding, WGS84) and styled GeoPackages."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from siting.export import default_styles, geojson_dict, save_geojson, save_geopackage
from siting_errors import CRSError
from tests.geojson_rfc7946 import rfc7946_problems

UTM = "EPSG:32649"
X0, Y0 = 500_000.0, 4_520_000.0


def _square(x: float, y: float, size: float, clockwise: bool) -> list[tuple[float, float]]:
    ring = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    return ring[::-1] if clockwise else ring


def _layers() -> dict[str, gpd.GeoDataFrame]:
    cw = Polygon(_square(X0, Y0, 1000, clockwise=True))
    holed = Polygon(_square(X0 + 2000, Y0, 1000, clockwise=True),
                    [_square(X0 + 2200, Y0 + 200, 300, clockwise=False)])
    multi = MultiPolygon([Polygon(_square(X0 + 4000, Y0, 500, True)),
                          Polygon(_square(X0 + 5000, Y0, 500, True))])
    units = gpd.GeoDataFrame({"unit_id": ["u1", "u2", "u3"], "name": ["新华街道", "中山街道",
                                                                     "海拉尔街道"],
                              "population": [np.int64(12), np.nan, 3.5]},
                             geometry=[cw, holed, multi], crs=UTM)
    sites = gpd.GeoDataFrame({"site_id": ["a", "b"], "status": ["existing", "new"],
                              "flag": [np.bool_(True), False]},
                             geometry=[Point(X0 + 1.23456789, Y0), Point(X0 + 10, Y0 + 10)],
                             crs=UTM)
    return {"admin_units": units, "sites": sites}


def test_geojson_is_rfc7946() -> None:
    doc = geojson_dict(_layers()["admin_units"], precision=6)
    assert rfc7946_problems(doc, max_decimals=6) == []
    props = [f["properties"] for f in doc["features"]]
    assert props[0] == {"unit_id": "u1", "name": "新华街道", "population": 12}
    assert props[1]["population"] is None  # NaN -> null
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 110.9 < lon < 112 and 40 < lat < 41  # UTM 49N near Hohhot, reprojected


def test_clockwise_input_is_reoriented() -> None:
    gdf = _layers()["admin_units"]
    raw = json.loads(gdf.to_crs(4326).to_json())
    assert any("not counter-clockwise" in p for p in rfc7946_problems(raw, max_decimals=20))
    assert rfc7946_problems(geojson_dict(gdf)) == []


def test_extra_members_and_ids(tmp_path: Path) -> None:
    path = save_geojson(_layers()["sites"], tmp_path / "s.geojson", id_column="site_id",
                        extra={"coverage": {"share": 0.5}})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["coverage"] == {"share": 0.5}
    assert [f["id"] for f in doc["features"]] == ["a", "b"]
    assert doc["features"][0]["properties"]["flag"] is True


def test_no_crs_is_an_error() -> None:
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)])
    with pytest.raises(CRSError, match="layer 'layer' has no CRS"):
        geojson_dict(gdf)


def test_geopackage_layers_styles_and_names(tmp_path: Path) -> None:
    path = save_geopackage(_layers(), tmp_path / "plan.gpkg", styles=default_styles())
    names = {row[0] for row in pyogrio.list_layers(path)}
    assert {"admin_units", "sites", "layer_styles"} <= names
    units = pyogrio.read_dataframe(path, layer="admin_units")
    assert units.crs.to_epsg() == 4326
    assert units["name"].tolist() == ["新华街道", "中山街道", "海拉尔街道"]
    assert len(pyogrio.read_dataframe(path, layer="sites")) == 2
    with sqlite3.connect(path) as con:
        rows = dict(con.execute("SELECT f_table_name, styleQML FROM layer_styles").fetchall())
    assert set(rows) == {"admin_units", "sites"}
    for qml in rows.values():
        assert ET.fromstring(qml.split("\n", 1)[1]).tag == "qgis"


def test_every_default_style_is_valid_xml() -> None:
    for name, qml in default_styles().items():
        root = ET.fromstring(qml.split("\n", 1)[1])
        assert root.find("renderer-v2") is not None, name
