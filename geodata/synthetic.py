"""A deterministic synthetic city for the offline demo, tests and scale benchmarks.

Population, streets, clinics and sub-districts generated from a seed, with no outside data.
The city lies near Hohhot (centre about 111.70 E, 40.82 N; UTM zone 49N, EPSG:32649) so its
coordinates look real. It is built in a local metric frame ``[0, E] × [0, E]`` (east, north):

* **Population** — residents per cell (default 100 m) from a dense core (two Gaussians), three
  secondary centres, suburbs, villages and a thin sprawl, textured by block- and cell-level
  log-normal noise; no cell holds more than 1,000 residents per hectare; cells in the river and
  the park are empty; the grid sums to exactly ``population`` (largest-remainder rounding).
* **Roads** — an osmnx-style unsimplified ``MultiDiGraph`` (node keys = ``osmid``; ``x``/``y``
  longitude/latitude; ``street_count``). A jittered, gently warped street lattice: arterials every
  ~1 km alternate ``primary`` (``maxspeed`` "60") and ``secondary`` (half with "50"), ``tertiary``
  collectors half-way between, ``residential`` streets every ``street_spacing_m`` where the
  smoothed density is at least 20 residents/ha, on every other line down to 3/ha, none below (and
  no collectors below 0.5/ha). A meandering river (小黑河) is crossed only on bridges
  (``bridge="yes"``): every other arterial, one footbridge, and the motorway; a park (青城公园)
  has ``footway`` paths and no street through it. A ``motorway`` ring (two one-way carriageways,
  "100") with one-way ``motorway_link`` ramps at interchanges; one-way couplets (an arterial and
  the next street, opposite directions) in the dense core. Two-way streets are two directed edges
  (the second ``reversed=True``), one-way streets one; ``length`` is the great-circle distance
  between the rounded node coordinates, as osmnx computes it. ``node_spacing_m`` adds shape nodes
  along streets (as in an unsimplified OSM graph), which is how a benchmark reaches 100,000+
  nodes. The lattice is cut to its largest connected component, so the walking network (motorways
  excluded) is connected; one-way edges that would leave drivers stranded are made two-way.
* **Sites** — existing community health service centres in dense areas (one per ~40,000
  residents) and candidate sites near drivable road nodes (one per ~5,000), spread apart.
* **Sub-districts** (街道) — rectangles splitting the populated bounding box recursively with
  target populations from a log-normal spread with one dominant unit, so that (for the default
  300,000-resident city) some hold under 30,000 and one over 100,000 residents (rule R1's band
  edges). Ids ``U01``... in order of distance from the city centre.
* **Features** — the river and park polygons, for maps and checks.

Same arguments → identical arrays, graph (node and edge order and attributes) and frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from scipy import ndimage
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.special import ndtri

from siting_errors import InputError

__all__ = ["SyntheticCity", "save_synthetic_city", "synthetic_city"]

logger = logging.getLogger(__name__)

#: the projected CRS of the population grid (WGS 84 / UTM zone 49N)
UTM_CRS = CRS.from_epsg(32649)
#: the city centre (longitude, latitude), near Hohhot
CENTRE_LONLAT = (111.70, 40.82)
#: the most residents a hectare may hold
MAX_PER_HECTARE = 1000.0
#: nodata value of the saved population raster (as WorldPop)
NODATA = -99999.0

_EARTH_RADIUS_M = 6_371_009.0  # osmnx.distance.EARTH_RADIUS_M
_COORD_DECIMALS = 7  # OSM stores coordinates to 1e-7 degree
_BUILT_UP_PER_HA = 20.0
_SUBURB_PER_HA = 3.0
_RURAL_PER_HA = 0.5

_CLASSES = (
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "footway",
    "motorway",
    "motorway_link",
)
_PRIMARY, _SECONDARY, _TERTIARY, _RESIDENTIAL, _FOOTWAY, _MOTORWAY, _LINK = range(7)
_SPEEDS: tuple[str | None, ...] = (None, "40", "50", "60", "100")
_KPH40, _KPH50, _KPH60, _KPH100 = 1, 2, 3, 4


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ARTERIAL_ROOTS = _words(
    """
    新华 中山 人民 解放 成吉思汗 锡林郭勒 呼伦贝尔 鄂尔多斯 乌兰察布 兴安 海拉尔 昭乌达 巴彦淖尔
    阿拉善 大学 如意 金桥 滨河 东风 胜利 团结 和平 光明 建设 通道 丰州 鼓楼 石羊桥 展览馆 车站
    民族 文化 昭君 青城 大召 赛罕 新城 回民 玉泉 巧报 乌素图 长乐宫 富强 振华 友谊 工农 学府
    体育 健康 南湖
    """
)
_LOCAL_ROOTS = _words(
    """
    花园 园林 桃园 杏园 丁香 紫薇 海棠 银河 锦绣 幸福 安居 和谐 康乐 春华 秋实 惠民 永安 金川
    宝山 云中 草原 敕勒川 阴山 大青山 黄河 哈达 百灵 马兰 丁家营 什拉门更 讨号板 西落凤 东瓦窑
    公主府 将军衙署 塞上 北垣 西顺城 通顺 太平 五塔寺
    """
)
_LOCAL_SUFFIXES = ("街", "巷", "路", "巷")
_ORDINALS = ("", "二", "三", "四", "五", "六", "七", "八", "九", "十")
_DIRECTIONS = ("", "东", "西", "南", "北")
_UNIT_NAMES = _words(
    """
    新华街道 中山街道 海拉尔街道 锡林街道 昭君街道 成吉思汗街道 东风街道 兴安街道 人民街道
    大学街道 光明街道 团结街道 和平街道 建设街道 长乐宫街道 丰州街道 金桥街道 如意街道 通道街道
    石羊桥街道 巧报街道 鼓楼街道 保合少街道 乌素图街道 攸攸板街道 小黑河街道 西菜园街道 环河街道
    钢铁路街道 石东路街道 工农兵路街道 振华街道 大学西路街道 南茶坊街道 太平街道 敕勒川街道
    金川街道 讨号板街道 鄂尔多斯街道 呼伦贝尔街道 乌兰察布街道 巴彦淖尔街道
    """
)
_QUADRANTS = ("东北", "西北", "西南", "东南")


@dataclass(frozen=True, eq=False)
class SyntheticCity:
    """A generated city (see the module docstring).

    Attributes:
        population: float32 ``rows × cols`` whole residents per cell, north-up.
        transform: the grid's north-up ``affine.Affine`` in ``crs``.
        crs: the grid's projected CRS (EPSG:32649).
        roads: osmnx-style ``networkx.MultiDiGraph`` (graph attribute ``crs="EPSG:4326"``).
        existing: existing clinics (``site_id``, ``name``, ``existing=True``, ``unit_id``),
            EPSG:4326 points.
        candidates: candidate sites (``site_id``, ``name``, ``existing=False``, ``unit_id``),
            EPSG:4326 points.
        subdistricts: sub-district polygons (``unit_id``, ``name``, ``kind="subdistrict"``),
            EPSG:4326.
        features: the river and the park (``kind``, ``name``), EPSG:4326 polygons.
        seed: the seed.
        params: every generation parameter as used (extent, spacings, counts), JSON-ready.
    """

    population: np.ndarray
    transform: Affine
    crs: CRS
    roads: nx.MultiDiGraph
    existing: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    features: gpd.GeoDataFrame
    seed: int
    params: dict[str, Any]

    def __repr__(self) -> str:
        return (
            f"SyntheticCity(seed={self.seed}, population={self.params['population']:,}, "
            f"extent={self.params['extent_m'] / 1000:g} km, nodes={self.roads.number_of_nodes()}, "
            f"edges={self.roads.number_of_edges()}, existing={len(self.existing)}, "
            f"candidates={len(self.candidates)}, subdistricts={len(self.subdistricts)})"
        )


# --------------------------------------------------------------------------- nature


@dataclass(frozen=True)
class _Nature:
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


def _nature(rng: np.random.Generator, extent: float, core: tuple[float, float]) -> _Nature:
    river_y = extent * rng.uniform(0.62, 0.67)
    angle = rng.uniform(1.15 * np.pi, 1.85 * np.pi)  # south of the core, away from the river
    dist = extent * rng.uniform(0.10, 0.14)
    return _Nature(
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


def _population(
    rng: np.random.Generator,
    n: int,
    cell: float,
    total: int,
    core: tuple[float, float],
    nature: _Nature,
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


# --------------------------------------------------------------------------- streets


@dataclass
class _Edges:
    """Undirected street edges (``oneway``: only ``u → v`` exists) over node indices."""

    u: np.ndarray
    v: np.ndarray
    cls: np.ndarray
    name: np.ndarray  # index into the names list, -1 unnamed
    way: np.ndarray  # way id (the edge's osmid)
    oneway: np.ndarray
    bridge: np.ndarray
    speed: np.ndarray  # index into _SPEEDS

    def __len__(self) -> int:
        return len(self.u)

    def take(self, index: np.ndarray) -> _Edges:
        return _Edges(*(getattr(self, f)[index] for f in _EDGE_FIELDS))

    @staticmethod
    def concat(parts: list[_Edges]) -> _Edges:
        return _Edges(*(np.concatenate([getattr(p, f) for p in parts]) for f in _EDGE_FIELDS))


_EDGE_FIELDS = ("u", "v", "cls", "name", "way", "oneway", "bridge", "speed")


def _edges(
    u: np.ndarray,
    v: np.ndarray,
    cls: np.ndarray | int,
    name: np.ndarray | int,
    way: np.ndarray | int,
    oneway: np.ndarray | bool,
    bridge: np.ndarray | bool,
    speed: np.ndarray | int,
) -> _Edges:
    m = len(u)

    def full(value: np.ndarray | float, dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (m,)).copy()

    return _Edges(
        np.asarray(u, dtype=np.int64),
        np.asarray(v, dtype=np.int64),
        full(cls, np.int8),
        full(name, np.int32),
        full(way, np.int64),
        full(oneway, np.bool_),
        full(bridge, np.bool_),
        full(speed, np.int8),
    )


class _Names:
    """Unique Chinese street names, each line of the lattice its own."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.names: list[str] = []
        self._arterial = list(rng.permutation(len(_ARTERIAL_ROOTS)))
        self._local = list(rng.permutation(len(_LOCAL_ROOTS)))
        self._n_arterial = 0
        self._n_local = 0

    def add(self, name: str) -> int:
        self.names.append(name)
        return len(self.names) - 1

    def arterial(self, cls: int) -> int:
        i, self._n_arterial = self._n_arterial, self._n_arterial + 1
        roots = len(_ARTERIAL_ROOTS)
        root = _ARTERIAL_ROOTS[self._arterial[i % roots]]
        turn = i // roots
        direction = _DIRECTIONS[turn % len(_DIRECTIONS)]
        extra = str(turn // len(_DIRECTIONS) + 1) if turn >= len(_DIRECTIONS) else ""
        suffix = {_PRIMARY: "大街", _SECONDARY: "路"}.get(cls, "街")
        return self.add(f"{root}{direction}{extra}{suffix}")

    def local(self, suffix_pick: int) -> int:
        i, self._n_local = self._n_local, self._n_local + 1
        roots = len(_LOCAL_ROOTS)
        root = _LOCAL_ROOTS[self._local[i % roots]]
        turn = i // roots
        ordinal = _ORDINALS[turn] if turn < len(_ORDINALS) else str(turn + 1)
        return self.add(f"{root}{ordinal}{_LOCAL_SUFFIXES[suffix_pick % len(_LOCAL_SUFFIXES)]}")


@dataclass
class _Street:
    """The street network before it becomes a graph: node coordinates (local metres) and edges."""

    x: np.ndarray
    y: np.ndarray
    edges: _Edges
    names: list[str]
    spacing: float
    arterial_every: int
    n_couplets: int
    n_interchanges: int


def _lattice_classes(n_lines: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Class of each lattice line and the arterial ordinal (−1 off arterials)."""
    off = (n_lines // 2) % k
    i = np.arange(n_lines)
    arterial = (i - off) % k == 0
    ordinal = np.where(arterial, (i - off) // k, -1)
    middle = (n_lines // 2 - off) // k
    cls = np.full(n_lines, _RESIDENTIAL, dtype=np.int8)
    if k >= 3:
        cls[(i - off) % k == k // 2] = _TERTIARY
    cls[arterial] = np.where((ordinal[arterial] - middle) % 2 == 0, _PRIMARY, _SECONDARY)
    return cls, ordinal


def _street_lattice(
    rng: np.random.Generator,
    extent: float,
    spacing: float,
    smooth: np.ndarray,
    cell: float,
    nature: _Nature,
    core: tuple[float, float],
    n_couplets: int,
    names: _Names,
) -> _Street:
    n_lines = max(3, round(extent / spacing))
    s = extent / n_lines
    k = max(2, round(1000.0 / s))
    pos = (np.arange(n_lines) + 0.5) * s
    line_cls, ordinal = _lattice_classes(n_lines, k)
    major = line_cls <= _TERTIARY

    # nodes: a warped, jittered lattice (arterials and collectors nearly straight)
    warp = min(0.25 * s, 60.0)
    waves = extent * rng.uniform(0.5, 0.9, 4)
    phase = rng.uniform(0, 2 * np.pi, 4)

    def bend(t: np.ndarray, a: int) -> np.ndarray:
        return warp * (
            np.sin(2 * np.pi * t / waves[a] + phase[a])
            + 0.5 * np.sin(2 * np.pi * t / waves[a + 1] + phase[a + 1])
        )

    jit = np.where(major, 0.03, 0.12) * s
    ii, jj = np.meshgrid(np.arange(n_lines), np.arange(n_lines), indexing="ij")
    x = pos[jj] + bend(pos[ii], 0) + rng.uniform(-1, 1, ii.shape) * jit[jj]
    y = pos[ii] + bend(pos[jj], 2) + rng.uniform(-1, 1, ii.shape) * jit[ii]
    x = np.clip(x, 0.5, extent - 0.5).ravel()
    y = np.clip(y, 0.5, extent - 0.5).ravel()
    node = (ii * n_lines + jj).astype(np.int64)

    # candidate edges: horizontal (along row i) then vertical (along column j)
    hu, hv = node[:, :-1].ravel(), node[:, 1:].ravel()
    vu, vv = node[:-1, :].ravel(), node[1:, :].ravel()
    u = np.concatenate([hu, vu])
    v = np.concatenate([hv, vv])
    m = len(hu)
    orient = np.concatenate([np.zeros(m, np.int8), np.ones(m, np.int8)])
    line = np.concatenate([ii[:, :-1].ravel(), jj[:-1, :].ravel()])
    along = np.concatenate([jj[:, :-1].ravel(), ii[:-1, :].ravel()])
    cls = line_cls[line].copy()

    rows = np.clip((y / cell).astype(np.int64), 0, smooth.shape[0] - 1)
    cols = np.clip((x / cell).astype(np.int64), 0, smooth.shape[1] - 1)
    node_density = smooth[rows, cols]
    density = np.maximum(node_density[u], node_density[v])
    local = cls == _RESIDENTIAL
    keep = ~local | (density >= _BUILT_UP_PER_HA) | ((density >= _SUBURB_PER_HA) & (line % 2 == 0))
    keep &= (cls != _TERTIARY) | (density >= _RURAL_PER_HA)  # no collectors in empty country

    segments = shapely.linestrings(
        np.stack([np.column_stack([x[u], y[u]]), np.column_stack([x[v], y[v]])], axis=1)
    )
    river = nature.river_polygon(grow=2.0)
    park = nature.park_polygon(grow=2.0)
    shapely.prepare(river)
    shapely.prepare(park)
    wet = shapely.intersects(segments, river)
    green = shapely.intersects(segments, park)

    # bridges: vertical edges on every other arterial column, and one footbridge
    bridge_line = np.zeros(n_lines, dtype=bool)
    arterial_cols = np.flatnonzero(ordinal >= 0)
    bridge_line[arterial_cols[ordinal[arterial_cols] % 2 == 0]] = True
    if bridge_line.sum() < 2 and len(arterial_cols) >= 2:
        bridge_line[arterial_cols[:2]] = True
    foot_line = -1
    locals_ = np.flatnonzero((line_cls == _RESIDENTIAL) & ~bridge_line)
    if len(locals_):
        foot_line = int(locals_[np.argmin(np.abs(pos[locals_] - core[0]))])
    vertical = orient == 1
    on_bridge = vertical & (bridge_line[line] | (line == foot_line))
    crossing = wet & on_bridge
    keep &= ~wet | on_bridge
    keep[crossing] = True
    cls[crossing & (line == foot_line)] = _FOOTWAY
    bridge = crossing.copy()  # tagged where it meets the river itself, not only its margin
    bridge[crossing] = shapely.intersects(segments[crossing], nature.river_polygon())

    # the park: paths only (a few lattice paths left out, so it is not a perfect grid)
    cls[green] = _FOOTWAY
    inside = nature.in_park(x[u], y[u]) & nature.in_park(x[v], y[v])
    keep[inside & (rng.uniform(size=len(u)) < 0.25)] = False

    # one-way couplets: an arterial and the next line, opposite directions, in the core
    oneway = np.zeros(len(u), dtype=bool)
    flip = np.zeros(len(u), dtype=bool)
    index = np.full((2, n_lines, n_lines - 1), -1, dtype=np.int64)
    index[orient, line, along] = np.arange(len(u))
    span = min(3 * k, max(k, (n_lines - 1) // 2))  # up to 3 arterial blocks
    best: list[tuple[float, int, int, int]] = []
    for o in (0, 1):
        for a in np.flatnonzero((ordinal >= 0) & (np.arange(n_lines) + 1 < n_lines)):
            if line_cls[a + 1] not in (_TERTIARY, _RESIDENTIAL):
                continue
            for b in range(int(a) % k, n_lines - span, k):
                ids = index[o, [a, a + 1], b : b + span].ravel()
                if (wet[ids] | green[ids]).any():
                    continue
                best.append((float(density[ids].sum()), o, int(a), b))
    best.sort(key=lambda t: (-t[0], t[1], t[2], t[3]))
    chosen: list[tuple[int, int, int]] = []
    for _, o, a, b in best:
        if len(chosen) >= n_couplets:
            break
        if sum(1 for c in chosen if c[0] == o) > len(chosen) // 2:
            continue  # alternate orientations
        if any(c[0] == o and abs(c[1] - a) < k for c in chosen):
            continue
        chosen.append((o, a, b))
        main = index[o, a, b : b + span]
        pair = index[o, a + 1, b : b + span]
        oneway[main] = True
        oneway[pair] = True
        flip[pair] = True
        keep[pair] = True
        cls[pair] = line_cls[a]

    # names per (orientation, line); way ids per (orientation, line, arterial block, kind)
    line_name = np.full((2, n_lines), -1, dtype=np.int32)
    pick = rng.integers(0, 10, size=(2, n_lines))
    for o in (0, 1):
        for i in range(n_lines):
            c = int(line_cls[i])
            if c != _RESIDENTIAL:
                line_name[o, i] = names.arterial(c)
            elif pick[o, i] < 7:
                line_name[o, i] = names.local(int(pick[o, i]))
    name = line_name[orient, line]
    for o, a, b in chosen:  # the couplet's second street is named as an arterial
        name[index[o, a + 1, b : b + span]] = names.arterial(int(line_cls[a]))
    name[cls == _FOOTWAY] = -1
    speed = np.zeros(len(u), dtype=np.int8)
    speed[cls == _PRIMARY] = _KPH60
    speed[(cls == _SECONDARY) & ((ordinal[line] // 2) % 2 == 0)] = _KPH50  # every other one
    for o, a, b in chosen:  # the couplet's second street as fast as the arterial
        speed[index[o, a + 1, b : b + span]] = speed[index[o, a, b : b + span]]
    key = (
        ((orient.astype(np.int64) * n_lines + line) * (n_lines // k + 2) + along // k) * 16
        + cls.astype(np.int64) * 2
        + bridge
    ) * 2 + oneway
    uu = np.where(flip, v, u)
    vv = np.where(flip, u, v)
    edges = _edges(uu, vv, cls, name, 0, oneway, bridge, speed).take(np.flatnonzero(keep))
    edges.way = np.unique(key[keep], return_inverse=True)[1].astype(np.int64)

    # the largest connected component only (so the walking network is connected)
    n_nodes = n_lines * n_lines
    adj = coo_array(
        (np.ones(len(edges), dtype=np.int8), (edges.u, edges.v)), shape=(n_nodes, n_nodes)
    )
    n_comp, label = connected_components(adj, directed=False)
    sizes = np.bincount(label[np.concatenate([edges.u, edges.v])], minlength=n_comp)
    giant = label == int(np.argmax(sizes))
    edges = edges.take(np.flatnonzero(giant[edges.u]))
    used = np.zeros(n_nodes, dtype=bool)
    used[edges.u] = used[edges.v] = True
    renumber = np.cumsum(used) - 1
    edges.u, edges.v = renumber[edges.u], renumber[edges.v]
    return _Street(x[used], y[used], edges, names.names, s, k, len(chosen), 0)


def _add_motorway(
    rng: np.random.Generator, street: _Street, extent: float, nature: _Nature, names: _Names
) -> None:
    """A ring of two one-way carriageways (right-hand traffic) with ramps to major streets."""
    phase = rng.uniform(0, 2 * np.pi)

    def ring(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = (0.38 * extent) / (np.abs(np.cos(t)) ** 3 + np.abs(np.sin(t)) ** 3) ** (1 / 3)
        r = r * (1 + 0.03 * np.sin(3 * t + phase))
        return extent / 2 + r * np.cos(t), extent / 2 + r * np.sin(t)

    fine = ring(np.linspace(0, 2 * np.pi, 2001))
    perimeter = float(np.hypot(np.diff(fine[0]), np.diff(fine[1])).sum())
    m = max(12, round(perimeter / 300.0))
    cx, cy = ring(2 * np.pi * np.arange(m) / m)
    tx, ty = np.roll(cx, -1) - np.roll(cx, 1), np.roll(cy, -1) - np.roll(cy, 1)
    norm = np.hypot(tx, ty)
    ox, oy = ty / norm * 12.0, -tx / norm * 12.0  # outward for a counter-clockwise ring
    base = len(street.x)
    outer = base + np.arange(m)
    inner = base + m + np.arange(m)
    ring_x = np.concatenate([cx + ox, cx - ox])
    ring_y = np.concatenate([cy + oy, cy - oy])
    x = np.concatenate([street.x, ring_x])
    y = np.concatenate([street.y, ring_y])

    # targets: nodes on arterials and collectors
    e = street.edges
    major = e.cls <= _TERTIARY
    target = np.unique(np.concatenate([e.u[major], e.v[major]]))
    if len(target) == 0:
        return
    tree = cKDTree(np.column_stack([x[target], y[target]]))
    river = nature.river_polygon(grow=2.0)
    park = nature.park_polygon(grow=2.0)
    n_ic = int(np.clip(round(perimeter / 2500.0), 4, 16))
    first = int(rng.integers(0, max(1, m // n_ic)))
    reach = max(2.5 * street.spacing, 400.0)
    ramps_u: list[int] = []
    ramps_v: list[int] = []
    for j in range(n_ic):
        i = (first + j * m // n_ic) % m
        dist, near = tree.query([cx[i], cy[i]], k=min(8, len(target)))
        for d, t in zip(np.atleast_1d(dist), np.atleast_1d(near), strict=True):
            if d > reach:
                break
            g = int(target[t])
            pairs = [
                (outer[i], g),
                (g, outer[(i + 1) % m]),
                (inner[i], g),
                (g, inner[(i - 1) % m]),
            ]
            lines = shapely.linestrings(
                [[(x[a], y[a]), (x[b], y[b])] for a, b in pairs]  # four short ramps
            )
            if shapely.intersects(lines, river).any() or shapely.intersects(lines, park).any():
                continue
            ramps_u.extend(int(a) for a, _ in pairs)
            ramps_v.extend(int(b) for _, b in pairs)
            break
    if len(ramps_u) < 8:  # fewer than two interchanges: no motorway
        return
    ring_u = np.concatenate([outer, np.roll(inner, -1)])  # outer m → m+1, inner m+1 → m
    ring_v = np.concatenate([np.roll(outer, -1), inner])
    segments = shapely.linestrings(
        np.stack(
            [np.column_stack([x[ring_u], y[ring_u]]), np.column_stack([x[ring_v], y[ring_v]])], 1
        )
    )
    bridge = shapely.intersects(segments, nature.river_polygon())
    side = np.repeat([0, 1], m)
    run = np.concatenate([[0], np.cumsum(bridge[1:] != bridge[:-1])])
    way0 = int(street.edges.way.max()) + 1 if len(street.edges) else 0
    ring_way = way0 + np.unique(side * (m + 1) + run, return_inverse=True)[1]
    name = names.add("绕城高速")
    motor = _edges(ring_u, ring_v, _MOTORWAY, name, ring_way, True, bridge, _KPH100)
    way1 = int(ring_way.max()) + 1
    n_ramps = len(ramps_u)
    link = _edges(
        np.array(ramps_u),
        np.array(ramps_v),
        _LINK,
        -1,
        way1 + np.arange(n_ramps),
        True,
        False,
        _KPH40,
    )
    street.x, street.y = x, y
    street.edges = _Edges.concat([street.edges, motor, link])
    street.n_interchanges = n_ramps // 4


def _subdivide(street: _Street, step: float) -> None:
    """Shape nodes along every edge so that no edge is longer than ``step`` metres."""
    e = street.edges
    x, y = street.x, street.y
    length = np.hypot(x[e.v] - x[e.u], y[e.v] - y[e.u])
    pieces = np.maximum(1, np.ceil(length / step)).astype(np.int64)
    extra = pieces - 1
    n0 = len(x)
    start_new = np.cumsum(extra) - extra  # first new node of each edge (relative)
    owner = np.repeat(np.arange(len(e)), extra)
    k = np.arange(int(extra.sum())) - start_new[owner] + 1
    t = k / pieces[owner]
    new_x = x[e.u[owner]] + t * (x[e.v[owner]] - x[e.u[owner]])
    new_y = y[e.u[owner]] + t * (y[e.v[owner]] - y[e.u[owner]])
    piece_of = np.repeat(np.arange(len(e)), pieces)
    j = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    first = n0 + start_new[piece_of]
    u = np.where(j == 0, e.u[piece_of], first + j - 1)
    v = np.where(j == pieces[piece_of] - 1, e.v[piece_of], first + j)
    out = e.take(piece_of)
    out.u, out.v = u, v
    street.x = np.concatenate([x, new_x])
    street.y = np.concatenate([y, new_y])
    street.edges = out


def _unstrand_drivers(n_nodes: int, edges: _Edges) -> int:
    """Make one-way edges two-way until every drivable node is in the largest strongly
    connected component of the driving network (or no one-way edge touches the rest)."""
    changed = 0
    for _ in range(20):
        drive = edges.cls != _FOOTWAY
        a, b, one = edges.u[drive], edges.v[drive], edges.oneway[drive]
        src = np.concatenate([a, b[~one]])
        dst = np.concatenate([b, a[~one]])
        adj = coo_array((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
        _, label = connected_components(adj, directed=True, connection="strong")
        nodes = np.unique(np.concatenate([a, b]))
        big = int(np.argmax(np.bincount(label[nodes])))
        out = label != big
        fix = drive & edges.oneway & (out[edges.u] | out[edges.v])
        if not fix.any():
            break
        edges.oneway[fix] = False
        changed += int(fix.sum())
    return changed


def _great_circle(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """osmnx.distance.great_circle (haversine, metres), same operations in the same order."""
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    x1, x2 = np.deg2rad(lon1), np.deg2rad(lon2)
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    return 2 * np.arcsin(np.sqrt(np.minimum(1, h))) * _EARTH_RADIUS_M


_NODE_ID0 = 1_000_001
_WAY_ID0 = 50_000_001


def _graph(lon: np.ndarray, lat: np.ndarray, edges: _Edges, names: list[str]) -> nx.MultiDiGraph:
    """The osmnx-style graph, built in bulk."""
    n = len(lon)
    node_id = np.arange(n, dtype=np.int64) + _NODE_ID0
    count = np.bincount(np.concatenate([edges.u, edges.v]), minlength=n)
    graph = nx.MultiDiGraph(crs="EPSG:4326", name="synthetic city")
    graph.add_nodes_from(
        (i, {"y": la, "x": lo, "street_count": c, "osmid": i})
        for i, la, lo, c in zip(
            node_id.tolist(), lat.tolist(), lon.tolist(), count.tolist(), strict=True
        )
    )
    m = len(edges)
    two = np.flatnonzero(~edges.oneway)
    which = np.concatenate([np.arange(m), two])
    rev = np.concatenate([np.zeros(m, dtype=bool), np.ones(len(two), dtype=bool)])
    order = np.lexsort((rev, which))
    which, rev = which[order], rev[order]
    src = np.where(rev, edges.v[which], edges.u[which])
    dst = np.where(rev, edges.u[which], edges.v[which])
    # edge keys: 0, or 1, 2, ... for parallel edges (none by construction, but be general)
    pair = src * n + dst
    by_pair = np.argsort(pair, kind="stable")
    sorted_pair = pair[by_pair]
    group_start = np.flatnonzero(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]])
    rank = np.arange(len(pair)) - np.repeat(group_start, np.diff(np.r_[group_start, len(pair)]))
    key = np.empty(len(pair), dtype=np.int64)
    key[by_pair] = rank
    length = _great_circle(lat[src], lon[src], lat[dst], lon[dst])
    columns = (
        node_id[src].tolist(),
        node_id[dst].tolist(),
        key.tolist(),
        (edges.way[which] + _WAY_ID0).tolist(),
        edges.cls[which].tolist(),
        edges.name[which].tolist(),
        edges.oneway[which].tolist(),
        rev.tolist(),
        length.tolist(),
        edges.bridge[which].tolist(),
        edges.speed[which].tolist(),
    )
    graph.add_edges_from(_edge_records(columns, names))  # a generator: one dict at a time
    return graph


def _edge_records(columns: tuple[list, ...], names: list[str]) -> Iterator[tuple]:
    """``(u, v, key, attributes)`` per directed edge, osmnx's attribute names and types."""
    for s, t, q, w, c, nm, one, r, ln, br, sp in zip(*columns, strict=True):
        data: dict[str, Any] = {
            "osmid": w,
            "highway": _CLASSES[c],
            "oneway": one,
            "reversed": r,
            "length": ln,
        }
        if nm >= 0:
            data["name"] = names[nm]
        if sp:
            data["maxspeed"] = _SPEEDS[sp]
        if br:
            data["bridge"] = "yes"
        yield s, t, q, data


# --------------------------------------------------------------------------- sub-districts


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
class _Units:
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


_LonLat = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _subdistricts(
    rng: np.random.Generator,
    grid: np.ndarray,
    cell: float,
    n_units: int,
    core: tuple[float, float],
    lonlat: _LonLat,
) -> _Units:
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
        _UNIT_NAMES[i]
        if i < len(_UNIT_NAMES)
        else f"{_UNIT_NAMES[i % len(_UNIT_NAMES)][:-2]}{i // len(_UNIT_NAMES) + 1}街道"
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
    return _Units(frame, rects, population)


# --------------------------------------------------------------------------- sites


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


def _street_names_at(nodes: np.ndarray, edges: _Edges, names: list[str]) -> list[list[str]]:
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


def _sites(
    rng: np.random.Generator,
    street: _Street,
    smooth: np.ndarray,
    cell: float,
    nature: _Nature,
    units: _Units,
    n_existing: int,
    n_candidates: int,
    lonlat: _LonLat,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Existing clinics at drivable road nodes in dense areas, candidates in populated ones,
    each set back 15–40 m from the street (module docstring)."""
    e = street.edges
    drivable = np.zeros(len(street.x), dtype=bool)
    streets = e.cls <= _RESIDENTIAL
    drivable[e.u[streets]] = drivable[e.v[streets]] = True
    n = smooth.shape[0]
    r_idx = np.clip((street.y / cell).astype(np.int64), 0, n - 1)
    c_idx = np.clip((street.x / cell).astype(np.int64), 0, n - 1)
    dens = np.where(drivable, smooth[r_idx, c_idx], 0.0)
    area = np.count_nonzero(smooth) * cell * cell
    dense = np.where(dens >= _BUILT_UP_PER_HA, dens, 0.0)
    ex_nodes = _spread(
        rng,
        street.x,
        street.y,
        dense**2 if np.count_nonzero(dense) >= n_existing else dens**2,
        n_existing,
        0.8 * math.sqrt(area / max(n_existing, 1)),
        what="n_existing",
    )
    suburb = np.where(dens >= _SUBURB_PER_HA, dens, 0.0)
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
            ex_names.append(f"{stem}第{_ORDINALS[min(nth, 9)] or '一'}社区卫生服务中心")
    ca_x, ca_y, ca_angle = place(ca_nodes)
    ca_unit = units.containing(ca_x, ca_y, cell)
    ca_names = []
    for unit, near, angle in zip(
        ca_unit, _street_names_at(ca_nodes, e, street.names), ca_angle, strict=True
    ):
        quad = _QUADRANTS[int((angle % (2 * np.pi)) // (np.pi / 2))]
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


# --------------------------------------------------------------------------- the city


def _check(name: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise InputError(f"`{name}` must be {expected}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def synthetic_city(
    seed: int = 0,
    *,
    population: int = 300_000,
    cell_size: float = 100.0,
    extent_km: float | None = None,
    street_spacing_m: float = 200.0,
    node_spacing_m: float | None = None,
    n_existing: int | None = None,
    n_candidates: int | None = None,
    n_subdistricts: int | None = None,
    motorway: bool = True,
) -> SyntheticCity:
    """Generate a city (module docstring). Same arguments → identical city, bit for bit.

    Args:
        seed: non-negative integer seed.
        population: residents; the grid sums to exactly this.
        cell_size: population cell size (metres).
        extent_km: side of the square city (km); default 10 km × √(population / 300,000),
            which keeps the same density pattern at every size.
        street_spacing_m: spacing of local streets in the built-up area (arterials every
            ~1 km, collectors half-way).
        node_spacing_m: if given, shape nodes along every street so no edge is longer (an
            unsimplified OSM graph has them); e.g. ``population=1_000_000,
            node_spacing_m=20`` gives a network of over 100,000 nodes.
        n_existing: existing clinics (default one per 40,000 residents, at least 1).
        n_candidates: candidate sites (default one per 5,000 residents, at least 8).
        n_subdistricts: sub-districts (default one per 30,000 residents, at least 3).
        motorway: add the motorway ring and its ramps.
    """
    _check("seed", seed, _is_int(seed) and seed >= 0, "a non-negative integer")
    _check(
        "population",
        population,
        _is_int(population) and population >= 1000,
        "an integer of at least 1,000 residents",
    )
    _check(
        "cell_size",
        cell_size,
        _is_num(cell_size) and 10 <= cell_size <= 1000,
        "a cell size between 10 and 1,000 metres",
    )
    population = int(population)
    extent_km = 10.0 * math.sqrt(population / 300_000) if extent_km is None else extent_km
    _check(
        "extent_km",
        extent_km,
        _is_num(extent_km) and 0 < extent_km <= 200,
        "a side length in km, more than 0 and at most 200",
    )
    n = round(extent_km * 1000.0 / cell_size)
    _check("extent_km", extent_km, n >= 10, f"at least 10 cells of {cell_size:g} m wide")
    extent = n * float(cell_size)
    _check(
        "street_spacing_m",
        street_spacing_m,
        _is_num(street_spacing_m) and 20 <= street_spacing_m <= extent / 3,
        f"between 20 m and a third of the extent ({extent / 3:g} m)",
    )
    _check(
        "street_spacing_m",
        street_spacing_m,
        extent / street_spacing_m <= 3000,
        f"at least {extent / 3000:g} m for a {extent / 1000:g} km city",
    )
    if node_spacing_m is not None:
        _check(
            "node_spacing_m",
            node_spacing_m,
            _is_num(node_spacing_m) and node_spacing_m >= 5,
            "None or at least 5 metres",
        )
        street_km = 2.0 * (extent / street_spacing_m) * extent / 1000  # the lattice at most
        _check(
            "node_spacing_m",
            node_spacing_m,
            street_km * 1000 / node_spacing_m <= 2e7,
            f"at least {street_km * 1000 / 2e7:.0f} m here (at most 20 million nodes)",
        )
    n_existing = max(1, round(population / 40_000)) if n_existing is None else n_existing
    n_candidates = max(8, round(population / 5_000)) if n_candidates is None else n_candidates
    n_subdistricts = (
        max(3, round(population / 30_000)) if n_subdistricts is None else n_subdistricts
    )
    _check(
        "n_existing", n_existing, _is_int(n_existing) and n_existing >= 0, "a non-negative integer"
    )
    _check(
        "n_candidates",
        n_candidates,
        _is_int(n_candidates) and n_candidates >= 1,
        "a positive integer",
    )
    _check(
        "n_subdistricts",
        n_subdistricts,
        _is_int(n_subdistricts) and n_subdistricts >= 1,
        "a positive integer",
    )

    r_layout, r_pop, r_roads, r_ring, r_units, r_sites = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)
    )
    core = (
        extent * (0.5 + r_layout.uniform(-0.04, 0.04)),
        extent * (0.45 + r_layout.uniform(-0.03, 0.03)),
    )
    nature = _nature(r_layout, extent, core)
    cell = float(cell_size)
    grid = _population(r_pop, n, cell, population, core, nature)  # south-up
    hectares = cell * cell / 1e4
    window = 2 * max(0, round(150.0 / cell)) + 1
    smooth = ndimage.uniform_filter(grid, size=window, mode="constant") / hectares

    names = _Names(r_roads)
    n_couplets = int(np.clip(round(population / 150_000), 1, 4))
    street = _street_lattice(
        r_roads, extent, float(street_spacing_m), smooth, cell, nature, core, n_couplets, names
    )
    if motorway:
        _add_motorway(r_ring, street, extent, nature, names)
    unstranded = _unstrand_drivers(len(street.x), street.edges)
    if node_spacing_m is not None:
        _subdivide(street, float(node_spacing_m))

    to_ll = Transformer.from_crs(UTM_CRS, "EPSG:4326", always_xy=True)
    from_ll = Transformer.from_crs("EPSG:4326", UTM_CRS, always_xy=True)
    cx, cy = from_ll.transform(*CENTRE_LONLAT)
    x0 = math.floor((cx - extent / 2) / 100.0) * 100.0
    y0 = math.floor((cy - extent / 2) / 100.0) * 100.0
    transform = Affine(cell, 0.0, x0, 0.0, -cell, y0 + extent)

    def lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = to_ll.transform(x0 + np.asarray(x, float), y0 + np.asarray(y, float))
        return np.round(lon, _COORD_DECIMALS), np.round(lat, _COORD_DECIMALS)

    lon, lat = lonlat(street.x, street.y)
    roads = _graph(lon, lat, street.edges, street.names)

    units = _subdistricts(r_units, grid, cell, n_subdistricts, core, lonlat)
    existing, candidates = _sites(
        r_sites, street, smooth, cell, nature, units, n_existing, n_candidates, lonlat
    )
    water, park = nature.river_polygon(), nature.park_polygon()

    def to_lonlat(geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda xy: np.column_stack(lonlat(xy[:, 0], xy[:, 1])))

    features = gpd.GeoDataFrame(
        {"kind": ["river", "park"], "name": ["小黑河", "青城公园"]},
        geometry=[to_lonlat(water), to_lonlat(park)],
        crs="EPSG:4326",
    )
    params: dict[str, Any] = {
        "population": population,
        "cell_size": cell,
        "extent_m": extent,
        "street_spacing_m": street.spacing,
        "arterial_spacing_m": street.spacing * street.arterial_every,
        "node_spacing_m": None if node_spacing_m is None else float(node_spacing_m),
        "n_existing": int(n_existing),
        "n_candidates": int(n_candidates),
        "n_subdistricts": int(n_subdistricts),
        "motorway": bool(motorway and street.n_interchanges > 0),
        "n_interchanges": street.n_interchanges,
        "n_couplets": street.n_couplets,
        "centre_lonlat": list(CENTRE_LONLAT),
    }
    logger.info(
        "synthetic city (seed %d): %s residents on %d×%d cells of %g m; %d nodes, %d edges; "
        "sub-district populations %s; %d one-way edges made two-way",
        seed,
        f"{population:,}",
        n,
        n,
        cell,
        len(street.x),
        len(street.edges) + int((~street.edges.oneway).sum()),
        [round(p) for p in units.population],
        unstranded,
    )
    return SyntheticCity(
        population=np.ascontiguousarray(grid[::-1]).astype(np.float32),
        transform=transform,
        crs=UTM_CRS,
        roads=roads,
        existing=existing,
        candidates=candidates,
        subdistricts=units.frame,
        features=features,
        seed=int(seed),
        params=params,
    )


def save_synthetic_city(city: SyntheticCity, directory: str | Path) -> dict[str, Path]:
    """Write the city as files the ``plan`` command reads; return their paths by file name.

    ``population.tif`` (float32 GeoTIFF, deflate, nodata −99999 on river cells as WorldPop
    marks water), ``roads.graphml`` (osmnx), ``existing.geojson``, ``candidates.geojson``,
    ``subdistricts.geojson`` (UTF-8). The folder is created if needed; files are overwritten.
    """
    import osmnx as ox
    import rasterio
    from rasterio.features import geometry_mask

    if not isinstance(city, SyntheticCity):
        raise InputError(f"`city` must be a SyntheticCity, got {type(city).__name__}")
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise InputError(f"`directory` must be a folder, got the file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    files = (
        "population.tif",
        "roads.graphml",
        "existing.geojson",
        "candidates.geojson",
        "subdistricts.geojson",
    )
    paths = {name: out / name for name in files}
    river = city.features.loc[city.features["kind"] == "river"].to_crs(city.crs).geometry
    water = ~geometry_mask(list(river), out_shape=city.population.shape, transform=city.transform)
    data = np.where(water & (city.population == 0), NODATA, city.population).astype(np.float32)
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
        nodata=NODATA,
        compress="deflate",
    ) as dst:
        dst.write(data, 1)
    ox.save_graphml(city.roads, paths["roads.graphml"])
    for name, frame in (
        ("existing.geojson", city.existing),
        ("candidates.geojson", city.candidates),
        ("subdistricts.geojson", city.subdistricts),
    ):
        paths[name].unlink(missing_ok=True)
        frame.to_file(paths[name], driver="GeoJSON", encoding="utf-8")
    logger.info("synthetic city written to %s", out)
    return paths
