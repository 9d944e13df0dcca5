"""``demo``: the offline synthetic city planned end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siting.cli._app import app, console, progress_printer, user_errors
from siting.cli._console import exit_on_failure, print_any
from siting.cli._options import (
    Model,
    Projected,
)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the outputs.")] = Path("demo-output"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 0,
    population: Annotated[int, typer.Option(help="Residents of the synthetic city.")] = 300_000,
    model: Model = None,
    new_sites: Annotated[int, typer.Option(help="New clinics to site (with --model only).")] = 6,
    threshold: Annotated[float, typer.Option(help="Service circle in minutes (rule R6).")] = 10.0,
    mode: Annotated[str, typer.Option(help="walk or drive.")] = "walk",
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
    projected: Projected = False,
    quiet: Annotated[bool, typer.Option(help="No progress messages.")] = False,
) -> None:
    """Plan a deterministic synthetic city end to end, offline, by the rules (or one model with
    --model), print every sub-district's compliance and write GeoJSON + GeoPackage + CSV."""
    from siting.demo import run_demo

    with user_errors():
        outcome = run_demo(
            out,
            seed=seed,
            population=population,
            model=model or "rules",
            new_sites=new_sites,
            threshold_minutes=threshold,
            mode=mode,
            report=report,
            progress=progress_printer(quiet),
            projected=projected,
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
    print_any(outcome.result, title)
    console.print(f"outputs in {out}/ ({len(outcome.files)} files), {outcome.seconds:.1f} s in all")
    exit_on_failure(outcome.result)
