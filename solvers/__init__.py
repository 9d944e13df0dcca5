"""Optimisation on arrays and sparse matrices: facility-location models, backends, heuristics.

No geography here: inputs are :class:`CostMatrix` objects (demand × site) and weights.
"""

from solvers.costs import CostMatrix
from solvers.models import LSCP, MCLP, CapacitatedPMedian, Model, PCenter, PMedian
from solvers.result import Solution, Status

__all__ = [
    "LSCP",
    "MCLP",
    "CapacitatedPMedian",
    "CostMatrix",
    "Model",
    "PCenter",
    "PMedian",
    "Solution",
    "Status",
]
