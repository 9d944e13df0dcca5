"""Planning by the documents' rules: one run places every facility the rules ask for, in order,
each site carrying its ``tier`` and the ``rule`` that placed it, and ends with every admin unit
compliant or a named reason.

:func:`plan_by_rules` runs these steps on the scenario's one travel-time matrix
(:func:`siting.planning.travel_costs`, computed once and reused by every step):

1. **R1 + R5, sub-districts** — each sub-district gets R1's number of community health service
   centres (existing centres count), new ones chosen among the candidates inside it so every
   centre serves 30,000–100,000 residents, residents assigned within their own unit
   (:func:`siting.bands.plan_unit_centres`: capacitated p-median, soft bounds, the violation
   named where the bounds cannot all hold). Pairs beyond the search cutoff inside a unit get
   straight-line estimates (exact for straight-line runs; the output counts them otherwise).
2. **R2, townships** — a township without a township health centre gets one at the candidate
   inside it with the least population-weighted travel of its residents.
3. **R3, villages** (when given) — villages under 500 residents are grouped with adjacent
   ones, one (joint) village clinic per group at the member village with the least weighted
   travel (:mod:`siting.villages`); villages in sub-districts get none (R5).
4. **R6 (+ R4, R5), the circle** — every resident whom some eligible candidate reaches within
   the threshold ends up within the threshold of an open facility of any tier: the fewest new
   community health service stations (sub-districts) or village clinics (townships) as a set
   cover (LSCP) over the residents not yet inside; with a ``station_budget`` the most
   residents with at most that many (MCLP). With points of interest (R4), a chosen site is
   swapped for a co-located candidate wherever that keeps every resident it alone covered.
5. **R3, touring** — villages (or, without villages, demand points) no fixed facility reaches
   within the threshold go on the touring-service list with population and location.
6. **County steps** when asked — R7 sub-centres among the township health centres, R9 the lead
   hospital of each township centre, R10 emergency stations (:mod:`siting.county`).
7. **R11** — beds and staff for every open facility from the residents assigned to it.

With ``new_sites=0`` nothing new is opened: the open sites are judged as they are (a baseline,
or a what-if edit), which shows which rules they break.

Each site's ``assigned_population`` is its own tier's load: a centre's R1 assignment, a
township health centre's residents of its township (nearest centre), a station's or clinic's
residents whose nearest open facility it is. Station and clinic catchments overlap the centres'
(a resident has a centre and may have a nearer station); R11 staffing follows those loads.
"""

from __future__ import annotations

from siting.ruleplan._plan import plan_by_rules
from siting.ruleplan._state import STATION_TIERS

__all__ = ["STATION_TIERS", "plan_by_rules"]
