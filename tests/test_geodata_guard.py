"""The file guard (geodata.guard): formats allowed per dataset kind, content checked against the
suffix, header caps, and a GDAL configuration with no network and no sibling reads."""

from __future__ import annotations

import contextlib
import json
import struct
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from geodata.guard import (
    GuardLimits,
    SizeLimitError,
    check_crs,
    check_dataset,
    gdal_sandbox,
    parse_crs,
    parse_json,
    read_raster_band,
    sniff_format,
)
from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError
from tests.api_support import Listener, tiny_tiff


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("guard")
    frame = gpd.GeoDataFrame(
        {"population": [10, 20]},
        geometry=[shapely.Point(111.7, 40.8), shapely.Point(111.71, 40.81)],
        crs="EPSG:4326",
    )
    out = {}
    for name in ("a.geojson", "a.gpkg", "a.fgb"):
        frame.to_file(root / name)
        out[name] = root / name
    shp = root / "shp"
    shp.mkdir()
    frame.to_file(shp / "a.shp")
    with zipfile.ZipFile(root / "a.zip", "w") as z:
        for part in shp.iterdir():
            z.write(part, part.name)
    out["a.zip"] = root / "a.zip"
    (root / "a.csv").write_text("x,y,population\n111.7,40.8,10\n")
    out["a.csv"] = root / "a.csv"
    with rasterio.open(
        root / "a.tif",
        "w",
        driver="GTiff",
        width=300,
        height=200,
        count=1,
        dtype="float32",
        crs="EPSG:32649",
        transform=from_origin(500_000, 4_520_000, 100, 100),
        tiled=True,
        blockxsize=128,
        blockysize=128,
        compress="deflate",
    ) as dst:
        dst.write(np.arange(60_000, dtype="float32").reshape(200, 300), 1)
    out["a.tif"] = root / "a.tif"
    (root / "a.osm").write_text(
        '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="40.8" lon="111.7"/>'
        '<node id="2" lat="40.81" lon="111.7"/><way id="3"><nd ref="1"/><nd ref="2"/>'
        '<tag k="highway" v="residential"/></way></osm>'
    )
    out["a.osm"] = root / "a.osm"
    return out


@pytest.mark.parametrize(
    ("name", "kind", "fmt", "driver", "prefix"),
    [
        ("a.geojson", "vector", "GeoJSON", "GeoJSON", "GeoJSON:"),
        ("a.gpkg", "vector", "GPKG", "GPKG", "GPKG:"),
        ("a.fgb", "vector", "FlatGeobuf", "FlatGeobuf", ""),
        ("a.zip", "vector", "ESRI Shapefile", "ESRI Shapefile", "/vsizip/"),
        ("a.csv", "vector", "CSV", "CSV", "CSV:"),
        ("a.tif", "raster", "GTiff", "GTiff", ""),
        ("a.osm", "roads", "OSM XML", None, ""),
        ("a.gpkg", "roads", "GPKG", "GPKG", "GPKG:"),
    ],
)
def test_allowed_formats(
    files: dict[str, Path], name: str, kind: str, fmt: str, driver: str | None, prefix: str
) -> None:
    info = check_dataset(files[name], kind)
    assert (info.format, info.driver) == (fmt, driver)
    assert info.gdal_path.startswith(prefix)
    if driver is not None and kind == "vector":
        with gdal_sandbox():
            frame = gpd.read_file(info.gdal_path)
        assert len(frame) == (1 if name == "a.csv" else 2)


def test_details_from_headers(files: dict[str, Path]) -> None:
    tif = check_dataset(files["a.tif"], "raster")
    assert tif.details["cells"] == 60_000 and tif.crs is not None and tif.crs.to_epsg() == 32649
    assert check_dataset(files["a.gpkg"], "vector").details["features"] == 2
    assert check_dataset(files["a.osm"], "roads").details == {"node": 2, "way": 1, "relation": 0}


@pytest.mark.parametrize(
    ("name", "kind"),
    [("a.tif", "vector"), ("a.geojson", "raster"), ("a.csv", "roads"), ("a.osm", "vector")],
)
def test_suffixes_outside_the_kind_are_refused(
    files: dict[str, Path], name: str, kind: str
) -> None:
    with pytest.raises(UnsupportedFormatError, match="unsupported format"):
        check_dataset(files[name], kind)


@pytest.mark.parametrize(
    "path",
    [
        "/vsicurl/http://127.0.0.1/x.tif",
        "/vsizip//tmp/x.zip",
        "http://127.0.0.1/x.tif",
        "GPKG:/tmp/x.gpkg",
        "<VRTDataset/>.tif",
    ],
)
def test_virtual_network_and_prefixed_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsupportedFormatError, match="not a plain local file"):
        check_dataset(path, "raster")


def test_links_missing_and_empty_files(tmp_path: Path, files: dict[str, Path]) -> None:
    link = tmp_path / "link.tif"
    link.symlink_to(files["a.tif"])
    with pytest.raises(UnsupportedFormatError, match="symbolic link"):
        check_dataset(link, "raster")
    with pytest.raises(DataNotFoundError):
        check_dataset(tmp_path / "nothing.tif", "raster")
    (tmp_path / "empty.geojson").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        check_dataset(tmp_path / "empty.geojson", "vector")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("x.tif", b"<VRTDataset rasterXSize='1' rasterYSize='1'/>", "VRT"),
        ("x.geojson", b"<OGRVRTDataSource></OGRVRTDataSource>", "VRT"),
        ("x.gpkg", b"SQLite format 3\x00" + b"\x00" * 200, "GPKG"),
        ("x.fgb", b'{"type": "FeatureCollection"}', "JSON"),
        ("x.zip", b"II*\x00" + b"\x00" * 64, "TIFF"),
        ("x.csv", b'{"a": 1}', "JSON"),
        ("x.osm", b'{"type": "FeatureCollection", "features": []}', "JSON"),
        ("x.graphml", b"<VRTDataset/>", "VRT"),
        ("x.pbf", b"PK\x03\x04" + b"\x00" * 64, "zip"),
    ],
)
def test_content_must_match_the_suffix(
    tmp_path: Path, name: str, content: bytes, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    kind = {"x.tif": "raster", "x.osm": "roads", "x.graphml": "roads", "x.pbf": "roads"}.get(
        name, "vector"
    )
    with pytest.raises(UnsupportedFormatError, match=words):
        sniff_format(path, kind)
    with pytest.raises(UnsupportedFormatError):
        check_dataset(path, kind)


def test_json_that_is_not_geojson(tmp_path: Path) -> None:
    path = tmp_path / "x.geojson"
    path.write_text('{"type": "gdal_streamed_alg", "command_line": "gdal vector pipeline"}')
    with pytest.raises(UnsupportedFormatError, match="gdal_streamed_alg"):
        check_dataset(path, "vector")


def test_zip_members_are_checked(tmp_path: Path, files: dict[str, Path]) -> None:
    def make(name: str, members: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for member, data in members.items():
                z.writestr(member, data)
        return path

    with zipfile.ZipFile(files["a.zip"]) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    with pytest.raises(InputError, match="unsafe name"):
        check_dataset(make("a.zip", {"../a.shp": b"x"}), "vector")
    with pytest.raises(UnsupportedFormatError, match="not part of a shapefile"):
        check_dataset(make("b.zip", {**parts, "x.vrt": b"<VRTDataset/>"}), "vector")
    with pytest.raises(InputError, match=r"exactly one \.shp"):
        check_dataset(make("c.zip", {"a.dbf": parts["a.dbf"]}), "vector")
    bomb = {**parts, "a.shp.xml": b"\x00" * (50 << 20)}
    with pytest.raises(SizeLimitError, match="expands"):
        check_dataset(make("d.zip", bomb), "vector")
    grids = {
        **parts,
        "a.prj": b'GEOGCS["x",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.25]],'
        b'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],EXTENSION["PROJ4",'
        b'"+proj=longlat +ellps=WGS84 +nadgrids=/etc/passwd"]]',
    }
    with pytest.raises(CRSError, match="grid"):
        check_dataset(make("e.zip", grids), "vector")


@pytest.mark.parametrize("side", [20_000, 1_000_000])
def test_raster_caps_before_reading(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.tif"
    path.write_bytes(tiny_tiff(side, side))
    with pytest.raises(SizeLimitError, match="cells"):
        check_dataset(path, "raster")


def test_raster_caps_are_limits(files: dict[str, Path]) -> None:
    with pytest.raises(SizeLimitError, match="limit is 1,000 cells"):
        check_dataset(files["a.tif"], "raster", GuardLimits(max_raster_cells=1000))
    with pytest.raises(SizeLimitError, match="decompressed"):
        check_dataset(files["a.tif"], "raster", GuardLimits(max_raster_bytes=1000))
    with pytest.raises(SizeLimitError, match="blocks"):
        check_dataset(files["a.tif"], "raster", GuardLimits(max_block_bytes=1000))
    with pytest.raises(SizeLimitError, match="features"):
        check_dataset(files["a.gpkg"], "vector", GuardLimits(max_vector_features=1))
    with pytest.raises(SizeLimitError, match="GeoJSON"):
        check_dataset(files["a.geojson"], "vector", GuardLimits(max_json_bytes=10))


def test_truncated_raster(tmp_path: Path, files: dict[str, Path]) -> None:
    data = files["a.tif"].read_bytes()
    path = tmp_path / "cut.tif"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        check_dataset(path, "raster")


def test_windowed_read_equals_a_whole_read(files: dict[str, Path]) -> None:
    info = check_dataset(files["a.tif"], "raster")
    with gdal_sandbox(), rasterio.open(info.gdal_path, driver=info.driver) as src:
        band = read_raster_band(src, 1)
        whole = src.read(1, masked=True)
    assert band.shape == (200, 300)
    np.testing.assert_array_equal(band.data, whole.data)
    assert band[199, 299] == 59_999


def test_truncated_pbf_and_bad_xml(tmp_path: Path) -> None:
    header = b"\x0a\x09OSMHeader\x18\xe8\x07"
    pbf = tmp_path / "x.osm.pbf"
    pbf.write_bytes(struct.pack(">I", len(header)) + header + b"\x10\x05" + b"\x00" * 40)
    with pytest.raises(InputError, match="truncated"):
        check_dataset(pbf, "roads")
    bomb = tmp_path / "bomb.osm"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><osm><way id="1">&b;</way></osm>'
    )
    with pytest.raises(InputError, match="DOCTYPE"):
        check_dataset(bomb, "roads")
    wrong = tmp_path / "x.graphml"
    wrong.write_text('<osm><way id="1"/></osm>')
    with pytest.raises(InputError, match="root element"):
        check_dataset(wrong, "roads")


def test_the_sandbox_stops_vsicurl_even_when_gdal_opens_a_vrt(tmp_path: Path) -> None:
    """Defence in depth: were a VRT opened anyway, its /vsicurl source sends no request inside
    the sandbox (the listener proves GDAL would send them outside it)."""
    listener = Listener()
    try:
        raster = tmp_path / "x.vrt"
        raster.write_text(
            f'<VRTDataset rasterXSize="4" rasterYSize="4"><VRTRasterBand dataType="Byte" band="1">'
            f"<SimpleSource><SourceFilename>/vsicurl/http://127.0.0.1:{listener.port}/a.tif"
            "</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"
        )
        vector = tmp_path / "x.ovf"
        vector.write_text(
            "<OGRVRTDataSource><OGRVRTLayer name='x'><SrcDataSource>/vsicurl/http://127.0.0.1:"
            f"{listener.port}/a.geojson</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
        )

        def open_both() -> None:
            # the source is unreachable either way: only the connection attempts count
            with contextlib.suppress(Exception), rasterio.open(raster) as src:
                src.read(1)
            with contextlib.suppress(Exception):
                pyogrio.read_info(vector)

        with gdal_sandbox():
            open_both()
        time.sleep(0.3)
        assert listener.requests == []
        open_both()
        time.sleep(0.3)
        assert listener.requests  # outside the sandbox GDAL does connect
    finally:
        listener.close()


def test_the_sandbox_reads_no_sibling_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as d:
        d.write(np.ones((4, 4), dtype="uint8"), 1)
    (tmp_path / "plain.tfw").write_text("10\n0\n0\n-10\n500000\n4500000\n")
    with rasterio.open(path) as src:
        assert src.transform.c == 499_995.0  # GDAL read the world file beside it
    with gdal_sandbox(), rasterio.open(path) as src:
        assert src.transform.c == 0.0


@pytest.mark.parametrize(
    ("value", "epsg"),
    [(4326, 4326), ("EPSG:32649", 32649), ("urn:ogc:def:crs:EPSG::32649", 32649), ("4490", 4490)],
)
def test_parse_crs_accepts_codes(value: object, epsg: int) -> None:
    assert parse_crs(value, "crs").to_epsg() == epsg


def test_parse_crs_accepts_wkt_without_grids() -> None:
    from pyproj import CRS

    assert parse_crs(CRS.from_epsg(32649).to_wkt(), "crs").to_epsg() == 32649
    assert parse_crs("CRS84", "crs").is_geographic


@pytest.mark.parametrize(
    "value",
    [
        "+proj=longlat +datum=WGS84 +nadgrids=/etc/passwd",
        "+init=epsg:4326",
        "/etc/passwd",
        '{"type": "GeographicCRS"}',
        True,
        'GEOGCS["x",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.25]],PRIMEM["Greenwich",0],'
        'UNIT["degree",0.0174532925199433],EXTENSION["PROJ4","+proj=longlat +nadgrids=/x"]]',
    ],
)
def test_parse_crs_refuses_proj_strings_and_files(value: object) -> None:
    with pytest.raises(CRSError):
        parse_crs(value, "crs")


def test_check_crs_allows_web_mercator_null_grid() -> None:
    assert check_crs("EPSG:3857", "x").to_epsg() == 3857


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b'{"a": 1e309}', "1e309"),
        (b'{"a": 1, "a": 2}', "twice"),
        (b'{"a": ', "line 1"),
        (b"[" * 100 + b"]" * 100, "nested"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b'"\xff"', "UTF-8"),
    ],
)
def test_parse_json_refuses(text: bytes, words: str) -> None:
    with pytest.raises(InputError, match=words):
        parse_json(text, "body", max_depth=64)


def test_parse_json_reads_plain_json() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": [1, 2.5e3, null]}', "body") == {"a": [1, 2500.0, None]}
    assert json.loads(json.dumps(parse_json('{"x": "y"}', "body"))) == {"x": "y"}
