"""The coverage score: the population share within the service threshold, and travel-time stats.

Always population-weighted (never a count of points); coverage is inclusive (``time <= threshold``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["Coverage", "coverage_score", "weighted_mean"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Coverage:
    """Population inside the service circle.

    Attributes:
        covered_population: residents within ``threshold`` (inclusive) of their nearest open site.
        total_population: all residents of the demand (unreachable ones included).
        share: ``covered_population / total_population`` (0 when there is no population).
        threshold_minutes: the threshold used.
    """

    covered_population: float
    total_population: float
    share: float
    threshold_minutes: float

    def as_dict(self) -> dict[str, float]:
        """JSON-ready members (the names used by the CLI and the API)."""
        return {
            "covered_weight": self.covered_population,
            "total_weight": self.total_population,
            "share": self.share,
            "threshold": self.threshold_minutes,
        }


def coverage_score(population: np.ndarray, times: np.ndarray, threshold: float) -> Coverage:
    """Coverage of ``population`` given each point's time to its nearest open site.

    ``times`` holds ``inf`` (or NaN) where no open site is reachable.
    """
    pop = np.asarray(population, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    covered = np.isfinite(t) & (t <= threshold)
    total = float(pop.sum())
    cov = float(pop[covered].sum())
    return Coverage(cov, total, cov / total if total > 0 else 0.0, float(threshold))


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean over finite values (NaN when no finite value carries weight)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(v) & (w > 0)
    if not ok.any():
        return float("nan")
    return float(np.average(v[ok], weights=w[ok]))
