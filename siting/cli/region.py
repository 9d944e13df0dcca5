"""``plan-region``: every unit of a region (counties) planned in parallel on Dask."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from siting.cli._app import app, console, err_console, progress_printer, user_errors
from siting.cli._options import (
    Crs,
    Out,
    PopulationColumn,
    Projected,
    XColumn,
    YColumn,
)


@app.command("plan-region")
def plan_region_command(
    units: Annotated[Path, typer.Option(help="Planning-unit polygons (counties), e.g. GeoJSON.")],
    out: Out,
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
    population_column: PopulationColumn = "population",
    x_column: XColumn = "x",
    y_column: YColumn = "y",
    crs: Crs = None,
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
    projected: Projected = False,
    quiet: Annotated[bool, typer.Option(help="No progress messages.")] = False,
) -> None:
    """Plan every unit of a region (counties) in parallel on Dask → one GeoPackage + report."""
    from siting.region import RegionSettings, load_region_inputs, plan_region
    from siting.rules import load_rules

    say = progress_printer(quiet)
    if not serial:  # importing distributed sets its loggers to INFO: quiet them (progress is ours)
        import contextlib

        with contextlib.suppress(ImportError):  # without it, plan_region raises DependencyError
            import distributed  # noqa: F401
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with user_errors():
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
        files = result.save(out, name=name, projected=projected)
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
