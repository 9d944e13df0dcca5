"""Primary-care facility siting: rules, scenarios, the planning workflow, results and exports.

The names below are imported on first use (PEP 562), so ``siting --help`` and commands that need
a part of the stack do not pay for importing all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from siting_errors import (
    CRSError,
    DataNotFoundError,
    DependencyError,
    InputError,
    SitingError,
    SolverError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from siting.compliance import compliance_table
    from siting.coverage import Coverage, coverage_score
    from siting.planning import plan
    from siting.region import RegionResult, RegionSettings, plan_region
    from siting.result import PlanResult
    from siting.scenario import MODELS, MODES, Scenario
    from siting.tiers import TieredPlan, TierSpec, load_tiers, plan_tiers
    from siting.travel import TravelCosts, travel_costs

#: public name → the module that defines it
_LAZY: dict[str, str] = {
    "compliance_table": "siting.compliance",
    "Coverage": "siting.coverage",
    "coverage_score": "siting.coverage",
    "TravelCosts": "siting.travel",
    "plan": "siting.planning",
    "travel_costs": "siting.travel",
    "RegionResult": "siting.region",
    "RegionSettings": "siting.region",
    "plan_region": "siting.region",
    "PlanResult": "siting.result",
    "MODELS": "siting.scenario",
    "MODES": "siting.scenario",
    "Scenario": "siting.scenario",
    "TieredPlan": "siting.tiers",
    "TierSpec": "siting.tiers",
    "load_tiers": "siting.tiers",
    "plan_tiers": "siting.tiers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'siting' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "MODELS",
    "MODES",
    "CRSError",
    "Coverage",
    "DataNotFoundError",
    "DependencyError",
    "InputError",
    "PlanResult",
    "RegionResult",
    "RegionSettings",
    "Scenario",
    "SitingError",
    "SolverError",
    "TierSpec",
    "TieredPlan",
    "TravelCosts",
    "UnsupportedFormatError",
    "compliance_table",
    "coverage_score",
    "load_tiers",
    "plan",
    "plan_region",
    "plan_tiers",
    "travel_costs",
]
