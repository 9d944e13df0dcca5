"""The planning commands: ``plan``, ``plan-tiers`` and ``prepare`` (a real-data case)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from siting.cli._app import app, console, progress_printer, user_errors
from siting.cli._console import exit_on_failure, print_any, print_result
from siting.cli._options import (
    MAX_GENERATED_CANDIDATES,
    Backend,
    Coords,
    CountySteps,
    Crs,
    Cutoff,
    DemandLayer,
    DetourFactor,
    Existing,
    IdColumn,
    KindColumn,
    MaxSnap,
    Mode,
    Model,
    Name,
    NameColumn,
    NewSites,
    Out,
    Pois,
    PolygonSpacing,
    Population,
    PopulationColumn,
    Projected,
    Quiet,
    RoadClass,
    RoadOneway,
    Roads,
    RoadSpeed,
    RoadSpeedUnit,
    RoadTolerance,
    Rules,
    Sites,
    StationBudget,
    Threshold,
    UnitKind,
    Units,
    Villages,
    XColumn,
    YColumn,
    plan_parameters,
    road_fields,
    rules_and_circle,
    rules_only,
)


@app.command()
def plan(
    population: Population,
    out: Out,
    roads: Roads = None,
    sites: Sites = None,
    existing: Existing = None,
    units: Units = None,
    model: Model = None,
    new_sites: NewSites = None,
    threshold: Threshold = None,
    mode: Mode = None,
    rules: Rules = None,
    villages: Villages = None,
    pois: Pois = None,
    unit_kind_column: KindColumn = None,
    unit_kind: UnitKind = None,
    station_budget: StationBudget = None,
    county_steps: CountySteps = None,
    population_column: PopulationColumn = "population",
    x_column: XColumn = "x",
    y_column: YColumn = "y",
    crs: Crs = None,
    id_column: IdColumn = None,
    name_column: NameColumn = None,
    coords: Coords = "wgs84",
    road_class_column: RoadClass = None,
    road_speed_column: RoadSpeed = None,
    road_speed_unit: RoadSpeedUnit = "km/h",
    road_oneway_column: RoadOneway = None,
    road_tolerance: RoadTolerance = 1.0,
    polygon_spacing: PolygonSpacing = 250.0,
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
    demand_layer: DemandLayer = "auto",
    projected: Projected = False,
    detour_factor: DetourFactor = 1.3,
    max_snap: MaxSnap = 500.0,
    cutoff: Cutoff = None,
    backend: Backend = "highs",
    time_limit: Annotated[float, typer.Option(help="Solver time limit (s).")] = 300.0,
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
    name: Name = "plan",
    quiet: Quiet = False,
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

    say = progress_printer(quiet)
    with user_errors():
        preset, threshold, mode = rules_and_circle(rules, threshold, mode)
        say(f"service circle {threshold:g} min by {mode} ({preset.R6.cite()})")
        rules_only(
            model,
            villages=villages,
            pois=pois,
            station_budget=station_budget,
            county_steps=county_steps,
        )
        say("reading inputs")
        params = plan_parameters(
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
            road_fields=road_fields(
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
        files = save_run(
            run, out, name=name, report=report, demand=demand_layer, projected=projected
        )
    print_any(run.result, f"siting plan: {model or 'by the rules'}")
    console.print(f"outputs in {out}/ ({len(files)} files)")
    exit_on_failure(run.result)


@app.command("plan-tiers")
def plan_tiers_command(
    population: Population,
    tiers: Annotated[
        Path,
        typer.Option(
            help="Tiers file (TOML; see the README): an array of tables named tiers, one per "
            "tier in planning order, with tier, sites and/or existing (paths relative to the "
            "file), model, new_sites, threshold_minutes, mode, band."
        ),
    ],
    out: Out,
    roads: Roads = None,
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
    rules: Rules = None,
    population_column: PopulationColumn = "population",
    max_snap: MaxSnap = 500.0,
    cutoff: Cutoff = None,
    backend: Backend = "highs",
    time_limit: Annotated[float, typer.Option(help="Solver time limit per tier (s).")] = 300.0,
    name: Name = "plan",
    projected: Projected = False,
    quiet: Quiet = False,
) -> None:
    """Plan facility tiers in order, centres then stations then village clinics: every site an
    upper tier opens stays open for the tiers below, which fill the gaps it leaves."""
    from siting.inputs import load_scenario
    from siting.outputs import save_tiers
    from siting.tiers import load_tiers, plan_tiers

    say = progress_printer(quiet)
    with user_errors():
        preset, threshold, mode = rules_and_circle(rules, threshold, mode)
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
        files = save_tiers(tiered, out, name=name, projected=projected)
    for tier, result in zip(tiered.tiers, tiered.results, strict=True):
        print_result(result, f"tier {tier}: {result.scenario.model}")
    console.print(f"outputs in {out}/ ({len(files)} files)")


@app.command()
def prepare(
    case: Annotated[str, typer.Argument(help="beijing, urad-middle or sao-paulo.")],
    out: Annotated[Path, typer.Option(help="Folder for the input files (and the plan).")],
    seed: Annotated[int, typer.Option(help="Seed of the derived parts (urad-middle).")] = 0,
    run: Annotated[
        bool, typer.Option("--plan", help="Also plan the case by the rules into OUT/plan.")
    ] = False,
    projected: Projected = False,
    quiet: Quiet = False,
) -> None:
    """Write a real-data case's input files from the shared data folder ($SITING_DATA_DIR),
    with README.md saying what is real and what is derived, and the `siting plan` command
    that plans it (run with --plan)."""
    from siting.cases import load_case, plan_command, save_case

    say = progress_printer(quiet)
    with user_errors():
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
        projected=projected,
        quiet=quiet,
    )
    # the plan's summary says what is real and what is derived, as the inputs' README does
    summary_path = out / "plan" / f"{built.name}_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["provenance"] = list(built.provenance)
    summary_path.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
