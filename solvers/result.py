"""The immutable outcome of every solve: status, objective, bound, gap, time, backend, sites."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["Solution", "Status"]


class Status(StrEnum):
    """How a solve ended.

    - ``optimal``: proven optimal (within the requested MIP gap, 0 by default): the objective,
      recomputed from the plan, meets the bound (see :mod:`solvers.certificate`).
    - ``feasible``: a valid plan whose optimality was not proven (time limit, or the
      ``heuristic`` backend); ``bound`` and ``gap`` say how far from optimal it can be.
    - ``infeasible``: proven that no solution exists; ``reason`` says why.
    - ``no_solution``: stopped (time limit, or the ``heuristic`` backend found nothing) before
      any solution was found; nothing is proven.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"


def _frozen(a: np.ndarray | None, dtype: type) -> np.ndarray:
    out: np.ndarray = np.array([] if a is None else a, dtype=dtype)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Solution:
    """Result of one solve. Arrays are read-only; nothing is set after construction.

    Attributes:
        model: model name (``lscp``, ``mclp``, ``pmedian``, ``pcenter``, ``cpmedian``).
        status: see :class:`Status`.
        objective: objective value of the returned solution (``None`` without a solution).
            LSCP: number of open sites; MCLP: covered weight; p-median: total weighted cost;
            p-center: the maximum cost.
        bound: best proven bound on the objective (lower for minimisation, upper for MCLP).
        gap: relative gap ``|objective - bound| / max(|objective|, 1e-9)``; 0 when optimal
            (at most the requested ``mip_gap`` when one was given).
        time: wall-clock seconds of the whole solve (model build included).
        backend: the backend that produced it (``highs``, ``cbc``, ``heuristic``, ...).
        open_sites: sorted site indices that are open (fixed ones included).
        assignment: per demand point, the index of the site serving it, or -1 (unassigned or
            unreachable; for coverage models, the nearest open site within reach).
        reason: a sentence explaining an ``infeasible`` / ``no_solution`` status, else ``None``.
        details: model-specific extras (e.g. ``uncoverable`` demand indices, iterations).
    """

    model: str
    status: Status
    objective: float | None
    bound: float | None
    gap: float | None
    time: float
    backend: str
    open_sites: np.ndarray = field(default_factory=lambda: _frozen(None, np.int64))
    assignment: np.ndarray = field(default_factory=lambda: _frozen(None, np.int64))
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "open_sites", _frozen(np.sort(self.open_sites), np.int64))
        object.__setattr__(self, "assignment", _frozen(self.assignment, np.int64))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def has_solution(self) -> bool:
        """True when ``open_sites`` holds a usable solution (optimal or feasible)."""
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no per-demand arrays)."""
        return {
            "model": self.model,
            "status": self.status.value,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "time": round(self.time, 4),
            "backend": self.backend,
            "open_sites": self.open_sites.tolist(),
            "reason": self.reason,
        }
