"""The ``siting`` command line: ``demo``, ``plan``, ``plan-tiers``, ``solve-matrix``, ``report``,
``prepare``, ``plan-region`` and ``serve``.

Every command has ``--help``. Errors the user can fix (a missing file, a bad parameter) are
printed as one line naming the input and the expected value, with exit code 2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from siting._flags import cli_words as _cli_words
from siting_errors import SitingError

if TYPE_CHECKING:
    from siting.rules import RulePreset

__all__ = ["app", "main"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="siting",
    help="Primary-care facility siting: coverage (LSCP, MCLP), p-median and p-center models on "
    "population grids and road networks, under the planning documents' rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs ~0.3 s of imports
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

# options shared by the planning commands (``plan``, ``plan-tiers``)
_Population = Annotated[Path, typer.Option(help="Population raster (GeoTIFF) or vector file.")]
_Out = Annotated[Path, typer.Option(help="Folder for the outputs.")]
_Roads = Annotated[
    Path | None,
    typer.Option(
        help="Road network: .osm, .osm.pbf, .graphml, or a line layer (GeoJSON, GeoPackage, "
        "shapefile; see --road-class-column ...); omit for straight-line travel."
    ),
]
_Rules = Annotated[
    Path | None,
    typer.Option(help="Rules preset TOML (default: the packaged Inner Mongolia preset)."),
]
_PopulationColumn = Annotated[str, typer.Option(help="Population column (vector).")]
_MaxSnap = Annotated[float, typer.Option(help="Max distance to the network (m).")]
_Cutoff = Annotated[float | None, typer.Option(help="Travel-time search limit (min).")]
_Backend = Annotated[str, typer.Option(help="highs, cbc, pulp-highs or heuristic.")]
_Name = Annotated[str, typer.Option(help="Label and file stem of the outputs.")]
_Quiet = Annotated[bool, typer.Option(help="No progress messages.")]
_Model = Annotated[
    str | None,
    typer.Option(
        help="One model instead of the rules: lscp, mclp, pmedian or pcenter (default: plan by "
        "the rules)."
    ),
]
_Villages = Annotated[
    Path | None,
    typer.Option(
        help="Administrative villages (points or polygons with population) for rule R3: joint "
        "clinics for villages under 500, touring service for what no clinic reaches."
    ),
]
_Pois = Annotated[
    Path | None,
    typer.Option(help="Activity centres / elderly homes (points) for rule R4's co-location."),
]
_KindColumn = Annotated[
    str | None,
    typer.Option(
        help="Column of --units with each unit's kind (subdistrict/township or 街道/乡/镇/苏木); "
        "default: a 'kind' column, else the name's suffix."
    ),
]
_UnitKind = Annotated[
    str | None,
    typer.Option(help="Treat every unit as this kind: subdistrict or township."),
]
_StationBudget = Annotated[
    int | None,
    typer.Option(
        help="Most new stations / village clinics the circle step (R6) may open (default: the "
        "fewest that close the circle)."
    ),
]
_CountySteps = Annotated[
    str | None,
    typer.Option(help="County rule steps to add, comma-separated: R7,R9,R10."),
]
_PolygonSpacing = Annotated[
    float,
    typer.Option(
        help="Population polygons are spread over a grid this many metres apart (0: one point "
        "per polygon)."
    ),
]
_DemandLayer = Annotated[
    str,
    typer.Option(
        help="The demand layer: points (one per demand point), grid (summed into square "
        "cells), or auto (grid above 50,000 points)."
    ),
]
#: generated candidate sites (no --sites) are thinned to at most this many by default: a
#: 500 m grid over a city of 10 million gives 16,000, more than a model needs to place tens
MAX_GENERATED_CANDIDATES = 8000
_DetourFactor = Annotated[
    float, typer.Option(help="Straight-line travel: network distance / straight distance.")
]


_XColumn = Annotated[str, typer.Option(help="CSV inputs: the x (longitude) column.")]
_YColumn = Annotated[str, typer.Option(help="CSV inputs: the y (latitude) column.")]
_Crs = Annotated[
    str | None,
    typer.Option(help="CSV inputs: the CRS of the x/y columns, e.g. EPSG:4326 (lon/lat)."),
]
_IdColumn = Annotated[
    str | None,
    typer.Option(help="Id column of the population and site files that have it (kept in outputs)."),
]
_NameColumn = Annotated[
    str | None,
    typer.Option(help="Name column of the population and site files that have it (kept)."),
]
_Coords = Annotated[
    str,
    typer.Option(
        help="wgs84, or gcj02: the vector inputs' lon/lat are GCJ-02 (Amap, Tencent) and are "
        "converted to WGS84."
    ),
]
_RoadClass = Annotated[
    str | None,
    typer.Option(help="Line-layer roads: road class field (default: highway or fclass if any)."),
]
_RoadSpeed = Annotated[
    str | None,
    typer.Option(help="Line-layer roads: speed-limit field (default: maxspeed if any)."),
]
_RoadSpeedUnit = Annotated[str, typer.Option(help="Unit of --road-speed-column: km/h, m/s, mph.")]
_RoadOneway = Annotated[
    str | None,
    typer.Option(help="Line-layer roads: one-way field, yes/-1/no or F/T/B (default: oneway)."),
]
_RoadTolerance = Annotated[
    float,
    typer.Option(help="Line-layer roads: join line ends closer than this (m) into one node."),
]


def _road_fields(
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


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except SitingError as exc:
        err_console.print(f"[bold red]error:[/] {_cli_words(str(exc))}", highlight=False)
        raise typer.Exit(code=2) from None


def _progress_printer(quiet: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if not quiet:
            err_console.print(f"[dim]… {message}[/]", highlight=False)

    return say


def _rules_and_circle(
    rules: Path | None, threshold: float | None, mode: str | None
) -> tuple[RulePreset, float, str]:
    """The rules preset (a file, or the packaged one) and the service circle's threshold and
    mode, the preset's R6 where not given."""
    from siting.rules import default_rules, load_rules

    preset = load_rules(rules) if rules is not None else default_rules()
    threshold = threshold if threshold is not None else preset.R6.threshold_minutes
    return preset, threshold, mode or preset.R6.urban_mode


def _mean_travel(result: Any) -> str:
    """The mean travel time with the residents it leaves out beside it."""
    pop = float(result.demand["population"].sum())
    lost = float(result.unreachable_population)
    mean = result.mean_travel_minutes
    text = "n/a" if mean != mean else f"{mean:.2f} min"  # NaN: nobody reachable
    return f"{text} over {pop - lost:,.0f} residents ({lost:,.0f} unreachable, not counted)"


def _print_result(result: object, title: str) -> None:
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    summary = result.summary()
    head = Table(title=title, show_header=False, title_justify="left")
    head.add_column("", style="bold")
    head.add_column("")
    head.add_row("model", f"{result.scenario.model} ({summary['backend']})")
    head.add_row(
        "status", summary["status"] + (f" (gap {summary['gap']:.2%})" if summary["gap"] else "")
    )
    if result.coverage is not None:
        c = result.coverage
        head.add_row(
            f"coverage ≤ {c.threshold_minutes:g} min ({result.scenario.mode})",
            f"{c.share:.1%} ({c.covered_population:,.0f} of {c.total_population:,.0f})",
        )
    head.add_row("mean travel time", _mean_travel(result))
    lost = summary.get("uncoverable")
    if lost and lost["points"]:
        head.add_row(
            f"no site within {result.scenario.threshold_minutes:g} min",
            f"{lost['population']:,.0f} residents ({lost['points']:,} point"
            f"{'s' if lost['points'] != 1 else ''}; uncoverable)",
        )
    head.add_row(
        "sites", f"{summary['sites']['existing']} existing + {summary['sites']['new']} new"
    )
    head.add_row("solve time", f"{result.solution.time:.2f} s")
    console.print(head)
    table = Table(title="open sites", title_justify="left")
    for col in ("site", "name", "status", "population", "covered", "mean min", "max min"):
        table.add_column(col, justify="right" if col not in ("site", "name", "status") else "left")
    for row in result.table().itertuples(index=False):
        table.add_row(
            str(row.site_id),
            str(row.name),
            str(row.status),
            f"{row.assigned_population:,.0f}",
            f"{row.covered_population:,.0f}",
            f"{row.mean_travel_min:.1f}",
            f"{row.max_travel_min:.1f}",
        )
    console.print(table)
    if result.units is not None:
        units = Table(title="admin units", title_justify="left")
        for col in ("unit", "population", "covered", "share", "existing", "new"):
            units.add_column(col, justify="left" if col == "unit" else "right")
        for row in result.units.itertuples(index=False):
            units.add_row(
                str(row.name),
                f"{row.population:,.0f}",
                f"{row.covered_population:,.0f}",
                f"{row.coverage_share:.1%}",
                str(row.existing_sites),
                str(row.new_sites),
            )
        console.print(units)
    if result.compliance is not None:
        comp = Table(
            title=f"compliance ({result.compliance['rules'].iloc[0]})"
            if len(result.compliance)
            else "compliance",
            title_justify="left",
        )
        for col in ("unit", "required", "planned", "off band", "beyond", "touring", "breaks"):
            comp.add_column(col, justify="right" if col not in ("unit", "breaks") else "left")
        for row in result.compliance.itertuples(index=False):
            off_band = row.centres_below_band + row.centres_above_band
            broken = [
                code
                for code, bad in (
                    ("R1", row.shortfall > 0 or off_band > 0),
                    ("R6", row.population_beyond > 0.5),
                    ("R3", row.touring_population > 0.5),
                )
                if bad
            ]
            comp.add_row(
                str(row.name) + (" *" if row.flag else ""),
                str(row.required_centres),
                str(row.planned_centres),
                str(off_band),
                f"{row.population_beyond:,.0f}",
                f"{row.touring_population:,.0f}",
                " ".join(broken) or "ok",
            )
        console.print(comp)
        if (result.compliance["flag"] != "").any():
            console.print("* under R1's minimum population: keeps its one centre (flagged)")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {_cli_words(note)}", highlight=False)


#: at most this many rows of a long table are printed (the files have them all)
_MAX_ROWS = 40


def _verdict(status: str) -> str:
    return status if status in ("ok", "flagged") else "VIOLATION"


def _print_rules_result(result: object, title: str) -> None:
    """A rules plan: headline, steps, sites per tier, and every unit's compliance verdict."""
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    summary = result.summary()
    head = Table(title=title, show_header=False, title_justify="left")
    head.add_column("", style="bold")
    head.add_column("")
    rules = result.scenario.rules
    head.add_row("plan", f"by the rules ({rules.name if rules else 'inner-mongolia'})")
    head.add_row("status", summary["status"])
    if result.coverage is not None:
        c = result.coverage
        head.add_row(
            f"coverage ≤ {c.threshold_minutes:g} min ({result.scenario.mode})",
            f"{c.share:.1%} ({c.covered_population:,.0f} of {c.total_population:,.0f})",
        )
    if result.touring is not None:
        head.add_row(
            "touring service (R3)",
            f"{result.touring['population'].sum():,.0f} residents, {len(result.touring)} "
            f"{'villages' if (result.touring['kind'] == 'village').any() else 'points'}",
        )
    if result.unit_kinds:
        head.add_row("units", result.unit_kinds)
    head.add_row("plan time", f"{sum(result.timings.values()):.1f} s")
    console.print(head)
    tiers = Table(title="sites by tier", title_justify="left")
    for col in ("tier", "existing", "new", "assigned residents"):
        tiers.add_column(col, justify="left" if col == "tier" else "right")
    chosen = result.chosen_sites
    for tier, group in chosen.groupby("tier", sort=False):
        tiers.add_row(
            str(tier),
            str(int((group["status"] == "existing").sum())),
            str(int((group["status"] == "new").sum())),
            f"{group['assigned_population'].sum():,.0f}",
        )
    console.print(tiers)
    if result.steps is not None and len(result.steps):
        steps = Table(title="steps", title_justify="left")
        for col in ("rule", "tier", "new sites", "status", "seconds"):
            steps.add_column(col, justify="right" if col in ("new sites", "seconds") else "left")
        for row in result.steps.itertuples(index=False):
            steps.add_row(
                str(row.rule),
                str(row.tier),
                str(row.new_sites),
                str(row.status),
                f"{row.seconds:.2f}",
            )
        console.print(steps)
    _print_compliance(result)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {_cli_words(note)}", highlight=False)


def _print_compliance(result: object) -> None:
    """Every unit OK, flagged with its reason, or in violation with its reason."""
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    comp = result.compliance
    if comp is None:
        return
    verdicts = comp["status"].map(_verdict)
    counts = verdicts.value_counts()
    console.print(
        f"compliance per unit: {counts.get('ok', 0)} ok, {counts.get('flagged', 0)} flagged, "
        f"{counts.get('VIOLATION', 0)} in violation (of {len(comp)})",
        highlight=False,
    )
    shown = comp if len(comp) <= _MAX_ROWS else comp[verdicts != "ok"]
    for row, verdict in zip(shown.itertuples(index=False), verdicts[shown.index], strict=True):
        if len(shown) > _MAX_ROWS and verdict == "flagged":
            continue
        colour = {"ok": "green", "flagged": "yellow"}.get(verdict, "red")
        text = f"[{colour}]{verdict:>9}[/] {row.name} ({row.unit_id}, {row.kind or 'kind?'})"
        if row.reason:
            text += f": {row.reason}"
        console.print(text, highlight=False)
    if len(shown) > _MAX_ROWS:
        console.print(
            f"(the {int((verdicts == 'flagged').sum())} flagged units' reasons are in the "
            "compliance CSV)"
        )


def _exit_on_failure(result: object) -> None:
    """A plan that failed (a model infeasible, or no solution in time) exits with code 1."""
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    if result.status in ("infeasible", "no_solution"):
        err_console.print(
            f"[bold red]the plan failed ({result.status}):[/] "
            f"{_cli_words(result.solution.reason or '')}",
            highlight=False,
        )
        raise typer.Exit(code=1)


def _county_steps(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(step.strip().upper() for step in text.split(",") if step.strip())


def _plan_parameters(
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


def _rules_only(model: str | None, **flags: object) -> None:
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


def _print_any(result: object, title: str) -> None:
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    if result.scenario.model == "rules":
        _print_rules_result(result, title)
    else:
        _print_result(result, title)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the outputs.")] = Path("demo-output"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 0,
    population: Annotated[int, typer.Option(help="Residents of the synthetic city.")] = 300_000,
    model: _Model = None,
    new_sites: Annotated[int, typer.Option(help="New clinics to site (with --model only).")] = 6,
    threshold: Annotated[float, typer.Option(help="Service circle in minutes (rule R6).")] = 10.0,
    mode: Annotated[str, typer.Option(help="walk or drive.")] = "walk",
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress messages.")] = False,
) -> None:
    """Plan a deterministic synthetic city end to end, offline, by the rules (or one model with
    --model), print every sub-district's compliance and write GeoJSON + GeoPackage + CSV."""
    from siting.demo import run_demo

    with _user_errors():
        outcome = run_demo(
            out,
            seed=seed,
            population=population,
            model=model or "rules",
            new_sites=new_sites,
            threshold_minutes=threshold,
            mode=mode,
            report=report,
            progress=_progress_printer(quiet),
        )
    base = outcome.baseline
    if base is not None and base.coverage is not None:
        line = (
            f"baseline (existing clinics only): {base.coverage.share:.1%} of residents within "
            f"{base.coverage.threshold_minutes:g} min"
        )
        if base.compliance is not None:
            line += f", {int((base.compliance['status'] == 'ok').sum())} units ok"
        console.print(line, highlight=False)
    title = (
        "siting demo: planned by the rules"
        if model is None
        else f"siting demo: {model}" + (f", {new_sites} new clinics" if model != "lscp" else "")
    )
    _print_any(outcome.result, title)
    console.print(f"outputs in {out}/ ({len(outcome.files)} files), {outcome.seconds:.1f} s in all")
    _exit_on_failure(outcome.result)


@app.command()
def plan(
    population: _Population,
    out: _Out,
    roads: _Roads = None,
    sites: Annotated[Path | None, typer.Option(help="Candidate sites file.")] = None,
    existing: Annotated[
        Path | None,
        typer.Option(help="Existing facilities (kept open; an optional 'tier' column)."),
    ] = None,
    units: Annotated[
        Path | None, typer.Option(help="Admin units (polygons): sub-districts and townships.")
    ] = None,
    model: _Model = None,
    new_sites: Annotated[
        int | None, typer.Option(help="New sites to open (with --model, not lscp).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Service threshold, minutes (default: the rules' R6, 10).")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="walk or drive (default: the rules' R6 urban mode, walk).")
    ] = None,
    rules: _Rules = None,
    villages: _Villages = None,
    pois: _Pois = None,
    unit_kind_column: _KindColumn = None,
    unit_kind: _UnitKind = None,
    station_budget: _StationBudget = None,
    county_steps: _CountySteps = None,
    population_column: _PopulationColumn = "population",
    x_column: _XColumn = "x",
    y_column: _YColumn = "y",
    crs: _Crs = None,
    id_column: _IdColumn = None,
    name_column: _NameColumn = None,
    coords: _Coords = "wgs84",
    road_class_column: _RoadClass = None,
    road_speed_column: _RoadSpeed = None,
    road_speed_unit: _RoadSpeedUnit = "km/h",
    road_oneway_column: _RoadOneway = None,
    road_tolerance: _RoadTolerance = 1.0,
    polygon_spacing: _PolygonSpacing = 250.0,
    candidate_spacing: Annotated[
        float,
        typer.Option(
            help="Without --sites: candidates at road nodes (or populated points) "
            "this far apart (m)."
        ),
    ] = 500.0,
    max_candidates: Annotated[
        int,
        typer.Option(help="Without --sites: widen --candidate-spacing until at most this many."),
    ] = MAX_GENERATED_CANDIDATES,
    strict: Annotated[
        bool,
        typer.Option(
            help="lscp: answer infeasible (exit 1) when some residents have no site within "
            "the threshold, instead of covering everyone coverable and listing the others."
        ),
    ] = False,
    demand_layer: _DemandLayer = "auto",
    detour_factor: _DetourFactor = 1.3,
    max_snap: _MaxSnap = 500.0,
    cutoff: _Cutoff = None,
    backend: _Backend = "highs",
    time_limit: Annotated[float, typer.Option(help="Solver time limit (s).")] = 300.0,
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
    name: _Name = "plan",
    quiet: _Quiet = False,
) -> None:
    """Plan sites from files by the planning documents' rules (or one model with --model):
    population + roads + candidates/existing + units → GeoJSON, GeoPackage, CSV, JSON.

    By the rules: R1 centres per sub-district within the 30,000-100,000 band, R2 a township
    health centre per township, R3 joint village clinics (--villages), R6 the circle closed
    with the fewest stations / village clinics (R4: --pois), county steps on request
    (--county-steps R7,R9,R10), R11 staffing. Exit code 1 when a step fails (a model
    infeasible or without a solution in time); rule violations the data cannot avoid are
    listed with their reasons and exit 0. Exit code 2 for bad input (a missing file, a bad
    value, inputs that do not overlap).

    Population: a GeoTIFF, or points / polygons in GeoJSON, GeoPackage, shapefile or CSV
    (--x-column, --y-column, --crs). Residents no site can cover within the threshold are
    listed (<name>_uncoverable.csv and the uncoverable layer), never given a travel time.
    """
    from siting.inputs import load_scenario
    from siting.workflow import run_plan, save_run

    say = _progress_printer(quiet)
    with _user_errors():
        preset, threshold, mode = _rules_and_circle(rules, threshold, mode)
        say(f"service circle {threshold:g} min by {mode} ({preset.R6.cite()})")
        _rules_only(
            model,
            villages=villages,
            pois=pois,
            station_budget=station_budget,
            county_steps=county_steps,
        )
        say("reading inputs")
        params = _plan_parameters(
            model,
            new_sites,
            unit_kind_column=unit_kind_column,
            unit_kind=unit_kind,
            station_budget=station_budget,
            county_steps=county_steps,
        )
        if strict:
            if model != "lscp":
                from siting_errors import InputError

                raise InputError(
                    "`--strict` is for --model lscp (infeasible rather than covering everyone "
                    f"coverable), got --model {model or '(none: a plan by the rules)'}"
                )
            params["strict"] = True
        scenario = load_scenario(
            population=population,
            roads=roads,
            sites=sites,
            existing=existing,
            units=units,
            villages=villages,
            pois=pois,
            mode=mode,
            population_column=population_column,
            polygon_spacing=polygon_spacing or None,
            candidate_spacing=candidate_spacing,
            max_candidates=max_candidates,
            x_column=x_column,
            y_column=y_column,
            crs=crs,
            id_column=id_column,
            name_column=name_column,
            coords=coords,
            road_fields=_road_fields(
                roads,
                road_class_column,
                road_speed_column,
                road_speed_unit,
                road_oneway_column,
                road_tolerance,
            ),
            threshold_minutes=threshold,
            max_snap_distance=max_snap,
            cutoff_minutes=cutoff,
            detour_factor=detour_factor,
            backend=backend,
            time_limit=time_limit,
            name=name,
            rules=preset,
            **params,
        )
        run = run_plan(scenario, progress=say)
        files = save_run(run, out, name=name, report=report, demand=demand_layer)
    _print_any(run.result, f"siting plan: {model or 'by the rules'}")
    console.print(f"outputs in {out}/ ({len(files)} files)")
    _exit_on_failure(run.result)


@app.command("plan-tiers")
def plan_tiers_command(
    population: _Population,
    tiers: Annotated[
        Path,
        typer.Option(
            help="Tiers file (TOML; see the README): an array of tables named tiers, one per "
            "tier in planning order, with tier, sites and/or existing (paths relative to the "
            "file), model, new_sites, threshold_minutes, mode, band."
        ),
    ],
    out: _Out,
    roads: _Roads = None,
    units: Annotated[
        Path | None, typer.Option(help="Admin units (polygons) for the tables.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Default service threshold, minutes (default: the rules' R6, 10)."),
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="Default mode, walk or drive (default: the rules' R6).")
    ] = None,
    rules: _Rules = None,
    population_column: _PopulationColumn = "population",
    max_snap: _MaxSnap = 500.0,
    cutoff: _Cutoff = None,
    backend: _Backend = "highs",
    time_limit: Annotated[float, typer.Option(help="Solver time limit per tier (s).")] = 300.0,
    name: _Name = "plan",
    quiet: _Quiet = False,
) -> None:
    """Plan facility tiers in order (e.g. centres, stations, village clinics): every site an
    upper tier opens stays open for the tiers below, which fill the gaps it leaves."""
    from siting.inputs import load_scenario
    from siting.outputs import save_tiers
    from siting.tiers import load_tiers, plan_tiers

    say = _progress_printer(quiet)
    with _user_errors():
        preset, threshold, mode = _rules_and_circle(rules, threshold, mode)
        say("reading inputs")
        specs = load_tiers(tiers)
        scenario = load_scenario(
            population=population,
            roads=roads,
            units=units,
            mode=mode,
            population_column=population_column,
            sites_frame=specs[0].sites,  # each tier plans on its own sites
            model=specs[0].model,
            new_sites=specs[0].new_sites,
            threshold_minutes=threshold,
            max_snap_distance=max_snap,
            cutoff_minutes=cutoff,
            backend=backend,
            time_limit=time_limit,
            name=name,
            rules=preset,
        )
        tiered = plan_tiers(scenario, specs, rules=preset, progress=say)
        files = save_tiers(tiered, out, name=name)
    for tier, result in zip(tiered.tiers, tiered.results, strict=True):
        _print_result(result, f"tier {tier}: {result.scenario.model}")
    console.print(f"outputs in {out}/ ({len(files)} files)")


def _warn_threshold(threshold: float, costs: Any) -> None:
    """A coverage threshold below every cost (nothing coverable) or at least every cost
    (any site covers everyone it reaches) is likely in the wrong unit: warn."""
    low, high = float(costs.min()), float(costs.max())
    if threshold < low or threshold >= high:
        where = "below every cost" if threshold < low else "at least every cost"
        err_console.print(
            f"[yellow]warning:[/] --threshold {threshold:g} is {where} in --costs "
            f"({low:g}..{high:g}): check it is in the costs' unit",
            highlight=False,
        )


@app.command("solve-matrix")
def solve_matrix_command(
    costs: Annotated[Path, typer.Option(help="CSV with demand_id,site_id,cost.")],
    demand: Annotated[Path, typer.Option(help="CSV with demand_id,weight.")],
    model: Annotated[str, typer.Option(help="lscp, mclp, pmedian or pcenter.")],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the JSON result.")],
    p: Annotated[
        int | None, typer.Option("--p", help="Sites to open (mclp, pmedian, pcenter).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Coverage threshold (cost units).")
    ] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit (s).")] = None,
    backend: Annotated[str, typer.Option(help="highs, cbc, pulp-highs or heuristic.")] = "highs",
    max_load: Annotated[
        float | None,
        typer.Option(help="pmedian: at most this much demand weight per open site."),
    ] = None,
    min_load: Annotated[
        float | None,
        typer.Option(help="pmedian: at least this much demand weight per open site."),
    ] = None,
    sites: Annotated[
        Path | None,
        typer.Option(
            help="CSV with site_id,min_load,max_load,fixed: per-site load bounds (override "
            "--min-load/--max-load where given) and fixed existing sites (count towards --p)."
        ),
    ] = None,
    soft: Annotated[
        bool,
        typer.Option(help="Allow load-bound violations at a penalty; the JSON lists them."),
    ] = False,
) -> None:
    """Solve a model over an OD matrix you already have (OSRM, ArcGIS, r5py) and write JSON.

    Exit code 0 with a plan (optimal, or feasible within the time limit), 1 when there is none
    (infeasible, or no solution in time; the JSON says why), 2 for bad input.
    """
    from siting.matrix import load_cost_table, load_demand_table, load_site_table, solve_matrix

    with _user_errors():
        cost_table = load_cost_table(costs)
        if threshold is not None:
            _warn_threshold(threshold, cost_table["cost"])
        result = solve_matrix(
            cost_table,
            load_demand_table(demand),
            model=model,
            p=p,
            threshold=threshold,
            time_limit=time_limit,
            backend=backend,
            max_load=max_load,
            min_load=min_load,
            sites=None if sites is None else load_site_table(sites),
            soft=soft,
        )
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    line = f"{result['status']}: objective {result['objective']}, {len(result['sites'])} sites"
    if "coverage" in result:
        line += f", coverage {result['coverage']['share']:.1%}"
    console.print(line, highlight=False)
    if result.get("reason"):
        console.print(f"[yellow]note:[/] {result['reason']}", highlight=False)
    if result["status"] in ("infeasible", "no_solution"):
        err_console.print(
            f"[bold red]no plan ({result['status']}):[/] the JSON in {json_out} says why",
            highlight=False,
        )
        raise typer.Exit(code=1)


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="The HTML report to write.")] = Path("report.html"),
    png: Annotated[Path | None, typer.Option(help="Also write the map as a PNG.")] = None,
    population: Annotated[
        Path | None,
        typer.Option(help="Population raster or vector file; omit for the synthetic demo city."),
    ] = None,
    roads: Annotated[Path | None, typer.Option(help="Road network (as for `plan`).")] = None,
    sites: Annotated[Path | None, typer.Option(help="Candidate sites file.")] = None,
    existing: Annotated[Path | None, typer.Option(help="Existing facilities (kept open).")] = None,
    units: Annotated[Path | None, typer.Option(help="Admin units (polygons).")] = None,
    villages: _Villages = None,
    pois: _Pois = None,
    model: _Model = None,
    new_sites: Annotated[
        int | None, typer.Option(help="New sites to open (with --model, not lscp).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Service threshold, minutes (default: the rules' R6).")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="walk or drive (default: R6 urban).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rules preset TOML.")] = None,
    unit_kind_column: _KindColumn = None,
    unit_kind: _UnitKind = None,
    station_budget: _StationBudget = None,
    county_steps: _CountySteps = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city (no --population).")] = 0,
    title: Annotated[str | None, typer.Option(help="Report title.")] = None,
    time_limit: Annotated[float, typer.Option(help="Solver time limit (s).")] = 300.0,
    quiet: Annotated[bool, typer.Option(help="No progress messages.")] = False,
) -> None:
    """Plan (the synthetic demo city, or files as for `plan`; by the rules unless --model) and
    write a self-contained HTML report: map, coverage score, sites by tier, compliance per
    admin unit with reasons, staffing (R11), new sites."""
    from siting.report import save_report
    from siting.workflow import run_plan

    say = _progress_printer(quiet)
    with _user_errors():
        preset, threshold, mode = _rules_and_circle(rules, threshold, mode)
        _rules_only(
            model,
            villages=villages,
            pois=pois,
            station_budget=station_budget,
            county_steps=county_steps,
        )
        if model is not None:
            new_sites = None if model == "lscp" else (6 if new_sites is None else new_sites)
        params = _plan_parameters(
            model,
            new_sites,
            unit_kind_column=unit_kind_column,
            unit_kind=unit_kind,
            station_budget=station_budget,
            county_steps=county_steps,
        ) | {"threshold_minutes": threshold, "time_limit": time_limit, "rules": preset}
        if population is None:
            from siting.demo import demo_city, demo_scenario

            say(f"generating the synthetic city (seed {seed})")
            scenario = demo_scenario(demo_city(seed=seed), mode=mode).replace(**params)
        else:
            from siting.inputs import load_scenario

            say("reading inputs")
            scenario = load_scenario(
                population=population,
                roads=roads,
                sites=sites,
                existing=existing,
                units=units,
                villages=villages,
                pois=pois,
                mode=mode,
                **params,
            )
        run = run_plan(scenario, baseline=True, progress=say)
        files = save_report(run.result, out, png=png, baseline=run.baseline, title=title)
    _print_any(run.result, f"siting report: {model or 'by the rules'}")
    console.print("report: " + ", ".join(str(p) for p in files.values()), highlight=False)
    _exit_on_failure(run.result)


@app.command()
def prepare(
    case: Annotated[str, typer.Argument(help="beijing, urad-middle or sao-paulo.")],
    out: Annotated[Path, typer.Option(help="Folder for the input files (and the plan).")],
    seed: Annotated[int, typer.Option(help="Seed of the derived parts (urad-middle).")] = 0,
    run: Annotated[
        bool, typer.Option("--plan", help="Also plan the case by the rules into OUT/plan.")
    ] = False,
    quiet: _Quiet = False,
) -> None:
    """Write a real-data case's input files from the shared data folder ($SITING_DATA_DIR),
    with README.md saying what is real and what is derived, and the `siting plan` command
    that plans it (run with --plan)."""
    from siting.cases import load_case, plan_command, save_case

    say = _progress_printer(quiet)
    with _user_errors():
        say(f"building the {case} case")
        built = load_case(case, seed=seed)
        files = save_case(built, out)
    options = json.loads(files["case.json"].read_text(encoding="utf-8"))["options"]
    console.print(f"{built.title}: inputs in {out}/ ({len(files)} files)", highlight=False)
    for line in built.provenance:
        console.print(f"  - {line}", highlight=False)
    console.print("plan it with:\n  " + plan_command(options, str(out / "plan")), highlight=False)
    if not run:
        return
    plan(
        population=Path(options["population"]),
        out=out / "plan",
        roads=Path(options["roads"]) if "roads" in options else None,
        sites=Path(options["sites"]) if "sites" in options else None,
        existing=Path(options["existing"]) if "existing" in options else None,
        units=Path(options["units"]) if "units" in options else None,
        model=None,
        new_sites=None,
        threshold=None,
        mode=options.get("mode"),
        rules=None,
        villages=Path(options["villages"]) if "villages" in options else None,
        pois=None,
        unit_kind_column=None,
        unit_kind=options.get("unit_kind"),
        station_budget=None,
        county_steps=options.get("county_steps"),
        population_column="population",
        polygon_spacing=250.0,
        candidate_spacing=500.0,
        detour_factor=1.3,
        max_snap=500.0,
        cutoff=None,
        backend="highs",
        time_limit=300.0,
        report=out / "plan" / "report.html",
        name=built.name,
        quiet=quiet,
    )
    # the plan's summary says what is real and what is derived, as the inputs' README does
    summary_path = out / "plan" / f"{built.name}_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["provenance"] = list(built.provenance)
    summary_path.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    storage_dir: Annotated[
        Path | None,
        typer.Option(help="Service storage folder (default: $SITING_STORAGE_DIR)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP service (needs the api extra of the package)."""
    import os

    try:
        import uvicorn
    except ImportError:
        console.print('[red]error:[/red] the service needs the api extra: pip install ".[api]"')
        raise typer.Exit(code=2) from None
    if storage_dir is not None:
        os.environ["SITING_STORAGE_DIR"] = str(storage_dir)
    # one process: the job recovery at start-up assumes it owns the storage folder
    uvicorn.run("api.main:app", host=host, port=port, log_level=log_level, workers=1)


@app.command("plan-region")
def plan_region_command(
    units: Annotated[Path, typer.Option(help="Planning-unit polygons (counties), e.g. GeoJSON.")],
    out: _Out,
    id_column: Annotated[str | None, typer.Option(help="Unit id column (e.g. adcode).")] = None,
    coords: Annotated[str, typer.Option(help="wgs84, or gcj02 for Amap boundaries.")] = "wgs84",
    only: Annotated[
        list[str] | None, typer.Option(help="Keep units whose id starts with this (repeatable).")
    ] = None,
    synthetic: Annotated[
        bool, typer.Option(help="Synthetic population, roads and sites in the unit polygons.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic province.")] = 0,
    synthetic_population: Annotated[
        int, typer.Option(help="Residents of the synthetic province.")
    ] = 24_000_000,
    cell_km: Annotated[float, typer.Option(help="Synthetic population cell size (km).")] = 2.0,
    population: Annotated[Path | None, typer.Option(help="Population raster/vector.")] = None,
    population_column: _PopulationColumn = "population",
    x_column: _XColumn = "x",
    y_column: _YColumn = "y",
    crs: _Crs = None,
    roads: Annotated[Path | None, typer.Option(help="Road network; omit: straight line.")] = None,
    sites: Annotated[Path | None, typer.Option(help="Candidate sites file.")] = None,
    existing: Annotated[Path | None, typer.Option(help="Existing facilities (kept open).")] = None,
    model: Annotated[str, typer.Option(help="lscp, mclp, pmedian or pcenter.")] = "mclp",
    new_sites: Annotated[int, typer.Option(help="New sites per unit (not for lscp).")] = 2,
    threshold: Annotated[float | None, typer.Option(help="Service circle, min (R6).")] = None,
    mode: Annotated[str | None, typer.Option(help="walk or drive (default R6 rural).")] = None,
    buffer_km: Annotated[
        float | None, typer.Option(help="Cross-border buffer (km; default: reach in the circle).")
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="Rules preset TOML.")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Existing Dask scheduler tcp://HOST:PORT.")
    ] = None,
    workers: Annotated[int, typer.Option(help="LocalCluster worker processes.")] = 2,
    serial: Annotated[bool, typer.Option(help="Run in this process, without Dask.")] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Per-unit result cache (default OUT/.unit-cache).")
    ] = None,
    time_limit: Annotated[float, typer.Option(help="Solver time limit per unit (s).")] = 60.0,
    name: Annotated[str, typer.Option(help="File stem of the outputs.")] = "region",
    quiet: Annotated[bool, typer.Option(help="No progress messages.")] = False,
) -> None:
    """Plan every unit of a region (counties) in parallel on Dask → one GeoPackage + report."""
    from siting.region import RegionSettings, load_region_inputs, plan_region
    from siting.rules import load_rules

    say = _progress_printer(quiet)
    if not serial:  # importing distributed sets its loggers to INFO: quiet them (progress is ours)
        import contextlib

        with contextlib.suppress(ImportError):  # without it, plan_region raises DependencyError
            import distributed  # noqa: F401
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with _user_errors():
        preset = load_rules(rules) if rules is not None else None
        settings = RegionSettings(
            model=model,
            new_sites=new_sites,
            threshold_minutes=threshold,
            mode=mode,
            buffer_km=buffer_km,
            time_limit=time_limit,
            rules=preset,
        ).resolved()
        say("reading inputs")
        region = load_region_inputs(
            units,
            id_column=id_column,
            coords=coords,
            only=tuple(only or ()),
            population=population,
            roads=roads,
            sites=sites,
            existing=existing,
            mode=settings.mode or "drive",
            synthetic_seed=seed if synthetic else None,
            synthetic_population=synthetic_population,
            population_column=population_column,
            x_column=x_column,
            y_column=y_column,
            crs=crs,
            cell_km=cell_km,
        )
        result = plan_region(
            *region,
            settings=settings,
            scheduler=scheduler,
            n_workers=workers,
            serial=serial,
            cache_dir=cache_dir if cache_dir is not None else out / ".unit-cache",
            progress=say,
        )
        files = result.save(out, name=name)
    s = result.summary()
    cov = "n/a" if s["coverage_share"] is None else f"{s['coverage_share']:.1%}"
    empty = (
        f", {s['units_no_demand']} with no demand (no resident in them)"
        if s["units_no_demand"]
        else ""
    )
    console.print(
        f"{s['units_ok']}/{s['units']} units planned ({s['units_cached']} cached){empty}, "
        f"coverage {cov}, {s['new_sites']} new sites; outputs in {out}/ ({len(files)} files)",
        highlight=False,
    )
    for unit_id, error in result.failed.items():
        err_console.print(f"[bold red]unit {unit_id} failed:[/] {error}", highlight=False)
    if result.failed:
        raise typer.Exit(code=1)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
