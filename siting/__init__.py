"""Primary-care facility siting: rules, scenarios, the planning workflow, results and exports."""

from siting.coverage import Coverage, coverage_score
from siting.planning import TravelCosts, plan, travel_costs
from siting.result import PlanResult
from siting.scenario import MODELS, MODES, Scenario
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
    "Scenario",
    "SitingError",
    "SolverError",
    "TravelCosts",
    "UnsupportedFormatError",
    "coverage_score",
    "plan",
    "travel_costs",
]
