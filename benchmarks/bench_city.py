"""Benchmark: ``plan`` end to end on the 1,000,000-resident synthetic city, stage by stage.

The city (seed 0, 1,000,000 residents on a 100 m grid, shape nodes every 20 m: 100,000+ road
nodes) is generated and written as the files a planner would have (``population.tif``,
``roads.graphml``, ``existing.geojson``, ``candidates.geojson``, ``subdistricts.geojson``);
generating it is set-up, timed apart. Then, in a fresh process per run:

1. **load** — the population raster (demand cells), the sites, the sub-districts and the road
   network through :func:`geodata.network.load_or_build_network` (the content-hashed cache);
2. **snap** and 3. **travel times** — :func:`siting.travel_costs` (walking, 10-minute
   service circle, its default 30-minute search cutoff), split by its progress messages;
4. **choose p** — the fewest new sites whose greedy cover reaches 80 % of the residents
   (greedy is a lower bound on the MCLP optimum, so MCLP with that p covers at least 80 %);
5. **MCLP** — :func:`siting.plan` with that p (HiGHS);
6. **exports** — :func:`siting.outputs.save_result`: every layer as GeoJSON (with the
   service-area polygons of the open sites), one styled GeoPackage, the summary.

Run 1 starts with an empty network cache (cold: the GraphML is parsed and the network built),
run 2 reuses it (warm). Peak memory is the process's resident set (psutil sampled every 20 ms
per stage, and ``ru_maxrss`` for the whole run).

Usage: python benchmarks/bench_city.py [--out benchmarks/results/city.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

POPULATION = 1_000_000
NODE_SPACING_M = 20.0
THRESHOLD_MIN = 10.0
TARGET_COVERAGE = 0.80
TARGET_SECONDS = 60.0
TARGET_MB = 8 * 1024


class _Peak:
    """Samples the resident set size in a thread; ``take()`` returns the peak since the last."""

    def __init__(self, every: float = 0.02) -> None:
        import psutil

        self._proc = psutil.Process()
        self._every = every
        self._peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._peak = max(self._peak, self._proc.memory_info().rss)

    def take(self) -> float:
        rss = self._proc.memory_info().rss
        peak = max(self._peak, rss)
        self._peak = rss
        return peak / 2**20

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def greedy_p(costs: Any, pop: np.ndarray, existing: np.ndarray, threshold: float) -> int:
    """The fewest new sites whose greedy cover (existing sites open) reaches the target."""
    csr = costs.csr().tocsc()
    covers = csr.copy()
    covers.data = (covers.data <= threshold + 1e-9).astype(np.float64)
    covers.eliminate_zeros()
    covers = covers.tocsc()
    covered = np.zeros(len(pop), dtype=bool)
    for s in np.flatnonzero(existing):
        covered[covers.indices[covers.indptr[s] : covers.indptr[s + 1]]] = True
    total = float(pop.sum())
    candidates = set(np.flatnonzero(~existing).tolist())
    p = 0
    while float(pop[covered].sum()) < TARGET_COVERAGE * total and candidates:
        best, gain = -1, -1.0
        for s in candidates:
            rows = covers.indices[covers.indptr[s] : covers.indptr[s + 1]]
            g = float(pop[rows][~covered[rows]].sum())
            if g > gain:
                best, gain = s, g
        if gain <= 0:
            break
        covered[covers.indices[covers.indptr[best] : covers.indptr[best + 1]]] = True
        candidates.discard(best)
        p += 1
    return p


def _child(folder: Path, cache: Path, out_dir: Path) -> dict[str, Any]:
    import geopandas as gpd

    from geodata.candidates import combine_sites, load_sites
    from geodata.network import load_or_build_network
    from geodata.population import load_population_raster
    from siting.outputs import save_result
    from siting.planning import plan
    from siting.scenario import Scenario
    from siting.travel import travel_costs

    peak = _Peak()
    stages: dict[str, dict[str, float]] = {}
    clock = [time.perf_counter()]

    def lap(name: str, at: float | None = None) -> None:
        now = time.perf_counter() if at is None else at
        stages[name] = {"seconds": round(now - clock[0], 3), "peak_rss_mb": round(peak.take(), 1)}
        clock[0] = now

    start = clock[0]
    demand = load_population_raster(folder / "population.tif")
    sites = combine_sites(
        load_sites(folder / "existing.geojson", existing=True),
        load_sites(folder / "candidates.geojson"),
    )
    units = gpd.read_file(folder / "subdistricts.geojson")
    net = load_or_build_network(folder / "roads.graphml", "walk", cache)
    lap("load")

    marks: dict[str, float] = {}

    def progress(message: str) -> None:
        if message.startswith("snapping"):
            marks["snap"] = time.perf_counter()
        elif message.startswith("travel times"):
            marks["travel"] = time.perf_counter()

    scenario = Scenario(
        demand=demand,
        sites=sites,
        roads=net,
        units=units,
        model="mclp",
        new_sites=0,
        threshold_minutes=THRESHOLD_MIN,
        mode="walk",
        name="city",
        time_limit=120.0,
    )
    travel = travel_costs(scenario, progress=progress)
    lap("snap", marks["travel"])
    lap("travel_times")

    pop = scenario.demand["population"].to_numpy(dtype=np.float64)
    p = greedy_p(travel.costs, pop, scenario.existing_mask, THRESHOLD_MIN)
    lap("choose_p")

    result = plan(scenario.replace(new_sites=p), travel=travel)
    lap("mclp")

    files = save_result(result, out_dir, name="city")
    lap("exports")
    total = time.perf_counter() - start
    peak.stop()
    cov = result.coverage.as_dict() if result.coverage else {}
    return {
        "seconds_total": round(total, 3),
        "stages": stages,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "demand_cells": len(demand),
        "sites": len(sites),
        "existing": int(scenario.existing_mask.sum()),
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "pairs": int(travel.costs.nnz),
        "cutoff_min": travel.cutoff_minutes,
        "new_sites_p": p,
        "coverage": cov.get("share"),
        "status": result.status,
        "solver_seconds": round(result.solution.time, 3),
        "files": len(files),
        "service_areas": len(result.chosen_sites),
    }


def _setup(folder: Path) -> dict[str, float]:
    from geodata.synthetic import save_synthetic_city, synthetic_city

    t0 = time.perf_counter()
    city = synthetic_city(0, population=POPULATION, node_spacing_m=NODE_SPACING_M)
    generated = time.perf_counter() - t0
    t0 = time.perf_counter()
    save_synthetic_city(city, folder)
    return {"generate": round(generated, 3), "write_files": round(time.perf_counter() - t0, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "city.json")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--setup", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        folder, cache, out_dir = (Path(a) for a in args.child)
        print(json.dumps(_child(folder, cache, out_dir)))
        return
    if args.setup is not None:
        print(json.dumps(_setup(args.setup)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_city_") as tmp:
        root = Path(tmp)
        # in its own process too: a child's ru_maxrss starts from its parent's at fork
        proc = subprocess.run(
            [sys.executable, __file__, "--setup", str(root / "city")],
            capture_output=True,
            text=True,
            check=True,
        )
        setup = json.loads(proc.stdout.strip().splitlines()[-1])
        generated, written = setup["generate"], setup["write_files"]
        print(f"set-up: generated in {generated:.1f} s, files written in {written:.1f} s")
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
                f"{label}: {run['seconds_total']:.2f} s ({stages}); "
                f"peak {run['peak_rss_mb']:.0f} MB; "
                f"p={run['new_sites_p']} new sites, coverage {run['coverage']:.3f}",
                flush=True,
            )
    result = {
        "benchmark": "city",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "population": POPULATION,
        "node_spacing_m": NODE_SPACING_M,
        "threshold_min": THRESHOLD_MIN,
        "target_coverage": TARGET_COVERAGE,
        "setup_seconds": {"generate": generated, "write_files": written},
        "runs": runs,
        "targets": {
            "seconds": TARGET_SECONDS,
            "peak_mb": TARGET_MB,
            "met": all(
                r["seconds_total"] <= TARGET_SECONDS and r["peak_rss_mb"] < TARGET_MB for r in runs
            ),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
