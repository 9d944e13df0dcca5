"""The FastAPI service over ``siting`` (nothing imports this package)."""
