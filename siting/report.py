"""The plan report: one self-contained HTML file with the plan map (:mod:`siting.reportmap`)
embedded, the coverage score, the compliance table per admin unit (R1, R6, R3),
the staffing needs (R11), and the new and the existing sites with WGS84 coordinates.

No tiles, fonts or scripts are fetched: the map has no basemap and the HTML carries the image as
base64 and its own CSS, so the file opens offline and can be mailed as is. Needs the ``report``
extra (matplotlib).
"""

from __future__ import annotations

import base64
import html
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting.reportmap import map_png, plot_plan
from siting.result import PlanResult
from siting.rules import RulePreset, default_rules
from siting_errors import InputError

__all__ = [
    "existing_sites_table",
    "map_png",
    "new_sites_table",
    "plot_plan",
    "render_report",
    "save_report",
    "staffing_table",
    "tier_table",
]

logger = logging.getLogger(__name__)

#: the columns both site tables (new, existing) end with: heading and number format
_SITE_COLUMNS: dict[str, tuple[str, str | None]] = {
    "lon": ("longitude (WGS84)", "{:.6f}"),
    "lat": ("latitude (WGS84)", "{:.6f}"),
    "assigned_population": ("assigned residents", "{:,.0f}"),
    "covered_population": ("within circle", "{:,.0f}"),
    "mean_travel_min": ("mean travel min", "{:.1f}"),
}


def _rules(result: PlanResult) -> RulePreset:
    return result.scenario.rules if result.scenario.rules is not None else default_rules()


def staffing_table(result: PlanResult) -> pd.DataFrame:
    """R11 staffing and beds for the population of each admin unit (or the whole plan area
    without units), plus a ``total`` row: ``name``, ``population``, ``beds``, ``physicians``,
    ``nurses``, ``general_practitioners``, ``public_health_staff``."""
    from siting.compliance import staffing_needs

    rule = _rules(result).R11
    if result.units is not None:
        names = result.units["name"].astype(str).tolist()
        pops = result.units["population"].to_numpy(dtype=np.float64)
    else:
        names = ["plan area"]
        pops = np.array([float(result.demand["population"].sum())])
    table = staffing_needs(pops, rule=rule)
    assert isinstance(table, pd.DataFrame)
    table = table.drop(columns=["rule"])
    table.insert(0, "name", names)
    if len(table) > 1:
        total = staffing_needs(float(pops.sum()), rule=rule)
        assert isinstance(total, dict)
        table.loc[len(table)] = {"name": "total", "population": float(pops.sum()), **total}
    return table


def existing_sites_table(result: PlanResult) -> pd.DataFrame:
    """The existing sites the plan keeps (not those the planner added) with WGS84 ``lon`` /
    ``lat``, the residents assigned to each, those inside the circle and their mean travel
    time: what the new sites are added to."""
    sites = result.chosen_sites
    added = (
        sites["added"].fillna(False).astype(bool)
        if "added" in sites.columns
        else pd.Series(False, index=sites.index)
    )
    pick = sites[(sites["status"] == "existing") & ~added].to_crs("EPSG:4326")
    return pd.DataFrame(
        {
            "site_id": pick["site_id"].astype(str).to_numpy(),
            "name": pick["name"].fillna("").astype(str).to_numpy()
            if "name" in pick.columns
            else "",
            "tier": pick["tier"].astype(str).to_numpy() if "tier" in pick.columns else "",
            "lon": np.round(pick.geometry.x.to_numpy(), 6),
            "lat": np.round(pick.geometry.y.to_numpy(), 6),
            "assigned_population": pick["assigned_population"].to_numpy(),
            "covered_population": pick["covered_population"].to_numpy(),
            "mean_travel_min": pick["mean_travel_min"].to_numpy(),
        }
    )


def new_sites_table(result: PlanResult) -> pd.DataFrame:
    """New (and planner-added) sites with WGS84 ``lon`` / ``lat`` (6 decimals), the residents
    assigned to each, those inside the circle and their mean travel time."""
    sites = result.chosen_sites
    added = (
        sites["added"].fillna(False).astype(bool)
        if "added" in sites.columns
        else pd.Series(False, index=sites.index)
    )
    pick = sites[(sites["status"] == "new") | added].to_crs("EPSG:4326")
    return pd.DataFrame(
        {
            "site_id": pick["site_id"].astype(str).to_numpy(),
            "name": pick["name"].fillna("").astype(str).to_numpy()
            if "name" in pick.columns
            else "",
            "kind": np.where(added[pick.index].to_numpy(), "added", "new"),
            "tier": pick["tier"].astype(str).to_numpy() if "tier" in pick.columns else "",
            "rule": pick["rule"].astype(str).to_numpy() if "rule" in pick.columns else "",
            "lon": np.round(pick.geometry.x.to_numpy(), 6),
            "lat": np.round(pick.geometry.y.to_numpy(), 6),
            "assigned_population": pick["assigned_population"].to_numpy(),
            "covered_population": pick["covered_population"].to_numpy(),
            "mean_travel_min": pick["mean_travel_min"].to_numpy(),
        }
    )


# ------------------------------------------------------------------------------------ HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","PingFang SC","Microsoft YaHei",
sans-serif;margin:2rem auto;max-width:1100px;color:#222;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666;font-size:.9rem}
.score{display:flex;gap:2rem;flex-wrap:wrap;margin:1rem 0}
.score div{background:#f4f7f4;border-radius:8px;padding:.8rem 1.2rem}
.score b{display:block;font-size:1.8rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0;width:100%}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f0f0f0}td.t,th.t{text-align:left}
tr.bad td{background:#fff4f0}tr.flag td{background:#fffbe6}tr.total td{font-weight:bold}
img{max-width:100%;height:auto;border:1px solid #ddd}
.note{color:#8a5a00}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return _e(value)


def _table(
    frame: pd.DataFrame, columns: dict[str, tuple[str, str | None]], **row_class: Any
) -> str:
    """HTML table; ``columns`` maps column → (header, number format or None for text)."""
    head = "".join(
        f'<th class="t">{_e(label)}</th>' if fmt is None else f"<th>{_e(label)}</th>"
        for label, fmt in columns.values()
    )
    rows = []
    cls_of = row_class.get("cls")
    for rec in frame.to_dict("records"):
        cells = "".join(
            f'<td class="t">{_e(rec.get(col, ""))}</td>'
            if fmt is None
            else f"<td>{_num(rec.get(col), fmt)}</td>"
            for col, (_, fmt) in columns.items()
        )
        cls = cls_of(rec) if cls_of else ""
        rows.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def tier_table(result: PlanResult) -> pd.DataFrame:
    """A rules plan's open sites per tier: ``tier`` (English and Chinese), ``existing``,
    ``new``, ``assigned_population`` and the rules that placed the new ones."""
    sites = result.chosen_sites
    if "tier" not in sites.columns:
        return pd.DataFrame(columns=["tier", "existing", "new", "assigned_population", "rules"])
    tiers = _rules(result).tiers
    rows = []
    for tier, group in sites.groupby("tier", sort=False):
        info = tiers.get(str(tier))
        rules = sorted(set(group.loc[group["status"] == "new", "rule"].astype(str)))
        rows.append(
            {
                "tier": f"{info.en} ({info.zh})" if info else str(tier),
                "existing": int((group["status"] == "existing").sum()),
                "new": int((group["status"] == "new").sum()),
                "assigned_population": float(group["assigned_population"].sum()),
                "rules": ", ".join(rules),
            }
        )
    return pd.DataFrame(rows)


def _tier_sections(result: PlanResult) -> list[str]:
    """A rules plan's tiers, steps and touring list as HTML (nothing for a model run)."""
    if result.steps is None:
        return []
    parts = [
        "<h2>Facilities by tier</h2>",
        _table(
            tier_table(result),
            {
                "tier": ("tier", None),
                "existing": ("existing", "{:d}"),
                "new": ("new", "{:d}"),
                "assigned_population": ("assigned residents", "{:,.0f}"),
                "rules": ("placed by", None),
            },
        ),
        "<h2>Plan steps</h2>",
        _table(
            result.steps,
            {
                "rule": ("rule", None),
                "tier": ("tier", None),
                "new_sites": ("new sites", "{:d}"),
                "status": ("status", None),
                "seconds": ("seconds", "{:.2f}"),
            },
        ),
    ]
    if result.touring is not None and len(result.touring):
        t = result.touring
        parts.append(
            f'<p id="touring">Touring service (R3): {t["population"].sum():,.0f} residents in '
            f"{len(t)} {'villages' if (t['kind'] == 'village').any() else 'places'} that no "
            "fixed facility reaches within the circle (the list is in the touring layer).</p>"
        )
    return parts


def render_report(
    result: PlanResult,
    *,
    baseline: PlanResult | None = None,
    title: str | None = None,
    png: bytes | None = None,
) -> str:
    """The report as one self-contained HTML document (UTF-8 text).

    ``baseline`` (e.g. the existing facilities only) adds the coverage before the plan;
    ``png`` is the map image (made with :func:`map_png` when not given).
    """
    if not isinstance(result, PlanResult):
        raise InputError(f"`result` must be a PlanResult, got {type(result).__name__}")
    image = png if png is not None else map_png(result)
    sc = result.scenario
    rules = _rules(result)
    cov = result.coverage
    summary = result.summary()
    heading = title or f"Siting plan report: {sc.name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        f'<p class="meta">model {_e(sc.model)} ({_e(summary["backend"])}, '
        f"{_e(summary['status'])}) · mode {_e(sc.mode)} · "
        f"{_e(summary['sites']['existing'])} existing + {_e(summary['sites']['new'])} new sites · "
        f"rules: {_e(rules.title)} ({_e(rules.name)}) · generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>",
        "<h2>Coverage score</h2>",
    ]
    if cov is not None:
        parts.append('<div class="score" id="coverage-score">')
        parts.append(
            f"<div>coverage within {cov.threshold_minutes:g} min ({_e(sc.mode)})"
            f"<b>{cov.share:.1%}</b>{cov.covered_population:,.0f} of "
            f"{cov.total_population:,.0f} residents</div>"
        )
        if baseline is not None and baseline.coverage is not None:
            b = baseline.coverage
            parts.append(
                f"<div>before the plan (existing sites)<b>{b.share:.1%}</b>"
                f"{b.covered_population:,.0f} residents</div>"
                f"<div>gained<b>{(cov.share - b.share) * 100:+.1f} pts</b>"
                f"{cov.covered_population - b.covered_population:+,.0f} residents</div>"
            )
        parts.append(
            f"<div>mean travel time<b>{_num(result.mean_travel_minutes, '{:.1f}')} min</b>"
            f"{result.unreachable_population:,.0f} residents unreachable</div></div>"
        )
        parts.append(
            f"<p>Coverage is the share of residents within {cov.threshold_minutes:g} minutes "
            f"of their nearest open site: rule {_e(rules.R6.cite())}.</p>"
        )
    else:
        parts.append("<p>No service threshold was set, so there is no coverage score.</p>")
    b64 = base64.b64encode(image).decode("ascii")
    parts += [
        "<h2>Map</h2>",
        f'<img id="plan-map" alt="map of the plan" src="data:image/png;base64,{b64}">',
    ]
    parts += _tier_sections(result)
    parts.append("<h2>Compliance per admin unit</h2>")
    if result.compliance is not None:
        comp = result.compliance.copy()
        comp["name_flag"] = comp["name"].astype(str) + np.where(
            comp["flag"].astype(str) != "", " (" + comp["flag"].astype(str) + ")", ""
        )
        comp["outside_band"] = comp["centres_below_band"] + comp["centres_above_band"]
        comp["share_pct"] = comp["coverage_share"] * 100
        verdicts = comp["status"].map(lambda v: v if v in ("ok", "flagged") else "violation")
        counts = verdicts.value_counts()
        parts.append(
            f'<p id="compliance-summary">{counts.get("ok", 0)} units ok, '
            f"{counts.get('flagged', 0)} flagged (what the rules allow: a small sub-district "
            "keeping its one centre, residents only touring service reaches), "
            f"{counts.get('violation', 0)} in violation, of {len(comp)}.</p>"
        )
        if result.unit_kinds:
            parts.append(f'<p class="meta">{_e(result.unit_kinds)}</p>')
        comp["verdict"] = verdicts
        parts.append(
            _table(
                comp,
                {
                    "unit_id": ("unit", None),
                    "name_flag": ("name", None),
                    "kind": ("kind", None),
                    "population": ("population", "{:,.0f}"),
                    "required_centres": ("required centres (R1/R2)", "{:d}"),
                    "planned_centres": ("planned centres", "{:d}"),
                    "shortfall": ("shortfall", "{:d}"),
                    "outside_band": ("outside band", "{:d}"),
                    "share_pct": ("coverage %", "{:.1f}"),
                    "population_beyond": ("beyond circle", "{:,.0f}"),
                    "touring_population": ("touring (R3)", "{:,.0f}"),
                    "verdict": ("verdict", None),
                    "reason": ("reason", None),
                },
                cls=lambda r: {"ok": "", "flagged": "flag"}.get(r["verdict"], "bad"),
            )
        )
        parts.append(f'<p class="meta">rules: {_e(comp["rules"].iloc[0])}</p>')
    else:
        parts.append("<p>No admin units were given, so there is no per-unit compliance.</p>")
    staffing = staffing_table(result)
    parts += [
        "<h2>Staffing needs (R11)</h2>",
        f"<p>Beds and staff for the resident population at {_e(rules.R11.cite())}: "
        f"{rules.R11.beds_per_1000:g} beds, {rules.R11.physicians_per_1000:g} physicians and "
        f"{rules.R11.nurses_per_1000:g} nurses per 1,000; {rules.R11.gps_per_10000:g} general "
        f"practitioners and {rules.R11.public_health_per_10000:g} public-health staff per "
        "10,000 (rounded up).</p>",
        _table(
            staffing,
            {
                "name": ("unit", None),
                "population": ("population", "{:,.0f}"),
                "beds": ("beds", "{:,d}"),
                "physicians": ("physicians", "{:,d}"),
                "nurses": ("nurses", "{:,d}"),
                "general_practitioners": ("general practitioners", "{:,d}"),
                "public_health_staff": ("public-health staff", "{:,d}"),
            },
            cls=lambda r: "total" if r["name"] == "total" else "",
        ),
    ]
    new = new_sites_table(result)
    parts.append(f"<h2>New sites ({len(new)})</h2>")
    if len(new):
        tiered = (
            {"tier": ("tier", None), "rule": ("rule", None)} if result.steps is not None else {}
        )
        parts.append(
            _table(
                new,
                {
                    "site_id": ("site", None),
                    "name": ("name", None),
                    "kind": ("kind", None),
                    **tiered,
                    **_SITE_COLUMNS,
                },
            )
        )
    else:
        parts.append("<p>The plan opens no new site.</p>")
    kept = existing_sites_table(result)
    parts.append(f'<h2 id="existing-sites">Existing sites ({len(kept)})</h2>')
    if len(kept):
        parts.append(
            _table(
                kept,
                {
                    "site_id": ("site", None),
                    "name": ("name", None),
                    **({"tier": ("tier", None)} if result.steps is not None else {}),
                    **_SITE_COLUMNS,
                },
            )
        )
    else:
        parts.append("<p>There are no existing sites: every site of the plan is new.</p>")
    if result.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f'<li class="note">{_e(n)}</li>' for n in result.notes]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def save_report(
    result: PlanResult,
    out: str | Path,
    *,
    png: str | Path | None = None,
    baseline: PlanResult | None = None,
    title: str | None = None,
) -> dict[str, Path]:
    """Write the HTML report to ``out`` (and the map to ``png`` when given); return the paths
    (``html``, ``png``)."""
    image = map_png(result, title=title)
    text = render_report(result, baseline=baseline, title=title, png=image)
    files: dict[str, Path] = {}
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    files["html"] = out_path
    if png is not None:
        png_path = Path(png)
        png_path.parent.mkdir(parents=True, exist_ok=True)
        png_path.write_bytes(image)
        files["png"] = png_path
    logger.info("wrote the report to %s", out_path)
    return files
