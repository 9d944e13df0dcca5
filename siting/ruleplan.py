"""Planning by the documents' rules: one run places every facility the rules ask for, in order,
each site carrying its ``tier`` and the ``rule`` that placed it, and ends with every admin unit
compliant or a named reason.

:func:`plan_by_rules` runs these steps on the scenario's one travel-time matrix
(:func:`siting.planning.travel_costs`, computed once and reused by every step):

1. **R1 + R5, sub-districts** — each sub-district gets R1's number of community health service
   centres (existing centres count), new ones chosen among the candidates inside it so every
   centre serves 30,000–100,000 residents, residents assigned within their own unit
   (:func:`siting.bands.plan_unit_centres`: capacitated p-median, soft bounds, the violation
   named where the bounds cannot all hold). Pairs beyond the search cutoff inside a unit get
   straight-line estimates (exact for straight-line runs; the output counts them otherwise).
2. **R2, townships** — a township without a township health centre gets one at the candidate
   inside it with the least population-weighted travel of its residents.
3. **R3, villages** (when given) — villages under 500 residents are grouped with adjacent
   ones, one (joint) village clinic per group at the member village with the least weighted
   travel (:mod:`siting.villages`); villages in sub-districts get none (R5).
4. **R6 (+ R4, R5), the circle** — every resident whom some eligible candidate reaches within
   the threshold ends up within the threshold of an open facility of any tier: the fewest new
   community health service stations (sub-districts) or village clinics (townships) as a set
   cover (LSCP) over the residents not yet inside; with a ``station_budget`` the most
   residents with at most that many (MCLP). With points of interest (R4), a chosen site is
   swapped for a co-located candidate wherever that keeps every resident it alone covered.
5. **R3, touring** — villages (or, without villages, demand points) no fixed facility reaches
   within the threshold go on the touring-service list with population and location.
6. **County steps** when asked — R7 sub-centres among the township health centres, R9 the lead
   hospital of each township centre, R10 emergency stations (:mod:`siting.county`).
7. **R11** — beds and staff for every open facility from the residents assigned to it.

With ``new_sites=0`` nothing new is opened: the open sites are judged as they are (a baseline,
or a what-if edit), which shows which rules they break.

Each site's ``assigned_population`` is its own tier's load: a centre's R1 assignment, a
township health centre's residents of its township (nearest centre), a station's or clinic's
residents whose nearest open facility it is. Station and clinic catchments overlap the centres'
(a resident has a centre and may have a nearer station); R11 staffing follows those loads.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from geodata.boundaries import assign_units
from geodata.crs import local_utm_crs
from siting.bands import plan_unit_centres
from siting.compliance import (
    CENTRE_TIER,
    STAFFING_FIELDS,
    TOWNSHIP_TIER,
    compliance_table,
    required_centres,
    staffing_needs,
)
from siting.coverage import coverage_score, weighted_mean
from siting.kinds import UnitKinds, unit_kinds
from siting.planning import (
    TravelCosts,
    demand_frame,
    nearest_open,
    site_frame,
    straight_line_speed,
    travel_notes,
    unit_table,
)
from siting.reach import nearest_open_exact
from siting.result import PlanResult
from siting.rules import RulePreset, default_rules
from siting.scenario import VILLAGE_SITE_PREFIX, Scenario
from siting_errors import InputError
from solvers import LSCP, MCLP, CostMatrix, Solution, Status, solve

__all__ = ["STATION_TIERS", "plan_by_rules"]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: the tiers R6 opens, by unit kind (R5 reads the preset's table; these are its keys)
STATION_TIERS = ("community_health_service_station", "village_clinic")
VILLAGE_TIER = "village_clinic"
HOSPITAL_TIER = "county_hospital"
#: longest time (s) one sub-district's centre model may take
_UNIT_SECONDS = 30.0
#: status severity, worst last
_SEVERITY = (Status.OPTIMAL, Status.FEASIBLE, Status.NO_SOLUTION, Status.INFEASIBLE)


@dataclass(eq=False)
class _State:
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


def _tiers_of(state: _State, kinds: np.ndarray) -> np.ndarray:
    """R5: the facility tier of the circle step for areas of each kind."""
    table = state.rules.R5.facility_by_kind
    return np.array([table.get(k, STATION_TIERS[0]) for k in kinds], dtype=object)


def _setup(scenario: Scenario, travel: TravelCosts) -> _State:
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
    return _State(
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


def _members(index: np.ndarray, n_units: int) -> list[np.ndarray]:
    """Positions of the points of each unit (points outside every unit left out)."""
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(n_units + 1))
    return [order[bounds[u] : bounds[u + 1]] for u in range(n_units)]


# ----------------------------------------------------------------------------- R1


def _centres(state: _State, progress: Progress | None) -> None:
    """R1 + R5: community health service centres per sub-district, within the band."""
    if state.kinds is None or not state.kinds.count("subdistrict"):
        return
    start = time.perf_counter()
    sc, r1 = state.scenario, state.rules.R1
    n_units = len(state.kinds.kinds)
    rows_of = _members(np.where(state.d_unit >= 0, state.d_unit, n_units), n_units)
    cols_of = _members(np.where(state.s_unit >= 0, state.s_unit, n_units), n_units)
    limit = min(sc.time_limit or _UNIT_SECONDS, _UNIT_SECONDS)
    opened = worst = 0
    subs = np.flatnonzero(state.kinds.kinds == "subdistrict")
    if progress is not None:
        progress(f"R1: community health service centres in {len(subs)} sub-districts")
    for u in subs:
        rows = rows_of[u][state.pop[rows_of[u]] > 0]
        if not len(rows):
            continue
        cols = cols_of[u]
        existing = state.open[cols] & (state.tier[cols] == CENTRE_TIER)
        if state.judge_only:
            usable = existing
        else:
            usable = existing | (~state.open[cols] & np.isin(state.hint[cols], ["", CENTRE_TIER]))
        cols, existing = cols[usable], existing[usable]
        need = int(required_centres(float(state.pop[rows].sum()), rule=r1))
        p = min(max(need, int(existing.sum())), len(cols))
        if p == 0:
            state.note_unit(
                u,
                "no existing centre and no candidate site inside the unit: R1 cannot place "
                "its centre",
            )
            continue
        if existing.sum() > need:
            state.note_unit(
                u,
                f"{int(existing.sum())} existing centres where R1 requires {need}: existing "
                f"centres stay open ({state.rules.R8.cite()}), so their loads are shared",
            )
        if p < need and not state.judge_only:
            state.note_unit(u, f"only {len(cols)} site(s) inside the unit for {need} centres (R1)")
        res = plan_unit_centres(
            state.block(rows, cols),
            state.pop[rows],
            fixed=existing,
            p=p,
            rule=r1,
            xy=state.xy_d[rows],
            time_limit=limit,
            backend=sc.backend,
        )
        if not res.ok:
            state.failures.append(
                f"R1 in {state.unit_name(u)} ({state.unit_id(u)}): the centre model ended "
                f"{res.status}: {res.reason}"
            )
            worst = max(worst, _SEVERITY.index(Status(res.status)))
            continue
        worst = max(worst, _SEVERITY.index(Status(res.status)))
        chosen = cols[res.open_sites]
        new = chosen[~state.open[chosen]]
        opened += len(new)
        state.open_site(new, CENTRE_TIER, "R1")
        state.load[chosen] = res.loads
        served = res.assignment >= 0
        state.centre_of[rows[served]] = cols[res.assignment[served]]
        if res.violations and not (p == 1 and state.pop[rows].sum() < r1.min_population):
            state.note_unit(u, "closest plan (soft bounds): " + "; ".join(res.violations) + " (R1)")
    state.step(
        "R1",
        CENTRE_TIER,
        opened,
        time.perf_counter() - start,
        _SEVERITY[worst],
        units=len(subs),
    )


# ----------------------------------------------------------------------------- R2


def _township_centres(state: _State, progress: Progress | None) -> None:
    """R2: a township health centre in every township (the best candidate inside it)."""
    if state.kinds is None or not state.kinds.count("township"):
        return
    start = time.perf_counter()
    r2 = state.rules.R2
    n_units = len(state.kinds.kinds)
    rows_of = _members(np.where(state.d_unit >= 0, state.d_unit, n_units), n_units)
    cols_of = _members(np.where(state.s_unit >= 0, state.s_unit, n_units), n_units)
    towns = np.flatnonzero(state.kinds.kinds == "township")
    if progress is not None:
        progress(f"R2: township health centres in {len(towns)} townships")
    opened = 0
    for u in towns:
        rows = rows_of[u][state.pop[rows_of[u]] > 0]
        cols = cols_of[u]
        have = cols[state.open[cols] & (state.tier[cols] == TOWNSHIP_TIER)]
        missing = r2.per_township - len(have)
        if missing > 0 and not state.judge_only:
            free = cols[~state.open[cols] & np.isin(state.hint[cols], ["", TOWNSHIP_TIER])]
            if not len(free):
                state.note_unit(
                    u, "no township health centre and no candidate site inside the township (R2)"
                )
            else:
                picks = _best_sites(state, rows, have, free, missing)
                state.open_site(picks, TOWNSHIP_TIER, "R2")
                opened += len(picks)
                have = np.concatenate([have, picks])
        if len(have) and len(rows):
            block = state.block(rows, have)
            near = np.argmin(block, axis=1)
            state.centre_of[rows] = have[near]
            state.load[have] = np.bincount(near, weights=state.pop[rows], minlength=len(have))
        elif len(have):
            state.load[have] = 0.0
    state.step("R2", TOWNSHIP_TIER, opened, time.perf_counter() - start, Status.OPTIMAL)


def _best_sites(
    state: _State, rows: np.ndarray, have: np.ndarray, free: np.ndarray, k: int
) -> np.ndarray:
    """``k`` of ``free`` added one at a time, each the one that most lowers the residents'
    weighted travel to their nearest centre (exact for one site: the 1-median given ``have``).
    Without residents: the candidates nearest the unit's other sites' centre."""
    if not len(rows):
        return free[:k]
    w = state.pop[rows]
    block = state.block(rows, free)
    base = state.block(rows, have).min(axis=1) if len(have) else np.full(len(rows), np.inf)
    picks: list[int] = []
    for _ in range(min(k, len(free))):
        score = w @ np.minimum(base[:, None], block)
        score[picks] = np.inf
        j = int(np.argmin(score))
        picks.append(j)
        base = np.minimum(base, block[:, j])
    return free[picks]


# ----------------------------------------------------------------------------- R3


def _villages(state: _State, progress: Progress | None) -> None:
    """R3: villages grouped (under 500 with adjacent ones), one clinic per group."""
    from siting.villages import choose_group_sites, group_villages

    sc = state.scenario
    if sc.villages is None or state.travel.village_costs is None:
        return
    start = time.perf_counter()
    r3 = state.rules.R3
    villages = sc.villages.reset_index(drop=True)
    site_pos = pd.Index(sc.sites["site_id"].astype(str))
    vcol = site_pos.get_indexer(VILLAGE_SITE_PREFIX + villages["village_id"].astype(str))
    if (vcol < 0).any():
        raise InputError("the scenario's sites lack its villages' clinic sites; rebuild it")
    if sc.units is not None and state.kinds is not None:
        v_unit = assign_units(villages, sc.units)
        v_kind = np.append(state.kinds.kinds, state.outside).astype(object)[v_unit]
    else:
        v_unit = np.full(len(villages), -1, dtype=np.int64)
        v_kind = np.full(len(villages), state.outside, dtype=object)
    rural = v_kind != "subdistrict"
    if (~rural).any():
        state.notes.append(
            f"{int((~rural).sum())} villages lie in sub-districts: no village clinic there "
            f"({state.rules.R5.cite()}: stations instead)"
        )
    if not rural.any():
        return
    if progress is not None:
        progress(f"R3: {int(rural.sum())} villages into joint-clinic groups")
    idx = np.flatnonzero(rural)
    vcosts = state.travel.village_costs.csr()
    pairs = vcosts[idx][:, vcol[idx]].tocoo()
    off = pairs.row != pairs.col  # a village to itself: 0
    n_v = len(idx)
    vv = sp.csr_array(
        (
            np.concatenate([pairs.data[off], np.zeros(n_v)]),
            (
                np.concatenate([pairs.row[off], np.arange(n_v)]),
                np.concatenate([pairs.col[off], np.arange(n_v)]),
            ),
        ),
        shape=(n_v, n_v),
    )
    sub = villages.iloc[idx].reset_index(drop=True)
    sub["population"] = pd.to_numeric(sub["population"]).astype(float)
    groups = group_villages(sub, population_column="population", rule=r3, travel_minutes=vv)
    choice = choose_group_sites(groups, vv, "population")
    has_clinic = np.zeros(int(groups["group_id"].max()) + 1, dtype=bool)
    clinics = np.flatnonzero(state.open & (state.tier == VILLAGE_TIER))
    if len(clinics):  # a group whose village hosts an open clinic has one already
        at = vcosts[idx][:, clinics].tocoo()
        reach = np.full((len(idx), len(clinics)), np.inf)
        reach[at.row, at.col] = at.data
        ok = np.isfinite(reach.min(axis=0))
        nearest_village = np.argmin(reach, axis=0)
        has_clinic[groups["group_id"].to_numpy()[nearest_village[ok]]] = True
    opened = 0
    clinic_site = np.full(len(has_clinic), None, dtype=object)
    ids = sc.sites["site_id"].astype(str).to_numpy()
    for row in choice.itertuples(index=False):
        g = int(row.group_id)
        touring = bool(groups.loc[groups["group_id"] == g, "touring"].iloc[0])
        if touring or has_clinic[g] or state.judge_only:
            continue
        j = int(vcol[idx[row.site]])
        if state.open[j]:
            continue
        label = "R3" if row.villages == 1 else f"R3 joint clinic of {row.villages} villages"
        state.open_site(j, VILLAGE_TIER, label)
        clinic_site[g] = ids[j]
        opened += 1
    out = gpd.GeoDataFrame(
        {
            "village_id": sub["village_id"].astype(str).to_numpy(),
            "name": sub["name"].astype(str).to_numpy() if "name" in sub.columns else "",
            "population": sub["population"].to_numpy(),
            "unit_id": [state.unit_id(u) if u >= 0 else None for u in v_unit[idx]],
            "group_id": groups["group_id"].to_numpy(),
            "small": groups["small"].to_numpy(),
            "joint": groups["joint"].to_numpy(),
            "touring": groups["touring"].to_numpy(),
            "group_population": groups["group_population"].to_numpy(),
            "clinic_site_id": clinic_site[groups["group_id"].to_numpy()],
            "rule": r3.cite(),
        },
        geometry=sub.geometry.to_numpy(),
        crs=sub.crs,
    )
    state.village_groups = out
    state.step(
        "R3",
        VILLAGE_TIER,
        opened,
        time.perf_counter() - start,
        Status.OPTIMAL,
        groups=int(groups["group_id"].nunique()),
        joint_groups=int(groups.loc[groups["joint"], "group_id"].nunique()),
        touring_groups=int(groups.loc[groups["touring"], "group_id"].nunique()),
    )


# ----------------------------------------------------------------------------- R6


def _eligible(state: _State) -> tuple[np.ndarray, np.ndarray]:
    """Candidates the circle step may open (R5: a station in a sub-district, a village clinic
    in a township; a site's own ``tier`` must agree; villages' own sites are left to R3), and
    the tier each would get."""
    tiers = _tiers_of(state, state.s_kind)
    ok = ~state.scenario.existing_mask & ((state.hint == "") | (state.hint == tiers))
    # a village's own site is R3's (one clinic per group; none for a touring group)
    ok &= (
        ~state.scenario.sites["site_id"].astype(str).str.startswith(VILLAGE_SITE_PREFIX).to_numpy()
    )
    return ok, tiers


def _circle(state: _State, progress: Progress | None) -> None:
    """R6: close the circle with the fewest stations / village clinics (or the most residents
    with a budget), R4 co-location preferred."""
    sc = state.scenario
    threshold = float(sc.threshold_minutes or state.rules.R6.threshold_minutes)
    start = time.perf_counter()
    eligible, tiers = _eligible(state)
    within = state.costs.within(threshold)
    reach = np.asarray(within @ (eligible | state.open).astype(np.int8)) > 0
    state.coverable = reach & (state.pop > 0)
    _, t_open = nearest_open(state.costs, np.flatnonzero(state.open))
    gap = state.coverable & ~(t_open <= threshold)
    cols = np.flatnonzero(eligible & ~state.open)
    if state.judge_only or not gap.any() or not len(cols):
        state.step("R6", "station / village clinic", 0, time.perf_counter() - start, Status.OPTIMAL)
        return
    rows = np.flatnonzero(gap)
    if progress is not None:
        progress(
            f"R6: closing the {threshold:g}-min circle for {state.pop[rows].sum():,.0f} residents"
        )
    sub = CostMatrix.from_scipy(state.costs.truncated(threshold).csr()[rows][:, cols])
    budget = sc.station_budget
    if budget is None:
        model: Any = LSCP(sub, threshold=threshold, weights=state.pop[rows])
    elif budget == 0:
        state.notes.append("the station budget is 0: the circle step opens nothing (R6)")
        state.step("R6", "station / village clinic", 0, time.perf_counter() - start, Status.OPTIMAL)
        return
    else:
        p = min(int(budget), len(cols))
        model = MCLP(sub, threshold=threshold, p=p, weights=state.pop[rows])
    sol = solve(model, backend=sc.backend, time_limit=sc.time_limit, mip_gap=sc.mip_gap)
    if not sol.has_solution:
        state.failures.append(f"R6 circle ({sol.model}) ended {sol.status.value}: {sol.reason}")
        state.step("R6", "station / village clinic", 0, time.perf_counter() - start, sol.status)
        return
    chosen = cols[sol.open_sites]
    colocated = _colocation(state, rows, cols, chosen, threshold)
    if colocated is not None:
        chosen, swapped, near = colocated
        if swapped:
            state.notes.append(
                f"{swapped} circle site(s) swapped for candidates near an activity centre or "
                f"elderly home without losing coverage ({state.rules.R4.cite()})"
            )
    else:
        near = np.zeros(len(chosen), dtype=bool)
    for j, is_near in zip(chosen, near, strict=True):
        state.open_site(int(j), tiers[j], "R6 + R4" if is_near else "R6")
    gap_note = f" (gap {sol.gap:.2%})" if sol.gap else ""
    state.step(
        "R6",
        "station / village clinic",
        len(chosen),
        time.perf_counter() - start,
        sol.status,
        model=sol.model + gap_note,
        residents=round(float(state.pop[rows].sum()), 3),
    )


def _colocation(
    state: _State, rows: np.ndarray, cols: np.ndarray, chosen: np.ndarray, threshold: float
) -> tuple[np.ndarray, int, np.ndarray] | None:
    """R4: swap each chosen site that is not co-located for a co-located candidate covering
    every resident only it covers (the number of sites and the coverage stay the same)."""
    from siting.county import colocated_candidates

    sc = state.scenario
    if sc.pois is None:
        return None
    near_all = colocated_candidates(sc.sites, sc.pois, rule=state.rules.R4)["colocated"].to_numpy(
        dtype=bool
    )
    cover = state.costs.within(threshold)[rows][:, cols].tocsc().astype(np.int32)
    pos = {int(c): k for k, c in enumerate(cols)}
    picked = [int(c) for c in chosen]
    count = np.asarray(cover[:, [pos[c] for c in picked]].sum(axis=1)).ravel()
    swapped = 0
    for i, c in enumerate(list(picked)):
        if near_all[c]:
            continue
        mine = cover[:, [pos[c]]].toarray().ravel() > 0
        alone = mine & (count == 1)
        if alone.any():
            fits = np.asarray(cover[np.flatnonzero(alone)].sum(axis=0)).ravel() == alone.sum()
        else:
            fits = np.ones(len(cols), dtype=bool)
        options = [
            int(cols[k])
            for k in np.flatnonzero(fits)
            if near_all[cols[k]] and int(cols[k]) not in picked
        ]
        if not options:
            continue
        new = options[0]
        count -= mine.astype(count.dtype)
        count += cover[:, [pos[new]]].toarray().ravel().astype(count.dtype)
        picked[i] = new
        swapped += 1
    out = np.array(picked, dtype=np.int64)
    return out, swapped, near_all[out]


# ----------------------------------------------------------------------------- touring


def _touring(state: _State) -> None:
    """R3: who only touring (mobile) service reaches, with population and location."""
    from siting.villages import touring_demand

    sc = state.scenario
    threshold = float(sc.threshold_minutes or state.rules.R6.threshold_minutes)
    r3 = state.rules.R3
    if state.village_groups is not None and state.travel.village_costs is not None:
        groups = state.village_groups
        assert sc.villages is not None
        site_pos = pd.Index(sc.villages["village_id"].astype(str))
        rows = site_pos.get_indexer(groups["village_id"])
        vc = CostMatrix.from_scipy(state.travel.village_costs.csr()[rows])
        _, t = nearest_open(vc, np.flatnonzero(state.open))
        frame = groups.rename(columns={"touring": "touring"}).copy()
        tour = touring_demand(
            frame, t, threshold_minutes=threshold, population_column="population", rule=r3
        )
        villages = groups.iloc[tour["village"].to_numpy()]
        out = gpd.GeoDataFrame(
            {
                "kind": "village",
                "id": villages["village_id"].to_numpy(),
                "name": villages["name"].to_numpy(),
                "unit_id": villages["unit_id"].to_numpy(),
                "population": tour["population"].to_numpy(),
                "clinic_minutes": np.where(
                    np.isfinite(tour["clinic_minutes"]), tour["clinic_minutes"], np.nan
                ),
                "reason": tour["reason"].to_numpy(),
                "rule": r3.cite(),
            },
            geometry=tour.geometry.to_numpy(),
            crs=tour.crs,
        )
    else:
        lost = (state.pop > 0) & ~(state.coverable if state.coverable is not None else False)
        ids = sc.demand["demand_id"].astype(str).to_numpy()
        units = sc.units["unit_id"].astype(str).to_numpy() if sc.units is not None else np.array([])
        out = gpd.GeoDataFrame(
            {
                "kind": "demand point",
                "id": ids[lost],
                "name": "",
                "unit_id": [units[u] if u >= 0 else None for u in state.d_unit[lost]],
                "population": state.pop[lost],
                "clinic_minutes": np.nan,
                "reason": f"no candidate within {threshold:g} min",
                "rule": r3.cite(),
            },
            geometry=sc.demand.geometry.to_numpy()[lost],
            crs=sc.demand.crs,
        )
    state.touring = out.to_crs("EPSG:4326").reset_index(drop=True)


# ----------------------------------------------------------------------------- county


def _county(state: _State, progress: Progress | None) -> None:
    """R7 sub-centres, R9 lead hospitals, R10 emergency stations, when asked."""
    sc = state.scenario
    if not sc.county_steps:
        return
    towns = np.flatnonzero(state.open & (state.tier == TOWNSHIP_TIER))
    if not len(towns):
        state.notes.append(
            f"county steps {', '.join(sc.county_steps)} skipped: no township health centre"
        )
        return
    if progress is not None:
        progress(f"county steps {', '.join(sc.county_steps)}")
    if "R7" in sc.county_steps:
        _sub_centres(state, towns)
    if "R9" in sc.county_steps:
        _lead_hospitals(state, towns)
    if "R10" in sc.county_steps:
        _emergency_stations(state, towns)


def _sub_centres(state: _State, towns: np.ndarray) -> None:
    """R7: the township health centres that become county sub-centres."""
    from siting.county import choose_sub_centres

    sc = state.scenario
    start = time.perf_counter()
    r7 = state.rules.R7
    if r7.k > len(towns):
        state.notes.append(
            f"R7 asks for {r7.k} sub-centres but there are {len(towns)} township health "
            "centres: all become sub-centres"
        )
        r7 = dataclasses.replace(r7, k=len(towns))
    if r7.mode != sc.mode:
        state.notes.append(
            f"R7 reads {r7.mode} times but the plan's travel is {sc.mode}: R7 uses {sc.mode} times"
        )
    sub = state.costs.restrict_sites(towns)
    sol = choose_sub_centres(sub, state.pop, rule=r7, time_limit=sc.time_limit)
    flag = np.zeros(len(sc.sites), dtype=bool)
    if sol.has_solution:
        flag[towns[sol.open_sites]] = True
    else:
        state.failures.append(f"R7 sub-centres ended {sol.status.value}: {sol.reason}")
    state.designations["sub_centre"] = flag
    state.step(
        "R7",
        "county_sub_centre",
        0,
        time.perf_counter() - start,
        sol.status,
        designated=int(flag.sum()),
    )


def _lead_hospitals(state: _State, towns: np.ndarray) -> None:
    """R9: the lead hospital of each township health centre (straight-line distance)."""
    from siting.county import allocate_to_leads

    sc = state.scenario
    start = time.perf_counter()
    ids = sc.sites["site_id"].astype(str).to_numpy()
    leads = np.flatnonzero(state.open & (state.tier == HOSPITAL_TIER))
    lead_of = np.full(len(sc.sites), None, dtype=object)
    if not len(leads):
        state.notes.append(
            f"R9 skipped: no site has tier {HOSPITAL_TIER!r} (give the county hospitals as "
            "existing sites with that tier)"
        )
    else:
        d = np.hypot(
            state.xy_s[towns, None, 0] - state.xy_s[None, leads, 0],
            state.xy_s[towns, None, 1] - state.xy_s[None, leads, 1],
        )
        minutes = d * sc.detour_factor / (straight_line_speed(sc) / 3.6) / 60.0
        county_pop = float(state.pop.sum())
        r9 = state.rules.R9
        if county_pop >= r9.single_community_below and len(leads) > r9.lead_hospitals:
            state.notes.append(
                f"R9 allows {r9.lead_hospitals} lead hospitals; the first "
                f"{r9.lead_hospitals} of {len(leads)} county hospitals lead"
            )
            leads, minutes = leads[: r9.lead_hospitals], minutes[:, : r9.lead_hospitals]
        pick = allocate_to_leads(CostMatrix.from_dense(minutes), county_pop, rule=r9)
        lead_of[towns] = np.where(pick >= 0, ids[leads[np.maximum(pick, 0)]], None)
        for k, lead in enumerate(leads):  # a lead serves its township centres' residents
            state.load[lead] = float(np.nansum(state.load[towns[pick == k]]))
        single = county_pop < r9.single_community_below
        state.notes.append(
            f"R9: {len(towns)} township health centres in "
            f"{'one medical community' if single else 'medical communities'} (county "
            f"population {county_pop:,.0f}; lead hospital by straight-line distance)"
        )
    state.designations["lead_hospital"] = lead_of
    state.step("R9", HOSPITAL_TIER, 0, time.perf_counter() - start, Status.OPTIMAL)


def _emergency_stations(state: _State, towns: np.ndarray) -> None:
    """R10: the fewest township health centres hosting emergency stations so every resident
    any of them reaches within R10's threshold is reached."""
    from siting.county import emergency_stations

    sc = state.scenario
    start = time.perf_counter()
    r10 = state.rules.R10
    sub = state.costs.restrict_sites(towns)
    reach = (sub.row_min() <= r10.threshold_minutes) & (state.pop > 0)
    flag = np.zeros(len(sc.sites), dtype=bool)
    status = Status.OPTIMAL
    if reach.any():
        rows_costs = CostMatrix.from_scipy(sub.truncated(r10.threshold_minutes).csr()[reach])
        sol = emergency_stations(rows_costs, rule=r10, time_limit=sc.time_limit)
        status = sol.status
        if sol.has_solution:
            flag[towns[sol.open_sites]] = True
        else:
            state.failures.append(f"R10 emergency stations ended {sol.status.value}")
    lost = float(state.pop[~reach].sum())
    if lost > 0.5:
        state.notes.append(
            f"R10: {lost:,.0f} residents have no township health centre within "
            f"{r10.threshold_minutes:g} min ({sc.mode}): no emergency station reaches them"
        )
    state.designations["emergency_station"] = flag
    state.step(
        "R10",
        "emergency_station",
        0,
        time.perf_counter() - start,
        status,
        designated=int(flag.sum()),
    )


# ----------------------------------------------------------------------------- result


def _solution(state: _State, seconds: float) -> Solution:
    worst = max((_SEVERITY.index(s) for s in state.statuses), default=0)
    if state.failures:
        worst = max(worst, _SEVERITY.index(Status.NO_SOLUTION))
    status = _SEVERITY[worst]
    new = int((state.open & ~state.scenario.existing_mask).sum())
    return Solution(
        model="rules",
        status=status,
        objective=float(new) if status in (Status.OPTIMAL, Status.FEASIBLE) else None,
        bound=None,
        gap=None,
        time=seconds,
        backend=state.scenario.backend,
        open_sites=np.flatnonzero(state.open),
        reason="; ".join(state.failures) or None,
        details={"steps": list(state.steps)},
    )


def _build(state: _State, timings: dict[str, float]) -> PlanResult:
    sc = state.scenario
    t0 = time.perf_counter()
    open_idx = np.flatnonzero(state.open)
    # every resident's real time to the nearest open site: unreachable means no route at all
    nearest, times = nearest_open_exact(sc, state.travel, open_idx)
    threshold = sc.threshold_minutes
    cov = coverage_score(state.pop, times, float(threshold)) if threshold is not None else None
    demand = demand_frame(sc, nearest, times)
    covered = demand["covered"].to_numpy()
    sites = site_frame(sc, open_idx, nearest, times, covered)
    ids = sites["site_id"].to_numpy()
    demand["centre_id"] = np.where(state.centre_of >= 0, ids[np.maximum(state.centre_of, 0)], None)
    coverable = state.coverable if state.coverable is not None else np.zeros(len(state.pop), bool)
    demand["touring"] = (state.pop > 0) & ~coverable
    nearest_pop = sites["assigned_population"].to_numpy(dtype=np.float64)
    primary = np.isin(state.tier, [CENTRE_TIER, TOWNSHIP_TIER, HOSPITAL_TIER]) & state.open
    load = np.where(primary & np.isfinite(state.load), state.load, nearest_pop)
    load = np.where(state.open, load, 0.0)
    sites["nearest_population"] = np.round(nearest_pop, 3)
    sites["assigned_population"] = np.round(load, 3)
    sites["tier"] = np.where(state.open, state.tier, "").astype(str)
    sites["rule"] = np.where(state.open, state.rule, "").astype(str)
    units_ids = sc.units["unit_id"].astype(str).to_numpy() if sc.units is not None else np.array([])
    site_unit = np.array([units_ids[u] if u >= 0 else None for u in state.s_unit], dtype=object)
    sites["unit_id"] = site_unit
    sites["unit_kind"] = np.where(state.s_unit >= 0, state.s_kind, "").astype(str)
    for key, values in state.designations.items():
        sites[key] = values
    staff = staffing_needs(np.maximum(load, 0.0), rule=state.rules.R11)
    assert isinstance(staff, pd.DataFrame)
    for name in STAFFING_FIELDS:
        sites[name] = np.where(state.open, staff[name].to_numpy(), 0)
    units_table = compliance = None
    if sc.units is not None and state.kinds is not None:
        units_table = unit_table(sc, demand, sites, site_unit)
        open_sites = sites[state.open]
        compliance = compliance_table(
            sc.units,
            open_sites[["unit_id", "assigned_population", "tier"]],
            pd.DataFrame(
                {
                    "unit_id": demand["unit_id"].to_numpy(),
                    "population": state.pop,
                    "covered": covered,
                    "touring": demand["touring"].to_numpy(),
                }
            ),
            rules=state.rules,
            kinds=state.kinds.kinds,
            unit_notes=state.unit_notes,
            threshold_minutes=threshold,
        )
    reachable = nearest >= 0
    timings["result"] = time.perf_counter() - t0
    steps = pd.DataFrame(state.steps)
    return PlanResult(
        scenario=sc,
        solution=_solution(state, sum(float(s["seconds"]) for s in state.steps)),
        coverage=cov,
        sites=sites,
        demand=demand,
        units=units_table,
        mean_travel_minutes=weighted_mean(np.where(reachable, times, np.nan), state.pop),
        unreachable_population=float(state.pop[~reachable].sum()),
        notes=tuple(state.notes),
        travel=state.travel,
        timings=timings,
        compliance=compliance,
        touring=state.touring,
        village_groups=state.village_groups,
        steps=steps,
        unit_kinds=None if state.kinds is None else state.kinds.describe(),
    )


def plan_by_rules(
    scenario: Scenario, travel: TravelCosts, *, progress: Progress | None = None
) -> PlanResult:
    """Plan ``scenario`` by its rules preset (module docstring), on ``travel`` — the
    scenario's travel times from :func:`siting.planning.travel_costs`. Use
    :func:`siting.plan` (it computes ``travel`` when not given)."""
    if scenario.model != "rules":
        raise InputError(
            f"plan_by_rules needs a scenario with model 'rules', got {scenario.model!r}"
        )
    timings = {"travel_times": travel.seconds}
    state = _setup(scenario, travel)
    state.notes.extend(travel_notes(scenario, travel))
    if state.kinds is not None:
        state.notes.append(state.kinds.describe())
    else:
        state.notes.append(
            "no admin units: R1 and R2 (centres per sub-district and township) are not applied"
        )
    if state.judge_only:
        state.notes.append("no new sites (new_sites=0): the open sites are judged as they are")
    t0 = time.perf_counter()
    _centres(state, progress)
    _township_centres(state, progress)
    _villages(state, progress)
    _circle(state, progress)
    _touring(state)
    _county(state, progress)
    timings["plan"] = time.perf_counter() - t0
    if state.filled_pairs:
        state.notes.append(
            f"{state.filled_pairs:,} resident-site pairs inside units lie beyond the "
            f"{travel.cutoff_minutes:g}-min search: their R1/R2 assignment uses straight-line "
            f"estimates (x {scenario.detour_factor} detour)"
        )
    for failure in state.failures:
        state.notes.append(failure)
    return _build(state, timings)
