"""Road networks from line layers (geodata._roadlines through load_roads and the network
cache): topology at shared vertices and end points, class / speed / one-way fields, hand-checked
travel times, and the real Wuhan layer."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from geodata.network import load_or_build_network, network_cache_key, network_from_graph
from geodata.roads import LineFields, load_roads
from geodata.snapping import snap_points
from geodata.traveltime import travel_times
from siting_errors import InputError

UTM = "EPSG:32649"
X0, Y0 = 500_000.0, 4_500_000.0


def _layer(tmp_path: Path, rows: list[dict], name: str = "roads.gpkg") -> Path:
    frame = gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k != "coords"} for r in rows],
        geometry=[LineString([(X0 + x, Y0 + y) for x, y in r["coords"]]) for r in rows],
        crs=UTM,
    )
    path = tmp_path / name
    frame.to_file(path)
    return path


def _seconds(graph: nx.MultiDiGraph, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Network seconds between the nodes nearest to two points (metres from X0, Y0)."""
    net = network_from_graph(graph, mode=graph.graph["siting_mode"])
    pts = gpd.GeoDataFrame(geometry=[Point(X0 + a[0], Y0 + a[1]), Point(X0 + b[0], Y0 + b[1])])
    pts = pts.set_crs(UTM)
    snap = snap_points(net, pts.iloc[[0]], max_distance=5.0)
    dest = snap_points(net, pts.iloc[[1]], max_distance=5.0)
    tt = travel_times(net, snap, dest, cutoff=1e6)
    return float(tt.seconds[0]) if len(tt.seconds) else float("inf")


def test_lines_join_at_shared_vertices_not_at_crossings(tmp_path: Path) -> None:
    # A: a 1 km east-west road; B: north-south through A's middle vertex (shared: joined);
    # C: north-south crossing A at 750 m without a shared vertex (a bridge: not joined)
    path = _layer(
        tmp_path,
        [
            {"highway": "residential", "coords": [(0, 0), (500, 0), (1000, 0)]},
            {"highway": "residential", "coords": [(500, -300), (500, 0), (500, 300)]},
            {"highway": "residential", "coords": [(750, -300), (750, 300)]},
        ],
    )
    walk = load_roads(path, mode="walk", retain_all=True)
    # 500 m along A, then 300 m up B: 800 m at 4.5 km/h
    assert _seconds(walk, (0, 0), (500, 300)) == pytest.approx(800 / (4.5 / 3.6), rel=1e-6)
    assert _seconds(walk, (0, 0), (750, 300)) == float("inf")  # the bridge has no junction
    parts = sorted(len(c) for c in nx.weakly_connected_components(walk))
    assert parts == [2, 5]
    # without retain_all only the largest part is kept
    assert load_roads(path, mode="walk").number_of_nodes() == 5


def test_class_speed_and_oneway_fields(tmp_path: Path) -> None:
    path = _layer(
        tmp_path,
        [  # a one-way primary with a 20 m/s limit, a footway, a two-way residential
            {"cls": "primary", "v": 20.0, "dir": "F", "coords": [(0, 0), (1000, 0)]},
            {"cls": "footway", "v": None, "dir": "B", "coords": [(1000, 0), (1000, 500)]},
            {"cls": "residential", "v": None, "dir": "B", "coords": [(0, 0), (0, 400)]},
        ],
    )
    fields = LineFields(
        class_field="cls", speed_field="v", speed_unit="m/s", oneway_field="dir", tolerance=0
    )
    drive = load_roads(path, mode="drive", fields=fields, retain_all=True)
    # 1000 m at 20 m/s (72 km/h) one way only; the footway is not driven
    assert _seconds(drive, (0, 0), (1000, 0)) == pytest.approx(50.0, rel=1e-6)
    assert _seconds(drive, (1000, 0), (0, 0)) == float("inf")
    assert _seconds(drive, (0, 0), (1000, 500)) == float("inf")
    # residential at its class speed (20 km/h)
    assert _seconds(drive, (0, 0), (0, 400)) == pytest.approx(400 / (20 / 3.6), rel=1e-6)
    # walking: every way both ways at 4.5 km/h, speed limits ignored
    walk = load_roads(path, mode="walk", fields=fields)
    assert _seconds(walk, (1000, 0), (0, 0)) == pytest.approx(1000 / 1.25, rel=1e-6)
    assert _seconds(walk, (0, 0), (1000, 500)) == pytest.approx(1500 / 1.25, rel=1e-6)


def test_tolerance_joins_line_ends_that_stop_short(tmp_path: Path) -> None:
    rows = [  # the second road starts 4 m from the first one's end
        {"highway": "residential", "coords": [(0, 0), (300, 0)]},
        {"highway": "residential", "coords": [(304, 0), (604, 0)]},
    ]
    path = _layer(tmp_path, rows)
    apart = load_roads(path, mode="walk", fields=LineFields(tolerance=1.0), retain_all=True)
    assert nx.number_weakly_connected_components(apart) == 2
    joined = load_roads(path, mode="walk", fields=LineFields(tolerance=5.0))
    assert nx.number_weakly_connected_components(joined) == 1
    assert _seconds(joined, (0, 0), (604, 0)) == pytest.approx(600 / 1.25, rel=1e-6)


def test_geofabrik_shapefile_and_the_network_cache(tmp_path: Path) -> None:
    # Geofabrik's road shapefile: fclass, maxspeed (km/h, 0 = unknown) and oneway F/T/B
    path = _layer(
        tmp_path,
        [
            {"fclass": "secondary", "maxspeed": 60, "oneway": "T", "coords": [(0, 0), (600, 0)]},
            {"fclass": "secondary", "maxspeed": 0, "oneway": "B", "coords": [(600, 0), (600, 400)]},
        ],
        name="gis_osm_roads_free_1.shp",
    )
    drive = load_roads(path, mode="drive")
    assert _seconds(drive, (600, 0), (0, 0)) == pytest.approx(600 / (60 / 3.6), rel=1e-6)
    assert _seconds(drive, (0, 0), (600, 0)) == float("inf")  # T: against the digitising
    # maxspeed 0: the class speed (secondary, 40 km/h)
    assert _seconds(drive, (600, 0), (600, 400)) == pytest.approx(400 / (40 / 3.6), rel=1e-6)
    cache = tmp_path / "cache"
    net = load_or_build_network(path, "drive", cache)
    again = load_or_build_network(path, "drive", cache)
    assert len(list(cache.glob("network-drive-*.npz"))) == 1
    assert np.array_equal(net.edge_time, again.edge_time)
    # the key follows the fields and the sidecar files, not only the .shp
    key = network_cache_key(path, mode="drive")
    assert network_cache_key(path, mode="drive", fields=LineFields(tolerance=3.0)) != key
    dbf = path.with_suffix(".dbf")
    dbf.write_bytes(dbf.read_bytes().replace(b"secondary", b"tertiary "))
    assert network_cache_key(path, mode="drive") != key


def test_line_layer_errors_name_the_field(tmp_path: Path) -> None:
    path = _layer(tmp_path, [{"highway": "primary", "ow": "sometimes", "coords": [(0, 0), (9, 0)]}])
    with pytest.raises(InputError, match=r"no field 'speed' \(fields: \['highway', 'ow'\]\)"):
        load_roads(path, fields=LineFields(speed_field="speed"))
    with pytest.raises(InputError, match=r"one-way field 'ow' has values \['sometimes'\]"):
        load_roads(path, mode="drive", fields=LineFields(oneway_field="ow"))
    with pytest.raises(InputError, match="`speed_unit` must be one of km/h, m/s, mph"):
        LineFields(speed_unit="knots")
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[Point(X0, Y0)], crs=UTM).to_file(points)
    with pytest.raises(InputError, match="has no lines"):
        load_roads(points)
    osm = tmp_path / "x.osm.pbf"
    osm.write_bytes(b"")
    with pytest.raises(InputError, match="apply to line layers"):
        load_roads(osm, fields=LineFields())


@pytest.mark.slow
def test_wuhan_line_layer_travel_times_match_networkx(data_dir: Path) -> None:
    """The Wuhan (Optics Valley) road layer: lane-level lines whose ends stop short of the
    junctions; with a 10 m tolerance most of it is one network, and travel times over it
    agree with networkx on the same graph."""
    path = data_dir / "wuhan-osm-derived-roadnet-mosstool" / "wuhan_net.geojson"
    fields = LineFields(speed_field="max_speed", speed_unit="m/s", tolerance=10.0)
    loose = load_roads(path, mode="drive", fields=LineFields(speed_field="max_speed",
                       speed_unit="m/s", tolerance=0.0))  # fmt: skip
    graph = load_roads(path, mode="drive", fields=fields)
    assert graph.number_of_nodes() > loose.number_of_nodes()  # the tolerance joins more
    assert graph.number_of_nodes() >= 130
    speeds = {round(d["speed_kph"], 1) for _, _, d in graph.edges(data=True)}
    assert 60.0 in speeds  # max_speed 16.67 m/s
    net = network_from_graph(graph, mode="drive")
    nodes = list(graph.nodes)
    rng = np.random.default_rng(0)
    for a, b in rng.choice(len(nodes), size=(15, 2)):
        try:
            expected = nx.shortest_path_length(graph, nodes[a], nodes[b], weight="travel_time")
        except nx.NetworkXNoPath:
            expected = float("inf")
        snap = type(snap_points(net, gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=UTM)))
        one = snap(np.array([a]), np.zeros(1), np.zeros(1), np.ones(1, dtype=bool))
        two = snap(np.array([b]), np.zeros(1), np.zeros(1), np.ones(1, dtype=bool))
        tt = travel_times(net, one, two, cutoff=1e6)
        got = float(tt.seconds[0]) if len(tt.seconds) else float("inf")
        assert got == pytest.approx(expected, rel=1e-9), (a, b)
