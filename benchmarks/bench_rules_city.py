"""Benchmark: the plan by the rules on the 1,000,000-resident synthetic city, end to end.

The city (seed 0, 1,000,000 residents on a 100 m grid, shape nodes every 20 m: 100,000+ road
nodes, 33 sub-districts, 25 existing centres, 200 candidate sites) is generated and written as
the files a planner would have, as in ``bench_city.py``; that is set-up, timed apart. Then, in a
fresh process per run, through the planning layer the CLI uses (:mod:`siting.workflow`):

1. **load** — the population raster, the sites, the sub-districts and the road network
   (:func:`geodata.network.load_or_build_network`, the content-hashed cache);
2. **travel times** — once for the whole plan (walking, 10-minute circle, 30-minute cutoff);
3. **rules plan** — R1 centres per sub-district within the band (capacitated p-median per
   unit), R6 circle (LSCP), touring list, R11 staffing, the compliance table — split by step;
4. **exports** — :func:`siting.workflow.save_run`: GeoJSON layers with service areas, the
   styled GeoPackage, the compliance CSV, the summary.

Run 1 starts with an empty network cache (cold: GraphML parsed, network built), run 2 reuses it
(warm). Target: at most 60 s end to end on the 2-core machine.

Usage: python benchmarks/bench_rules_city.py [--out benchmarks/results/rules_city.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_city import POPULATION, _Peak

THRESHOLD_MIN = 10.0
TARGET_SECONDS = 60.0


def _child(folder: Path, cache: Path, out_dir: Path) -> dict[str, Any]:
    import geopandas as gpd

    from geodata.candidates import load_sites
    from geodata.network import load_or_build_network
    from geodata.population import load_population_raster
    from siting.workflow import build_scenario, run_plan, save_run

    peak = _Peak()
    stages: dict[str, dict[str, float]] = {}
    clock = [time.perf_counter()]

    def lap(name: str, at: float | None = None) -> None:
        now = time.perf_counter() if at is None else at
        stages[name] = {"seconds": round(now - clock[0], 3), "peak_rss_mb": round(peak.take(), 1)}
        clock[0] = now

    start = clock[0]
    demand = load_population_raster(folder / "population.tif")
    existing = load_sites(folder / "existing.geojson", existing=True)
    candidates = load_sites(folder / "candidates.geojson")
    units = gpd.read_file(folder / "subdistricts.geojson")
    net = load_or_build_network(folder / "roads.graphml", "walk", cache)
    scenario = build_scenario(
        demand,
        sites=candidates,
        existing=existing,
        roads=net,
        units=units,
        model="rules",
        threshold_minutes=THRESHOLD_MIN,
        mode="walk",
        name="rules_city",
        time_limit=60.0,
    )
    lap("load")
    marks: dict[str, float] = {}

    def progress(message: str) -> None:
        if message.startswith("R1:"):
            marks.setdefault("plan", time.perf_counter())

    run = run_plan(scenario, progress=progress)
    lap("travel_times", marks.get("plan"))
    lap("rules_plan")
    files = save_run(run, out_dir, name="rules_city")
    lap("exports")
    total = time.perf_counter() - start
    peak.stop()
    result = run.result
    comp = result.compliance
    assert comp is not None and result.steps is not None
    return {
        "seconds_total": round(total, 3),
        "stages": stages,
        "steps": {
            str(r["rule"]): {"seconds": r["seconds"], "new_sites": r["new_sites"]}
            for r in result.steps.to_dict("records")
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "demand_cells": len(demand),
        "sites": len(scenario.sites),
        "existing": int(scenario.existing_mask.sum()),
        "units": len(units),
        "nodes": net.n_nodes,
        "pairs": int(result.travel.costs.nnz),
        "status": result.status,
        "coverage": None if result.coverage is None else round(result.coverage.share, 5),
        "new_centres": int(
            ((result.chosen_sites["status"] == "new") & (result.chosen_sites["rule"] == "R1")).sum()
        ),
        "new_stations": int(
            ((result.chosen_sites["status"] == "new") & (result.chosen_sites["rule"] == "R6")).sum()
        ),
        "shortfall": int(comp["shortfall"].sum()),
        "touring_population": round(float(comp["touring_population"].sum()), 1),
        "population_beyond": round(float(comp["population_beyond"].sum()), 1),
        "units_by_status": {
            "ok": int((comp["status"] == "ok").sum()),
            "flagged": int((comp["status"] == "flagged").sum()),
            "violation": int((~comp["status"].isin(["ok", "flagged"])).sum()),
        },
        "files": len(files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "rules_city.json"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        folder, cache, out_dir = (Path(a) for a in args.child)
        print(json.dumps(_child(folder, cache, out_dir)))
        return
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_rules_city_") as tmp:
        root = Path(tmp)
        # in its own process (bench_city's set-up): a child's ru_maxrss starts from its
        # parent's at fork
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("bench_city.py")), "--setup",
             str(root / "city")],
            capture_output=True,
            text=True,
            check=True,
        )  # fmt: skip
        setup = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"set-up: generated in {setup['generate']:.1f} s, "
            f"files written in {setup['write_files']:.1f} s"
        )
        runs = []
        for label in ("cold cache", "warm cache"):
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(root / "city"),
                    str(root / "cache"),
                    str(root / f"out-{len(runs)}"),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            run["run"] = label
            runs.append(run)
            stages = ", ".join(f"{k} {v['seconds']:.2f} s" for k, v in run["stages"].items())
            print(
                f"{label}: {run['seconds_total']:.2f} s ({stages}); peak "
                f"{run['peak_rss_mb']:.0f} MB; {run['new_centres']} centres + "
                f"{run['new_stations']} stations, coverage {run['coverage']:.3f}",
                flush=True,
            )
    result = {
        "benchmark": "rules_city",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "population": POPULATION,
        "threshold_min": THRESHOLD_MIN,
        "setup_seconds": setup,
        "runs": runs,
        "target_seconds": TARGET_SECONDS,
        "met": all(r["seconds_total"] <= TARGET_SECONDS for r in runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
