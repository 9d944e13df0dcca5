"""Shared state of a rules plan: arrays, open sites with tier and rule, steps so far."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np

from geodata.boundaries import assign_units
from geodata.crs import local_utm_crs
from siting.compliance import (
    CENTRE_TIER,
    TOWNSHIP_TIER,
)
from siting.kinds import UnitKinds, unit_kinds
from siting.rules import RulePreset, default_rules
from siting.scenario import Scenario
from siting.travel import TravelCosts, straight_line_speed
from siting_errors import InputError
from solvers import CostMatrix, Status

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: the tiers R6 opens, by unit kind (R5 reads the preset's table; these are its keys)
STATION_TIERS = ("community_health_service_station", "village_clinic")
VILLAGE_TIER = "village_clinic"
HOSPITAL_TIER = "county_hospital"
#: longest time (s) one sub-district's centre model may take
UNIT_SECONDS = 30.0
#: status severity, worst last
SEVERITY = (Status.OPTIMAL, Status.FEASIBLE, Status.NO_SOLUTION, Status.INFEASIBLE)


@dataclass(eq=False)
class State:
    """The plan being built: which sites are open, with which tier and rule, and what each
    step found."""

    scenario: Scenario
    rules: RulePreset
    travel: TravelCosts
    pop: np.ndarray
    kinds: UnitKinds | None
    d_unit: np.ndarray
    s_unit: np.ndarray
    d_kind: np.ndarray
    s_kind: np.ndarray
    hint: np.ndarray
    xy_d: np.ndarray
    xy_s: np.ndarray
    open: np.ndarray
    tier: np.ndarray
    rule: np.ndarray
    load: np.ndarray
    centre_of: np.ndarray
    judge_only: bool
    outside: str
    notes: list[str] = field(default_factory=list)
    unit_notes: dict[str, list[str]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    filled_pairs: int = 0
    village_groups: gpd.GeoDataFrame | None = None
    touring: gpd.GeoDataFrame | None = None
    coverable: np.ndarray | None = None
    designations: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def costs(self) -> CostMatrix:
        return self.travel.costs

    def unit_id(self, u: int | np.integer) -> str:
        assert self.scenario.units is not None
        return str(self.scenario.units["unit_id"].iloc[u])

    def unit_name(self, u: int | np.integer) -> str:
        assert self.scenario.units is not None
        return str(self.scenario.units["name"].iloc[u])

    def note_unit(self, u: int | np.integer, text: str) -> None:
        self.unit_notes.setdefault(self.unit_id(u), []).append(text)

    def open_site(self, j: int | np.ndarray, tier: str | np.ndarray, rule: str) -> None:
        self.open[j] = True
        self.tier[j] = tier
        self.rule[j] = rule

    def step(
        self, rule: str, tier: str, opened: int, seconds: float, status: Status, **extra: Any
    ) -> None:
        self.statuses.append(status)
        self.steps.append(
            {
                "rule": rule,
                "tier": tier,
                "new_sites": int(opened),
                "status": status.value,
                "seconds": round(seconds, 3),
            }
            | extra
        )

    def block(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Dense minutes ``rows`` × ``cols``: the matrix's pairs, and straight-line estimates
        for the pairs beyond its cutoff (never below the cutoff: the search found nothing
        nearer)."""
        sc = self.scenario
        metres = np.hypot(
            self.xy_d[rows, None, 0] - self.xy_s[None, cols, 0],
            self.xy_d[rows, None, 1] - self.xy_s[None, cols, 1],
        )
        estimate = metres * sc.detour_factor / (straight_line_speed(sc) / 3.6) / 60.0
        sub = self.costs.csr()[rows][:, cols].tocoo()
        out = np.maximum(estimate, self.travel.cutoff_minutes)
        if self.travel.method == "straight_line":
            out = estimate
        else:
            self.filled_pairs += int(out.size - sub.nnz)
        out[sub.row, sub.col] = sub.data
        return out


def tiers_of(state: State, kinds: np.ndarray) -> np.ndarray:
    """R5: the facility tier of the circle step for areas of each kind."""
    table = state.rules.R5.facility_by_kind
    return np.array([table.get(k, STATION_TIERS[0]) for k in kinds], dtype=object)


def setup(scenario: Scenario, travel: TravelCosts) -> State:
    rules = scenario.rules if scenario.rules is not None else default_rules()
    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    sites = scenario.sites
    n_s = len(sites)
    hint = (
        sites["tier"].fillna("").astype(str).to_numpy(dtype=object)
        if "tier" in sites.columns
        else np.full(n_s, "", dtype=object)
    )
    unknown = sorted({h for h in hint if h and h not in rules.tiers})
    if unknown:
        raise InputError(
            f"sites have tier {unknown[0]!r}; a site's `tier` must be empty or a tier of the "
            f"preset {rules.name!r}: {', '.join(rules.tiers)}"
        )
    # outside every unit: the circle's reading of urban (walk) or rural (drive) areas
    outside = "subdistrict" if scenario.mode == rules.R6.urban_mode else "township"
    kinds = None
    if scenario.units is not None:
        kinds = unit_kinds(
            scenario.units, column=scenario.unit_kind_column, force=scenario.unit_kind
        )
        d_unit = assign_units(scenario.demand, scenario.units)
        s_unit = assign_units(sites, scenario.units)
        unit_kind = np.append(kinds.kinds, outside).astype(object)
        d_kind, s_kind = unit_kind[d_unit], unit_kind[s_unit]
    else:
        d_unit = np.full(len(pop), -1, dtype=np.int64)
        s_unit = np.full(n_s, -1, dtype=np.int64)
        d_kind = np.full(len(pop), outside, dtype=object)
        s_kind = np.full(n_s, outside, dtype=object)
    crs = local_utm_crs(scenario.demand)
    d_geo = scenario.demand.geometry.to_crs(crs)
    s_geo = sites.geometry.to_crs(crs)
    xy_d = np.column_stack([d_geo.centroid.x.to_numpy(), d_geo.centroid.y.to_numpy()])
    xy_s = np.column_stack([s_geo.x.to_numpy(), s_geo.y.to_numpy()])
    existing = scenario.existing_mask
    default_tier = np.where(np.isin(s_kind, ["township"]), TOWNSHIP_TIER, CENTRE_TIER).astype(
        object
    )
    tier = np.where(existing, np.where(hint != "", hint, default_tier), "").astype(object)
    rule = np.where(existing, "existing", "").astype(object)
    if "rule" in sites.columns:  # a judged plan keeps the rules that placed its sites
        given = sites["rule"].fillna("").astype(str).to_numpy(dtype=object)
        rule = np.where(existing & (given != ""), given, rule)
    return State(
        scenario=scenario,
        rules=rules,
        travel=travel,
        pop=pop,
        kinds=kinds,
        d_unit=d_unit,
        s_unit=s_unit,
        d_kind=d_kind,
        s_kind=s_kind,
        hint=hint,
        xy_d=xy_d,
        xy_s=xy_s,
        open=existing.copy(),
        tier=tier,
        rule=rule,
        load=np.full(n_s, np.nan),
        centre_of=np.full(len(pop), -1, dtype=np.int64),
        judge_only=scenario.new_sites == 0,
        outside=outside,
    )


def members(index: np.ndarray, n_units: int) -> list[np.ndarray]:
    """Positions of the points of each unit (points outside every unit left out)."""
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(n_units + 1))
    return [order[bounds[u] : bounds[u + 1]] for u in range(n_units)]


# ----------------------------------------------------------------------------- R1
