"""The synthetic city's landscape and residents: the river and the park (:class:`Nature`) and the
population grid around the core, the secondary centres, suburbs and villages."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import shapely

from geodata.synthetic._constants import MAX_PER_HECTARE
from siting_errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Nature:
    """The river (a meandering band crossing west to east) and the park (an ellipse)."""

    extent: float
    river_y: float
    amps: tuple[float, float]
    waves: tuple[float, float]
    phases: tuple[float, float]
    width: float
    park_xy: tuple[float, float]
    park_axes: tuple[float, float]
    park_angle: float

    def centreline(self, x: np.ndarray) -> np.ndarray:
        (a1, a2), (l1, l2), (p1, p2) = self.amps, self.waves, self.phases
        return (
            self.river_y
            + a1 * np.sin(2 * np.pi * x / l1 + p1)
            + a2 * np.sin(2 * np.pi * x / l2 + p2)
        )

    def river_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance to the centreline (vertical offset × cos of the slope: first order)."""
        (a1, a2), (l1, l2), (p1, p2) = self.amps, self.waves, self.phases
        slope = a1 * 2 * np.pi / l1 * np.cos(2 * np.pi * x / l1 + p1) + a2 * 2 * np.pi / l2 * (
            np.cos(2 * np.pi * x / l2 + p2)
        )
        return np.abs(y - self.centreline(x)) / np.sqrt(1.0 + slope**2)

    def in_park(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        (px, py), (a, b), t = self.park_xy, self.park_axes, self.park_angle
        dx, dy = x - px, y - py
        u = dx * math.cos(t) + dy * math.sin(t)
        v = -dx * math.sin(t) + dy * math.cos(t)
        return (u / a) ** 2 + (v / b) ** 2 < 1.0

    def river_polygon(self, grow: float = 0.0) -> shapely.Polygon:
        step = min(20.0, self.extent / 200)
        x = np.arange(-100.0, self.extent + 100.0 + step, step)
        line = shapely.linestrings(x, self.centreline(x))
        band = shapely.buffer(line, self.width / 2 + grow, cap_style="flat")
        return shapely.intersection(band, shapely.box(0, 0, self.extent, self.extent))

    def park_polygon(self, grow: float = 0.0) -> shapely.Polygon:
        (px, py), (a, b), t = self.park_xy, self.park_axes, self.park_angle
        k = np.linspace(0, 2 * np.pi, 97)[:-1]
        u, v = (a + grow) * np.cos(k), (b + grow) * np.sin(k)
        return shapely.Polygon(
            np.column_stack(
                [px + u * math.cos(t) - v * math.sin(t), py + u * math.sin(t) + v * math.cos(t)]
            )
        )


def make_nature(rng: np.random.Generator, extent: float, core: tuple[float, float]) -> Nature:
    river_y = extent * rng.uniform(0.62, 0.67)
    angle = rng.uniform(1.15 * np.pi, 1.85 * np.pi)  # south of the core, away from the river
    dist = extent * rng.uniform(0.10, 0.14)
    return Nature(
        extent=extent,
        river_y=river_y,
        amps=(0.025 * extent, 0.01 * extent),
        waves=(extent * rng.uniform(0.7, 1.1), extent * rng.uniform(0.25, 0.4)),
        phases=(rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)),
        width=max(60.0, 0.012 * extent),
        park_xy=(core[0] + dist * math.cos(angle), core[1] + dist * math.sin(angle)),
        park_axes=(0.055 * extent, 0.04 * extent),
        park_angle=rng.uniform(0, np.pi),
    )


# --------------------------------------------------------------------------- population


def population_grid(
    rng: np.random.Generator,
    n: int,
    cell: float,
    total: int,
    core: tuple[float, float],
    nature: Nature,
) -> np.ndarray:
    """South-up grid (row 0 = southern edge) of whole residents summing to ``total``."""
    extent = n * cell
    centres = (np.arange(n) + 0.5) * cell
    density = np.zeros((n, n))

    def blob(cx: float, cy: float, sigma: float, amp: float) -> None:
        gx = np.exp(-((centres - cx) ** 2) / (2 * sigma**2))
        gy = np.exp(-((centres - cy) ** 2) / (2 * sigma**2))
        density[...] += amp * np.outer(gy, gx)

    def around(dist: float, theta: float) -> tuple[float, float]:
        lo, hi = 0.04 * extent, 0.96 * extent
        x = min(max(core[0] + dist * math.cos(theta), lo), hi)
        y = min(max(core[1] + dist * math.sin(theta), lo), hi)
        return x, y

    blob(*core, 0.075 * extent, 1.0)
    blob(*core, 0.16 * extent, 0.22)
    blob(*core, 0.30 * extent, 0.015)
    theta0 = rng.uniform(0, 2 * np.pi)
    for k in range(3):
        theta = theta0 + 2 * np.pi * k / 3 + rng.uniform(-0.35, 0.35)
        xy = around(extent * rng.uniform(0.16, 0.26), theta)
        blob(*xy, extent * rng.uniform(0.04, 0.06), rng.uniform(0.35, 0.6))
    for _ in range(int(rng.integers(4, 7))):
        xy = around(extent * rng.uniform(0.27, 0.38), rng.uniform(0, 2 * np.pi))
        blob(*xy, extent * rng.uniform(0.022, 0.035), rng.uniform(0.15, 0.35))
    for _ in range(max(3, round(extent / 1250))):
        xy = around(extent * rng.uniform(0.30, 0.46), rng.uniform(0, 2 * np.pi))
        blob(*xy, max(cell, 0.008 * extent), rng.uniform(0.04, 0.1))
    block = max(1, round(400.0 / cell))
    nb = -(-n // block)
    texture = np.repeat(np.repeat(rng.lognormal(0.0, 0.3, (nb, nb)), block, 0), block, 1)
    density *= texture[:n, :n] * rng.lognormal(0.0, 0.2, (n, n))
    xx, yy = np.meshgrid(centres, centres)
    empty = (nature.river_distance(xx, yy) < nature.width / 2 + cell / 2) | nature.in_park(xx, yy)
    density[empty] = 0.0
    density[density < 2e-3 * density.max()] = 0.0

    cap = MAX_PER_HECTARE * cell * cell / 1e4
    land = int(np.count_nonzero(density))
    if total > cap * land:
        raise InputError(
            f"`population` ({total:,}) does not fit the extent: at most {MAX_PER_HECTARE:g} "
            f"residents per hectare on {land:,} populated cells of {cell:g} m allow "
            f"{int(cap * land):,}; give a larger `extent_km`"
        )
    raw = density / density.sum() * total
    for _ in range(100):
        over = raw > cap
        if not over.any():
            break
        excess = float((raw[over] - cap).sum())
        raw[over] = cap
        free = (raw > 0) & (raw < cap)
        raw[free] += excess * raw[free] / raw[free].sum()
    whole = np.floor(raw)
    short = total - int(whole.sum())
    if short > 0:
        rest = (raw - whole).ravel()
        whole.ravel()[np.argsort(-rest, kind="stable")[:short]] += 1.0
    return whole
