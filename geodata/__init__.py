"""The outside world: population, road networks, boundaries, candidate sites, travel times.

No optimisation here.
"""

from geodata.boundaries import assign_units, load_boundaries
from geodata.candidates import combine_sites, load_sites, sites_from_points, sites_from_population
from geodata.chinacoords import gcj02_to_wgs84, wgs84_to_gcj02
from geodata.crs import local_utm_crs, to_projected, utm_crs_for
from geodata.euclidean import straight_line_times
from geodata.isochrones import service_areas
from geodata.network import (
    Network,
    load_network,
    load_or_build_network,
    network_from_graph,
    save_network,
)
from geodata.population import (
    demand_from_array,
    load_population,
    load_population_raster,
    load_population_vector,
)
from geodata.roads import add_travel_times, load_roads
from geodata.snapping import Snap, snap_points
from geodata.synthetic import (
    SyntheticCity,
    SyntheticProvince,
    save_synthetic_city,
    synthetic_city,
    synthetic_province,
    synthetic_units,
)
from geodata.traveltime import (
    TravelTimes,
    bounded_times,
    nearest_k_times,
    nearest_times,
    travel_times,
)

__all__ = [
    "Network",
    "Snap",
    "SyntheticCity",
    "SyntheticProvince",
    "TravelTimes",
    "add_travel_times",
    "assign_units",
    "bounded_times",
    "combine_sites",
    "demand_from_array",
    "gcj02_to_wgs84",
    "load_boundaries",
    "load_network",
    "load_or_build_network",
    "load_population",
    "load_population_raster",
    "load_population_vector",
    "load_roads",
    "load_sites",
    "local_utm_crs",
    "nearest_k_times",
    "nearest_times",
    "network_from_graph",
    "save_network",
    "save_synthetic_city",
    "service_areas",
    "sites_from_points",
    "sites_from_population",
    "snap_points",
    "straight_line_times",
    "synthetic_city",
    "synthetic_province",
    "synthetic_units",
    "to_projected",
    "travel_times",
    "utm_crs_for",
    "wgs84_to_gcj02",
]
