"""The single error hierarchy shared by every package of the project (root: ``SitingError``).

It is a leaf module with no imports from the project, so ``geodata`` and ``solvers`` can raise
the same errors without importing each other or ``siting``. ``siting`` re-exports every name.
Each subclass also inherits the matching builtin, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "DataNotFoundError",
    "DependencyError",
    "InputError",
    "SitingError",
    "SolverError",
    "UnsupportedFormatError",
]


class SitingError(Exception):
    """Root of every error raised on purpose by the project."""


class InputError(SitingError, ValueError):
    """A parameter or an input data set has a bad value (names the input, the value, the rule)."""


class DataNotFoundError(SitingError, FileNotFoundError):
    """An input file or dataset does not exist."""


class UnsupportedFormatError(InputError):
    """An input file has a format the project cannot read."""


class CRSError(InputError):
    """An input has no coordinate reference system, or one that cannot be used."""


class SolverError(SitingError, RuntimeError):
    """A solver backend failed for a reason other than the model (not installed, crashed)."""


class DependencyError(SitingError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""
