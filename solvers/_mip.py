"""Matrix-form mixed-integer programs and the backends that solve them (HiGHS direct, PuLP).

Formulations build a :class:`MatrixMIP` — cost vector, sparse constraint matrix and bounds —
with numpy only (no Python expression objects), which is what makes large models fast to build.
``solve_mip`` passes it to highspy in one call, or rebuilds it as a PuLP model for the ``cbc`` /
``pulp-highs`` backends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
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


def _fresh_scheduler() -> Any:
    """highspy, with this thread's HiGHS scheduler reset (see :func:`new_highs`)."""
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a core dependency
        raise DependencyError("the `highs` backend needs highspy: pip install highspy") from exc
    reset = getattr(highspy.Highs, "resetThreadScheduler", None) or getattr(
        highspy.Highs, "resetGlobalScheduler", None
    )
    if reset is not None:
        reset(True)
    return highspy


_BANNER_LOCK = threading.Lock()
_BANNER_SHOWN = threading.Event()  # set once this process's first Highs() has been built


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (where HiGHS's C++ output waits when stdout is a
    pipe or a file), so that nothing written under a redirection comes out after it."""
    with contextlib.suppress(Exception):  # no C library to call: nothing buffered there
        import ctypes

        ctypes.CDLL(None).fflush(None)


def _construct_highs(highspy: Any, verbose: bool) -> Any:
    """``highspy.Highs()``, without HiGHS's banner on stdout.

    The first ``Highs`` of a process prints "Running HiGHS x.y.z ..." (and a licence line) on
    file descriptor 1 from C++, in the constructor, before any option (``output_flag``) can be
    set. That first construction runs with descriptor 1 pointed at ``os.devnull`` (under a
    lock; later constructions print nothing and are left alone), so a command's stdout holds
    only its own output (its tables, its JSON). ``verbose`` solves keep the banner.
    """
    if _BANNER_SHOWN.is_set() or verbose:
        _BANNER_SHOWN.set()
        return highspy.Highs()
    with _BANNER_LOCK:
        if _BANNER_SHOWN.is_set():
            return highspy.Highs()
        try:
            saved = os.dup(1)
        except OSError:  # no descriptor 1 at all: nothing to keep clean
            _BANNER_SHOWN.set()
            return highspy.Highs()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            try:
                h = highspy.Highs()
            finally:
                _flush_c_stdio()
                os.dup2(saved, 1)
        finally:
            os.close(devnull)
            os.close(saved)
        _BANNER_SHOWN.set()
        logger.debug("HiGHS's start-up banner kept off stdout")
        return h


def new_highs(options: SolveOptions) -> Any:
    """A fresh ``highspy.Highs`` with this solve's options (log, time limit, threads) and
    nothing left over from an earlier solve.

    HiGHS keeps its worker threads in a scheduler per calling thread (a global one before
    highspy 1.8 or so), created by the first run with that run's ``threads`` value; a later run
    asking for another count fails with model status "Not Set", and a later default run
    silently keeps the old count. The scheduler is therefore reset before every solve (about
    0.1 ms), so the options of one solve never leak into the next. HiGHS's start-up banner
    does not reach stdout (:func:`_construct_highs`).
    """
    highspy = _fresh_scheduler()
    h = _construct_highs(highspy, bool(options.verbose))
    h.setOptionValue("output_flag", bool(options.verbose))
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    return h


@dataclass(frozen=True, eq=False)
class LPRelaxation:
    """The LP relaxation of a :class:`MatrixMIP`: a valid bound on the MIP, the LP point and
    its reduced costs."""

    bound: float
    x: np.ndarray
    time: float
    reduced_costs: np.ndarray | None = None


#: relative slack added to the LP objective before it is used as a bound (solver tolerances)
_IPM_SLACK = 1e-6


def lp_relaxation(
    mip: MatrixMIP, options: SolveOptions, method: str = "ipm", slack: float = _IPM_SLACK
) -> LPRelaxation | None:
    """Solve ``mip``'s LP relaxation with HiGHS: by interior point then crossover
    (``method="ipm"``), or by HiGHS's default choice (``"choose"``, the dual simplex on most
    models).

    On large covering LPs the interior point method is far faster than the dual simplex the
    MIP solver uses for its root (MCLP with 11,417 coverage classes × 1,000 sites: 2.0 s
    against 39 s; the crossover to a vertex added nothing measurable there or at 38,754 ×
    2,000, and without it HiGHS leaves small LPs with status "unknown"). Returns None when it
    does not finish within ``options.time_limit``. The bound is the LP optimum loosened by a
    relative ``slack`` (default 1e-6, in the direction that keeps it valid); ``reduced_costs``
    are the column duals (for reduced-cost fixing).
    """
    import highspy

    start = time.perf_counter()
    h = new_highs(options)
    if method == "ipm":
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "on")
    if h.passModel(highs_lp(highspy, mip)) == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the LP relaxation (passModel returned an error)")
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    value = float(h.getInfo().objective_function_value)
    loose = slack * max(1.0, abs(value))
    bound = value + loose if mip.sense == "max" else value - loose
    sol = h.getSolution()
    return LPRelaxation(
        bound,
        np.asarray(sol.col_value, dtype=np.float64),
        time.perf_counter() - start,
        np.asarray(sol.col_dual, dtype=np.float64),
    )


def vector_objective(mip: MatrixMIP, x: np.ndarray) -> float:
    """``c·x + offset``: the objective of the column values ``x`` themselves."""
    return float(np.asarray(mip.c, dtype=np.float64) @ x + mip.offset)


def _better(mip: MatrixMIP, a: float, b: float) -> bool:
    """True when objective ``a`` is strictly better than ``b`` in ``mip``'s sense."""
    return a > b if mip.sense == "max" else a < b


def _solve_highspy(
    mip: MatrixMIP,
    options: SolveOptions,
    warm_start: np.ndarray | None,
    highs_options: Mapping[str, Any] | None = None,
) -> MIPOutcome:
    """Solve with highspy. The returned vector is checked against the objective HiGHS reports.

    HiGHS 1.16 mishandles a warm start whose presolved image differs from it: presolve drops
    a column the start has at 1 (e.g. a dominated set-cover column), HiGHS calls the rest
    "feasible in the reduced space" with a better objective, reports that objective (and a
    bound to match, "optimal") but returns the starting vector itself. On random LSCP
    instances about 1 % were hit (seed 31, threshold 120: 26 sites reported as 25, the
    optimum; on a 5 × 5 cover the start of 2 is reported as 1, below the optimum 2). When the
    vector's own objective and the reported one disagree, the MIP is solved again without the
    warm start (within what is left of the time limit) and that clean run is kept unless the
    warm-started vector is strictly better; the objective returned is always the vector's.
    """
    start = time.perf_counter()
    out = _run_highspy(mip, options, warm_start, highs_options)
    if out.outcome.x is None or warm_start is None or out.reported is None:
        return out.outcome
    value = out.outcome.objective
    assert value is not None  # a vector always has its objective
    if abs(value - out.reported) <= 1e-9 * max(1.0, abs(out.reported)):
        return out.outcome
    logger.info(
        "HiGHS reported objective %.10g but returned a vector of objective %.10g after a warm "
        "start; solving again without it",
        out.reported,
        value,
    )
    left = options
    if options.time_limit is not None:
        left = dataclasses.replace(
            options, time_limit=max(options.time_limit - (time.perf_counter() - start), 0.05)
        )
    again = _run_highspy(mip, left, None, highs_options).outcome
    first = out.outcome
    best = again  # the clean run, unless the warm-started vector is strictly better
    if again.x is None or again.objective is None or _better(mip, value, again.objective):
        best = first
    bounds = [b for b in (first.bound, again.bound) if b is not None]
    bound = (min(bounds) if mip.sense == "max" else max(bounds)) if bounds else None
    status = again.status if best is again else Status.FEASIBLE
    return MIPOutcome(
        status,
        best.x,
        best.objective,
        bound,
        relative_gap(best.objective, bound),
        time.perf_counter() - start,
        "highs",
        f"{best.message} (solved again without the warm start: HiGHS returned the starting "
        f"vector, objective {value:g}, while reporting {out.reported:g})",
    )


def _stopped(statuses: Any) -> tuple[Any, ...]:
    """The HiGHS model statuses of a run stopped by a limit (those this highspy defines)."""
    names = ("kTimeLimit", "kIterationLimit", "kInterrupt", "kSolutionLimit", "kObjectiveBound",
             "kObjectiveTarget", "kHighsInterrupt")  # fmt: skip
    return tuple(getattr(statuses, n) for n in names if hasattr(statuses, n))


@dataclass(frozen=True, eq=False)
class _HighsRun:
    """One HiGHS run: its outcome (objective recomputed from the vector) and the objective
    HiGHS itself reported for it."""

    outcome: MIPOutcome
    reported: float | None


def _run_highspy(
    mip: MatrixMIP,
    options: SolveOptions,
    warm_start: np.ndarray | None,
    highs_options: Mapping[str, Any] | None = None,
) -> _HighsRun:
    import highspy

    start = time.perf_counter()
    h = new_highs(options)
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
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
    reported = float(info.objective_function_value) if has_sol else None
    objective = vector_objective(mip, x) if x is not None else None
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
    elif ms in _stopped(S):
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
    return _HighsRun(MIPOutcome(st, x, objective, bound, gap, elapsed, "highs", message), reported)


# --------------------------------------------------------------------------- PuLP (CBC / HiGHS)
def _pulp_problem(pulp: Any, mip: MatrixMIP) -> tuple[Any, list[Any]]:
    """``mip`` as a PuLP problem and its variables (one per column)."""
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
    return prob, xs


def _solve_pulp(mip: MatrixMIP, options: SolveOptions) -> MIPOutcome:
    try:
        import pulp
    except ImportError as exc:  # pragma: no cover - pulp is a core dependency
        raise DependencyError("the `cbc` backend needs PuLP: pip install pulp") from exc
    start = time.perf_counter()
    prob, xs = _pulp_problem(pulp, mip)
    kwargs: dict[str, Any] = {"msg": bool(options.verbose)}
    if options.time_limit is not None:
        kwargs["timeLimit"] = float(options.time_limit)
    if options.mip_gap:
        kwargs["gapRel"] = float(options.mip_gap)
    if options.threads:
        kwargs["threads"] = int(options.threads)
    if options.backend == "cbc":
        solver = pulp.PULP_CBC_CMD(**kwargs)
    else:
        # PuLP's HiGHS runs in this thread too; a first Highs built here takes the banner
        _construct_highs(_fresh_scheduler(), bool(options.verbose))
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
        # PuLP reports no bound: optimal within ``mip_gap`` bounds the optimum by the gap
        assert objective is not None
        slack = float(options.mip_gap) * abs(objective)
        bound = objective + slack if mip.sense == "max" else objective - slack
        return MIPOutcome(
            Status.OPTIMAL,
            x,
            objective,
            bound,
            relative_gap(objective, bound),
            elapsed,
            options.backend,
            "optimal" if not options.mip_gap else "optimal within the MIP gap",
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
