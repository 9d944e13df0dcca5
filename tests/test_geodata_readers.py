"""The one reader module (geodata.readers): every open of a user's file passes its guard hook,
and the vector / CSV / raster checks name the file."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import Point

from geodata.readers import open_raster, read_csv_points, read_vector
from siting_errors import CRSError, InputError, UnsupportedFormatError


class _Refused(Exception):
    pass


def _files(tmp_path: Path) -> dict[str, Path]:
    vector = tmp_path / "pts.geojson"
    gpd.GeoDataFrame({"v": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)], crs="EPSG:4326").to_file(
        vector, driver="GeoJSON"
    )
    csv = tmp_path / "pts.csv"
    csv.write_text("x,y,v\n1,2,a\n3,4,b\n", encoding="utf-8")
    raster = tmp_path / "grid.tif"
    with rasterio.open(
        raster, "w", driver="GTiff", height=2, width=2, count=1, dtype="float32",
        crs="EPSG:32649", transform=Affine(100.0, 0, 500_000, 0, -100.0, 4_500_000),
    ) as dst:  # fmt: skip
        dst.write(np.ones((2, 2), dtype=np.float32), 1)
    return {"vector": vector, "csv": csv, "raster": raster}


def test_every_open_passes_the_guard_first(tmp_path: Path) -> None:
    files = _files(tmp_path)
    seen: list[tuple[str, str]] = []

    def allow(source: str, kind: str) -> None:
        seen.append((Path(source).name, kind))

    gdf = read_vector(files["vector"], what="test file", guard=allow)
    pts = read_csv_points(files["csv"], "x", "y", "EPSG:4326", what="test file", guard=allow)
    with open_raster(files["raster"], what="test raster", guard=allow) as src:
        assert src.read(1).sum() == 4.0
    assert seen == [("pts.geojson", "vector"), ("pts.csv", "csv"), ("grid.tif", "raster")]
    assert gdf["v"].tolist() == [1, 2] and pts.geometry.x.tolist() == [1.0, 3.0]

    def refuse(source: str, kind: str) -> None:
        raise _Refused(f"{kind} {source}")

    for call in (
        lambda: read_vector(files["vector"], what="f", guard=refuse),
        lambda: read_csv_points(files["csv"], "x", "y", "EPSG:4326", what="f", guard=refuse),
        lambda: open_raster(files["raster"], what="f", guard=refuse),
    ):
        with pytest.raises(_Refused):
            call()


def test_reader_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    files = _files(tmp_path)
    with pytest.raises(CRSError, match=r"CSV points '.*pts.csv' has no CRS: pass crs="):
        read_csv_points(files["csv"], "x", "y", None, what="points")
    with pytest.raises(InputError, match=r"no coordinate column 'lon'"):
        read_csv_points(files["csv"], "lon", "y", "EPSG:4326", what="points")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\nnorth,4\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"1 rows are not \(first rows: \[1\]\)"):
        read_csv_points(bad, "x", "y", "EPSG:4326", what="points")
    junk = tmp_path / "junk.geojson"
    junk.write_text("not json", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match=r"junk\.geojson' is not a readable vector"):
        read_vector(junk, what="points")
    with pytest.raises(UnsupportedFormatError, match=r"junk\.geojson' is not a readable raster"):
        open_raster(junk, what="raster")
