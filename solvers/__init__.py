"""Optimisation on arrays and sparse matrices: facility-location models, backends, heuristics.

No geography here: inputs are :class:`CostMatrix` objects (demand × site) and weights.
"""

from solvers.costs import CostMatrix
from solvers.models import LSCP, MCLP, CapacitatedPMedian, Model, PCenter, PMedian
from solvers.options import BACKENDS, SolveOptions
from solvers.result import Solution, Status
from solvers.solve import solve

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
    "solve",
]
