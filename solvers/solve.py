"""The one entry point of every model: ``solve(model, ...) -> Solution``."""

from __future__ import annotations

import logging

import numpy as np

from solvers.formulations import solve_lscp, solve_mclp, solve_pcenter, solve_pmedian
from solvers.models import LSCP, MCLP, CapacitatedPMedian, Model, PCenter, PMedian
from solvers.options import SolveOptions
from solvers.result import Solution

__all__ = ["solve"]

logger = logging.getLogger(__name__)


def solve(
    model: Model,
    *,
    backend: str = "highs",
    time_limit: float | None = None,
    mip_gap: float = 0.0,
    threads: int | None = None,
    verbose: bool = False,
    warm_start: np.ndarray | None = None,
) -> Solution:
    """Solve any model of :mod:`solvers.models` and return an immutable :class:`Solution`.

    Args:
        model: an ``LSCP``, ``MCLP``, ``PMedian``, ``PCenter`` or ``CapacitatedPMedian``.
        backend: ``highs`` (default; models built as sparse arrays for highspy), ``cbc`` or
            ``pulp-highs`` (through PuLP), or ``heuristic`` (fast, proves nothing).
        time_limit: seconds; when reached the best solution is returned as ``feasible`` with
            its bound and gap (or ``no_solution``).
        mip_gap: relative gap at which the solver may stop (0: prove optimality).
        threads: solver threads.
        verbose: print the solver log.
        warm_start: open site indices to start from (p-median and capacitated p-median).
    """
    options = SolveOptions(
        backend=backend, time_limit=time_limit, mip_gap=mip_gap, threads=threads, verbose=verbose
    )
    if isinstance(model, LSCP):
        return solve_lscp(model, options)
    if isinstance(model, MCLP):
        return solve_mclp(model, options)
    if isinstance(model, PMedian):
        return solve_pmedian(model, options, warm_start)
    if isinstance(model, PCenter):
        return solve_pcenter(model, options)
    if isinstance(model, CapacitatedPMedian):
        from solvers.capacitated import solve_capacitated

        return solve_capacitated(model, options, warm_start)
    raise TypeError(f"`model` must be one of the solvers models, got {type(model).__name__}")
