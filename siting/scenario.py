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
import shapely

from siting_errors import CRSError, InputError

if TYPE_CHECKING:
    from geodata.network import Roads
    from siting.rules import RulePreset

__all__ = ["COUNTY_STEPS", "MODELS", "MODES", "UNIT_KINDS", "Scenario"]

logger = logging.getLogger(__name__)

#: Models a scenario can run: one facility-location model, or ``rules`` (the planning
#: documents' rules step by step, :mod:`siting.ruleplan`).
MODELS: tuple[str, ...] = ("lscp", "mclp", "pmedian", "pcenter", "rules")
#: Administrative kinds of a unit the rules know (R5): sub-district (街道) or township (乡镇苏木).
UNIT_KINDS: tuple[str, ...] = ("subdistrict", "township")
#: County-level rule steps a rules plan can add when asked.
COUNTY_STEPS: tuple[str, ...] = ("R7", "R9", "R10")
#: Site id prefix of the candidate clinic sites a rules plan adds at its villages (R3).
VILLAGE_SITE_PREFIX = "V:"
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
        model: one of :data:`MODELS`; ``rules`` plans by the planning documents' rules
            (:func:`siting.ruleplan.plan_by_rules`).
        new_sites: how many *new* sites to open (MCLP, p-median, p-center); the existing ones
            come on top. Not used by LSCP, which finds the fewest new sites itself. For
            ``rules``: ``None`` (the rules decide) or ``0`` (open nothing new: judge the open
            sites as they are, e.g. a baseline or a what-if edit).
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
        villages: administrative villages (``village_id``, ``name``, ``population``; points
            or polygons) for rule R3 (joint clinics, touring service); a rules plan adds each
            village as a candidate village-clinic site ``V:<village_id>``.
        pois: activity centres / elderly homes (points) for rule R4's co-location preference.
        unit_kind_column: the column of ``units`` holding each unit's kind (``subdistrict`` /
            ``township``, or 街道 / 乡 / 镇 / 苏木); default ``kind`` when ``units`` has it,
            else the kind is read from the name's suffix.
        unit_kind: one kind for every unit (overrides the column and the names).
        station_budget: the most new stations / village clinics the circle step (R6) may open;
            ``None`` opens the fewest that close the circle (LSCP), a number maximises the
            residents inside the circle with at most that many (MCLP).
        county_steps: county rule steps to add to a rules plan (``R7``, ``R9``, ``R10``).
        strict: LSCP only: answer ``infeasible`` when some residents have no site within the
            threshold, instead of covering everyone coverable and listing the others
            (:mod:`siting.reach`).
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
    villages: gpd.GeoDataFrame | None = None
    pois: gpd.GeoDataFrame | None = None
    unit_kind_column: str | None = None
    unit_kind: str | None = None
    station_budget: int | None = None
    county_steps: tuple[str, ...] = ()
    strict: bool = False

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
        if "tier" in sites.columns:
            sites = sites.assign(tier=sites["tier"].fillna("").astype(str))
            object.__setattr__(self, "sites", sites)
        if self.model == "rules":
            self._check_rules_inputs()
            sites = self.sites
        n_existing = int(sites["existing"].astype(bool).sum())
        n_candidates = len(sites) - n_existing
        if self.model == "lscp" and self.new_sites is not None:
            raise InputError(
                f"`new_sites` is not used by LSCP, which finds the fewest new sites covering "
                f"everyone coverable itself; got {self.new_sites!r}: drop it, or use mclp to "
                "cover the most residents with a given number of new sites"
            )
        if self.model == "rules":
            if self.new_sites not in (None, 0) or isinstance(self.new_sites, bool):
                raise InputError(
                    "`new_sites` of a rules plan must be None (the rules decide how many) or 0 "
                    f"(judge the open sites only), got {self.new_sites!r}"
                )
            if self.threshold_minutes is None:
                raise InputError(
                    "`threshold_minutes` (the R6 circle) is required for model 'rules'"
                )
        elif self.model != "lscp":
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

    def _check_rules_inputs(self) -> None:
        """Validate the rules plan's own inputs; add the villages as candidate clinic sites."""
        if self.unit_kind is not None and self.unit_kind not in UNIT_KINDS:
            raise InputError(
                f"`unit_kind` must be one of {', '.join(UNIT_KINDS)}, got {self.unit_kind!r}"
            )
        if self.unit_kind_column is not None:
            if self.units is None:
                raise InputError("`unit_kind_column` needs `units` (admin unit polygons)")
            if self.unit_kind_column not in self.units.columns:
                raise InputError(
                    f"`unit_kind_column` {self.unit_kind_column!r} is not a column of `units` "
                    f"(columns: {[c for c in self.units.columns if c != 'geometry']})"
                )
        budget = self.station_budget
        if budget is not None and (isinstance(budget, bool) or int(budget) != budget or budget < 0):
            raise InputError(f"`station_budget` must be an integer >= 0, got {budget!r}")
        steps = tuple(self.county_steps)
        unknown = [s for s in steps if s not in COUNTY_STEPS]
        if unknown:
            raise InputError(
                f"`county_steps` must be among {', '.join(COUNTY_STEPS)}, got {unknown[0]!r}"
            )
        object.__setattr__(self, "county_steps", steps)
        if self.pois is not None:
            _check_frame(self.pois, "pois", ())
        if self.villages is None:
            return
        villages = _check_frame(self.villages, "villages", ("village_id", "population"))
        pop = pd.to_numeric(villages["population"], errors="coerce").to_numpy(dtype=float)
        if (~np.isfinite(pop) | (pop < 0)).any():
            i = int(np.flatnonzero(~np.isfinite(pop) | (pop < 0))[0])
            raise InputError(
                f"`villages.population` must be finite and >= 0, got "
                f"{villages['population'].iloc[i]!r} for village_id "
                f"{villages['village_id'].iloc[i]!r}"
            )
        ids = villages["village_id"].astype(str)
        if ids.duplicated().any():
            raise InputError(
                f"`village_id` values must be unique, got duplicates "
                f"{ids[ids.duplicated()][:5].tolist()}"
            )
        site_ids = VILLAGE_SITE_PREFIX + ids
        have = set(self.sites["site_id"].astype(str))
        missing = ~site_ids.isin(have).to_numpy()
        if not missing.any():
            return
        geoms = villages.geometry.to_numpy()
        points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
        names = (
            villages["name"].fillna("").astype(str).to_numpy()
            if "name" in villages.columns
            else ids.to_numpy()
        )
        extra = gpd.GeoDataFrame(
            {
                "site_id": site_ids.to_numpy()[missing],
                "name": names[missing],
                "existing": False,
                "tier": "village_clinic",
            },
            geometry=points[missing],
            crs=villages.crs,
        ).to_crs(self.sites.crs)
        sites = self.sites
        if "tier" not in sites.columns:
            sites = sites.assign(tier="")
        if sites.geometry.name != "geometry":
            extra = extra.rename_geometry(sites.geometry.name)
        merged = pd.concat([sites, extra], ignore_index=True)
        merged = gpd.GeoDataFrame(merged, geometry=sites.geometry.name, crs=sites.crs)
        merged["existing"] = merged["existing"].fillna(False).astype(bool)
        merged["tier"] = merged["tier"].fillna("").astype(str)
        object.__setattr__(self, "sites", merged)

    # ------------------------------------------------------------------ derived
    @property
    def search_cutoff_minutes(self) -> float:
        """The travel-time search limit actually used."""
        if self.cutoff_minutes is not None:
            base = self.cutoff_minutes
            return max(base, self.threshold_minutes or 0.0)
        base = max(30.0, 3.0 * (self.threshold_minutes or 20.0))
        if self.model == "rules" and self.county_steps:
            from siting.rules import default_rules

            rules = self.rules or default_rules()
            for code in self.county_steps:
                base = max(base, float(getattr(rules.rule(code), "threshold_minutes", 0.0)))
        return base

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
        } | (
            {
                "villages": None if self.villages is None else len(self.villages),
                "pois": None if self.pois is None else len(self.pois),
                "unit_kind_column": self.unit_kind_column,
                "unit_kind": self.unit_kind,
                "station_budget": self.station_budget,
                "county_steps": list(self.county_steps),
            }
            if self.model == "rules"
            else {}
        )
