"""The typer application, its consoles, and the handling of user errors and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from siting._flags import cli_words
from siting_errors import SitingError

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


@contextmanager
def user_errors() -> Iterator[None]:
    """A :class:`SitingError` becomes one line on stderr and exit code 2."""
    try:
        yield
    except SitingError as exc:
        err_console.print(f"[bold red]error:[/] {cli_words(str(exc))}", highlight=False)
        raise typer.Exit(code=2) from None


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """Progress messages on stderr (none when ``quiet``)."""

    def say(message: str) -> None:
        if not quiet:
            err_console.print(f"[dim]… {message}[/]", highlight=False)

    return say
