"""The synthetic city: deterministic, exact totals, an osmnx-like connected network with river,
park, bridges and one-way streets, R1 band variety in the sub-districts, sites, saved files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import rasterio
import shapely
from pyproj import Transformer

from geodata.boundaries import assign_units
from geodata.candidates import combine_sites
from geodata.population import demand_from_array, load_population
from geodata.synthetic import SyntheticCity, save_synthetic_city, synthetic_city
from siting_errors import InputError

SMALL = {"population": 20_000, "extent_km": 3.0}


@pytest.fixture(scope="module")
def small() -> SyntheticCity:
    return synthetic_city(1, **SMALL)


@pytest.fixture(scope="module")
def city() -> SyntheticCity:
    return synthetic_city(0)  # the default 300,000-resident city


def _edge_table(g: nx.MultiDiGraph) -> tuple[np.ndarray, list[dict]]:
    """Edge end coordinates (lon_u, lat_u, lon_v, lat_v) and attributes, in edge order."""
    xy = np.array(
        [(g.nodes[u]["x"], g.nodes[u]["y"], g.nodes[v]["x"], g.nodes[v]["y"]) for u, v in g.edges()]
    )
    return xy, [d for _, _, d in g.edges(data=True)]


def test_same_seed_same_city_bit_for_bit_other_seed_other_city() -> None:
    a = synthetic_city(3, **SMALL)
    b = synthetic_city(3, **SMALL)
    c = synthetic_city(4, **SMALL)
    assert a.population.dtype == np.float32
    assert a.population.tobytes() == b.population.tobytes()
    assert a.transform == b.transform and a.params == b.params
    assert list(a.roads.nodes(data=True)) == list(b.roads.nodes(data=True))
    assert list(a.roads.edges(keys=True, data=True)) == list(b.roads.edges(keys=True, data=True))
    for frame in ("existing", "candidates", "subdistricts", "features"):
        assert getattr(a, frame).to_json() == getattr(b, frame).to_json(), frame
    assert not np.array_equal(a.population, c.population)
    assert list(a.roads.edges(data="length")) != list(c.roads.edges(data="length"))


@pytest.mark.parametrize("cell_size", [100.0, 50.0])
def test_population_is_whole_residents_summing_exactly(cell_size: float) -> None:
    c = synthetic_city(2, cell_size=cell_size, **SMALL)
    p = c.population
    assert p.shape == (round(3000 / cell_size),) * 2
    assert p.sum(dtype=np.float64) == 20_000
    assert (p >= 0).all() and (p == np.round(p)).all()
    assert p.max() <= 1000 * cell_size**2 / 1e4  # at most 1,000 residents per hectare
    assert c.transform.a == cell_size and c.transform.e == -cell_size
    assert c.crs.to_epsg() == 32649


def test_default_city_density_is_realistic(city: SyntheticCity) -> None:
    p = city.population
    assert p.sum(dtype=np.float64) == 300_000
    assert 500 <= p.max() <= 1000  # residents per hectare in the densest core cells
    assert 0.3 < (p > 0).mean() < 0.95  # empty country, river and park cells exist
    # the centre of the grid lies near Hohhot
    x = city.transform.c + city.transform.a * p.shape[1] / 2
    y = city.transform.f + city.transform.e * p.shape[0] / 2
    lon, lat = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True).transform(x, y)
    assert abs(lon - 111.70) < 0.01 and abs(lat - 40.82) < 0.01


def test_river_and_park_cells_are_empty(city: SyntheticCity) -> None:
    demand = demand_from_array(city.population, city.transform, city.crs).to_crs("EPSG:4326")
    features = city.features.set_index("kind").geometry
    assert set(features.index) == {"river", "park"}
    for kind in ("river", "park"):
        assert not shapely.intersects(demand.geometry.to_numpy(), features[kind]).any(), kind
    # and the river really is in the grid: cells whose centre lies in it exist, all empty
    rows, cols = np.indices(city.population.shape)
    t = city.transform
    xs, ys = t.c + t.a * (cols.ravel() + 0.5), t.f + t.e * (rows.ravel() + 0.5)
    lon, lat = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    wet = shapely.contains_xy(features["river"], lon, lat)
    assert wet.sum() > 50 and (city.population.ravel()[wet] == 0).all()


@pytest.mark.parametrize("which", ["small", "city"])
def test_every_node_lies_inside_the_extent(which: str, request: pytest.FixtureRequest) -> None:
    c = request.getfixturevalue(which)
    lon = np.array([d["x"] for _, d in c.roads.nodes(data=True)])
    lat = np.array([d["y"] for _, d in c.roads.nodes(data=True)])
    x, y = Transformer.from_crs("EPSG:4326", c.crs, always_xy=True).transform(lon, lat)
    h, w = c.population.shape
    t = c.transform
    assert (x >= t.c).all() and (x <= t.c + w * t.a).all()
    assert (y <= t.f).all() and (y >= t.f + h * t.e).all()


@pytest.mark.parametrize("which", ["small", "city"])
def test_walking_network_is_connected_and_driving_strongly_connected(
    which: str, request: pytest.FixtureRequest
) -> None:
    g = request.getfixturevalue(which).roads
    walk = nx.Graph()
    walk.add_edges_from(
        (u, v)
        for u, v, d in g.edges(data=True)
        if d["highway"] not in ("motorway", "motorway_link")
    )
    assert nx.is_connected(walk)
    ring = {n for u, v, d in g.edges(data=True) if d["highway"] == "motorway" for n in (u, v)}
    assert set(walk) == set(g) - ring  # every node but the motorway's is walkable
    drive = nx.DiGraph()
    drive.add_edges_from((u, v) for u, v, d in g.edges(data=True) if d["highway"] != "footway")
    assert nx.is_strongly_connected(drive)


def test_one_way_edges_have_no_reverse_and_two_way_edges_have_one(city: SyntheticCity) -> None:
    g = city.roads
    one = [(u, v, d) for u, v, d in g.edges(data=True) if d["oneway"]]
    assert {d["highway"] for *_, d in one} >= {"motorway", "motorway_link"}
    assert {d["highway"] for *_, d in one} & {"primary", "secondary"}  # the couplets
    assert not any(g.has_edge(v, u) for u, v, _ in one)
    for u, v, d in g.edges(data=True):
        if d["oneway"]:
            assert not d["reversed"]
            continue
        back = g.get_edge_data(v, u)
        assert back is not None and len(back) == 1
        (b,) = back.values()
        assert b["osmid"] == d["osmid"] and b["length"] == d["length"]
        assert b["reversed"] != d["reversed"]


def test_edges_carry_osmnx_attributes(city: SyntheticCity) -> None:
    g = city.roads
    assert g.graph["crs"] == "EPSG:4326"
    for n, d in g.nodes(data=True):
        assert isinstance(n, int) and d["osmid"] == n
        assert 111.6 < d["x"] < 111.8 and 40.7 < d["y"] < 40.9
        assert isinstance(d["street_count"], int) and d["street_count"] >= 1
    xy, attrs = _edge_table(g)
    lengths = np.array([d["length"] for d in attrs])
    # great-circle between the node coordinates, exactly as osmnx computes it
    assert np.array_equal(lengths, ox.distance.great_circle(xy[:, 1], xy[:, 0], xy[:, 3], xy[:, 2]))
    assert (lengths > 0).all()
    classes = Counter(d["highway"] for d in attrs)
    assert set(classes) == {
        "primary",
        "secondary",
        "tertiary",
        "residential",
        "footway",
        "motorway",
        "motorway_link",
    }
    assert all(isinstance(d["osmid"], int) and isinstance(d["oneway"], bool) for d in attrs)
    speeds = Counter((d["highway"], d.get("maxspeed")) for d in attrs)
    assert speeds[("primary", None)] == 0 and speeds[("primary", "60")] > 0
    assert speeds[("secondary", "50")] > 0 and speeds[("secondary", None)] > 0
    named = [d["name"] for d in attrs if "name" in d]
    assert all(n.endswith(("大街", "路", "街", "巷", "高速")) for n in named)
    assert all("name" in d for d in attrs if d["highway"] in ("primary", "secondary"))
    assert not any("name" in d for d in attrs if d["highway"] == "footway")
    # arterials about 1 km apart, local streets the configured 200 m
    assert city.params["arterial_spacing_m"] == pytest.approx(1000.0, rel=0.05)
    assert city.params["street_spacing_m"] == pytest.approx(200.0)


def test_streets_cross_the_river_only_on_bridges_and_the_park_only_on_paths(
    city: SyntheticCity,
) -> None:
    xy, attrs = _edge_table(city.roads)
    lines = shapely.linestrings(xy.reshape(-1, 2, 2))
    features = city.features.set_index("kind").geometry
    highway = np.array([d["highway"] for d in attrs])
    bridge = np.array([d.get("bridge") == "yes" for d in attrs])
    wet = shapely.intersects(lines, features["river"])
    assert wet.any() and bridge[wet].all()
    # a bridge ends on the banks: within a few metres of the water (1e-4 degree ≈ 8 m)
    assert shapely.dwithin(lines[bridge], features["river"], 1e-4).all()
    ways = {(attrs[i]["osmid"], highway[i]) for i in np.flatnonzero(bridge)}
    assert 4 <= len(ways) <= 15  # a few street bridges, a footbridge, the motorway's
    assert "footway" in {h for _, h in ways} and "motorway" in {h for _, h in ways}
    green = shapely.intersects(lines, features["park"])
    assert green.sum() >= 10 and (highway[green] == "footway").all()


def test_local_streets_are_denser_where_people_live(city: SyntheticCity) -> None:
    xy, attrs = _edge_table(city.roads)
    mid_lon, mid_lat = (xy[:, 0] + xy[:, 2]) / 2, (xy[:, 1] + xy[:, 3]) / 2
    x, y = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True).transform(mid_lon, mid_lat)
    t = city.transform
    col, row = (x - t.c) / t.a, (y - t.f) / t.e
    pop = city.population[row.astype(int), col.astype(int)]
    local = np.array([d["highway"] == "residential" for d in attrs])
    length = np.array([d["length"] for d in attrs])
    dense, empty = city.population >= 100, city.population == 0
    per_km2_dense = length[local & (pop >= 100)].sum() / dense.sum()  # per 1-ha cell
    per_km2_empty = length[local & (pop == 0)].sum() / empty.sum()
    assert per_km2_dense > 3 * per_km2_empty


def test_default_city_subdistricts_straddle_the_R1_band(city: SyntheticCity) -> None:
    units = city.subdistricts
    assert 8 <= len(units) <= 12
    assert units["unit_id"].is_unique and units["name"].is_unique
    assert units["name"].str.endswith("街道").all() and (units["kind"] == "subdistrict").all()
    assert units.crs.to_epsg() == 4326
    demand = demand_from_array(city.population, city.transform, city.crs)
    unit = assign_units(demand, units)
    assert (unit >= 0).all()  # every populated cell lies in a sub-district
    pops = np.bincount(unit, weights=demand["population"].to_numpy(), minlength=len(units))
    assert pops.sum() == 300_000
    assert pops.min() < 30_000 and pops.max() > 100_000  # both edge cases of rule R1
    projected = units.to_crs(city.crs).geometry
    assert projected.area.sum() == pytest.approx(shapely.union_all(projected).area, rel=1e-9)


def test_sites_are_near_roads_in_populated_places(city: SyntheticCity) -> None:
    ex, ca = city.existing, city.candidates
    assert 6 <= len(ex) <= 10 and 40 <= len(ca) <= 80
    assert ex["existing"].all() and not ca["existing"].any()
    assert ex["name"].str.endswith("社区卫生服务中心").all() and ex["name"].is_unique
    assert ca["name"].str.endswith("地块").all() and ca["name"].is_unique
    sites = combine_sites(ex, ca)  # ids unique across both
    assert len(sites) == len(ex) + len(ca)
    # every site 15-40 m from a street node (a building set back from the street)
    to_utm = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True)
    nodes = np.column_stack(
        to_utm.transform(
            [d["x"] for _, d in city.roads.nodes(data=True)],
            [d["y"] for _, d in city.roads.nodes(data=True)],
        )
    )
    site_xy = np.column_stack(to_utm.transform(sites.geometry.x, sites.geometry.y))
    gap = np.hypot(*(site_xy[:, None, :] - nodes[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    assert gap.max() <= 41.0
    # in populated places; the existing clinics in the denser ones
    t = city.transform
    col = ((site_xy[:, 0] - t.c) / t.a).astype(int)
    row = ((site_xy[:, 1] - t.f) / t.e).astype(int)
    pad = np.pad(city.population, 2)  # residents within ±2 cells
    around = np.array([pad[r : r + 5, c : c + 5].sum() for r, c in zip(row, col, strict=True)])
    assert (around > 0).all()
    assert np.median(around[: len(ex)]) > np.median(around[len(ex) :])
    units = assign_units(sites, city.subdistricts)
    assert (units >= 0).all()
    labels = np.concatenate([ex["unit_id"].to_numpy(), ca["unit_id"].to_numpy()])
    assert (city.subdistricts["unit_id"].to_numpy()[units] == labels).all()


def test_shape_nodes_subdivide_the_same_streets() -> None:
    plain = synthetic_city(5, **SMALL)
    fine = synthetic_city(5, node_spacing_m=25.0, **SMALL)
    assert np.array_equal(plain.population, fine.population)
    assert fine.roads.number_of_nodes() > 4 * plain.roads.number_of_nodes()
    lengths = [d for *_, d in fine.roads.edges(data="length")]
    assert max(lengths) <= 25.5
    total = sum(d for *_, d in plain.roads.edges(data="length"))
    assert sum(lengths) == pytest.approx(total, rel=1e-4)
    streets = Counter(d["highway"] for *_, d in plain.roads.edges(data=True))
    assert set(Counter(d["highway"] for *_, d in fine.roads.edges(data=True))) == set(streets)


def test_motorway_can_be_left_out() -> None:
    c = synthetic_city(1, motorway=False, **SMALL)
    assert not any(d["highway"].startswith("motorway") for *_, d in c.roads.edges(data=True))
    assert c.params["motorway"] is False


def test_saved_city_reopens_with_the_same_totals(small: SyntheticCity, tmp_path: Path) -> None:
    paths = save_synthetic_city(small, tmp_path / "city")
    assert sorted(p.name for p in paths.values()) == sorted(
        [
            "population.tif",
            "roads.graphml",
            "roads.gpkg",
            "existing.geojson",
            "candidates.geojson",
            "subdistricts.geojson",
        ]
    )
    with rasterio.open(paths["population.tif"]) as src:
        assert src.crs.to_epsg() == 32649 and src.nodata == -99999
        assert src.dtypes[0] == "float32" and src.compression.name.lower() == "deflate"
        assert src.transform == small.transform
        data = src.read(1)
    assert (data == -99999).sum() > 0  # the river, marked as WorldPop marks water
    assert data[data != -99999].sum(dtype=np.float64) == 20_000
    assert load_population(paths["population.tif"])["population"].sum() == 20_000
    g = ox.load_graphml(paths["roads.graphml"])
    assert g.number_of_nodes() == small.roads.number_of_nodes()
    assert list(g.edges(keys=True, data=True)) == list(small.roads.edges(keys=True, data=True))
    for name in ("existing", "candidates", "subdistricts"):
        frame = gpd.read_file(paths[f"{name}.geojson"])
        mine = getattr(small, name)
        assert frame["name"].tolist() == mine["name"].tolist()  # Chinese names intact
        assert frame.geometry.geom_equals_exact(mine.geometry, 1e-9).all()
    assert "社区卫生服务中心" in paths["existing.geojson"].read_text(encoding="utf-8")
    assert gpd.read_file(paths["existing.geojson"])["existing"].dtype == bool


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "`seed` must be a non-negative integer, got -1"),
        ({"population": 0}, "`population` must be an integer of at least 1,000"),
        ({"cell_size": -5.0}, "`cell_size` must be a cell size between 10 and 1,000"),
        ({"population": 2_000_000, "extent_km": 3.0}, "does not fit the extent"),
        ({"street_spacing_m": 5.0}, "`street_spacing_m` must be between 20 m"),
        ({"node_spacing_m": 1.0}, "`node_spacing_m` must be None or at least 5"),
        ({"n_candidates": 0}, "`n_candidates` must be a positive integer, got 0"),
        ({"n_subdistricts": 5000}, "`n_subdistricts`"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    args = {**SMALL, **kwargs}
    seed = args.pop("seed", 0)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        synthetic_city(seed, **args)
