"""Compliance with the planning rules: R1 centres per sub-district, centre bands, R11 staffing,
and the per-admin-unit compliance report of a plan.

Pure functions of populations, tables and rule objects from :mod:`siting.rules`; every table
they return carries the citations of the rules behind it (``R1 (002 task 1)``).
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from siting.rules import CentreBandRule, Rule, RulePreset, StaffingRule
from siting_errors import InputError

__all__ = [
    "BAND_STATUS",
    "CENTRE_TIER",
    "COMPLIANCE_COLUMNS",
    "STAFFING_FIELDS",
    "TOWNSHIP_TIER",
    "band_status",
    "centre_requirements",
    "compliance_table",
    "required_centres",
    "staffing_needs",
]

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=Rule)

#: R11 output names and the rule parameter and population base behind each
STAFFING_FIELDS: dict[str, tuple[str, int]] = {
    "beds": ("beds_per_1000", 1_000),
    "physicians": ("physicians_per_1000", 1_000),
    "nurses": ("nurses_per_1000", 1_000),
    "general_practitioners": ("gps_per_10000", 10_000),
    "public_health_staff": ("public_health_per_10000", 10_000),
}


def _rule(rule: Any, kind: type[R]) -> R:
    if not isinstance(rule, kind):
        got = f"{rule.code} ({type(rule).__name__})" if isinstance(rule, Rule) else repr(rule)
        raise InputError(f"`rule` must be the {kind.code} rule ({kind.__name__}), got {got}")
    return rule


def _population(values: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`{what}` must be numbers, got {values!r:.80}") from exc
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        where = np.flatnonzero(bad.ravel())[:3].tolist()
        raise InputError(
            f"`{what}` must be finite and >= 0, got {arr.ravel()[where].tolist()} "
            f"(at positions {where})"
        )
    return arr


def required_centres(population: Any, *, rule: CentreBandRule) -> Any:
    """R1: community health service centres a sub-district of ``population`` needs.

    ``n = 1`` if ``P <= max_population``, else ``1 + ceil((P - max_population) / extra_per)``
    (100,000 and 50,000 in the documents). A sub-district under ``min_population`` still gets
    its one centre. Returns an ``int`` for a scalar and an ``int64`` array for an array.
    """
    r1 = _rule(rule, CentreBandRule)
    pop = _population(population, "population")
    extra = np.ceil(np.maximum(pop - r1.max_population, 0.0) / r1.extra_per)
    out = (1 + extra).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def centre_requirements(
    units: pd.DataFrame,
    population_column: str,
    rule: CentreBandRule,
    *,
    existing_column: str | None = None,
    name_column: str | None = None,
) -> pd.DataFrame:
    """R1 per admin unit (rows of ``units``, a DataFrame or GeoDataFrame; same index out).

    Columns: ``name`` (when ``name_column`` is given), ``population``, ``required_centres``,
    ``existing_centres`` and ``shortfall`` (when ``existing_column`` — centres already there —
    is given), ``flag`` (``"below_min"`` for units under ``min_population``, which keep their
    one centre, when the rule's ``small_flag`` is on; else ``""``) and ``rule`` (the citation).
    """
    r1 = _rule(rule, CentreBandRule)
    if not isinstance(units, pd.DataFrame):
        raise InputError(f"`units` must be a DataFrame or GeoDataFrame, got {type(units).__name__}")
    for col in (population_column, existing_column, name_column):
        if col is not None and col not in units.columns:
            raise InputError(f"`units` has no column {col!r} (columns: {list(units.columns)})")
    pop = _population(units[population_column].to_numpy(), population_column)
    need = np.atleast_1d(required_centres(pop, rule=r1))
    out = pd.DataFrame({"population": pop, "required_centres": need}, index=units.index)
    if name_column is not None:
        out.insert(0, "name", units[name_column].astype(str).to_numpy())
    if existing_column is not None:
        have = _population(units[existing_column].to_numpy(), existing_column)
        if (have != np.round(have)).any():
            raise InputError(f"`{existing_column}` must be whole numbers of centres")
        out["existing_centres"] = have.astype(np.int64)
        out["shortfall"] = np.maximum(need - out["existing_centres"].to_numpy(), 0)
    small = pop < r1.min_population
    out["flag"] = np.where(small & r1.small_flag, "below_min", "")
    out["rule"] = r1.cite()
    logger.debug(
        "R1: %d units need %d centres (%d under %d residents)",
        len(out),
        int(need.sum()),
        int(small.sum()),
        r1.min_population,
    )
    return out


def staffing_needs(population: Any, *, rule: StaffingRule) -> dict[str, int] | pd.DataFrame:
    """R11: beds, physicians, nurses, general practitioners and public-health staff for a
    population, each rounded up to whole beds and people.

    A scalar population gives a ``dict``; an array (e.g. the population assigned to each
    facility) gives a DataFrame with one row per entry and a ``rule`` citation column.
    """
    r11 = _rule(rule, StaffingRule)
    pop = _population(population, "population")
    needs = {}
    for name, (param, per) in STAFFING_FIELDS.items():
        exact = pop * getattr(r11, param) / per
        # round away float noise first (100,000 x 4.12 / 1,000 is 412.00000000000006)
        needs[name] = np.ceil(np.round(exact, 6)).astype(np.int64)
    if pop.ndim == 0:
        return {name: int(v) for name, v in needs.items()}
    out = pd.DataFrame({"population": pop.ravel(), **{k: v.ravel() for k, v in needs.items()}})
    out["rule"] = r11.cite()
    return out


#: the band statuses of a centre's assigned population under R1
BAND_STATUS: tuple[str, ...] = ("below", "within", "above")


def band_status(assigned_population: Any, *, rule: CentreBandRule) -> np.ndarray:
    """R1 band of each centre: ``below`` ``min_population``, ``within`` the band (inclusive)
    or ``above`` ``max_population``, from the population assigned to it."""
    r1 = _rule(rule, CentreBandRule)
    pop = np.atleast_1d(_population(assigned_population, "assigned_population"))
    return np.where(
        pop < r1.min_population, "below", np.where(pop > r1.max_population, "above", "within")
    ).astype(object)


#: tiers that count as R1 centres (sub-districts) and R2 centres (townships)
CENTRE_TIER = "community_health_service_centre"
TOWNSHIP_TIER = "township_health_centre"
#: the compliance table's columns, in order
COMPLIANCE_COLUMNS: tuple[str, ...] = (
    "unit_id",
    "name",
    "kind",
    "population",
    "required_centres",
    "planned_centres",
    "shortfall",
    "centres_below_band",
    "centres_within_band",
    "centres_above_band",
    "flag",
    "covered_population",
    "coverage_share",
    "population_beyond",
    "touring_population",
    "status",
    "reason",
    "rules",
)


def compliance_table(
    units: pd.DataFrame,
    sites: pd.DataFrame,
    demand: pd.DataFrame,
    *,
    rules: RulePreset,
    kinds: Any = None,
    unit_notes: dict[str, list[str]] | None = None,
    threshold_minutes: float | None = None,
) -> pd.DataFrame:
    """The compliance report of a plan, one row per admin unit.

    Args:
        units: ``unit_id``, ``name`` per admin unit.
        sites: the plan's open sites with ``unit_id`` (``None`` outside every unit) and
            ``assigned_population``; with a ``tier`` column (a rules plan) only community health
            service centres count for R1 and township health centres for R2, else every open
            site counts as the unit's centre.
        demand: demand points with ``unit_id``, ``population``, ``covered`` (inside the service
            circle of an open site) and ``touring`` (no site at all, existing or candidate,
            within the circle: only touring (mobile) service can reach them, R3).
        rules: the preset (R1 for centre counts and bands, R2 for townships, R6 for the circle,
            R3 for touring).
        kinds: each unit's kind (``subdistrict`` / ``township`` / ``""`` unknown), in
            ``units`` order; ``None`` treats every unit as a sub-district (R1).
        unit_notes: sentences a planning step left per ``unit_id`` (why a centre is missing or
            a bound could not hold); they go into the unit's ``reason``.
        threshold_minutes: the circle the plan used, for the sentences (default: R6's).

    Columns: ``unit_id``, ``name``, ``kind``, ``population``, ``required_centres`` (R1 in
    sub-districts, R2 in townships), ``planned_centres`` (open centres of that tier in the
    unit), ``shortfall``, ``centres_below_band`` / ``centres_within_band`` /
    ``centres_above_band`` (R1 band of each sub-district centre's assigned population),
    ``flag`` (``below_min`` for sub-districts under R1's minimum), ``covered_population``,
    ``coverage_share``, ``population_beyond`` (outside the circle), ``touring_population``,
    ``status`` (``ok``; ``flagged`` when the only findings are what the rules themselves allow
    — a small sub-district keeping its one centre, residents only touring service reaches, a
    unit of unknown kind; else the problems, ``; ``-separated), ``reason`` (every finding as a
    sentence naming its rule) and ``rules`` (the citations).
    """
    for frame, what, cols in (
        (units, "units", ("unit_id", "name")),
        (sites, "sites", ("unit_id", "assigned_population")),
        (demand, "demand", ("unit_id", "population", "covered", "touring")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"`{what}` lacks columns {missing} (columns: {list(frame.columns)})")
    if not isinstance(rules, RulePreset):
        raise InputError(f"`rules` must be a RulePreset, got {type(rules).__name__}")
    r1, r2 = rules.R1, rules.R2
    uid = units["unit_id"].astype(str)
    kind = (
        np.full(len(units), "subdistrict", dtype=object)
        if kinds is None
        else np.asarray(kinds, dtype=object)
    )
    if len(kind) != len(units):
        raise InputError(f"`kinds` must have one kind per unit ({len(units)}), got {len(kind)}")
    d_unit = demand["unit_id"].astype(object).where(demand["unit_id"].notna(), None)
    pop = demand["population"].to_numpy(dtype=np.float64)
    d = pd.DataFrame(
        {
            "unit_id": d_unit,
            "population": pop,
            "covered_population": pop * demand["covered"].to_numpy(dtype=bool),
            "touring_population": pop * demand["touring"].to_numpy(dtype=bool),
        }
    ).dropna(subset=["unit_id"])
    agg = d.groupby("unit_id")[["population", "covered_population", "touring_population"]].sum()
    out = pd.DataFrame(
        {"unit_id": uid.to_numpy(), "name": units["name"].astype(str).to_numpy(), "kind": kind}
    )
    out = out.join(agg, on="unit_id").fillna(
        {"population": 0.0, "covered_population": 0.0, "touring_population": 0.0}
    )
    is_sub = (out["kind"] == "subdistrict").to_numpy()
    is_town = (out["kind"] == "township").to_numpy()
    need_r1 = np.atleast_1d(required_centres(out["population"], rule=r1))
    out["required_centres"] = np.where(is_sub, need_r1, np.where(is_town, r2.per_township, 0))
    s_unit = sites["unit_id"].astype(object).where(sites["unit_id"].notna(), None).to_numpy()
    s_load = sites["assigned_population"].to_numpy(dtype=np.float64)
    if "tier" in sites.columns:
        tier = sites["tier"].astype(str).to_numpy()
        sub_centre, town_centre = tier == CENTRE_TIER, tier == TOWNSHIP_TIER
    else:
        sub_centre = town_centre = np.ones(len(sites), dtype=bool)
    kind_of = dict(zip(out["unit_id"], out["kind"], strict=True))
    s_kind = np.array([kind_of.get(u, "") if u is not None else "" for u in s_unit], dtype=object)
    r1_site = sub_centre & (s_kind == "subdistrict")
    r2_site = town_centre & (s_kind == "township")
    band = band_status(s_load[r1_site], rule=r1) if r1_site.any() else np.array([], dtype=object)
    s = pd.DataFrame({"unit_id": s_unit[r1_site], "band": band})
    counts = s.groupby(["unit_id", "band"]).size().unstack(fill_value=0)
    for b in BAND_STATUS:
        col = counts[b] if b in counts.columns else pd.Series(dtype=np.int64)
        out[f"centres_{b}_band"] = out["unit_id"].map(col).fillna(0).astype(np.int64)
    towns = pd.Series(s_unit[r2_site]).value_counts()
    out["planned_centres"] = np.where(
        is_sub,
        sum(out[f"centres_{b}_band"] for b in BAND_STATUS),
        np.where(is_town, out["unit_id"].map(towns).fillna(0).astype(np.int64), 0),
    ).astype(np.int64)
    out["required_centres"] = out["required_centres"].astype(np.int64)
    out["shortfall"] = np.maximum(out["required_centres"] - out["planned_centres"], 0)
    out["flag"] = np.where(
        is_sub & (out["population"] < r1.min_population) & r1.small_flag, "below_min", ""
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out["coverage_share"] = np.where(
            out["population"] > 0, out["covered_population"] / out["population"], np.nan
        )
    out["population_beyond"] = out["population"] - out["covered_population"]
    notes = unit_notes or {}
    circle = float(threshold_minutes or rules.R6.threshold_minutes)
    statuses, reasons = [], []
    for row in out.itertuples(index=False):
        problems, flags = _findings(row, rules)
        extra = [n for n in notes.get(str(row.unit_id), []) if n]
        statuses.append("; ".join(problems) or ("flagged" if flags or extra else "ok"))
        reasons.append("; ".join(_reasons(row, rules, circle) + extra))
    for col in ("population", "covered_population", "population_beyond", "touring_population"):
        out[col] = out[col].round(3)
    out["status"] = statuses
    out["reason"] = reasons
    out["rules"] = f"{r1.cite()}; {r2.cite()}; {rules.R6.cite()}; {rules.R3.cite()}"
    return out[list(COMPLIANCE_COLUMNS)]


def _findings(row: Any, rules: RulePreset) -> tuple[list[str], list[str]]:
    """A unit's problems (what the plan breaks) and flags (what the rules allow)."""
    r1 = rules.R1
    problems: list[str] = []
    flags: list[str] = []
    keeps_one = (
        row.kind == "subdistrict"
        and row.population < r1.min_population
        and row.planned_centres <= 1
        and row.centres_above_band == 0
    )
    if row.shortfall:
        code = "R2" if row.kind == "township" else "R1"
        problems.append(f"{row.shortfall} centre(s) short ({code})")
    if row.centres_below_band or row.centres_above_band:
        if keeps_one:
            flags.append("below_min")
        else:
            problems.append(
                f"{row.centres_below_band} below / {row.centres_above_band} above the "
                f"{r1.min_population:,}-{r1.max_population:,} band (R1)"
            )
    elif row.flag:
        flags.append("below_min")
    beyond = row.population_beyond - row.touring_population
    if beyond > 0.5:
        problems.append(f"{row.population_beyond:,.0f} beyond the circle (R6)")
    if row.touring_population > 0.5:
        text = f"{row.touring_population:,.0f} need touring service (R3)"
        (problems if problems else flags).append(text)
    if row.kind == "":
        flags.append("kind unknown")
    return problems, flags


def _reasons(row: Any, rules: RulePreset, circle: float) -> list[str]:
    """Each finding of a unit as a sentence naming its rule."""
    r1 = rules.R1
    out: list[str] = []
    if row.kind == "":
        out.append("kind unknown (no kind given, name suffix not recognised): R1/R2 not checked")
    if row.kind == "subdistrict" and row.population < r1.min_population and r1.small_flag:
        out.append(
            f"population {row.population:,.0f} < {r1.min_population:,}: keeps its one centre "
            "(R1, 'or by sub-district')"
        )
    if row.shortfall:
        what = "township health centre" if row.kind == "township" else "centre"
        code = "R2" if row.kind == "township" else "R1"
        out.append(
            f"{row.planned_centres} of {row.required_centres} required {what}s: "
            f"{row.shortfall} short ({code})"
        )
    small_ok = row.kind == "subdistrict" and row.population < r1.min_population
    below = 0 if small_ok and row.planned_centres <= 1 else row.centres_below_band
    if below or row.centres_above_band:
        out.append(
            f"{below} centre(s) below and {row.centres_above_band} above the "
            f"{r1.min_population:,}-{r1.max_population:,} band (R1)"
        )
    beyond = row.population_beyond - row.touring_population
    if beyond > 0.5:
        out.append(
            f"{beyond:,.0f} residents beyond the {circle:g}-min circle whom a "
            "candidate could reach (R6)"
        )
    if row.touring_population > 0.5:
        out.append(
            f"{row.touring_population:,.0f} residents whom no candidate reaches within "
            f"{circle:g} min: touring service (R3)"
        )
    return out
