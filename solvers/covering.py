"""Set covering (LSCP) and maximal covering (MCLP) solves over a sparse cost matrix.

Demand rows with identical coverage sets are merged first (an exact reduction, see
:mod:`solvers.reductions`); the greedy heuristics give the warm start (and the whole answer for
the ``heuristic`` backend).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting_errors import InputError
from solvers._common import (
    fill_sites,
    make_solution,
    plan_solution,
    remaining,
    share_deadline,
    unreachable_solution,
)
from solvers._mip import lp_relaxation, solve_mip
from solvers.formulations import max_cover_mip, set_cover_mip
from solvers.heuristics import greedy_cover, mclp_greedy, mclp_perturb, mclp_swap, mclp_value
from solvers.models import LSCP, MCLP
from solvers.options import SolveOptions
from solvers.reductions import (
    CoverageClasses,
    coverage_classes,
    dominated_columns,
    dominated_rows,
)
from solvers.result import Solution, Status

__all__ = ["CoverOutcome", "min_cover", "reduce_cover", "solve_lscp", "solve_mclp"]

logger = logging.getLogger(__name__)

#: MCLP coverage pairs (classes × sites within reach) from which the LP relaxation is solved
#: by interior point before the MIP (at 11,417 × 1,000 with 183k pairs: 1.9 s vs 39 s for
#: the MIP's dual-simplex root; at 2,556 × 300 both are fast)
_LP_FIRST_PAIRS = 100_000
#: share of the time left that the interior-point LP may take (without its bound a large
#: MCLP reports the total weight as its bound: the 100k × 2k LP took 17.7 s on one day and
#: 28-32 s on another, past a half share of 60 s)
_LP_SHARE = 0.75
#: large MCLP: share of the time left after the LP for the iterated local search, kicks in a
#: row without a better plan that end it early, and its seed
_KICK_SHARE = 0.5
_KICK_STALL = 200
_KICK_SEED = 20031
#: share of the time left that the set-cover MIP restricted to the LP's support may take
_SUPPORT_SHARE = 0.3
#: LP values above this count as used (the support of the LP point)
_SUPPORT_TOL = 1e-6


def _cover_details(classes: CoverageClasses) -> dict[str, Any]:
    return {
        "demand_classes": int(classes.matrix.shape[0]),
        "covered_by_fixed": len(classes.fixed_covered),
    }


def reduce_cover(
    cover: sp.csr_array, fixed: np.ndarray
) -> tuple[sp.csr_array, np.ndarray, np.ndarray, dict[str, Any]]:
    """Drop dominated columns, then dominated rows, of the covering system ``cover @ y >= 1``.

    Exact for models where every open site counts the same (LSCP, the p-center test).
    Returns the reduced matrix, the original index of each kept column, the fixed sites as
    kept-column positions, and counts for the solution details.
    """
    fixed = np.asarray(fixed, dtype=np.int64)
    cols = np.flatnonzero(~dominated_columns(cover, fixed))
    sub = sp.csr_array(sp.csr_array(cover)[:, cols])
    sub = sp.csr_array(sub[~dominated_rows(sub)])
    position = np.full(cover.shape[1], -1, dtype=np.int64)
    position[cols] = np.arange(len(cols))
    info = {"rows_after_dominance": int(sub.shape[0]), "sites_after_dominance": len(cols)}
    return sub, cols, position[fixed], info


@dataclass(frozen=True)
class CoverOutcome:
    """A set-cover solve on a reduced system: status, the open columns, the bound on the
    number of open columns, and which step decided (``greedy``, ``lp``, ``support`` or
    ``mip``). With ``max_sites``, ``FEASIBLE`` means a cover within it was found (enough for
    the feasibility question) and ``INFEASIBLE`` that none exists."""

    status: Status
    sites: np.ndarray | None
    bound: float | None
    backend: str
    message: str
    decided_by: str


def _support_mip(
    cover: sp.csr_array,
    fixed: np.ndarray,
    x: np.ndarray,
    options: SolveOptions,
    max_sites: int | None = None,
) -> np.ndarray | None:
    """The cover MIP restricted to the columns the LP point uses (RENS-style: columns at 0
    in the LP stay closed): its best cover, or None when there is none (the support does
    not cover every row, or no cover was found in time). With ``max_sites``, the first cover
    of at most that many columns (a feasibility question)."""
    keep = x > _SUPPORT_TOL
    keep[fixed] = True
    cols = np.flatnonzero(keep)
    part = sp.csr_array(cover[:, cols])
    if (np.diff(part.indptr) == 0).any():
        return None
    position = np.full(cover.shape[1], -1, dtype=np.int64)
    position[cols] = np.arange(len(cols))
    mip = set_cover_mip(part, position[fixed], max_sites=max_sites)
    out = solve_mip(mip, options, highs_options=_first_solution(options, max_sites))
    return None if out.x is None else cols[np.flatnonzero(out.x > 0.5)]


def _first_solution(options: SolveOptions, max_sites: int | None) -> dict[str, Any] | None:
    """HiGHS options ending a feasibility MIP (``max_sites`` set) at its first solution."""
    if max_sites is None or options.backend != "highs":
        return None
    return {"mip_max_improving_sols": 1}


def min_cover(
    cover: sp.csr_array,
    fixed: np.ndarray,
    options: SolveOptions,
    *,
    max_sites: int | None = None,
    stop_after: str | None = None,
) -> CoverOutcome:
    """Fewest columns covering every row of a (reduced) boolean system, fixed columns open;
    with ``max_sites``, only whether a cover of at most that many columns exists.

    Steps, cheapest first, each of which may decide: the greedy cover (a cover within
    ``max_sites`` answers the feasibility question); the LP relaxation by interior point,
    whose optimum rounded up is a lower bound on the count (above ``max_sites``: no cover;
    equal to a cover found: that cover is minimal); the MIP restricted to the LP's support
    (a share :data:`_SUPPORT_SHARE` of the time); then the full MIP, warm-started from the
    best cover so far. The LP steps run with the ``highs`` backend only. ``stop_after``
    (``"greedy"`` or ``"lp"``) ends the solve after that step when it did not decide, with
    status ``NO_SOLUTION`` and ``decided_by="undecided"`` (cheap tests first, e.g. p-center).
    """
    if stop_after not in (None, "greedy", "lp"):
        raise InputError(f"`stop_after` must be None, 'greedy' or 'lp', got {stop_after!r}")
    start = time.perf_counter()
    fixed = np.asarray(fixed, dtype=np.int64)
    greedy = greedy_cover(cover, fixed)
    if max_sites is not None and len(greedy) <= max_sites:
        return CoverOutcome(Status.FEASIBLE, greedy, None, options.backend, "greedy", "greedy")
    undecided = CoverOutcome(Status.NO_SOLUTION, None, None, options.backend, "", "undecided")
    if stop_after == "greedy":
        return undecided
    best, lower = greedy, None
    if options.backend == "highs":
        decided, best, lower = _lp_steps(
            cover, fixed, options, start, greedy, max_sites, support=stop_after != "lp"
        )
        if decided is not None:
            return decided
        if stop_after == "lp" and lower is not None:
            return dataclasses.replace(undecided, bound=lower)
    if stop_after == "lp":  # the LP did not finish (or another backend)
        return undecided
    return _cover_mip(cover, fixed, remaining(options, start), best, lower, max_sites)


def _lp_steps(
    cover: sp.csr_array,
    fixed: np.ndarray,
    options: SolveOptions,
    start: float,
    greedy: np.ndarray,
    max_sites: int | None,
    support: bool = True,
) -> tuple[CoverOutcome | None, np.ndarray, float | None]:
    """The LP relaxation and (with ``support``) the MIP on its support (see
    :func:`min_cover`): an outcome when they decide, and the best cover and the lower bound on
    the count found so far."""
    best: np.ndarray = greedy
    relax = lp_relaxation(set_cover_mip(cover, fixed), remaining(options, start, share=_LP_SHARE))
    if relax is None:
        return None, best, None
    lower = float(math.ceil(relax.bound - 1e-9))
    if max_sites is not None and lower > max_sites:
        reason = f"the LP bound needs at least {lower:g} sites"
        return CoverOutcome(Status.INFEASIBLE, None, lower, "highs", reason, "lp"), best, lower
    if len(best) <= lower:
        return CoverOutcome(Status.OPTIMAL, best, lower, "highs", "LP bound", "lp"), best, lower
    if not support:
        return None, best, lower
    t_support = time.perf_counter()
    found = _support_mip(
        cover, fixed, relax.x, remaining(options, start, share=_SUPPORT_SHARE), max_sites
    )
    logger.debug(
        "cover %s: LP bound %g (%.2f s), greedy %d, support MIP %s (%.2f s)",
        cover.shape,
        lower,
        relax.time,
        len(greedy),
        None if found is None else len(found),
        time.perf_counter() - t_support,
    )
    if found is not None and len(found) < len(best):
        best = found
        if max_sites is not None and len(best) <= max_sites:
            outcome = CoverOutcome(Status.FEASIBLE, best, lower, "highs", "LP support", "support")
            return outcome, best, lower
        if len(best) <= lower:
            outcome = CoverOutcome(Status.OPTIMAL, best, lower, "highs", "LP bound", "support")
            return outcome, best, lower
    return None, best, lower


def _cover_mip(
    cover: sp.csr_array,
    fixed: np.ndarray,
    options: SolveOptions,
    best: np.ndarray,
    lower: float | None,
    max_sites: int | None,
) -> CoverOutcome:
    """The full cover MIP: warm-started from ``best`` for the fewest columns, or ended at its
    first cover within ``max_sites`` for the feasibility question."""
    mip = set_cover_mip(cover, fixed, max_sites=max_sites)
    if max_sites is None:
        warm = np.zeros(cover.shape[1])
        warm[best] = 1.0
        out = solve_mip(mip, options, warm_start=warm)
    else:
        out = solve_mip(mip, options, highs_options=_first_solution(options, max_sites))
    bound = out.bound
    if lower is not None and out.status != Status.INFEASIBLE:
        bound = lower if bound is None else max(bound, lower)
    if out.x is None:
        sites = best if max_sites is None else None
        status = out.status
        if sites is not None and status == Status.NO_SOLUTION:
            status = Status.FEASIBLE
        return CoverOutcome(status, sites, bound, out.backend, out.message, "mip")
    sites = np.flatnonzero(out.x > 0.5)
    if max_sites is None and len(best) < len(sites):
        sites = best
    status = out.status
    if max_sites is None and bound is not None and len(sites) <= bound + 1e-9:
        status = Status.OPTIMAL
    return CoverOutcome(status, sites, bound, out.backend, out.message, "mip")


def solve_lscp(model: LSCP, options: SolveOptions) -> Solution:
    """Fewest open sites (fixed included) covering every demand with weight > 0."""
    start = time.perf_counter()
    costs, w, fixed = model.costs, model.weights, model.fixed
    classes = coverage_classes(costs.within(model.threshold), w, fixed)
    if len(classes.uncoverable):
        return unreachable_solution(
            model,
            classes.uncoverable,
            start=start,
            backend=options.backend,
            what=f"have no candidate within the threshold {model.threshold:g}",
            key="uncoverable",
        )
    details = _cover_details(classes)
    if classes.matrix.shape[0] == 0:
        return plan_solution(
            "lscp",
            costs,
            fixed,
            status=Status.OPTIMAL,
            start=start,
            backend=options.backend,
            objective=float(len(fixed)),
            details=details,
        )
    sub, cols, sub_fixed, info = reduce_cover(classes.matrix, fixed)
    details |= info
    if options.backend == "heuristic":
        greedy = cols[greedy_cover(sub, sub_fixed)]
        return plan_solution(
            "lscp",
            costs,
            greedy,
            status=Status.FEASIBLE,
            start=start,
            backend="heuristic",
            objective=float(len(greedy)),
            details=details,
        )
    out = min_cover(sub, sub_fixed, remaining(options, start))
    details["decided_by"] = out.decided_by
    if out.sites is None:
        return make_solution(
            "lscp",
            status=out.status,
            start=start,
            backend=out.backend,
            bound=out.bound,
            reason=out.message,
            details=details,
        )
    open_sites = cols[out.sites]
    return plan_solution(
        "lscp",
        costs,
        open_sites,
        status=out.status,
        start=start,
        backend=out.backend,
        objective=float(len(open_sites)),
        bound=out.bound,
        details=details,
    )


def solve_mclp(model: MCLP, options: SolveOptions) -> Solution:
    """Open ``p`` sites (fixed included) maximising the covered demand weight.

    Greedy + swaps, then the MIP warm-started from the best plan. Large models (at least
    :data:`_LP_FIRST_PAIRS` coverage pairs) first solve the LP relaxation by interior point (its
    bound, and its point rounded into a plan) and, under a time limit, give part of the time
    left to an iterated local search (:func:`solvers.heuristics.mclp_perturb`) before the MIP.
    """
    start = time.perf_counter()
    costs, w, fixed, p = model.costs, model.weights, model.fixed, model.p
    classes = coverage_classes(costs.within(model.threshold), w, fixed)
    base = float(w[classes.fixed_covered].sum())
    M, cw = classes.matrix, classes.weight
    k = M.shape[0]
    details = {
        "demand_classes": int(k),
        "covered_by_fixed_weight": base,
        "uncoverable_weight": float(w[classes.uncoverable].sum()),
    }
    if k == 0:
        return plan_solution(
            "mclp",
            costs,
            fill_sites(fixed, p, costs.n_sites),
            status=Status.OPTIMAL,
            start=start,
            backend=options.backend,
            objective=base,
            details=details | {"covered_weight": base},
        )
    greedy = mclp_swap(M, cw, mclp_greedy(M, cw, p, fixed), fixed)
    if options.backend == "heuristic":
        obj = base + mclp_value(M, cw, greedy)
        return plan_solution(
            "mclp",
            costs,
            greedy,
            status=Status.FEASIBLE,
            start=start,
            backend="heuristic",
            objective=obj,
            details=details | {"covered_weight": obj},
        )
    n_sites = costs.n_sites
    mip = max_cover_mip(M, cw, p, fixed, offset=base)
    best, best_value = greedy, mclp_value(M, cw, greedy)
    lp_bound = None
    if M.nnz >= _LP_FIRST_PAIRS and options.backend == "highs":
        # large model: the LP bound by interior point first (the MIP's own root LP, by dual
        # simplex, can take the whole time limit), and its point rounded into a plan
        relax = lp_relaxation(mip, remaining(options, start, share=_LP_SHARE))
        if relax is not None:
            lp_bound = relax.bound
            cand = mclp_swap(M, cw, _top_sites(relax.x[:n_sites], p, fixed), fixed)
            value = mclp_value(M, cw, cand)
            if value > best_value:
                best, best_value = cand, value
            details |= {"lp_bound": lp_bound, "lp_time": relax.time, "lp_rounded": value}
            ceiling = lp_bound
            if np.all(cw == np.round(cw)) and float(base) == round(base):
                ceiling = float(np.floor(lp_bound + 1e-9))
            if base + best_value >= ceiling - 1e-9 * max(1.0, abs(ceiling)):
                obj = base + best_value
                return plan_solution(
                    "mclp",
                    costs,
                    best,
                    status=Status.OPTIMAL,
                    start=start,
                    backend=options.backend,
                    objective=obj,
                    details=details | {"covered_weight": obj, "proof": "LP bound"},
                )
    if lp_bound is not None and options.time_limit is not None:
        # large model: the MIP rarely improves on the rounded LP point in the time left
        # (20,000 × 1,000: never in 57 s), an iterated local search does, and the MIP then
        # starts from its plan (covers the same weight or more, by construction)
        best, kicks = mclp_perturb(
            M,
            cw,
            best,
            fixed,
            until=share_deadline(options, start, _KICK_SHARE),
            stall=_KICK_STALL,
            seed=_KICK_SEED,
        )
        best_value = mclp_value(M, cw, best)
        details |= {"kicks": kicks, "kicked_value": base + best_value}
    warm = np.zeros(n_sites + k)
    warm[best] = 1.0
    warm[n_sites:] = (M @ warm[:n_sites] > 0).astype(np.float64)
    out = solve_mip(mip, remaining(options, start), warm_start=warm)
    bound = out.bound
    if lp_bound is not None and out.status != Status.INFEASIBLE:
        bound = lp_bound if bound is None else min(bound, lp_bound)
    if out.status == Status.INFEASIBLE:
        return make_solution(
            "mclp",
            status=out.status,
            start=start,
            backend=out.backend,
            bound=out.bound,
            reason=out.message,
            details=details,
        )
    # the heuristic plan stands when the MIP returned nothing better (or nothing at all)
    status = Status.FEASIBLE if out.status == Status.NO_SOLUTION else out.status
    open_sites = best if out.x is None else np.flatnonzero(out.x[:n_sites] > 0.5)
    if mclp_value(M, cw, open_sites) < best_value:
        open_sites = best
    obj = base + mclp_value(M, cw, open_sites)
    return plan_solution(
        "mclp",
        costs,
        open_sites,
        status=status,
        start=start,
        backend=out.backend,
        objective=obj,
        bound=bound,
        details=details | {"covered_weight": obj},
    )


def _top_sites(y: np.ndarray, p: int, fixed: np.ndarray) -> np.ndarray:
    """The fixed sites plus the largest LP values up to ``p`` sites."""
    fixed = np.asarray(fixed, dtype=np.int64)
    score = np.asarray(y, dtype=np.float64).copy()
    score[fixed] = np.inf
    return np.sort(np.argsort(-score, kind="stable")[:p])
