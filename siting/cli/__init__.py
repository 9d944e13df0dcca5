"""The ``siting`` command line: ``demo``, ``plan``, ``plan-tiers``, ``solve-matrix``, ``report``,
``prepare``, ``plan-region`` and ``serve``.

Every command has ``--help``. Errors the user can fix (a missing file, a bad parameter) are
printed as one line naming the input and the expected value, with exit code 2. One module per
command group; each imports the heavy stack only inside its command, so ``siting --help`` stays
fast.
"""

from __future__ import annotations

import logging

# isort: off
# imported in the order ``siting --help`` lists the commands
from siting.cli import demo
from siting.cli import planning
from siting.cli import matrix
from siting.cli import report
from siting.cli import region
from siting.cli import service

# isort: on
from siting.cli._app import app

__all__ = ["app", "main"]

# the command modules register their commands on ``app`` when imported
_COMMANDS = (demo, planning, matrix, report, region, service)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
