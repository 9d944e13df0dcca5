"""Demand from population data: rasters (WorldPop-style GeoTIFF) and vector layers.

Every function returns a GeoDataFrame with ``demand_id`` (str), ``population`` (float64 > 0)
and a Point geometry in the source CRS: the cell centre for rasters, the point itself or a
polygon's representative point (always inside the polygon) for vectors.

Polygons can instead be spread over their area (:func:`spread_population`, or
``polygon_spacing=`` when loading): a grid of points inside each polygon, each weighted by its
share of the area, so a large district is never collapsed onto one point.

Rasters must hold persons per cell (WorldPop "ppp" / age-structure counts), not densities.
Raster cells that are nodata, masked, NaN, negative or zero are dropped. In vector files, rows
with population 0 are dropped, while a negative, missing (NaN / NULL) or non-numeric population
is an error naming the rows: a silent drop could hide a wrong column or a broken export.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import CRS

from geodata.readers import (
    add_note,
    check_columns,
    check_crs,
    is_csv,
    open_raster,
    read_csv_points,
    read_vector,
    source_path,
)
from siting_errors import CRSError, InputError, UnsupportedFormatError

__all__ = [
    "RASTER_SUFFIXES",
    "VECTOR_SUFFIXES",
    "demand_from_array",
    "load_population",
    "load_population_raster",
    "load_population_vector",
    "spread_population",
]

logger = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".csv", ".zip")

_VECTOR_KWARGS = (
    "population_column",
    "id_column",
    "name_column",
    "layer",
    "x_column",
    "y_column",
    "crs",
    "polygon_spacing",
)


def _boundary_geometry(boundary: Any, crs: CRS) -> shapely.Geometry | None:
    """``boundary`` as one (multi)polygon in ``crs``."""
    if boundary is None:
        return None
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        if boundary.crs is None:
            raise CRSError("`boundary` has no CRS; set one (e.g. .set_crs('EPSG:4326'))")
        geom = shapely.union_all(boundary.to_crs(crs).geometry.to_numpy())
    elif isinstance(boundary, shapely.Geometry):
        geom = boundary
    else:
        raise InputError(
            "`boundary` must be a GeoDataFrame, GeoSeries or shapely (Multi)Polygon in the "
            f"population CRS, got {type(boundary).__name__}"
        )
    if geom is None or geom.is_empty or shapely.area(geom) <= 0:
        raise InputError(f"`boundary` must be a non-empty polygon, got {geom.geom_type}")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return geom


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Creating 500k shapely points and id strings otherwise triggers hundreds of collections that
    rescan every live object (measured: 1.0 s -> 0.4 s for the Wuhan raster). Reference
    counting still frees memory meanwhile; the previous state is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _cell_ids(rows: np.ndarray, cols: np.ndarray) -> list[str]:
    """``"r{row}c{col}"`` for each cell (string pieces built once per row and column)."""
    if len(rows) == 0:
        return []
    row_str = [f"r{i}" for i in range(int(rows.max()) + 1)]
    col_str = [f"c{j}" for j in range(int(cols.max()) + 1)]
    return [row_str[r] + col_str[c] for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]


def _apply(t: Affine, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``t`` applied to arrays: (col, row) -> (x, y), or the inverse for ``~t``."""
    return t.a * u + t.b * v + t.c, t.d * u + t.e * v + t.f


#: values commonly written for "no data" by GIS software (GDAL, ArcGIS, WorldPop, ERDAS)
_SENTINELS = (-9999.0, -99999.0, -999999.0, -3.4028234663852886e38, -1e20, 3.4028234663852886e38)


def _undeclared_nodata(data: np.ndarray, mask: np.ndarray | None) -> list[tuple[float, int]]:
    """The nodata sentinels the raster holds without declaring them: the common sentinel
    values (and, for integers, the type's largest value, repeated), as ``(value, cells)``,
    most frequent first."""
    cells = data if mask is None else data[mask]
    found: list[tuple[int, float]] = []
    if np.issubdtype(data.dtype, np.floating):
        extreme = cells[(cells <= -9999.0) | (cells >= 1e30)]
        for value in _SENTINELS:
            count = int(np.count_nonzero(extreme == np.asarray(value, dtype=data.dtype)))
            if count:
                found.append((count, float(np.asarray(value, dtype=data.dtype))))
    elif np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        for value in (*(v for v in _SENTINELS[:3] if info.min <= v), float(info.max)):
            count = int(np.count_nonzero(cells == int(value)))
            # a real count at the type's maximum, repeated, is implausible; a sentinel is
            if count > (1 if value == info.max else 0):
                found.append((count, value))
    return [(value, count) for count, value in sorted(found, reverse=True)]


def demand_from_array(
    array: np.ndarray,
    transform: Affine,
    crs: CRS | str,
    *,
    nodata: float | None = None,
    boundary: Any = None,
) -> gpd.GeoDataFrame:
    """Demand points at the centres of the cells of ``array`` with population > 0.

    ``array`` holds persons per cell (rows top to bottom, as read by rasterio; a masked array's
    mask is honoured); ``transform`` maps (col, row) to ``crs`` coordinates. Cells equal to
    ``nodata``, masked, NaN, negative or zero are dropped. Without a declared ``nodata``, a
    common sentinel (-9999, -99999, ±3.4e38, an integer type's maximum repeated) is detected,
    treated as nodata and reported: a warning, and a note in ``attrs["notes"]``. ``boundary``
    (a shapely polygon in ``crs``, or a GeoDataFrame / GeoSeries in any CRS) keeps only the
    cells whose centre lies strictly inside it. ``demand_id`` is ``"r{row}c{col}"`` (0-based)
    in row-major order.
    """
    crs = check_crs(crs, "the population raster")
    if not isinstance(transform, Affine):
        raise InputError(
            f"`transform` must be an affine.Affine (e.g. rasterio's src.transform), "
            f"got {type(transform).__name__}"
        )
    if transform.determinant == 0:
        raise InputError(f"`transform` is degenerate (determinant 0): {tuple(transform)[:6]}")
    valid_mask = None
    if isinstance(array, np.ma.MaskedArray):
        valid_mask = ~np.ma.getmaskarray(array)
        array = array.data
    data = np.asarray(array)
    if data.ndim != 2:
        raise InputError(f"population array must be 2-dimensional, got shape {data.shape}")
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise InputError(f"population array must be numeric, got dtype {data.dtype}")
    valid = data > 0  # False for NaN and negatives
    if nodata is not None and not np.isnan(nodata):
        valid &= data != nodata
    sentinels = [] if nodata is not None else _undeclared_nodata(data, valid_mask)
    for value, _ in sentinels:
        valid &= data != np.asarray(value, dtype=data.dtype)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data)
    if valid_mask is not None:
        valid &= valid_mask
    geom = _boundary_geometry(boundary, crs)
    if geom is not None:
        # only test cells whose centre can be inside the boundary's bounding box
        height, width = data.shape
        xmin, ymin, xmax, ymax = geom.bounds
        corners_c, corners_r = _apply(
            ~transform, np.array([xmin, xmin, xmax, xmax]), np.array([ymin, ymax, ymin, ymax])
        )
        r0 = int(np.clip(np.floor(corners_r.min()) - 1, 0, height))
        r1 = int(np.clip(np.ceil(corners_r.max()) + 1, 0, height))
        c0 = int(np.clip(np.floor(corners_c.min()) - 1, 0, width))
        c1 = int(np.clip(np.ceil(corners_c.max()) + 1, 0, width))
        window = np.zeros_like(valid)
        window[r0:r1, c0:c1] = valid[r0:r1, c0:c1]
        valid = window
    rows, cols = np.nonzero(valid)
    xs, ys = _apply(transform, cols + 0.5, rows + 0.5)
    if geom is not None:
        shapely.prepare(geom)
        inside = shapely.contains_xy(geom, xs, ys)
        rows, cols, xs, ys = rows[inside], cols[inside], xs[inside], ys[inside]
    if len(rows) == 0:
        raise InputError(
            "the population data has no cell with population > 0"
            + (" inside the boundary" if geom is not None else "")
            + f" (array shape {data.shape}, nodata {nodata!r})"
        )
    with _gc_paused():
        demand = gpd.GeoDataFrame(
            {
                "demand_id": pd.array(_cell_ids(rows, cols), dtype="str"),
                "population": data[rows, cols].astype(np.float64),
            },
            geometry=gpd.points_from_xy(xs, ys),
            crs=crs,
        )
    if sentinels:
        held = " and ".join(f"{count:,} cells hold {value:g}" for value, count in sentinels)
        note = (
            f"{held}, a nodata value the raster does not declare: treated as nodata (no "
            f"population); declare it (e.g. `gdal_edit.py -a_nodata {sentinels[0][0]:g}`) to "
            "silence this"
        )
        logger.warning("population raster: %s", note)
        add_note(demand, f"population raster: {note}")
    return demand


def load_population_raster(
    path: str | Path, *, band: int = 1, boundary: Any = None
) -> gpd.GeoDataFrame:
    """Demand from a GeoTIFF population raster holding persons per cell (WorldPop style).

    The raster's nodata value and mask are honoured; see :func:`demand_from_array` for the
    cells kept, the ids and ``boundary``.
    """
    text = str(path)
    with open_raster(path, what="population raster") as src:
        if not 1 <= band <= src.count:
            raise InputError(f"`band` must be in 1..{src.count} for {text!r}, got {band}")
        array = src.read(band, masked=True)
        transform, crs, nodata = src.transform, CRS.from_user_input(src.crs), src.nodata
    try:
        demand = demand_from_array(array, transform, crs, nodata=nodata, boundary=boundary)
    except InputError as exc:
        raise type(exc)(f"population raster {text!r}: {exc}") from exc
    logger.info(
        "%s: %d cells with population > 0, %.0f persons", text, len(demand), demand.population.sum()
    )
    return demand


def _representative_points(geoms: np.ndarray, what: str) -> np.ndarray:
    """Points as they are; (multi)polygons and multipoints as a point inside them."""
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InputError(
            f"{what}: {int(missing.sum())} rows have no geometry "
            f"(first rows: {np.flatnonzero(missing)[:5].tolist()})"
        )
    kinds = shapely.get_type_id(geoms)
    allowed = np.isin(kinds, [0, 3, 4, 6])  # Point, Polygon, MultiPoint, MultiPolygon
    if not allowed.all():
        bad = sorted({g.geom_type for g in geoms[~allowed]})
        raise InputError(f"{what} must hold points or polygons, got {bad}")
    return np.where(kinds == 0, geoms, shapely.point_on_surface(geoms))


#: default grid spacing (m) and the most points per polygon when spreading polygons
SPREAD_SPACING_M = 250.0
SPREAD_MAX_POINTS = 400


def spread_population(
    areas: gpd.GeoDataFrame,
    *,
    population_column: str = "population",
    id_column: str = "demand_id",
    spacing: float = SPREAD_SPACING_M,
    max_points: int = SPREAD_MAX_POINTS,
) -> gpd.GeoDataFrame:
    """Demand points spread over polygons, uniformly by area.

    A square grid of ``spacing`` metres (in the local UTM zone) is laid over each polygon
    (coarser where a polygon would get more than ``max_points`` cells, so a 1,000 km² rural
    township stays a few hundred points); each cell's part inside the polygon becomes one point
    on that part, with the polygon's population times the part's share of the polygon's area.
    A polygon smaller than one cell is one point inside it. Points stay as they are.

    Returns ``demand_id`` (``<id>:<k>`` for the parts of a split polygon, the id itself for
    an unsplit one), ``population``, ``area_id`` (the polygon's id) and point geometries, in
    the input CRS; the populations of each polygon's points sum to its population.
    """
    if not isinstance(areas, gpd.GeoDataFrame):
        raise InputError(f"`areas` must be a GeoDataFrame, got {type(areas).__name__}")
    check_columns(areas, (population_column, id_column), what="`areas`")
    if areas.crs is None:
        raise CRSError("`areas` has no CRS; set one (e.g. .set_crs('EPSG:4326'))")
    if not (isinstance(spacing, int | float) and np.isfinite(spacing) and spacing > 0):
        raise InputError(f"`spacing` must be a number of metres > 0, got {spacing!r}")
    if not (isinstance(max_points, int) and max_points >= 1):
        raise InputError(f"`max_points` must be a whole number >= 1, got {max_points!r}")
    from geodata.crs import local_utm_crs

    crs = local_utm_crs(areas)
    geoms = areas.geometry.to_crs(crs).to_numpy()
    pops = pd.to_numeric(areas[population_column], errors="coerce").to_numpy(dtype=np.float64)
    ids = areas[id_column].astype(str).to_numpy(dtype=object)
    out_ids: list[np.ndarray] = []
    out_pop: list[np.ndarray] = []
    out_area: list[np.ndarray] = []
    out_geom: list[np.ndarray] = []
    for gid, geom, pop in zip(ids, geoms, pops, strict=True):
        kind = shapely.get_type_id(geom)
        area = float(shapely.area(geom)) if kind in (3, 6) else 0.0
        step = float(spacing)
        if area > 0 and area / step**2 > max_points:
            step = float(np.sqrt(area / max_points))
        if area <= 0 or area <= step**2:
            pieces = np.array([geom if kind == 0 else shapely.point_on_surface(geom)])
            shares = np.ones(1)
        else:
            x0, y0, x1, y1 = shapely.bounds(geom)
            xs = np.arange(np.floor(x0 / step) * step, x1, step)
            ys = np.arange(np.floor(y0 / step) * step, y1, step)
            gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
            cells = shapely.box(gx, gy, gx + step, gy + step)
            shapely.prepare(geom)
            cells = cells[shapely.intersects(geom, cells)]
            parts = shapely.intersection(cells, geom)
            part_area = shapely.area(parts)
            keep = part_area > 1e-3 * step**2  # slivers (reprojection noise) go to the rest
            parts, part_area = parts[keep], part_area[keep]
            pieces = shapely.point_on_surface(parts)
            shares = part_area / part_area.sum()
        n = len(pieces)
        out_ids.append(
            np.array([gid], dtype=object)
            if n == 1
            else np.array([f"{gid}:{k}" for k in range(n)], dtype=object)
        )
        out_pop.append(pop * shares)
        out_area.append(np.full(n, gid, dtype=object))
        out_geom.append(pieces)
    points = gpd.GeoSeries(np.concatenate(out_geom) if out_geom else [], crs=crs)
    return gpd.GeoDataFrame(
        {
            "demand_id": pd.array(np.concatenate(out_ids) if out_ids else [], dtype="str"),
            "population": np.concatenate(out_pop) if out_pop else np.zeros(0),
            "area_id": pd.array(np.concatenate(out_area) if out_area else [], dtype="str"),
        },
        geometry=points.to_crs(areas.crs).to_numpy(),
        crs=areas.crs,
    )


def load_population_vector(
    path: str | Path,
    *,
    population_column: str = "population",
    id_column: str | None = None,
    layer: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    crs: CRS | str | None = None,
    polygon_spacing: float | None = None,
    name_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Demand from points or polygons with a population column.

    Formats: GeoJSON, GeoPackage (``layer`` picks a layer), shapefile, zipped GeoPackage or
    shapefile (``.zip`` or a ``zip://`` path), and CSV with ``x_column``/``y_column``. A CSV has
    no CRS, so ``crs`` is required for it; for the other formats ``crs`` only applies when the
    file declares none. ``demand_id`` comes from ``id_column``, else a ``demand_id`` column,
    else an ``id`` column when its values are unique, else ``"d{row}"`` (0-based row in the
    file); ids given by ``id_column`` must be unique. ``name_column`` keeps a
    name per point (column ``name``: a village, a sub-district) for the outputs.

    Rows with population 0 are dropped; a negative, missing or non-numeric population is an
    :class:`InputError` naming the rows (fix the data or filter it first).

    Polygons become one representative point each, or, with ``polygon_spacing`` (metres), a
    grid of points spread over their area (:func:`spread_population`).
    """
    text, local = source_path(path, "population file")
    if is_csv(text, local):
        gdf = read_csv_points(local, x_column, y_column, crs, what="population file")
    else:
        gdf = read_vector(text, what="population file", layer=layer, crs=crs)
    if len(gdf) == 0:
        raise InputError(f"population file {text!r} has no cell with population > 0 (it is empty)")
    what = f"population file {text!r}"
    check_columns(gdf, [population_column], what=what, hint="; pass population_column=")
    check_columns(gdf, [id_column, name_column], what=what)
    raw = gdf[population_column]
    pop = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        first = np.flatnonzero(bad)[:5]
        values = [v.item() if isinstance(v, np.generic) else v for v in raw.iloc[first]]
        raise InputError(
            f"population file {text!r}: `{population_column}` must be a number >= 0, got "
            f"{values[0]!r} on row {first[0]} ({int(bad.sum())} bad rows; first rows "
            f"{first.tolist()}: {values}). Fix or filter these rows first."
        )
    if id_column is None and "demand_id" in gdf.columns:
        id_column = "demand_id"
    if id_column is None and "id" in gdf.columns:  # the layer's own ids, when they are ids
        found = gdf["id"]
        if found.notna().all() and not found.astype(str).duplicated().any():
            id_column = "id"
    if id_column is not None:
        ids = gdf[id_column].astype(str).to_numpy(dtype=object)
        dup = pd.unique(ids[pd.Series(ids).duplicated().to_numpy()])
        if len(dup):
            raise InputError(
                f"population file {text!r}: ids in {id_column!r} must be unique, "
                f"{len(dup)} are repeated (e.g. {dup[:5].tolist()})"
            )
    else:
        ids = np.array([f"d{i}" for i in range(len(gdf))], dtype=object)
    keep = pop > 0
    if not keep.any():
        raise InputError(f"population file {text!r} has no cell with population > 0")
    if not keep.all():
        logger.info("%s: dropped %d rows with population 0", text, int((~keep).sum()))
    geoms = gdf.geometry.to_numpy()[keep]
    points = _representative_points(geoms, f"population file {text!r}")
    names = (
        gdf[name_column].fillna("").astype(str).to_numpy(dtype=object)[keep]
        if name_column is not None
        else None
    )
    if polygon_spacing is not None and (shapely.get_type_id(geoms) != 0).any():
        areas = gpd.GeoDataFrame(
            {"demand_id": ids[keep], "population": pop[keep]}, geometry=geoms, crs=gdf.crs
        )
        spread = spread_population(areas, spacing=polygon_spacing)
        if names is not None:
            by_area = pd.Series(names, index=ids[keep])
            spread.insert(1, "name", by_area.reindex(spread["area_id"]).to_numpy())
        return spread.drop(columns="area_id")
    columns: dict[str, Any] = {"demand_id": pd.array(ids[keep], dtype="str")}
    if names is not None:
        columns["name"] = names
    columns["population"] = pop[keep]
    return gpd.GeoDataFrame(columns, geometry=points, crs=gdf.crs)


def _supported() -> str:
    return ", ".join(RASTER_SUFFIXES + VECTOR_SUFFIXES)


def load_population(path: str | Path, **kwargs: Any) -> gpd.GeoDataFrame:
    """Demand from a raster or vector file, chosen by the file suffix.

    ``.tif``/``.tiff`` go to :func:`load_population_raster`; ``.geojson``, ``.json``,
    ``.gpkg``, ``.shp``, ``.csv`` and ``.zip`` to :func:`load_population_vector`. ``kwargs``
    are passed on.
    """
    text, _ = source_path(path, "population file")
    suffix = Path(text.split("!", 1)[-1]).suffix.lower()
    if suffix in RASTER_SUFFIXES:
        _check_kwargs(kwargs, ("band", "boundary"), f"population raster {text!r}")
        return load_population_raster(path, **kwargs)
    if suffix in VECTOR_SUFFIXES:
        _check_kwargs(kwargs, _VECTOR_KWARGS, f"population file {text!r}")
        return load_population_vector(path, **kwargs)
    raise UnsupportedFormatError(
        f"population file {text!r} has an unsupported format {suffix or '(no suffix)'!r}; "
        f"supported: {_supported()}"
    )


def _check_kwargs(kwargs: dict[str, Any], allowed: Sequence[str], what: str) -> None:
    extra = sorted(set(kwargs) - set(allowed))
    if extra:
        raise InputError(f"{what} does not take {extra}; it takes {sorted(allowed)}")
