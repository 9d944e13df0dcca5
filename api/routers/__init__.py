"""The API's routers: health, synchronous solves, datasets and jobs."""

from api.routers import datasets, health, jobs, solve

__all__ = ["datasets", "health", "jobs", "solve"]
