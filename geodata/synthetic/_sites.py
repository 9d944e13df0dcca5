"""The synthetic city's sites: existing clinics in dense areas and candidate sites in populated
ones, at drivable road nodes spread apart, set back from the street, named after it."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import shapely

from geodata.synthetic._constants import BUILT_UP_PER_HA, RESIDENTIAL, SUBURB_PER_HA, LonLat
from geodata.synthetic._names import ORDINALS, QUADRANTS
from geodata.synthetic._population import Nature
from geodata.synthetic._streets import Edges, Street
from geodata.synthetic._units import Units
from siting_errors import InputError

logger = logging.getLogger(__name__)


def _spread(
    rng: np.random.Generator,
    xs: np.ndarray,
    ys: np.ndarray,
    weight: np.ndarray,
    k: int,
    min_dist: float,
    avoid: np.ndarray | None = None,
    *,
    what: str,
) -> np.ndarray:
    """Indices of ``k`` points drawn by ``weight``, each at least ``min_dist`` from the others
    and from ``avoid`` (the distance shrinks by 20 % per pass until ``k`` are found)."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    pool = np.flatnonzero(weight > 0)
    if len(pool) < k:
        raise InputError(
            f"`{what}` must be at most the number of road nodes in populated areas "
            f"({len(pool)}), got {k}; ask for fewer sites or a smaller `street_spacing_m`"
        )
    p = weight[pool] / weight[pool].sum()
    order = pool[rng.choice(len(pool), size=min(len(pool), 30 * k + 100), replace=False, p=p)]
    chosen: list[int] = []
    taken = np.zeros(len(xs), dtype=bool)
    fixed = np.zeros((0, 2)) if avoid is None else avoid
    dist = min_dist
    while len(chosen) < k:
        for i in order:
            if taken[i]:
                continue
            here = np.array([xs[i], ys[i]])
            pts = np.vstack([fixed, np.column_stack([xs[chosen], ys[chosen]])])
            if len(pts) and np.min(np.hypot(*(pts - here).T)) < dist:
                continue
            chosen.append(int(i))
            taken[i] = True
            if len(chosen) == k:
                break
        dist *= 0.8
        if dist < 1.0:
            order = pool[~taken[pool]]
    return np.array(chosen, dtype=np.int64)


def _street_names_at(nodes: np.ndarray, edges: Edges, names: list[str]) -> list[list[str]]:
    """Names of the streets meeting at each node, major classes first."""
    out = []
    for n in nodes.tolist():
        at = np.flatnonzero(((edges.u == n) | (edges.v == n)) & (edges.name >= 0))
        at = at[np.argsort(edges.cls[at], kind="stable")]
        seen: list[str] = []
        for i in at.tolist():
            name = names[edges.name[i]]
            if name not in seen:
                seen.append(name)
        out.append(seen)
    return out


def _sites_frame(
    prefix: str,
    names: list[str],
    existing: bool,
    units: list[str],
    lon: np.ndarray,
    lat: np.ndarray,
) -> gpd.GeoDataFrame:
    width = max(2, len(str(len(names))))
    return gpd.GeoDataFrame(
        {
            "site_id": [f"{prefix}{i + 1:0{width}d}" for i in range(len(names))],
            "name": names,
            "existing": np.full(len(names), existing, dtype=bool),
            "unit_id": units,
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _dedupe(names: list[str], ending: str) -> list[str]:
    """Number repeated names before their ``ending``: 地块, 2号地块, 3号地块..."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name.removesuffix(ending)}{seen[name]}号{ending}"
        out.append(name)
    return out


def place_sites(
    rng: np.random.Generator,
    street: Street,
    smooth: np.ndarray,
    cell: float,
    nature: Nature,
    units: Units,
    n_existing: int,
    n_candidates: int,
    lonlat: LonLat,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Existing clinics at drivable road nodes in dense areas, candidates in populated ones,
    each set back 15–40 m from the street (module docstring)."""
    e = street.edges
    drivable = np.zeros(len(street.x), dtype=bool)
    streets = e.cls <= RESIDENTIAL
    drivable[e.u[streets]] = drivable[e.v[streets]] = True
    n = smooth.shape[0]
    r_idx = np.clip((street.y / cell).astype(np.int64), 0, n - 1)
    c_idx = np.clip((street.x / cell).astype(np.int64), 0, n - 1)
    dens = np.where(drivable, smooth[r_idx, c_idx], 0.0)
    area = np.count_nonzero(smooth) * cell * cell
    dense = np.where(dens >= BUILT_UP_PER_HA, dens, 0.0)
    ex_nodes = _spread(
        rng,
        street.x,
        street.y,
        dense**2 if np.count_nonzero(dense) >= n_existing else dens**2,
        n_existing,
        0.8 * math.sqrt(area / max(n_existing, 1)),
        what="n_existing",
    )
    suburb = np.where(dens >= SUBURB_PER_HA, dens, 0.0)
    ca_nodes = _spread(
        rng,
        street.x,
        street.y,
        suburb if np.count_nonzero(suburb) >= n_candidates else dens,
        n_candidates,
        0.55 * math.sqrt(area / n_candidates),
        avoid=np.column_stack([street.x[ex_nodes], street.y[ex_nodes]]),
        what="n_candidates",
    )
    water, park = nature.river_polygon(), nature.park_polygon()

    def place(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        angle = rng.uniform(0, 2 * np.pi, len(nodes))
        step = rng.uniform(15.0, 40.0, len(nodes))
        px = street.x[nodes] + step * np.cos(angle)
        py = street.y[nodes] + step * np.sin(angle)
        bad = shapely.contains_xy(water, px, py) | shapely.contains_xy(park, px, py)
        return np.where(bad, street.x[nodes], px), np.where(bad, street.y[nodes], py), angle

    unit_ids = units.frame["unit_id"].tolist()
    unit_names = units.frame["name"].tolist()
    ex_x, ex_y, _ = place(ex_nodes)
    ex_unit = units.containing(ex_x, ex_y, cell)
    ex_names: list[str] = []
    for unit, near in zip(ex_unit, _street_names_at(ex_nodes, e, street.names), strict=True):
        stem = unit_names[unit]
        nth = sum(1 for u in ex_unit[: len(ex_names)] if u == unit)
        if nth == 0:
            ex_names.append(f"{stem}社区卫生服务中心")
        elif near:  # a second centre in the unit: named by its street
            ex_names.append(f"{stem}{near[0]}社区卫生服务中心")
        else:
            ex_names.append(f"{stem}第{ORDINALS[min(nth, 9)] or '一'}社区卫生服务中心")
    ca_x, ca_y, ca_angle = place(ca_nodes)
    ca_unit = units.containing(ca_x, ca_y, cell)
    ca_names = []
    for unit, near, angle in zip(
        ca_unit, _street_names_at(ca_nodes, e, street.names), ca_angle, strict=True
    ):
        quad = QUADRANTS[int((angle % (2 * np.pi)) // (np.pi / 2))]
        if len(near) >= 2:
            ca_names.append(f"{near[0]}与{near[1]}交叉口{quad}地块")
        elif near:
            ca_names.append(f"{near[0]}{quad}侧地块")
        else:
            ca_names.append(f"{unit_names[unit]}{quad}部地块")
    existing = _sites_frame(
        "E",
        _dedupe(ex_names, "社区卫生服务中心"),
        True,
        [unit_ids[u] for u in ex_unit],
        *lonlat(ex_x, ex_y),
    )
    candidates = _sites_frame(
        "C", _dedupe(ca_names, "地块"), False, [unit_ids[u] for u in ca_unit], *lonlat(ca_x, ca_y)
    )
    return existing, candidates
