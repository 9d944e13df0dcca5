"""Options and parameter parsing shared by the planning commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from siting.rules import RulePreset

Population = Annotated[Path, typer.Option(help="Population raster (GeoTIFF) or vector file.")]
Out = Annotated[Path, typer.Option(help="Folder for the outputs.")]
Roads = Annotated[
    Path | None,
    typer.Option(
        help="Road network: .osm, .osm.pbf, .graphml, or a line layer (GeoJSON, GeoPackage, "
        "shapefile; see --road-class-column ...); omit for straight-line travel."
    ),
]
Sites = Annotated[Path | None, typer.Option(help="Candidate sites file.")]
Existing = Annotated[
    Path | None,
    typer.Option(help="Existing facilities (kept open; an optional 'tier' column)."),
]
Units = Annotated[
    Path | None, typer.Option(help="Admin units (polygons): sub-districts and townships.")
]
NewSites = Annotated[int | None, typer.Option(help="New sites to open (with --model, not lscp).")]
Threshold = Annotated[
    float | None, typer.Option(help="Service threshold, minutes (default: the rules' R6, 10).")
]
Mode = Annotated[
    str | None, typer.Option(help="walk or drive (default: the rules' R6 urban mode, walk).")
]
Rules = Annotated[
    Path | None,
    typer.Option(help="Rules preset TOML (default: the packaged Inner Mongolia preset)."),
]
PopulationColumn = Annotated[str, typer.Option(help="Population column (vector).")]
MaxSnap = Annotated[float, typer.Option(help="Max distance to the network (m).")]
Cutoff = Annotated[float | None, typer.Option(help="Travel-time search limit (min).")]
Backend = Annotated[str, typer.Option(help="highs, cbc, pulp-highs or heuristic.")]
Name = Annotated[str, typer.Option(help="Label and file stem of the outputs.")]
Quiet = Annotated[bool, typer.Option(help="No progress messages.")]
Model = Annotated[
    str | None,
    typer.Option(
        help="One model instead of the rules: lscp, mclp, pmedian or pcenter (default: plan by "
        "the rules)."
    ),
]
Villages = Annotated[
    Path | None,
    typer.Option(
        help="Administrative villages (points or polygons with population) for rule R3: joint "
        "clinics for villages under 500, touring service for what no clinic reaches."
    ),
]
Pois = Annotated[
    Path | None,
    typer.Option(help="Activity centres / elderly homes (points) for rule R4's co-location."),
]
KindColumn = Annotated[
    str | None,
    typer.Option(
        help="Column of --units with each unit's kind (subdistrict/township or 街道/乡/镇/苏木); "
        "default: a 'kind' column, else the name's suffix."
    ),
]
UnitKind = Annotated[
    str | None,
    typer.Option(help="Treat every unit as this kind: subdistrict or township."),
]
StationBudget = Annotated[
    int | None,
    typer.Option(
        help="Most new stations / village clinics the circle step (R6) may open (default: the "
        "fewest that close the circle)."
    ),
]
CountySteps = Annotated[
    str | None,
    typer.Option(help="County rule steps to add, comma-separated: R7,R9,R10."),
]
PolygonSpacing = Annotated[
    float,
    typer.Option(
        help="Population polygons are spread over a grid this many metres apart (0: one point "
        "per polygon)."
    ),
]
Projected = Annotated[
    bool,
    typer.Option(
        "--projected",
        help="Write the GeoPackage in the local UTM zone (metres) instead of WGS84 "
        "longitude/latitude; the GeoJSON stays WGS84.",
    ),
]
DemandLayer = Annotated[
    str,
    typer.Option(
        help="The demand layer: points (one per demand point), grid (summed into square "
        "cells), or auto (grid above 50,000 points)."
    ),
]
#: generated candidate sites (no --sites) are thinned to at most this many by default: a
#: 500 m grid over a city of 10 million gives 16,000, more than a model needs to place tens
MAX_GENERATED_CANDIDATES = 8000
DetourFactor = Annotated[
    float, typer.Option(help="Straight-line travel: network distance / straight distance.")
]


XColumn = Annotated[str, typer.Option(help="CSV inputs: the x (longitude) column.")]
YColumn = Annotated[str, typer.Option(help="CSV inputs: the y (latitude) column.")]
Crs = Annotated[
    str | None,
    typer.Option(help="CSV inputs: the CRS of the x/y columns, e.g. EPSG:4326 (lon/lat)."),
]
IdColumn = Annotated[
    str | None,
    typer.Option(help="Id column of the population and site files that have it (kept in outputs)."),
]
NameColumn = Annotated[
    str | None,
    typer.Option(help="Name column of the population and site files that have it (kept)."),
]
Coords = Annotated[
    str,
    typer.Option(
        help="wgs84, or gcj02: the vector inputs' lon/lat are GCJ-02 (Amap, Tencent) and are "
        "converted to WGS84."
    ),
]
RoadClass = Annotated[
    str | None,
    typer.Option(help="Line-layer roads: road class field (default: highway or fclass if any)."),
]
RoadSpeed = Annotated[
    str | None,
    typer.Option(help="Line-layer roads: speed-limit field (default: maxspeed if any)."),
]
RoadSpeedUnit = Annotated[str, typer.Option(help="Unit of --road-speed-column: km/h, m/s, mph.")]
RoadOneway = Annotated[
    str | None,
    typer.Option(help="Line-layer roads: one-way field, yes/-1/no or F/T/B (default: oneway)."),
]
RoadTolerance = Annotated[
    float,
    typer.Option(help="Line-layer roads: join line ends closer than this (m) into one node."),
]


def road_fields(
    roads: Path | None,
    class_column: str | None,
    speed_column: str | None,
    speed_unit: str,
    oneway_column: str | None,
    tolerance: float,
) -> Any:
    """The line-layer fields of ``--roads`` (``None`` for OSM / GraphML files, where the
    flags must keep their defaults)."""
    from geodata.roads import LINE_SUFFIXES, LineFields
    from siting_errors import InputError

    given = {
        "--road-class-column": class_column,
        "--road-speed-column": speed_column,
        "--road-oneway-column": oneway_column,
        "--road-speed-unit": None if speed_unit == "km/h" else speed_unit,
        "--road-tolerance": None if tolerance == 1.0 else tolerance,
    }
    line_layer = roads is not None and roads.suffix.lower() in LINE_SUFFIXES
    if not line_layer:
        flags = [flag for flag, value in given.items() if value is not None]
        if flags:
            raise InputError(
                f"`{flags[0]}` is for road line layers ({', '.join(LINE_SUFFIXES)}); "
                f"--roads is {roads if roads is not None else 'not given'}"
            )
        return None
    return LineFields(
        class_field=class_column,
        speed_field=speed_column,
        speed_unit=speed_unit,
        oneway_field=oneway_column,
        tolerance=tolerance,
    )


def rules_and_circle(
    rules: Path | None, threshold: float | None, mode: str | None
) -> tuple[RulePreset, float, str]:
    """The rules preset (a file, or the packaged one) and the service circle's threshold and
    mode, the preset's R6 where not given."""
    from siting.rules import default_rules, load_rules

    preset = load_rules(rules) if rules is not None else default_rules()
    threshold = threshold if threshold is not None else preset.R6.threshold_minutes
    return preset, threshold, mode or preset.R6.urban_mode


def _county_steps(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(step.strip().upper() for step in text.split(",") if step.strip())


def plan_parameters(
    model: str | None,
    new_sites: int | None,
    *,
    unit_kind_column: str | None,
    unit_kind: str | None,
    station_budget: int | None,
    county_steps: str | None,
) -> dict[str, Any]:
    """Scenario parameters of a rules plan (no ``model``) or of one model."""
    if model is None:
        from siting_errors import InputError

        if new_sites is not None:
            raise InputError(
                "`--new-sites` is for one model (--model); a rules plan decides how many sites "
                "each rule needs (use --station-budget to cap the circle step)"
            )
        return {
            "model": "rules",
            "new_sites": None,
            "unit_kind_column": unit_kind_column,
            "unit_kind": unit_kind,
            "station_budget": station_budget,
            "county_steps": _county_steps(county_steps),
        }
    return {
        "model": model,
        "new_sites": new_sites,
        "unit_kind_column": unit_kind_column,
        "unit_kind": unit_kind,
    }


def rules_only(model: str | None, **flags: object) -> None:
    """Flags of a rules plan given with --model are an error (they would be ignored)."""
    if model is None:
        return
    given = [name for name, value in flags.items() if value is not None]
    if given:
        from siting_errors import InputError

        flag = "--" + given[0].replace("_", "-")
        raise InputError(
            f"`{flag}` is for a plan by the rules; drop --model {model} or drop {flag}"
        )
