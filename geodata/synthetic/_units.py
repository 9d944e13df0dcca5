"""The synthetic city's sub-districts: rectangles splitting the populated area recursively
towards log-normal target populations, numbered and named from the centre outwards."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.special import ndtri

from geodata.synthetic._constants import LonLat
from geodata.synthetic._names import UNIT_NAMES
from siting_errors import InputError

logger = logging.getLogger(__name__)


def _unit_targets(rng: np.random.Generator, n: int) -> list[float]:
    """Relative target populations: a log-normal spread (σ 0.55) with the largest 2.5× more,
    in random order."""
    weights = np.exp(0.55 * ndtri((np.arange(n) + 0.5) / n))
    weights[-1] *= 2.5
    return [float(w) for w in weights[rng.permutation(n)]]


def _split(
    pop: np.ndarray, rect: tuple[int, int, int, int], targets: list[float]
) -> list[tuple[int, int, int, int]]:
    """Cut ``rect`` (rows r0:r1, cols c0:c1 of the south-up grid) recursively, at whole cells,
    into one rectangle per target whose populations are as close to the targets as cuts allow."""
    if len(targets) == 1:
        return [rect]
    r0, r1, c0, c1 = rect
    half = len(targets) // 2
    share = sum(targets[:half]) / sum(targets)
    sub = pop[r0:r1, c0:c1]
    axes = (0, 1) if (r1 - r0) >= (c1 - c0) else (1, 0)
    for axis in axes:
        lines = sub.shape[axis]
        if lines < 2:
            continue
        cum = np.cumsum(sub.sum(axis=1 - axis))[:-1]
        cut = int(np.argmin(np.abs(cum - share * sub.sum()))) + 1
        if axis == 0:
            low, high = (r0, r0 + cut, c0, c1), (r0 + cut, r1, c0, c1)
        else:
            low, high = (r0, r1, c0, c0 + cut), (r0, r1, c0 + cut, c1)
        return _split(pop, low, targets[:half]) + _split(pop, high, targets[half:])
    raise InputError(
        f"`n_subdistricts` ({len(targets)} in one part) is too many for the populated area; "
        "give fewer sub-districts or a smaller `cell_size`"
    )


def _rect_ring(
    rect: tuple[int, int, int, int], xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A rectangle's boundary (cell units, counter-clockwise) with a vertex at every cut that
    meets it, so that neighbouring polygons share their vertices exactly."""
    r0, r1, c0, c1 = rect
    bx = xs[(xs > c0) & (xs < c1)]
    by = ys[(ys > r0) & (ys < r1)]
    px = np.concatenate(
        [[c0], bx, [c1], np.full(len(by), c1), [c1], bx[::-1], [c0], np.full(len(by), c0), [c0]]
    )
    py = np.concatenate(
        [[r0], np.full(len(bx), r0), [r0], by, [r1], np.full(len(bx), r1), [r1], by[::-1], [r0]]
    )
    return px.astype(np.float64), py.astype(np.float64)


@dataclass(frozen=True)
class Units:
    """Sub-districts: the frame, and per unit its grid rectangle and population."""

    frame: gpd.GeoDataFrame
    rects: list[tuple[int, int, int, int]]
    population: list[float]

    def containing(self, x: np.ndarray, y: np.ndarray, cell: float) -> list[int]:
        """The unit of each point (local metres): the one containing it, else the nearest."""
        out = []
        for a, b in zip(x / cell, y / cell, strict=True):
            gaps = [
                math.hypot(max(c0 - a, 0, a - c1), max(r0 - b, 0, b - r1))
                for r0, r1, c0, c1 in self.rects
            ]
            out.append(int(np.argmin(gaps)))
        return out


def make_subdistricts(
    rng: np.random.Generator,
    grid: np.ndarray,
    cell: float,
    n_units: int,
    core: tuple[float, float],
    lonlat: LonLat,
) -> Units:
    """Rectangles splitting the populated bounding box (module docstring), numbered and named
    from the city centre outwards."""
    rows, cols = np.nonzero(grid > 0)
    box = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
    rects = _split(grid, box, _unit_targets(rng, n_units))
    centre_dist = [
        math.hypot((c0 + c1) / 2 * cell - core[0], (r0 + r1) / 2 * cell - core[1])
        for r0, r1, c0, c1 in rects
    ]
    rects = [rects[i] for i in np.argsort(centre_dist, kind="stable")]
    population = [float(grid[r0:r1, c0:c1].sum()) for r0, r1, c0, c1 in rects]
    if min(population) == 0:
        logger.warning("a synthetic sub-district has no residents; ask for fewer sub-districts")
    cuts_x = np.unique([c for r in rects for c in r[2:]])
    cuts_y = np.unique([r for rect in rects for r in rect[:2]])
    names = [
        UNIT_NAMES[i]
        if i < len(UNIT_NAMES)
        else f"{UNIT_NAMES[i % len(UNIT_NAMES)][:-2]}{i // len(UNIT_NAMES) + 1}街道"
        for i in range(len(rects))
    ]
    polygons = []
    for rect in rects:
        px, py = _rect_ring(rect, cuts_x, cuts_y)
        plon, plat = lonlat(px * cell, py * cell)
        polygons.append(shapely.Polygon(np.column_stack([plon, plat])))
    frame = gpd.GeoDataFrame(
        {
            "unit_id": [f"U{i + 1:02d}" for i in range(len(rects))],
            "name": names,
            "kind": "subdistrict",
        },
        geometry=polygons,
        crs="EPSG:4326",
    )
    return Units(frame, rects, population)
