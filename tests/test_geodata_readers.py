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


# --- coordinate mistakes: the file, a sample of the values and the likely cause ----------------


def test_swapped_lat_lon_names_the_file_values_and_cause(tmp_path: Path) -> None:
    swapped = tmp_path / "clinics.csv"  # Hohhot and Baotou with lat in x, lon in y
    swapped.write_text("name,lat,lon\nHohhot,40.81,111.65\nBaotou,40.65,109.84\n")
    with pytest.raises(CRSError) as err:
        read_csv_points(swapped, "lat", "lon", "EPSG:4326", what="sites file")
    text = str(err.value)
    assert "clinics.csv" in text and "(40.81, 111.65)" in text
    assert "latitude and longitude are swapped" in text


def test_metres_read_as_degrees_names_the_cause(tmp_path: Path) -> None:
    metres = tmp_path / "cells.csv"  # UTM 49N metres given crs EPSG:4326
    metres.write_text("x,y,population\n500123.5,4516000,10\n501000,4517000,20\n")
    with pytest.raises(CRSError) as err:
        read_csv_points(metres, "x", "y", "EPSG:4326", what="population file")
    text = str(err.value)
    assert "cells.csv" in text and "(500124, 4516000)" in text
    assert "metres of a projected CRS read as degrees" in text
    # a GeoJSON / GeoPackage without a CRS given the wrong one: the same check
    gpkg = tmp_path / "cells.gpkg"
    gpd.GeoDataFrame(
        {"population": [10]}, geometry=[Point(500_123.5, 4_516_000)], crs="EPSG:4326"
    ).to_file(gpkg)
    with pytest.raises(CRSError, match=r"cells\.gpkg.*metres of a projected CRS"):
        read_vector(gpkg, what="population file")


def test_lonlat_labelled_utm_names_the_cause(tmp_path: Path) -> None:
    labelled = tmp_path / "villages.geojson"
    gpd.GeoDataFrame(
        {"population": [100, 200]},
        geometry=[Point(111.65, 40.81), Point(111.70, 40.80)],
        crs="EPSG:32649",
    ).to_file(labelled)
    with pytest.raises(CRSError) as err:
        read_vector(labelled, what="population file")
    text = str(err.value)
    assert "villages.geojson" in text and "(111.65, 40.81)" in text
    assert "longitude/latitude labelled EPSG:32649" in text


def test_undeclared_nodata_sentinel_is_dropped_and_reported(tmp_path: Path) -> None:
    from geodata.population import load_population

    data = np.array([[5.0, -99999.0, -99999.0], [7.0, 3.4028235e38, 2.0]], dtype=np.float32)
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=2, width=3, count=1, dtype="float32",
        crs="EPSG:32649", transform=Affine(100.0, 0, 500_000, 0, -100.0, 4_500_000),
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    demand = load_population(path)
    # float32's largest value is a sentinel too (it would be 3.4e38 residents otherwise)
    assert demand["population"].tolist() == [5.0, 7.0, 2.0]
    [note] = demand.attrs["notes"]
    assert "2 cells hold -99999" in note and "does not declare" in note
    # declared: no note
    with rasterio.open(path, "r+") as dst:
        dst.nodata = -99999.0
    assert "notes" not in load_population(path).attrs


@pytest.mark.slow
def test_wuhan_raster_without_its_nodata_tag(data_dir: Path, tmp_path: Path) -> None:
    """The real Wuhan raster with its nodata tag removed: the -99999 cells (2,277,540) are
    found, left out and reported; the demand is the same as with the tag."""
    from geodata.population import load_population

    source = (
        data_dir / "wuhan-worldpop-age-structure-100m" / "wuhan_pop_age65plus_worldpop_100m.tif"
    )
    with rasterio.open(source) as src:
        profile, band = src.profile, src.read(1)
    profile.update(nodata=None)
    bare = tmp_path / "bare.tif"
    with rasterio.open(bare, "w", **profile) as dst:
        dst.write(band, 1)
    tagged, untagged = load_population(source), load_population(bare)
    assert len(untagged) == len(tagged) and untagged["population"].sum() == pytest.approx(
        tagged["population"].sum()
    )
    assert "2,277,540 cells hold -99999" in untagged.attrs["notes"][0]
