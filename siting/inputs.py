"""Loading a scenario's inputs from files (population, roads, sites, admin units)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from siting.scenario import Scenario
from siting_errors import InputError

__all__ = ["load_scenario"]

logger = logging.getLogger(__name__)


def load_scenario(
    *,
    population: str | Path,
    roads: str | Path | None = None,
    sites: str | Path | None = None,
    existing: str | Path | None = None,
    units: str | Path | None = None,
    mode: str = "walk",
    population_column: str = "population",
    candidate_spacing: float = 500.0,
    sites_frame: gpd.GeoDataFrame | None = None,
    **parameters: Any,
) -> Scenario:
    """Read every input file and build a validated :class:`Scenario`.

    Without ``sites``, candidates are generated at road-network nodes ``candidate_spacing``
    metres apart (or, without roads either, at populated cells that far apart).
    ``sites_frame`` (sites already loaded, e.g. a tier's) replaces ``sites`` and ``existing``.
    ``parameters`` are passed to :class:`Scenario` (model, new_sites, threshold_minutes, ...).
    """
    from geodata.boundaries import load_boundaries
    from geodata.candidates import (
        combine_sites,
        load_sites,
        sites_from_points,
        sites_from_population,
    )
    from geodata.population import load_population

    demand = (
        load_population(population, population_column=population_column)
        if Path(population).suffix.lower() not in (".tif", ".tiff")
        else load_population(population)
    )
    graph = None
    if roads is not None:
        from geodata.roads import load_roads

        graph = load_roads(roads, mode=mode)
    frames = []
    if sites_frame is not None:
        if sites is not None or existing is not None:
            raise InputError("give either `sites_frame` or site files (`sites`, `existing`)")
        frames.append(sites_frame)
    else:
        if existing is not None:
            frames.append(load_sites(existing, existing=True))
        if sites is not None:
            frames.append(load_sites(sites, existing=False))
        elif graph is not None:
            xs, ys = zip(*((d["x"], d["y"]) for _, d in graph.nodes(data=True)), strict=True)
            frames.append(
                sites_from_points(
                    pd.Series(xs).to_numpy(),
                    pd.Series(ys).to_numpy(),
                    graph.graph.get("crs", "EPSG:4326"),
                    spacing=candidate_spacing,
                )
            )
        else:
            frames.append(
                sites_from_population(demand, min_population=0.0, spacing=candidate_spacing)
            )
    if len(frames) == 2:
        all_sites = combine_sites(frames[0], frames[1])
    elif existing is not None:
        raise InputError(
            "only existing sites were given: add --sites (candidates) or "
            "--roads (to generate candidates)"
        )
    else:
        all_sites = frames[0]
    boundary = load_boundaries(units) if units is not None else None
    if not isinstance(all_sites, gpd.GeoDataFrame):  # pragma: no cover - defensive
        raise InputError("sites could not be read as a GeoDataFrame")
    return Scenario(
        demand=demand, sites=all_sites, roads=graph, units=boundary, mode=mode, **parameters
    )
