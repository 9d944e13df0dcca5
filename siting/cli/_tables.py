"""Private helpers of the command line's console tables: columns that never truncate ids,
numbers or headers (``89a8100c…``, ``populati…``), and shares printed as ``–`` where there is
no population (not ``nan%``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.table import Table

logger = logging.getLogger(__name__)

#: a wrapping column (names, reasons) is never narrower than this many cells
WRAP_MIN = 12


def share(value: Any, fmt: str = "{:.1%}") -> str:
    """A share as a percentage, or ``–`` where it is missing or not a number (a unit with no
    residents has no coverage share)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(number) else fmt.format(number)


def number(value: Any, fmt: str = "{:,.0f}") -> str:
    """A number formatted, or ``–`` where it is missing."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(x) else fmt.format(x)


def fitted_table(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[str]],
    *,
    wrap: Sequence[str] = (),
    **table_options: Any,
) -> Table:
    """A rich table whose columns keep their full width: ``columns`` are (header, justify);
    every column not named in ``wrap`` is at least as wide as its header and its longest cell
    (no ellipsis, no wrapping: ids and numbers stay whole); the ``wrap`` columns (names,
    reasons) fold onto several lines instead of being cut."""
    data = [list(r) for r in rows]
    table = Table(**table_options)
    for k, (header, justify) in enumerate(columns):
        widest = max([cell_len(header), *(cell_len(str(r[k])) for r in data)])
        if header in wrap:
            table.add_column(
                header,
                justify=justify,  # type: ignore[arg-type]
                overflow="fold",
                min_width=min(widest, max(WRAP_MIN, cell_len(header))),
            )
        else:
            table.add_column(
                header,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                min_width=widest,
            )
    for r in data:
        table.add_row(*[str(v) for v in r])
    return table


def print_table(console: Any, table: Table) -> None:
    """Print ``table`` on ``console``; when its columns cannot all keep their width within
    the console's (a narrow terminal, or 80 columns when output goes to a file), it is
    printed wider rather than cut (the terminal wraps long lines; a file keeps them)."""
    columns = table.columns
    pad = 2 * table.padding[1] if len(table.padding) > 1 else 2
    need = sum((c.min_width or 1) + pad for c in columns) + len(columns) + 1
    if need <= console.width:
        console.print(table)
        return
    saved = console._width  # None: the width is detected; print caps width= at the console's
    console.width = need
    try:
        console.print(table, crop=False)
    finally:
        console._width = saved
