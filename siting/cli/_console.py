"""Printing results on the console: headline tables, sites, tiers and compliance verdicts."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from siting._flags import cli_words
from siting.cli._app import console, err_console
from siting.cli._tables import fitted_table, number, print_table, share


def mean_travel(result: Any) -> str:
    """The mean travel time with the residents it leaves out beside it."""
    pop = float(result.demand["population"].sum())
    lost = float(result.unreachable_population)
    mean = result.mean_travel_minutes
    text = "n/a" if mean != mean else f"{mean:.2f} min"  # NaN: nobody reachable
    return f"{text} over {pop - lost:,.0f} residents ({lost:,.0f} unreachable, not counted)"


def print_result(result: object, title: str) -> None:
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
            f"{share(c.share)} ({c.covered_population:,.0f} of {c.total_population:,.0f})",
        )
    head.add_row("mean travel time", mean_travel(result))
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
    print_table(
        console,
        fitted_table(
            [
                ("site", "left"),
                ("name", "left"),
                ("status", "left"),
                ("population", "right"),
                ("covered", "right"),
                ("mean min", "right"),
                ("max min", "right"),
            ],
            (
                [
                    str(row.site_id),
                    "" if row.name is None else str(row.name),
                    str(row.status),
                    number(row.assigned_population),
                    number(row.covered_population),
                    number(row.mean_travel_min, "{:.1f}"),
                    number(row.max_travel_min, "{:.1f}"),
                ]
                for row in result.table().itertuples(index=False)
            ),
            wrap=("name",),
            title="open sites",
            title_justify="left",
        ),
    )
    if result.units is not None:
        print_table(
            console,
            fitted_table(
                [
                    ("unit", "left"),
                    ("population", "right"),
                    ("covered", "right"),
                    ("share", "right"),
                    ("existing", "right"),
                    ("new", "right"),
                ],
                (
                    [
                        str(row.name),
                        number(row.population),
                        number(row.covered_population),
                        share(row.coverage_share),  # – for a unit without residents
                        str(row.existing_sites),
                        str(row.new_sites),
                    ]
                    for row in result.units.itertuples(index=False)
                ),
                wrap=("unit",),
                title="admin units",
                title_justify="left",
            ),
        )
    if result.compliance is not None:
        rows = []
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
            rows.append(
                [
                    str(row.name) + (" *" if row.flag else ""),
                    str(row.required_centres),
                    str(row.planned_centres),
                    str(off_band),
                    number(row.population_beyond),
                    number(row.touring_population),
                    " ".join(broken) or "ok",
                ]
            )
        print_table(
            console,
            fitted_table(
                [
                    ("unit", "left"),
                    ("required", "right"),
                    ("planned", "right"),
                    ("off band", "right"),
                    ("beyond", "right"),
                    ("touring", "right"),
                    ("breaks", "left"),
                ],
                rows,
                wrap=("unit",),
                title=f"compliance ({result.compliance['rules'].iloc[0]})"
                if len(result.compliance)
                else "compliance",
                title_justify="left",
            ),
        )
        if (result.compliance["flag"] != "").any():
            console.print("* under R1's minimum population: keeps its one centre (flagged)")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {cli_words(note)}", highlight=False)


#: at most this many rows of a long table are printed (the files have them all)
_MAX_ROWS = 40


def verdict_of(status: str) -> str:
    return status if status in ("ok", "flagged") else "VIOLATION"


def print_rules_result(result: object, title: str) -> None:
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
            f"{share(c.share)} ({c.covered_population:,.0f} of {c.total_population:,.0f})",
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
    chosen = result.chosen_sites
    print_table(
        console,
        fitted_table(
            [
                ("tier", "left"),
                ("existing", "right"),
                ("new", "right"),
                ("assigned residents", "right"),
            ],
            (
                [
                    str(tier),
                    str(int((group["status"] == "existing").sum())),
                    str(int((group["status"] == "new").sum())),
                    number(group["assigned_population"].sum()),
                ]
                for tier, group in chosen.groupby("tier", sort=False)
            ),
            title="sites by tier",
            title_justify="left",
        ),
    )
    if result.steps is not None and len(result.steps):
        print_table(
            console,
            fitted_table(
                [
                    ("rule", "left"),
                    ("tier", "left"),
                    ("new sites", "right"),
                    ("status", "left"),
                    ("seconds", "right"),
                ],
                (
                    [
                        str(row.rule),
                        str(row.tier),
                        str(row.new_sites),
                        str(row.status),
                        number(row.seconds, "{:.2f}"),
                    ]
                    for row in result.steps.itertuples(index=False)
                ),
                title="steps",
                title_justify="left",
            ),
        )
    print_compliance(result)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {cli_words(note)}", highlight=False)


def print_compliance(result: object) -> None:
    """Every unit OK, flagged with its reason, or in violation with its reason."""
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    comp = result.compliance
    if comp is None:
        return
    verdicts = comp["status"].map(verdict_of)
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


def exit_on_failure(result: object) -> None:
    """A plan that failed (a model infeasible, or no solution in time) exits with code 1."""
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    if result.status in ("infeasible", "no_solution"):
        err_console.print(
            f"[bold red]the plan failed ({result.status}):[/] "
            f"{cli_words(result.solution.reason or '')}",
            highlight=False,
        )
        raise typer.Exit(code=1)


def print_any(result: object, title: str) -> None:
    from siting.result import PlanResult

    assert isinstance(result, PlanResult)
    if result.scenario.model == "rules":
        print_rules_result(result, title)
    else:
        print_result(result, title)
