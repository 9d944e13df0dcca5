"""The planning layer under the CLI, the API and the notebook: scenario → travel times once →
plan (by the rules, or one model) → what-if → save.

- :func:`build_scenario` — a validated :class:`~siting.scenario.Scenario` from frames already in
  memory (GeoDataFrames read from files by :func:`siting.inputs.load_scenario`, or parsed from
  GeoJSON request bodies by the API): candidate sites are generated when none are given.
- :func:`run_plan` — travel times once, then the plan, and optionally the baseline (existing
  sites only) on the same travel times: a :class:`PlanRun`.
- :func:`what_if` — the plan again with sites closed or forced open, another threshold or another
  number of new sites, reusing the travel times (restricted to the sites kept).
- :func:`judge` — a plan's open sites, edited, judged by the rules without placing anything
  new: which rules the edit breaks (the notebook's what-if on a rules plan).
- :func:`save_run` — every output file of a run (:func:`siting.outputs.save_result`), the
  baseline's coverage in the summary, and the HTML report when asked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.planning import plan
from siting.result import PlanResult
from siting.scenario import Scenario
from siting.travel import TravelCosts, travel_costs
from siting_errors import InputError

__all__ = [
    "PlanRun",
    "baseline_scenario",
    "broken_rules",
    "build_scenario",
    "judge",
    "judged_scenario",
    "run_plan",
    "save_run",
    "what_if",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def build_scenario(
    demand: gpd.GeoDataFrame,
    *,
    sites: gpd.GeoDataFrame | None = None,
    existing: gpd.GeoDataFrame | None = None,
    roads: Any = None,
    units: gpd.GeoDataFrame | None = None,
    candidate_spacing: float = 500.0,
    max_candidates: int | None = None,
    **parameters: Any,
) -> Scenario:
    """A validated :class:`Scenario` from frames in memory (no file is read).

    ``demand``: points with ``demand_id`` and ``population``. ``sites``: candidate sites,
    ``existing``: existing facilities (both with ``site_id``; an optional ``tier`` column names
    a site's facility tier). Without candidate sites, candidates are generated at road-network
    nodes ``candidate_spacing`` metres apart, or, without roads, at populated points that far
    apart (the spacing widened until at most ``max_candidates`` remain, when given); the
    scenario's notes say so (never a silent default). ``roads``: an osmnx-style graph or a
    prepared ``geodata.Network``. ``parameters`` go to :class:`Scenario` (``model``,
    ``new_sites``, ``threshold_minutes``, ``villages``, ``pois``, ``unit_kind`` ...);
    ``model="rules"`` plans by the rules.
    """
    from geodata.candidates import combine_sites

    if existing is not None and sites is not None:
        all_sites = combine_sites(existing, sites)
    elif sites is not None:
        all_sites = sites
    else:
        generated = _generated_sites(demand, roads, candidate_spacing, max_candidates)
        all_sites = generated if existing is None else combine_sites(existing, generated)
        all_sites.attrs["notes"] = list(generated.attrs.get("notes", []))
    return Scenario(demand=demand, sites=all_sites, roads=roads, units=units, **parameters)


def _generated_sites(
    demand: gpd.GeoDataFrame, roads: Any, spacing: float, max_candidates: int | None
) -> gpd.GeoDataFrame:
    """Candidate sites when none were given: road nodes, else populated points, ``spacing``
    metres apart (widened until at most ``max_candidates`` remain), with a note saying so."""
    from geodata.candidates import sites_from_points, sites_from_population, thin_points
    from geodata.crs import local_utm_crs
    from geodata.readers import add_note

    nodes = _road_nodes(roads) if roads is not None else None

    step = float(spacing)
    if nodes is not None:
        generated = sites_from_points(*nodes, spacing=step)
    else:
        generated = sites_from_population(demand, min_population=0.0, spacing=step)
    if max_candidates is not None and len(generated) > max_candidates:
        # thin the candidates themselves (not every point again): ids and order are kept
        metric = generated.geometry.to_crs(local_utm_crs(generated))
        xy = np.column_stack([metric.x.to_numpy(), metric.y.to_numpy()])
        while len(xy) > max_candidates:
            step *= 1.05  # small steps: a candidate count near max_candidates
            keep = thin_points(xy, step)
            generated, xy = generated.iloc[keep].reset_index(drop=True), xy[keep]
    source = "road-network nodes" if nodes is not None else "populated demand points"
    apart = (
        f"{step:.0f} m apart (candidate_spacing {spacing:g} m, widened to keep at most "
        f"{max_candidates:,}: max_candidates)"
        if step > spacing
        else f"{step:g} m apart (candidate_spacing)"
    )
    add_note(
        generated,
        f"no candidate sites were given: the {len(generated):,} candidates are {source} at "
        f"least {apart}; give real candidate plots (sites) for a plan that can be built",
    )
    return generated


def _road_nodes(roads: Any) -> tuple[np.ndarray, np.ndarray, Any] | None:
    """Node coordinates and CRS of an osmnx-style graph (``None`` for a prepared network)."""
    if not hasattr(roads, "nodes"):
        return None
    xs, ys = zip(*((d["x"], d["y"]) for _, d in roads.nodes(data=True)), strict=True)
    return np.asarray(xs), np.asarray(ys), roads.graph.get("crs", "EPSG:4326")


def baseline_scenario(scenario: Scenario) -> Scenario:
    """The same scenario with nothing new: today's facilities only (a rules plan judges them
    by the rules; a model run serves the demand from them)."""
    return scenario.replace(new_sites=0, name=f"{scenario.name} baseline")


@dataclass(frozen=True, eq=False)
class PlanRun:
    """A plan and, when asked, its baseline (existing sites only), on one travel matrix."""

    result: PlanResult
    baseline: PlanResult | None

    @property
    def travel(self) -> TravelCosts:
        """The travel times both share."""
        return self.result.travel


def run_plan(
    scenario: Scenario,
    *,
    baseline: bool = False,
    travel: TravelCosts | None = None,
    progress: Progress | None = None,
) -> PlanRun:
    """Travel times once (or ``travel`` from an earlier run), then the plan, and with
    ``baseline`` the existing sites alone on the same times. A single-model run without
    existing sites, or an LSCP run, has no baseline (nothing to compare)."""
    if travel is None:
        travel = travel_costs(scenario, progress=progress)
    base = None
    has_base = scenario.model == "rules" or (
        scenario.model != "lscp" and scenario.existing_mask.any()
    )
    if baseline and has_base:
        base = plan(baseline_scenario(scenario), travel=travel)
    return PlanRun(plan(scenario, travel=travel, progress=progress), base)


def _site_ids(scenario: Scenario, ids: Iterable[str], field: str) -> list[str]:
    known = set(scenario.sites["site_id"].astype(str))
    given = [str(s) for s in ids]
    unknown = [s for s in given if s not in known]
    if unknown:
        raise InputError(
            f"`{field}` has unknown site ids {unknown[:5]}; expected ids of the scenario's sites "
            f"(e.g. {sorted(known)[:5]})"
        )
    return given


def what_if(
    scenario: Scenario,
    travel: TravelCosts,
    *,
    close_sites: Iterable[str] = (),
    open_sites: Iterable[str] = (),
    threshold_minutes: float | None = None,
    new_sites: int | None = None,
    p: int | None = None,
    time_limit: float | None = None,
    name: str | None = None,
) -> PlanResult:
    """Plan ``scenario`` again with changes, reusing ``travel`` (its travel times).

    ``close_sites``: site ids removed (an existing facility closed, a candidate ruled out);
    ``open_sites``: site ids forced open (kept like existing ones); ``threshold_minutes``: a new
    circle, at most the travel search cutoff; ``new_sites`` / ``p`` (every open site, existing
    included): how many to open (single-model runs; by default the scenario's, capped at the
    candidates left). A rules scenario is planned by the rules again around the edits.
    """
    close = set(_site_ids(scenario, close_sites, "close_sites"))
    force = set(_site_ids(scenario, open_sites, "open_sites"))
    sites = scenario.sites
    ids = sites["site_id"].astype(str)
    keep = ~ids.isin(close).to_numpy()
    if not keep.any():
        raise InputError("`close_sites` removes every site; at least one must remain")
    frame = sites[keep].copy()
    if force:
        frame.loc[frame["site_id"].astype(str).isin(force).to_numpy(), "existing"] = True
    changes: dict[str, Any] = {
        "sites": frame.reset_index(drop=True),
        "cutoff_minutes": travel.cutoff_minutes,
        "name": name or f"{scenario.name} (what-if)",
    }
    if time_limit is not None:
        changes["time_limit"] = time_limit
    if threshold_minutes is not None:
        if threshold_minutes > travel.cutoff_minutes:
            raise InputError(
                f"`threshold_minutes` must be at most {travel.cutoff_minutes:g} (the travel-time "
                f"search cutoff), got {threshold_minutes:g}; plan anew for a larger threshold"
            )
        changes["threshold_minutes"] = float(threshold_minutes)
    n_existing = int(frame["existing"].astype(bool).sum())
    if scenario.model not in ("rules", "lscp"):
        if p is not None:
            if p < n_existing:
                raise InputError(
                    f"`p` counts every open site, existing and forced-open included: it must "
                    f"be at least {n_existing}, got {p}"
                )
            changes["new_sites"] = p - n_existing
        elif new_sites is not None:
            changes["new_sites"] = new_sites
        elif scenario.new_sites is not None:
            changes["new_sites"] = min(scenario.new_sites, len(frame) - n_existing)
    sub = travel if keep.all() else travel.restrict_sites(np.flatnonzero(keep))
    return plan(scenario.replace(**changes), travel=sub)


def judged_scenario(
    result: PlanResult,
    *,
    close_sites: Iterable[str] = (),
    open_sites: Iterable[str] = (),
    tiers: dict[str, str] | None = None,
) -> Scenario:
    """A rules scenario whose open sites are ``result``'s (fixed, with their tier and rule),
    edited, and which opens nothing new (``new_sites=0``): :func:`siting.plan` on it judges
    the edited plan by the rules. ``close_sites`` are closed (they stay candidates),
    ``open_sites`` opened with the tier in ``tiers`` (default: by the unit's kind)."""
    sc = result.scenario
    if sc.model != "rules":
        raise InputError(f"only a rules plan can be judged by the rules, got model {sc.model!r}")
    close = set(_site_ids(sc, close_sites, "close_sites"))
    force = set(_site_ids(sc, open_sites, "open_sites"))
    ids = result.sites["site_id"].astype(str).to_numpy()
    is_open = (result.sites["status"] != "candidate").to_numpy()
    is_open = (is_open & ~np.isin(ids, list(close))) | np.isin(ids, list(force))
    hint = (
        sc.sites["tier"].fillna("").astype(str).to_numpy()
        if "tier" in sc.sites.columns
        else np.full(len(ids), "", dtype=object)
    )
    planned = result.sites["tier"].astype(str).to_numpy()
    tier = np.where(is_open & (planned != ""), planned, hint).astype(object)
    for site, value in (tiers or {}).items():
        tier[ids == str(site)] = value
    rule = np.where(is_open, result.sites["rule"].astype(str).to_numpy(), "")
    rule = np.where(np.isin(ids, list(force)), "what-if", rule)
    sites = sc.sites.copy()
    sites["existing"] = is_open
    sites["tier"] = tier
    sites["rule"] = rule
    return sc.replace(sites=sites, new_sites=0, name=f"{sc.name} (judged)")


def judge(
    result: PlanResult,
    *,
    close_sites: Iterable[str] = (),
    open_sites: Iterable[str] = (),
    tiers: dict[str, str] | None = None,
) -> PlanResult:
    """``result``'s plan with sites closed or opened, judged by the rules on the same travel
    times (nothing new is placed): its compliance shows which rules the edit breaks."""
    scenario = judged_scenario(result, close_sites=close_sites, open_sites=open_sites, tiers=tiers)
    return plan(scenario, travel=result.travel)


def broken_rules(before: PlanResult, after: PlanResult) -> pd.DataFrame:
    """Units whose compliance got worse from ``before`` to ``after`` (e.g. a plan and a what-if
    edit of it): ``unit_id``, ``name``, ``status_before``, ``status_after``, ``rules`` (what
    the edit breaks: ``R1/R2 centres`` short, ``R1 band``, ``R6 circle``) and ``reason``."""
    columns = ["unit_id", "name", "status_before", "status_after", "rules", "reason"]
    if before.compliance is None or after.compliance is None:
        return pd.DataFrame(columns=columns)
    a, b = before.compliance.copy(), after.compliance.copy()
    for frame in (a, b):
        frame["off_band"] = frame["centres_below_band"] + frame["centres_above_band"]
    m = b.merge(a, on="unit_id", how="left", suffixes=("", "_before"))
    checks = {
        "R1/R2 centres": m["shortfall"] > m["shortfall_before"].fillna(0),
        "R1 band": m["off_band"] > m["off_band_before"].fillna(0),
        "R6 circle": m["population_beyond"] > m["population_beyond_before"].fillna(0) + 0.5,
    }
    broken = [
        ", ".join(code for code, worse in checks.items() if worse.iloc[i]) for i in range(len(m))
    ]
    m["rules"] = broken
    m["status_before"] = m["status_before"]
    m["status_after"] = m["status"]
    return m.loc[m["rules"] != "", columns].reset_index(drop=True)


def save_run(
    run: PlanRun | PlanResult,
    out_dir: str | Path,
    *,
    name: str = "plan",
    report: str | Path | None = None,
    title: str | None = None,
    demand: str = "auto",
    projected: bool = False,
) -> dict[str, Path]:
    """Write a run's files (:func:`siting.outputs.save_result`; ``demand``: the demand layer
    as ``points``, a ``grid`` or ``auto``; ``projected``: the GeoPackage in the local UTM
    zone), add the baseline's coverage and compliance counts
    to the summary JSON, and write the HTML report to ``report`` when given; return the
    paths."""
    from siting.outputs import save_result

    if isinstance(run, PlanResult):
        run = PlanRun(run, None)
    files = save_result(run.result, out_dir, name=name, demand=demand, projected=projected)
    if run.baseline is not None:
        summary = json.loads(files["summary"].read_text(encoding="utf-8"))
        base = run.baseline
        summary["baseline_coverage"] = base.coverage.as_dict() if base.coverage else None
        if base.compliance is not None:
            summary["baseline_compliance"] = {
                k: v for k, v in base.summary()["compliance"].items() if k != "table"
            }
        files["summary"].write_text(
            json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    if report is not None:
        from siting.report import save_report

        for key, path in save_report(
            run.result, report, baseline=run.baseline, title=title
        ).items():
            files[f"report_{key}"] = path
    return files
