"""The ``siting`` command line: ``demo``, ``plan``, ``plan-tiers``, ``solve-matrix``, ``report``,
``plan-region`` and ``serve``.

Every command has ``--help``. Errors the user can fix (a missing file, a bad parameter) are
printed as one line naming the input and the expected value, with exit code 2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

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
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

# options shared by the planning commands (``plan``, ``plan-tiers``)
_Population = Annotated[Path, typer.Option(help="Population raster (GeoTIFF) or vector file.")]
_Out = Annotated[Path, typer.Option(help="Folder for the outputs.")]
_Roads = Annotated[
    Path | None,
    typer.Option(help="Road network (.osm, .osm.pbf, .graphml); omit for straight-line travel."),
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


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except SitingError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=2) from None


def _progress_printer(quiet: bool) -> object:
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
    head.add_row("mean travel time", f"{result.mean_travel_minutes:.2f} min")
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
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the outputs.")] = Path("demo-output"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 0,
    population: Annotated[int, typer.Option(help="Residents of the synthetic city.")] = 300_000,
    new_sites: Annotated[int, typer.Option(help="New clinics to site.")] = 6,
    threshold: Annotated[float, typer.Option(help="Service circle in minutes (rule R6).")] = 10.0,
    mode: Annotated[str, typer.Option(help="walk or drive.")] = "walk",
    quiet: Annotated[bool, typer.Option(help="No progress messages.")] = False,
) -> None:
    """Plan a deterministic synthetic city end to end, offline, and write GeoJSON + GeoPackage."""
    from siting.demo import run_demo

    with _user_errors():
        outcome = run_demo(
            out,
            seed=seed,
            population=population,
            new_sites=new_sites,
            threshold_minutes=threshold,
            mode=mode,
            progress=_progress_printer(quiet),
        )
    base = outcome.baseline.coverage
    if base is not None:
        console.print(
            f"baseline (existing clinics only): {base.share:.1%} of residents within "
            f"{base.threshold_minutes:g} min"
        )
    _print_result(outcome.result, f"siting demo: MCLP, {new_sites} new clinics")
    console.print(f"outputs in {out}/ ({len(outcome.files)} files), {outcome.seconds:.1f} s in all")


@app.command()
def plan(
    population: _Population,
    out: _Out,
    roads: _Roads = None,
    sites: Annotated[Path | None, typer.Option(help="Candidate sites file.")] = None,
    existing: Annotated[Path | None, typer.Option(help="Existing facilities (kept open).")] = None,
    units: Annotated[
        Path | None, typer.Option(help="Admin units (polygons) for the table.")
    ] = None,
    model: Annotated[str, typer.Option(help="lscp, mclp, pmedian or pcenter.")] = "mclp",
    new_sites: Annotated[int | None, typer.Option(help="New sites to open (not for lscp).")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Service threshold, minutes (default: the rules' R6, 10).")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="walk or drive (default: the rules' R6 urban mode, walk).")
    ] = None,
    rules: _Rules = None,
    population_column: _PopulationColumn = "population",
    candidate_spacing: Annotated[
        float, typer.Option(help="Without --sites: candidates at road nodes this far apart (m).")
    ] = 500.0,
    max_snap: _MaxSnap = 500.0,
    cutoff: _Cutoff = None,
    backend: _Backend = "highs",
    time_limit: Annotated[float, typer.Option(help="Solver time limit (s).")] = 300.0,
    name: _Name = "plan",
    quiet: _Quiet = False,
) -> None:
    """Plan sites from files: population + roads + candidates/existing → GeoJSON + GeoPackage."""
    from siting.inputs import load_scenario
    from siting.outputs import save_result
    from siting.planning import plan as run_plan

    say = _progress_printer(quiet)
    with _user_errors():
        preset, threshold, mode = _rules_and_circle(rules, threshold, mode)
        say(f"service circle {threshold:g} min by {mode} ({preset.R6.cite()})")
        say("reading inputs")
        scenario = load_scenario(
            population=population,
            roads=roads,
            sites=sites,
            existing=existing,
            units=units,
            mode=mode,
            population_column=population_column,
            candidate_spacing=candidate_spacing,
            model=model,
            new_sites=new_sites,
            threshold_minutes=threshold,
            max_snap_distance=max_snap,
            cutoff_minutes=cutoff,
            backend=backend,
            time_limit=time_limit,
            name=name,
            rules=preset,
        )
        result = run_plan(scenario, progress=say)
        files = save_result(result, out, name=name)
    _print_result(result, f"siting plan: {model}")
    console.print(f"outputs in {out}/ ({len(files)} files)")


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
    """Solve a model over an OD matrix you already have (OSRM, ArcGIS, r5py) and write JSON."""
    from siting.matrix import load_cost_table, load_demand_table, load_site_table, solve_matrix

    with _user_errors():
        result = solve_matrix(
            load_cost_table(costs),
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
    model: Annotated[str, typer.Option(help="lscp, mclp, pmedian or pcenter.")] = "mclp",
    new_sites: Annotated[int | None, typer.Option(help="New sites to open (not for lscp).")] = 6,
    threshold: Annotated[
        float | None, typer.Option(help="Service threshold, minutes (default: the rules' R6).")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="walk or drive (default: R6 urban).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rules preset TOML.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city (no --population).")] = 0,
    title: Annotated[str | None, typer.Option(help="Report title.")] = None,
    time_limit: Annotated[float, typer.Option(help="Solver time limit (s).")] = 300.0,
    quiet: Annotated[bool, typer.Option(help="No progress messages.")] = False,
) -> None:
    """Plan (the synthetic demo city, or files as for `plan`) and write a self-contained HTML
    report: map, coverage score, compliance per admin unit, staffing (R11), new sites."""
    from siting.planning import plan as run_plan
    from siting.planning import travel_costs
    from siting.report import save_report

    say = _progress_printer(quiet)
    with _user_errors():
        preset, threshold, mode = _rules_and_circle(rules, threshold, mode)
        params = {
            "model": model,
            "new_sites": new_sites if model != "lscp" else None,
            "threshold_minutes": threshold,
            "time_limit": time_limit,
            "rules": preset,
        }
        if population is None:
            from geodata.synthetic import synthetic_city
            from siting.demo import demo_scenario

            say(f"generating the synthetic city (seed {seed})")
            scenario = demo_scenario(synthetic_city(seed=seed), mode=mode).replace(**params)
        else:
            from siting.inputs import load_scenario

            say("reading inputs")
            scenario = load_scenario(
                population=population,
                roads=roads,
                sites=sites,
                existing=existing,
                units=units,
                mode=mode,
                **params,
            )
        travel = travel_costs(scenario, progress=say)
        baseline = None
        if scenario.existing_mask.any() and model != "lscp":
            baseline = run_plan(scenario.replace(new_sites=0, name="baseline"), travel=travel)
        result = run_plan(scenario, travel=travel, progress=say)
        files = save_report(result, out, png=png, baseline=baseline, title=title)
    _print_result(result, f"siting report: {model}")
    console.print("report: " + ", ".join(str(p) for p in files.values()), highlight=False)


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
    console.print(
        f"{s['units_ok']}/{s['units']} units planned ({s['units_cached']} cached), "
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
