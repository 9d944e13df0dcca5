"""The offline demo: a deterministic synthetic city planned end to end (no network, no files)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geodata.candidates import combine_sites
from geodata.population import demand_from_array
from geodata.synthetic import SyntheticCity, synthetic_city
from siting.outputs import save_result
from siting.planning import plan, travel_costs
from siting.result import PlanResult
from siting.scenario import Scenario

__all__ = ["DemoOutcome", "demo_scenario", "run_demo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class DemoOutcome:
    """The demo's baseline (existing clinics only) and plan, and the files written."""

    city: SyntheticCity
    baseline: PlanResult
    result: PlanResult
    files: dict[str, Path]
    seconds: float


def demo_scenario(
    city: SyntheticCity,
    *,
    new_sites: int = 6,
    threshold_minutes: float = 10.0,
    mode: str = "walk",
    model: str = "mclp",
) -> Scenario:
    """The demo's scenario over a synthetic city."""
    demand = demand_from_array(city.population, city.transform, city.crs)
    sites = combine_sites(city.existing, city.candidates)
    return Scenario(
        demand=demand,
        sites=sites,
        roads=city.roads,
        units=city.subdistricts,
        model=model,
        new_sites=new_sites,
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
    new_sites: int = 6,
    threshold_minutes: float = 10.0,
    mode: str = "walk",
    progress: Callable[[str], None] | None = None,
) -> DemoOutcome:
    """Generate the city, solve MCLP for ``new_sites`` new clinics, write every output."""
    start = time.perf_counter()
    if progress:
        progress(f"generating the synthetic city (seed {seed}, {population:,} residents)")
    city = synthetic_city(seed=seed, population=population)
    scenario = demo_scenario(
        city, new_sites=new_sites, threshold_minutes=threshold_minutes, mode=mode
    )
    travel = travel_costs(scenario, progress=progress)
    baseline = plan(scenario.replace(new_sites=0, name="baseline"), travel=travel)
    result = plan(scenario, travel=travel, progress=progress)
    files = save_result(result, out_dir, name="demo")
    summary = json.loads(files["summary"].read_text(encoding="utf-8"))
    summary["baseline_coverage"] = baseline.coverage.as_dict() if baseline.coverage else None
    files["summary"].write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return DemoOutcome(city, baseline, result, files, time.perf_counter() - start)
