"""Compliance with the population rules: R1 centres per sub-district and R11 staffing needs."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from siting.rules import Rule
from siting_errors import InputError

__all__ = ["centre_requirements", "required_centres", "staffing_needs"]

logger = logging.getLogger(__name__)


def _population(values: Any, what: str = "population") -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise InputError(f"`{what}` must be finite and >= 0, got {arr[bad][:3].tolist()}")
    return arr


def required_centres(population: Any, *, rule: Rule) -> np.ndarray | int:
    """R1: centres a sub-district needs: 1 up to ``max_population``, then one more per started
    ``extra_per`` above it (``n = 1 + ceil((P - 100,000) / 50,000)``). Vectorised."""
    pop = _population(population)
    extra = np.ceil(np.maximum(pop - rule.max_population, 0.0) / rule.extra_per)
    out = (1 + extra).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def centre_requirements(units: pd.DataFrame, *, population_column: str, rule: Rule,
                        name_column: str | None = None,
                        existing_column: str | None = None) -> pd.DataFrame:
    """Per admin unit: population, centres required by R1, existing centres (when given),
    shortfall, a ``flag`` (``below_min`` for units under ``min_population``, which still get
    their one centre) and the rule's citation."""
    for col in (population_column, name_column, existing_column):
        if col is not None and col not in units.columns:
            raise InputError(f"`units` has no column {col!r} (columns: {list(units.columns)})")
    pop = _population(units[population_column], population_column)
    need = np.atleast_1d(required_centres(pop, rule=rule))
    out = pd.DataFrame({"population": pop, "required_centres": need})
    if name_column:
        out.insert(0, "name", units[name_column].astype(str).to_numpy())
    if existing_column:
        have = units[existing_column].fillna(0).astype(int).to_numpy()
        out["existing_centres"] = have
        out["shortfall"] = np.maximum(need - have, 0)
    flag = np.where(pop < rule.min_population, "below_min", "")
    out["flag"] = flag if rule.small_flag else ""
    out["rule"] = rule.cite()
    out.index = units.index
    return out


def staffing_needs(population: float, *, rule: Rule) -> dict[str, int]:
    """R11: beds, physicians, nurses, general practitioners and public-health staff for a
    population, rounded up to whole beds and people."""
    (pop,) = _population([population])
    return {
        "beds": math.ceil(pop * rule.beds_per_1000 / 1000 - 1e-9),
        "physicians": math.ceil(pop * rule.physicians_per_1000 / 1000 - 1e-9),
        "nurses": math.ceil(pop * rule.nurses_per_1000 / 1000 - 1e-9),
        "general_practitioners": math.ceil(pop * rule.gps_per_10000 / 10000 - 1e-9),
        "public_health_staff": math.ceil(pop * rule.public_health_per_10000 / 10000 - 1e-9),
    }
