"""Demand from population data: rasters (WorldPop-style GeoTIFF) and vector layers.

Every loader returns a GeoDataFrame with ``demand_id`` (str), ``population`` (float > 0) and a
Point geometry (cell centre, or a polygon's representative point) in the source CRS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import CRS

from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

__all__ = [
    "RASTER_SUFFIXES",
    "VECTOR_SUFFIXES",
    "demand_from_array",
    "load_population",
    "load_population_raster",
    "load_population_vector",
]

logger = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".csv", ".zip")


def _boundary_geometry(boundary: Any, crs: CRS) -> shapely.Geometry | None:
    if boundary is None:
        return None
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        if boundary.crs is None:
            raise CRSError("`boundary` has no CRS")
        return shapely.union_all(boundary.to_crs(crs).geometry.to_numpy())
    if isinstance(boundary, shapely.Geometry):
        return boundary
    raise InputError(
        f"`boundary` must be a GeoDataFrame, GeoSeries or shapely geometry, "
        f"got {type(boundary).__name__}"
    )


def demand_from_array(
    array: np.ndarray,
    transform: Affine,
    crs: CRS | str,
    *,
    nodata: float | None = None,
    boundary: Any = None,
) -> gpd.GeoDataFrame:
    """Demand points at the centres of cells with population > 0.

    Nodata, NaN, negative and zero cells are dropped. ``boundary`` (a polygon in ``crs``, or a
    GeoDataFrame in any CRS) keeps only cells whose centre lies inside it.
    """
    if crs is None:
        raise CRSError("the population raster has no CRS")
    data = np.asarray(array, dtype=np.float64)
    if data.ndim != 2:
        raise InputError(f"population array must be 2-dimensional, got shape {data.shape}")
    valid = np.isfinite(data) & (data > 0)
    if nodata is not None and np.isfinite(nodata):
        valid &= data != nodata
    rows, cols = np.nonzero(valid)
    c, r = cols + 0.5, rows + 0.5
    xs = transform.c + c * transform.a + r * transform.b
    ys = transform.f + c * transform.d + r * transform.e
    crs = CRS.from_user_input(crs)
    geom = _boundary_geometry(boundary, crs)
    if geom is not None:
        inside = shapely.contains_xy(geom, xs, ys)
        rows, cols, xs, ys = rows[inside], cols[inside], xs[inside], ys[inside]
    if len(rows) == 0:
        raise InputError(
            "the population data has no cell with population > 0"
            + (" inside the boundary" if geom is not None else "")
        )
    ids = np.char.add(np.char.add("r", rows.astype(str)), np.char.add("c", cols.astype(str)))
    return gpd.GeoDataFrame(
        {"demand_id": ids.astype(object), "population": data[rows, cols]},
        geometry=gpd.points_from_xy(xs, ys),
        crs=crs,
    )


def _exists(path: str | Path) -> Path:
    p = Path(path)
    if not str(path).startswith("zip://") and not p.exists():
        raise DataNotFoundError(f"population file {str(path)!r} does not exist")
    return p


def load_population_raster(
    path: str | Path, *, band: int = 1, boundary: Any = None
) -> gpd.GeoDataFrame:
    """Demand from a GeoTIFF population raster (persons per cell, WorldPop style)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    p = _exists(path)
    try:
        with rasterio.open(p) as src:
            if src.crs is None:
                raise CRSError(f"population raster {str(p)!r} has no CRS")
            if not 1 <= band <= src.count:
                raise InputError(f"`band` must be in 1..{src.count} for {str(p)!r}, got {band}")
            array = src.read(band, masked=False)
            return demand_from_array(
                array, src.transform, src.crs, nodata=src.nodata, boundary=boundary
            )
    except RasterioIOError as exc:
        raise UnsupportedFormatError(f"{str(p)!r} is not a readable raster: {exc}") from exc


def load_population_vector(
    path: str | Path,
    *,
    population_column: str = "population",
    id_column: str | None = None,
    layer: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    crs: CRS | str | None = None,
) -> gpd.GeoDataFrame:
    """Demand from points or polygons with a population column (GeoJSON, GeoPackage, shapefile,
    zipped GeoPackage, or CSV with x,y columns — CSV needs ``crs``). Rows with population 0
    are dropped; negative or non-numeric populations are an error."""
    p = _exists(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        if crs is None:
            raise CRSError(
                f"CSV population file {str(p)!r} has no CRS: pass crs= "
                "(e.g. 'EPSG:4326' for lon/lat)"
            )
        frame = pd.read_csv(p)
        for col in (x_column, y_column):
            if col not in frame.columns:
                raise InputError(
                    f"CSV {str(p)!r} has no coordinate column {col!r} "
                    f"(columns: {list(frame.columns)})"
                )
        gdf = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame[x_column], frame[y_column]), crs=crs
        )
    else:
        import pyogrio

        source = f"zip://{p}" if suffix == ".zip" else str(p)
        try:
            gdf = gpd.read_file(source, layer=layer)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise UnsupportedFormatError(
                f"{str(p)!r} is not a readable vector file: {exc}"
            ) from exc
        if gdf.crs is None:
            if crs is None:
                raise CRSError(f"vector population file {str(p)!r} has no CRS; pass crs=")
            gdf = gdf.set_crs(crs)
    if population_column not in gdf.columns:
        raise InputError(
            f"population file {str(p)!r} has no column {population_column!r} "
            f"(columns: {[c for c in gdf.columns if c != 'geometry']})"
        )
    pop = pd.to_numeric(gdf[population_column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = gdf[population_column].iloc[i]
        value = value.item() if isinstance(value, np.generic) else value
        raise InputError(
            f"population file {str(p)!r}: `{population_column}` must be a number "
            f">= 0, got {value!r} on row {i} "
            f"({int(bad.sum())} bad rows)"
        )
    keep = pop > 0
    if not keep.any():
        raise InputError(f"population file {str(p)!r} has no row with population > 0")
    gdf = gdf[keep]
    ids = (
        gdf[id_column].astype(str).to_numpy()
        if id_column
        else np.array([f"d{i}" for i in np.flatnonzero(keep)], dtype=object)
    )
    geom = gdf.geometry
    points = np.where(
        geom.geom_type.isin(["Point"]), geom.to_numpy(), shapely.point_on_surface(geom.to_numpy())
    )
    return gpd.GeoDataFrame(
        {"demand_id": ids, "population": pop[keep]},
        geometry=gpd.GeoSeries(points, crs=gdf.crs).to_numpy(),
        crs=gdf.crs,
    ).reset_index(drop=True)


def load_population(path: str | Path, **kwargs: Any) -> gpd.GeoDataFrame:
    """Demand from a raster (``.tif``) or vector file, chosen by the file suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return load_population_raster(path, **kwargs)
    if suffix in VECTOR_SUFFIXES:
        return load_population_vector(path, **kwargs)
    _exists(path)
    raise UnsupportedFormatError(
        f"population file {str(path)!r} has an unsupported format {suffix!r}; supported: "
        f"{', '.join(RASTER_SUFFIXES + VECTOR_SUFFIXES)}"
    )
