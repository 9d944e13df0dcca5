"""The certificate of every answer: before a solution leaves ``solvers``, its plan is checked
against the model, its objective recomputed from the plan alone, and its bound checked.

Whatever backend or heuristic produced it, a solution with a plan is re-derived here:

- *the plan*: site indices in range, no duplicates, every fixed site open, ``p`` sites
  (MCLP, p-median, p-center, capacitated p-median); LSCP: every demand with weight > 0
  covered; p-median and p-center: every such demand reaches an open site; capacitated
  p-median: every demand with weight or load > 0 assigned to an open site over a stored pair,
  and, with hard bounds, every open site's load within ``[min_load, capacity]``;
- *the objective*, from the plan only: LSCP the number of open sites, MCLP the covered weight
  (coverage with :func:`~solvers.validation.coverage_limit`), p-median the weighted cost to
  the nearest open site, p-center the largest such cost, capacitated p-median the weighted
  cost of the returned assignment (plus the penalty of its violations in soft mode);
- *the bound*: no ``-0.0``; rounded to an integer (up for minimisation, down for MCLP) when
  every plan's objective is an integer; a bound past the objective by round-off only
  (:func:`optimality_tol`) becomes the objective; one past it by more is not a bound (it is
  dropped and logged);
- *the status*: ``optimal`` exactly when the recomputed objective meets the bound
  (:func:`meets_bound`, within the requested MIP gap), else ``feasible`` with the true gap.

A plan that fails a check is never returned as a result: the answer becomes ``no_solution``
with the reason, and the error is logged (it is a defect of the solver, not of the input).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time

import numpy as np

from solvers._capacity import VIOLATION_TOL, load_violations, site_loads, violation_cost
from solvers.models import LSCP, MCLP, CapacitatedPMedian, Model, PCenter, PMedian
from solvers.result import Solution, Status
from solvers.validation import coverage_limit

__all__ = ["CertificateError", "certify", "meets_bound", "optimality_tol"]

logger = logging.getLogger(__name__)

#: relative and absolute tolerance of "the objective meets the bound" (the absolute part is
#: HiGHS's default ``mip_abs_gap``, below which it stops as optimal), and the relative
#: round-off allowed on top (an objective recomputed as a sum of many terms)
_REL_TOL = 1e-9
_ABS_TOL = 1e-6
_ROUND_OFF = 1e-10


class CertificateError(Exception):
    """A plan that breaks the model (raised and caught inside :func:`certify`)."""


def optimality_tol(objective: float) -> float:
    """How far a bound may lie from ``objective`` and still count as meeting it:
    ``max(1e-6, 1e-9 × |objective|)`` plus round-off (``1e-10 × max(1, |objective|)``)."""
    return max(_ABS_TOL, _REL_TOL * abs(objective)) + _ROUND_OFF * max(1.0, abs(objective))


def meets_bound(objective: float, bound: float | None, sense: str, mip_gap: float = 0.0) -> bool:
    """True when ``bound`` proves ``objective`` optimal within the relative ``mip_gap`` (and
    round-off): ``objective - bound`` (``bound - objective`` for ``sense="max"``) is at most
    ``mip_gap × |objective|`` or :func:`optimality_tol`."""
    if bound is None or not math.isfinite(bound):
        return False
    distance = objective - bound if sense == "min" else bound - objective
    return distance <= max(mip_gap * abs(objective), optimality_tol(objective))


def certify(model: Model, solution: Solution, mip_gap: float = 0.0) -> Solution:
    """``solution`` checked against ``model`` (see the module docstring), with its objective,
    bound, gap and status as the plan and the bound prove them; its ``time`` includes the
    check."""
    start = time.perf_counter()
    if not solution.has_solution:
        bound = _clean(solution.bound)
        return dataclasses.replace(solution, bound=bound, gap=None, time=_time(solution, start))
    try:
        objective = _objective(model, solution)
    except CertificateError as exc:
        logger.error(
            "%s solution (%s) failed its certificate: %s", model.name, solution.backend, exc
        )
        return dataclasses.replace(
            solution,
            status=Status.NO_SOLUTION,
            objective=None,
            bound=None,
            gap=None,
            time=_time(solution, start),
            open_sites=np.zeros(0, dtype=np.int64),
            assignment=np.zeros(0, dtype=np.int64),
            reason=f"the solver's plan failed its check ({exc}); please report this as a bug",
            details=dict(solution.details) | {"certificate": str(exc)},
        )
    details = dict(solution.details)
    reported = solution.objective
    if reported is None or abs(reported - objective) > optimality_tol(objective):
        logger.warning(
            "%s (%s): reported objective %r, the plan's own is %r",
            model.name,
            solution.backend,
            reported,
            objective,
        )
        details["certificate"] = f"objective recomputed from the plan (reported {reported!r})"
    bound = _round(model, _clean(solution.bound), objective)
    if bound is not None:
        past = bound - objective if model.sense == "min" else objective - bound
        if past > optimality_tol(objective):
            logger.error(
                "%s (%s): bound %r lies past the plan's objective %r; dropped",
                model.name,
                solution.backend,
                bound,
                objective,
            )
            details["certificate"] = f"bound {bound!r} past the objective {objective!r} dropped"
            bound = None
        elif abs(objective - bound) <= optimality_tol(objective):
            bound = objective  # equal up to round-off: never past the objective
    optimal = meets_bound(objective, bound, model.sense, mip_gap)
    if solution.status == Status.OPTIMAL and not optimal:
        logger.warning(
            "%s (%s): reported optimal, but objective %r does not meet the bound %r: feasible",
            model.name,
            solution.backend,
            objective,
            bound,
        )
    gap = None
    if bound is not None:
        gap = abs(objective - bound) / max(abs(objective), 1e-9)
    return dataclasses.replace(
        solution,
        status=Status.OPTIMAL if optimal else Status.FEASIBLE,
        objective=_clean(objective),
        bound=bound,
        gap=_clean(gap),
        time=_time(solution, start),
        details=details,
    )


def _time(solution: Solution, start: float) -> float:
    return solution.time + (time.perf_counter() - start)


def _clean(value: float | None) -> float | None:
    """``value`` as a float with ``-0.0`` made ``0.0`` (``None`` stays)."""
    return None if value is None else float(value) + 0.0


def _round(model: Model, bound: float | None, objective: float) -> float | None:
    """The bound rounded to the next integer towards the objective when every plan's objective
    is an integer (the slack of 1e-6 relative, at most 0.5, absorbs solver round-off)."""
    if bound is None or not math.isfinite(bound):
        return None if bound is None or math.isnan(bound) else bound
    if not _integral(model):
        return bound
    eps = min(0.5, _ABS_TOL * max(1.0, abs(bound)))
    return float(math.ceil(bound - eps) if model.sense == "min" else math.floor(bound + eps)) + 0.0


def _integral(model: Model) -> bool:
    """True when every plan's objective is an integer."""
    if isinstance(model, LSCP):
        return True
    w = model.weights
    if isinstance(model, MCLP):
        return bool(np.all(w == np.round(w)))
    if isinstance(model, PMedian) or (isinstance(model, CapacitatedPMedian) and not model.soft):
        data = model.costs.data
        return bool(np.all(w == np.round(w)) and np.all(data == np.round(data)))
    return False


# --------------------------------------------------------------------------- the plan
def _objective(model: Model, solution: Solution) -> float:
    """The plan's objective, recomputed; :class:`CertificateError` when it breaks the model."""
    sites = np.asarray(solution.open_sites, dtype=np.int64)
    m = model.costs.n_sites
    if len(sites) and (sites.min() < 0 or sites.max() >= m):
        raise CertificateError(f"site index outside [0, {m})")
    if len(np.unique(sites)) != len(sites):
        raise CertificateError("a site is open twice")
    missing = np.setdiff1d(model.fixed, sites)
    if len(missing):
        raise CertificateError(f"fixed sites {model.site_names(missing)} are not open")
    p = getattr(model, "p", None)
    if p is not None and len(sites) != p:
        raise CertificateError(f"{len(sites)} open sites, p = {p}")
    active = model.weights > 0
    if isinstance(model, LSCP):
        covered = _nearest(model, sites) <= coverage_limit(model.threshold)
        _all_served(model, active & ~covered, f"within the threshold {model.threshold:g}")
        return float(len(sites))
    if isinstance(model, MCLP):
        covered = _nearest(model, sites) <= coverage_limit(model.threshold)
        return float(model.weights[covered].sum())
    if isinstance(model, PMedian | PCenter):
        cost = _nearest(model, sites)
        _all_served(model, active & ~np.isfinite(cost), "in reach")
        if isinstance(model, PMedian):
            return float(model.weights[active] @ cost[active])
        return float(cost[active].max()) if active.any() else 0.0
    if isinstance(model, CapacitatedPMedian):
        return _capacitated_objective(model, solution, sites)
    raise CertificateError(f"no certificate for model {type(model).__name__}")


#: stored pairs handled at once when the plan is checked (bounds the memory on large matrices)
_CHUNK_PAIRS = 4_000_000


def _row_chunks(model: Model) -> list[tuple[int, int]]:
    """Consecutive demand rows ``[a, b)`` holding about :data:`_CHUNK_PAIRS` pairs each."""
    indptr = model.costs.indptr
    cuts = np.searchsorted(indptr, np.arange(0, indptr[-1], _CHUNK_PAIRS), side="right") - 1
    bounds = np.unique(np.concatenate([cuts, [model.costs.n_demand]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def _nearest(model: Model, sites: np.ndarray) -> np.ndarray:
    """Per demand, the smallest cost to an open site (``inf`` when none is in reach)."""
    costs = model.costs
    out = np.full(costs.n_demand, np.inf)
    is_open = np.zeros(costs.n_sites, dtype=bool)
    is_open[sites] = True
    for a, b in _row_chunks(model):
        lo, hi = costs.indptr[a], costs.indptr[b]
        data = np.where(is_open[costs.indices[lo:hi]], costs.data[lo:hi], np.inf)
        starts = costs.indptr[a:b] - lo
        nonempty = np.diff(costs.indptr[a : b + 1]) > 0
        if nonempty.any():
            out[a:b][nonempty] = np.minimum.reduceat(data, starts[nonempty])
    return out


def _all_served(model: Model, bad: np.ndarray, what: str) -> None:
    if bad.any():
        rows = np.flatnonzero(bad)
        raise CertificateError(
            f"{len(rows)} demand points have no open site {what}: {model.demand_names(rows)}"
        )


def _capacitated_objective(
    model: CapacitatedPMedian, solution: Solution, sites: np.ndarray
) -> float:
    site_of = np.asarray(solution.assignment, dtype=np.int64)
    n, m = model.costs.shape
    if len(site_of) != n:
        raise CertificateError(f"the assignment has {len(site_of)} entries, {n} demand points")
    is_open = np.zeros(m, dtype=bool)
    is_open[sites] = True
    active = (model.weights > 0) | (model.loads > 0)
    served = site_of >= 0
    _all_served(model, active & ~served, "assigned")
    if (site_of[served] >= m).any() or not is_open[site_of[served]].all():
        raise CertificateError("demand is assigned to a site that is not open")
    rows = np.flatnonzero(served)
    stored, cost = _pair_costs(model, rows, site_of[rows])
    if not stored.all():
        raise CertificateError(
            f"demand {model.demand_names(rows[~stored])} is assigned over a pair that is not "
            "stored (unreachable)"
        )
    distance = float(model.weights[rows] @ cost)
    loads = site_loads(model, site_of)
    capacity, min_load = np.asarray(model.capacity), np.asarray(model.min_load)
    tol = VIOLATION_TOL * np.maximum(1.0, capacity)
    over = is_open & ((loads > capacity + tol) | (loads < min_load - tol))
    if not model.soft and over.any():
        raise CertificateError(f"sites {model.site_names(np.flatnonzero(over))} break a load bound")
    if not model.soft:
        return distance
    total = float(sum(v["amount"] for v in load_violations(model, sites, loads)))
    return distance + violation_cost(model) * total


def _pair_costs(model: Model, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, col) pair (``rows`` ascending): is it a stored (reachable) pair of the cost
    matrix, and its cost (``inf`` where it is not). A matrix's pairs are in (row, site) order
    (:meth:`~solvers.costs.CostMatrix.from_triples` sorts them), so row-major keys ascend."""
    costs = model.costs
    m = costs.n_sites
    stored = np.zeros(len(rows), dtype=bool)
    cost = np.full(len(rows), np.inf)
    for a, b in _row_chunks(model):
        lo, hi = costs.indptr[a], costs.indptr[b]
        if hi == lo:
            continue
        keys = np.repeat(np.arange(a, b, dtype=np.int64), np.diff(costs.indptr[a : b + 1])) * m
        keys += costs.indices[lo:hi]
        k0, k1 = np.searchsorted(rows, [a, b])
        wanted = rows[k0:k1].astype(np.int64) * m + cols[k0:k1]
        pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        hit = keys[pos] == wanted
        stored[k0:k1] = hit
        cost[k0:k1] = np.where(hit, costs.data[lo:hi][pos], np.inf)
    return stored, cost
