"""Service areas: the network within a threshold of each site, buffered and dissolved."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point

from geodata.isochrones import service_areas
from geodata.network import Network, network_from_graph
from geodata.roads import add_travel_times, load_roads
from geodata.snapping import Snap, snap_points
from siting_errors import InputError

UTM = "EPSG:32649"
X0, Y0 = 500_000.0, 4_500_000.0
_TO_LL = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _net(
    coords: dict[int, tuple[float, float]],
    edges: list[tuple[int, int, float, bool]],
    mode: str = "walk",
) -> Network:
    """Network from (u, v, length m, oneway) residential ways; 4.5 km/h walking, 20 km/h
    driving."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in coords.items():
        lon, lat = _TO_LL.transform(X0 + x, Y0 + y)
        g.add_node(n, x=lon, y=lat)
    for k, (u, v, length, oneway) in enumerate(edges):
        g.add_edge(u, v, osmid=k, length=length, highway="residential", oneway=oneway)
        if not oneway:
            g.add_edge(v, u, osmid=k, length=length, highway="residential", oneway=oneway)
    return network_from_graph(add_travel_times(g, mode=mode), mode=mode)


def _snap(net: Network, xy: list[tuple[float, float]]) -> Snap:
    return snap_points(net, gpd.GeoSeries([Point(X0 + x, Y0 + y) for x, y in xy], crs=UTM))


def _local_bounds(areas: gpd.GeoDataFrame) -> np.ndarray:
    """Polygon bounds back in metres relative to (X0, Y0)."""
    return areas.to_crs(UTM).bounds.to_numpy() - [X0, Y0, X0, Y0]


def test_partly_reached_edge_contributes_its_reached_fraction() -> None:
    # a straight street 0 - 300 - 600 m; walking 75 m a minute
    net = _net({0: (0, 0), 1: (300, 0), 2: (600, 0)}, [(0, 1, 300.0, False), (1, 2, 300.0, False)])
    site = _snap(net, [(0, 0)])
    areas = service_areas(net, site, threshold=360.0, buffer=20.0, site_ids=["S1"])
    assert areas.crs.to_epsg() == 4326
    assert areas["site_id"].tolist() == ["S1"] and areas["reached_nodes"].tolist() == [2]
    assert areas["threshold_min"].tolist() == [6.0]
    # 6 minutes reach 450 m along the street: 300 m edge whole, 150 m of the next one
    np.testing.assert_allclose(_local_bounds(areas)[0], [-20, -20, 470, 20], atol=0.05)
    geom = areas.to_crs(UTM).geometry.iloc[0]
    assert geom.is_valid and geom.geom_type == "Polygon"
    # a buffered segment: 490 x 40 m less the rounded corners
    assert 490 * 40 - 4 * 20**2 < geom.area < 490 * 40


def test_direction_is_towards_the_site_on_one_way_streets() -> None:
    # one-way 0 -> 1 -> 2 (driving, 20 km/h on residential: 300 m in 54 s)
    net = _net(
        {0: (0, 0), 1: (300, 0), 2: (600, 0)},
        [(0, 1, 300.0, True), (1, 2, 300.0, True)],
        mode="drive",
    )
    areas = service_areas(net, _snap(net, [(300, 0), (0, 0)]), threshold=60.0, buffer=10.0)
    bounds = _local_bounds(areas)
    # the site at node 1 is reached from node 0 (upstream) but not from node 2
    np.testing.assert_allclose(bounds[0], [-10, -10, 310, 10], atol=0.05)
    # nothing drives into node 0: its area is the buffered node alone
    np.testing.assert_allclose(bounds[1], [-10, -10, 10, 10], atol=0.05)
    assert areas["reached_nodes"].tolist() == [2, 1]


def test_access_leg_is_taken_from_the_threshold_and_unsnapped_sites_keep_a_row() -> None:
    net = _net({0: (0, 0), 1: (300, 0)}, [(0, 1, 300.0, False)])
    # site 0: 75 m off the street (1 minute); site 1: 900 m off (not on the network);
    # site 2: 240 m off (3.2 minutes: more than the threshold)
    sites = _snap(net, [(0, 75), (0, 900), (300, -240)])
    areas = service_areas(net, sites, threshold=180.0, buffer=5.0)
    assert areas["site_id"].tolist() == ["0", "1", "2"]
    # 3 minutes less 1 minute of access: 150 m along the street
    np.testing.assert_allclose(_local_bounds(areas.iloc[[0]])[0], [-5, -5, 155, 5], atol=0.05)
    assert areas.geometry.iloc[1] is None and areas.geometry.iloc[2] is None
    assert areas["reached_nodes"].tolist() == [1, 0, 0]


def test_bad_parameters() -> None:
    net = _net({0: (0, 0), 1: (300, 0)}, [(0, 1, 300.0, False)])
    site = _snap(net, [(0, 0)])
    with pytest.raises(InputError, match="`threshold` must be a number > 0, got -1"):
        service_areas(net, site, threshold=-1)
    with pytest.raises(InputError, match="`buffer` must be a number > 0, got 0"):
        service_areas(net, site, threshold=60, buffer=0)
    with pytest.raises(InputError, match=r"one id per site \(1\), got 2"):
        service_areas(net, site, threshold=60, site_ids=["a", "b"])


def test_sao_paulo_service_areas_are_valid_and_hold_every_reached_node(data_dir: Path) -> None:
    folder = data_dir / "osm-sao-paulo-r5py-sample"
    net = network_from_graph(load_roads(folder / "spo_osm.pbf", mode="walk"), mode="walk")
    hexes = pd.read_csv(folder / "spo_hexgrid.csv")
    schools = hexes[hexes["schools"] > 0].iloc[:8]
    sites = snap_points(
        net,
        gpd.GeoDataFrame(
            schools, geometry=gpd.points_from_xy(schools.lon, schools.lat), crs="EPSG:4326"
        ),
    )
    areas = service_areas(net, sites, threshold=600.0, site_ids=schools["id"].to_numpy())
    assert len(areas) == 8 and areas["site_id"].tolist() == schools["id"].astype(str).tolist()
    assert areas.is_valid.all()
    assert set(areas.geom_type) <= {"Polygon", "MultiPolygon"}
    dist = dijkstra(net.reversed_graph(), indices=sites.node, limit=600.0)
    polys = areas.to_crs(net.crs).geometry.to_numpy()
    for k in range(len(areas)):
        reached = np.flatnonzero(dist[k] + sites.access_time[k] <= 600.0)
        assert areas["reached_nodes"].iloc[k] == len(reached) > 50
        # every reached node lies inside (1 m of slack for the round trip through EPSG:4326)
        assert shapely.contains_xy(polys[k].buffer(1.0), net.x[reached], net.y[reached]).all()
        # and nothing beyond: every vertex is within the buffer of a point the walk left at a
        # reached node v can cover ((600 - t_v) s at 1.25 m/s), up to 2 m of projection slack
        ring = shapely.get_coordinates(polys[k])
        gap = (
            np.hypot(ring[:, None, 0] - net.x[reached], ring[:, None, 1] - net.y[reached])
            - (600.0 - dist[k, reached] - sites.access_time[k]) * 1.25
        )
        assert gap.min(axis=1).max() <= 50.0 + 2.0
