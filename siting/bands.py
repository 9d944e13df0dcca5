"""R1 band plans: where each sub-district's community health service centres go so that every
centre serves between ``min_population`` and ``max_population`` residents.

Each sub-district is split into demand chunks (its population spread over points inside the
polygon, or real demand points when given), the number of centres comes from R1, and a
capacitated p-median with lower and upper load bounds places them, assigning residents only
within their own sub-district. Travel is straight-line distance × a detour factor when no
travel matrix is given, and the output says so. Where the bounds cannot be met the closest
plan (soft bounds) is returned with the violation named per sub-district.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial.distance import cdist

from geodata.crs import local_utm_crs
from siting.compliance import required_centres
from siting.rules import Rule
from siting_errors import InputError
from solvers import CapacitatedPMedian, CostMatrix, solve

__all__ = ["BandPlan", "plan_centre_bands"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class BandPlan:
    """The centres placed under R1 and the per-unit table (``units``) with status and notes."""

    centres: gpd.GeoDataFrame
    units: pd.DataFrame
    notes: tuple[str, ...]

    @property
    def total_centres(self) -> int:
        return int(self.units["required_centres"].sum())


def _chunks(
    polygon: shapely.Geometry, population: float, size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    k = max(1, int(np.ceil(population / size)))
    minx, miny, maxx, maxy = polygon.bounds
    pts: list[np.ndarray] = []
    tries = 0
    while sum(len(p) for p in pts) < k and tries < 50:
        cand = np.column_stack([rng.uniform(minx, maxx, 4 * k), rng.uniform(miny, maxy, 4 * k)])
        pts.append(cand[shapely.contains_xy(polygon, cand[:, 0], cand[:, 1])])
        tries += 1
    xy = np.concatenate(pts)[:k] if pts and sum(len(p) for p in pts) else np.empty((0, 2))
    if len(xy) < k:  # very thin polygon: fall back to its representative point
        rp = shapely.get_coordinates(shapely.point_on_surface(polygon))
        xy = np.vstack([xy, np.repeat(rp, k - len(xy), axis=0)])
    return xy, np.full(k, population / k)


def plan_centre_bands(
    units: gpd.GeoDataFrame,
    *,
    population_column: str,
    rule: Rule,
    name_column: str | None = None,
    chunk_population: float = 10_000.0,
    detour_factor: float = 1.3,
    seed: int = 0,
    time_limit: float = 30.0,
) -> BandPlan:
    """Place R1's centres in every unit (see the module docstring). Straight-line travel."""
    for col in (population_column, name_column):
        if col is not None and col not in units.columns:
            raise InputError(f"`units` has no column {col!r}")
    if units.crs is None:
        raise InputError("`units` has no CRS")
    if chunk_population <= 0:
        raise InputError(f"`chunk_population` must be > 0, got {chunk_population!r}")
    proj = units.to_crs(local_utm_crs(units))
    pops = np.asarray(units[population_column], dtype=np.float64)
    need = np.atleast_1d(required_centres(pops, rule=rule))
    names = (
        units[name_column].astype(str).to_numpy()
        if name_column
        else np.array([str(i) for i in range(len(units))])
    )
    rng = np.random.default_rng(seed)
    centre_rows: list[dict] = []
    table_rows: list[dict] = []
    for u, (geom, pop, n) in enumerate(zip(proj.geometry, pops, need, strict=True)):
        row = {
            "name": names[u],
            "population": pop,
            "required_centres": int(n),
            "status": "",
            "flag": "",
            "max_load": np.nan,
            "min_load": np.nan,
            "violation": "",
            "rule": rule.cite(),
        }
        if pop <= 0:
            row.update(status="no population", required_centres=0)
            table_rows.append(row)
            continue
        xy, w = _chunks(geom, pop, min(chunk_population, rule.min_population / 3), rng)
        n_eff = min(int(n), len(xy))
        low = rule.min_population if pop >= rule.min_population * n_eff else 0.0
        if pop < rule.min_population:
            row["flag"] = "below_min"
        d = cdist(xy, xy) * detour_factor / 1000.0  # km
        model = CapacitatedPMedian(
            CostMatrix.from_dense(d),
            p=n_eff,
            weights=w,
            capacity=float(rule.max_population),
            min_load=low,
            soft=True,
            violation_cost=float(d.max() + 1.0) * 10,
        )
        sol = solve(model, time_limit=time_limit)
        row["status"] = sol.status.value
        if not sol.has_solution:
            row["violation"] = sol.reason or ""
            table_rows.append(row)
            continue
        loads = np.array([sol.details["loads"][int(s)] for s in sol.open_sites])
        row["max_load"], row["min_load"] = float(loads.max()), float(loads.min())
        if sol.details.get("violations"):
            row["violation"] = "; ".join(
                f"a centre would serve {v['load']:,.0f} ({v['bound']} {v['limit']:,.0f})"
                for v in sol.details["violations"]
            )
        for s, load in zip(sol.open_sites, loads, strict=True):
            centre_rows.append(
                {
                    "unit": names[u],
                    "load": float(load),
                    "rule": rule.cite(),
                    "geometry": shapely.Point(xy[s]),
                }
            )
        table_rows.append(row)
    centres = (
        gpd.GeoDataFrame(centre_rows, geometry="geometry", crs=proj.crs)
        if centre_rows
        else gpd.GeoDataFrame({"unit": [], "load": [], "rule": []}, geometry=[], crs=proj.crs)
    )
    notes = (
        f"travel is straight-line distance x {detour_factor} (detour factor): no road "
        "network was given",
        f"each sub-district's population is spread over points of at most "
        f"{min(chunk_population, rule.min_population / 3):,.0f} residents inside it "
        "(no finer population data); assignment stays within the sub-district",
        f"units under {rule.min_population:,} residents keep one centre and are flagged "
        f"below_min ({rule.cite()})",
    )
    return BandPlan(centres.to_crs("EPSG:4326"), pd.DataFrame(table_rows), notes)
