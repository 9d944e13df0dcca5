"""Loading a scenario's inputs from files (population, roads, sites, admin units, villages,
points of interest); the scenario itself is built by :func:`siting.workflow.build_scenario`."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.scenario import Scenario
from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

if TYPE_CHECKING:
    from geodata.roads import LineFields

__all__ = ["COORDS", "load_demand", "load_pois", "load_scenario", "load_villages"]

logger = logging.getLogger(__name__)

#: the coordinate systems input longitude/latitude may be in (``gcj02``: Amap, Tencent exports)
COORDS: tuple[str, ...] = ("wgs84", "gcj02")


def _files_with(
    column: str | None, files: dict[str, str | Path | None], what: str
) -> dict[str, str | None]:
    """Per input file, ``column`` when the file has that column (else ``None``); an
    :class:`InputError` when ``column`` is given and no file has it."""
    from geodata.readers import read_columns

    if column is None:
        return dict.fromkeys(files)
    found = {key: read_columns(path, what=f"{key} file") for key, path in files.items() if path}
    if not any(column in columns for columns in found.values()):
        listed = "; ".join(f"{key}: {columns}" for key, columns in found.items())
        raise InputError(f"`{what}` {column!r} is a column of none of the input files ({listed})")
    return {key: column if column in found.get(key, []) else None for key in files}


def _from_gcj02(frame: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """``frame`` with its GCJ-02 longitude/latitude converted to WGS84."""
    from geodata.chinacoords import gcj02_geometries_to_wgs84

    if frame.crs is None or not frame.crs.is_geographic:
        raise CRSError(
            f"{what}: coords='gcj02' needs longitude/latitude, but the file is in "
            f"{getattr(frame.crs, 'name', None)!r}"
        )
    return frame.set_geometry(gcj02_geometries_to_wgs84(frame.geometry.to_numpy()), crs=frame.crs)


_VILLAGE_ID_COLUMNS = ("village_id", "village_code", "id", "code")
_VILLAGE_NAME_COLUMNS = ("name", "village_name", "NAME")


def load_villages(path: str | Path, *, population_column: str = "population") -> gpd.GeoDataFrame:
    """Administrative villages (rule R3) from a GeoJSON / GeoPackage / shapefile: points or
    polygons with a population column; ``village_id`` from ``village_id`` / ``village_code`` /
    ``id`` / ``code`` (else the row number), ``name`` from ``name`` / ``village_name``."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"villages file {str(p)!r} does not exist")
    try:
        frame = gpd.read_file(p)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise UnsupportedFormatError(f"villages file {str(p)!r} is not readable: {exc}") from exc
    if frame.crs is None:
        raise InputError(f"villages file {str(p)!r} has no CRS")
    if population_column not in frame.columns:
        raise InputError(
            f"villages file {str(p)!r} has no column {population_column!r} (columns: "
            f"{[c for c in frame.columns if c != frame.geometry.name]})"
        )
    kinds = set(frame.geometry.geom_type)
    if not kinds <= {"Point", "Polygon", "MultiPolygon"}:
        raise InputError(f"villages file {str(p)!r} must hold points or polygons, got {kinds}")
    id_col = next((c for c in _VILLAGE_ID_COLUMNS if c in frame.columns), None)
    name_col = next((c for c in _VILLAGE_NAME_COLUMNS if c in frame.columns), None)
    ids = (
        frame[id_col].astype(str).to_numpy()
        if id_col
        else np.array([f"v{i}" for i in range(len(frame))])
    )
    pop = pd.to_numeric(frame[population_column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"villages file {str(p)!r}: `{population_column}` must be a number >= 0, got "
            f"{frame[population_column].iloc[i]!r} for village {ids[i]!r}"
        )
    out = gpd.GeoDataFrame(
        {
            "village_id": ids,
            "name": frame[name_col].fillna("").astype(str).to_numpy() if name_col else ids,
            "population": pop,
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    for extra in ("township_code", "township", "unit_id"):
        if extra in frame.columns:
            out[extra] = frame[extra].to_numpy()
    return out


def load_pois(path: str | Path) -> gpd.GeoDataFrame:
    """Points of interest for rule R4 (activity centres, elderly homes): any point file."""
    from geodata.candidates import load_sites

    pois = load_sites(path)
    geoms = pois.geometry.to_numpy()
    pois = pois.set_geometry(
        np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    )
    return pois


def _is_raster(path: str | Path) -> bool:
    return Path(path).suffix.lower() in (".tif", ".tiff")


def load_demand(path: str | Path, **vector: Any) -> gpd.GeoDataFrame:
    """Demand from a population raster, or from a vector / CSV file with the ``vector``
    options of :func:`geodata.population.load_population_vector` (``population_column``,
    ``x_column``, ``y_column``, ``crs``, ``id_column``, ...), which a raster does not take."""
    from geodata.population import load_population

    return load_population(path) if _is_raster(path) else load_population(path, **vector)


def load_scenario(
    *,
    population: str | Path,
    roads: str | Path | None = None,
    sites: str | Path | None = None,
    existing: str | Path | None = None,
    units: str | Path | None = None,
    villages: str | Path | None = None,
    pois: str | Path | None = None,
    mode: str = "walk",
    population_column: str = "population",
    polygon_spacing: float | None = None,
    candidate_spacing: float = 500.0,
    max_candidates: int | None = None,
    sites_frame: gpd.GeoDataFrame | None = None,
    x_column: str = "x",
    y_column: str = "y",
    crs: str | None = None,
    id_column: str | None = None,
    name_column: str | None = None,
    coords: str = "wgs84",
    road_fields: LineFields | None = None,
    **parameters: Any,
) -> Scenario:
    """Read every input file and build a validated :class:`Scenario`
    (:func:`siting.workflow.build_scenario`).

    Without ``sites``, candidates are generated at road-network nodes ``candidate_spacing``
    metres apart (or, without roads either, at populated points that far apart), widened until
    at most ``max_candidates`` remain; a note says so.
    ``polygon_spacing`` spreads polygon populations over a grid of that many metres
    (:func:`geodata.population.spread_population`) instead of one point per polygon.
    ``sites_frame`` (sites already loaded, e.g. a tier's) replaces ``sites`` and ``existing``.
    ``villages`` (R3) and ``pois`` (R4) feed a rules plan.

    CSV files (population, sites) hold points in ``x_column``/``y_column`` in ``crs``.
    ``id_column`` / ``name_column`` name the id and name columns of the population and site
    files that have them (an error when none has), so the outputs keep the input's ids and
    names. ``coords="gcj02"``: the vector files' longitude/latitude are GCJ-02 (Amap, Tencent)
    and are converted to WGS84 (OSM and GraphML roads and rasters are WGS84 already).
    ``road_fields`` reads a road line layer (:class:`geodata.roads.LineFields`).
    ``parameters`` are passed to :class:`Scenario` (model, new_sites, threshold_minutes, ...).
    """
    from geodata.boundaries import load_boundaries
    from geodata.candidates import load_sites
    from siting.workflow import build_scenario

    if coords not in COORDS:
        raise InputError(f"`coords` must be one of {', '.join(COORDS)}, got {coords!r}")
    files = {"population": population, "sites": sites, "existing": existing}
    ids = _files_with(id_column, files, "id_column")
    names = _files_with(name_column, files, "name_column")
    gcj02 = coords == "gcj02"
    demand = load_demand(
        population,
        population_column=population_column,
        polygon_spacing=polygon_spacing,
        id_column=ids["population"],
        name_column=names["population"],
        x_column=x_column,
        y_column=y_column,
        crs=crs,
    )
    if gcj02 and not _is_raster(population):
        demand = _from_gcj02(demand, f"population file {str(population)!r}")
    graph = None
    if roads is not None:
        from geodata.roads import LINE_SUFFIXES, LineFields, load_roads

        fields = road_fields
        if gcj02 and Path(roads).suffix.lower() in LINE_SUFFIXES:
            fields = dataclasses.replace(fields or LineFields(), coords="gcj02")
        graph = load_roads(roads, mode=mode, fields=fields)

    def site_file(path: str | Path, key: str, flag: bool) -> gpd.GeoDataFrame:
        frame = load_sites(
            path,
            existing=flag,
            id_column=ids[key],
            name_column=names[key],
            crs=crs,
            x_column=x_column,
            y_column=y_column,
        )
        return _from_gcj02(frame, f"{key} file {str(path)!r}") if gcj02 else frame

    if sites_frame is not None and (sites is not None or existing is not None):
        raise InputError("give either `sites_frame` or site files (`sites`, `existing`)")
    candidates = sites_frame
    if candidates is None and sites is not None:
        candidates = site_file(sites, "sites", False)
    if sites_frame is not None and "existing" in sites_frame.columns:
        fixed = None
    else:
        fixed = site_file(existing, "existing", True) if existing is not None else None
    if villages is not None:
        parameters["villages"] = load_villages(villages)
    if pois is not None:
        parameters["pois"] = load_pois(pois)
    keep = tuple(c for c in (parameters.get("unit_kind_column"),) if c)
    boundary = load_boundaries(units, keep=keep, coords=coords) if units is not None else None
    return build_scenario(
        demand,
        sites=candidates,
        existing=fixed,
        roads=graph,
        units=boundary,
        mode=mode,
        candidate_spacing=candidate_spacing,
        max_candidates=max_candidates,
        **parameters,
    )
