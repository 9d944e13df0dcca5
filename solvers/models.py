"""Model specifications: LSCP, MCLP, p-median, p-center and capacitated p-median, all one shape.

Every model is an immutable dataclass over a :class:`~solvers.costs.CostMatrix` (demand × site)
with optional demand ``weights`` and ``fixed`` sites (existing facilities, always open). A model
is validated when it is built, so a bad ``p`` or threshold fails before any solver starts, with
a message naming the parameter, the bad value and what was expected. Solve any of them with
:func:`solvers.solve`.

Conventions (the same everywhere):
- coverage is inclusive: demand i is covered by site j when ``cost[i, j] <= threshold +
  1e-9 × max(1, threshold)`` (:func:`~solvers.validation.coverage_limit`: round-off such as
  0.1 + 0.2 against 0.3 does not leave demand uncovered);
- ``p`` counts every open site, the fixed ones included (so ``p >= len(fixed)``);
- ``weights`` default to 1 per demand point; demand with weight 0 never has to be served;
- ``demand_ids`` / ``site_ids`` (optional) are the caller's names of the rows and columns:
  every reason and error cites them instead of 0-based indices (``details`` and the solution's
  arrays stay in indices).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from siting_errors import InputError
from solvers.costs import CostMatrix
from solvers.validation import finite_non_negative

__all__ = ["LSCP", "MCLP", "CapacitatedPMedian", "Model", "PCenter", "PMedian"]

logger = logging.getLogger(__name__)


def _labels(labels: Sequence[object] | np.ndarray | None, n: int, what: str) -> np.ndarray | None:
    if labels is None:
        return None
    out = np.array(
        [str(v.item() if isinstance(v, np.generic) else v) for v in labels], dtype=object
    )
    if len(out) != n:
        raise InputError(f"`{what}` must have one id per {what[:-4]} ({n}), got {len(out)}")
    out.setflags(write=False)
    return out


def _weights(
    weights: ArrayLike | None, n: int, what: str, labels: Sequence[object] | np.ndarray | None
) -> np.ndarray:
    if weights is None:
        out = np.ones(n, dtype=np.float64)
    else:
        out = np.asarray(weights, dtype=np.float64).ravel()
        if len(out) != n:
            raise InputError(f"`{what}` must have one value per demand point ({n}), got {len(out)}")
        out = finite_non_negative(out, f"`{what}`", at="demand", labels=labels)
    out.setflags(write=False)
    return out


def _fixed(fixed: ArrayLike | None, n_sites: int) -> np.ndarray:
    out = np.unique(np.asarray([] if fixed is None else fixed, dtype=np.int64).ravel())
    if len(out) and (out[0] < 0 or out[-1] >= n_sites):
        bad = out[(out < 0) | (out >= n_sites)]
        raise InputError(
            f"`fixed` sites must be column indices in [0, {n_sites}), got {bad[:5].tolist()}"
        )
    out.setflags(write=False)
    return out


def _threshold(threshold: float) -> float:
    t = float(threshold)
    if not math.isfinite(t) or t <= 0:
        raise InputError(f"`threshold` must be a finite number > 0, got {threshold!r}")
    return t


def _p(p: int, n_sites: int, n_fixed: int) -> int:
    if isinstance(p, bool) or int(p) != p:
        raise InputError(f"`p` must be an integer, got {p!r}")
    p = int(p)
    if p < 1:
        raise InputError(f"`p` must be at least 1, got {p}")
    if p > n_sites:
        raise InputError(f"`p` must be at most the number of candidates ({n_sites}), got {p}")
    if p < n_fixed:
        raise InputError(
            f"`p` counts fixed sites too, so it must be at least the number of fixed sites "
            f"({n_fixed}), got {p}"
        )
    return p


@dataclass(frozen=True, eq=False)
class Model:
    """Fields shared by every model: the costs, demand weights, fixed (always open) sites and
    the caller's ids of demand points and sites.

    ``weights`` and ``fixed`` accept ``None`` (their defaults: weight 1 each, no fixed site)
    and any array-like; after validation they are read-only numpy arrays, which is the type
    the solvers see.
    """

    name: ClassVar[str] = "model"
    sense: ClassVar[str] = "min"

    costs: CostMatrix
    # ``None`` is accepted and replaced in __post_init__: readers always see an array
    weights: np.ndarray = field(default=None, kw_only=True)  # type: ignore[arg-type]
    fixed: np.ndarray = field(default=None, kw_only=True)  # type: ignore[arg-type]
    demand_ids: Sequence[object] | np.ndarray | None = field(default=None, kw_only=True)
    site_ids: Sequence[object] | np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.costs, CostMatrix):
            raise InputError(
                f"`costs` must be a solvers.CostMatrix, got {type(self.costs).__name__}; "
                "build one with CostMatrix.from_dense / from_triples / from_scipy"
            )
        if self.costs.n_sites == 0:
            raise InputError("`costs` has no candidate sites (0 columns); at least 1 is needed")
        n_demand, n_sites = self.costs.shape
        object.__setattr__(self, "demand_ids", _labels(self.demand_ids, n_demand, "demand_ids"))
        object.__setattr__(self, "site_ids", _labels(self.site_ids, n_sites, "site_ids"))
        object.__setattr__(
            self, "weights", _weights(self.weights, n_demand, "weights", self.demand_ids)
        )
        object.__setattr__(self, "fixed", _fixed(self.fixed, n_sites))

    def demand_name(self, i: int) -> str:
        """The caller's id of demand point ``i`` (its index when no ids were given)."""
        return str(int(i)) if self.demand_ids is None else str(self.demand_ids[int(i)])

    def site_name(self, j: int) -> str:
        """The caller's id of site ``j`` (its index when no ids were given)."""
        return str(int(j)) if self.site_ids is None else str(self.site_ids[int(j)])

    def demand_names(self, indices: Iterable[int], limit: int = 10) -> str:
        """``"d3, d7, d9 and 4 more"``: the first ``limit`` demand ids of ``indices``."""
        return _names([self.demand_name(i) for i in indices], limit)

    def site_names(self, indices: Iterable[int], limit: int = 10) -> str:
        """``"s0, s4"``: the first ``limit`` site ids of ``indices``."""
        return _names([self.site_name(j) for j in indices], limit)


def _names(names: list[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True, eq=False)
class LSCP(Model):
    """Location set covering: open the fewest sites so every demand (weight > 0) is covered."""

    name: ClassVar[str] = "lscp"
    threshold: float = field(kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "threshold", _threshold(self.threshold))


@dataclass(frozen=True, eq=False)
class MCLP(Model):
    """Maximal covering: open ``p`` sites to maximise the covered demand weight."""

    name: ClassVar[str] = "mclp"
    sense: ClassVar[str] = "max"
    threshold: float = field(kw_only=True)
    p: int = field(kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "threshold", _threshold(self.threshold))
        object.__setattr__(self, "p", _p(self.p, self.costs.n_sites, len(self.fixed)))


@dataclass(frozen=True, eq=False)
class PMedian(Model):
    """p-median: open ``p`` sites, assign each demand to one, minimise total weighted cost."""

    name: ClassVar[str] = "pmedian"
    p: int = field(kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "p", _p(self.p, self.costs.n_sites, len(self.fixed)))


@dataclass(frozen=True, eq=False)
class PCenter(Model):
    """p-center: open ``p`` sites to minimise the largest cost of any demand (weight > 0)."""

    name: ClassVar[str] = "pcenter"
    p: int = field(kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "p", _p(self.p, self.costs.n_sites, len(self.fixed)))


@dataclass(frozen=True, eq=False)
class CapacitatedPMedian(Model):
    """Capacitated p-median with load bounds: single-source assignment, each open site's
    assigned weight within ``[min_load, capacity]``.

    ``capacity`` and ``min_load`` are a scalar or one value per site; ``loads`` is what each
    demand point counts against them (default: its weight — the objective stays
    ``Σ weight × cost``, so for instances whose objective is unweighted pass ``weights=1`` and
    the demand as ``loads``). With ``soft=True`` the
    bounds may be violated at a penalty ``violation_cost`` per unit (the closest plan when the
    hard bounds cannot all be met); the solution's details report each violation.
    """

    name: ClassVar[str] = "cpmedian"
    p: int = field(kw_only=True)
    capacity: np.ndarray | float = field(kw_only=True)
    min_load: np.ndarray | float = field(default=0.0, kw_only=True)
    loads: np.ndarray = field(default=None, kw_only=True)  # type: ignore[arg-type]
    soft: bool = field(default=False, kw_only=True)
    violation_cost: float | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.costs.n_sites
        loads = (
            self.weights
            if self.loads is None
            else _weights(self.loads, self.costs.n_demand, "loads", self.demand_ids)
        )
        object.__setattr__(self, "loads", loads)
        object.__setattr__(self, "p", _p(self.p, n, len(self.fixed)))
        for name in ("capacity", "min_load"):
            arr = np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), (n,)).copy()
            arr = finite_non_negative(arr, f"`{name}`", at="site", labels=self.site_ids)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        lo, hi = np.asarray(self.min_load), np.asarray(self.capacity)
        if (lo > hi).any():
            j = int(np.flatnonzero(lo > hi)[0])
            raise InputError(
                f"`min_load` must not exceed `capacity`, got {lo[j]:g} > {hi[j]:g} at site "
                f"{self.site_name(j)}"
            )
        if self.violation_cost is not None:
            cost = float(self.violation_cost)
            if not math.isfinite(cost) or cost < 0:
                raise InputError(
                    f"`violation_cost` must be a finite number >= 0, got {self.violation_cost!r}"
                )
            object.__setattr__(self, "violation_cost", cost)
