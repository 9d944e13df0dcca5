"""Travel times of a scenario: the demand × site matrix (network or straight line), computed
once per scenario and reused by every plan and what-if, with the checks that it matches.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np

from geodata.crs import local_utm_crs
from siting.scenario import STRAIGHT_LINE_SPEED_KMH, Scenario
from siting_errors import InputError
from solvers import CostMatrix

#: a search "without a limit" (30 years, longer than any route)
NO_LIMIT_SECONDS = 1e9

if TYPE_CHECKING:
    from geodata.crs import Extent
    from geodata.network import Network
    from geodata.snapping import Snap

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class TravelCosts:
    """Travel times (minutes) from every demand point to every site within ``cutoff_minutes``.

    Attributes:
        costs: the sparse demand × site matrix (a missing pair is farther than the cutoff or
            unreachable).
        cutoff_minutes: the search limit used.
        method: ``network`` or ``straight_line``.
        demand_snapped / site_snapped: which points reached the network (all True for
            straight-line runs).
        network: the :class:`geodata.Network` used (``None`` for straight-line runs).
        site_snap: the sites' snap to the network (``None`` for straight-line runs).
        demand_ids / site_ids: the row and column labels, to check a scenario matches.
        village_costs / village_ids: a rules plan's villages × sites matrix (rule R3), within
            the same cutoff, and its row labels (``None`` without villages).
    """

    costs: CostMatrix
    cutoff_minutes: float
    method: str
    demand_snapped: np.ndarray
    site_snapped: np.ndarray
    network: Network | None
    site_snap: Snap | None
    demand_ids: np.ndarray
    site_ids: np.ndarray
    seconds: float
    village_costs: CostMatrix | None = None
    village_ids: np.ndarray | None = None

    def restrict_sites(self, index: np.ndarray) -> TravelCosts:
        """The travel costs of a subset of the sites, in the order of ``index`` (what-if runs
        that close sites reuse the travel times this way)."""
        index = np.asarray(index, dtype=np.int64)
        return dataclasses.replace(
            self,
            costs=self.costs.restrict_sites(index),
            site_snapped=np.asarray(self.site_snapped)[index],
            site_snap=None if self.site_snap is None else self.site_snap_subset(index),
            site_ids=np.asarray(self.site_ids)[index],
            village_costs=None
            if self.village_costs is None
            else self.village_costs.restrict_sites(index),
        )

    def site_snap_subset(self, index: np.ndarray) -> Snap:
        """The site snap restricted to the given site indices (for service areas)."""
        snap = self.site_snap
        if snap is None:
            raise InputError("straight-line travel costs have no site snap")
        return type(snap)(
            **{
                f.name: (
                    getattr(snap, f.name)[index]
                    if isinstance(getattr(snap, f.name), np.ndarray)
                    else getattr(snap, f.name)
                )
                for f in dataclasses.fields(snap)
            }
        )


def search_seconds(minutes: float) -> float:
    """A search limit in seconds for geodata's searches; ``inf`` (no limit) as
    :data:`NO_LIMIT_SECONDS`."""
    return minutes * 60.0 if np.isfinite(minutes) else NO_LIMIT_SECONDS


def say(progress: Progress | None, message: str) -> None:
    """Log a progress message and pass it to ``progress``."""
    logger.info(message)
    if progress is not None:
        progress(message)


def travel_costs(scenario: Scenario, *, progress: Progress | None = None) -> TravelCosts:
    """Compute the demand × site travel-time matrix of a scenario (minutes, sparse)."""
    start = time.perf_counter()
    cutoff = scenario.search_cutoff_minutes
    demand_ids = scenario.demand["demand_id"].astype(str).to_numpy()
    site_ids = scenario.sites["site_id"].astype(str).to_numpy()
    if scenario.roads is None:
        from geodata.euclidean import straight_line_times

        say(progress, "straight-line travel times (no road network given)")
        crs = local_utm_crs(scenario.demand)
        speed = straight_line_speed(scenario)
        site_xy = scenario.sites.geometry.to_crs(crs)

        def line(points: gpd.GeoDataFrame) -> CostMatrix:
            tt = straight_line_times(
                points.geometry.to_crs(crs),
                site_xy,
                speed_kmh=speed,
                detour_factor=scenario.detour_factor,
                cutoff=search_seconds(cutoff),
            )
            return CostMatrix.from_triples(
                tt.rows, tt.cols, np.round(tt.seconds / 60.0, 9), tt.shape
            )

        costs = line(scenario.demand)
        if costs.nnz == 0:
            _no_pairs(scenario, cutoff)
        ones_d = np.ones(len(demand_ids), dtype=bool)
        ones_s = np.ones(len(site_ids), dtype=bool)
        villages = _rules_villages(scenario)
        return TravelCosts(
            costs,
            cutoff,
            "straight_line",
            ones_d,
            ones_s,
            None,
            None,
            demand_ids,
            site_ids,
            time.perf_counter() - start,
            None if villages is None else line(villages),
            None if villages is None else villages["village_id"].astype(str).to_numpy(),
        )

    from geodata.network import Network, prepare_network
    from geodata.snapping import snap_points
    from geodata.traveltime import travel_times

    if not isinstance(scenario.roads, Network):
        say(progress, "preparing the road network")
    net = prepare_network(scenario.roads, mode=scenario.mode)
    say(progress, f"snapping {len(demand_ids):,} demand points and {len(site_ids):,} sites")
    dsnap = snap_points(
        net,
        scenario.demand,
        max_distance=scenario.max_snap_distance,
        walk_speed_kmh=scenario.walk_speed_kmh,
    )
    ssnap = snap_points(
        net,
        scenario.sites,
        max_distance=scenario.max_snap_distance,
        walk_speed_kmh=scenario.walk_speed_kmh,
    )
    for what, frame, snap in (
        ("population", scenario.demand, dsnap),
        ("sites", scenario.sites, ssnap),
    ):
        if not np.asarray(snap.snapped).any():
            _off_network(scenario, what, frame, net)
    say(progress, f"travel times within {cutoff:g} minutes ({scenario.mode})")
    tt = travel_times(net, dsnap, ssnap, cutoff=search_seconds(cutoff))
    costs = CostMatrix.from_triples(tt.rows, tt.cols, np.round(tt.seconds / 60.0, 9), tt.shape)
    if costs.nnz == 0:
        _no_pairs(scenario, cutoff)
    villages = _rules_villages(scenario)
    village_costs = None
    if villages is not None:
        vsnap = snap_points(
            net,
            villages,
            max_distance=scenario.max_snap_distance,
            walk_speed_kmh=scenario.walk_speed_kmh,
        )
        vt = travel_times(net, vsnap, ssnap, cutoff=search_seconds(cutoff))
        village_costs = CostMatrix.from_triples(
            vt.rows, vt.cols, np.round(vt.seconds / 60.0, 9), vt.shape
        )
    return TravelCosts(
        costs,
        cutoff,
        "network",
        np.asarray(dsnap.snapped),
        np.asarray(ssnap.snapped),
        net,
        ssnap,
        demand_ids,
        site_ids,
        time.perf_counter() - start,
        village_costs,
        None if villages is None else villages["village_id"].astype(str).to_numpy(),
    )


def _rules_villages(scenario: Scenario) -> gpd.GeoDataFrame | None:
    """The villages whose travel times a rules plan needs (R3), else ``None``."""
    if scenario.model != "rules" or scenario.villages is None:
        return None
    return scenario.villages


def straight_line_speed(scenario: Scenario) -> float:
    """The speed (km/h) of a scenario's straight-line travel times."""
    if scenario.mode == "walk":
        return float(scenario.walk_speed_kmh)
    return STRAIGHT_LINE_SPEED_KMH[scenario.mode]


def travel_notes(scenario: Scenario, travel: TravelCosts) -> list[str]:
    """Sentences on how travel times were obtained: the straight-line fallback, points too far
    from the road network."""
    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    notes = []
    if travel.method == "straight_line":
        notes.append(
            f"travel times are straight-line distance x {scenario.detour_factor} (detour factor) "
            f"at {straight_line_speed(scenario):g} km/h: no road network was given"
        )
    n_unsnapped_d = int((~travel.demand_snapped).sum())
    if n_unsnapped_d:
        lost = float(pop[~travel.demand_snapped].sum())
        notes.append(
            f"{n_unsnapped_d:,} demand points ({lost:,.0f} residents) are more than "
            f"{scenario.max_snap_distance:g} m from the road network and count as unreachable"
        )
    n_unsnapped_s = int((~travel.site_snapped).sum())
    if n_unsnapped_s:
        ids = travel.site_ids[~travel.site_snapped][:10].tolist()
        notes.append(
            f"{n_unsnapped_s:,} sites are more than {scenario.max_snap_distance:g} m from the road "
            f"network and cannot serve anyone: {ids}"
        )
    return notes


def _swap_hint(a: Extent, b: Extent, what: str) -> str:
    if a.swapped().overlaps(b):
        return f"; the {what}'s longitude and latitude look swapped (swapped, they would overlap)"
    return ""


def _off_network(scenario: Scenario, what: str, frame: gpd.GeoDataFrame, net: Network) -> None:
    """No point of ``frame`` reached the road network: the inputs do not overlap."""
    from geodata.crs import extent_of

    mine, roads = extent_of(frame), extent_of(net.x, net.y, net.crs)
    where = "do not overlap" if not mine.overlaps(roads) else "barely overlap"
    raise InputError(
        f"the {what} ({mine}) and the road network ({roads}) {where}: none of the {len(frame):,} "
        f"{'demand points' if what == 'population' else 'sites'} is within "
        f"{scenario.max_snap_distance:g} m (max_snap_distance) of a road. Check that both "
        f"files cover the same place{_swap_hint(mine, roads, what)}"
    )


def _no_pairs(scenario: Scenario, cutoff: float) -> None:
    """No site is within the search of any resident. For p-median / p-center that only says
    the search is short (it is extended) unless the extents are apart: then the inputs do not
    overlap."""
    from geodata.crs import extent_of

    people, sites = extent_of(scenario.demand), extent_of(scenario.sites)
    if scenario.model in ("pmedian", "pcenter") and people.overlaps(sites):
        return
    where = "do not overlap" if not people.overlaps(sites) else "are far apart"
    raise InputError(
        f"the population ({people}) and the sites ({sites}) {where}: no site is within "
        f"{cutoff:g} minutes ({scenario.mode}) of any resident. Check that both files cover the "
        f"same place{_swap_hint(sites, people, 'sites')}"
    )


def check_travel(scenario: Scenario, travel: TravelCosts) -> None:
    ids_d = scenario.demand["demand_id"].astype(str).to_numpy()
    ids_s = scenario.sites["site_id"].astype(str).to_numpy()
    if len(ids_d) != len(travel.demand_ids) or (ids_d != travel.demand_ids).any():
        raise InputError("`travel` was computed for other demand points than the scenario's")
    if len(ids_s) != len(travel.site_ids) or (ids_s != travel.site_ids).any():
        raise InputError(
            "`travel` was computed for other sites than the scenario's; "
            "use travel.restrict_sites() to keep a subset of sites"
        )
    if scenario.search_cutoff_minutes > travel.cutoff_minutes + 1e-9:
        raise InputError(
            f"the scenario needs travel times up to {scenario.search_cutoff_minutes:g} minutes "
            f"but `travel` was computed up to {travel.cutoff_minutes:g}; recompute travel_costs"
        )
    villages = _rules_villages(scenario)
    if villages is not None:
        ids_v = villages["village_id"].astype(str).to_numpy()
        if (
            travel.village_ids is None
            or len(ids_v) != len(travel.village_ids)
            or (ids_v != travel.village_ids).any()
        ):
            raise InputError(
                "`travel` was computed without the scenario's villages; recompute travel_costs"
            )
