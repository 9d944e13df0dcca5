"""Road networks: loading OSM XML / PBF / GraphML (or downloading by place), per-mode travel times.

Graphs are osmnx-style ``networkx.MultiDiGraph`` objects (graph attribute ``crs``, nodes with
``x``/``y``, edges with ``length`` in metres and ``highway``). :func:`add_travel_times` keeps the
edges a mode may use and sets ``travel_time`` (seconds) on each.

Default speeds (km/h), documented here and in :data:`DRIVE_SPEEDS` / :data:`WALK_SPEED_KMH`:
walking 4.5 km/h on every walkable way (a common planning value for all ages); driving by
highway class, urban Chinese values (motorway 80, trunk 60, primary 50, secondary 40,
tertiary 35, unclassified/residential 25, living_street/service 15, links slightly slower than
their road); a tagged ``maxspeed`` wins for driving (osmnx speed imputation).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import networkx as nx

from siting_errors import DataNotFoundError, InputError, UnsupportedFormatError

__all__ = [
    "DRIVE_EXCLUDED",
    "DRIVE_SPEEDS",
    "MODES",
    "WALK_EXCLUDED",
    "WALK_SPEED_KMH",
    "add_travel_times",
    "fetch_roads",
    "load_roads",
]

logger = logging.getLogger(__name__)

MODES = ("walk", "drive")
WALK_SPEED_KMH = 4.5
DRIVE_SPEEDS: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 80.0,
        "motorway_link": 50.0,
        "trunk": 60.0,
        "trunk_link": 40.0,
        "primary": 50.0,
        "primary_link": 35.0,
        "secondary": 40.0,
        "secondary_link": 30.0,
        "tertiary": 35.0,
        "tertiary_link": 25.0,
        "unclassified": 25.0,
        "residential": 25.0,
        "living_street": 15.0,
        "service": 15.0,
        "road": 25.0,
    }
)
#: highway classes a mode may not use
WALK_EXCLUDED = frozenset(
    {
        "motorway",
        "motorway_link",
        "construction",
        "proposed",
        "abandoned",
        "raceway",
        "bus_guideway",
    }
)
DRIVE_EXCLUDED = frozenset(
    {
        "footway",
        "path",
        "pedestrian",
        "steps",
        "cycleway",
        "bridleway",
        "corridor",
        "track",
        "construction",
        "proposed",
        "abandoned",
        "platform",
        "elevator",
        "raceway",
        "bus_guideway",
        "busway",
    }
)
_SUFFIXES = (".osm", ".xml", ".osm.pbf", ".pbf", ".graphml")


def _highway(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def add_travel_times(
    graph: nx.MultiDiGraph, *, mode: str, speeds: Mapping[str, float] | None = None
) -> nx.MultiDiGraph:
    """A copy of ``graph`` with only the edges ``mode`` may use, each with ``travel_time`` (s).

    Walking: every walkable edge in both directions (one-ways ignored), ``speeds`` may override
    ``{"walk": km/h}``. Driving: one-ways respected as osmnx loaded them; ``speeds`` maps
    highway class → km/h (defaults :data:`DRIVE_SPEEDS`); tagged ``maxspeed`` wins.
    """
    if mode not in MODES:
        raise InputError(f"`mode` must be one of {', '.join(MODES)}, got {mode!r}")
    if graph.number_of_edges() == 0:
        raise InputError("the road graph has no edges")
    g = nx.MultiDiGraph(**graph.graph)
    g.add_nodes_from(graph.nodes(data=True))
    excluded = WALK_EXCLUDED if mode == "walk" else DRIVE_EXCLUDED
    if mode == "walk":
        kmh = float((speeds or {}).get("walk", WALK_SPEED_KMH))
        if kmh <= 0:
            raise InputError(f"walking speed must be > 0 km/h, got {kmh!r}")
        mps = kmh / 3.6
        seen: set[tuple[int, int]] = set()
        for u, v, data in graph.edges(data=True):
            hw = _highway(data.get("highway"))
            if hw in excluded or str(_first(data.get("foot", ""))) == "no":
                continue
            length = float(data.get("length", 0.0))
            for a, b in ((u, v), (v, u)):
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                g.add_edge(
                    a,
                    b,
                    **{k: val for k, val in data.items() if k != "reversed"},
                    travel_time=length / mps,
                    speed_kph=kmh,
                )
    else:
        table = dict(DRIVE_SPEEDS)
        table.update(speeds or {})
        fallback = float(table.get("road", 25.0))
        for u, v, key, data in graph.edges(keys=True, data=True):
            hw = _highway(data.get("highway"))
            if hw in excluded or str(_first(data.get("motor_vehicle", ""))) == "no":
                continue
            kmh = _maxspeed(data.get("maxspeed")) or table.get(hw, fallback)
            g.add_edge(
                u,
                v,
                key=key,
                **data,
                speed_kph=kmh,
                travel_time=float(data.get("length", 0.0)) / (kmh / 3.6),
            )
    g.remove_nodes_from([n for n in list(g.nodes) if g.degree(n) == 0])
    if g.number_of_edges() == 0:
        raise InputError(f"the road graph has no edge usable for mode {mode!r}")
    g.graph["siting_mode"] = mode
    return g


def _maxspeed(value: Any) -> float | None:
    value = _first(value)
    if value is None:
        return None
    text = str(value).strip().lower()
    factor = 1.609344 if "mph" in text else 1.0
    digits = "".join(ch for ch in text.split(";")[0] if ch.isdigit() or ch == ".")
    try:
        speed = float(digits) * factor
    except ValueError:
        return None
    return speed if 3 <= speed <= 200 else None


def _pbf_to_xml(path: Path, target: Path) -> None:
    """Write the ways with a ``highway`` tag (and their nodes) of a PBF as OSM XML."""
    import osmium

    ways = []
    needed: set[int] = set()
    for way in osmium.FileProcessor(str(path), osmium.osm.WAY):
        if "highway" in way.tags:
            refs = [n.ref for n in way.nodes]
            needed.update(refs)
            ways.append((way.id, refs, dict(way.tags)))
    nodes = {}
    for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
        if node.id in needed and node.location.valid():
            nodes[node.id] = (node.location.lon, node.location.lat)
    from xml.sax.saxutils import quoteattr

    with target.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for nid, (lon, lat) in nodes.items():
            out.write(f'<node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
        for wid, refs, tags in ways:
            out.write(f'<way id="{wid}">')
            out.write("".join(f'<nd ref="{r}"/>' for r in refs if r in nodes))
            out.write("".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()))
            out.write("</way>\n")
        out.write("</osm>\n")


def load_roads(
    path: str | Path,
    *,
    mode: str = "walk",
    speeds: Mapping[str, float] | None = None,
    simplify: bool = True,
) -> nx.MultiDiGraph:
    """Read a road network (``.osm``/``.xml``, ``.osm.pbf``/``.pbf``, ``.graphml``) with travel
    times for ``mode``. OSM files are read with osmnx (PBF through pyosmium)."""
    import osmnx as ox

    if mode not in MODES:
        raise InputError(f"`mode` must be one of {', '.join(MODES)}, got {mode!r}")
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"road network file {str(p)!r} does not exist")
    name = p.name.lower()
    if name.endswith(".graphml"):
        graph = ox.load_graphml(p)
    elif name.endswith((".osm.pbf", ".pbf")):
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / "roads.osm"
            _pbf_to_xml(p, xml)
            graph = _from_xml(xml, mode, simplify)
    elif name.endswith((".osm", ".xml")):
        graph = _from_xml(p, mode, simplify)
    else:
        raise UnsupportedFormatError(
            f"road network file {str(p)!r} has an unsupported format; supported: "
            f"{', '.join(_SUFFIXES)}"
        )
    if graph.number_of_edges() == 0:
        raise InputError(f"road network file {str(p)!r} has no roads")
    return add_travel_times(graph, mode=mode, speeds=speeds)


def _from_xml(path: Path, mode: str, simplify: bool) -> nx.MultiDiGraph:
    import osmnx as ox

    try:
        return ox.graph_from_xml(
            path, bidirectional=(mode == "walk"), simplify=simplify, retain_all=True
        )
    except ValueError as exc:  # osmnx raises on files without usable ways
        raise InputError(f"road network file {str(path)!r} has no usable roads: {exc}") from exc


def fetch_roads(
    place: str, *, mode: str = "walk", speeds: Mapping[str, float] | None = None
) -> nx.MultiDiGraph:
    """Download the road network of a place by name with osmnx (needs internet access)."""
    import osmnx as ox

    if mode not in MODES:
        raise InputError(f"`mode` must be one of {', '.join(MODES)}, got {mode!r}")
    graph = ox.graph_from_place(place, network_type=mode, retain_all=True)
    return add_travel_times(graph, mode=mode, speeds=speeds)
