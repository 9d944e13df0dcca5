"""The outside world: population, road networks, boundaries, candidate sites, travel times.

No optimisation here. The names below are imported on first use (PEP 562): importing one module
of the package does not import all of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geodata.boundaries import assign_units, load_boundaries
    from geodata.candidates import (
        combine_sites,
        load_sites,
        sites_from_points,
        sites_from_population,
    )
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

#: public name → the module that defines it
_LAZY: dict[str, str] = {
    "assign_units": "geodata.boundaries",
    "load_boundaries": "geodata.boundaries",
    "combine_sites": "geodata.candidates",
    "load_sites": "geodata.candidates",
    "sites_from_points": "geodata.candidates",
    "sites_from_population": "geodata.candidates",
    "gcj02_to_wgs84": "geodata.chinacoords",
    "wgs84_to_gcj02": "geodata.chinacoords",
    "local_utm_crs": "geodata.crs",
    "to_projected": "geodata.crs",
    "utm_crs_for": "geodata.crs",
    "straight_line_times": "geodata.euclidean",
    "service_areas": "geodata.isochrones",
    "Network": "geodata.network",
    "load_network": "geodata.network",
    "load_or_build_network": "geodata.network",
    "network_from_graph": "geodata.network",
    "save_network": "geodata.network",
    "demand_from_array": "geodata.population",
    "load_population": "geodata.population",
    "load_population_raster": "geodata.population",
    "load_population_vector": "geodata.population",
    "add_travel_times": "geodata.roads",
    "load_roads": "geodata.roads",
    "Snap": "geodata.snapping",
    "snap_points": "geodata.snapping",
    "SyntheticCity": "geodata.synthetic",
    "SyntheticProvince": "geodata.synthetic",
    "save_synthetic_city": "geodata.synthetic",
    "synthetic_city": "geodata.synthetic",
    "synthetic_province": "geodata.synthetic",
    "synthetic_units": "geodata.synthetic",
    "TravelTimes": "geodata.traveltime",
    "bounded_times": "geodata.traveltime",
    "nearest_k_times": "geodata.traveltime",
    "nearest_times": "geodata.traveltime",
    "travel_times": "geodata.traveltime",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'geodata' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
