"""``python -m siting`` runs the command line."""

from siting.cli import main

main()
