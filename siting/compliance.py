"""Population-ratio rules: R1 centres required per sub-district and R11 staffing needs.

Pure functions of populations and a rule object from :mod:`siting.rules`; every table they
return carries the rule's citation (``R1 (002 task 1)``).
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from siting.rules import CentreBandRule, Rule, StaffingRule
from siting_errors import InputError

__all__ = ["STAFFING_FIELDS", "centre_requirements", "required_centres", "staffing_needs"]

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
