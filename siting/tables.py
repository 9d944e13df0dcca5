"""The tables and layers of a single-model result: demand, open sites, admin units, compliance."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.boundaries import assign_units
from siting.scenario import Scenario
from solvers import CostMatrix

logger = logging.getLogger(__name__)


def demand_frame(scenario: Scenario, nearest: np.ndarray, times: np.ndarray) -> gpd.GeoDataFrame:
    """The demand layer of a result: each point's nearest open site (``site_id``, ``None`` when
    none is within the cutoff), ``travel_time_min``, ``covered`` (within the threshold) and,
    with units, ``unit_id`` / ``unit_name``."""
    threshold = scenario.threshold_minutes
    covered = (
        np.isfinite(times) & (times <= threshold) if threshold is not None else np.isfinite(times)
    )
    reachable = nearest >= 0
    site_ids = scenario.sites["site_id"].astype(str).to_numpy()
    keep = ["demand_id", "name"] if "name" in scenario.demand.columns else ["demand_id"]
    demand = scenario.demand[[*keep, "population", "geometry"]].copy()
    demand["demand_id"] = demand["demand_id"].astype(str)
    demand["site_id"] = np.where(reachable, site_ids[np.maximum(nearest, 0)], None)
    demand["travel_time_min"] = np.where(reachable, np.round(times, 3), np.nan)
    demand["covered"] = covered
    if scenario.units is not None:
        uidx = assign_units(demand, scenario.units)
        uid = scenario.units["unit_id"].astype(str).to_numpy()
        uname = scenario.units["name"].astype(str).to_numpy()
        demand["unit_id"] = np.where(uidx >= 0, uid[np.maximum(uidx, 0)], None)
        demand["unit_name"] = np.where(uidx >= 0, uname[np.maximum(uidx, 0)], None)
    return demand


def site_frame(
    scenario: Scenario,
    open_idx: np.ndarray,
    nearest: np.ndarray,
    times: np.ndarray,
    covered: np.ndarray,
) -> gpd.GeoDataFrame:
    """Every site with ``status`` (existing / new / candidate) and the residents whose
    nearest open site it is: ``assigned_population``, ``covered_population``,
    ``mean_travel_min``, ``max_travel_min``."""
    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    n_sites = len(scenario.sites)
    existing = scenario.existing_mask
    status = np.where(existing, "existing", "candidate").astype(object)
    status[np.setdiff1d(open_idx, np.flatnonzero(existing))] = "new"
    reachable = nearest >= 0
    t_ok = np.where(reachable, times, 0.0)
    idx = np.where(reachable, nearest, n_sites)
    assigned_pop = np.bincount(idx, weights=pop, minlength=n_sites + 1)[:n_sites]
    covered_pop = np.bincount(idx, weights=pop * covered, minlength=n_sites + 1)[:n_sites]
    wsum = np.bincount(idx, weights=pop * t_ok, minlength=n_sites + 1)[:n_sites]
    tmax = np.zeros(n_sites + 1)
    np.maximum.at(tmax, idx, np.where(pop > 0, t_ok, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_t = np.where(assigned_pop > 0, wsum / assigned_pop, np.nan)
    sites = scenario.sites.copy()
    sites["site_id"] = sites["site_id"].astype(str)
    if "name" not in sites.columns:
        sites["name"] = ""
    sites["status"] = status
    sites["assigned_population"] = np.round(assigned_pop, 3)
    sites["covered_population"] = np.round(covered_pop, 3)
    sites["mean_travel_min"] = np.round(mean_t, 3)
    sites["max_travel_min"] = np.where(assigned_pop > 0, np.round(tmax[:n_sites], 3), np.nan)
    return sites


def site_units(scenario: Scenario, sites: gpd.GeoDataFrame) -> np.ndarray:
    """The ``unit_id`` of the unit holding each site (``None`` outside every unit)."""
    assert scenario.units is not None
    sidx = assign_units(sites, scenario.units)
    uid = scenario.units["unit_id"].astype(str).to_numpy()
    return np.asarray(np.where(sidx >= 0, uid[np.maximum(sidx, 0)], None), dtype=object)


def unit_table(
    scenario: Scenario, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, site_unit: np.ndarray
) -> pd.DataFrame:
    """Per admin unit: population, covered population and share, mean travel time, existing
    and new sites (``site_unit``: each site's unit id, :func:`site_units`)."""
    units = scenario.units
    assert units is not None  # called only for scenarios with units
    frame = pd.DataFrame(
        {
            "unit_id": units["unit_id"].astype(str).to_numpy(),
            "name": units["name"].astype(str).to_numpy(),
        }
    )
    d = pd.DataFrame(
        {
            "unit_id": demand["unit_id"],
            "population": demand["population"],
            "covered": demand["population"] * demand["covered"],
            "wt": demand["population"] * demand["travel_time_min"].fillna(0.0),
            "wreach": demand["population"] * demand["travel_time_min"].notna(),
        }
    )
    agg = d.groupby("unit_id").agg(
        population=("population", "sum"),
        covered_population=("covered", "sum"),
        wt=("wt", "sum"),
        wreach=("wreach", "sum"),
    )
    frame = frame.merge(agg, left_on="unit_id", right_index=True, how="left").fillna(
        {"population": 0.0, "covered_population": 0.0, "wt": 0.0, "wreach": 0.0}
    )
    frame["coverage_share"] = np.where(
        frame["population"] > 0, frame["covered_population"] / frame["population"], np.nan
    )
    frame["mean_travel_min"] = np.where(frame["wreach"] > 0, frame["wt"] / frame["wreach"], np.nan)
    frame = frame.drop(columns=["wt", "wreach"])
    for kind in ("existing", "new"):
        counts = pd.Series(site_unit[sites["status"].to_numpy() == kind]).value_counts()
        frame[f"{kind}_sites"] = frame["unit_id"].map(counts).fillna(0).astype(int)
    return frame


def compliance_frame(
    scenario: Scenario,
    costs: CostMatrix,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    site_unit: np.ndarray,
) -> pd.DataFrame:
    """The per-unit compliance report of a single-model run (rules: the scenario's, else the
    packaged preset); every open site counts as its unit's centre."""
    from siting.compliance import compliance_table
    from siting.kinds import unit_kinds
    from siting.rules import default_rules

    rules = scenario.rules if scenario.rules is not None else default_rules()
    units = scenario.units
    assert units is not None
    is_open = (sites["status"] != "candidate").to_numpy()
    site_table = pd.DataFrame(
        {
            "unit_id": site_unit[is_open],
            "assigned_population": sites.loc[is_open, "assigned_population"].to_numpy(),
        }
    )
    threshold = scenario.threshold_minutes
    best = costs.row_min()
    touring = ~(best <= threshold) if threshold is not None else ~np.isfinite(best)
    frame = pd.DataFrame(
        {
            "unit_id": demand["unit_id"].to_numpy(),
            "population": demand["population"].to_numpy(),
            "covered": demand["covered"].to_numpy(),
            "touring": touring,
        }
    )
    kinds = unit_kinds(units, column=scenario.unit_kind_column, force=scenario.unit_kind)
    return compliance_table(
        units, site_table, frame, rules=rules, kinds=kinds.kinds, threshold_minutes=threshold
    )
