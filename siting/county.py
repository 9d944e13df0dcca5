"""County-level rules over existing facilities: R2 township coverage, R4 co-location, R5
facility type, R6 service circle, R7 sub-centres, R9 medical communities, R10 emergency stations.

Travel inputs are :class:`solvers.CostMatrix` objects in minutes (from
:func:`siting.travel_costs`), so the same functions work with road or straight-line travel.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geodata.boundaries import assign_units
from geodata.crs import local_utm_crs
from siting.rules import (
    ColocationRule,
    EmergencyStationRule,
    FacilityKindRule,
    MedicalCommunityRule,
    RulePreset,
    SubCentreRule,
    TownshipCentreRule,
)
from siting_errors import InputError
from solvers import LSCP, MCLP, CostMatrix, Solution, solve

__all__ = [
    "allocate_to_leads",
    "choose_sub_centres",
    "colocated_candidates",
    "emergency_stations",
    "facility_type",
    "service_circle",
    "township_gaps",
]

logger = logging.getLogger(__name__)


def township_gaps(
    townships: gpd.GeoDataFrame, centres: gpd.GeoDataFrame, *, rule: TownshipCentreRule
) -> pd.DataFrame:
    """R2: health centres inside each township polygon, and the townships that lack one."""
    idx = assign_units(centres, townships)
    counts = np.bincount(idx[idx >= 0], minlength=len(townships))
    return pd.DataFrame(
        {
            "unit_id": townships["unit_id"].astype(str).to_numpy(),
            "name": townships["name"].astype(str).to_numpy(),
            "centres": counts,
            "missing": np.maximum(rule.per_township - counts, 0),
            "rule": rule.cite(),
        }
    )


def colocated_candidates(
    sites: gpd.GeoDataFrame, pois: gpd.GeoDataFrame, *, rule: ColocationRule
) -> gpd.GeoDataFrame:
    """R4: each site's distance to the nearest point of interest (Party-and-masses activity
    centre, elderly home), whether it is within ``poi_max_distance_m`` and its preference
    weight (``preference_weight`` for co-located sites, 0 otherwise)."""
    if len(pois) == 0:
        raise InputError("`pois` is empty: R4 needs the activity centres / elderly homes")
    crs = local_utm_crs(sites)
    a = sites.to_crs(crs).geometry
    b = pois.to_crs(crs).geometry.centroid
    dist, _ = cKDTree(np.column_stack([b.x, b.y])).query(
        np.column_stack([a.centroid.x, a.centroid.y])
    )
    out = sites.copy()
    out["poi_distance_m"] = dist
    out["colocated"] = dist <= rule.poi_max_distance_m
    out["preference"] = np.where(out["colocated"], rule.preference_weight, 0.0)
    out["rule"] = rule.cite()
    return out


def facility_type(kind: str, *, rule: FacilityKindRule) -> str:
    """R5: the facility to plan in an area of this administrative kind."""
    table = rule.facility_by_kind
    if kind not in table:
        raise InputError(f"area kind must be one of {', '.join(table)}, got {kind!r}")
    return table[kind]


def service_circle(rules: RulePreset, *, area: str = "urban") -> tuple[float, str]:
    """R6: the threshold (minutes) and travel mode for an urban or rural/pastoral area."""
    if area not in ("urban", "rural"):
        raise InputError(f"`area` must be 'urban' or 'rural', got {area!r}")
    r6 = rules.R6
    return float(r6.threshold_minutes), r6.urban_mode if area == "urban" else r6.rural_mode


def choose_sub_centres(
    costs: CostMatrix,
    population: np.ndarray,
    *,
    rule: SubCentreRule,
    time_limit: float | None = 60.0,
) -> Solution:
    """R7: pick ``k`` of the existing township centres (the columns) as county sub-centres,
    maximising the population within ``threshold_minutes``."""
    if rule.k > costs.n_sites:
        raise InputError(
            f"R7.k must be at most the number of township centres ({costs.n_sites}), got {rule.k}"
        )
    return solve(
        MCLP(costs, threshold=rule.threshold_minutes, p=rule.k, weights=population),
        time_limit=time_limit,
    )


def allocate_to_leads(
    costs: CostMatrix, county_population: float, *, rule: MedicalCommunityRule
) -> np.ndarray:
    """R9: lead hospital (column) of each township centre (row) — the nearest by travel time.
    A county under ``single_community_below`` residents forms one community: everything goes
    to the first lead."""
    if county_population < rule.single_community_below:
        return np.zeros(costs.n_demand, dtype=np.int64)
    if costs.n_sites > rule.lead_hospitals:
        raise InputError(f"R9 allows {rule.lead_hospitals} lead hospitals, got {costs.n_sites}")
    dense = costs.to_dense()
    out = np.argmin(dense, axis=1)
    out[~np.isfinite(dense.min(axis=1))] = -1
    return out


def emergency_stations(
    costs: CostMatrix, *, rule: EmergencyStationRule, time_limit: float | None = 60.0
) -> Solution:
    """R10: the fewest township centres (columns) to host emergency stations so every demand
    (rows) is within ``threshold_minutes`` (LSCP; infeasible names who cannot be reached)."""
    return solve(LSCP(costs, threshold=rule.threshold_minutes), time_limit=time_limit)
