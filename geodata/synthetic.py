"""A deterministic synthetic city for the offline demo, tests and scale benchmarks.

A population grid (residents per cell, a few Gaussian centres plus suburbs, a river and a park
left empty), an osmnx-style street network (arterials on a ~1 km grid, local streets, footpaths
in the park, a motorway bypass with ramps, a few one-way arterial pairs, bridges over the river),
existing clinics, candidate sites and sub-district polygons — all from one seed, near Hohhot
(UTM zone 49N), with Chinese names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer

from siting_errors import InputError

__all__ = ["SyntheticCity", "save_synthetic_city", "synthetic_city"]

logger = logging.getLogger(__name__)

CRS_UTM = CRS.from_epsg(32649)
_CENTRE_LONLAT = (111.70, 40.82)
_STREET_NAMES = [
    "新华大街",
    "中山路",
    "人民路",
    "解放路",
    "大学路",
    "锡林路",
    "昭乌达路",
    "兴安路",
    "呼伦贝尔路",
    "鄂尔多斯大街",
    "海拉尔大街",
    "成吉思汗大街",
    "乌兰察布路",
    "健康街",
    "团结路",
    "和平路",
    "光明路",
    "建设路",
]
_UNIT_NAMES = [
    "新华街道",
    "中山街道",
    "海拉尔街道",
    "锡林街道",
    "昭君街道",
    "成吉思汗街道",
    "东风街道",
    "兴安街道",
    "人民街道",
    "大学街道",
    "光明街道",
    "团结街道",
    "和平街道",
    "建设街道",
    "长乐街道",
    "丰州街道",
    "金桥街道",
    "如意街道",
    "通道街道",
    "石羊桥街道",
    "巧报街道",
    "鼓楼街道",
    "保合少街道",
    "乌素图街道",
]


@dataclass(frozen=True, eq=False)
class SyntheticCity:
    """The generated city (see the module docstring)."""

    population: np.ndarray
    transform: Affine
    crs: CRS
    roads: nx.MultiDiGraph
    existing: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    seed: int
    params: dict


def _population_grid(
    rng: np.random.Generator,
    n_rows: int,
    n_cols: int,
    cell: float,
    total: int,
    river_row: float,
    park: tuple[float, float, float],
) -> np.ndarray:
    yy, xx = np.mgrid[0:n_rows, 0:n_cols].astype(np.float64)
    x = (xx + 0.5) * cell
    y = (yy + 0.5) * cell
    w, h = n_cols * cell, n_rows * cell
    density = np.zeros((n_rows, n_cols))
    n_centres = 4
    for k in range(n_centres):
        cx = w * rng.uniform(0.25, 0.75)
        cy = h * rng.uniform(0.25, 0.75)
        sigma = min(w, h) * rng.uniform(0.06, 0.14) * (1.6 if k == 0 else 1.0)
        amp = rng.uniform(0.5, 1.0) * (2.0 if k == 0 else 1.0)
        density += amp * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    density += 0.04 * np.exp(-((x - w / 2) ** 2 + (y - h / 2) ** 2) / (2 * (0.35 * w) ** 2))
    density *= rng.uniform(0.6, 1.4, size=density.shape)
    river = np.abs(y - river_row) < cell * 1.5
    px, py, pr = park
    parkmask = (x - px) ** 2 + (y - py) ** 2 < pr**2
    density[river | parkmask] = 0.0
    density[density < density.max() * 0.01] = 0.0
    # exact integer total by largest remainder
    raw = density / density.sum() * total
    base = np.floor(raw)
    short = int(total - base.sum())
    if short > 0:
        frac = (raw - base).ravel()
        top = np.argpartition(-frac, short - 1)[:short]
        base.ravel()[top] += 1
    # grid rows go north -> south: flip so row 0 is the northern edge
    return base[::-1].astype(np.float32)


def synthetic_city(
    seed: int = 0,
    *,
    population: int = 300_000,
    cell_size: float = 100.0,
    extent_km: float | None = None,
    street_spacing_m: float | None = None,
    n_existing: int | None = None,
    n_candidates: int | None = None,
    n_subdistricts: int | None = None,
) -> SyntheticCity:
    """Generate the city. Same arguments → identical arrays and graph.

    Defaults scale with ``population``: extent ≈ 10 km for 300,000 residents (√ scaling), local
    streets every 200 m (so a 1,000,000-resident city with ``street_spacing_m=60`` has over
    100,000 nodes), about one existing clinic per 40,000 residents, one candidate per 5,000 and
    one sub-district per 30,000.
    """
    if population < 1000:
        raise InputError(f"`population` must be at least 1000, got {population}")
    if cell_size <= 0:
        raise InputError(f"`cell_size` must be > 0 metres, got {cell_size}")
    rng = np.random.default_rng(seed)
    extent = (extent_km or 10.0 * np.sqrt(population / 300_000)) * 1000.0
    spacing = street_spacing_m or 200.0
    n_cells = max(int(round(extent / cell_size)), 4)
    extent = n_cells * cell_size
    river_y = extent * 0.62
    park = (extent * 0.35, extent * 0.3, extent * 0.06)
    pop = _population_grid(rng, n_cells, n_cells, cell_size, population, river_y, park)
    to_ll = Transformer.from_crs(CRS_UTM, "EPSG:4326", always_xy=True)
    from_ll = Transformer.from_crs("EPSG:4326", CRS_UTM, always_xy=True)
    cx, cy = from_ll.transform(*_CENTRE_LONLAT)
    x0, y0 = round(cx - extent / 2, -2), round(cy - extent / 2, -2)
    transform = Affine(cell_size, 0, x0, 0, -cell_size, y0 + extent)

    roads = _streets(rng, extent, spacing, x0, y0, river_y, park, to_ll)
    # sites
    pop_rows, pop_cols = np.nonzero(pop > 0)
    wts = pop[pop_rows, pop_cols].astype(np.float64)
    cxs = x0 + (pop_cols + 0.5) * cell_size
    cys = y0 + extent - (pop_rows + 0.5) * cell_size
    n_ex = n_existing if n_existing is not None else max(2, population // 40_000)
    n_ca = n_candidates if n_candidates is not None else max(10, population // 5_000)
    ex_xy = _spread(rng, cxs, cys, wts**2, n_ex, min_dist=extent / (2.5 * np.sqrt(n_ex)))
    ca_xy = _spread(rng, cxs, cys, wts, n_ca, min_dist=extent / (2.2 * np.sqrt(n_ca)))
    existing = _sites(ex_xy, "E", "社区卫生服务中心", True, to_ll)
    candidates = _sites(ca_xy, "C", "候选点", False, to_ll)
    n_units = n_subdistricts or max(4, min(len(_UNIT_NAMES), population // 37_500))
    units = _units(rng, x0, y0, extent, n_units, cxs, cys, wts)
    params = {
        "population": population,
        "cell_size": cell_size,
        "extent_m": extent,
        "street_spacing_m": spacing,
        "n_existing": n_ex,
        "n_candidates": n_ca,
        "n_subdistricts": n_units,
    }
    return SyntheticCity(pop, transform, CRS_UTM, roads, existing, candidates, units, seed, params)


def _spread(
    rng: np.random.Generator,
    xs: np.ndarray,
    ys: np.ndarray,
    weight: np.ndarray,
    k: int,
    min_dist: float,
) -> np.ndarray:
    """``k`` weighted-random populated cells at least ``min_dist`` apart (relaxed if needed)."""
    order = rng.choice(
        len(xs), size=min(len(xs), 20 * k + 50), replace=False, p=weight / weight.sum()
    )
    chosen: list[tuple[float, float]] = []
    dist = min_dist
    while len(chosen) < k:
        for i in order:
            if len(chosen) >= k:
                break
            if all((xs[i] - a) ** 2 + (ys[i] - b) ** 2 >= dist**2 for a, b in chosen):
                chosen.append((xs[i], ys[i]))
        dist *= 0.7
    return np.array(chosen)


def _sites(
    xy: np.ndarray, prefix: str, suffix: str, existing: bool, to_ll: Transformer
) -> gpd.GeoDataFrame:
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    names = [
        f"{_UNIT_NAMES[i % len(_UNIT_NAMES)][:-2]}{suffix}{i // len(_UNIT_NAMES) or ''}"
        for i in range(len(xy))
    ]
    return gpd.GeoDataFrame(
        {"site_id": [f"{prefix}{i}" for i in range(len(xy))], "name": names, "existing": existing},
        geometry=gpd.points_from_xy(np.round(lon, 7), np.round(lat, 7)),
        crs="EPSG:4326",
    )


def _units(
    rng: np.random.Generator,
    x0: float,
    y0: float,
    extent: float,
    n: int,
    xs: np.ndarray,
    ys: np.ndarray,
    w: np.ndarray,
) -> gpd.GeoDataFrame:
    # the first unit is centred on the densest cell with no other seed nearby, so the centre
    # forms one large sub-district (R1's "more than 100,000" case) and the edges small ones
    core = int(np.argmax(w))
    far = np.flatnonzero(np.hypot(xs - xs[core], ys - ys[core]) > 0.28 * extent)
    pool = far if len(far) >= n - 1 else np.setdiff1d(np.arange(len(xs)), [core])
    idx = np.concatenate([[core], rng.choice(pool, size=n - 1, replace=False)])
    seeds = shapely.multipoints(np.column_stack([xs[idx], ys[idx]]))
    frame = shapely.box(x0, y0, x0 + extent, y0 + extent)
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    cells = shapely.intersection(cells, frame)
    # order cells as their seeds
    seed_pts = shapely.points(np.column_stack([xs[idx], ys[idx]]))
    tree = shapely.STRtree(cells)
    owner = tree.query(seed_pts, predicate="intersects")
    by_seed = {int(a): int(b) for a, b in zip(owner[0], owner[1], strict=True)}
    polys = [cells[by_seed[i]] for i in range(n)]
    g = gpd.GeoDataFrame(
        {
            "unit_id": [f"U{i:02d}" for i in range(n)],
            "name": [_UNIT_NAMES[i % len(_UNIT_NAMES)] for i in range(n)],
            "kind": "subdistrict",
        },
        geometry=polys,
        crs=CRS_UTM,
    )
    g = g.to_crs("EPSG:4326")
    g["geometry"] = shapely.set_precision(g.geometry.to_numpy(), 1e-7)
    return g


def _streets(
    rng: np.random.Generator,
    extent: float,
    spacing: float,
    x0: float,
    y0: float,
    river_y: float,
    park: tuple[float, float, float],
    to_ll: Transformer,
) -> nx.MultiDiGraph:
    n = int(extent // spacing) + 1
    ii, jj = np.mgrid[0:n, 0:n]
    gx = jj * spacing + rng.uniform(-0.08, 0.08, size=(n, n)) * spacing
    gy = ii * spacing + rng.uniform(-0.08, 0.08, size=(n, n)) * spacing
    gx = np.clip(gx, 0, extent)
    gy = np.clip(gy, 0, extent)
    art_every = max(int(round(1000.0 / spacing)), 2)
    node_id = (ii * n + jj + 1).astype(np.int64)
    px, py, pr = park
    in_park = (gx - px) ** 2 + (gy - py) ** 2 < pr**2
    # horizontal edges (i, j) -> (i, j+1); vertical (i, j) -> (i+1, j)
    edges = []
    for horizontal in (True, False):
        a_i, a_j = ii[:, :-1], jj[:, :-1]
        b_i, b_j = ii[:, 1:], jj[:, 1:]
        if not horizontal:
            a_i, a_j, b_i, b_j = ii[:-1, :], jj[:-1, :], ii[1:, :], jj[1:, :]
        line = a_i if horizontal else a_j  # the row (or column) the street runs along
        a_i, a_j, b_i, b_j, line = (m.ravel() for m in (a_i, a_j, b_i, b_j, line))
        arterial = line % art_every == 0
        ya, yb = gy[a_i, a_j], gy[b_i, b_j]
        crosses_river = (np.minimum(ya, yb) < river_y) & (np.maximum(ya, yb) > river_y)
        keep = ~crosses_river | (arterial & ((line // art_every) % 2 == 0))
        parky = in_park[a_i, a_j] & in_park[b_i, b_j]
        hw = np.where(
            arterial, np.where((line // art_every) % 2 == 0, "primary", "secondary"), "residential"
        ).astype(object)
        hw[(line % art_every == art_every // 2) & ~arterial] = "tertiary"
        hw[parky & ~arterial] = "footway"
        for k in np.flatnonzero(keep):
            edges.append(
                (
                    int(node_id[a_i[k], a_j[k]]),
                    int(node_id[b_i[k], b_j[k]]),
                    hw[k],
                    bool(horizontal),
                    int(line[k]),
                )
            )
    lon, lat = to_ll.transform(x0 + gx.ravel(), y0 + gy.ravel())
    g = nx.MultiDiGraph(crs="EPSG:4326", name="synthetic city")
    g.add_nodes_from(
        (int(nid), {"x": float(lo), "y": float(la), "osmid": int(nid)})
        for nid, lo, la in zip(node_id.ravel(), lon, lat, strict=True)
    )
    xy = {
        int(nid): (float(a), float(b))
        for nid, a, b in zip(node_id.ravel(), gx.ravel(), gy.ravel(), strict=True)
    }
    bulk = []
    for eid, (u, v, hw, horizontal, line) in enumerate(edges):
        (ax, ay), (bx, by) = xy[u], xy[v]
        length = float(np.hypot(bx - ax, by - ay))
        name = _STREET_NAMES[(line * 7 + (0 if horizontal else 3)) % len(_STREET_NAMES)]
        attrs = {
            "osmid": 10_000_000 + eid,
            "highway": hw,
            "length": round(length, 3),
            "name": name,
            "oneway": False,
            "reversed": False,
        }
        if hw == "primary":
            attrs["maxspeed"] = "60"
        # one-way pairs: every 4th arterial line, alternating direction
        if hw in ("primary", "secondary") and (line // art_every) % 4 == 1:
            attrs["oneway"] = True
            bulk.append((u, v, attrs) if (line // art_every) % 8 == 1 else (v, u, attrs))
            continue
        bulk.append((u, v, attrs))
        bulk.append((v, u, dict(attrs, reversed=True)))
    g.add_edges_from(bulk)
    # a motorway bypass along the southern edge with two ramps
    mway = [(-1_000_000 - k) for k in range(n)]
    mlon, mlat = to_ll.transform(x0 + jj[0] * spacing, np.full(n, y0 - 300.0))
    g.add_nodes_from(
        (m, {"x": float(a), "y": float(b), "osmid": m})
        for m, a, b in zip(mway, mlon, mlat, strict=True)
    )
    for k in range(n - 1):
        attrs = {
            "osmid": 20_000_000 + k,
            "highway": "motorway",
            "length": float(spacing),
            "name": "京藏高速",
            "oneway": False,
            "maxspeed": "100",
            "reversed": False,
        }
        g.add_edge(mway[k], mway[k + 1], **attrs)
        g.add_edge(mway[k + 1], mway[k], **dict(attrs, reversed=True))
    for k in (art_every, n - 1 - art_every):
        if 0 <= k < n:
            attrs = {
                "osmid": 30_000_000 + k,
                "highway": "motorway_link",
                "length": 300.0,
                "name": "匝道",
                "oneway": False,
                "reversed": False,
            }
            g.add_edge(mway[k], int(node_id[0, k]), **attrs)
            g.add_edge(int(node_id[0, k]), mway[k], **dict(attrs, reversed=True))
    return g


def save_synthetic_city(city: SyntheticCity, directory: str | Path) -> dict[str, Path]:
    """Write ``population.tif``, ``roads.graphml``, ``existing.geojson``, ``candidates.geojson``
    and ``subdistricts.geojson``; return their paths."""
    import osmnx as ox
    import rasterio

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out / name
        for name in (
            "population.tif",
            "roads.graphml",
            "existing.geojson",
            "candidates.geojson",
            "subdistricts.geojson",
        )
    }
    data = np.where(city.population > 0, city.population, -99999).astype(np.float32)
    with rasterio.open(
        paths["population.tif"],
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="float32",
        crs=city.crs,
        transform=city.transform,
        nodata=-99999,
        compress="deflate",
    ) as dst:
        dst.write(data, 1)
    ox.save_graphml(city.roads, paths["roads.graphml"])
    city.existing.to_file(paths["existing.geojson"], driver="GeoJSON")
    city.candidates.to_file(paths["candidates.geojson"], driver="GeoJSON")
    city.subdistricts.to_file(paths["subdistricts.geojson"], driver="GeoJSON")
    return paths
