"""The outside world: population, road networks, boundaries, candidate sites, travel times.

No optimisation here.
"""

__all__: list[str] = []
