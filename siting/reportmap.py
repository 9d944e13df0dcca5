"""The plan map of the report: a static map of a plan (matplotlib; :func:`plot_plan`, PNG bytes
with :func:`map_png`) with admin units, demand inside and outside the circle, service areas and
the open sites by status and tier, a scale bar and a north arrow, unit labels decluttered.

No tiles or fonts are fetched: the map has no basemap; Chinese labels use an installed font
(:data:`CJK_FONTS`). Needs the ``report`` extra (matplotlib).
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from shapely.errors import ShapelyError

from siting._mapdeco import add_north_arrow, add_scale_bar, declutter
from siting.result import PlanResult
from siting_errors import DependencyError

__all__ = ["CJK_FONTS", "map_png", "plot_plan"]

logger = logging.getLogger(__name__)

#: Fonts with Chinese glyphs tried for map labels (the first one installed is used).
CJK_FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
)

_STATUS_STYLE: dict[str, dict[str, Any]] = {
    "existing": {"marker": "s", "color": "#1f78b4", "s": 60, "label": "existing centre"},
    "added": {"marker": "D", "color": "#6a3d9a", "s": 70, "label": "site added by the planner"},
    "new": {"marker": "*", "color": "#e31a1c", "s": 220, "label": "new centre (plan)"},
}


#: rules plans: the lower tiers drawn apart from the centres (which keep the status styles)
_TIER_STYLE: dict[str, dict[str, Any]] = {
    "township_health_centre": {
        "marker": "s",
        "color": "#33a02c",
        "s": 60,
        "label": "township health centre",
    },
    "community_health_service_station": {
        "marker": "o",
        "color": "#ff7f00",
        "s": 22,
        "label": "health service station (R6)",
    },
    "village_clinic": {"marker": "o", "color": "#a6761d", "s": 18, "label": "village clinic"},
    "county_hospital": {"marker": "P", "color": "#6a3d9a", "s": 90, "label": "county hospital"},
}


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError("the report needs matplotlib: pip install 'siting[report]'") from exc
    return plt


#: Font files with Chinese glyphs that matplotlib does not list by itself (``.ttc``
#: collections), looked for in the usual system font folders.
_CJK_FILE_PATTERNS: tuple[str, ...] = (
    "*wqy*.tt[cf]",
    "*NotoSansCJK*.tt[cf]",
    "*NotoSansCJK*.otf",
    "*SourceHanSans*.otf",
    "*SourceHanSans*.ttc",
    "simhei.ttf",
    "msyh.tt[cf]",
    "PingFang.ttc",
)
_FONT_DIRS: tuple[str, ...] = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/System/Library/Fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)


@cache
def _cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, registering system ``.ttc`` files
    matplotlib skips; ``None`` when there is none."""
    from matplotlib import font_manager

    def pick() -> str | None:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in installed), None)

    found = pick()
    if found is not None:
        return found
    for folder in _FONT_DIRS:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for pattern in _CJK_FILE_PATTERNS:
            for path in sorted(root.rglob(pattern))[:4]:
                try:
                    font_manager.fontManager.addfont(str(path))
                except (OSError, RuntimeError, ValueError) as exc:
                    logger.debug("font %s not usable: %s", path, exc)
    return pick()


def _has_cjk(text: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def plot_plan(result: PlanResult, *, ax: Any = None, title: str | None = None) -> Any:
    """Draw the plan on matplotlib axes (new ones when ``ax`` is ``None``) and return the
    figure: admin units, demand cells coloured inside / outside the service circle (sized by
    population), service areas (network runs, semi-transparent), open sites by status.

    Coordinates are WGS84 longitude / latitude with the aspect corrected for the latitude,
    north up (a north arrow) with a scale bar. Admin units are labelled with their names when
    a font with Chinese glyphs is installed, else with their ``unit_id`` (the names are in
    the report's tables); where labels would overlap, the units with new sites and then the
    most populous keep theirs (the others are left out). Hundreds of sites of one kind are
    drawn smaller, without outlines.
    """
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 8), dpi=110)
    else:
        fig = ax.figure
    threshold = result.scenario.threshold_minutes
    demand = result.demand.to_crs("EPSG:4326")
    demand = demand[demand["population"] > 0]
    pop = demand["population"].to_numpy(dtype=np.float64)
    size = 2.0 + 18.0 * np.sqrt(pop / pop.max()) if len(pop) and pop.max() > 0 else 4.0
    xy = np.column_stack([demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()])
    covered = demand["covered"].to_numpy(dtype=bool)
    circle = f"≤ {threshold:g} min" if threshold is not None else "reachable"
    sizes = np.broadcast_to(size, len(pop))
    ax.scatter(
        xy[covered, 0],
        xy[covered, 1],
        s=sizes[covered],
        c="#66bd63",
        alpha=0.55,
        linewidths=0,
        label=f"residents {circle}",
        zorder=2,
    )
    ax.scatter(
        xy[~covered, 0],
        xy[~covered, 1],
        s=sizes[~covered],
        c="#d7191c",
        alpha=0.55,
        linewidths=0,
        label="residents outside the circle",
        zorder=2,
    )
    try:
        areas = result.service_areas()
    except (ValueError, ShapelyError) as exc:  # pragma: no cover - a map without areas
        # (an InputError is a ValueError) is still a map
        logger.warning("service areas not drawn: %s", exc)
        areas = None
    if areas is not None:
        areas = areas[areas.geometry.notna() & ~areas.geometry.is_empty]
        if len(areas):
            areas.to_crs("EPSG:4326").plot(
                ax=ax, color="#2ca25f", alpha=0.15, edgecolor="#2ca25f", linewidth=0.6, zorder=1
            )
    unit_labels: list[Any] = []
    if result.scenario.units is not None:
        units = result.scenario.units.to_crs("EPSG:4326")
        units.boundary.plot(
            ax=ax, color="#3c3c3c", linewidth=0.8 if len(units) <= 40 else 0.4, zorder=3
        )
        font = _cjk_font()
        names = units["name"].astype(str).tolist()
        use_names = font is not None or not any(_has_cjk(n) for n in names)
        labels = names if use_names else units["unit_id"].astype(str).tolist()
        points = units.geometry.representative_point()
        # the most populous units first: where labels would overlap (331 units in Beijing),
        # the smaller unit's label is left out (declutter, after the layout)
        order = _unit_label_order(result, units)
        for k in order:
            pt = points.iloc[k]
            unit_labels.append(
                ax.annotate(
                    labels[k],
                    (pt.x, pt.y),
                    ha="center",
                    va="center",
                    fontsize=7 if len(units) > 40 else 8,
                    color="#222222",
                    fontfamily=font if (font and use_names) else None,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
                    zorder=6,
                )
            )
    sites = result.chosen_sites.to_crs("EPSG:4326")
    added = (
        sites["added"].fillna(False).astype(bool).to_numpy()
        if "added" in sites.columns
        else np.zeros(len(sites), dtype=bool)
    )
    kind = np.where(added, "added", sites["status"].astype(str).to_numpy())
    styles = _STATUS_STYLE
    if "tier" in sites.columns:  # a rules plan: by tier, centres by status
        tier = sites["tier"].astype(str).to_numpy()
        lower = np.isin(tier, list(_TIER_STYLE))
        kind = np.where(lower & ~added, tier, kind)
        styles = _STATUS_STYLE | _TIER_STYLE
    for key, style in styles.items():
        pick = kind == key
        n = int(pick.sum())
        if n:
            # hundreds of sites of a kind: smaller markers without the black outline that
            # would turn them into one dark blot
            dense = n > _DENSE_SITES
            ax.scatter(
                sites.geometry.x.to_numpy()[pick],
                sites.geometry.y.to_numpy()[pick],
                marker=style["marker"],
                c=style["color"],
                s=style["s"] * (math.sqrt(_DENSE_SITES / n) if dense else 1.0),
                # the new sites keep a hairline so they stand out from the red residents
                edgecolors="none" if dense and key not in ("new", "added") else "black",
                linewidths=(0.25 if key in ("new", "added") else 0.0) if dense else 0.6,
                alpha=0.8 if dense else 1.0,
                label=f"{style['label']} ({n:,})",
                zorder=5 if key in ("new", "added") else 4,
            )
    lat = float(np.nanmean(xy[:, 1])) if len(xy) else 0.0
    ax.set_aspect(1.0 / max(math.cos(math.radians(lat)), 0.05))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False, style="plain")
    cov = result.coverage
    heading = title or f"{result.scenario.name}: {result.scenario.model}"
    if cov is not None:
        heading += f" — coverage {cov.share:.1%} within {cov.threshold_minutes:g} min"
    ax.set_title(heading, fontsize=10)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.85, markerscale=0.8)
    fig.tight_layout()
    add_scale_bar(ax)
    add_north_arrow(ax)
    if unit_labels:
        declutter(fig, unit_labels)
    return fig


#: above this many sites of one kind, the map draws them smaller and without outlines
_DENSE_SITES = 150


def _unit_label_order(result: PlanResult, units: Any) -> list[int]:
    """Unit rows in labelling priority: units with new sites first, then by population."""
    n = len(units)
    ids = units["unit_id"].astype(str).to_numpy() if "unit_id" in units.columns else None
    pop = np.zeros(n)
    new = np.zeros(n, dtype=bool)
    if ids is not None and result.units is not None:
        table = result.units.assign(unit_id=result.units["unit_id"].astype(str))
        by_id = table.set_index("unit_id")
        if "population" in by_id.columns:
            pop = by_id["population"].reindex(ids).fillna(0).to_numpy(dtype=np.float64)
        if "new_sites" in by_id.columns:
            new = by_id["new_sites"].reindex(ids).fillna(0).to_numpy(dtype=np.float64) > 0
    return sorted(range(n), key=lambda k: (not new[k], -pop[k], k))


def map_png(result: PlanResult, *, dpi: int = 130, title: str | None = None) -> bytes:
    """The plan map as PNG bytes (see :func:`plot_plan`)."""
    plt = _pyplot()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = plot_plan(result, title=title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
