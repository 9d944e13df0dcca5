"""A planning scenario: the inputs (demand, sites, roads, admin units) and every parameter of a run.

A :class:`Scenario` is immutable and validated when built; :func:`siting.plan` turns it into a
:class:`siting.PlanResult`. What-if variants are made with :meth:`Scenario.replace`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting_errors import CRSError, InputError

if TYPE_CHECKING:
    from geodata.network import Roads
    from siting.rules import RulePreset

__all__ = ["MODELS", "MODES", "Scenario"]

logger = logging.getLogger(__name__)

#: Models a scenario can run.
MODELS: tuple[str, ...] = ("lscp", "mclp", "pmedian", "pcenter")
#: Travel modes.
MODES: tuple[str, ...] = ("walk", "drive")
#: Straight-line speeds (km/h) used when no road network is given, with the detour factor.
STRAIGHT_LINE_SPEED_KMH: dict[str, float] = {"walk": 4.5, "drive": 30.0}


def _check_frame(gdf: Any, name: str, columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"`{name}` must be a GeoDataFrame, got {type(gdf).__name__}")
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise InputError(
            f"`{name}` must have columns {list(columns)}; missing {missing} "
            f"(it has {list(gdf.columns)})"
        )
    if gdf.crs is None:
        raise CRSError(f"`{name}` has no CRS; set one (e.g. gdf.set_crs('EPSG:4326'))")
    if len(gdf) == 0:
        raise InputError(f"`{name}` is empty; at least one row is needed")
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        bad = gdf.index[gdf.geometry.isna() | gdf.geometry.is_empty][:5].tolist()
        raise InputError(f"`{name}` has rows without geometry (index {bad})")
    return gdf


def _check_roads(roads: Any) -> None:
    import networkx as nx

    from geodata.network import Network

    if roads is not None and not isinstance(roads, Network | nx.MultiDiGraph):
        raise InputError(
            "`roads` must be a geodata Network or an osmnx-style networkx.MultiDiGraph "
            f"(e.g. from geodata.load_roads), got {type(roads).__name__}"
        )


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything one planning run needs.

    Attributes:
        demand: points with ``demand_id`` and ``population`` (see :mod:`geodata.population`).
        sites: existing and candidate sites with ``site_id`` and ``existing`` (bool); existing
            sites are always open (fixed).
        model: one of :data:`MODELS`.
        new_sites: how many *new* sites to open (MCLP, p-median, p-center); the existing ones
            come on top. Not used by LSCP, which finds the fewest new sites itself.
        threshold_minutes: the service circle (rule R6: 10 minutes); coverage is
            ``time <= threshold``. Required for LSCP / MCLP; for p-median / p-center it is used
            for the coverage score only (``None`` to skip it).
        mode: ``walk`` or ``drive``.
        roads: a prepared :class:`geodata.Network` or an osmnx-style road graph (prepared for
            ``mode`` when travel times are computed: :func:`geodata.network.prepare_network`);
            ``None`` means straight-line travel times with ``detour_factor`` (the output says
            so).
        units: admin units (``unit_id``, ``name``, polygons) for the per-unit table.
        max_snap_distance: metres; points farther from the network are reported unreachable.
        cutoff_minutes: longest travel time searched (default ``max(30, 3 × threshold)``), so
            travel times beyond the circle are known for maps, p-median and what-if runs.
        detour_factor: network distance / straight distance for the straight-line fallback.
        walk_speed_kmh: speed of the off-network access leg (and of straight-line walking).
        backend, time_limit, mip_gap: solver options (see :func:`solvers.solve`).
        name: a label for outputs.
        rules: the planning rules (a :class:`siting.rules.RulePreset`) for the compliance
            report per admin unit; ``None`` uses the packaged Inner Mongolia preset.
    """

    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    model: str = "mclp"
    new_sites: int | None = None
    threshold_minutes: float | None = 10.0
    mode: str = "walk"
    roads: Roads | None = None
    units: gpd.GeoDataFrame | None = None
    max_snap_distance: float = 500.0
    cutoff_minutes: float | None = None
    detour_factor: float = 1.3
    walk_speed_kmh: float = 4.5
    backend: str = "highs"
    time_limit: float | None = 120.0
    mip_gap: float = 0.0
    name: str = "plan"
    options: dict[str, Any] = field(default_factory=dict)
    rules: RulePreset | None = None

    def __post_init__(self) -> None:  # noqa: C901 - one check per field, in field order
        from siting.rules import RulePreset

        _check_roads(self.roads)
        if self.rules is not None and not isinstance(self.rules, RulePreset):
            raise InputError(
                "`rules` must be a RulePreset (siting.rules.load_rules / default_rules), got "
                f"{type(self.rules).__name__}"
            )
        demand = _check_frame(self.demand, "demand", ("demand_id", "population"))
        sites = _check_frame(self.sites, "sites", ("site_id",))
        if self.model not in MODELS:
            raise InputError(f"`model` must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.mode not in MODES:
            raise InputError(f"`mode` must be one of {', '.join(MODES)}, got {self.mode!r}")
        pop = pd.to_numeric(demand["population"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(pop) | (pop < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                "`demand.population` must be finite and >= 0, got "
                f"{demand['population'].iloc[i]!r} "
                f"for demand_id {demand['demand_id'].iloc[i]!r} ({int(bad.sum())} bad rows)"
            )
        if pop.sum() <= 0:
            raise InputError("`demand` has no population (all values are 0)")
        for col, frame in (("demand_id", demand), ("site_id", sites)):
            dup = frame[col][frame[col].duplicated()]
            if len(dup):
                raise InputError(
                    f"`{col}` values must be unique, got duplicates {dup[:5].tolist()}"
                )
        if "existing" not in sites.columns:
            sites = sites.assign(existing=False)
        object.__setattr__(self, "sites", sites)
        if self.threshold_minutes is not None:
            t = self.threshold_minutes
            if not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
                raise InputError(f"`threshold_minutes` must be a number > 0, got {t!r}")
        elif self.model in ("lscp", "mclp"):
            raise InputError(f"`threshold_minutes` is required for model {self.model!r}")
        n_existing = int(sites["existing"].astype(bool).sum())
        n_candidates = len(sites) - n_existing
        if self.model != "lscp":
            if self.new_sites is None:
                raise InputError(f"`new_sites` is required for model {self.model!r}")
            if isinstance(self.new_sites, bool) or int(self.new_sites) != self.new_sites:
                raise InputError(f"`new_sites` must be an integer, got {self.new_sites!r}")
            if self.new_sites < 0:
                raise InputError(f"`new_sites` must be >= 0, got {self.new_sites}")
            if self.new_sites > n_candidates:
                raise InputError(
                    f"`new_sites` must be at most the number of candidate (non-existing) sites "
                    f"({n_candidates}), got {self.new_sites}"
                )
            if self.new_sites + n_existing == 0:
                raise InputError("`new_sites` is 0 and there is no existing site: nothing to plan")
        if self.cutoff_minutes is not None and self.cutoff_minutes <= 0:
            raise InputError(f"`cutoff_minutes` must be > 0, got {self.cutoff_minutes!r}")
        if self.max_snap_distance <= 0:
            raise InputError(
                f"`max_snap_distance` must be > 0 metres, got {self.max_snap_distance!r}"
            )
        if self.detour_factor < 1:
            raise InputError(f"`detour_factor` must be >= 1, got {self.detour_factor!r}")
        if self.units is not None:
            _check_frame(self.units, "units", ("unit_id", "name"))

    # ------------------------------------------------------------------ derived
    @property
    def search_cutoff_minutes(self) -> float:
        """The travel-time search limit actually used."""
        if self.cutoff_minutes is not None:
            base = self.cutoff_minutes
            return max(base, self.threshold_minutes or 0.0)
        return max(30.0, 3.0 * (self.threshold_minutes or 20.0))

    @property
    def existing_mask(self) -> np.ndarray:
        """Boolean mask of existing (fixed open) sites, in ``sites`` order."""
        return self.sites["existing"].astype(bool).to_numpy()

    def replace(self, **changes: Any) -> Scenario:
        """A validated copy with some fields changed (a what-if variant)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """JSON-ready parameters (no data)."""
        return {
            "name": self.name,
            "model": self.model,
            "new_sites": self.new_sites,
            "threshold_minutes": self.threshold_minutes,
            "mode": self.mode,
            "travel": "network"
            if self.roads is not None
            else f"straight line x {self.detour_factor} detour at "
            f"{STRAIGHT_LINE_SPEED_KMH[self.mode] if self.mode != 'walk' else self.walk_speed_kmh}"
            " km/h",
            "demand_points": len(self.demand),
            "population": float(self.demand["population"].sum()),
            "existing_sites": int(self.existing_mask.sum()),
            "candidate_sites": int((~self.existing_mask).sum()),
            "cutoff_minutes": self.search_cutoff_minutes,
            "backend": self.backend,
            "time_limit": self.time_limit,
            "rules": None if self.rules is None else self.rules.name,
        }
