"""``solve-matrix``: one model over an OD matrix the user already has, answered as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from siting.cli._app import app, console, err_console, user_errors


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

    with user_errors():
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
