"""Multi-tier planning: several facility tiers planned in order, upper tiers fixed for lower ones.

A county plans its community health service centres first, then the stations, then village
clinics; each tier has its own candidates, model, service threshold and population band. A site
opened for an upper tier also offers the lower tier's basic care, so the next tier sees it as an
existing (fixed, always open) site: the lower tier only fills the gaps the upper one leaves.
Each tier's result carries its own compliance report, with the tier's band as R1's band.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from siting.planning import plan
from siting.result import PlanResult
from siting.rules import RulePreset, default_rules
from siting.scenario import Scenario
from siting_errors import InputError

__all__ = ["TierSpec", "TieredPlan", "load_tiers", "plan_tiers"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TierSpec:
    """One tier of a multi-tier plan.

    Attributes:
        tier: a tier key of the rules preset (``community_health_service_centre``,
            ``community_health_service_station``, ``village_clinic``, …).
        sites: this tier's existing and candidate sites (``site_id``, ``existing``, points).
        model: ``lscp``, ``mclp``, ``pmedian`` or ``pcenter``.
        new_sites: new sites to open in this tier (not for ``lscp``).
        threshold_minutes: this tier's service circle (default: the scenario's).
        mode: ``walk`` or ``drive`` (default: the scenario's).
        band: ``(min, max)`` residents per facility for the compliance report (default: R1's).
    """

    tier: str
    sites: gpd.GeoDataFrame
    model: str = "mclp"
    new_sites: int | None = None
    threshold_minutes: float | None = None
    mode: str | None = None
    band: tuple[int, int] | None = None


@dataclass(frozen=True, eq=False)
class TieredPlan:
    """The tiers' results in planning order, and a table of every open site with its tier."""

    tiers: tuple[str, ...]
    results: tuple[PlanResult, ...]

    def result(self, tier: str) -> PlanResult:
        """The result of one tier."""
        if tier not in self.tiers:
            raise InputError(f"`tier` must be one of {', '.join(self.tiers)}, got {tier!r}")
        return self.results[self.tiers.index(tier)]

    def sites(self) -> gpd.GeoDataFrame:
        """Every open site once, with the ``tier`` that opened it (``existing`` sites keep
        the first tier that listed them)."""
        frames = []
        seen: set[str] = set()
        for tier, res in zip(self.tiers, self.results, strict=True):
            chosen = res.chosen_sites
            own = chosen[~chosen["site_id"].astype(str).isin(seen)].copy()
            own["tier"] = tier
            seen.update(own["site_id"].astype(str))
            frames.append(own)
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)

    def summary(self) -> list[dict[str, Any]]:
        """Per tier: the JSON summary of its result."""
        return [{"tier": t} | r.summary() for t, r in zip(self.tiers, self.results, strict=True)]


def _tier_sites(spec: TierSpec, fixed: gpd.GeoDataFrame | None, crs: object) -> gpd.GeoDataFrame:
    own = spec.sites.to_crs(crs) if spec.sites.crs is not None else spec.sites
    if "existing" not in own.columns:
        own = own.assign(existing=False)
    if fixed is None or fixed.empty:
        return own.reset_index(drop=True)
    clash = set(own["site_id"].astype(str)) & set(fixed["site_id"].astype(str))
    own = own[~own["site_id"].astype(str).isin(clash)]
    upper = fixed[["site_id", "geometry"]].to_crs(own.crs).assign(existing=True)
    if "name" in fixed.columns:
        upper["name"] = fixed["name"].to_numpy()
    return gpd.GeoDataFrame(pd.concat([upper, own], ignore_index=True), crs=own.crs)


def plan_tiers(
    scenario: Scenario,
    tiers: Sequence[TierSpec],
    *,
    rules: RulePreset | None = None,
    progress: Callable[[str], None] | None = None,
) -> TieredPlan:
    """Plan ``tiers`` in order on ``scenario``'s demand, roads and units.

    Each tier replaces the scenario's sites by its own sites plus every site opened by the
    tiers above it (as existing, fixed sites), and its model, ``new_sites``, threshold and mode.
    """
    if not tiers:
        raise InputError("`tiers` must name at least one tier, got none")
    preset = rules if rules is not None else scenario.rules or default_rules()
    names = [t.tier for t in tiers]
    unknown = [n for n in names if n not in preset.tiers]
    if unknown:
        raise InputError(
            f"unknown tier {unknown[0]!r}; the preset {preset.name!r} has tiers "
            f"{', '.join(preset.tiers)}"
        )
    if len(set(names)) != len(names):
        raise InputError(f"each tier may appear once, got {names}")
    results: list[PlanResult] = []
    opened: gpd.GeoDataFrame | None = None
    crs = scenario.sites.crs
    for spec in tiers:
        if progress is not None:
            progress(f"tier {spec.tier}: {preset.tiers[spec.tier].en}")
        tier_rules = preset
        if spec.band is not None:
            low, high = spec.band
            tier_rules = preset.with_params("R1", min_population=low, max_population=high)
        sc = scenario.replace(
            sites=_tier_sites(spec, opened, crs),
            model=spec.model,
            new_sites=spec.new_sites,
            threshold_minutes=spec.threshold_minutes or scenario.threshold_minutes,
            mode=spec.mode or scenario.mode,
            rules=tier_rules,
            name=f"{scenario.name}_{spec.tier}",
        )
        result = plan(sc)
        results.append(result)
        logger.info(
            "tier %s: %s, %d sites open", spec.tier, result.status, len(result.chosen_sites)
        )
        chosen = result.chosen_sites[["site_id", "name", "geometry"]]
        opened = chosen if opened is None else pd.concat([opened, chosen], ignore_index=True)
        opened = gpd.GeoDataFrame(opened.drop_duplicates("site_id"), crs=chosen.crs)
    return TieredPlan(tuple(names), tuple(results))


#: the keys of one ``[[tiers]]`` table of a tiers file
_TIER_KEYS = (
    "tier",
    "sites",
    "existing",
    "model",
    "new_sites",
    "threshold_minutes",
    "mode",
    "band",
)


def _tier_spec(table: Any, k: int, base: Path) -> TierSpec:
    """One ``[[tiers]]`` table (the ``k``-th, from 1) as a :class:`TierSpec`, its site files
    read relative to ``base``."""
    from geodata.candidates import combine_sites, load_sites

    if not isinstance(table, dict):
        raise InputError(f"tier {k} must be a table, got {table!r}")
    label = f"tier {k}" + (f" ({table['tier']!r})" if "tier" in table else "")
    unknown = sorted(set(table) - set(_TIER_KEYS))
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r} in {label}; expected one of {', '.join(_TIER_KEYS)}"
        )
    if not isinstance(table.get("tier"), str):
        raise InputError(f"{label} needs `tier`, a tier key of the rules preset (a string)")
    if "sites" not in table and "existing" not in table:
        raise InputError(f"{label} needs `sites` (candidates) and/or `existing` (site files)")
    band = table.get("band")
    if band is not None and not (
        isinstance(band, list) and len(band) == 2 and all(isinstance(v, int) for v in band)
    ):
        raise InputError(f"`band` of {label} must be two whole numbers [min, max], got {band!r}")
    frames = [
        load_sites(base / str(table[key]), existing=key == "existing")
        for key in ("existing", "sites")
        if key in table
    ]
    sites = combine_sites(frames[0], frames[1]) if len(frames) == 2 else frames[0]
    return TierSpec(
        tier=table["tier"],
        sites=sites,
        model=table.get("model", "mclp"),
        new_sites=table.get("new_sites"),
        threshold_minutes=table.get("threshold_minutes"),
        mode=table.get("mode"),
        band=(band[0], band[1]) if band is not None else None,
    )


def load_tiers(path: str | Path) -> list[TierSpec]:
    """Read a tiers file: TOML with one ``[[tiers]]`` table per tier, in planning order.

    Keys of a table: ``tier`` (a tier key of the rules preset), ``sites`` (candidate sites file)
    and/or ``existing`` (existing sites file) — paths relative to the tiers file — and optional
    ``model``, ``new_sites``, ``threshold_minutes``, ``mode`` and ``band = [min, max]``.
    """
    from siting._toml import read_toml

    path = Path(path)
    doc = read_toml(path, "tiers file")
    tables = doc.get("tiers")
    if not isinstance(tables, list) or not tables:
        raise InputError(
            f"tiers file {str(path)!r} must hold [[tiers]] tables, one per tier; "
            f"got the keys {sorted(doc)}"
        )
    return [_tier_spec(t, k, path.parent) for k, t in enumerate(tables, start=1)]
