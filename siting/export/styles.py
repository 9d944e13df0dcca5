"""QGIS styles (QML) for the standard plan layers (:func:`default_styles`) and their readable
field aliases in Chinese and English (:func:`field_aliases`)."""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from siting_errors import InputError

__all__ = ["add_field_aliases", "default_styles", "field_alias", "field_aliases"]

logger = logging.getLogger(__name__)

#: Readable aliases (Chinese / English) of the standard layers' fields, shown by QGIS in the
#: attribute table and forms; field names themselves stay short ASCII (or as given).
_COMMON_ALIASES: dict[str, str] = {
    "site_id": "设施编号 / site id",
    "name": "名称 / name",
    "existing": "现有设施 / existing",
    "added": "规划人员添加 / added by planner",
    "status": "状态 / status",
    "assigned_population": "服务人口 / assigned residents",
    "covered_population": "圈内人口 / residents within the circle",
    "mean_travel_min": "平均出行时间（分钟）/ mean travel time (min)",
    "max_travel_min": "最长出行时间（分钟）/ max travel time (min)",
    "demand_id": "需求点编号 / demand point id",
    "population": "人口 / population",
    "travel_time_min": "到最近设施出行时间（分钟）/ travel time to nearest site (min)",
    "covered": "在服务圈内 / within the service circle",
    "unit_id": "行政区编号 / admin unit id",
    "unit_name": "所属街道（乡镇）/ admin unit",
    "threshold_min": "服务圈阈值（分钟）/ threshold (min)",
    "reached_nodes": "可达路网节点数 / network nodes reached",
    "coverage_share": "覆盖率 / coverage share",
    "existing_sites": "现有设施数 / existing sites",
    "new_sites": "新增设施数 / new sites",
    "required_centres": "应设中心数（R1）/ required centres (R1)",
    "planned_centres": "规划中心数 / planned centres",
    "shortfall": "缺口 / shortfall",
    "centres_below_band": "低于人口区间的中心 / centres below band",
    "centres_within_band": "人口区间内的中心 / centres within band",
    "centres_above_band": "高于人口区间的中心 / centres above band",
    "flag": "标记 / flag",
    "population_beyond": "圈外人口 / residents beyond the circle",
    "touring_population": "需巡回医疗人口（R3）/ touring-service residents (R3)",
    "rules": "依据规则 / rules",
    "best_site_min": "到最近候选设施时间（分钟）/ time to the nearest site of all (min)",
    "cell_id": "网格编号 / grid cell id",
    "points": "需求点数 / demand points",
    "unreachable_population": "不可达人口 / residents with no route",
    "uncoverable_population": "任何设施都覆盖不到的人口 / residents no site covers",
    # rules plans (issue 16): tiers, rules, staffing (R11), touring service and village groups
    "tier": "设施层级 / facility tier",
    "rule": "依据规则 / rule",
    "unit_kind": "行政区类型 / admin unit kind",
    "kind": "类型 / kind",
    "nearest_population": "以其为最近设施的人口 / residents nearest to it",
    "beds": "床位数（R11）/ beds (R11)",
    "physicians": "执业医师数（R11）/ physicians (R11)",
    "nurses": "护士数（R11）/ nurses (R11)",
    "general_practitioners": "全科医生数（R11）/ general practitioners (R11)",
    "public_health_staff": "公共卫生人员数（R11）/ public-health staff (R11)",
    "centre_id": "所属服务中心编号 / centre id",
    "touring": "巡回医疗服务 / touring service",
    "id": "编号 / id",
    "clinic_minutes": "到最近村卫生室时间（分钟）/ time to the nearest clinic (min)",
    "reason": "原因 / reason",
    "village": "村 / village",
    "villages": "村数 / villages",
    "group_id": "村组编号 / village group id",
    "site": "设施序号 / site index",
    "site_label": "设施所在村 / site village",
    "weighted_cost": "人口加权出行时间 / population-weighted travel time",
    "mean_cost": "平均出行时间 / mean travel time",
    "unreached_population": "不可达人口 / residents not reached",
    # region plans (siting plan-region): per-unit run records
    "cross_border_population": "跨界服务人口 / residents served across the unit border",
    "run_status": "运行状态 / run status",
    "error": "错误 / error",
    "cached": "取自缓存 / from the cache",
    "seconds": "用时（秒）/ seconds",
    "worker": "计算节点 / worker",
    "solve_status": "求解状态 / solver status",
    "solve_coverage_share": "求解覆盖率 / solver coverage share",
    "adcode": "行政区划代码 / admin code",
    "units": "规划单元数 / units planned with it",
}
_LAYER_FIELDS: dict[str, tuple[str, ...]] = {
    "sites": (
        "site_id",
        "name",
        "existing",
        "added",
        "status",
        "assigned_population",
        "covered_population",
        "mean_travel_min",
        "max_travel_min",
    ),
    "demand": (
        "demand_id",
        "population",
        "site_id",
        "travel_time_min",
        "covered",
        "unit_id",
        "unit_name",
    ),
    "assignments": ("demand_id", "site_id", "population", "travel_time_min"),
    "service_areas": ("site_id", "threshold_min", "reached_nodes"),
    "admin_units": (
        "unit_id",
        "name",
        "population",
        "covered_population",
        "coverage_share",
        "mean_travel_min",
        "existing_sites",
        "new_sites",
        "required_centres",
        "planned_centres",
        "shortfall",
        "centres_below_band",
        "centres_within_band",
        "centres_above_band",
        "flag",
        "population_beyond",
        "touring_population",
        "status",
        "rules",
    ),
}
_LAYER_FIELDS["candidates"] = _LAYER_FIELDS["sites"]
_LAYER_FIELDS["uncoverable"] = ("demand_id", "population", "best_site_min")
_LAYER_FIELDS["demand_grid"] = (
    "cell_id",
    "points",
    "population",
    "covered_population",
    "coverage_share",
    "unreachable_population",
    "uncoverable_population",
    "mean_travel_min",
    "max_travel_min",
)
_LAYER_ALIASES: dict[str, dict[str, str]] = {
    "admin_units": {"status": "合规情况 / compliance status"},
}


def field_aliases(layer: str) -> dict[str, str]:
    """Field name → readable alias (Chinese / English) for a standard layer (``sites``,
    ``candidates``, ``demand``, ``assignments``, ``service_areas``, ``admin_units``); empty
    for other layers. These go into the layers' QML styles (``<aliases>``);
    :func:`add_field_aliases` completes them for the fields a layer really has."""
    special = _LAYER_ALIASES.get(layer, {})
    return {f: special.get(f, _COMMON_ALIASES[f]) for f in _LAYER_FIELDS.get(layer, ())}


def field_alias(layer: str, field: str) -> str:
    """The readable alias of one field of a layer: the bilingual one when the field is known,
    else the field name with spaces for underscores (``solve_time`` → ``solve time``)."""
    special = _LAYER_ALIASES.get(layer, {})
    if field in special:
        return special[field]
    return _COMMON_ALIASES.get(field) or field.replace("_", " ").strip() or field


def add_field_aliases(qml: str, layer: str, fields: Sequence[str]) -> str:
    """The QML style with an alias for every one of ``fields`` (the layer's real fields):
    aliases the style has are kept, the others added (:func:`field_alias`), and the style's
    categories include ``Fields`` so QGIS reads them."""
    root = ET.fromstring(qml)
    node = root.find("aliases")
    if node is None:
        node = ET.SubElement(root, "aliases")
    have = {a.get("field") for a in node.iter("alias")}
    for fname in fields:
        if fname not in have:
            ET.SubElement(node, "alias", {"field": fname, "name": field_alias(layer, fname)})
    categories = [c for c in root.get("styleCategories", "").split("|") if c]
    if "Fields" not in categories:
        root.set("styleCategories", "|".join([*categories, "Fields"]))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


_QGIS_VERSION = "3.22.0-Białowieża"
_SYMBOL_LAYER_CLASS = {"marker": "SimpleMarker", "line": "SimpleLine", "fill": "SimpleFill"}


def _symbol(parent: ET.Element, kind: str, name: str, props: Mapping[str, str]) -> None:
    """A one-layer QGIS symbol; properties both as ``<Option>`` (QGIS ≥ 3.10 reads these)
    and as ``<prop>`` (older 3.x)."""
    symbol = ET.SubElement(
        parent,
        "symbol",
        {"type": kind, "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"},
    )
    layer = ET.SubElement(
        symbol,
        "layer",
        {"class": _SYMBOL_LAYER_CLASS[kind], "enabled": "1", "locked": "0", "pass": "0"},
    )
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in props.items():
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    for key, value in props.items():
        ET.SubElement(layer, "prop", {"k": key, "v": value})


def _qml(
    renderer: ET.Element,
    labeling: ET.Element | None = None,
    aliases: Mapping[str, str] | None = None,
    *,
    hidden_beyond: float | None = None,
) -> str:
    """A QML document; ``hidden_beyond``: the scale denominator beyond which (zoomed further
    out) QGIS does not draw the layer (scale-dependent visibility)."""
    categories = ["Symbology", "Labeling"]
    attrs = {"version": _QGIS_VERSION}
    if hidden_beyond is not None:
        categories.append("Rendering")  # scale visibility is a Rendering setting in QGIS
        attrs.update(hasScaleBasedVisibilityFlag="1", minScale=f"{hidden_beyond:g}", maxScale="0")
    if aliases:
        categories.append("Fields")
    root = ET.Element(
        "qgis",
        {
            **attrs,
            "styleCategories": "|".join(categories),
            "labelsEnabled": "1" if labeling is not None else "0",
        },
    )
    root.append(renderer)
    if labeling is not None:
        root.append(labeling)
    if aliases:
        # QGIS (3.x) reads field aliases from <aliases> by field name
        node = ET.SubElement(root, "aliases")
        for fname, alias in aliases.items():
            ET.SubElement(node, "alias", {"field": fname, "name": alias})
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


def _renderer(kind: str, **attrs: str) -> ET.Element:
    return ET.Element(
        "renderer-v2",
        {"type": kind, "symbollevels": "0", "enableorderby": "0", "forceraster": "0", **attrs},
    )


def _single(
    kind: str,
    props: Mapping[str, str],
    layer: str | None = None,
    *,
    hidden_beyond: float | None = None,
) -> str:
    renderer = _renderer("singleSymbol")
    _symbol(ET.SubElement(renderer, "symbols"), kind, "0", props)
    return _qml(
        renderer, aliases=field_aliases(layer) if layer else None, hidden_beyond=hidden_beyond
    )


def _marker(shape: str, fill: str, size: float, outline: str = "35,35,35,255") -> dict[str, str]:
    return {
        "name": shape,
        "color": fill,
        "outline_color": outline,
        "outline_style": "solid",
        "outline_width": "0.2",
        "outline_width_unit": "MM",
        "size": f"{size:g}",
        "size_unit": "MM",
    }


def _ground_marker(
    shape: str,
    fill: str,
    metres: float,
    min_mm: float = 0.5,
    max_mm: float = 3.0,
    outline: str | None = None,
) -> dict[str, str]:
    """A marker of ``metres`` across on the ground (QGIS's "meters at scale"), so that dense
    points keep their spacing at every zoom instead of merging into one blot; never smaller
    than ``min_mm`` (visible at province scale) nor larger than ``max_mm`` (streets stay
    readable); no outline (black outlines turn dense points black) unless ``outline`` is given
    (a hairline, for the few sites)."""
    return {
        "name": shape,
        "color": fill,
        "outline_color": outline or "0,0,0,0",
        "outline_style": "solid" if outline else "no",
        "outline_width": "0.15" if outline else "0",
        "outline_width_unit": "MM",
        "size": f"{metres:g}",
        "size_unit": "RenderMetersInMapUnits",
        # QgsMapUnitScale: 3x:minScale,maxScale,minSizeMMEnabled,minSizeMM,maxSizeMMEnabled,max
        "size_map_unit_scale": f"3x:0,0,1,{min_mm:g},1,{max_mm:g}",
    }


#: candidate sites: small grey dots 60 m across (0.4-1.8 mm), no outline
_CANDIDATE = _ground_marker("circle", "150,150,150,200", 60.0, 0.4, 1.8)

#: the sites' category: ``added`` for a site the planner added in a what-if (stored as an
#: existing site with ``added`` true), else ``status``; ``attribute()`` is NULL, not an error,
#: on layers without an ``added`` field
_SITE_CATEGORY = "CASE WHEN attribute(@feature, 'added') THEN 'added' ELSE \"status\" END"


def _sites_style() -> str:
    renderer = _renderer("categorizedSymbol", attr=_SITE_CATEGORY)
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    classes = [
        # sized on the ground too (200-300 m), so that hundreds of existing sites do not
        # cover a province map; never under 1.4-2.6 mm
        (
            "existing",
            "existing site",
            _ground_marker("square", "31,120,180,255", 200.0, 1.4, 3.2, "255,255,255,255"),
        ),
        (
            "added",
            "site added by the planner",
            _ground_marker("diamond", "106,61,154,255", 260.0, 2.0, 4.0, "255,255,255,255"),
        ),
        ("new", "new site", _ground_marker("star", "227,26,28,255", 300.0, 2.2, 5.0, "60,0,0,255")),
        ("candidate", "candidate (not chosen)", _CANDIDATE),
    ]
    for k, (value, label, props) in enumerate(classes):
        ET.SubElement(
            categories,
            "category",
            {"value": value, "symbol": str(k), "label": label, "render": "true"},
        )
        _symbol(symbols, "marker", str(k), props)
    return _qml(renderer, aliases=field_aliases("sites"))


def _demand_style(threshold: float) -> str:
    # Unreachable demand has a NULL travel time: coalesce puts it in the uncovered class.
    renderer = _renderer(
        "graduatedSymbol",
        attr='coalesce("travel_time_min", 1e9)',
        graduatedMethod="GraduatedColor",
    )
    ranges = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    t = threshold
    classes = [  # colour, metres across on the ground
        (0.0, t / 3, "26,150,65,220", 90.0),
        (t / 3, 2 * t / 3, "120,198,121,220", 90.0),
        (2 * t / 3, t, "253,174,97,230", 90.0),
    ]
    for k, (lo, hi, colour, size) in enumerate(classes):
        ET.SubElement(
            ranges,
            "range",
            {
                "lower": f"{lo:.6f}",
                "upper": f"{hi:.6f}",
                "symbol": str(k),
                "label": f"{lo:.4g} – {hi:.4g} min",
                "render": "true",
            },
        )
        _symbol(symbols, "marker", str(k), _ground_marker("circle", colour, size, 0.5, 2.5))
    ET.SubElement(
        ranges,
        "range",
        {
            "lower": f"{t:.6f}",
            "upper": "1000000000000.000000",
            "symbol": "3",
            "label": f"uncovered (> {t:g} min or unreachable)",
            "render": "true",
        },
    )
    _symbol(symbols, "marker", "3", _ground_marker("circle", "215,25,28,240", 120.0, 0.7, 3.0))
    return _qml(renderer, aliases=field_aliases("demand"))


def _grid_style() -> str:
    """The demand grid: cells filled by their coverage share (red below half, orange, green
    from 90 %), semi-transparent."""
    renderer = _renderer("graduatedSymbol", attr="coverage_share", graduatedMethod="GraduatedColor")
    classes = (
        (0.0, 0.5, "215,25,28,150", "under half covered"),
        (0.5, 0.9, "253,174,97,150", "half to 90 % covered"),
        (0.9, 1.0, "26,150,65,150", "90 % covered or more"),
    )
    _graduated_fills(renderer, classes, {"outline_style": "no"})
    return _qml(renderer, aliases=field_aliases("demand_grid"))


def _graduated_fills(
    renderer: ET.Element,
    classes: tuple[tuple[float, float, str, str], ...],
    outline: dict[str, str],
) -> None:
    """The ranges and solid fill symbols of a graduated renderer: one per (lower, upper, fill
    colour, legend label) class, every fill with the same ``outline`` properties."""
    ranges = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    for k, (lo, hi, colour, label) in enumerate(classes):
        ET.SubElement(
            ranges,
            "range",
            {"lower": f"{lo:.6f}", "upper": f"{hi:.6f}", "symbol": str(k), "label": label,
             "render": "true"},
        )  # fmt: skip
        _symbol(symbols, "fill", str(k), {"color": colour, "style": "solid", **outline})


#: coverage-share classes of the admin units' choropleth: lower, upper, fill, legend label
_COVERAGE_CLASSES = (
    (-1.0, -0.5, "200,200,200,120", "no residents"),
    (0.0, 0.5, "215,25,28,150", "under 50 % within the circle"),
    (0.5, 0.8, "253,174,97,150", "50-80 %"),
    (0.8, 0.9, "255,255,191,150", "80-90 %"),
    (0.9, 0.99, "166,217,106,150", "90-99 %"),
    (0.99, 1.0, "26,150,65,150", "99 % or more"),
)


def _admin_units_style() -> str:
    """Admin units as a choropleth of their coverage share (red under half to green from
    99 %), thin grey borders, labelled with their names (QGIS drops colliding labels)."""
    renderer = _renderer(
        "graduatedSymbol",
        attr='coalesce("coverage_share", -1)',  # a unit without residents has no share
        graduatedMethod="GraduatedColor",
    )
    _graduated_fills(
        renderer,
        _COVERAGE_CLASSES,
        {
            "outline_color": "90,90,90,220",
            "outline_style": "solid",
            "outline_width": "0.3",
            "outline_width_unit": "MM",
        },
    )
    labeling = ET.Element("labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    text_style = ET.SubElement(
        settings,
        "text-style",
        {
            "fieldName": "name",
            "isExpression": "0",
            "fontSize": "9",
            "fontFamily": "Noto Sans CJK SC",
            "fontSizeUnit": "Point",
            "textColor": "40,40,40,255",
            "textOpacity": "1",
        },
    )
    ET.SubElement(
        text_style,
        "text-buffer",
        {
            "bufferDraw": "1",
            "bufferSize": "1",
            "bufferSizeUnits": "MM",
            "bufferColor": "255,255,255,255",
            "bufferOpacity": "1",
        },
    )
    ET.SubElement(settings, "placement", {"placement": "1"})
    ET.SubElement(settings, "rendering", {"drawLabels": "1", "obstacle": "1"})
    return _qml(renderer, labeling, field_aliases("admin_units"))


def _compliance_style() -> str:
    """Compliance per unit as coloured borders (no fill, so the admin units' coverage
    choropleth shows through): ok green, flagged orange, anything else (a violation) red."""
    renderer = _renderer("categorizedSymbol", attr="status")
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    classes = [
        ("ok", "ok", "26,150,65,255", "0.5"),
        ("flagged", "flagged (allowed by the rules)", "255,127,0,255", "0.5"),
        ("", "violation", "215,25,28,255", "0.9"),  # "" is QGIS's "all other values"
    ]
    for k, (value, label, colour, width) in enumerate(classes):
        ET.SubElement(
            categories,
            "category",
            {"value": value, "symbol": str(k), "label": label, "render": "true"},
        )
        _symbol(
            symbols,
            "fill",
            str(k),
            {
                "color": "0,0,0,0",
                "style": "no",
                "outline_color": colour,
                "outline_style": "solid",
                "outline_width": width,
                "outline_width_unit": "MM",
            },
        )
    return _qml(renderer, aliases=field_aliases("compliance"))


#: assignment lines are drawn only from this scale in (1:25,000, a district): further out
#: thousands of them form a hairball
ASSIGNMENT_LINES_BEYOND = 25_000.0
#: touring-service points are drawn only from this scale in (1:150,000, a city)
TOURING_BEYOND = 150_000.0


def default_styles(*, threshold_minutes: float = 10.0) -> dict[str, str]:
    """QML styles for the standard plan layers, keyed by layer name, readable at city and
    province scale.

    ``sites``: categorised by ``status`` (existing: blue squares, new: red stars), sites the
    planner added in a what-if (``added`` true) as purple diamonds; ``candidates``: small grey
    dots; ``demand``: dots 90 m across on the ground (never under 0.5 mm nor over 2.5 mm, no
    outline), graduated by ``travel_time_min`` from green to orange up to
    ``threshold_minutes``, uncovered demand (slower, or unreachable with a NULL time) as larger
    red dots; ``demand_grid`` (a large demand summed into cells): filled by coverage share;
    ``uncoverable`` (residents no site covers): red crosses; ``assignments``: thin
    translucent grey lines, drawn only from 1:25,000 in (:data:`ASSIGNMENT_LINES_BEYOND`);
    ``service_areas``: light translucent green; ``admin_units``: a choropleth of
    ``coverage_share`` labelled with ``name``; ``compliance``: unit borders coloured by status
    (ok green, flagged orange, violation red); ``touring`` (drawn from 1:150,000 in,
    :data:`TOURING_BEYOND`) and ``village_groups``: markers sized on the ground. Each style
    also carries readable field aliases (Chinese and English, see :func:`field_aliases`); the
    field names stay as they are.
    """
    if (
        isinstance(threshold_minutes, bool)
        or not isinstance(threshold_minutes, int | float)
        or not math.isfinite(threshold_minutes)
        or threshold_minutes <= 0
    ):
        raise InputError(
            f"`threshold_minutes` must be a positive number of minutes, got {threshold_minutes!r}"
        )
    return {
        "sites": _sites_style(),
        "candidates": _single("marker", _CANDIDATE, layer="candidates"),
        "demand": _demand_style(float(threshold_minutes)),
        "demand_grid": _grid_style(),
        "uncoverable": _single(
            "marker", _marker("cross2", "215,25,28,255", 3.0, "215,25,28,255"), layer="uncoverable"
        ),
        "assignments": _single(
            "line",
            {
                "line_color": "110,110,110,90",
                "line_style": "solid",
                "line_width": "0.15",
                "line_width_unit": "MM",
            },
            layer="assignments",
            hidden_beyond=ASSIGNMENT_LINES_BEYOND,
        ),
        "service_areas": _single(
            "fill",
            {
                "color": "44,162,95,45",
                "style": "solid",
                "outline_color": "44,162,95,150",
                "outline_style": "solid",
                "outline_width": "0.2",
                "outline_width_unit": "MM",
            },
            layer="service_areas",
        ),
        "admin_units": _admin_units_style(),
        # rules plans (issue 16); plain single-symbol styles
        # tens of thousands of touring points cover a province map: drawn from 1:150,000 in
        "touring": _single(
            "marker",
            _ground_marker("triangle", "255,127,0,230", 120.0, 0.8, 3.0),
            layer="touring",
            hidden_beyond=TOURING_BEYOND,
        ),
        "village_groups": _single(
            "marker",
            _ground_marker("circle", "166,118,29,230", 150.0, 0.8, 2.5),
            layer="village_groups",
        ),
        "compliance": _compliance_style(),
    }
