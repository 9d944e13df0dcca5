"""The travel-time engine: local bounded searches, k nearest sites, the network cache, GraphML."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point

import geodata.network as network_mod
import geodata.traveltime._execution as execution
import geodata.traveltime.search as search
from geodata._graphml import load_graphml
from geodata.isochrones import service_areas
from geodata.network import (
    Network,
    load_or_build_network,
    network_cache_key,
    network_from_graph,
)
from geodata.roads import load_roads
from geodata.snapping import snap_points
from geodata.synthetic import save_synthetic_city, synthetic_city
from geodata.traveltime import bounded_times, max_speed, nearest_k_times, travel_times
from siting_errors import InputError

UTM = "EPSG:32649"
X0, Y0 = 500_000.0, 4_500_000.0
_TO_LL = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _grid_network(seed: int, n_side: int = 50, spacing: float = 100.0) -> Network:
    """A jittered grid street network (both directions, some one-way) with random speeds:
    times proportional to straight-line length, so local searches apply."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    xy = {}
    for i in range(n_side):
        for j in range(n_side):
            x = i * spacing + rng.uniform(-20, 20)
            y = j * spacing + rng.uniform(-20, 20)
            xy[i * n_side + j] = (x, y)
            lon, lat = _TO_LL.transform(X0 + x, Y0 + y)
            g.add_node(i * n_side + j, x=lon, y=lat)
    for i in range(n_side):
        for j in range(n_side):
            a = i * n_side + j
            for b in ([a + n_side] if i + 1 < n_side else []) + ([a + 1] if j + 1 < n_side else []):
                dist = float(np.hypot(*np.subtract(xy[a], xy[b])))
                speed = float(rng.choice([1.25, 2.5, 5.0]))  # m/s
                t = dist / speed * rng.uniform(1.0, 1.3)
                g.add_edge(a, b, travel_time=t, length=dist)
                if rng.random() > 0.15:
                    g.add_edge(b, a, travel_time=t * rng.uniform(1.0, 1.2), length=dist)
    return network_from_graph(g, mode="drive")


def _dense(matrix) -> np.ndarray:
    out = np.full(matrix.shape, np.inf)
    coo = matrix.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("reverse", [False, True])
def test_local_searches_equal_whole_graph_dijkstra(seed: int, reverse: bool) -> None:
    net = _grid_network(seed)
    rng = np.random.default_rng(seed)
    sources = np.append(rng.choice(net.n_nodes, 80, replace=False), [5, 5])  # a duplicate
    limits = rng.uniform(20.0, 90.0, len(sources))
    limits[0] = -1.0  # an empty row
    plan = search.plan_search(net, sources, np.maximum(limits, 0))
    assert plan.local and len(plan.groups) > 1  # the case under test: local subgraphs
    got = bounded_times(net, sources, cutoff=limits, reverse=reverse)
    graph = net.reversed_graph() if reverse else net.graph
    full = dijkstra(graph, directed=True, indices=sources)
    want = np.where(full <= limits[:, None], full, np.inf)
    np.testing.assert_array_equal(_dense(got), want)
    assert got.shape == (len(sources), net.n_nodes) and got[[0]].nnz == 0
    # the source itself is an explicit zero
    assert got[[1], [sources[1]]][0] == 0.0 and sources[1] in got[[1]].indices
    # targets keep only the masked columns; two processes give the same matrix
    mask = rng.random(net.n_nodes) < 0.3
    masked = bounded_times(net, sources, cutoff=limits, reverse=reverse, targets=mask)
    np.testing.assert_array_equal(_dense(masked), np.where(mask[None, :], want, np.inf))
    two = bounded_times(net, sources, cutoff=limits, reverse=reverse, workers=2)
    np.testing.assert_array_equal(_dense(two), want)


def test_whole_graph_fallbacks_are_exact() -> None:
    net = _grid_network(3)
    sources = np.arange(0, net.n_nodes, 37)
    # a long cutoff: the disc covers the network, searched whole (in small chunks here)
    assert not search.plan_search(net, sources, np.full(len(sources), 5000.0)).local
    full = dijkstra(net.graph, directed=True, indices=sources, limit=5000.0)
    np.testing.assert_array_equal(_dense(bounded_times(net, sources, cutoff=5000.0)), full)
    # an edge of nonzero length and zero time: no speed bound, whole graph
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for k, (x, y) in enumerate([(0, 0), (500, 0), (1000, 0)]):
        lon, lat = _TO_LL.transform(X0 + x, Y0 + y)
        g.add_node(k, x=lon, y=lat)
    g.add_edge(0, 1, travel_time=0.0, length=500.0)
    g.add_edge(1, 2, travel_time=10.0, length=500.0)
    zero = network_from_graph(g, mode="drive")
    assert max_speed(zero) == np.inf
    got = bounded_times(zero, np.array([0]), cutoff=10.0)
    assert _dense(got).tolist() == [[0.0, 0.0, 10.0]] and got.nnz == 3
    with pytest.raises(InputError, match="`sources` must be node indices"):
        bounded_times(zero, np.array([3]), cutoff=10.0)


def _failing_child(*args: object) -> None:
    raise RuntimeError("a child that dies")


@pytest.mark.parametrize("reverse", [False, True])
def test_whole_graph_split_over_processes_is_exact(
    reverse: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    net = _grid_network(4, n_side=30)
    rng = np.random.default_rng(4)
    sources = np.append(rng.choice(net.n_nodes, 97, replace=False), [11, 11])  # duplicates
    limits = rng.uniform(2000.0, 6000.0, len(sources))
    limits[[3, 50]] = -1.0  # empty rows in both shares
    assert not search.plan_search(net, sources, np.maximum(limits, 0)).local
    graph = net.reversed_graph() if reverse else net.graph
    full = dijkstra(graph, directed=True, indices=sources)
    want = np.where(full <= limits[:, None], full, np.inf)
    one = bounded_times(net, sources, cutoff=limits, reverse=reverse, workers=1)
    np.testing.assert_array_equal(_dense(one), want)
    # small chunks and small shared buffers: several rounds of two shares of several chunks
    monkeypatch.setattr(search, "CHUNK_BYTES", 8 * net.n_nodes * 7)
    monkeypatch.setattr(execution, "SHARE_BYTES", 12 * net.n_nodes * 30)
    for workers in (2, 3):
        got = bounded_times(net, sources, cutoff=limits, reverse=reverse, workers=workers)
        np.testing.assert_array_equal(_dense(got), want)
        assert got.has_sorted_indices and got.indices.dtype == np.int32
        assert np.array_equal(got.indptr, one.indptr)
    mask = rng.random(net.n_nodes) < 0.4
    masked = bounded_times(net, sources, cutoff=limits, reverse=reverse, targets=mask, workers=2)
    np.testing.assert_array_equal(_dense(masked), np.where(mask[None, :], want, np.inf))
    # a child that fails: its share is searched in this process, with a warning
    monkeypatch.setattr(execution, "_shared_child", _failing_child)
    with caplog.at_level("WARNING", logger="geodata.traveltime._execution"):
        got = bounded_times(net, sources, cutoff=limits, reverse=reverse, workers=2)
    np.testing.assert_array_equal(_dense(got), want)
    assert "searching its share here" in caplog.text


def test_local_search_split_over_processes_survives_a_failing_child(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    net = _grid_network(7)
    rng = np.random.default_rng(7)
    sources = rng.choice(net.n_nodes, 60, replace=False)
    limits = rng.uniform(20.0, 90.0, len(sources))
    assert search.plan_search(net, sources, limits).local
    mask = rng.random(net.n_nodes) < 0.5
    full = dijkstra(net.graph, directed=True, indices=sources)
    want = np.where((full <= limits[:, None]) & mask[None, :], full, np.inf)
    for workers in (2, 3):  # this process and one or two children, interleaved groups
        got = bounded_times(net, sources, cutoff=limits, targets=mask, workers=workers)
        np.testing.assert_array_equal(_dense(got), want)
    # a child that dies before sending its rows: its share is searched here, with a warning
    monkeypatch.setattr(execution, "_piped_child", _failing_child)
    with caplog.at_level("WARNING", logger="geodata.traveltime._execution"):
        got = bounded_times(net, sources, cutoff=limits, targets=mask, workers=2)
    np.testing.assert_array_equal(_dense(got), want)
    assert "searching its share here" in caplog.text


def test_split_searches_from_two_threads_at_once() -> None:
    # API jobs run in threads: concurrent split searches must not mix their inputs
    from concurrent.futures import ThreadPoolExecutor

    nets = [_grid_network(5, n_side=25), _grid_network(6, n_side=20)]
    jobs = [(net, np.arange(0, net.n_nodes, 3), 5000.0) for net in nets for _ in range(2)]

    def run(job: tuple) -> np.ndarray:
        net, sources, cutoff = job
        return _dense(bounded_times(net, sources, cutoff=cutoff, workers=2))

    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(run, jobs))
    for (net, sources, cutoff), dense in zip(jobs, got, strict=True):
        np.testing.assert_array_equal(
            dense, dijkstra(net.graph, directed=True, indices=sources, limit=cutoff)
        )


def _points(xy: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(X0 + x, Y0 + y) for x, y in xy], crs=UTM)


def _brute(net: Network, demand, sites) -> np.ndarray:
    node_times = dijkstra(net.graph, directed=True)
    out = np.full((len(demand), len(sites)), np.inf)
    for i in np.flatnonzero(demand.snapped):
        for j in np.flatnonzero(sites.snapped):
            out[i, j] = (
                demand.access_time[i]
                + node_times[demand.node[i], sites.node[j]]
                + sites.access_time[j]
            )
    return out


def test_travel_times_and_k_nearest_on_local_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _grid_network(4)
    rng = np.random.default_rng(4)
    demand = snap_points(net, _points(rng.uniform(-100, 5000, (400, 2))), max_distance=60.0)
    sites = snap_points(net, _points(rng.uniform(0, 4900, (60, 2))))
    brute = _brute(net, demand, sites)
    cutoff = 120.0
    assert search.plan_search(net, sites.node, np.full(len(sites), cutoff)).local
    tt = travel_times(net, demand, sites, cutoff=cutoff)
    rows, cols = np.nonzero(brute <= cutoff)
    assert sorted(zip(tt.rows.tolist(), tt.cols.tolist(), strict=True)) == sorted(
        zip(rows.tolist(), cols.tolist(), strict=True)
    )
    np.testing.assert_allclose(tt.seconds, brute[tt.rows, tt.cols], rtol=1e-12)
    # k nearest within a longer cutoff, in small blocks: the row-wise k smallest
    monkeypatch.setattr(search, "CHUNK_BYTES", 16 * net.n_nodes * 7)
    k, long_cutoff = 3, 900.0
    near = nearest_k_times(net, demand, sites, k=k, cutoff=long_cutoff)
    for i in range(len(demand)):
        row = brute[i]
        order = np.lexsort((np.arange(len(row)), row))
        want = [j for j in order[:k] if row[j] <= long_cutoff]
        got = near.cols[near.rows == i].tolist()
        assert sorted(got) == sorted(want)
        np.testing.assert_allclose(near.seconds[near.rows == i], row[got], rtol=1e-12)
    assert (np.diff(near.rows * len(sites) + near.cols) > 0).all()
    with pytest.raises(InputError, match="`k` must be an integer >= 1, got 0"):
        nearest_k_times(net, demand, sites, k=0, cutoff=100.0)


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city")
    save_synthetic_city(synthetic_city(3, population=5_000), folder)
    return folder / "roads.graphml"


def test_graphml_stream_reader_matches_osmnx(small_city: Path, tmp_path: Path) -> None:
    want = ox.load_graphml(small_city)
    for path in (small_city, _graph_data_first(small_city, tmp_path)):
        got = load_graphml(path)
        assert list(got.nodes(data=True)) == list(want.nodes(data=True))
        assert list(got.edges(keys=True, data=True)) == list(want.edges(keys=True, data=True))
        assert got.graph == want.graph
        node, data = next(iter(got.nodes(data=True)))
        assert type(node) is int and {type(v) for v in data.values()} <= {int, float}
        _, _, key, edge = next(iter(got.edges(keys=True, data=True)))
        assert type(key) is int and type(edge["length"]) is float
        assert type(edge["oneway"]) is bool
    # a key default: left to osmnx, same graph
    text = small_city.read_text(encoding="utf-8")
    first_key = text.index("<key ")
    end = text.index("/>", first_key)
    defaulted = tmp_path / "defaulted.graphml"
    defaulted.write_text(
        text[:end] + "><default>x</default></key>" + text[end + 2 :], encoding="utf-8"
    )
    assert list(load_graphml(defaulted).edges(keys=True)) == list(want.edges(keys=True))


def test_graphml_reader_converts_simplified_graphs_like_osmnx(tmp_path: Path) -> None:
    # a simplified graph has list-valued attributes (osmid, highway, ...) and WKT geometries,
    # which osmnx.load_graphml evaluates and converts; the stream reader must do the same
    roads = synthetic_city(4, population=5_000).roads
    simple = ox.simplify_graph(roads)
    simple.graph["consolidated"] = False
    path = tmp_path / "simplified.graphml"
    ox.save_graphml(simple, path)
    want = ox.load_graphml(path)
    got = load_graphml(path)
    assert got.graph == want.graph and got.graph["simplified"] is True
    assert list(got.nodes(data=True)) == list(want.nodes(data=True))
    got_edges = list(got.edges(keys=True, data=True))
    want_edges = list(want.edges(keys=True, data=True))
    assert [e[:3] for e in got_edges] == [e[:3] for e in want_edges]
    for (*_, a), (*_, b) in zip(got_edges, want_edges, strict=True):
        assert a.keys() == b.keys()
        for attr in a:
            if attr == "geometry":
                assert a[attr].equals_exact(b[attr], 0.0)
            else:
                assert a[attr] == b[attr] and type(a[attr]) is type(b[attr]), attr
    merged = [d for *_, d in got_edges if isinstance(d.get("osmid"), list)]
    assert merged and all(type(v) is int for d in merged for v in d["osmid"])
    assert any("geometry" in d for *_, d in got_edges)


def _graph_data_first(path: Path, tmp_path: Path) -> Path:
    """The same file with the graph's own data elements moved before its nodes."""
    text = path.read_text(encoding="utf-8")
    tail_start = text.rindex("</edge>") + len("</edge>")
    graph_end = text.index("</graph>", tail_start)
    graph_data = text[tail_start:graph_end]
    head = text.index(">", text.index("<graph ")) + 1
    moved = text[:head] + graph_data + text[head:tail_start] + text[graph_end:]
    out = tmp_path / "data_first.graphml"
    out.write_text(moved, encoding="utf-8")
    return out


def test_network_cache_is_keyed_by_content(
    small_city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    built: list[str] = []
    real_load = network_mod.network_from_graph

    def counting(graph: nx.MultiDiGraph, **kwargs: object) -> Network:
        built.append(str(kwargs.get("mode")))
        return real_load(graph, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(network_mod, "network_from_graph", counting)
    first = load_or_build_network(small_city, "walk", cache)
    again = load_or_build_network(small_city, "walk", cache)
    assert built == ["walk"] and len(list(cache.glob("*.npz"))) == 1
    np.testing.assert_array_equal(first.graph.toarray(), again.graph.toarray())
    assert again.mode == "walk" and again.crs == first.crs
    # another mode or other speeds: another key; a renamed copy: the same key
    load_or_build_network(small_city, "drive", cache)
    load_or_build_network(small_city, "walk", cache, speeds={"default": 5.0})
    assert built == ["walk", "drive", "walk"]
    copy = tmp_path / "renamed.graphml"
    copy.write_bytes(small_city.read_bytes())
    assert network_cache_key(copy, mode="walk") == network_cache_key(small_city, mode="walk")
    load_or_build_network(copy, "walk", cache)  # the content is cached already
    assert len(built) == 3
    # one changed byte: rebuilt
    copy.write_bytes(small_city.read_bytes().replace(b"</graphml>", b"</graphml>\n"))
    assert network_cache_key(copy, mode="walk") != network_cache_key(small_city, mode="walk")
    load_or_build_network(copy, "walk", cache)
    assert len(built) == 4
    # a damaged cache file is rebuilt, not trusted
    key = network_cache_key(small_city, mode="walk")
    target = cache / f"network-walk-{key[:24]}.npz"
    target.write_bytes(b"not a zip")
    load_or_build_network(small_city, "walk", cache)
    assert len(built) == 5


def test_sao_paulo_bounded_times_match_networkx(data_dir: Path) -> None:
    folder = data_dir / "osm-sao-paulo-r5py-sample"
    for mode in ("walk", "drive"):
        graph = load_roads(folder / "spo_osm.pbf", mode=mode)
        net = network_from_graph(graph, mode=mode)
        nodes = list(graph.nodes)
        index = {node: i for i, node in enumerate(nodes)}
        sources = np.random.default_rng(7).choice(net.n_nodes, 25, replace=False)
        got = bounded_times(net, sources, cutoff=600.0)
        for r, s in enumerate(sources):
            want = nx.single_source_dijkstra_path_length(
                graph, nodes[s], cutoff=600.0, weight="travel_time"
            )
            lo, hi = got.indptr[r], got.indptr[r + 1]
            row = dict(zip(got.indices[lo:hi].tolist(), got.data[lo:hi].tolist(), strict=True))
            assert set(row) == {index[k] for k in want}
            for k, t in want.items():
                assert row[index[k]] == pytest.approx(t, abs=1e-9)


def test_sao_paulo_service_areas_hold_every_reached_edge(data_dir: Path, tmp_path: Path) -> None:
    folder = data_dir / "osm-sao-paulo-r5py-sample"
    net = network_from_graph(load_roads(folder / "spo_osm.pbf", mode="walk"), mode="walk")
    rng = np.random.default_rng(11)
    nodes = rng.choice(net.n_nodes, 6, replace=False)
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(net.x[nodes] + 15.0, net.y[nodes]), crs=net.crs
    )
    sites = snap_points(net, pts)
    threshold = 600.0
    areas = service_areas(net, sites, threshold=threshold)
    assert areas.is_valid.all() and set(areas.geom_type) <= {"Polygon", "MultiPolygon"}
    polys = areas.to_crs(net.crs).geometry.to_numpy()
    dist = dijkstra(net.reversed_graph(), indices=sites.node, limit=threshold)
    for k in range(len(sites)):
        limit = threshold - sites.access_time[k]
        d = dist[k]
        # every edge u -> v whose head reaches the site: the reached part of its segment
        reached = np.flatnonzero(np.isfinite(d[net.edge_v]) & (d[net.edge_v] <= limit))
        u, v, t = net.edge_u[reached], net.edge_v[reached], net.edge_time[reached]
        with np.errstate(divide="ignore", invalid="ignore"):
            part = np.where(t > 0, np.minimum((limit - d[v]) / t, 1.0), 1.0)
        x1 = net.x[v] + (net.x[u] - net.x[v]) * part
        y1 = net.y[v] + (net.y[u] - net.y[v]) * part
        segments = shapely.linestrings(
            np.stack([np.column_stack([net.x[v], net.y[v]]), np.column_stack([x1, y1])], axis=1)
        )
        sample = rng.choice(len(segments), min(300, len(segments)), replace=False)
        # inside, with 1 m of slack for the round trip through EPSG:4326
        assert shapely.contains(polys[k].buffer(1.0), segments[sample]).all()
    # and they export: GeoJSON and GeoPackage round trips stay valid
    for name in ("areas.geojson", "areas.gpkg"):
        areas.to_file(tmp_path / name)
        back = gpd.read_file(tmp_path / name)
        assert len(back) == len(areas) and back.is_valid.all()
