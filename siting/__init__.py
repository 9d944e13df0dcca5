"""Primary-care facility siting: rules, scenarios, the planning workflow, results and exports."""

from siting.compliance import compliance_table
from siting.coverage import Coverage, coverage_score
from siting.planning import TravelCosts, plan, travel_costs
from siting.region import RegionResult, RegionSettings, plan_region
from siting.result import PlanResult
from siting.scenario import MODELS, MODES, Scenario
from siting.tiers import TieredPlan, TierSpec, load_tiers, plan_tiers
from siting_errors import (
    CRSError,
    DataNotFoundError,
    DependencyError,
    InputError,
    SitingError,
    SolverError,
    UnsupportedFormatError,
)

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
