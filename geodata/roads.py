"""Road graphs: reading OSM XML / PBF / GraphML files and preparing per-mode travel times.

Graphs are osmnx-style ``networkx.MultiDiGraph`` objects: graph attribute ``crs``, nodes with
``x``/``y`` (longitude/latitude), edges with ``length`` (metres), ``highway``, ``oneway`` and
optionally ``geometry``. :func:`add_travel_times` keeps the edges a travel mode may use and sets
``speed_kph`` and ``travel_time`` (seconds) on each.

Modes and default speeds (km/h; override any class with ``speeds={"class": kmh}``, and the
speed of classes not listed with ``speeds={"default": kmh}``):

* ``walk`` — :data:`WALK_SPEEDS`: 4.5 km/h on every walkable way (a common planning value for
  all ages, 75 m a minute). Every edge is walkable in both directions (one-way tags are for
  vehicles). Excluded: the classes in :data:`WALK_EXCLUDED` (motorways and their links, ways
  under construction or disused, platforms, raceways, busways); ``cycleway`` unless
  ``foot=yes/designated/permissive``; ``foot=no/private``; ``access=no/private`` unless foot is
  allowed explicitly; ``service=private``.
* ``drive`` — :data:`DRIVE_SPEEDS`: free-flow urban speeds after the Chinese urban road design
  code (CJJ 37-2012: expressway 60–100, arterial 40–60, collector 30–50, local 20–40 km/h):
  motorway 80, trunk 60, primary 50, secondary 40, tertiary 30, unclassified 30, residential
  20, living_street 10, service 15, track 15, links slower than their road; other classes
  25 (``default``). A tagged ``maxspeed`` that parses to a positive speed wins (osmnx
  ``routing.add_edge_speeds`` with these values as ``hwy_speeds`` fallbacks). One-way streets
  (``oneway=yes/-1``, roundabouts) are respected. Excluded: the classes in
  :data:`DRIVE_EXCLUDED` (footway, path, pedestrian, steps, cycleway, bridleway, corridor,
  elevator, escalator, platform, busway, ways under construction or disused, ...);
  ``motor_vehicle``/``motorcar=no/private``; ``access=no/private`` unless motor vehicles are
  allowed explicitly; ``service=parking_aisle/driveway/private/emergency_access``; ``area=yes``.
  ``track`` is kept (at 15 km/h): in rural and pastoral areas many villages are reached only
  by tracks.

An edge whose ``highway`` is a list (a simplified graph merging several ways) is judged and
timed by the first class, as osmnx does; an edge without ``highway`` (a building or river in
a raw OSM file) is never a road.

Reading: line layers (``.geojson``/``.json``, ``.gpkg``, ``.shp``, zipped ones) through
:mod:`geodata.readers` with optional class, speed and one-way fields
(:class:`LineFields`, :mod:`geodata._roadlines`); ``.osm``/``.xml`` with
``osmnx.graph_from_xml``; ``.osm.pbf``/``.pbf`` with pyosmium
in one pass (ways with a ``highway`` tag and their node locations), building the same graph
as osmnx would from the same data — 3–4× faster than writing the highway ways to an OSM
XML file and reading that with osmnx (São Paulo extract: 0.7 s against 1.9–2.7 s), and checked
equal edge by edge in the tests;
``.graphml`` with a streaming reader that gives ``osmnx.load_graphml``'s graph
(:mod:`geodata._graphml`). Graphs are not simplified by default: keeping the
nodes along curved and long roads keeps the off-network access legs short when snapping.
``simplify=True`` merges degree-2 nodes after the mode filter (travel times summed exactly).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import groupby, pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

import networkx as nx

from geodata._graphml import load_graphml
from geodata._roadlines import SPEED_UNITS, LineFields
from siting_errors import DataNotFoundError, InputError, UnsupportedFormatError

__all__ = [
    "DRIVE_EXCLUDED",
    "DRIVE_SPEEDS",
    "LINE_SUFFIXES",
    "MODES",
    "SPEED_UNITS",
    "SUPPORTED_SUFFIXES",
    "WALK_EXCLUDED",
    "WALK_SPEEDS",
    "WALK_SPEED_KMH",
    "LineFields",
    "add_travel_times",
    "load_roads",
]

logger = logging.getLogger(__name__)

#: the travel modes a road graph can be prepared for
MODES: tuple[str, ...] = ("walk", "drive")

#: the default walking speed (km/h), also the speed of the off-network access leg
WALK_SPEED_KMH = 4.5

#: walking speeds by highway class (km/h); ``default`` applies to every class not listed
WALK_SPEEDS: Mapping[str, float] = MappingProxyType({"default": WALK_SPEED_KMH})

#: free-flow driving speeds by highway class (km/h), urban China; a tagged maxspeed wins
DRIVE_SPEEDS: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 80.0,
        "motorway_link": 40.0,
        "trunk": 60.0,
        "trunk_link": 30.0,
        "primary": 50.0,
        "primary_link": 30.0,
        "secondary": 40.0,
        "secondary_link": 25.0,
        "tertiary": 30.0,
        "tertiary_link": 20.0,
        "unclassified": 30.0,
        "residential": 20.0,
        "living_street": 10.0,
        "service": 15.0,
        "track": 15.0,
        "road": 25.0,
        "default": 25.0,
    }
)

_UNUSABLE = frozenset(
    {
        "abandoned",
        "bus_guideway",
        "busway",
        "construction",
        "disused",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
    }
)
#: highway classes walking may not use (besides the tag rules in the module docstring)
WALK_EXCLUDED: frozenset[str] = _UNUSABLE | {"motorway", "motorway_link"}
#: highway classes driving may not use (besides the tag rules in the module docstring)
DRIVE_EXCLUDED: frozenset[str] = _UNUSABLE | {
    "bridleway",
    "corridor",
    "cycleway",
    "elevator",
    "escalator",
    "footway",
    "path",
    "pedestrian",
    "steps",
    "via_ferrata",
}

#: line-layer suffixes load_roads reads (through geodata.readers)
LINE_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".gpkg", ".shp", ".zip")
#: file suffixes load_roads reads
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".osm",
    ".xml",
    ".osm.pbf",
    ".pbf",
    ".graphml",
    *LINE_SUFFIXES,
)

_ALLOWED = frozenset({"yes", "designated", "permissive", "destination"})
_DENIED = frozenset({"no", "private"})
_NO_DRIVE_SERVICE = frozenset({"parking_aisle", "driveway", "private", "emergency_access"})
# OSM way tags kept on edges: osmnx's defaults plus the access tags the mode rules read
_EXTRA_WAY_TAGS = ("foot", "motor_vehicle", "motorcar")
# osmnx's rules for one-way ways (graph._add_paths)
_ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
_REVERSED_VALUES = frozenset({"-1", "reverse", "T"})


def _check_mode(mode: object) -> str:
    if mode not in MODES:
        raise InputError(f"`mode` must be one of {', '.join(MODES)}, got {mode!r}")
    return str(mode)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


_EMPTY: frozenset[str] = frozenset()


def _values(value: Any) -> frozenset[str] | set[str]:
    """A tag value (or list of values, after simplification) as a set of strings."""
    if value is None:
        return _EMPTY
    items = value if isinstance(value, list) else [value]
    return {part.strip().lower() for item in items for part in str(item).split(";")}


def _speed_table(mode: str, speeds: Mapping[str, float] | None) -> dict[str, float]:
    table = dict(WALK_SPEEDS if mode == "walk" else DRIVE_SPEEDS)
    if speeds is None:
        return table
    if not isinstance(speeds, Mapping):
        raise InputError(
            f"`speeds` must map highway classes to km/h, e.g. {{'default': 5.0}}, got {speeds!r}"
        )
    given: dict[str, object] = dict(speeds)
    for key, value in given.items():
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise InputError(
                f"`speeds[{key!r}]` must be a speed in km/h greater than 0, got {value!r}"
            )
        table[str(key)] = float(value)
    return table


def _usable(data: Mapping[str, Any], mode: str) -> bool:
    """Whether an edge with these attributes may be used by ``mode`` (rules: module docstring)."""
    highway = _first(data.get("highway"))
    if highway is None or highway == "":
        return False
    highway = str(highway)
    access = _values(data.get("access"))
    if mode == "walk":
        foot = _values(data.get("foot"))
        if highway in WALK_EXCLUDED or foot & _DENIED or "private" in _values(data.get("service")):
            return False
        if highway == "cycleway" and not foot & _ALLOWED:
            return False
        return not (access & _DENIED and not foot & _ALLOWED)
    motor = _values(data.get("motor_vehicle")) | _values(data.get("motorcar"))
    if highway in DRIVE_EXCLUDED or motor & _DENIED or "yes" in _values(data.get("area")):
        return False
    if _values(data.get("service")) & _NO_DRIVE_SERVICE:
        return False
    return not (access & _DENIED and not motor & _ALLOWED)


def _osmid_key(value: Any) -> Any:
    return frozenset(str(v) for v in value) if isinstance(value, list) else value


def _reversed_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["reversed"] = not bool(_first(data.get("reversed", False)))
    geometry = data.get("geometry")
    if geometry is not None and hasattr(geometry, "coords"):
        import shapely

        out["geometry"] = shapely.reverse(geometry)
    return out


def add_travel_times(
    graph: nx.MultiDiGraph, *, mode: str, speeds: Mapping[str, float] | None = None
) -> nx.MultiDiGraph:
    """A new graph with only the edges ``mode`` may use, each with ``speed_kph`` and
    ``travel_time`` (seconds); nodes left without an edge are dropped. ``graph`` is not changed.

    Walking makes every kept edge two-way (a reverse copy is added where the graph has no edge
    of the same way in the other direction); driving keeps the directions osmnx loaded.
    ``speeds`` overrides the default km/h by highway class (module docstring). The result is
    marked with graph attribute ``siting_mode``; a graph already prepared for the other mode
    is refused (its edges were filtered for that mode), the same mode is recomputed.
    """
    mode = _check_mode(mode)
    table = _speed_table(mode, speeds)
    if not isinstance(graph, nx.MultiDiGraph):
        raise InputError(
            f"`graph` must be an osmnx-style networkx.MultiDiGraph, got {type(graph).__name__}"
        )
    prepared = graph.graph.get("siting_mode")
    if prepared is not None and prepared != mode:
        raise InputError(
            f"the road graph was prepared for mode {prepared!r} (its edges filtered for it), "
            f"cannot prepare it for {mode!r}; load the roads again with mode={mode!r}"
        )
    if next(iter(graph.edges), None) is None:
        raise InputError("the road graph has no edges")
    out = nx.MultiDiGraph(**graph.graph)
    kept: list[tuple[Any, Any, Any, dict[str, Any]]] = []
    no_length = 0
    for u, v, key, data in graph.edges(keys=True, data=True):
        if not _usable(data, mode):
            continue
        length = data.get("length")
        if not isinstance(length, numbers.Real) or not math.isfinite(length) or length < 0:
            no_length += 1
            continue
        kept.append((u, v, key, dict(data)))
    if no_length:
        raise InputError(
            f"{no_length} road edges have no valid `length` (metres, finite, >= 0); "
            "osmnx graphs have one on every edge"
        )
    if not kept:
        raise InputError(f"the road graph has no edge usable for mode {mode!r}")
    if mode == "walk":
        have = {(u, v, _osmid_key(d.get("osmid"))) for u, v, _, d in kept}
        reverse = [
            (v, u, None, _reversed_copy(d))
            for u, v, _, d in kept
            if u != v and (v, u, _osmid_key(d.get("osmid"))) not in have
        ]
        kept.extend(reverse)
    used = {n for u, v, _, _ in kept for n in (u, v)}
    out.add_nodes_from((n, graph.nodes[n]) for n in graph.nodes if n in used)
    out.add_edges_from(kept)  # (u, v, key, data); key None: the next free key
    if mode == "walk":
        for _, _, data in out.edges(data=True):
            data["speed_kph"] = table.get(str(_first(data.get("highway"))), table["default"])
    else:
        _drive_speeds(out, table)
    for _, _, data in out.edges(data=True):
        data["travel_time"] = float(data["length"]) / (float(data["speed_kph"]) / 3.6)
    out.graph["siting_mode"] = mode
    logger.info(
        "road graph for %s: %d nodes, %d edges (from %d nodes, %d edges)",
        mode,
        out.number_of_nodes(),
        out.number_of_edges(),
        graph.number_of_nodes(),
        graph.number_of_edges(),
    )
    return out


def _drive_speeds(graph: nx.MultiDiGraph, table: Mapping[str, float]) -> None:
    """Set ``speed_kph``: tagged maxspeed, else the class speed (osmnx add_edge_speeds)."""
    import osmnx as ox

    hwy = {k: v for k, v in table.items() if k != "default"}
    ox.routing.add_edge_speeds(graph, hwy_speeds=hwy, fallback=table["default"])
    for _, _, data in graph.edges(data=True):
        kph = data.get("speed_kph")
        if kph is None or not math.isfinite(kph) or kph <= 0:  # e.g. maxspeed=0
            data["speed_kph"] = table.get(str(_first(data.get("highway"))), table["default"])


@contextmanager
def _osmnx_way_tags() -> Iterator[None]:
    """osmnx keeps only ``settings.useful_tags_way`` on edges; add the access tags the mode
    rules read for the duration of one read, then restore the setting."""
    import osmnx as ox

    before = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = before + [t for t in _EXTRA_WAY_TAGS if t not in before]
    try:
        yield
    finally:
        ox.settings.useful_tags_way = before


def _graph_from_osmium(path: Path) -> nx.MultiDiGraph:
    """The osmnx graph (unsimplified, one-ways respected) of the ``highway`` ways of an OSM file
    (PBF, or XML), read with pyosmium in one pass; the same graph ``osmnx.graph_from_xml``
    builds from the same ways (osmnx's one-way rules, great-circle lengths, useful node and
    way tags). References to nodes missing from the file (ways clipped at the extract's edge)
    are left out."""
    import osmium
    import osmnx as ox

    way_tags = list(ox.settings.useful_tags_way) + list(_EXTRA_WAY_TAGS)
    node_tags = list(ox.settings.useful_tags_node)
    graph = nx.MultiDiGraph(crs=ox.settings.default_crs)
    coords: dict[int, tuple[float, float]] = {}
    tagged: dict[int, dict[str, str]] = {}
    try:
        reader: Any = osmium.FileProcessor(str(path)).with_locations()  # yields any OSM object
        for obj in reader:
            if obj.is_node():
                if len(obj.tags):
                    found = {k: obj.tags[k] for k in node_tags if k in obj.tags}
                    if found:
                        tagged[obj.id] = found
                continue
            if not obj.is_way() or "highway" not in obj.tags:
                continue
            refs = []
            for node in obj.nodes:
                if node.location.valid():
                    coords[node.ref] = (node.lon, node.lat)
                    refs.append(node.ref)
            attrs: dict[str, Any] = {"osmid": obj.id}
            attrs.update({k: obj.tags[k] for k in way_tags if k in obj.tags})
            _add_path(graph, [g for g, _ in groupby(refs)], attrs)
    except RuntimeError as exc:  # libosmium: unreadable / corrupt file
        raise InputError(f"could not read OSM file {str(path)!r}: {exc}") from exc
    for node in graph.nodes:
        lon, lat = coords[node]
        graph.nodes[node].update(y=lat, x=lon, **tagged.get(node, {}))
    if graph.number_of_edges():
        graph = ox.distance.add_edge_lengths(graph)
    return graph


def _add_path(graph: nx.MultiDiGraph, nodes: list[int], attrs: dict[str, Any]) -> None:
    """Add one OSM way as edges, by osmnx's rules (``graph._add_paths``, not bidirectional)."""
    oneway = attrs.get("oneway") in _ONEWAY_VALUES or attrs.get("junction") == "roundabout"
    if oneway and attrs.get("oneway") in _REVERSED_VALUES:
        nodes = nodes[::-1]
    attrs["oneway"] = oneway
    edges = list(pairwise(nodes))
    attrs["reversed"] = False
    graph.add_edges_from(edges, **attrs)
    if not oneway:
        attrs["reversed"] = True
        graph.add_edges_from([(v, u) for u, v in edges], **attrs)


def _graph_from_xml(path: Path) -> nx.MultiDiGraph:
    from xml.sax import SAXException

    import osmnx as ox

    try:
        with _osmnx_way_tags():
            return ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
    except SAXException as exc:
        raise InputError(f"could not read OSM XML file {str(path)!r}: {exc}") from exc
    except ValueError as exc:  # osmnx's InsufficientResponseError (no ways) is a ValueError
        if "missing nodes" not in str(exc):
            raise InputError(f"could not read OSM XML file {str(path)!r}: {exc}") from exc
    # osmnx cannot build ways that refer to nodes missing from the file (a clipped extract)
    logger.info(
        "%s: some ways refer to nodes missing from the file; read with pyosmium, which leaves "
        "those references out",
        path,
    )
    return _graph_from_osmium(path)


def _graph_from_layer(path: Path, fields: LineFields) -> nx.MultiDiGraph:
    """The road graph of a line layer (:func:`geodata._roadlines.graph_from_lines`)."""
    from geodata._roadlines import graph_from_lines
    from geodata.readers import read_vector

    what = f"road network file {str(path)!r}"
    frame = read_vector(path, what="road network file", layer=fields.layer)
    if len(frame) == 0:
        raise InputError(f"{what} has no features")
    return graph_from_lines(frame, fields, what=what)


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next(
        (s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None
    )


def load_roads(
    path: str | Path,
    *,
    mode: str = "walk",
    speeds: Mapping[str, float] | None = None,
    simplify: bool = False,
    retain_all: bool = False,
    fields: LineFields | None = None,
) -> nx.MultiDiGraph:
    """Read a road network file and prepare it for ``mode`` (:func:`add_travel_times`).

    Formats: ``.osm``/``.xml`` (OSM XML), ``.osm.pbf``/``.pbf`` (OSM PBF), ``.graphml``
    (osmnx GraphML), and line layers (GeoJSON, GeoPackage, shapefile, zipped ones) read with
    ``fields`` (:class:`LineFields`: the class, speed and one-way fields, the end-point
    tolerance; defaults when ``None``). ``simplify`` merges degree-2 nodes after the mode
    filter. Unless ``retain_all``, only the largest weakly connected part of the mode's
    network is kept, so no point is snapped onto a fragment cut off from the rest.
    """
    mode = _check_mode(mode)
    p = Path(path)
    suffix = _suffix(p)
    if not p.exists():
        raise DataNotFoundError(f"road network file {str(p)!r} does not exist")
    if suffix is None or p.is_dir():
        raise UnsupportedFormatError(
            f"road network file {str(p)!r} has an unsupported format; supported: "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    if fields is not None and suffix not in LINE_SUFFIXES:
        raise InputError(
            f"road network file {str(p)!r}: line-layer fields (class, speed, one-way, "
            f"tolerance) apply to line layers ({', '.join(LINE_SUFFIXES)}), not to {suffix}"
        )
    if suffix in LINE_SUFFIXES:
        graph = _graph_from_layer(p, fields or LineFields())
    elif suffix == ".graphml":
        graph = load_graphml(p)
    elif suffix in (".osm.pbf", ".pbf"):
        graph = _graph_from_osmium(p)
    else:
        graph = _graph_from_xml(p)
    if graph.number_of_edges() == 0:
        raise InputError(f"road network file {str(p)!r} has no roads (no way with a highway tag)")
    try:
        prepared = add_travel_times(graph, mode=mode, speeds=speeds)
    except InputError as exc:
        raise InputError(f"road network file {str(p)!r}: {exc}") from exc
    return _finish(prepared, simplify=simplify, retain_all=retain_all)


def _finish(graph: nx.MultiDiGraph, *, simplify: bool, retain_all: bool) -> nx.MultiDiGraph:
    """Keep the largest part and simplify, in place (``graph`` is a fresh prepared copy)."""
    import osmnx as ox

    if not retain_all:
        parts = sorted(nx.weakly_connected_components(graph), key=len, reverse=True)
        if len(parts) > 1:
            n = graph.number_of_nodes()
            graph.remove_nodes_from([node for part in parts[1:] for node in part])
            logger.info(
                "kept the largest connected part of the road network: %d of %d nodes "
                "(%d smaller parts dropped)",
                graph.number_of_nodes(),
                n,
                len(parts) - 1,
            )
    if simplify and not graph.graph.get("simplified"):
        graph = ox.simplify_graph(graph)
    return graph
