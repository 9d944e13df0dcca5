"""Readers for benchmark instance files: OR-Library p-median, its optima, TSPLIB coordinates,
and Lorena–Senne capacitated p-median instances."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from siting_errors import DataNotFoundError, InputError
from solvers.costs import CostMatrix

__all__ = [
    "CPMPInstance",
    "load_cpmp",
    "load_orlib_optima",
    "load_orlib_pmed",
    "load_tsplib_coords",
]

logger = logging.getLogger(__name__)


def _read(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"instance file {str(path)!r} does not exist")
    return path.read_text(encoding="utf-8", errors="replace")


def load_orlib_pmed(path: str | Path) -> tuple[CostMatrix, int]:
    """An OR-Library ``pmedN.txt``: ``n m p`` then ``m`` edges ``i j c`` (1-based, undirected).

    Duplicate edges follow the OR-Library convention: **the last occurrence wins**. Costs are
    all-pairs shortest-path lengths; every vertex is a client (weight 1) and a candidate.
    """
    numbers = np.array(_read(path).split(), dtype=np.int64)
    if len(numbers) < 3:
        raise InputError(f"{str(path)!r} is not an OR-Library p-median file (no header)")
    n, m, p = (int(v) for v in numbers[:3])
    edges = numbers[3 : 3 + 3 * m]
    if len(edges) != 3 * m:
        raise InputError(f"{str(path)!r} announces {m} edges but holds {len(edges) // 3}")
    edges = edges.reshape(m, 3)
    i, j, c = edges[:, 0] - 1, edges[:, 1] - 1, edges[:, 2].astype(np.float64)
    if i.min() < 0 or j.min() < 0 or max(i.max(), j.max()) >= n:
        raise InputError(f"{str(path)!r} has an edge endpoint outside 1..{n}")
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a * n + b
    # last occurrence wins: keep the last index of each key
    _, last_rev = np.unique(key[::-1], return_index=True)
    last = len(key) - 1 - last_rev
    a, b, c = a[last], b[last], c[last]
    graph = sp.coo_array(
        (np.concatenate([c, c]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
    )
    dist = shortest_path(sp.csr_array(graph), method="D", directed=False)
    return CostMatrix.from_dense(dist), p


def load_orlib_optima(path: str | Path) -> dict[str, int]:
    """``pmedopt.txt``: ``pmedK value`` lines (a header line is skipped)."""
    out: dict[str, int] = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("pmed") and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def load_tsplib_coords(path: str | Path) -> np.ndarray:
    """Coordinates of a TSPLIB ``NODE_COORD_SECTION`` as an (n, 2) float array."""
    text = _read(path)
    if "NODE_COORD_SECTION" not in text:
        raise InputError(f"{str(path)!r} has no NODE_COORD_SECTION")
    body = text.split("NODE_COORD_SECTION", 1)[1]
    rows = []
    for line in body.splitlines():
        parts = line.split()
        if not parts or parts[0] == "EOF":
            continue
        rows.append((float(parts[1]), float(parts[2])))
    return np.array(rows, dtype=np.float64)


@dataclass(frozen=True)
class CPMPInstance:
    """A capacitated p-median instance: points (clients = candidates), capacities, demands, p."""

    xy: np.ndarray
    capacity: np.ndarray
    demand: np.ndarray
    p: int

    def costs(self) -> CostMatrix:
        """Euclidean distances (unrounded), every pair reachable."""
        d = np.sqrt(((self.xy[:, None, :] - self.xy[None, :, :]) ** 2).sum(axis=2))
        return CostMatrix.from_dense(d)


def load_cpmp(path: str | Path) -> CPMPInstance:
    """A Lorena–Senne ``.dat`` file: ``n p`` then ``x y capacity demand`` per point."""
    numbers = _read(path).split()
    n, p = int(numbers[0]), int(numbers[1])
    body = np.array(numbers[2 : 2 + 4 * n], dtype=np.float64)
    if len(body) != 4 * n:
        raise InputError(f"{str(path)!r} announces {n} points but holds {len(body) // 4}")
    body = body.reshape(n, 4)
    if not math.isfinite(body.sum()):
        raise InputError(f"{str(path)!r} has non-numeric values")
    return CPMPInstance(body[:, :2].copy(), body[:, 2].copy(), body[:, 3].copy(), p)
