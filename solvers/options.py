"""Options shared by every solve: backend, time limit, MIP gap, threads, logging."""

from __future__ import annotations

import math
from dataclasses import dataclass

from siting_errors import InputError

__all__ = ["BACKENDS", "SolveOptions"]

#: Backends every MIP model accepts. ``highs`` builds the model directly as sparse arrays for
#: highspy (fast); ``pulp-highs`` and ``cbc`` go through PuLP (``cbc`` is PuLP's bundled CBC).
BACKENDS: tuple[str, ...] = ("highs", "pulp-highs", "cbc")


@dataclass(frozen=True)
class SolveOptions:
    """How to solve: validated once, passed down to every formulation and backend.

    Attributes:
        backend: one of :data:`BACKENDS` (``heuristic`` is accepted by models that have one).
        time_limit: seconds, ``None`` for no limit; when hit, the best solution so far is
            returned with status ``feasible`` and its gap.
        mip_gap: relative optimality gap at which to stop (0 = prove optimality).
        threads: solver threads (``None``: the backend's default).
        verbose: print the solver log.
    """

    backend: str = "highs"
    time_limit: float | None = None
    mip_gap: float = 0.0
    threads: int | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        allowed = (*BACKENDS, "heuristic")
        if self.backend not in allowed:
            raise InputError(f"`backend` must be one of {', '.join(allowed)}, got {self.backend!r}")
        if self.time_limit is not None and (
            not math.isfinite(self.time_limit) or self.time_limit <= 0
        ):
            raise InputError(
                f"`time_limit` must be a number of seconds > 0, got {self.time_limit!r}"
            )
        if not (0 <= self.mip_gap < 1):
            raise InputError(f"`mip_gap` must be in [0, 1), got {self.mip_gap!r}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"`threads` must be >= 1, got {self.threads!r}")
