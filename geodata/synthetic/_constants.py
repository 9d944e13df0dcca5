"""Constants shared by the synthetic city's generators: its place, density classes, road
classes and speeds, and the coordinate conventions of OSM / osmnx."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pyproj import CRS

#: the projected CRS of the population grid (WGS 84 / UTM zone 49N)
UTM_CRS = CRS.from_epsg(32649)
#: the city centre (longitude, latitude), near Hohhot
CENTRE_LONLAT = (111.70, 40.82)
#: the most residents a hectare may hold
MAX_PER_HECTARE = 1000.0
#: nodata value of the saved population raster (as WorldPop)
NODATA = -99999.0

EARTH_RADIUS_M = 6_371_009.0  # osmnx.distance.EARTH_RADIUS_M
COORD_DECIMALS = 7  # OSM stores coordinates to 1e-7 degree
BUILT_UP_PER_HA = 20.0
SUBURB_PER_HA = 3.0
RURAL_PER_HA = 0.5

CLASSES = (
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "footway",
    "motorway",
    "motorway_link",
)
PRIMARY, SECONDARY, TERTIARY, RESIDENTIAL, FOOTWAY, MOTORWAY, LINK = range(7)
SPEEDS: tuple[str | None, ...] = (None, "40", "50", "60", "100")
KPH40, KPH50, KPH60, KPH100 = 1, 2, 3, 4


#: local metres (x east, y north) to rounded longitude / latitude
LonLat = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
