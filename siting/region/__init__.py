"""Region-scale planning: split a region into planning units (counties), plan each unit as a
Dask task with a cross-border buffer, cache per unit, and gather one GeoPackage + compliance.

Workflow (:func:`plan_region`):

1. :func:`split_region` builds one :class:`UnitJob` per unit. **Counting rule (no double
   counting):** every demand point belongs to exactly one unit, the one containing it
   (:func:`geodata.assign_units`; on a shared border the first unit in file order), and is
   counted, solved for and reported only there; points outside every unit are dropped (and
   reported). Every candidate site belongs to the unit containing it and only that unit may
   open it, so no site is opened twice. A unit's scenario also holds the **existing** sites of
   its neighbours within ``buffer_km`` of its border (fixed open, never counted in its own
   centres) and the road network within the same buffer, so demand near a border may be served
   (and counted as covered) by a neighbour's clinic across the border. New sites a neighbour
   opens are decided concurrently and are not seen by the unit, so cross-border coverage by new
   sites is not credited: the region's coverage is conservative (a lower bound). Travel times
   are computed on the buffered network only, so they are exact for paths that stay within the
   buffer and an over-estimate otherwise (also conservative).
2. Each job's inputs are hashed (:func:`unit_key`: unit geometry, demand, sites, roads,
   settings, rules, a format version). With ``cache_dir``, a finished unit is stored as
   ``<unit_id>-<key>.npz`` (arrays and JSON, no pickle; :mod:`siting.region.cache`) as soon
   as its result reaches the client; a rerun with the same
   inputs loads it instead of recomputing. Failed units are never cached.
3. Jobs run as tasks on a ``dask.distributed`` cluster: a ``LocalCluster`` of worker
   processes on loopback by default, or an existing scheduler (``scheduler="tcp://HOST:PORT"``).
   Each task is :func:`run_unit`, which never raises: a unit whose inputs are broken (or whose
   solve fails) comes back as a failed :class:`UnitOutcome` with the error, and the other units
   carry on; a task lost with its worker is reported the same way. Progress is reported per unit
   (one line each, after the dashboard link). ``serial=True`` runs the same tasks in-process.
4. :class:`RegionResult` merges the units: demand points, sites (per-site served population
   recomputed over every unit's demand, so a clinic serving across a border counts all its
   residents), one compliance report (:func:`siting.compliance.compliance_table` over the
   merged tables; failed units listed with their error) and :meth:`RegionResult.save` writes
   one GeoPackage, the compliance CSV and a JSON summary (:func:`siting.outputs.save_region`).

Dask is an optional dependency (extra ``distributed``), imported only when a cluster is used.

Modules: :mod:`~siting.region.settings` (the shared parameters), :mod:`~siting.region.inputs`
(loading), :mod:`~siting.region.split` (step 1), :mod:`~siting.region.roads` (a unit's share of
the road graph), :mod:`~siting.region.cache` (step 2), :mod:`~siting.region.unit` (one unit's
task), :mod:`~siting.region.executor` (step 3), :mod:`~siting.region.gather` (step 4).
"""

from siting.region.cache import CACHE_VERSION, unit_key
from siting.region.executor import plan_region
from siting.region.gather import COUNTING_RULE, RegionResult
from siting.region.inputs import load_region_inputs
from siting.region.roads import RoadWindow
from siting.region.settings import RegionSettings
from siting.region.split import split_region
from siting.region.unit import UnitJob, UnitOutcome, run_unit

__all__ = [
    "CACHE_VERSION",
    "COUNTING_RULE",
    "RegionResult",
    "RegionSettings",
    "RoadWindow",
    "UnitJob",
    "UnitOutcome",
    "load_region_inputs",
    "plan_region",
    "run_unit",
    "split_region",
    "unit_key",
]
