"""The one entry point of every model: ``solve(model, ...) -> Solution``."""

from __future__ import annotations

import logging

import numpy as np

from solvers.certificate import certify
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
            ``pulp-highs`` (through PuLP), or ``heuristic`` (fast, proves nothing: status
            ``feasible``, no bound).
        time_limit: seconds for the whole solve; when reached, the best solution so far is
            returned as ``feasible`` with its bound and gap (or ``no_solution``).
        mip_gap: relative gap at which the solver may stop (0: prove optimality).
        threads: solver threads.
        verbose: print the solver log.
        warm_start: open site indices to start from (p-median and capacitated p-median).

    ``Solution.time`` covers the model build, the solve and its certificate: every answer is
    checked by :func:`solvers.certificate.certify` before it is returned (the plan against the
    model, the objective recomputed from the plan, ``optimal`` only when it meets the bound).
    """
    options = SolveOptions(
        backend=backend, time_limit=time_limit, mip_gap=mip_gap, threads=threads, verbose=verbose
    )
    return certify(model, _solve(model, options, warm_start), options.mip_gap)


def _solve(model: Model, options: SolveOptions, warm_start: np.ndarray | None) -> Solution:
    if isinstance(model, LSCP):
        from solvers.covering import solve_lscp

        return solve_lscp(model, options)
    if isinstance(model, MCLP):
        from solvers.covering import solve_mclp

        return solve_mclp(model, options)
    if isinstance(model, PMedian):
        from solvers.pmedian import solve_pmedian

        return solve_pmedian(model, options, warm_start)
    if isinstance(model, PCenter):
        from solvers.pcenter import solve_pcenter

        return solve_pcenter(model, options)
    if isinstance(model, CapacitatedPMedian):
        from solvers.capacitated import solve_capacitated

        return solve_capacitated(model, options, warm_start)
    raise TypeError(f"`model` must be one of the solvers models, got {type(model).__name__}")
