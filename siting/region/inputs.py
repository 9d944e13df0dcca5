"""Loading a region's inputs: the unit polygons, and demand, sites and roads from files or a
synthetic province generated in the polygons."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd

from siting_errors import InputError

__all__ = ["load_region_inputs"]

logger = logging.getLogger(__name__)


def load_region_inputs(
    units: str | Path,
    *,
    id_column: str | None = None,
    coords: str = "wgs84",
    only: tuple[str, ...] = (),
    population: str | Path | None = None,
    roads: str | Path | None = None,
    sites: str | Path | None = None,
    existing: str | Path | None = None,
    mode: str = "drive",
    synthetic_seed: int | None = None,
    synthetic_population: int = 24_000_000,
    cell_km: float = 2.0,
    population_column: str = "population",
    x_column: str = "x",
    y_column: str = "y",
    crs: str | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, Any]:
    """The region's units, demand, sites and roads from files, or a synthetic province.

    ``only`` keeps the units whose id starts with one of the prefixes (e.g. ``1501`` for
    Hohhot's counties). With ``synthetic_seed``, population, roads and sites are generated in
    the unit polygons (:func:`geodata.synthetic.synthetic_province`) and the other
    files are not read; else ``population`` and ``sites`` (candidates) are required (a vector
    population with ``population_column``; CSV files with ``x_column``/``y_column`` in ``crs``).
    """
    from geodata.boundaries import load_boundaries

    frame = load_boundaries(units, id_column=id_column, coords=coords)
    if only:
        keep = frame["unit_id"].astype(str).str.startswith(tuple(only))
        if not keep.any():
            raise InputError(f"no unit id starts with {list(only)} in {str(units)!r}")
        frame = frame[keep].reset_index(drop=True)
    if synthetic_seed is not None:
        from geodata.synthetic import synthetic_province

        province = synthetic_province(
            frame, synthetic_seed, population=synthetic_population, cell_km=cell_km
        )
        return province.units, province.demand, province.sites, province.roads
    if population is None or sites is None:
        raise InputError(
            "give --population and --sites (candidates; --existing optional), or --synthetic"
        )
    from geodata.candidates import combine_sites, load_sites
    from siting.inputs import load_demand

    demand = load_demand(
        population, population_column=population_column, x_column=x_column, y_column=y_column,
        crs=crs,
    )  # fmt: skip
    cands = load_sites(sites, existing=False, x_column=x_column, y_column=y_column, crs=crs)
    all_sites = (
        combine_sites(
            load_sites(existing, existing=True, x_column=x_column, y_column=y_column, crs=crs),
            cands,
        )
        if existing is not None
        else cands
    )
    graph = None
    if roads is not None:
        from geodata.roads import load_roads

        graph = load_roads(roads, mode=mode)
    return frame, demand, all_sites, graph
