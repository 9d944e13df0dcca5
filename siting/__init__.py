"""Primary-care facility siting: rules, scenarios, the planning workflow, results and exports."""

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
    "CRSError",
    "DataNotFoundError",
    "DependencyError",
    "InputError",
    "SitingError",
    "SolverError",
    "UnsupportedFormatError",
]
