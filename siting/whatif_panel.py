"""The what-if notebook's panel: the map, the widgets and their callbacks over
:mod:`siting.whatif`, and the readable tables and static map the notebook shows.

The notebook keeps the decisions (the case, the parameters, the scripted what-if); this module
holds the widget wiring, so the notebook reads as a plan. :func:`compliance_view` and
:func:`summary_view` (plain pandas, no widgets) turn results into tables with readable column
names and formatted numbers; :func:`static_map` is the plan map as a PNG image, which stays
visible when the notebook is exported to HTML offline (the ipyleaflet map needs its
JavaScript). :class:`WhatIfPanel` needs the ``notebook`` extra (ipywidgets, ipyleaflet).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from siting import whatif
from siting.result import PlanResult
from siting.rules import RulePreset
from siting.scenario import Scenario

__all__ = [
    "COMPLIANCE_COLUMNS",
    "WhatIfPanel",
    "compliance_view",
    "plan_views",
    "static_map",
    "summary_view",
]

logger = logging.getLogger(__name__)

#: The compliance table's columns as the notebook shows them: column → (heading, format);
#: ``None`` keeps text as it is.
COMPLIANCE_COLUMNS: dict[str, tuple[str, str | None]] = {
    "name": ("Unit", None),
    "kind": ("Kind", None),
    "population": ("Residents", "{:,.0f}"),
    "required_centres": ("Centres required (R1/R2)", "{:,.0f}"),
    "planned_centres": ("Centres planned", "{:,.0f}"),
    "shortfall": ("Shortfall", "{:,.0f}"),
    "coverage_share": ("Within the circle", "{:.1%}"),
    "population_beyond": ("Residents beyond the circle", "{:,.0f}"),
    "touring_population": ("Touring service (R3)", "{:,.0f}"),
    "status": ("Status", None),
    "reason": ("Reason", None),
}

_SUMMARY_COLUMNS: dict[str, tuple[str, str | None]] = {
    "name": ("Scenario", None),
    "model": ("Model", None),
    "coverage_share": ("Within the circle", "{:.1%}"),
    "covered_population": ("Residents within", "{:,.0f}"),
    "total_population": ("Residents", "{:,.0f}"),
    "open_sites": ("Open sites", "{:,.0f}"),
    "existing_sites": ("Existing sites", "{:,.0f}"),
    "added_sites": ("Added by the planner", "{:,.0f}"),
    "new_sites_chosen": ("New sites", "{:,.0f}"),
    "mean_travel_minutes": ("Mean travel (min)", "{:.1f}"),
    "units_ok": ("Units ok", "{:,.0f}"),
    "units_flagged": ("Units flagged", "{:,.0f}"),
    "units_violating": ("Units in violation", "{:,.0f}"),
}


def _formatted(value: Any, fmt: str | None) -> Any:
    if fmt is None:
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–" if value is None else value
    return "–" if math.isnan(number) else fmt.format(number)


def _view(frame: pd.DataFrame, columns: Mapping[str, tuple[str, str | None]]) -> pd.DataFrame:
    keep = [c for c in columns if c in frame.columns]
    out = pd.DataFrame(
        {columns[c][0]: [_formatted(v, columns[c][1]) for v in frame[c]] for c in keep},
        index=frame.index,
    )
    return out


_TIER_COLUMNS: dict[str, tuple[str, str | None]] = {
    "tier": ("Tier", None),
    "existing": ("Existing", "{:,.0f}"),
    "new": ("New", "{:,.0f}"),
    "assigned_population": ("Residents served", "{:,.0f}"),
    "rules": ("Placed by", None),
}
_STEP_COLUMNS: dict[str, tuple[str, str | None]] = {
    "rule": ("Rule", None),
    "tier": ("Tier", None),
    "new_sites": ("New sites", "{:,.0f}"),
    "status": ("Status", None),
    "seconds": ("Seconds", "{:.2f}"),
}


def plan_views(result: PlanResult) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """A rules plan's facilities per tier and its steps, readable and formatted; ``None`` for
    a one-model run."""
    if result.steps is None:
        return None
    from siting.report import tier_table

    return (
        _view(tier_table(result), _TIER_COLUMNS).reset_index(drop=True),
        _view(result.steps, _STEP_COLUMNS).reset_index(drop=True),
    )


def compliance_view(result: PlanResult) -> pd.DataFrame | None:
    """The compliance table with readable headings (``Residents``, ``Within the circle``)
    and formatted numbers (``28,106``, ``93.4%``; ``–`` where there is no value), one row
    per unit; ``None`` without admin units."""
    if result.compliance is None:
        return None
    return _view(result.compliance, COMPLIANCE_COLUMNS).reset_index(drop=True)


def summary_view(*results: PlanResult) -> pd.DataFrame:
    """One row per run: coverage, residents, sites and compliance counts, readable and
    formatted."""
    rows = []
    for r in results:
        s = whatif.scenario_summary(r)
        s["open_sites"] = len(whatif.open_site_ids(r))
        rows.append(s)
    return _view(pd.DataFrame(rows), _SUMMARY_COLUMNS).set_index("Scenario")


def static_map(result: PlanResult, *, title: str | None = None) -> Any:
    """The plan map (:func:`siting.reportmap.map_png`) as an IPython image: a plain PNG in the
    notebook's outputs, which an HTML export shows offline."""
    from IPython import display as ipd

    from siting.reportmap import map_png

    image: Any = ipd.Image  # untyped
    return image(data=map_png(result, title=title, dpi=90), format="png")


def _display(obj: Any) -> None:
    from IPython import display as ipd

    show: Any = ipd.display  # untyped
    show(obj)


def _slug(text: str) -> str:
    slug = re.sub(r"[^0-9A-Za-z_.+-]+", "-", text).strip("-._")
    return (slug or "scenario")[:80]


_SITE_COLOURS = {
    "existing": "#1f78b4",
    "new": "#e31a1c",
    "added": "#6a3d9a",
    "community_health_service_station": "#ff7f00",
    "village_clinic": "#a6761d",
    "township_health_centre": "#33a02c",
}
_TIERS = (
    "(by the unit)",
    "community_health_service_centre",
    "community_health_service_station",
    "township_health_centre",
    "village_clinic",
)


def _site_style(feature: dict[str, Any]) -> dict[str, Any]:
    p = feature["properties"]
    tier = p.get("tier") or ""
    kind = "added" if p.get("added") else (tier if tier in _SITE_COLOURS else p.get("status"))
    radius = 8 if kind in ("new", "added") else 4 if tier in _SITE_COLOURS else 6
    return {
        "color": "#333333",
        "weight": 0.5,
        "fillColor": _SITE_COLOURS.get(str(kind), "#999999"),
        "fillOpacity": 0.95,
        "radius": radius,
    }


def _demand_style(feature: dict[str, Any]) -> dict[str, Any]:
    covered = feature["properties"].get("covered")
    return {
        "fillColor": "#66bd63" if covered else "#d7191c",
        "color": "#00000000",
        "fillOpacity": 0.6,
        "radius": 2,
    }


class WhatIfPanel:
    """The interactive panel: an ipyleaflet map (no tile basemap unless ``show_tiles``) beside
    the controls (threshold, mode, rules preset, plan again, add / remove a site, click to
    add, pin as scenario A, export), and three output areas (``table_out``: compliance,
    ``broken_out``: what the edits break, ``compare_out``: A against B).

    Every control calls one method (:meth:`add`, :meth:`remove`, :meth:`replan`, :meth:`pin`,
    :meth:`export`), which the notebook can also call from code; while a scenario runs the
    panel shows a busy line and disables its buttons. Exports are named after the scenario
    (``what_if_<label>.gpkg``, the label recording the edits since the plan).
    """

    def __init__(
        self,
        base_scenario: Scenario,
        plan: PlanResult,
        baseline: PlanResult,
        *,
        cache: whatif.TravelCache,
        presets: Mapping[str, RulePreset],
        export_dir: str | Path,
        threshold_minutes: float = 10.0,
        mode: str = "walk",
        show_tiles: bool = False,
    ) -> None:
        import ipyleaflet as L
        import ipywidgets as W

        self._L, self._W = L, W
        self.base_scenario = base_scenario
        self.cache = cache
        self.presets = dict(presets)
        self.export_dir = Path(export_dir)
        self.baseline = baseline
        self.plan = plan
        self.result = plan
        self.scenario = whatif.judged(plan) if plan.scenario.model == "rules" else base_scenario
        self.pinned = baseline
        self.label = f"plan-{plan.scenario.model}"
        self.comparison: whatif.Comparison | None = None
        self.layers: dict[str, Any] = {}

        bounds = base_scenario.demand.to_crs("EPSG:4326").total_bounds
        centre = ((bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2)
        self.map = L.Map(
            center=centre,
            zoom=13,
            layers=(),
            scroll_wheel_zoom=True,
            layout=W.Layout(height="560px", width="64%"),
        )
        if show_tiles:
            self.map.add(L.TileLayer())
        self.map.add(L.LayersControl(position="topright"))
        self.map.add(L.ScaleControl(position="bottomleft"))
        self.info = W.HTML("hover over a site")
        self.threshold_w = W.FloatSlider(
            value=threshold_minutes, min=5, max=30, step=1, description="minutes"
        )
        self.mode_w = W.Dropdown(options=["walk", "drive"], value=mode, description="mode")
        self.rules_w = W.Dropdown(options=list(self.presets), description="rules")
        self.replan_w = W.Button(description="plan again", icon="refresh")
        self.candidate_w = W.Dropdown(description="candidate")
        self.tier_w = W.Dropdown(options=list(_TIERS), description="as tier")
        self.add_w = W.Button(description="add site", icon="plus")
        self.open_w = W.Dropdown(description="open site")
        self.remove_w = W.Button(description="remove site", icon="minus")
        self.click_w = W.Checkbox(value=False, description="click on the map adds a site")
        self.pin_w = W.Button(description="pin as scenario A", icon="thumb-tack")
        self.export_w = W.Button(description="export GeoPackage", icon="download")
        self.busy = W.HTML()
        self.message = W.HTML()
        self.score = W.HTML()
        self.table_out = W.Output()
        self.broken_out = W.Output()
        self.compare_out = W.Output()
        self._buttons = [self.replan_w, self.add_w, self.remove_w, self.pin_w, self.export_w]

        self.replan_w.on_click(lambda _b: self.replan())
        self.add_w.on_click(lambda _b: self.add(self.candidate_w.value, tier=self._tier()))
        self.remove_w.on_click(lambda _b: self.remove(self.open_w.value))
        self.pin_w.on_click(lambda _b: self.pin())
        self.export_w.on_click(lambda _b: self.export())
        self.map.on_interaction(self._on_map_click)
        self.refresh()

    # ------------------------------------------------------------------------- the view

    def widget(self) -> Any:
        """The map beside the controls (display it in the notebook)."""
        W = self._W
        controls = W.VBox(
            [
                self.score,
                self.threshold_w,
                self.mode_w,
                self.rules_w,
                self.replan_w,
                W.HBox([self.candidate_w, self.tier_w]),
                self.add_w,
                W.HBox([self.open_w, self.remove_w]),
                self.click_w,
                W.HBox([self.pin_w, self.export_w]),
                self.busy,
                self.message,
                self.info,
            ]
        )
        return W.HBox([self.map, controls], layout=W.Layout(align_items="flex-start"))

    def refresh(self) -> None:
        """Show the current result: score, site lists, tables, what the edits break, the
        comparison with scenario A, the map."""
        result = self.result
        s = whatif.scenario_summary(result)
        units = (
            f" · units {s['units_ok']} ok, {s['units_flagged']} flagged, "
            f"{s['units_violating']} in violation"
            if "units_ok" in s
            else ""
        )
        self.score.value = (
            f"<h3>coverage {s['coverage_share']:.1%} within {s['threshold_minutes']:g} min "
            f"({s['mode']})</h3>{s['covered_population']:,.0f} of "
            f"{s['total_population']:,.0f} residents · {len(whatif.open_site_ids(result))} "
            f"open sites · rules {s['rules']}{units}<br><small>scenario {self.label}</small>"
        )
        sites = result.sites
        self.candidate_w.options = sites.loc[sites["status"] == "candidate", "site_id"].tolist()
        self.open_w.options = sites.loc[sites["status"] != "candidate", "site_id"].tolist()
        self.table_out.clear_output()
        with self.table_out:
            view = compliance_view(result)
            if view is not None:
                _display(view)
        self.broken_out.clear_output()
        with self.broken_out:
            broken = whatif.broken_rules(self.plan, result)
            if len(broken):
                _display(broken)
            else:
                print("no rule is broken against the plan")
        self.comparison = whatif.compare(self.pinned, result)
        self.compare_out.clear_output()
        with self.compare_out:
            _display(pd.Series(self.comparison.as_dict(), name="B against A").to_frame())
            if self.comparison.units is not None:
                _display(self.comparison.units)
        self._draw(result)

    def _draw(self, result: PlanResult) -> None:
        from siting.export import geojson_dict

        L = self._L
        data = whatif.map_layers(result)
        for layer in self.layers.values():
            if layer in self.map.layers:
                self.map.remove(layer)
        self.layers.clear()

        def gj(name: str) -> dict[str, Any]:
            return geojson_dict(data[name], precision=5)

        if "admin_units" in data:
            self.layers["admin_units"] = L.GeoJSON(
                data=gj("admin_units"),
                name="sub-districts",
                style={"color": "#3c3c3c", "weight": 1.5, "fillOpacity": 0.0},
            )
        if "service_areas" in data:
            self.layers["service_areas"] = L.GeoJSON(
                data=gj("service_areas"),
                name="service areas",
                style={
                    "color": "#2ca25f",
                    "weight": 0.5,
                    "fillColor": "#2ca25f",
                    "fillOpacity": 0.15,
                },
            )
        self.layers["demand"] = L.GeoJSON(
            data=gj("demand"),
            name="residents",
            point_style={"radius": 2},
            style_callback=_demand_style,
        )
        self.layers["candidates"] = L.GeoJSON(
            data=gj("candidates"),
            name="candidates",
            point_style={
                "radius": 3,
                "color": "#777777",
                "fillColor": "#bbbbbb",
                "fillOpacity": 0.8,
                "weight": 0.5,
            },
        )
        self.layers["sites"] = L.GeoJSON(
            data=gj("sites"),
            name="open sites",
            point_style={"radius": 6},
            style_callback=_site_style,
        )
        self.layers["sites"].on_hover(self._hover)
        self.layers["candidates"].on_hover(self._hover)
        for layer in self.layers.values():
            self.map.add(layer)

    def _hover(self, feature: dict[str, Any], **_kwargs: Any) -> None:
        p = feature["properties"]
        tier = f"· {p['tier']} ({p.get('rule')})" if p.get("tier") else ""
        self.info.value = (
            f"<b>{p.get('site_id')}</b> {p.get('name') or ''} · "
            f"{p.get('status', 'candidate')} {tier}"
        )

    @contextlib.contextmanager
    def running(self, what: str) -> Iterator[None]:
        """Show a busy line and disable the buttons while ``what`` runs."""
        self.busy.value = f"<span style='color:#555'>⏳ {what} …</span>"
        for b in self._buttons:
            b.disabled = True
        try:
            yield
        finally:
            for b in self._buttons:
                b.disabled = False
            self.busy.value = ""

    # ---------------------------------------------------------------------- the actions

    def apply(self, scenario: Scenario, label: str) -> PlanResult | None:
        """Run a changed scenario and show it; keep the old one when the change is invalid
        (the message names the bad value)."""
        try:
            with self.running(f"running {label}"):
                result = whatif.run_scenario(scenario, cache=self.cache)
        except Exception as exc:  # noqa: BLE001 - an InputError names the bad value
            self.message.value = f"<span style='color:#b00'>{exc}</span>"
            return None
        self.scenario, self.result, self.label = scenario, result, label
        self.message.value = ""
        self.refresh()
        return result

    def _tier(self) -> str | None:
        value = str(self.tier_w.value)
        return None if value.startswith("(") else value

    def add(self, site_id: str, *, tier: str | None = None) -> PlanResult | None:
        """Open candidate ``site_id`` (as ``tier``, by default the unit's centre tier)."""
        return self.apply(
            whatif.add_site(self.scenario, site_id, tier=tier), f"{self.label}+{site_id}"
        )

    def remove(self, site_id: str) -> PlanResult | None:
        """Close open site ``site_id``."""
        return self.apply(whatif.remove_site(self.scenario, site_id), f"{self.label}-{site_id}")

    def _on_map_click(self, **event: Any) -> PlanResult | None:
        if event.get("type") == "click" and self.click_w.value:
            lat, lon = event["coordinates"]
            scenario = whatif.add_site(self.scenario, lon=lon, lat=lat, tier=self._tier())
            return self.apply(scenario, f"{self.label}+{lon:.4f},{lat:.4f}")
        return None

    def replan(self) -> PlanResult | None:
        """Plan again by the rules (or the model) with the threshold, mode and preset shown;
        the edits start over."""
        label = f"plan-{self.threshold_w.value:g}min-{self.mode_w.value}-{self.rules_w.value}"
        try:
            with self.running(f"planning {label}"):
                plan = whatif.run_scenario(
                    whatif.configure(
                        self.base_scenario,
                        threshold_minutes=self.threshold_w.value,
                        mode=self.mode_w.value,
                        rules=self.presets[self.rules_w.value],
                    ),
                    cache=self.cache,
                )
        except Exception as exc:  # noqa: BLE001 - shown to the planner
            self.message.value = f"<span style='color:#b00'>{exc}</span>"
            return None
        self.plan = self.result = plan
        self.scenario = whatif.judged(plan) if plan.scenario.model == "rules" else plan.scenario
        self.label = label
        self.message.value = ""
        self.refresh()
        return plan

    def reset(self, pinned: PlanResult | None = None) -> None:
        """Back to the plan (against ``pinned``, by default the baseline)."""
        self.pinned = self.baseline if pinned is None else pinned
        scenario = (
            whatif.judged(self.plan) if self.plan.scenario.model == "rules" else self.base_scenario
        )
        self.apply(scenario, f"plan-{self.plan.scenario.model}")

    def pin(self) -> None:
        """Make the current scenario A (what the next ones are compared against)."""
        self.pinned = self.result
        self.refresh()

    def export(self) -> Path:
        """Export the current scenario: ``what_if_<label>.gpkg`` in the export folder, styled
        for QGIS."""
        path = self.export_dir / f"what_if_{_slug(self.label)}.gpkg"
        with self.running(f"exporting {path.name}"):
            out = whatif.export_scenario(self.result, path)
        self.message.value = f"exported to {out}"
        return out
