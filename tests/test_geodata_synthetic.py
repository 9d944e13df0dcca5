"""The synthetic city: deterministic, exact totals, connected, R1 band variety, saved files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import rasterio

from geodata.boundaries import assign_units
from geodata.population import demand_from_array, load_population
from geodata.synthetic import save_synthetic_city, synthetic_city


def test_same_seed_same_city_other_seed_other_city() -> None:
    a = synthetic_city(3, population=20_000)
    b = synthetic_city(3, population=20_000)
    c = synthetic_city(4, population=20_000)
    assert np.array_equal(a.population, b.population)
    assert list(a.roads.edges(data="length")) == list(b.roads.edges(data="length"))
    assert a.candidates.geometry.equals(b.candidates.geometry)
    assert not np.array_equal(a.population, c.population)


def test_default_city_totals_network_and_units() -> None:
    city = synthetic_city(0)
    assert city.population.sum() == 300_000
    assert (city.population >= 0).all() and (city.population == np.round(city.population)).all()
    g = city.roads
    largest = max(nx.weakly_connected_components(g), key=len)
    assert len(largest) > 0.99 * g.number_of_nodes()
    oneway = [(u, v) for u, v, d in g.edges(data=True) if d["oneway"]]
    assert oneway and not any(g.has_edge(v, u) for u, v in oneway)
    classes = {d["highway"] for _, _, d in g.edges(data=True)}
    assert {"primary", "secondary", "residential", "footway", "motorway"} <= classes
    demand = demand_from_array(city.population, city.transform, city.crs)
    unit = assign_units(demand, city.subdistricts)
    assert (unit >= 0).all()
    pops = np.bincount(unit, weights=demand["population"].to_numpy())
    assert pops.min() < 30_000 and pops.max() > 100_000  # both R1 edge cases occur
    assert city.existing["existing"].all() and not city.candidates["existing"].any()
    assert "社区卫生服务中心" in city.existing["name"].iloc[0]


def test_saved_city_reopens_with_the_same_totals(tmp_path: Path) -> None:
    city = synthetic_city(1, population=20_000)
    paths = save_synthetic_city(city, tmp_path)
    assert load_population(paths["population.tif"])["population"].sum() == 20_000
    with rasterio.open(paths["population.tif"]) as src:
        assert src.crs.to_epsg() == 32649 and src.nodata == -99999
    g = ox.load_graphml(paths["roads.graphml"])
    assert g.number_of_edges() == city.roads.number_of_edges()
    units = gpd.read_file(paths["subdistricts.geojson"])
    assert units["name"].tolist() == city.subdistricts["name"].tolist()
