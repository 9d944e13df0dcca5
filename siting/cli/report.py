"""``report``: plan and write the self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siting.cli._app import app, console, progress_printer, user_errors
from siting.cli._console import exit_on_failure, print_any
from siting.cli._options import (
    CountySteps,
    Existing,
    KindColumn,
    Mode,
    Model,
    NewSites,
    Pois,
    Rules,
    Sites,
    StationBudget,
    Threshold,
    UnitKind,
    Units,
    Villages,
    plan_parameters,
    rules_and_circle,
    rules_only,
)


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="The HTML report to write.")] = Path("report.html"),
    png: Annotated[Path | None, typer.Option(help="Also write the map as a PNG.")] = None,
    population: Annotated[
        Path | None,
        typer.Option(help="Population raster or vector file; omit for the synthetic demo city."),
    ] = None,
    roads: Annotated[Path | None, typer.Option(help="Road network (as for `plan`).")] = None,
    sites: Sites = None,
    existing: Existing = None,
    units: Units = None,
    villages: Villages = None,
    pois: Pois = None,
    model: Model = None,
    new_sites: NewSites = None,
    threshold: Threshold = None,
    mode: Mode = None,
    rules: Rules = None,
    unit_kind_column: KindColumn = None,
    unit_kind: UnitKind = None,
    station_budget: StationBudget = None,
    county_steps: CountySteps = None,
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

    say = progress_printer(quiet)
    with user_errors():
        preset, threshold, mode = rules_and_circle(rules, threshold, mode)
        rules_only(
            model,
            villages=villages,
            pois=pois,
            station_budget=station_budget,
            county_steps=county_steps,
        )
        if model is not None:
            new_sites = None if model == "lscp" else (6 if new_sites is None else new_sites)
        params = plan_parameters(
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
    print_any(run.result, f"siting report: {model or 'by the rules'}")
    console.print("report: " + ", ".join(str(p) for p in files.values()), highlight=False)
    exit_on_failure(run.result)
