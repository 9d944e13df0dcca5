"""Matrix-form mixed-integer programs and the backends that solve them (HiGHS direct, PuLP).

Formulations build a :class:`MatrixMIP` — cost vector, sparse constraint matrix and bounds —
with numpy only (no Python expression objects), which is what makes large models fast to build.
``solve_mip`` passes it to highspy in one call, or rebuilds it as a PuLP model for the ``cbc`` /
``pulp-highs`` backends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting_errors import DependencyError, SolverError
from solvers._common import relative_gap
from solvers.options import SolveOptions
from solvers.result import Status

logger = logging.getLogger(__name__)

INF = float("inf")


@dataclass(frozen=True, eq=False)
class MatrixMIP:
    """A MIP as arrays: ``min/max c·x + offset`` subject to

    ``row_lower <= A x <= row_upper`` and ``col_lower <= x <= col_upper``.
    """

    c: np.ndarray
    A: sp.csc_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    sense: str = "min"
    offset: float = 0.0

    @property
    def n_cols(self) -> int:
        return len(self.c)

    @property
    def n_rows(self) -> int:
        return self.A.shape[0]


@dataclass(frozen=True, eq=False)
class MIPOutcome:
    """What a backend returned: status, values, objective, bound and gap."""

    status: Status
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    gap: float | None
    time: float
    backend: str
    message: str = ""


def solve_mip(
    mip: MatrixMIP,
    options: SolveOptions,
    warm_start: np.ndarray | None = None,
    highs_options: Mapping[str, Any] | None = None,
) -> MIPOutcome:
    """Solve ``mip`` with ``options.backend`` (``highs``, ``pulp-highs`` or ``cbc``).

    ``highs_options`` are extra HiGHS option values for the ``highs`` backend (e.g. switching
    off primal heuristics when the warm start is already optimal); other backends ignore them.
    """
    if options.backend == "highs":
        return _solve_highspy(mip, options, warm_start, highs_options)
    if options.backend in ("cbc", "pulp-highs"):
        return _solve_pulp(mip, options)
    raise SolverError(f"backend {options.backend!r} cannot solve a MIP")


# --------------------------------------------------------------------------- HiGHS (direct)
def highs_lp(highspy: Any, mip: MatrixMIP) -> Any:
    """``mip`` as a ``highspy.HighsLp`` (continuous; integrality is set by the caller)."""
    A = sp.csc_array(mip.A)
    A.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = mip.n_cols
    lp.num_row_ = mip.n_rows
    lp.col_cost_ = np.asarray(mip.c, dtype=np.float64)
    lp.col_lower_ = np.asarray(mip.col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(mip.col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(mip.row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(mip.row_upper, dtype=np.float64)
    lp.offset_ = float(mip.offset)
    lp.sense_ = highspy.ObjSense.kMaximize if mip.sense == "max" else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    return lp


@dataclass(frozen=True, eq=False)
class LPRelaxation:
    """The LP relaxation of a :class:`MatrixMIP`: a valid bound on the MIP and the LP point."""

    bound: float
    x: np.ndarray
    time: float


#: relative slack added to the LP objective before it is used as a bound (solver tolerances)
_IPM_SLACK = 1e-6


def lp_relaxation(mip: MatrixMIP, options: SolveOptions) -> LPRelaxation | None:
    """Solve ``mip``'s LP relaxation by HiGHS's interior point method (then crossover).

    On large covering LPs this is far faster than the dual simplex the MIP solver uses for
    its root (MCLP with 11,417 coverage classes × 1,000 sites: 2.0 s against 39 s; the
    crossover to a vertex added nothing measurable there or at 38,754 × 2,000, and without it
    HiGHS leaves small LPs with status "unknown"). Returns None when it does not finish within
    ``options.time_limit``. The bound is the LP optimum loosened by a relative 1e-6 (in the
    direction that keeps it valid).
    """
    import highspy

    start = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "on")
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    if h.passModel(highs_lp(highspy, mip)) == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the LP relaxation (passModel returned an error)")
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    value = float(h.getInfo().objective_function_value)
    slack = _IPM_SLACK * max(1.0, abs(value))
    bound = value + slack if mip.sense == "max" else value - slack
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    return LPRelaxation(bound, x, time.perf_counter() - start)


def _solve_highspy(
    mip: MatrixMIP,
    options: SolveOptions,
    warm_start: np.ndarray | None,
    highs_options: Mapping[str, Any] | None = None,
) -> MIPOutcome:
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a core dependency
        raise DependencyError("the `highs` backend needs highspy: pip install highspy") from exc
    start = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    for key, value in (highs_options or {}).items():
        if h.setOptionValue(key, value) == highspy.HighsStatus.kError:
            raise SolverError(f"HiGHS rejected option {key}={value!r}")

    lp = highs_lp(highspy, mip)
    has_int = bool(np.any(mip.integer))
    if has_int:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in mip.integer
        ]
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (passModel returned an error)")
    if warm_start is not None and has_int:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(warm_start, dtype=np.float64)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    elapsed = time.perf_counter() - start
    ms = h.getModelStatus()
    info = h.getInfo()
    S = highspy.HighsModelStatus
    has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_sol else None
    objective = float(info.objective_function_value) if has_sol else None
    if has_int:
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    else:
        bound = objective
    if ms == S.kOptimal:
        st = Status.OPTIMAL
        message = "optimal"
    elif ms in (S.kInfeasible,):
        st, x, objective, bound = Status.INFEASIBLE, None, None, None
        message = "the model has no feasible solution"
    elif ms in (
        S.kTimeLimit,
        S.kIterationLimit,
        S.kInterrupt,
        S.kSolutionLimit,
        S.kObjectiveBound,
        S.kObjectiveTarget,
        S.kHighsInterrupt,
    ):
        st = Status.FEASIBLE if has_sol else Status.NO_SOLUTION
        message = f"stopped by {h.modelStatusToString(ms)}"
    elif ms == S.kUnboundedOrInfeasible and not has_sol:
        st, x, objective, bound = Status.INFEASIBLE, None, None, None
        message = "the model is infeasible (or unbounded)"
    else:
        raise SolverError(f"HiGHS ended with status {h.modelStatusToString(ms)!r}")
    gap = 0.0 if st == Status.OPTIMAL and not has_int else relative_gap(objective, bound)
    if st == Status.OPTIMAL and gap is None:
        gap = 0.0
    return MIPOutcome(st, x, objective, bound, gap, elapsed, "highs", message)


# --------------------------------------------------------------------------- PuLP (CBC / HiGHS)
def _solve_pulp(mip: MatrixMIP, options: SolveOptions) -> MIPOutcome:
    try:
        import pulp
    except ImportError as exc:  # pragma: no cover - pulp is a core dependency
        raise DependencyError("the `cbc` backend needs PuLP: pip install pulp") from exc
    start = time.perf_counter()
    sense = pulp.LpMaximize if mip.sense == "max" else pulp.LpMinimize
    prob = pulp.LpProblem("siting", sense)
    xs = []
    for j in range(mip.n_cols):
        lo = None if mip.col_lower[j] == -INF else float(mip.col_lower[j])
        hi = None if mip.col_upper[j] == INF else float(mip.col_upper[j])
        cat = pulp.LpInteger if mip.integer[j] else pulp.LpContinuous
        xs.append(pulp.LpVariable(f"x{j}", lowBound=lo, upBound=hi, cat=cat))
    prob += pulp.LpAffineExpression(
        [(xs[j], float(mip.c[j])) for j in np.flatnonzero(mip.c)], constant=float(mip.offset)
    )
    A = sp.csr_array(mip.A)
    for i in range(mip.n_rows):
        lo_i, hi_i = float(mip.row_lower[i]), float(mip.row_upper[i])
        sl = slice(A.indptr[i], A.indptr[i + 1])
        expr = pulp.LpAffineExpression(
            list(zip((xs[j] for j in A.indices[sl]), A.data[sl].tolist(), strict=True))
        )
        if lo_i == hi_i:
            prob += expr == lo_i
        else:
            if lo_i > -INF:
                prob += expr >= lo_i
            if hi_i < INF:
                prob += expr <= hi_i
    kwargs: dict = {"msg": bool(options.verbose)}
    if options.time_limit is not None:
        kwargs["timeLimit"] = float(options.time_limit)
    if options.mip_gap:
        kwargs["gapRel"] = float(options.mip_gap)
    if options.backend == "cbc":
        if options.threads:
            kwargs["threads"] = int(options.threads)
        solver = pulp.PULP_CBC_CMD(**kwargs)
    else:
        solver = pulp.HiGHS(**kwargs)
    if not solver.available():
        raise DependencyError(f"PuLP solver for backend {options.backend!r} is not available")
    prob.solve(solver)
    elapsed = time.perf_counter() - start
    sol_status = prob.sol_status
    has_sol = sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    x = np.array([v.varValue or 0.0 for v in xs]) if has_sol else None
    objective = float(pulp.value(prob.objective)) if has_sol else None
    if prob.status == pulp.LpStatusInfeasible or sol_status == pulp.LpSolutionInfeasible:
        return MIPOutcome(
            Status.INFEASIBLE,
            None,
            None,
            None,
            None,
            elapsed,
            options.backend,
            "the model has no feasible solution",
        )
    if sol_status == pulp.LpSolutionOptimal:
        return MIPOutcome(
            Status.OPTIMAL, x, objective, objective, 0.0, elapsed, options.backend, "optimal"
        )
    if has_sol:
        return MIPOutcome(
            Status.FEASIBLE,
            x,
            objective,
            None,
            None,
            elapsed,
            options.backend,
            "stopped before proving optimality (PuLP reports no bound)",
        )
    if options.time_limit is not None:
        return MIPOutcome(
            Status.NO_SOLUTION,
            None,
            None,
            None,
            None,
            elapsed,
            options.backend,
            "time limit reached before any solution was found",
        )
    raise SolverError(f"{options.backend} ended with PuLP status {pulp.LpStatus[prob.status]!r}")
