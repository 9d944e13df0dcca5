"""``serve``: the HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siting.cli._app import app, console


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
