"""Optimisation on arrays and sparse matrices: facility-location models, backends, heuristics.

No geography here: inputs are :class:`CostMatrix` objects (demand × site) and weights.
"""

from solvers.costs import CostMatrix
from solvers.models import LSCP, MCLP, CapacitatedPMedian, Model, PCenter, PMedian
from solvers.options import BACKENDS, SolveOptions
from solvers.result import Solution, Status
from solvers.solve import solve
from solvers.validation import coverage_limit, finite_non_negative

__all__ = [
    "BACKENDS",
    "LSCP",
    "MCLP",
    "CapacitatedPMedian",
    "CostMatrix",
    "Model",
    "PCenter",
    "PMedian",
    "Solution",
    "SolveOptions",
    "Status",
    "coverage_limit",
    "finite_non_negative",
    "solve",
]
