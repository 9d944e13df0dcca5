"""Travel-time matrices and nearest-site times over the compact network."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point

import geodata.traveltime.search as search
from geodata.network import Network, network_from_graph
from geodata.roads import add_travel_times, load_roads
from geodata.snapping import Snap, snap_points
from geodata.traveltime import TravelTimes, nearest_times, travel_times
from siting_errors import InputError

UTM = "EPSG:32649"
X0, Y0 = 500_000.0, 4_500_000.0
_TO_LL = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _graph(
    coords: dict[int, tuple[float, float]], edges: list[tuple[int, int, float, str, bool]]
) -> nx.MultiDiGraph:
    """osmnx-style graph from (u, v, length m, highway, oneway); two-way ways both ways."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in coords.items():
        lon, lat = _TO_LL.transform(X0 + x, Y0 + y)
        g.add_node(n, x=lon, y=lat)
    for k, (u, v, length, hw, oneway) in enumerate(edges):
        g.add_edge(u, v, osmid=k, length=length, highway=hw, oneway=oneway, reversed=False)
        if not oneway:
            g.add_edge(v, u, osmid=k, length=length, highway=hw, oneway=oneway, reversed=True)
    return g


def _points(xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(X0 + x, Y0 + y) for x, y in xy], crs=UTM)


def _pairs(tt: TravelTimes) -> dict[tuple[int, int], float]:
    return {
        (int(r), int(c)): round(float(s), 6)
        for r, c, s in zip(tt.rows, tt.cols, tt.seconds, strict=True)
    }


def test_line_of_nodes_with_inclusive_cutoff_and_zero_times() -> None:
    # nodes 0..3 every 75 m: 60 s apart at 4.5 km/h
    g = _graph(
        {i: (75.0 * i, 0.0) for i in range(4)},
        [(i, i + 1, 75.0, "residential", False) for i in range(3)],
    )
    net = network_from_graph(add_travel_times(g, mode="walk"), mode="walk")
    demand = snap_points(net, _points([(0, 0), (75, 0), (150, 0), (225, 0)]))
    site = snap_points(net, _points([(0, 0)]))
    tt = travel_times(net, demand, site, cutoff=120.0)  # exactly the time to node 2
    assert _pairs(tt) == {(0, 0): 0.0, (1, 0): 60.0, (2, 0): 120.0}  # 180 s is beyond
    assert tt.shape == (4, 1) and tt.rows.dtype == np.int64 and tt.seconds.dtype == np.float64
    assert _pairs(travel_times(net, demand, site, cutoff=119.999)) == {(0, 0): 0.0, (1, 0): 60.0}
    # a demand point exactly at the site's node: a zero time, kept as an entry
    at_node = Snap(np.array([0]), np.zeros(1), np.zeros(1), np.ones(1, bool))
    zero = travel_times(net, at_node, at_node, cutoff=1.0)
    assert zero.seconds.tolist() == [0.0] and len(zero) == 1


def test_one_way_street_counts_in_the_demand_to_site_direction() -> None:
    # A -> B one-way 1 km: 1 minute at 60 km/h; B -> A only by a 5 km detour through C
    coords = {0: (0, 0), 1: (1000, 0), 2: (500, 2449.49)}
    g = _graph(
        coords,
        [
            (0, 1, 1000.0, "secondary", True),
            (1, 2, 2500.0, "secondary", True),
            (2, 0, 2500.0, "secondary", True),
        ],
    )
    drive = network_from_graph(
        add_travel_times(g, mode="drive", speeds={"secondary": 60.0}), mode="drive"
    )
    a, b = snap_points(drive, _points([(0, 0)])), snap_points(drive, _points([(1000, 0)]))
    assert _pairs(travel_times(drive, a, b, cutoff=3600)) == {(0, 0): 60.0}
    assert _pairs(travel_times(drive, b, a, cutoff=3600)) == {(0, 0): 300.0}
    assert len(travel_times(drive, b, a, cutoff=299.0)) == 0
    # walking ignores the one-way: 1 km at 1.25 m/s both ways
    walk = network_from_graph(add_travel_times(g, mode="walk"), mode="walk")
    a, b = snap_points(walk, _points([(0, 0)])), snap_points(walk, _points([(1000, 0)]))
    assert _pairs(travel_times(walk, b, a, cutoff=3600)) == {(0, 0): 800.0}


def test_access_legs_are_added_at_both_ends() -> None:
    g = _graph({0: (0, 0), 1: (150, 0)}, [(0, 1, 150.0, "footway", False)])
    net = network_from_graph(add_travel_times(g, mode="walk"), mode="walk")
    demand = snap_points(net, _points([(0, 30), (0, 600)]))  # 30 m off: 24 s; 600 m: unsnapped
    site = snap_points(net, _points([(150, -10)]))  # 10 m off: 8 s
    # 24 + 120 + 8 = 152 s, kept at a cutoff of exactly 152 s
    assert _pairs(travel_times(net, demand, site, cutoff=152.0)) == {(0, 0): 152.0}
    assert len(travel_times(net, demand, site, cutoff=151.9)) == 0
    seconds, index = nearest_times(net, demand, site, cutoff=152.0)
    assert seconds.tolist() == [pytest.approx(152.0), np.inf] and index.tolist() == [0, -1]


def _random_case(seed: int, n: int = 60) -> tuple[Network, Snap, Snap, np.ndarray]:
    """A random directed network, demand and sites (some sharing nodes, some unsnapped), and
    the brute-force matrix of pair times (inf where unreachable)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 2000, (n, 2))
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(n):
        lon, lat = _TO_LL.transform(X0 + xy[i, 0], Y0 + xy[i, 1])
        g.add_node(int(i) * 7 + 1000, x=lon, y=lat)
    ids = list(g.nodes)
    for _ in range(4 * n):
        u, v = rng.choice(n, 2, replace=False)
        t = float(rng.choice([0.0, rng.uniform(5, 200)], p=[0.05, 0.95]))
        g.add_edge(ids[u], ids[v], travel_time=t, length=t)
    net = network_from_graph(g, mode="drive")
    on_node = rng.choice(n, 40)
    demand_xy = np.vstack([xy[on_node], rng.uniform(-300, 2300, (160, 2))])
    site_xy = np.vstack([xy[[3, 3, 17]], rng.uniform(0, 2000, (12, 2))])
    demand = snap_points(net, _points([tuple(p) for p in demand_xy]), max_distance=150.0)
    sites = snap_points(net, _points([tuple(p) for p in site_xy]), max_distance=150.0)
    node_times = dijkstra(net.graph)  # all pairs, forward: node -> node
    brute = np.full((len(demand), len(sites)), np.inf)
    for i in np.flatnonzero(demand.snapped):
        for j in np.flatnonzero(sites.snapped):
            brute[i, j] = (
                demand.access_time[i]
                + node_times[demand.node[i], sites.node[j]]
                + sites.access_time[j]
            )
    assert (~demand.snapped).any() and (demand.snapped).sum() > 100
    return net, demand, sites, brute


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matrix_matches_brute_force(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    net, demand, sites, brute = _random_case(seed)
    cutoff = float(np.quantile(brute[np.isfinite(brute)], 0.4))
    tt = travel_times(net, demand, sites, cutoff=cutoff)
    rows, cols = np.nonzero(brute <= cutoff)
    assert sorted(zip(tt.rows.tolist(), tt.cols.tolist(), strict=True)) == sorted(
        zip(rows.tolist(), cols.tolist(), strict=True)
    )
    np.testing.assert_allclose(tt.seconds, brute[tt.rows, tt.cols], rtol=1e-12)
    assert not np.isin(tt.rows, np.flatnonzero(~demand.snapped)).any()
    assert (np.diff(tt.rows * len(sites) + tt.cols) > 0).all()  # sorted by (row, col)
    # one site node per chunk gives the same answer
    monkeypatch.setattr(search, "CHUNK_BYTES", 8 * net.n_nodes)
    small = travel_times(net, demand, sites, cutoff=cutoff)
    assert _pairs(small) == _pairs(tt)
    # nearest site: the row minima of the brute-force matrix
    seconds, index = nearest_times(net, demand, sites, cutoff=cutoff)
    best = brute.min(axis=1)
    best[best > cutoff] = np.inf
    np.testing.assert_allclose(seconds, best, rtol=1e-12)
    found = np.isfinite(best)
    assert (index[~found] == -1).all()
    np.testing.assert_allclose(brute[np.flatnonzero(found), index[found]], best[found], rtol=1e-12)


def test_no_points_and_bad_inputs() -> None:
    net, demand, sites, _ = _random_case(1)
    none = Snap(np.array([-1]), np.array([900.0]), np.array([720.0]), np.array([False]))
    empty = travel_times(net, none, sites, cutoff=600)
    assert len(empty) == 0 and empty.shape == (1, len(sites))
    assert nearest_times(net, none, sites, cutoff=600)[1].tolist() == [-1]
    with pytest.raises(InputError, match="`cutoff` must be a number of seconds > 0, got 0"):
        travel_times(net, demand, sites, cutoff=0)
    foreign = Snap(np.array([net.n_nodes + 5]), np.zeros(1), np.zeros(1), np.ones(1, bool))
    with pytest.raises(InputError, match="snap the points to this network"):
        travel_times(net, demand, foreign, cutoff=600)


@pytest.fixture(scope="module")
def sao_paulo(data_dir: Path) -> tuple:
    folder = data_dir / "osm-sao-paulo-r5py-sample"
    graph = load_roads(folder / "spo_osm.pbf", mode="walk")
    net = network_from_graph(graph, mode="walk")
    hexes = pd.read_csv(folder / "spo_hexgrid.csv")
    pts = gpd.GeoDataFrame(
        hexes, geometry=gpd.points_from_xy(hexes.lon, hexes.lat), crs="EPSG:4326"
    )
    demand = snap_points(net, pts)
    sites = snap_points(net, pts[pts["schools"] > 0])
    return graph, net, demand, sites


def test_sao_paulo_times_match_networkx(sao_paulo: tuple) -> None:
    graph, net, demand, sites = sao_paulo
    assert len(demand) == 323 and len(sites) == 51 and demand.snapped.all()
    cutoff = 1200.0
    tt = travel_times(net, demand, sites, cutoff=cutoff)
    assert 1000 < len(tt) < 5000
    got = _pairs(tt)
    nodes = list(graph.nodes)
    reverse = graph.reverse(copy=False)
    for j in np.random.default_rng(5).choice(len(sites), 12, replace=False):
        # an independent search: networkx Dijkstra towards the site (reversed graph)
        to_site = nx.single_source_dijkstra_path_length(
            reverse, nodes[sites.node[j]], weight="travel_time"
        )
        for i in range(len(demand)):
            t = (
                to_site.get(nodes[demand.node[i]], np.inf)
                + demand.access_time[i]
                + sites.access_time[j]
            )
            if t <= cutoff:
                assert got[i, j] == pytest.approx(t, abs=1e-6)
            else:
                assert (i, j) not in got
    seconds, index = nearest_times(net, demand, sites, cutoff=cutoff)
    full = np.full(tt.shape, np.inf)
    full[tt.rows, tt.cols] = tt.seconds
    np.testing.assert_allclose(seconds, full.min(axis=1))
    np.testing.assert_allclose(full[np.arange(len(demand)), index], seconds)
