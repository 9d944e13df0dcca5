"""Private helpers of the report's map (matplotlib): a scale bar, a north arrow and label
decluttering, for maps drawn in WGS84 longitude / latitude."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

_METRES_PER_DEGREE = 111_320.0


def nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above ``metres`` (at least 1 m)."""
    if not math.isfinite(metres) or metres <= 1.0:
        return 1.0
    k = math.floor(math.log10(metres))
    for step in (5.0, 2.0, 1.0):
        if step * 10**k <= metres:
            return step * 10**k
    return 10.0**k  # pragma: no cover - the loop always returns


def _length_label(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def add_scale_bar(ax: Any, *, fraction: float = 0.2) -> float:
    """Draw a scale bar about ``fraction`` of the map's width long in the lower right corner
    of lon/lat axes (metres along the parallel at the bar's latitude); return its length in
    metres. Call it after the axes' limits are final."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    lat = y0 + 0.06 * (y1 - y0)
    per_degree = _METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.05)
    metres = nice_length(fraction * (x1 - x0) * per_degree)
    width = metres / per_degree
    right = x1 - 0.04 * (x1 - x0)
    left = right - width
    half = left + width / 2
    kw: dict[str, Any] = {"solid_capstyle": "butt", "zorder": 8}
    ax.plot([left, half], [lat, lat], color="black", linewidth=4, **kw)
    ax.plot([half, right], [lat, lat], color="white", linewidth=4, **kw)
    ax.plot([left, right], [lat, lat], color="black", linewidth=0.6, **kw)
    for x, text in ((left, "0"), (right, _length_label(metres))):
        ax.text(
            x,
            lat + 0.015 * (y1 - y0),
            text,
            ha="center",
            va="bottom",
            fontsize=7,
            zorder=8,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return metres


def add_north_arrow(ax: Any) -> None:
    """An arrow pointing up with an ``N`` in the upper right corner (the map is drawn with
    north up: WGS84 longitude / latitude)."""
    ax.annotate(
        "",
        xy=(0.95, 0.94),
        xytext=(0.95, 0.85),
        xycoords="axes fraction",
        textcoords="axes fraction",
        arrowprops={"facecolor": "black", "edgecolor": "black", "width": 3, "headwidth": 10},
        zorder=8,
    )
    ax.text(
        0.95,
        0.955,
        "N",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=10,
        fontweight="bold",
        zorder=8,
    )


def declutter(fig: Any, texts: Sequence[Any], *, pad: float = 2.0) -> int:
    """Remove every label that overlaps one placed before it (``texts`` in priority order,
    most important first) or lies outside the axes; return how many were removed. Call it
    after the figure's layout is final."""
    fig.canvas.draw()  # positions and sizes are known only once drawn
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    removed = 0
    for text in texts:
        box = text.get_window_extent(renderer)
        box = box.from_extents(box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad)
        axes_box = text.axes.get_window_extent(renderer) if text.axes is not None else None
        outside = axes_box is not None and not (
            axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and axes_box.y0 <= box.y0
            and box.y1 <= axes_box.y1
        )  # fmt: skip
        if outside or any(box.overlaps(other) for other in placed):
            text.remove()
            removed += 1
        else:
            placed.append(box)
    logger.debug("labels: %d placed, %d removed as overlapping", len(placed), removed)
    return removed
