"""Model specifications: LSCP, MCLP, p-median, p-center and capacitated p-median, all one shape.

Every model is an immutable dataclass over a :class:`~solvers.costs.CostMatrix` (demand × site)
with optional demand ``weights`` and ``fixed`` sites (existing facilities, always open). A model
is validated when it is built, so a bad ``p`` or threshold fails before any solver starts, with
a message naming the parameter, the bad value and what was expected. Solve any of them with
:func:`solvers.solve`.

Conventions (the same everywhere):
- coverage is inclusive: demand i is covered by site j when ``cost[i, j] <= threshold``;
- ``p`` counts every open site, the fixed ones included (so ``p >= len(fixed)``);
- ``weights`` default to 1 per demand point; demand with weight 0 never has to be served.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from siting_errors import InputError
from solvers.costs import CostMatrix

__all__ = ["LSCP", "MCLP", "CapacitatedPMedian", "Model", "PCenter", "PMedian"]

logger = logging.getLogger(__name__)


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        out = np.ones(n, dtype=np.float64)
    else:
        out = np.asarray(weights, dtype=np.float64).ravel()
        if len(out) != n:
            raise InputError(
                f"`weights` must have one value per demand point ({n}), got {len(out)}"
            )
        bad = ~np.isfinite(out) | (out < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"`weights` must be finite and >= 0, got {out[i]!r} at demand {i} "
                f"({int(bad.sum())} bad values)"
            )
    out.setflags(write=False)
    return out


def _fixed(fixed: np.ndarray | None, n_sites: int) -> np.ndarray:
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
    """Fields shared by every model: the costs, demand weights and fixed (always open) sites."""

    name: ClassVar[str] = "model"
    sense: ClassVar[str] = "min"

    costs: CostMatrix
    weights: np.ndarray | None = field(default=None, kw_only=True)
    fixed: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.costs, CostMatrix):
            raise InputError(
                f"`costs` must be a solvers.CostMatrix, got {type(self.costs).__name__}; "
                "build one with CostMatrix.from_dense / from_triples / from_scipy"
            )
        if self.costs.n_sites == 0:
            raise InputError("`costs` has no candidate sites (0 columns); at least 1 is needed")
        object.__setattr__(self, "weights", _weights(self.weights, self.costs.n_demand))
        object.__setattr__(self, "fixed", _fixed(self.fixed, self.costs.n_sites))


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
    loads: np.ndarray | None = field(default=None, kw_only=True)
    soft: bool = field(default=False, kw_only=True)
    violation_cost: float | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.costs.n_sites
        loads = self.weights if self.loads is None else _weights(self.loads, self.costs.n_demand)
        object.__setattr__(self, "loads", loads)
        object.__setattr__(self, "p", _p(self.p, n, len(self.fixed)))
        for name in ("capacity", "min_load"):
            arr = np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), (n,)).copy()
            if (~np.isfinite(arr) | (arr < 0)).any():
                raise InputError(f"`{name}` must be finite and >= 0 for every site, got {arr!r}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        lo, hi = self.min_load, self.capacity
        if (lo > hi).any():
            j = int(np.flatnonzero(lo > hi)[0])
            raise InputError(
                f"`min_load` must not exceed `capacity`, got {lo[j]} > {hi[j]} at site {j}"
            )
