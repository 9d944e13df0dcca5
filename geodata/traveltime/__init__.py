"""Travel-time matrices and nearest-site times: bounded Dijkstra searches over the compact network.

A pair's time is the demand point's access leg + the network time from its node to the site's
node + the site's access leg. :func:`travel_times` runs one bounded search per distinct site node
on the reversed graph (so one-way streets count in the demand → site direction); demand points
sharing a node are searched once and expanded after (aggregation by node, with each point's
own access leg kept). Only pairs within the cutoff (inclusive) are kept, sparse end to end.
:func:`nearest_k_times` keeps each demand point's ``k`` nearest sites within a longer cutoff
(for p-median); :func:`nearest_times` gives every demand point its nearest site in one search.

The engine is :func:`bounded_times`: ``scipy.sparse.csgraph.dijkstra`` with a limit, run on
*local* subgraphs. A path of ``t`` seconds cannot leave the disc of radius ``t × vmax`` around
its start, where ``vmax`` is the network's largest straight-line speed over any edge (metres
between the edge's end nodes / its time), so sources are grouped on a grid of cells of that
radius and each group is searched on the subgraph of the 3 × 3 cells around it: the same times
as a search on the whole graph, without scipy's O(n_nodes) set-up and dense row per source.
When the disc covers most of the network (driving, long cutoffs) or an edge has zero time and
nonzero length, the whole graph is searched in chunks of dense rows (:data:`CHUNK_BYTES`).
scipy's dijkstra holds the GIL (threads measured no faster), so large jobs are split over
processes (``workers``, forked, Linux/macOS): whole-graph searches hand their rows back
through anonymous shared memory (no pickling of tens of millions of pairs), large local
searches filtered by ``targets`` through pipes.

Modules: :mod:`~geodata.traveltime.pairs` (demand × site times, the public functions),
:mod:`~geodata.traveltime.engine` (:func:`bounded_times`), :mod:`~geodata.traveltime.search`
(how a search is split into groups and subgraphs) and :mod:`~geodata.traveltime._execution`
(the searches themselves, in this process or in forked children).
"""

from geodata.traveltime.engine import bounded_times
from geodata.traveltime.pairs import TravelTimes, nearest_k_times, nearest_times, travel_times
from geodata.traveltime.search import max_speed

__all__ = [
    "TravelTimes",
    "bounded_times",
    "max_speed",
    "nearest_k_times",
    "nearest_times",
    "travel_times",
]
