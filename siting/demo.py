"""The offline demo: a deterministic synthetic city planned end to end (no network, no files),
by the rules by default, or by one model."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geodata.candidates import combine_sites
from geodata.population import demand_from_array
from geodata.synthetic import SyntheticCity, synthetic_city
from siting.result import PlanResult
from siting.scenario import Scenario
from siting.workflow import run_plan, save_run

__all__ = ["DEMO_RESIDENTS_PER_CANDIDATE", "DemoOutcome", "demo_city", "demo_scenario", "run_demo"]

logger = logging.getLogger(__name__)

#: the demo city has one candidate site per this many residents (the generator's default is
#: 5,000): enough for the circle step (R6) to reach all but about 1 % of the residents
DEMO_RESIDENTS_PER_CANDIDATE = 2_000


@dataclass(frozen=True, eq=False)
class DemoOutcome:
    """The demo's baseline (existing clinics only) and plan, and the files written."""

    city: SyntheticCity
    baseline: PlanResult | None
    result: PlanResult
    files: dict[str, Path]
    seconds: float


def demo_city(*, seed: int = 0, population: int = 300_000) -> SyntheticCity:
    """The demo's synthetic city: the generator's, with one candidate site per
    :data:`DEMO_RESIDENTS_PER_CANDIDATE` residents."""
    return synthetic_city(
        seed=seed,
        population=population,
        n_candidates=max(8, round(population / DEMO_RESIDENTS_PER_CANDIDATE)),
    )


def demo_scenario(
    city: SyntheticCity,
    *,
    new_sites: int | None = 6,
    threshold_minutes: float = 10.0,
    mode: str = "walk",
    model: str = "mclp",
) -> Scenario:
    """The demo's scenario over a synthetic city (``model="rules"`` plans by the rules)."""
    demand = demand_from_array(city.population, city.transform, city.crs)
    sites = combine_sites(city.existing, city.candidates)
    return Scenario(
        demand=demand,
        sites=sites,
        roads=city.roads,
        units=city.subdistricts,
        model=model,
        new_sites=None if model in ("rules", "lscp") else new_sites,
        threshold_minutes=threshold_minutes,
        mode=mode,
        name="demo",
        time_limit=60.0,
    )


def run_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    population: int = 300_000,
    model: str = "rules",
    new_sites: int = 6,
    threshold_minutes: float = 10.0,
    mode: str = "walk",
    report: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    projected: bool = False,
) -> DemoOutcome:
    """Generate the city, plan it (by the rules, or ``model`` with ``new_sites`` new clinics)
    with the existing clinics alone as the baseline, and write every output (``projected``:
    the GeoPackage in the local UTM zone)."""
    start = time.perf_counter()
    if progress:
        progress(f"generating the synthetic city (seed {seed}, {population:,} residents)")
    city = demo_city(seed=seed, population=population)
    scenario = demo_scenario(
        city, new_sites=new_sites, threshold_minutes=threshold_minutes, mode=mode, model=model
    )
    run = run_plan(scenario, baseline=True, progress=progress)
    files = save_run(run, out_dir, name="demo", report=report, projected=projected)
    return DemoOutcome(city, run.baseline, run.result, files, time.perf_counter() - start)
