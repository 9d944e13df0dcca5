"""Gathering a region's unit outcomes into one :class:`RegionResult`: demand, sites with the
population they serve across borders, the compliance report, the unit table and layers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.region.settings import RegionSettings
from siting.region.unit import NO_DEMAND, UnitOutcome

__all__ = ["COUNTING_RULE", "RegionResult"]

logger = logging.getLogger(__name__)

COUNTING_RULE = (
    "each demand point is counted only in the unit that contains it; only that unit's "
    "candidates may be opened for it; existing sites of neighbouring units within the buffer "
    "may serve it across the border (and count it as covered), new sites of neighbours are not "
    "credited (conservative)"
)


@dataclass(frozen=True, eq=False)
class RegionResult:
    """The gathered region plan.

    Attributes:
        units: the planning units (``unit_id``, ``name``, polygon).
        outcomes: per unit, in unit order.
        demand: every planned demand point (``unit_id``, ``site_id``, ``covered``, ...).
        sites: every site with ``status`` (existing / new / candidate), ``unit_id`` (the unit
            containing it), ``assigned_population`` and ``covered_population`` over all units.
        compliance: the per-unit compliance report; failed units have ``status``
            ``failed: ...`` and no figures, units no resident lies in ``no demand``.
        settings: the resolved settings; report: what was left out by the split.
        timings, run_info: seconds per stage; executor, scheduler, dashboard, workers.
        service_areas: every open site's service area, the union of its areas over the units
            that planned with it (``None`` for straight-line travel).
    """

    units: gpd.GeoDataFrame
    outcomes: dict[str, UnitOutcome]
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    compliance: pd.DataFrame
    settings: RegionSettings
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    run_info: dict[str, Any] = field(default_factory=dict)
    service_areas: gpd.GeoDataFrame | None = None

    @property
    def failed(self) -> dict[str, str]:
        """``unit_id`` → error of every failed unit."""
        return {u: o.error or "" for u, o in self.outcomes.items() if o.failed}

    @property
    def no_demand(self) -> list[str]:
        """The units no resident of the population data lies in (nothing to plan)."""
        return [u for u, o in self.outcomes.items() if o.status == NO_DEMAND]

    @property
    def coverage_share(self) -> float | None:
        """Covered / total population over the planned units."""
        pop = self.demand["population"].to_numpy(dtype=float)
        if len(pop) == 0 or pop.sum() <= 0:
            return None
        return float((pop * self.demand["covered"].to_numpy(dtype=bool)).sum() / pop.sum())

    @classmethod
    def gather(
        cls,
        units: gpd.GeoDataFrame,
        sites: gpd.GeoDataFrame,
        outcomes: dict[str, UnitOutcome],
        settings: RegionSettings,
        report: dict[str, Any],
    ) -> RegionResult:
        """Merge unit outcomes (module docstring, step 4)."""
        from geodata.boundaries import assign_units
        from siting.compliance import compliance_table
        from siting.rules import default_rules

        units = units.to_crs("EPSG:4326").reset_index(drop=True)
        units = units.assign(unit_id=units["unit_id"].astype(str))
        ok = [o for o in outcomes.values() if o.ok and o.demand is not None]
        frames = [o.demand for o in ok]
        if frames:
            demand = gpd.GeoDataFrame(
                pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326"
            )
        else:
            demand = gpd.GeoDataFrame(
                {c: [] for c in ("demand_id", "population", "site_id", "unit_id", "covered")},
                geometry=[],
                crs="EPSG:4326",
            )
        sites = sites.to_crs("EPSG:4326").reset_index(drop=True).copy()
        if "existing" not in sites.columns:
            sites["existing"] = False
        sites["site_id"] = sites["site_id"].astype(str)
        if "name" not in sites.columns:
            sites["name"] = ""
        sidx = assign_units(sites, units)
        uid = units["unit_id"].to_numpy()
        sites["unit_id"] = np.where(sidx >= 0, uid[np.maximum(sidx, 0)], None)
        new_ids = {s for o in ok for s in o.new_site_ids}
        existing = sites["existing"].astype(bool).to_numpy()
        sites["status"] = np.where(
            existing, "existing", np.where(sites["site_id"].isin(new_ids), "new", "candidate")
        )
        pop = demand["population"].to_numpy(dtype=float)
        served = pd.DataFrame(
            {
                "site_id": demand["site_id"].to_numpy(),
                "pop": pop,
                "cov": pop * demand["covered"].to_numpy(dtype=bool),
                "cross": pop
                * (
                    demand["unit_id"].to_numpy()
                    != sites.set_index("site_id")["unit_id"]
                    .reindex(demand["site_id"].to_numpy())
                    .to_numpy()
                ),
            }
        ).dropna(subset=["site_id"])
        agg = served.groupby("site_id")[["pop", "cov", "cross"]].sum()
        sites["assigned_population"] = sites["site_id"].map(agg["pop"]).fillna(0.0).round(3)
        sites["covered_population"] = sites["site_id"].map(agg["cov"]).fillna(0.0).round(3)
        sites["cross_border_population"] = sites["site_id"].map(agg["cross"]).fillna(0.0).round(3)
        keep = [
            c
            for c in (
                "site_id",
                "name",
                "existing",
                "status",
                "unit_id",
                "assigned_population",
                "covered_population",
                "cross_border_population",
            )
            if c in sites.columns
        ]
        sites = gpd.GeoDataFrame(sites[[*keep, "geometry"]], geometry="geometry", crs="EPSG:4326")

        ok_ids = [o.unit_id for o in ok]
        rules = settings.rules if settings.rules is not None else default_rules()
        if ok_ids:
            open_sites = sites[(sites["status"] != "candidate") & sites["unit_id"].isin(ok_ids)]
            comp = compliance_table(
                units[units["unit_id"].isin(ok_ids)][["unit_id", "name"]],
                open_sites[["unit_id", "assigned_population"]],
                pd.DataFrame(
                    {
                        "unit_id": demand["unit_id"].to_numpy(),
                        "population": pop,
                        "covered": demand["covered"].to_numpy(dtype=bool),
                        "touring": demand["touring"].to_numpy(dtype=bool),
                    }
                ),
                rules=rules,
            )
        else:
            comp = pd.DataFrame(columns=["unit_id", "name", "status"])
        failed = [o for o in outcomes.values() if not o.ok]
        if failed:  # units without demand, and units whose task failed
            comp = pd.concat(
                [
                    comp,
                    pd.DataFrame(
                        {
                            "unit_id": [o.unit_id for o in failed],
                            "name": [o.name for o in failed],
                            "status": [
                                "no demand" if o.status == NO_DEMAND else f"failed: {o.error}"
                                for o in failed
                            ],
                        }
                    ),
                ],
                ignore_index=True,
            )
        order = {u: k for k, u in enumerate(units["unit_id"])}
        comp = comp.sort_values("unit_id", key=lambda c: c.map(order)).reset_index(drop=True)
        return cls(
            units=units[["unit_id", "name", "geometry"]],
            outcomes=outcomes,
            demand=demand,
            sites=sites,
            compliance=comp,
            settings=settings,
            report=report,
            service_areas=_region_service_areas(ok, sites),
        )

    def unit_table(self) -> pd.DataFrame:
        """One row per unit: run status, error, cached, seconds, worker, coverage, new sites."""
        rows = []
        for o in self.outcomes.values():
            rows.append(
                {
                    "unit_id": o.unit_id,
                    "name": o.name,
                    "run_status": o.status,
                    "error": o.error,
                    "cached": o.cached,
                    "seconds": round(o.seconds, 3),
                    "worker": o.worker,
                    "solve_status": o.summary.get("status"),
                    "coverage_share": o.summary.get("coverage", {}).get("share"),
                    "new_sites": len(o.new_site_ids),
                }
            )
        return pd.DataFrame(rows)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """``sites`` (open), ``candidates``, ``demand``, ``assignments`` (a line from each
        demand point to its site; not above :data:`siting.grid.MAX_POINTS` points),
        ``service_areas`` (network runs) and ``admin_units`` (compliance and run status per
        unit) for the GeoPackage."""
        from siting.grid import MAX_POINTS
        from siting.result import assignment_lines

        table = self.unit_table().rename(columns={"coverage_share": "solve_coverage_share"})
        table = table.drop(columns=["name"])
        comp = self.compliance.drop(columns=["name"])
        admin = self.units.merge(comp, on="unit_id", how="left").merge(
            table, on="unit_id", how="left"
        )
        open_sites = self.sites[self.sites["status"] != "candidate"].reset_index(drop=True)
        out = {
            "sites": open_sites,
            "candidates": self.sites[self.sites["status"] == "candidate"].reset_index(drop=True),
            "demand": self.demand.reset_index(drop=True),
        }
        if len(self.demand) <= MAX_POINTS:
            out["assignments"] = assignment_lines(self.demand, open_sites)
        if self.service_areas is not None:
            out["service_areas"] = self.service_areas
        out["admin_units"] = gpd.GeoDataFrame(admin, geometry="geometry", crs="EPSG:4326")
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready: totals, coverage, the counting rule, per-unit status and errors, timings."""
        pop = float(self.demand["population"].sum()) if len(self.demand) else 0.0
        cov = self.coverage_share
        return {
            "units": len(self.outcomes),
            "units_ok": sum(o.ok for o in self.outcomes.values()),
            "units_failed": len(self.failed),
            "units_no_demand": len(self.no_demand),
            "units_cached": sum(o.cached for o in self.outcomes.values()),
            "population_planned": round(pop, 3),
            "coverage_share": None if cov is None else round(cov, 6),
            "new_sites": int((self.sites["status"] == "new").sum()),
            "existing_sites": int((self.sites["status"] == "existing").sum()),
            "cross_border_population": round(float(self.sites["cross_border_population"].sum()), 3),
            "counting_rule": COUNTING_RULE,
            "settings": self.settings.describe(),
            "left_out": self.report,
            "failed": self.failed,
            "unit_results": [
                {
                    "unit_id": o.unit_id,
                    "name": o.name,
                    "status": o.status,
                    "error": o.error,
                    "cached": o.cached,
                    "seconds": round(o.seconds, 3),
                    "worker": o.worker,
                    "key": o.key,
                    "solve": o.summary,
                }
                for o in self.outcomes.values()
            ],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "run": self.run_info,
        }

    def save(
        self, out_dir: str | Path, *, name: str = "region", projected: bool = False
    ) -> dict[str, Path]:
        """Write ``<name>.gpkg`` (styled layers; ``projected``: in the local UTM zone),
        ``<name>_compliance.csv`` and ``<name>_summary.json`` (with every unit's error and
        traceback-free status); see :func:`siting.outputs.save_region`."""
        from siting.outputs import save_region

        return save_region(self, out_dir, name=name, projected=projected)


def _region_service_areas(
    ok: list[UnitOutcome], sites: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    """Each open site's service area: the union of its areas over the units that planned with
    it (a site serving across a border is planned with by its neighbours too); ``None``
    when no unit has areas (straight-line travel)."""
    frames = [o.service_areas for o in ok if o.service_areas is not None]
    if not frames:
        return None
    areas = pd.concat([f.to_crs("EPSG:4326") for f in frames], ignore_index=True)
    areas["site_id"] = areas["site_id"].astype(str)
    open_ids = set(sites.loc[sites["status"] != "candidate", "site_id"].astype(str))
    areas = areas[areas["site_id"].isin(open_ids)]
    rows = []
    for site_id, group in areas.groupby("site_id", sort=True):
        shapes = group.geometry.dropna()
        rows.append(
            {
                "site_id": site_id,
                "threshold_min": float(group["threshold_min"].iloc[0]),
                "reached_nodes": int(group["reached_nodes"].max()),
                "units": len(group),
                "geometry": shapely.union_all(shapes.to_numpy()) if len(shapes) else None,
            }
        )
    columns = ["site_id", "threshold_min", "reached_nodes", "units", "geometry"]
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=columns), geometry="geometry", crs="EPSG:4326"
    )
