"""The synthetic city's streets: a jittered, warped lattice of classed and named streets, bridges
over the river, paths in the park, the motorway ring with its ramps, shape nodes, and the
osmnx-style graph built from them in bulk."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geodata.synthetic._constants import (
    BUILT_UP_PER_HA,
    CLASSES,
    EARTH_RADIUS_M,
    FOOTWAY,
    KPH40,
    KPH50,
    KPH60,
    KPH100,
    LINK,
    MOTORWAY,
    PRIMARY,
    RESIDENTIAL,
    RURAL_PER_HA,
    SECONDARY,
    SPEEDS,
    SUBURB_PER_HA,
    TERTIARY,
)
from geodata.synthetic._names import (
    ARTERIAL_ROOTS,
    DIRECTIONS,
    LOCAL_ROOTS,
    LOCAL_SUFFIXES,
    ORDINALS,
)
from geodata.synthetic._population import Nature

logger = logging.getLogger(__name__)


@dataclass
class Edges:
    """Undirected street edges (``oneway``: only ``u → v`` exists) over node indices."""

    u: np.ndarray
    v: np.ndarray
    cls: np.ndarray
    name: np.ndarray  # index into the names list, -1 unnamed
    way: np.ndarray  # way id (the edge's osmid)
    oneway: np.ndarray
    bridge: np.ndarray
    speed: np.ndarray  # index into SPEEDS

    def __len__(self) -> int:
        return len(self.u)

    def take(self, index: np.ndarray) -> Edges:
        return Edges(*(getattr(self, f)[index] for f in _EDGE_FIELDS))

    @staticmethod
    def concat(parts: list[Edges]) -> Edges:
        return Edges(*(np.concatenate([getattr(p, f) for p in parts]) for f in _EDGE_FIELDS))


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
) -> Edges:
    m = len(u)

    def full(value: np.ndarray | float, dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (m,)).copy()

    return Edges(
        np.asarray(u, dtype=np.int64),
        np.asarray(v, dtype=np.int64),
        full(cls, np.int8),
        full(name, np.int32),
        full(way, np.int64),
        full(oneway, np.bool_),
        full(bridge, np.bool_),
        full(speed, np.int8),
    )


class StreetNames:
    """Unique Chinese street names, each line of the lattice its own."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.names: list[str] = []
        self._arterial = list(rng.permutation(len(ARTERIAL_ROOTS)))
        self._local = list(rng.permutation(len(LOCAL_ROOTS)))
        self._n_arterial = 0
        self._n_local = 0

    def add(self, name: str) -> int:
        self.names.append(name)
        return len(self.names) - 1

    def arterial(self, cls: int) -> int:
        i, self._n_arterial = self._n_arterial, self._n_arterial + 1
        roots = len(ARTERIAL_ROOTS)
        root = ARTERIAL_ROOTS[self._arterial[i % roots]]
        turn = i // roots
        direction = DIRECTIONS[turn % len(DIRECTIONS)]
        extra = str(turn // len(DIRECTIONS) + 1) if turn >= len(DIRECTIONS) else ""
        suffix = {PRIMARY: "大街", SECONDARY: "路"}.get(cls, "街")
        return self.add(f"{root}{direction}{extra}{suffix}")

    def local(self, suffix_pick: int) -> int:
        i, self._n_local = self._n_local, self._n_local + 1
        roots = len(LOCAL_ROOTS)
        root = LOCAL_ROOTS[self._local[i % roots]]
        turn = i // roots
        ordinal = ORDINALS[turn] if turn < len(ORDINALS) else str(turn + 1)
        return self.add(f"{root}{ordinal}{LOCAL_SUFFIXES[suffix_pick % len(LOCAL_SUFFIXES)]}")


@dataclass
class Street:
    """The street network before it becomes a graph: node coordinates (local metres) and edges."""

    x: np.ndarray
    y: np.ndarray
    edges: Edges
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
    cls = np.full(n_lines, RESIDENTIAL, dtype=np.int8)
    if k >= 3:
        cls[(i - off) % k == k // 2] = TERTIARY
    cls[arterial] = np.where((ordinal[arterial] - middle) % 2 == 0, PRIMARY, SECONDARY)
    return cls, ordinal


def street_lattice(  # noqa: C901 - one step per street class and feature, in order
    rng: np.random.Generator,
    extent: float,
    spacing: float,
    smooth: np.ndarray,
    cell: float,
    nature: Nature,
    core: tuple[float, float],
    n_couplets: int,
    names: StreetNames,
) -> Street:
    n_lines = max(3, round(extent / spacing))
    s = extent / n_lines
    k = max(2, round(1000.0 / s))
    pos = (np.arange(n_lines) + 0.5) * s
    line_cls, ordinal = _lattice_classes(n_lines, k)
    major = line_cls <= TERTIARY

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
    local = cls == RESIDENTIAL
    keep = ~local | (density >= BUILT_UP_PER_HA) | ((density >= SUBURB_PER_HA) & (line % 2 == 0))
    keep &= (cls != TERTIARY) | (density >= RURAL_PER_HA)  # no collectors in empty country

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
    locals_ = np.flatnonzero((line_cls == RESIDENTIAL) & ~bridge_line)
    if len(locals_):
        foot_line = int(locals_[np.argmin(np.abs(pos[locals_] - core[0]))])
    vertical = orient == 1
    on_bridge = vertical & (bridge_line[line] | (line == foot_line))
    crossing = wet & on_bridge
    keep &= ~wet | on_bridge
    keep[crossing] = True
    cls[crossing & (line == foot_line)] = FOOTWAY
    bridge = crossing.copy()  # tagged where it meets the river itself, not only its margin
    bridge[crossing] = shapely.intersects(segments[crossing], nature.river_polygon())

    # the park: paths only (a few lattice paths left out, so it is not a perfect grid)
    cls[green] = FOOTWAY
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
        for first in np.flatnonzero((ordinal >= 0) & (np.arange(n_lines) + 1 < n_lines)):
            if line_cls[first + 1] not in (TERTIARY, RESIDENTIAL):
                continue
            for b in range(int(first) % k, n_lines - span, k):
                ids = index[o, [first, first + 1], b : b + span].ravel()
                if (wet[ids] | green[ids]).any():
                    continue
                best.append((float(density[ids].sum()), o, int(first), b))
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
            if c != RESIDENTIAL:
                line_name[o, i] = names.arterial(c)
            elif pick[o, i] < 7:
                line_name[o, i] = names.local(int(pick[o, i]))
    name = line_name[orient, line]
    for o, a, b in chosen:  # the couplet's second street is named as an arterial
        name[index[o, a + 1, b : b + span]] = names.arterial(int(line_cls[a]))
    name[cls == FOOTWAY] = -1
    speed = np.zeros(len(u), dtype=np.int8)
    speed[cls == PRIMARY] = KPH60
    speed[(cls == SECONDARY) & ((ordinal[line] // 2) % 2 == 0)] = KPH50  # every other one
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
    return Street(x[used], y[used], edges, names.names, s, k, len(chosen), 0)


def add_motorway(
    rng: np.random.Generator, street: Street, extent: float, nature: Nature, names: StreetNames
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
    major = e.cls <= TERTIARY
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
    motor = _edges(ring_u, ring_v, MOTORWAY, name, ring_way, True, bridge, KPH100)
    way1 = int(ring_way.max()) + 1
    n_ramps = len(ramps_u)
    link = _edges(
        np.array(ramps_u),
        np.array(ramps_v),
        LINK,
        -1,
        way1 + np.arange(n_ramps),
        True,
        False,
        KPH40,
    )
    street.x, street.y = x, y
    street.edges = Edges.concat([street.edges, motor, link])
    street.n_interchanges = n_ramps // 4


def subdivide(street: Street, step: float) -> None:
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


def unstrand_drivers(n_nodes: int, edges: Edges) -> int:
    """Make one-way edges two-way until every drivable node is in the largest strongly
    connected component of the driving network (or no one-way edge touches the rest)."""
    changed = 0
    for _ in range(20):
        drive = edges.cls != FOOTWAY
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
    return 2 * np.arcsin(np.sqrt(np.minimum(1, h))) * EARTH_RADIUS_M


_NODE_ID0 = 1_000_001
_WAY_ID0 = 50_000_001


def road_graph(lon: np.ndarray, lat: np.ndarray, edges: Edges, names: list[str]) -> nx.MultiDiGraph:
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


def _edge_records(
    columns: tuple[list[Any], ...], names: list[str]
) -> Iterator[tuple[Any, Any, Any, dict[str, Any]]]:
    """``(u, v, key, attributes)`` per directed edge, osmnx's attribute names and types."""
    for s, t, q, w, c, nm, one, r, ln, br, sp in zip(*columns, strict=True):
        data: dict[str, Any] = {
            "osmid": w,
            "highway": CLASSES[c],
            "oneway": one,
            "reversed": r,
            "length": ln,
        }
        if nm >= 0:
            data["name"] = names[nm]
        if sp:
            data["maxspeed"] = SPEEDS[sp]
        if br:
            data["bridge"] = "yes"
        yield s, t, q, data
