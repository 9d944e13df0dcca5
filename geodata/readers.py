"""Reading users' input files: vector layers, CSV files of points and rasters, with the checks
every loader needs (the file exists, it is readable, it has a CRS, the columns are there).

Every GDAL / OGR (and CSV) open of a user's file in :mod:`geodata` goes through
:func:`_open` here, so a guard (a driver allow-list, no VRT, no ``/vsi*`` or network paths)
is checked in one place: each reader takes an optional ``guard``, called with the source string
GDAL would open and its kind (``"vector"``, ``"raster"``, ``"csv"``) before anything is opened;
it raises to refuse the source.

The loaders (:mod:`geodata.population`, :mod:`geodata.candidates`, :mod:`geodata.boundaries`)
build their frames on top of these readers.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError

from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

__all__ = [
    "SourceGuard",
    "add_note",
    "check_columns",
    "check_coordinates",
    "check_crs",
    "is_csv",
    "open_raster",
    "read_columns",
    "read_csv_points",
    "read_vector",
    "source_path",
]

logger = logging.getLogger(__name__)

SourceKind = Literal["vector", "raster", "csv"]
#: called with the source string and its kind before a file is opened; raises to refuse it
SourceGuard = Callable[[str, SourceKind], None]


def check_crs(crs: Any, what: str) -> CRS:
    """``crs`` as a pyproj CRS; a :class:`CRSError` naming ``what`` when it is missing or not a
    CRS."""
    if crs is None:
        raise CRSError(f"{what} has no CRS")
    try:
        return CRS.from_user_input(crs)
    except PyprojCRSError as exc:
        raise CRSError(f"{what}: {crs!r} is not a valid CRS ({exc})") from exc


def check_columns(
    frame: pd.DataFrame, columns: Iterable[str | None], *, what: str, hint: str = ""
) -> None:
    """Every column named in ``columns`` (``None`` skipped) is in ``frame``; else an
    :class:`InputError` naming ``what``, the missing column and the columns there are."""
    for column in columns:
        if column is not None and column not in frame.columns:
            geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
            there = [c for c in frame.columns if c != geometry]
            raise InputError(f"{what} has no column {column!r} (columns: {there}){hint}")


def _number(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1e5 else f"{v:.6g}"


def _sample(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> str:
    """The first few ``(x, y)`` values of ``rows``, as the user would read them."""
    return ", ".join(f"({_number(x[i])}, {_number(y[i])})" for i in rows[:3])


def add_note(frame: pd.DataFrame, note: str) -> None:
    """Attach a sentence the user must read to a loaded frame (``frame.attrs["notes"]``): a
    loader's finding that is not an error (an undeclared nodata value, generated candidates).
    :func:`siting.plan` copies these notes into the plan's notes."""
    notes = list(frame.attrs.get("notes", []))
    notes.append(note)
    frame.attrs["notes"] = notes


def check_coordinates(frame: gpd.GeoDataFrame, what: str) -> None:
    """Coordinates that cannot be right for the frame's CRS are a :class:`CRSError` naming
    ``what`` (the file), how many features are wrong, a sample of their values and the likely
    cause:

    - a geographic CRS (longitude/latitude) with values beyond ±180 / ±90: latitude and
      longitude swapped (x within ±90, y within ±180), or metres read as degrees (a projected
      file without its CRS, or a CSV given the wrong one);
    - a projected CRS (metres) whose values all lie within ±180 / ±90: longitude/latitude
      labelled with a projected CRS (e.g. a lon/lat file declared EPSG:32649);
    - a projected CRS whose values cannot be transformed to longitude/latitude.

    Missing and empty geometries are left to the loaders (they name the rows).
    """
    if frame.crs is None or len(frame) == 0:
        return
    bounds = shapely.bounds(frame.geometry.to_numpy())
    ok = np.isfinite(bounds).all(axis=1)
    if not ok.any():
        return
    x0, y0, x1, y1 = (bounds[ok, k] for k in range(4))
    crs = CRS.from_user_input(frame.crs)
    name = crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}"
    if crs.is_geographic:
        bad = (np.minimum(x0, -x1) < -180) | (np.minimum(y0, -y1) < -90)
        if not bad.any():
            return
        rows = np.flatnonzero(bad)
        swapped = (np.maximum(np.abs(x0), np.abs(x1)) <= 90) & (
            np.maximum(np.abs(y0), np.abs(y1)) <= 180
        )
        if swapped.all():
            cause = (
                "latitude and longitude are swapped (x holds latitudes, y longitudes): swap the "
                "x and y columns"
            )
        else:
            cause = (
                "the values are metres of a projected CRS read as degrees: the file has no CRS "
                "or the wrong one; give the CRS they are in (e.g. EPSG:32649, UTM 49N)"
            )
        raise CRSError(
            f"{what}: {len(rows)} of {int(ok.sum())} features have coordinates outside "
            f"longitude ±180 / latitude ±90, impossible in {name} (x, y: "
            f"{_sample(x0, y0, rows)}); likely cause: {cause}"
        )
    if not crs.is_projected:
        return
    if (np.maximum(np.abs(x0), np.abs(x1)) <= 180).all() and (
        np.maximum(np.abs(y0), np.abs(y1)) <= 90
    ).all():
        rows = np.arange(len(x0))
        raise CRSError(
            f"{what}: every coordinate lies within ±180 / ±90 (x, y: {_sample(x0, y0, rows)}), "
            f"but the CRS is {name}, in metres: those would all lie within 180 m of its origin. "
            f"Likely cause: longitude/latitude labelled {name}; declare EPSG:4326 instead"
        )
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x0, y0)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise CRSError(
            f"{what}: {len(rows)} of {len(x0)} features have coordinates that {name} cannot "
            f"transform to longitude/latitude (x, y: {_sample(x0, y0, rows)}); likely cause: "
            "the CRS is not the one the values are in"
        )


def source_path(path: str | Path, what: str) -> tuple[str, Path]:
    """``(string for GDAL, local file)``; raise if the local file does not exist.

    ``zip:///a/b.gpkg.zip`` and ``zip:///a/b.zip!inner.gpkg`` are checked on ``/a/b.zip``.
    """
    text = str(path)
    local = Path(text.removeprefix("zip://").split("!", 1)[0])
    if not local.exists():
        raise DataNotFoundError(f"{what} {text!r} does not exist")
    if local.is_dir() and not text.startswith("zip://"):
        raise UnsupportedFormatError(f"{what} {text!r} is a directory, expected a file")
    return text, local


def is_csv(text: str, local: Path) -> bool:
    """Whether a source is a plain CSV file (read by :func:`read_csv_points`)."""
    return local.suffix.lower() == ".csv" and not text.startswith("zip://")


def _open(
    source: str,
    kind: SourceKind,
    guard: SourceGuard | None,
    *,
    header: bool = False,
    **options: Any,
) -> Any:
    """The one place a user's file is opened: the guard first, then GDAL / OGR (pyogrio through
    geopandas for vectors, rasterio for rasters) or pandas for CSV. ``header`` reads only the
    field names of a vector layer or CSV file."""
    if guard is not None:
        guard(source, kind)
    if kind == "vector":
        if header:
            import pyogrio

            return list(pyogrio.read_info(source, layer=options.get("layer"))["fields"])
        return gpd.read_file(source, **options)
    if kind == "csv" and header:
        return [str(c) for c in pd.read_csv(source, nrows=0, **options).columns]
    if kind == "raster":
        import rasterio

        return rasterio.open(source, **options)
    return pd.read_csv(source, **options)


def read_columns(
    path: str | Path, *, what: str, layer: str | None = None, guard: SourceGuard | None = None
) -> list[str]:
    """The field names of a vector layer or CSV file (a raster has none: ``[]``), read without
    the features (to tell which of several files has a column the user named)."""
    import pyogrio

    text, local = source_path(path, what)
    if local.suffix.lower() in (".tif", ".tiff"):
        return []
    try:
        if is_csv(text, local):
            return list(_open(str(local), "csv", guard, header=True))
        source = f"zip://{local}" if local.suffix.lower() == ".zip" and text == str(local) else text
        return list(_open(source, "vector", guard, header=True, layer=layer))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise UnsupportedFormatError(f"{text!r} is not a readable vector file: {exc}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UnsupportedFormatError(f"{text!r} is not a readable CSV file: {exc}") from exc


def read_vector(
    path: str | Path,
    *,
    what: str,
    layer: str | None = None,
    crs: Any = None,
    encoding: str | None = None,
    require_crs: bool = True,
    guard: SourceGuard | None = None,
) -> gpd.GeoDataFrame:
    """A vector layer (GeoJSON, GeoPackage, shapefile, zipped ones) as a GeoDataFrame.

    ``what`` names the file in errors (e.g. ``"population file"``). A ``.zip`` is read through
    ``zip://``. A shapefile without a ``.cpg`` is read as UTF-8 (GDAL would assume ISO-8859-1
    and garble Chinese names) unless ``encoding`` says otherwise. ``crs`` applies when the file
    declares none (a declared CRS wins, with a warning when they differ); a file with no CRS
    and no ``crs`` is a :class:`CRSError` unless ``require_crs`` is False.
    """
    import pyogrio

    text, local = source_path(path, what)
    source = text
    if not text.startswith("zip://") and local.suffix.lower() == ".zip":
        source = f"zip://{local}"
    options: dict[str, Any] = {"layer": layer}
    if encoding is not None:
        options["encoding"] = encoding
    elif local.suffix.lower() == ".shp" and not local.with_suffix(".cpg").exists():
        options["encoding"] = "utf-8"
    try:
        with warnings.catch_warnings():
            # GeoJSON features sharing an "id" member are renumbered by GDAL: not the user's
            # concern (their own id column is read as a field)
            warnings.filterwarnings("ignore", "Several features with id", RuntimeWarning)
            gdf = _open(source, "vector", guard, **options)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise UnsupportedFormatError(f"{text!r} is not a readable vector file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {text!r} is not UTF-8 ({exc.reason}); pass its encoding, e.g. encoding='gbk'"
        ) from exc
    if gdf.crs is None:
        if crs is not None:
            gdf = gdf.set_crs(check_crs(crs, f"`crs` for {text!r}"))
        elif require_crs:
            raise CRSError(f"{what} {text!r} has no CRS; pass crs= (e.g. crs='EPSG:4326')")
    elif crs is not None and not CRS.from_user_input(gdf.crs).equals(
        check_crs(crs, f"`crs` for {text!r}")
    ):
        logger.warning(
            "%s %r declares CRS %s; the given crs=%r is ignored", what, text, gdf.crs.name, crs
        )
    if gdf.crs is not None:
        check_coordinates(gdf, f"{what} {text!r}")
    return gdf


def read_csv_points(
    path: str | Path,
    x_column: str,
    y_column: str,
    crs: Any,
    *,
    what: str,
    guard: SourceGuard | None = None,
) -> gpd.GeoDataFrame:
    """A CSV file of points: every column kept, a Point geometry from ``x_column`` /
    ``y_column`` in ``crs`` (required: a CSV declares no CRS). Missing coordinate columns and
    coordinates that are not finite numbers are :class:`InputError` naming the rows."""
    text, local = source_path(path, what)
    if crs is None:
        raise CRSError(
            f"CSV {what} {text!r} has no CRS: pass crs= (e.g. 'EPSG:4326' when "
            f"{x_column!r}/{y_column!r} are longitude/latitude)"
        )
    crs_text = str(crs)
    crs = check_crs(crs, f"`crs` for {text!r}")
    try:
        frame = _open(str(local), "csv", guard)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UnsupportedFormatError(f"{text!r} is not a readable CSV file: {exc}") from exc
    for col in (x_column, y_column):
        if col not in frame.columns:
            raise InputError(
                f"CSV {what} {text!r} has no coordinate column {col!r} "
                f"(columns: {list(frame.columns)}); pass x_column= / y_column="
            )
    xs = pd.to_numeric(frame[x_column], errors="coerce").to_numpy(dtype=np.float64)
    ys = pd.to_numeric(frame[y_column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        raise InputError(
            f"CSV {what} {text!r}: {x_column!r}/{y_column!r} must be numbers, "
            f"{int(bad.sum())} rows are not (first rows: {np.flatnonzero(bad)[:5].tolist()})"
        )
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xs, ys), crs=crs)
    check_coordinates(points, f"CSV {what} {text!r} ({x_column!r}/{y_column!r} in {crs_text})")
    return points


def open_raster(path: str | Path, *, what: str, guard: SourceGuard | None = None) -> Any:
    """An open rasterio dataset of a raster file (use it as a context manager); a file GDAL
    cannot read is an :class:`UnsupportedFormatError`, one without a CRS a :class:`CRSError`."""
    from rasterio.errors import RasterioIOError

    text, _ = source_path(path, what)
    try:
        src = _open(text, "raster", guard)
    except RasterioIOError as exc:
        raise UnsupportedFormatError(f"{text!r} is not a readable raster: {exc}") from exc
    if src.crs is None:
        src.close()
        raise CRSError(
            f"{what} {text!r} has no CRS; assign one (e.g. with `gdal_edit.py -a_srs EPSG:4326`)"
        )
    return src
