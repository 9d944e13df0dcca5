"""Helpers shared by the model solvers: nearest-site assignment, time budget, result building."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from solvers.costs import CostMatrix
from solvers.models import Model
from solvers.options import SolveOptions
from solvers.result import Solution, Status

logger = logging.getLogger(__name__)


def nearest_assignment(costs: CostMatrix, open_sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand: the nearest open site (ties: lowest index; -1 if none reachable) and its cost
    (``inf`` if none)."""
    open_sites = np.unique(np.asarray(open_sites, dtype=np.int64))
    assign = np.full(costs.n_demand, -1, dtype=np.int64)
    cost = np.full(costs.n_demand, np.inf)
    if len(open_sites) == 0 or costs.nnz == 0:
        return assign, cost
    is_open = np.zeros(costs.n_sites, dtype=bool)
    is_open[open_sites] = True
    mask = is_open[costs.indices]
    # the open pairs in CSR order (rows ascending): per row, the smallest cost, then among
    # the pairs at that cost the lowest site, by segment reductions (no sort)
    rows = costs.rows()[mask]
    if len(rows) == 0:
        return assign, cost
    sites = costs.indices[mask].astype(np.int64)
    data = costs.data[mask]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    counts = np.diff(np.append(starts, len(rows)))
    low = np.minimum.reduceat(data, starts)
    at_low = data == np.repeat(low, counts)
    site = np.minimum.reduceat(np.where(at_low, sites, costs.n_sites), starts)
    assign[rows[starts]] = site
    cost[rows[starts]] = low
    return assign, cost


def describe(model: Model, indices: np.ndarray, limit: int = 10) -> str:
    """``"d3 (weight 2), d7 (weight 1) and 4 more"``: the first demand points of ``indices``
    by the caller's ids (``model.demand_ids``; their indices without ids), with their weight."""
    shown = ", ".join(
        f"{model.demand_name(i)} (weight {model.weights[i]:g})" for i in indices[:limit]
    )
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return shown + more


def deadline(options: SolveOptions, start: float) -> float | None:
    """``time.perf_counter()`` value at which the time limit runs out (``None``: no limit)."""
    return None if options.time_limit is None else start + options.time_limit


def remaining(
    options: SolveOptions, start: float, floor: float = 0.05, share: float = 1.0
) -> SolveOptions:
    """``options`` with the time limit reduced to ``share`` of what is left of it (at least
    ``floor`` s of what is left before the share is taken)."""
    if options.time_limit is None:
        return options
    left = max(options.time_limit - (time.perf_counter() - start), floor) * share
    return dataclasses.replace(options, time_limit=left)


def share_deadline(options: SolveOptions, start: float, share: float) -> float | None:
    """``time.perf_counter()`` value at which ``share`` of the time left has passed."""
    return deadline(remaining(options, start, share=share), time.perf_counter())


def out_of_time(options: SolveOptions, start: float) -> bool:
    """True once the time limit has run out."""
    return options.time_limit is not None and time.perf_counter() - start >= options.time_limit


def make_solution(
    model: str,
    *,
    status: Status,
    start: float,
    backend: str,
    objective: float | None = None,
    bound: float | None = None,
    gap: float | None = None,
    open_sites: np.ndarray | None = None,
    assignment: np.ndarray | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Solution:
    """A :class:`Solution` whose ``time`` runs from ``start`` (``time.perf_counter()``) to now."""
    return Solution(
        model=model,
        status=status,
        objective=None if objective is None else float(objective),
        bound=None if bound is None else float(bound),
        gap=None if gap is None else float(gap),
        time=time.perf_counter() - start,
        backend=backend,
        open_sites=np.array([] if open_sites is None else open_sites, dtype=np.int64),
        assignment=np.array([] if assignment is None else assignment, dtype=np.int64),
        reason=reason,
        details=dict(details or {}),
    )


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``|objective - bound| / max(|objective|, 1e-9)``, or ``None`` when either is unknown."""
    if objective is None or bound is None or not np.isfinite(bound):
        return None
    return abs(objective - bound) / max(abs(objective), 1e-9)


def plan_solution(
    model: str,
    costs: CostMatrix,
    sites: np.ndarray,
    *,
    status: Status,
    start: float,
    backend: str,
    objective: float,
    bound: float | None = None,
    assignment: np.ndarray | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Solution:
    """The :class:`Solution` opening ``sites``, every demand assigned to its nearest open site
    (unless ``assignment`` is given). An optimal one has gap 0 and, without a ``bound``, its
    objective as bound; any other has the gap to ``bound`` (``None`` when it is unknown)."""
    sites = np.asarray(sites, dtype=np.int64)
    gap: float | None = 0.0
    if status == Status.OPTIMAL:
        bound = objective if bound is None else bound
    else:
        gap = relative_gap(objective, bound)
    return make_solution(
        model,
        status=status,
        start=start,
        backend=backend,
        objective=objective,
        bound=bound,
        gap=gap,
        open_sites=sites,
        assignment=nearest_assignment(costs, sites)[0] if assignment is None else assignment,
        reason=reason,
        details=details,
    )


def unreachable_solution(
    model: Model,
    bad: np.ndarray,
    *,
    start: float,
    backend: str,
    what: str,
    key: str = "unreachable",
) -> Solution:
    """The ``infeasible`` :class:`Solution` of demand points ``bad`` that no site can serve:
    the reason names how many, their weight, ``what`` is wrong and the first of them (by the
    caller's ids); their indices are in ``details[key]``."""
    return make_solution(
        model.name,
        status=Status.INFEASIBLE,
        start=start,
        backend=backend,
        reason=(
            f"{len(bad)} demand points (total weight {model.weights[bad].sum():g}) {what}: "
            f"{describe(model, bad)}"
        ),
        details={key: bad.tolist()},
    )


def fill_sites(chosen: np.ndarray, p: int, n_sites: int) -> np.ndarray:
    """``chosen`` completed with the lowest-numbered other sites up to ``p`` sites."""
    chosen = np.unique(np.asarray(chosen, dtype=np.int64))
    if len(chosen) >= p:
        return chosen
    others = np.setdiff1d(np.arange(n_sites), chosen)[: p - len(chosen)]
    return np.union1d(chosen, others)
