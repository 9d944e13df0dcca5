"""The outcome of a planning run: chosen sites, demand assignment, coverage score, unit table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._json import json_number, jsonable
from siting.coverage import Coverage
from siting.scenario import Scenario
from siting_errors import InputError
from solvers import Solution

if TYPE_CHECKING:
    from siting.travel import TravelCosts

__all__ = ["PlanResult", "assignment_lines"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class PlanResult:
    """What :func:`siting.plan` returns. Built once, never modified.

    Attributes:
        scenario: the scenario that was solved.
        solution: the solver's :class:`solvers.Solution` (status, objective, bound, gap, time).
        coverage: the coverage score (``None`` when the scenario has no threshold).
        sites: every site with ``status`` (``existing`` / ``new`` / ``candidate``),
            ``assigned_population``, ``covered_population``, ``mean_travel_min`` and
            ``max_travel_min`` of the demand it serves.
        demand: every demand point with ``site_id`` (nearest open site, ``None`` when none is
            reachable within the search cutoff), ``travel_time_min`` (NaN then), ``covered``, and
            ``unit_id`` / ``unit_name`` when units were given.
        units: per admin unit: population, covered population, share, sites (or ``None``).
        mean_travel_minutes: population-weighted mean travel time of the reachable demand.
        unreachable_population: residents with no open site within the search cutoff.
        notes: sentences a planner must read (travel method, unsnapped points, infeasibility).
        travel: the prepared travel costs, reusable for what-if runs.
        timings: seconds per stage.
        compliance: the per-unit compliance report (see
            :func:`siting.compliance.compliance_table`): required vs planned centres (R1),
            band status of the centres, coverage within the circle (R6), population beyond it
            and touring-service demand (R3), each unit's ``status`` and ``reason``; ``None``
            without units.
        touring: a rules plan's touring-service list (R3): villages (or demand points) no
            fixed facility reaches within the circle, with population, reason and location.
        village_groups: a rules plan's villages with their joint-clinic group (R3).
        steps: a rules plan's steps in order: rule, tier, new sites, status, seconds.
        unit_kinds: where the units' kinds came from (a rules plan), as a sentence.
    """

    scenario: Scenario
    solution: Solution
    coverage: Coverage | None
    sites: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    units: pd.DataFrame | None
    mean_travel_minutes: float
    unreachable_population: float
    notes: tuple[str, ...]
    travel: TravelCosts
    timings: dict[str, float]
    compliance: pd.DataFrame | None = None
    touring: gpd.GeoDataFrame | None = None
    village_groups: gpd.GeoDataFrame | None = None
    steps: pd.DataFrame | None = None
    unit_kinds: str | None = None

    @property
    def status(self) -> str:
        """The solve status (``optimal``, ``feasible``, ``infeasible``, ``no_solution``)."""
        return self.solution.status.value

    @property
    def chosen_sites(self) -> gpd.GeoDataFrame:
        """Open sites only (existing and new)."""
        return self.sites[self.sites["status"] != "candidate"]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: status, objective, gap, coverage, counts, notes, timings."""
        sol = self.solution
        chosen = self.chosen_sites
        out: dict[str, Any] = {
            "scenario": self.scenario.describe(),
            "status": sol.status.value,
            "objective": json_number(sol.objective, 6),
            "bound": json_number(sol.bound, 6),
            "gap": json_number(sol.gap, 6),
            "solve_seconds": round(sol.time, 3),
            "backend": sol.backend,
            "reason": sol.reason,
            "sites": {
                "existing": int((chosen["status"] == "existing").sum()),
                "new": int((chosen["status"] == "new").sum()),
                "new_site_ids": chosen.loc[chosen["status"] == "new", "site_id"]
                .astype(str)
                .tolist(),
            },
            "mean_travel_minutes": json_number(self.mean_travel_minutes, 3),
            "unreachable_population": round(self.unreachable_population, 3),
            "search_minutes": json_number(self.travel.cutoff_minutes, 3),
            "notes": list(self.notes),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self.coverage is not None:
            out["coverage"] = self.coverage.as_dict()
            lost = self.uncoverable_mask()
            pop = self.demand["population"].to_numpy(dtype=np.float64)
            out["uncoverable"] = {
                "points": int(lost.sum()),
                "population": round(float(pop[lost].sum()), 3),
            }
        if self.steps is not None:
            steps = jsonable(self.steps.to_dict("records"))
            out["steps"] = [{k: v for k, v in rec.items() if v is not None} for rec in steps]
            tiers = chosen["tier"].astype(str) if "tier" in chosen.columns else None
            if tiers is not None:
                out["sites"]["by_tier"] = {
                    str(t): {
                        "existing": int(((tiers == t) & (chosen["status"] == "existing")).sum()),
                        "new": int(((tiers == t) & (chosen["status"] == "new")).sum()),
                    }
                    for t in sorted(set(tiers))
                }
            out["unit_kinds"] = self.unit_kinds
        if self.touring is not None:
            out["touring"] = {
                "entries": len(self.touring),
                "population": round(float(self.touring["population"].sum()), 3),
            }
        if self.compliance is not None:
            c = self.compliance
            out["compliance"] = {
                "units": len(c),
                "units_ok": int((c["status"] == "ok").sum()),
                "units_flagged": int((c["status"] == "flagged").sum()),
                "required_centres": int(c["required_centres"].sum()),
                "planned_centres": int(c["planned_centres"].sum()),
                "shortfall": int(c["shortfall"].sum()),
                "centres_outside_band": int(
                    (c["centres_below_band"] + c["centres_above_band"]).sum()
                ),
                "touring_population": round(float(c["touring_population"].sum()), 3),
                "population_beyond": round(float(c["population_beyond"].sum()), 3),
                "rules": str(c["rules"].iloc[0]) if len(c) else None,
                "table": jsonable(c.to_dict("records")),
            }
        return out

    def uncoverable_mask(self) -> np.ndarray:
        """Per demand point: no site, open or not, within the threshold (all False without a
        threshold)."""
        threshold = self.scenario.threshold_minutes
        if threshold is None:
            return np.zeros(len(self.demand), dtype=bool)
        from siting.reach import uncoverable_rows

        return uncoverable_rows(self.travel.costs, threshold) & (
            self.demand["population"].to_numpy(dtype=np.float64) > 0
        )

    def uncoverable(self) -> gpd.GeoDataFrame:
        """The residents no site (open or not) reaches within the threshold: ``demand_id``,
        ``population``, ``best_site_min`` (the nearest site of all, NaN when none is within the
        travel-time search) and the point; empty without a threshold."""
        lost = self.uncoverable_mask()
        best = self.travel.costs.row_min()[lost]
        frame = self.demand.loc[lost, ["demand_id", "population", "geometry"]].copy()
        frame.insert(2, "best_site_min", np.where(np.isfinite(best), np.round(best, 3), np.nan))
        return frame.reset_index(drop=True)

    def layers(
        self, *, assignment_lines: bool = True, demand: str = "auto"
    ) -> dict[str, gpd.GeoDataFrame]:
        """GeoDataFrames for export: ``sites``, ``candidates``, ``demand`` (points),
        ``assignments`` (a line from each assigned demand point to its site; none for a point
        at its site), ``uncoverable`` (one-model runs with residents no site covers),
        ``service_areas`` (network runs), ``touring`` and ``village_groups`` (rules plans),
        ``admin_units`` and ``compliance`` (the compliance table on the unit polygons; when
        units were given).

        ``demand``: ``points`` writes a point per demand point; ``grid`` sums them into square
        cells instead (layer ``demand_grid``, :func:`siting.grid.demand_grid`), without the
        per-point ``assignments`` and ``uncoverable`` layers; ``auto`` (default) is ``grid``
        above :data:`siting.grid.MAX_POINTS` points, else ``points``.
        """
        from siting.grid import MAX_POINTS, demand_grid

        if demand not in ("auto", "points", "grid"):
            raise InputError(f"`demand` must be auto, points or grid, got {demand!r}")
        gridded = demand == "grid" or (demand == "auto" and len(self.demand) > MAX_POINTS)
        out: dict[str, gpd.GeoDataFrame] = {
            "sites": self.chosen_sites.reset_index(drop=True),
            "candidates": self.sites[self.sites["status"] == "candidate"].reset_index(drop=True),
        }
        if gridded:
            lost = self.uncoverable_mask() if self.scenario.threshold_minutes else None
            out["demand_grid"] = demand_grid(self.demand, uncoverable=lost)
        else:
            out["demand"] = self.demand.reset_index(drop=True)
            if assignment_lines:
                out["assignments"] = self._assignment_lines()
            # a rules plan lists them as its touring-service list (R3) instead
            if self.scenario.model != "rules" and self.uncoverable_mask().any():
                out["uncoverable"] = self.uncoverable()
        areas = self.service_areas()
        if areas is not None:
            out["service_areas"] = areas
        if self.touring is not None:
            out["touring"] = self.touring
        if self.village_groups is not None:
            out["village_groups"] = self.village_groups.reset_index(drop=True)
        if self.units is not None and self.scenario.units is not None:
            geo = self.scenario.units[["unit_id", "geometry"]].copy()
            geo["unit_id"] = geo["unit_id"].astype(str)
            table = self.units.copy()
            table["unit_id"] = table["unit_id"].astype(str)
            if self.compliance is not None:
                extra = self.compliance.drop(
                    columns=[c for c in self.compliance.columns if c in table.columns[2:]]
                    + ["name"]
                )
                table = table.merge(extra, on="unit_id", how="left")
            out["admin_units"] = gpd.GeoDataFrame(
                table.merge(geo, on="unit_id", how="left"),
                geometry="geometry",
                crs=self.scenario.units.crs,
            )
            if self.compliance is not None:
                comp = self.compliance.copy()
                comp["unit_id"] = comp["unit_id"].astype(str)
                out["compliance"] = gpd.GeoDataFrame(
                    comp.merge(geo, on="unit_id", how="left"),
                    geometry="geometry",
                    crs=self.scenario.units.crs,
                )
        return out

    def _assignment_lines(self) -> gpd.GeoDataFrame:
        return assignment_lines(self.demand, self.sites)

    def service_areas(self) -> gpd.GeoDataFrame | None:
        """Service-area polygons (isochrones) of the open sites within the threshold, or
        ``None`` for straight-line runs or without a threshold.

        Each is the street network the site reaches within the threshold, plus the
        off-network walks: the site's own to the network, and that of every covered resident
        it serves (:func:`geodata.isochrones.add_access_legs`), so every covered resident lies
        inside the area of their site."""
        travel = self.travel
        if travel.network is None or self.scenario.threshold_minutes is None:
            return None
        from geodata.isochrones import add_access_legs, service_areas  # only when exported

        open_idx = self.solution.open_sites
        sub = travel.site_snap_subset(open_idx)
        ids = self.scenario.sites["site_id"].astype(str).to_numpy()[open_idx]
        areas = service_areas(
            travel.network, sub, threshold=self.scenario.threshold_minutes * 60.0, site_ids=ids
        )
        row_of = {sid: k for k, sid in enumerate(ids)}
        demand = self.demand
        served = (
            demand["covered"].fillna(False).astype(bool).to_numpy()
            & demand["site_id"].notna().to_numpy()
        )
        points = pd.concat(
            [
                self.scenario.sites.geometry.iloc[open_idx].to_crs(demand.crs),
                demand.geometry[served],
            ],
            ignore_index=True,
        )
        rows = np.concatenate(
            [
                np.arange(len(ids)),
                np.array(
                    [row_of.get(str(s), -1) for s in demand["site_id"][served]], dtype=np.int64
                ),
            ]
        )
        return add_access_legs(
            areas,
            travel.network,
            gpd.GeoSeries(points, crs=demand.crs),
            rows,
            max_distance=self.scenario.max_snap_distance,
        )

    def table(self) -> pd.DataFrame:
        """The open sites as a plain table (for printing)."""
        cols = [
            "site_id",
            "name",
            "status",
            "assigned_population",
            "covered_population",
            "mean_travel_min",
            "max_travel_min",
        ]
        chosen = self.chosen_sites
        return pd.DataFrame(chosen[[c for c in cols if c in chosen.columns]])


def assignment_lines(demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A straight line from every assigned demand point (``site_id`` not null) to its site:
    ``demand_id``, ``site_id``, ``population``, ``travel_time_min``, in the sites' CRS. A
    point at its site has no line (a zero-length line is invalid in some GIS software and
    invisible in all)."""
    if demand.crs != sites.crs:
        demand = demand.to_crs(sites.crs)
    site_geom = sites.set_index(sites["site_id"].astype(str)).geometry
    assigned = demand[demand["site_id"].notna()]
    assigned = assigned[assigned["site_id"].astype(str).isin(site_geom.index)]
    end = site_geom.reindex(assigned["site_id"].astype(str)).to_numpy()
    coords_a = shapely.get_coordinates(assigned.geometry.to_numpy())
    coords_b = shapely.get_coordinates(end)
    keep = np.any(coords_a != coords_b, axis=1)
    lines = shapely.linestrings(np.stack([coords_a[keep], coords_b[keep]], axis=1))
    return gpd.GeoDataFrame(
        {
            "demand_id": assigned["demand_id"].to_numpy()[keep],
            "site_id": assigned["site_id"].to_numpy()[keep],
            "population": assigned["population"].to_numpy()[keep],
            "travel_time_min": assigned["travel_time_min"].to_numpy()[keep],
        },
        geometry=lines,
        crs=sites.crs,
    )
