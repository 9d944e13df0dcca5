"""A deterministic synthetic city for the offline demo, tests and scale benchmarks.

Population, streets, clinics and sub-districts generated from a seed, with no outside data.
The city lies near Hohhot (centre about 111.70 E, 40.82 N; UTM zone 49N, EPSG:32649) so its
coordinates look real. It is built in a local metric frame ``[0, E] × [0, E]`` (east, north):

* **Population** — residents per cell (default 100 m) from a dense core (two Gaussians), three
  secondary centres, suburbs, villages and a thin sprawl, textured by block- and cell-level
  log-normal noise; no cell holds more than 1,000 residents per hectare; cells in the river and
  the park are empty; the grid sums to exactly ``population`` (largest-remainder rounding).
* **Roads** — an osmnx-style unsimplified ``MultiDiGraph`` (node keys = ``osmid``; ``x``/``y``
  longitude/latitude; ``street_count``). A jittered, gently warped street lattice: arterials every
  ~1 km alternate ``primary`` (``maxspeed`` "60") and ``secondary`` (half with "50"), ``tertiary``
  collectors half-way between, ``residential`` streets every ``street_spacing_m`` where the
  smoothed density is at least 20 residents/ha, on every other line down to 3/ha, none below (and
  no collectors below 0.5/ha). A meandering river (小黑河) is crossed only on bridges
  (``bridge="yes"``): every other arterial, one footbridge, and the motorway; a park (青城公园)
  has ``footway`` paths and no street through it. A ``motorway`` ring (two one-way carriageways,
  "100") with one-way ``motorway_link`` ramps at interchanges; one-way couplets (an arterial and
  the next street, opposite directions) in the dense core. Two-way streets are two directed edges
  (the second ``reversed=True``), one-way streets one; ``length`` is the great-circle distance
  between the rounded node coordinates, as osmnx computes it. ``node_spacing_m`` adds shape nodes
  along streets (as in an unsimplified OSM graph), which is how a benchmark reaches 100,000+
  nodes. The lattice is cut to its largest connected component, so the walking network (motorways
  excluded) is connected; one-way edges that would leave drivers stranded are made two-way.
* **Sites** — existing community health service centres in dense areas (one per ~40,000
  residents) and candidate sites near drivable road nodes (one per ~5,000), spread apart.
* **Sub-districts** (街道) — rectangles splitting the populated bounding box recursively with
  target populations from a log-normal spread with one dominant unit, so that (for the default
  300,000-resident city) some hold under 30,000 and one over 100,000 residents (rule R1's band
  edges). Ids ``U01``... in order of distance from the city centre.
* **Features** — the river and park polygons, for maps and checks.

Same arguments → identical arrays, graph (node and edge order and attributes) and frames.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from scipy import ndimage

from geodata.synthetic._constants import CENTRE_LONLAT, COORD_DECIMALS, NODATA, UTM_CRS
from geodata.synthetic._population import make_nature, population_grid
from geodata.synthetic._sites import place_sites
from geodata.synthetic._streets import (
    StreetNames,
    add_motorway,
    road_graph,
    street_lattice,
    subdivide,
    unstrand_drivers,
)
from geodata.synthetic._units import make_subdistricts
from siting_errors import InputError

__all__ = [
    "SyntheticCity",
    "save_synthetic_city",
    "synthetic_city",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SyntheticCity:
    """A generated city (see the module docstring).

    Attributes:
        population: float32 ``rows × cols`` whole residents per cell, north-up.
        transform: the grid's north-up ``affine.Affine`` in ``crs``.
        crs: the grid's projected CRS (EPSG:32649).
        roads: osmnx-style ``networkx.MultiDiGraph`` (graph attribute ``crs="EPSG:4326"``).
        existing: existing clinics (``site_id``, ``name``, ``existing=True``, ``unit_id``),
            EPSG:4326 points.
        candidates: candidate sites (``site_id``, ``name``, ``existing=False``, ``unit_id``),
            EPSG:4326 points.
        subdistricts: sub-district polygons (``unit_id``, ``name``, ``kind="subdistrict"``),
            EPSG:4326.
        features: the river and the park (``kind``, ``name``), EPSG:4326 polygons.
        seed: the seed.
        params: every generation parameter as used (extent, spacings, counts), JSON-ready.
    """

    population: np.ndarray
    transform: Affine
    crs: CRS
    roads: nx.MultiDiGraph
    existing: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame
    features: gpd.GeoDataFrame
    seed: int
    params: dict[str, Any]

    def __repr__(self) -> str:
        return (
            f"SyntheticCity(seed={self.seed}, population={self.params['population']:,}, "
            f"extent={self.params['extent_m'] / 1000:g} km, nodes={self.roads.number_of_nodes()}, "
            f"edges={self.roads.number_of_edges()}, existing={len(self.existing)}, "
            f"candidates={len(self.candidates)}, subdistricts={len(self.subdistricts)})"
        )


def _check(name: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise InputError(f"`{name}` must be {expected}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def synthetic_city(
    seed: int = 0,
    *,
    population: int = 300_000,
    cell_size: float = 100.0,
    extent_km: float | None = None,
    street_spacing_m: float = 200.0,
    node_spacing_m: float | None = None,
    n_existing: int | None = None,
    n_candidates: int | None = None,
    n_subdistricts: int | None = None,
    motorway: bool = True,
) -> SyntheticCity:
    """Generate a city (module docstring). Same arguments → identical city, bit for bit.

    Args:
        seed: non-negative integer seed.
        population: residents; the grid sums to exactly this.
        cell_size: population cell size (metres).
        extent_km: side of the square city (km); default 10 km × √(population / 300,000),
            which keeps the same density pattern at every size.
        street_spacing_m: spacing of local streets in the built-up area (arterials every
            ~1 km, collectors half-way).
        node_spacing_m: if given, shape nodes along every street so no edge is longer (an
            unsimplified OSM graph has them); e.g. ``population=1_000_000,
            node_spacing_m=20`` gives a network of over 100,000 nodes.
        n_existing: existing clinics (default one per 40,000 residents, at least 1).
        n_candidates: candidate sites (default one per 5,000 residents, at least 8).
        n_subdistricts: sub-districts (default one per 30,000 residents, at least 3).
        motorway: add the motorway ring and its ramps.
    """
    _check("seed", seed, _is_int(seed) and seed >= 0, "a non-negative integer")
    _check(
        "population",
        population,
        _is_int(population) and population >= 1000,
        "an integer of at least 1,000 residents",
    )
    _check(
        "cell_size",
        cell_size,
        _is_num(cell_size) and 10 <= cell_size <= 1000,
        "a cell size between 10 and 1,000 metres",
    )
    population = int(population)
    extent_km = 10.0 * math.sqrt(population / 300_000) if extent_km is None else extent_km
    _check(
        "extent_km",
        extent_km,
        _is_num(extent_km) and 0 < extent_km <= 200,
        "a side length in km, more than 0 and at most 200",
    )
    n = round(extent_km * 1000.0 / cell_size)
    _check("extent_km", extent_km, n >= 10, f"at least 10 cells of {cell_size:g} m wide")
    extent = n * float(cell_size)
    _check(
        "street_spacing_m",
        street_spacing_m,
        _is_num(street_spacing_m) and 20 <= street_spacing_m <= extent / 3,
        f"between 20 m and a third of the extent ({extent / 3:g} m)",
    )
    _check(
        "street_spacing_m",
        street_spacing_m,
        extent / street_spacing_m <= 3000,
        f"at least {extent / 3000:g} m for a {extent / 1000:g} km city",
    )
    if node_spacing_m is not None:
        _check(
            "node_spacing_m",
            node_spacing_m,
            _is_num(node_spacing_m) and node_spacing_m >= 5,
            "None or at least 5 metres",
        )
        street_km = 2.0 * (extent / street_spacing_m) * extent / 1000  # the lattice at most
        _check(
            "node_spacing_m",
            node_spacing_m,
            street_km * 1000 / node_spacing_m <= 2e7,
            f"at least {street_km * 1000 / 2e7:.0f} m here (at most 20 million nodes)",
        )
    n_existing = max(1, round(population / 40_000)) if n_existing is None else n_existing
    n_candidates = max(8, round(population / 5_000)) if n_candidates is None else n_candidates
    n_subdistricts = (
        max(3, round(population / 30_000)) if n_subdistricts is None else n_subdistricts
    )
    _check(
        "n_existing", n_existing, _is_int(n_existing) and n_existing >= 0, "a non-negative integer"
    )
    _check(
        "n_candidates",
        n_candidates,
        _is_int(n_candidates) and n_candidates >= 1,
        "a positive integer",
    )
    _check(
        "n_subdistricts",
        n_subdistricts,
        _is_int(n_subdistricts) and n_subdistricts >= 1,
        "a positive integer",
    )

    r_layout, r_pop, r_roads, r_ring, r_units, r_sites = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)
    )
    core = (
        extent * (0.5 + r_layout.uniform(-0.04, 0.04)),
        extent * (0.45 + r_layout.uniform(-0.03, 0.03)),
    )
    nature = make_nature(r_layout, extent, core)
    cell = float(cell_size)
    grid = population_grid(r_pop, n, cell, population, core, nature)  # south-up
    hectares = cell * cell / 1e4
    window = 2 * max(0, round(150.0 / cell)) + 1
    smooth = ndimage.uniform_filter(grid, size=window, mode="constant") / hectares

    names = StreetNames(r_roads)
    n_couplets = int(np.clip(round(population / 150_000), 1, 4))
    street = street_lattice(
        r_roads, extent, float(street_spacing_m), smooth, cell, nature, core, n_couplets, names
    )
    if motorway:
        add_motorway(r_ring, street, extent, nature, names)
    unstranded = unstrand_drivers(len(street.x), street.edges)
    if node_spacing_m is not None:
        subdivide(street, float(node_spacing_m))

    to_ll = Transformer.from_crs(UTM_CRS, "EPSG:4326", always_xy=True)
    from_ll = Transformer.from_crs("EPSG:4326", UTM_CRS, always_xy=True)
    cx, cy = from_ll.transform(*CENTRE_LONLAT)
    x0 = math.floor((cx - extent / 2) / 100.0) * 100.0
    y0 = math.floor((cy - extent / 2) / 100.0) * 100.0
    transform = Affine(cell, 0.0, x0, 0.0, -cell, y0 + extent)

    def lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = to_ll.transform(x0 + np.asarray(x, float), y0 + np.asarray(y, float))
        return np.round(lon, COORD_DECIMALS), np.round(lat, COORD_DECIMALS)

    lon, lat = lonlat(street.x, street.y)
    roads = road_graph(lon, lat, street.edges, street.names)

    units = make_subdistricts(r_units, grid, cell, n_subdistricts, core, lonlat)
    existing, candidates = place_sites(
        r_sites, street, smooth, cell, nature, units, n_existing, n_candidates, lonlat
    )
    water, park = nature.river_polygon(), nature.park_polygon()

    def to_lonlat(geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda xy: np.column_stack(lonlat(xy[:, 0], xy[:, 1])))

    features = gpd.GeoDataFrame(
        {"kind": ["river", "park"], "name": ["小黑河", "青城公园"]},
        geometry=[to_lonlat(water), to_lonlat(park)],
        crs="EPSG:4326",
    )
    params: dict[str, Any] = {
        "population": population,
        "cell_size": cell,
        "extent_m": extent,
        "street_spacing_m": street.spacing,
        "arterial_spacing_m": street.spacing * street.arterial_every,
        "node_spacing_m": None if node_spacing_m is None else float(node_spacing_m),
        "n_existing": int(n_existing),
        "n_candidates": int(n_candidates),
        "n_subdistricts": int(n_subdistricts),
        "motorway": bool(motorway and street.n_interchanges > 0),
        "n_interchanges": street.n_interchanges,
        "n_couplets": street.n_couplets,
        "centre_lonlat": list(CENTRE_LONLAT),
    }
    logger.info(
        "synthetic city (seed %d): %s residents on %d×%d cells of %g m; %d nodes, %d edges; "
        "sub-district populations %s; %d one-way edges made two-way",
        seed,
        f"{population:,}",
        n,
        n,
        cell,
        len(street.x),
        len(street.edges) + int((~street.edges.oneway).sum()),
        [round(p) for p in units.population],
        unstranded,
    )
    return SyntheticCity(
        population=np.ascontiguousarray(grid[::-1]).astype(np.float32),
        transform=transform,
        crs=UTM_CRS,
        roads=roads,
        existing=existing,
        candidates=candidates,
        subdistricts=units.frame,
        features=features,
        seed=int(seed),
        params=params,
    )


def _road_lines(roads: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """The road graph as lines: one per street segment (a two-way street's reverse edge is
    left out), from node to node in WGS84, with ``highway``, ``oneway`` and ``name``."""
    rows = [
        (roads.nodes[u], roads.nodes[v], d)
        for u, v, d in roads.edges(data=True)
        if not d.get("reversed", False)
    ]
    return gpd.GeoDataFrame(
        {
            "highway": [d.get("highway", "") for *_, d in rows],
            "oneway": ["yes" if d.get("oneway") else "no" for *_, d in rows],
            "name": [d.get("name", "") for *_, d in rows],
        },
        geometry=[shapely.LineString([(a["x"], a["y"]), (b["x"], b["y"])]) for a, b, _ in rows],
        crs=roads.graph.get("crs", "EPSG:4326"),
    )


def save_synthetic_city(city: SyntheticCity, directory: str | Path) -> dict[str, Path]:
    """Write the city as files the ``plan`` command reads; return their paths by file name.

    ``population.tif`` (float32 GeoTIFF, deflate, nodata −99999 on river cells as WorldPop
    marks water), ``roads.graphml`` (osmnx), the same roads as a line layer ``roads.gpkg``
    (one line per street segment with ``highway``, ``oneway`` yes/no and ``name``, as a GIS
    analyst holds roads), ``existing.geojson``, ``candidates.geojson``,
    ``subdistricts.geojson`` (UTF-8). The folder is created if needed; files are overwritten.
    """
    import osmnx as ox
    import rasterio
    from rasterio.features import geometry_mask

    if not isinstance(city, SyntheticCity):
        raise InputError(f"`city` must be a SyntheticCity, got {type(city).__name__}")
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise InputError(f"`directory` must be a folder, got the file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    files = (
        "population.tif",
        "roads.graphml",
        "roads.gpkg",
        "existing.geojson",
        "candidates.geojson",
        "subdistricts.geojson",
    )
    paths = {name: out / name for name in files}
    river = city.features.loc[city.features["kind"] == "river"].to_crs(city.crs).geometry
    water = ~geometry_mask(list(river), out_shape=city.population.shape, transform=city.transform)
    data = np.where(water & (city.population == 0), NODATA, city.population).astype(np.float32)
    with rasterio.open(
        paths["population.tif"],
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="float32",
        crs=city.crs,
        transform=city.transform,
        nodata=NODATA,
        compress="deflate",
    ) as dst:
        dst.write(data, 1)
    ox.save_graphml(city.roads, paths["roads.graphml"])
    paths["roads.gpkg"].unlink(missing_ok=True)
    _road_lines(city.roads).to_file(paths["roads.gpkg"], driver="GPKG")
    for name, frame in (
        ("existing.geojson", city.existing),
        ("candidates.geojson", city.candidates),
        ("subdistricts.geojson", city.subdistricts),
    ):
        paths[name].unlink(missing_ok=True)
        frame.to_file(paths[name], driver="GeoJSON", encoding="utf-8")
    logger.info("synthetic city written to %s", out)
    return paths
