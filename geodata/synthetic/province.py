"""A deterministic synthetic province: real (or synthetic) county polygons filled with synthetic
population, roads, existing clinics and candidate sites, for region-scale tests and benchmarks.

Given planning-unit polygons (e.g. the 103 counties and banners of Inner Mongolia from
``load_boundaries``), :func:`synthetic_province` fills each unit with no outside data:

* **Population** — a county seat and a few more towns (Gaussian blobs, 1–4 km wide) and villages
  (single blobs of a few hundred residents) at random points inside the unit, rasterised on a
  ``cell_km`` grid clipped to the unit; only populated cells become demand points. Unit totals
  follow the unit's area with log-normal spread and sum to exactly ``population``
  (largest-remainder rounding). Each demand point carries the ``unit_id`` that contains it.
* **Roads** — one province-wide osmnx-style ``MultiDiGraph`` (``x``/``y`` lon/lat, ``length``
  metres, ``highway``, ``maxspeed``): nodes at the (jittered) populated cells, edges from their
  Delaunay triangulation no longer than ~1.6 cells (local ``tertiary`` / ``secondary`` roads) plus
  the minimum spanning tree of the remaining edges (``primary`` roads across the empty steppe), so
  the network is connected and crosses unit borders as real roads do. Two-way: two directed edges.
* **Sites** — existing centres (one per ~``residents_per_centre``, at least one per unit) at the
  most populated cells, spread apart; candidate sites at population-weighted cells; ids carry the
  unit id (``E150102_0``, ``C150102_3``).

Same arguments → identical frames and graph, bit for bit. :func:`synthetic_units` makes a small
grid of rectangular units for tests when no boundary file is at hand.
"""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import coo_array
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree

from geodata.synthetic._constants import COORD_DECIMALS, EARTH_RADIUS_M
from siting_errors import InputError

__all__ = ["SyntheticProvince", "synthetic_province", "synthetic_units"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SyntheticProvince:
    """What :func:`synthetic_province` returns (all frames in EPSG:4326).

    Attributes:
        units: the planning units (``unit_id``, ``name``, polygon), as given.
        demand: populated cells as points: ``demand_id``, ``population``, ``unit_id``.
        existing: existing centres: ``site_id``, ``name``, ``existing`` (True), ``unit_id``.
        candidates: candidate sites, same columns with ``existing`` False.
        roads: the province road graph (osmnx style, drivable).
        seed: the seed.
        params: the generator's parameters and totals.
    """

    units: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    existing: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    roads: nx.MultiDiGraph
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def sites(self) -> gpd.GeoDataFrame:
        """Existing and candidate sites in one frame."""
        return gpd.GeoDataFrame(
            pd.concat([self.existing, self.candidates], ignore_index=True),
            geometry="geometry",
            crs="EPSG:4326",
        )


def synthetic_units(
    rows: int = 2,
    cols: int = 2,
    *,
    size_km: float = 30.0,
    origin_lonlat: tuple[float, float] = (111.2, 40.6),
) -> gpd.GeoDataFrame:
    """``rows × cols`` square units of ``size_km`` (ids ``S00``, ``S01``...; EPSG:4326)."""
    if rows < 1 or cols < 1 or size_km <= 0:
        raise InputError(
            f"`rows`, `cols` must be >= 1 and `size_km` > 0, got {rows, cols, size_km}"
        )
    lon0, lat0 = origin_lonlat
    dlat = size_km / 111.32
    dlon = size_km / (111.32 * math.cos(math.radians(lat0 + rows * dlat / 2)))
    ids, names, geoms = [], [], []
    for r in range(rows):
        for c in range(cols):
            ids.append(f"S{r}{c}")
            names.append(f"合成旗{r}{c}")
            geoms.append(
                shapely.box(
                    lon0 + c * dlon, lat0 + r * dlat, lon0 + (c + 1) * dlon, lat0 + (r + 1) * dlat
                )
            )
    return gpd.GeoDataFrame({"unit_id": ids, "name": names}, geometry=geoms, crs="EPSG:4326")


def _unit_rng(seed: int, unit_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(unit_id.encode("utf-8"))])


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    raw = weights / weights.sum() * total
    out = np.floor(raw).astype(np.int64)
    short = int(total - out.sum())
    if short > 0:
        out[np.argsort(-(raw - out), kind="stable")[:short]] += 1
    return out


def _points_inside(
    rng: np.random.Generator, poly: shapely.Geometry, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform random points inside ``poly`` (rejection sampling in its bounds)."""
    x0, y0, x1, y1 = poly.bounds
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    for _ in range(200):
        px = rng.uniform(x0, x1, 4 * n + 16)
        py = rng.uniform(y0, y1, 4 * n + 16)
        ok = shapely.contains_xy(poly, px, py)
        xs.append(px[ok])
        ys.append(py[ok])
        got += int(ok.sum())
        if got >= n:
            break
    if got < n:  # a sliver: fall back to a point on its surface
        p = poly.representative_point()
        xs.append(np.full(n, p.x))
        ys.append(np.full(n, p.y))
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _unit_cells(
    rng: np.random.Generator,
    poly: shapely.Geometry,
    population: int,
    cell: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Populated cell centres (x, y, residents) of one unit in the metric frame."""
    x0, y0, x1, y1 = poly.bounds
    gx = np.arange(math.floor(x0 / cell), math.ceil(x1 / cell)) * cell + cell / 2
    gy = np.arange(math.floor(y0 / cell), math.ceil(y1 / cell)) * cell + cell / 2
    mx, my = np.meshgrid(gx, gy)
    inside = shapely.contains_xy(poly, mx.ravel(), my.ravel())
    cx, cy = mx.ravel()[inside], my.ravel()[inside]
    if len(cx) == 0:  # a unit smaller than a cell: one cell at its surface point
        p = poly.representative_point()
        cx, cy = np.array([p.x]), np.array([p.y])
    area_km2 = poly.area / 1e6
    n_towns = int(min(12, 1 + rng.poisson(area_km2 / 4000.0)))
    n_villages = int(min(400, max(2, rng.poisson(area_km2 / 120.0))))
    tx, ty = _points_inside(rng, poly, n_towns + n_villages)
    town_share = 0.55 + 0.25 * rng.random()
    seat = town_share * 0.6
    w = np.empty(n_towns + n_villages)
    w[0] = seat
    if n_towns > 1:
        rest = rng.lognormal(0.0, 0.7, n_towns - 1)
        w[1:n_towns] = (town_share - seat) * rest / rest.sum()
    else:
        w[0] = town_share
    vil = rng.lognormal(0.0, 0.5, n_villages)
    w[n_towns:] = (1.0 - town_share) * vil / vil.sum()
    sigma = np.empty_like(w)
    sigma[:n_towns] = np.clip(1500.0 * (w[:n_towns] * population / 50_000) ** 0.3, 600, 4000)
    sigma[n_towns:] = 400.0
    tree = cKDTree(np.column_stack([cx, cy]))
    density = np.zeros(len(cx))
    for k in range(len(w)):
        radius = max(3.0 * sigma[k], 0.75 * cell)
        idx = np.asarray(tree.query_ball_point([tx[k], ty[k]], radius), dtype=np.int64)
        if len(idx) == 0:
            idx = np.array([tree.query([tx[k], ty[k]])[1]], dtype=np.int64)
        d2 = (cx[idx] - tx[k]) ** 2 + (cy[idx] - ty[k]) ** 2
        g = np.exp(-d2 / (2.0 * sigma[k] ** 2)) + 1e-12
        density[idx] += w[k] * g / g.sum()
    keep = density > density.max() * 1e-4
    cx, cy, density = cx[keep], cy[keep], density[keep]
    pop = _largest_remainder(density, population)
    keep = pop > 0
    return cx[keep], cy[keep], pop[keep].astype(np.float64)


def _spread_pick(
    x: np.ndarray, y: np.ndarray, order: np.ndarray, n: int, spacing: float
) -> np.ndarray:
    """Up to ``n`` indices in ``order`` preference, no two closer than ``spacing``."""
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= n:
            break
        if chosen and np.min(np.hypot(x[chosen] - x[i], y[chosen] - y[i])) < spacing:
            continue
        chosen.append(int(i))
    if len(chosen) < n:  # too crowded: fill in order without the spacing
        rest = [int(i) for i in order if int(i) not in set(chosen)]
        chosen.extend(rest[: n - len(chosen)])
    return np.asarray(chosen, dtype=np.int64)


def _haversine(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _roads(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, cell: float, to_ll: Transformer
) -> nx.MultiDiGraph:
    """Delaunay + MST road graph over the (jittered) populated cells."""
    nx_ = x + rng.uniform(-0.15, 0.15, len(x)) * cell
    ny_ = y + rng.uniform(-0.15, 0.15, len(y)) * cell
    lon, lat = to_ll.transform(nx_, ny_)
    lon, lat = np.round(lon, COORD_DECIMALS), np.round(lat, COORD_DECIMALS)
    n = len(x)
    graph = nx.MultiDiGraph(crs="EPSG:4326", name="synthetic province")
    graph.add_nodes_from(
        (i + 1, {"x": float(lon[i]), "y": float(lat[i]), "street_count": 0}) for i in range(n)
    )
    if n < 2:
        return graph
    if n == 2:
        a, b = np.array([0]), np.array([1])
    else:
        tri = Delaunay(np.column_stack([nx_, ny_]), qhull_options="QJ")
        s = tri.simplices
        pairs = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
        pairs = np.unique(np.sort(pairs, axis=1), axis=0)
        a, b = pairs[:, 0], pairs[:, 1]
    dist = np.hypot(nx_[a] - nx_[b], ny_[a] - ny_[b])
    local = dist <= 1.6 * cell
    mst = minimum_spanning_tree(coo_array((dist + 1e-9, (a, b)), shape=(n, n)).tocsr()).tocoo()
    ma, mb = mst.row.astype(np.int64), mst.col.astype(np.int64)
    long_ = np.hypot(nx_[ma] - nx_[mb], ny_[ma] - ny_[mb]) > 1.6 * cell
    ea = np.concatenate([a[local], ma[long_]])
    eb = np.concatenate([b[local], mb[long_]])
    kind = np.concatenate(
        [np.where(rng.random(int(local.sum())) < 0.3, 1, 2), np.zeros(int(long_.sum()), np.int64)]
    )
    length = np.round(_haversine(lon[ea], lat[ea], lon[eb], lat[eb]), 3)
    classes = (("primary", "80"), ("secondary", "60"), ("tertiary", "40"))
    edges = []
    for k in range(len(ea)):
        hw, speed = classes[int(kind[k])]
        data = {"osmid": k + 1, "highway": hw, "maxspeed": speed, "length": float(length[k])}
        u, v = int(ea[k]) + 1, int(eb[k]) + 1
        edges.append((u, v, 0, {**data, "oneway": False, "reversed": False}))
        edges.append((v, u, 0, {**data, "oneway": False, "reversed": True}))
    graph.add_edges_from(edges)
    for node, deg in graph.degree():
        graph.nodes[node]["street_count"] = int(deg // 2)
    return graph


def synthetic_province(
    units: gpd.GeoDataFrame,
    seed: int = 0,
    *,
    population: int = 24_000_000,
    cell_km: float = 2.0,
    residents_per_centre: float = 60_000.0,
    candidates_per_unit: int = 24,
) -> SyntheticProvince:
    """Fill ``units`` (``unit_id``, ``name``, polygons) with a synthetic province (module
    docstring). Same arguments → identical output.

    Args:
        units: planning-unit polygons with a CRS (e.g. from ``load_boundaries``).
        seed: non-negative integer seed.
        population: residents of the whole province (default ≈ Inner Mongolia's 24 million).
        cell_km: population cell size (km); the demand points and road nodes are its cells.
        residents_per_centre: one existing centre per this many residents (at least one).
        candidates_per_unit: candidate sites per unit (fewer when a unit has fewer cells).
    """
    if not isinstance(units, gpd.GeoDataFrame) or units.crs is None:
        raise InputError("`units` must be a GeoDataFrame with a CRS")
    missing = [c for c in ("unit_id", "name") if c not in units.columns]
    if missing or len(units) == 0:
        raise InputError(f"`units` must be non-empty with columns unit_id, name; missing {missing}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"`seed` must be a non-negative integer, got {seed!r}")
    if not (isinstance(population, int | np.integer) and population >= len(units)):
        raise InputError(
            f"`population` must be an integer >= the number of units, got {population!r}"
        )
    if not (0.1 <= cell_km <= 50):
        raise InputError(f"`cell_km` must be between 0.1 and 50, got {cell_km!r}")
    if candidates_per_unit < 1 or residents_per_centre <= 0:
        raise InputError("`candidates_per_unit` must be >= 1 and `residents_per_centre` > 0")
    units = units.to_crs("EPSG:4326").reset_index(drop=True)
    ids = units["unit_id"].astype(str).to_numpy()
    lon0, lat0, lon1, lat1 = units.total_bounds
    metric = CRS.from_proj4(
        f"+proj=laea +lat_0={(lat0 + lat1) / 2:.4f} +lon_0={(lon0 + lon1) / 2:.4f} "
        "+datum=WGS84 +units=m +no_defs"
    )
    polys = units.to_crs(metric).geometry.to_numpy()
    to_ll = Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    cell = float(cell_km) * 1000.0

    areas = shapely.area(polys) / 1e6
    spread = np.array([_unit_rng(seed, f"{u}#size").lognormal(0.0, 0.6) for u in ids])
    unit_pop = _largest_remainder(np.sqrt(areas) * spread + 1e-9, int(population))
    unit_pop = np.maximum(unit_pop, 1)

    xs, ys, pops, owner = [], [], [], []
    ex_rows: list[tuple[str, str, str, float, float]] = []
    ca_rows: list[tuple[str, str, str, float, float]] = []
    for k, (uid, name, poly) in enumerate(zip(ids, units["name"].astype(str), polys, strict=True)):
        rng = _unit_rng(seed, uid)
        cx, cy, cp = _unit_cells(rng, poly, int(unit_pop[k]), cell)
        xs.append(cx)
        ys.append(cy)
        pops.append(cp)
        owner.append(np.full(len(cx), k))
        n_ex = max(1, round(unit_pop[k] / residents_per_centre))
        n_ex = min(n_ex, max(1, len(cx) // 2))
        by_pop = np.argsort(-cp, kind="stable")
        ex = _spread_pick(cx, cy, by_pop, n_ex, 2.0 * cell)
        rest = np.setdiff1d(np.arange(len(cx)), ex)
        n_ca = min(candidates_per_unit, len(rest))
        ca = np.array([], dtype=np.int64)
        if n_ca:
            p = cp[rest] ** 0.5
            ca = rng.choice(rest, size=n_ca, replace=False, p=p / p.sum())
        for j, i in enumerate(ex):
            ex_rows.append((f"E{uid}_{j}", f"{name}社区卫生服务中心{j + 1}", uid, cx[i], cy[i]))
        for j, i in enumerate(np.sort(ca)):
            dx, dy = rng.uniform(-0.1, 0.1, 2) * cell
            ca_rows.append((f"C{uid}_{j}", f"{name}候选地块{j + 1}", uid, cx[i] + dx, cy[i] + dy))
    x, y, pop = np.concatenate(xs), np.concatenate(ys), np.concatenate(pops)
    own = np.concatenate(owner)
    lon, lat = to_ll.transform(x, y)
    demand = gpd.GeoDataFrame(
        {
            "demand_id": [f"D{i}" for i in range(len(x))],
            "population": pop,
            "unit_id": ids[own],
        },
        geometry=gpd.points_from_xy(np.round(lon, COORD_DECIMALS), np.round(lat, COORD_DECIMALS)),
        crs="EPSG:4326",
    )

    def frame(rows: list[tuple[str, str, str, float, float]], existing: bool) -> gpd.GeoDataFrame:
        sx = np.array([r[3] for r in rows], dtype=float)
        sy = np.array([r[4] for r in rows], dtype=float)
        slon, slat = to_ll.transform(sx, sy) if len(rows) else (sx, sy)
        return gpd.GeoDataFrame(
            {
                "site_id": [r[0] for r in rows],
                "name": [r[1] for r in rows],
                "existing": np.full(len(rows), existing),
                "unit_id": [r[2] for r in rows],
            },
            geometry=gpd.points_from_xy(
                np.round(slon, COORD_DECIMALS), np.round(slat, COORD_DECIMALS)
            ),
            crs="EPSG:4326",
        )

    roads = _roads(np.random.default_rng([seed, 7]), x, y, cell, to_ll)
    params = {
        "population": int(population),
        "cell_km": float(cell_km),
        "units": len(units),
        "demand_points": len(demand),
        "road_nodes": roads.number_of_nodes(),
        "road_edges": roads.number_of_edges(),
        "existing": len(ex_rows),
        "candidates": len(ca_rows),
    }
    logger.info("synthetic province (seed %d): %s", seed, params)
    return SyntheticProvince(
        units=units[["unit_id", "name", "geometry"]].assign(unit_id=ids),
        demand=demand,
        existing=frame(ex_rows, True),
        candidates=frame(ca_rows, False),
        roads=roads,
        seed=int(seed),
        params=params,
    )
