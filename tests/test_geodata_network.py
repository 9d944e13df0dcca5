"""The compact network (CSR arrays, UTM, cache) and snapping points to it."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from pyproj import CRS, Transformer
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point, Polygon

from geodata.network import (
    Network,
    load_network,
    network_from_graph,
    prepare_network,
    save_network,
)
from geodata.roads import add_travel_times, load_roads
from geodata.snapping import snap_points
from siting_errors import CRSError, DataNotFoundError, InputError

UTM = "EPSG:32649"  # Hohhot, Inner Mongolia
X0, Y0 = 500_000.0, 4_500_000.0
_TO_LL = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _graph(
    coords: dict[int, tuple[float, float]], edges: list[tuple[int, int, float]]
) -> nx.MultiDiGraph:
    """Graph (EPSG:4326) with nodes at metre offsets from (X0, Y0) and edges (u, v, seconds)."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in coords.items():
        lon, lat = _TO_LL.transform(X0 + x, Y0 + y)
        g.add_node(n, x=lon, y=lat)
    for u, v, t in edges:
        g.add_edge(u, v, travel_time=t, length=t * 1.25, highway="footway")
    return g


def _points(xy: list[tuple[float, float]], crs: str = UTM) -> gpd.GeoDataFrame:
    pts = gpd.GeoSeries([Point(X0 + x, Y0 + y) for x, y in xy], crs=UTM)
    return gpd.GeoDataFrame(geometry=pts.to_crs(crs))


def test_csr_keeps_min_of_parallel_edges_and_zero_times() -> None:
    coords = {10: (0, 0), 20: (100, 0), 30: (100, 0.0), 40: (200, 0)}
    g = _graph(
        coords, [(10, 20, 80.0), (10, 20, 60.0), (20, 30, 0.0), (30, 40, 50.0), (40, 40, 5.0)]
    )
    net = network_from_graph(g, mode="walk")
    assert net.node_ids.tolist() == [10, 20, 30, 40] and net.node_ids.dtype == np.int64
    assert net.graph.shape == (4, 4) and net.graph.nnz == 3  # parallel pair merged, loop dropped
    assert net.graph[0, 1] == 60.0
    # the zero-time edge is stored and searched through
    assert net.graph.has_canonical_format and 0.0 in net.graph.data
    assert dijkstra(net.graph, indices=0).tolist() == [0.0, 60.0, 60.0, 110.0]
    assert dijkstra(net.reversed_graph(), indices=3).tolist() == [110.0, 50.0, 50.0, 0.0]
    # the edge arrays keep every edge (for service areas)
    assert net.n_edges == 5 and sorted(net.edge_time.tolist()) == [0.0, 5.0, 50.0, 60.0, 80.0]
    # projected to the UTM zone of the extent: coordinates come back to the metre offsets
    assert net.crs.to_epsg() == 32649
    np.testing.assert_allclose(net.x - X0, [0, 100, 100, 200], atol=1e-6)
    np.testing.assert_allclose(net.y - Y0, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(111.7, 40.8, 32649), (-46.6, -23.5, 32723), (24.94, 60.17, 32635), (179.9, 0.1, 32660)],
)
def test_utm_zone_is_picked_from_the_extent(lon: float, lat: float, epsg: int) -> None:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=lon - 0.01, y=lat)
    g.add_node(2, x=lon, y=lat + 0.01)
    g.add_edge(1, 2, travel_time=1.0, length=1.0)
    assert network_from_graph(g, mode="walk").crs.to_epsg() == epsg


def test_projected_input_and_explicit_crs() -> None:
    g = _graph({1: (0, 0), 2: (300, 400)}, [(1, 2, 10.0)])
    projected = nx.relabel_nodes(g, {1: 1, 2: 2})
    for n, (x, y) in {1: (0, 0), 2: (300, 400)}.items():
        projected.nodes[n].update(x=X0 + x, y=Y0 + y)
    projected.graph["crs"] = UTM
    net = network_from_graph(projected, mode="walk")
    assert net.crs.to_epsg() == 32649
    assert np.hypot(net.x[1] - net.x[0], net.y[1] - net.y[0]) == pytest.approx(500.0)
    other = network_from_graph(g, mode="walk", crs=CRS.from_epsg(3857))
    assert other.crs.to_epsg() == 3857
    with pytest.raises(CRSError, match="`crs` must be a projected CRS"):
        network_from_graph(g, mode="walk", crs="EPSG:4326")


def test_bad_graphs_are_refused() -> None:
    g = _graph({1: (0, 0), 2: (100, 0)}, [(1, 2, 10.0)])
    del g.edges[1, 2, 0]["travel_time"]
    with pytest.raises(InputError, match="1 of 1 road edges have no `travel_time`"):
        network_from_graph(g, mode="walk")
    g.edges[1, 2, 0]["travel_time"] = -1.0
    with pytest.raises(InputError, match="finite seconds >= 0"):
        network_from_graph(g, mode="walk")
    with pytest.raises(InputError, match="empty"):
        network_from_graph(nx.MultiDiGraph(crs="EPSG:4326"), mode="walk")
    walk = add_travel_times(_graph({1: (0, 0), 2: (100, 0)}, [(1, 2, 10.0)]), mode="walk")
    with pytest.raises(InputError, match="prepared for mode 'walk', got `mode` 'drive'"):
        network_from_graph(walk, mode="drive")
    no_crs = _graph({1: (0, 0), 2: (100, 0)}, [(1, 2, 10.0)])
    del no_crs.graph["crs"]
    with pytest.raises(CRSError, match="no `crs`"):
        network_from_graph(no_crs, mode="walk")


def test_cache_round_trip(tmp_path: Path) -> None:
    g = _graph({1: (0, 0), 2: (100, 0), 3: (100, 50)}, [(1, 2, 80.0), (2, 3, 0.0), (3, 1, 7.0)])
    net = network_from_graph(g, mode="drive")
    path = save_network(net, tmp_path / "cache" / "net.cache")  # saved under exactly this name
    assert path == tmp_path / "cache" / "net.cache" and path.is_file()
    back = load_network(path)
    assert isinstance(back, Network) and back.mode == "drive" and back.crs == net.crs
    assert back.graph.nnz == 3 and (back.graph != net.graph).nnz == 0
    assert dijkstra(back.graph, indices=0).tolist() == [0.0, 80.0, 80.0]
    for name in ("node_ids", "x", "y", "edge_u", "edge_v", "edge_time", "edge_length"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    with pytest.raises(DataNotFoundError, match=r"missing\.npz"):
        load_network(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"no zip here")
    with pytest.raises(InputError, match="not a network cache"):
        load_network(junk)


def _line() -> Network:
    coords = {i: (100.0 * i, 0.0) for i in range(4)}
    return network_from_graph(_graph(coords, [(i, i + 1, 80.0) for i in range(3)]), mode="walk")


def test_prepare_network_is_the_one_graph_to_network_step() -> None:
    net = _line()
    assert prepare_network(net, mode="walk") is net  # a network for the mode is used as it is
    with pytest.raises(InputError, match=r"prepared network is for mode 'walk'.*'drive'"):
        prepare_network(net, mode="drive")
    # a graph prepared for the mode is only compacted; another gets travel times for it first
    coords = {i: (100.0 * i, 0.0) for i in range(4)}
    timed = _graph(coords, [(i, i + 1, 80.0) for i in range(3)])
    timed.graph["siting_mode"] = "walk"
    same = prepare_network(timed, mode="walk")
    np.testing.assert_array_equal(same.graph.toarray(), net.graph.toarray())
    raw = _graph(coords, [(i, i + 1, 80.0) for i in range(3)])
    for _, _, data in raw.edges(data=True):
        del data["travel_time"]  # length 100 m at 4.5 km/h (footway), both ways when walking
    walked = prepare_network(raw, mode="walk")
    assert walked.mode == "walk" and walked.n_edges == 6
    assert walked.graph[0, 1] == pytest.approx(100.0 / (4.5 / 3.6))


def test_snapping_nearest_node_access_and_far_points(caplog: pytest.LogCaptureFixture) -> None:
    net = _line()
    pts = _points([(0, 10), (140, -30), (300, 600), (310, 0)], crs="EPSG:4326")
    with caplog.at_level(logging.WARNING, logger="geodata.snapping"):
        snap = snap_points(net, pts, max_distance=500.0)
    assert snap.node.tolist() == [0, 1, -1, 3] and snap.node.dtype == np.int64
    assert snap.snapped.tolist() == [True, True, False, True]
    np.testing.assert_allclose(snap.distance, [10.0, 50.0, 600.0, 10.0], atol=1e-3)
    # the access leg at 4.5 km/h = 1.25 m/s (also reported for the far point)
    np.testing.assert_allclose(snap.access_time, [8.0, 40.0, 480.0, 8.0], atol=1e-3)
    assert "1 of 4 points are more than 500 m from the road network" in caplog.text
    slow = snap_points(net, pts, max_distance=700.0, walk_speed_kmh=3.6)
    assert slow.node.tolist() == [0, 1, 3, 3]
    np.testing.assert_allclose(slow.access_time, [10.0, 50.0, 600.0, 10.0], atol=1e-3)


def test_snapping_polygons_by_centroid_and_bad_inputs() -> None:
    net = _line()
    square = Polygon(
        [(X0 + 190, Y0 - 10), (X0 + 210, Y0 - 10), (X0 + 210, Y0 + 10), (X0 + 190, Y0 + 10)]
    )
    assert snap_points(net, gpd.GeoSeries([square], crs=UTM)).node.tolist() == [2]
    with pytest.raises(CRSError, match="no CRS"):
        snap_points(net, gpd.GeoSeries([Point(0, 0)]))
    with pytest.raises(InputError, match="`max_distance` must be a number > 0, got 0"):
        snap_points(net, _points([(0, 0)]), max_distance=0)
    with pytest.raises(InputError, match="1 of the points to snap have no geometry"):
        snap_points(net, gpd.GeoSeries([Point(X0, Y0), None], crs=UTM))
    empty = snap_points(net, _points([]))
    assert len(empty) == 0 and empty.node.dtype == np.int64


def test_sao_paulo_network(data_dir: Path) -> None:
    graph = load_roads(data_dir / "osm-sao-paulo-r5py-sample" / "spo_osm.pbf", mode="drive")
    net = network_from_graph(graph, mode="drive")
    assert net.crs.to_epsg() == 32723  # UTM 23 S
    assert (net.n_nodes, net.n_edges) == (graph.number_of_nodes(), graph.number_of_edges())
    nodes = list(graph.nodes)
    assert net.node_ids.tolist() == nodes
    # its roads span ~7.4 x 7.2 km (metres: the projection worked)
    assert 7_000 < np.ptp(net.x) < 8_000 and 7_000 < np.ptp(net.y) < 8_000
    # node order, one-ways and min over parallel edges agree with networkx on sampled pairs
    rng = np.random.default_rng(3)
    for i in rng.choice(net.n_nodes, 5, replace=False):
        expected = nx.single_source_dijkstra_path_length(graph, nodes[i], weight="travel_time")
        got = dijkstra(net.graph, indices=i)
        reached = np.flatnonzero(np.isfinite(got))
        assert len(reached) == len(expected)
        np.testing.assert_allclose(got[reached], [expected[nodes[j]] for j in reached])
