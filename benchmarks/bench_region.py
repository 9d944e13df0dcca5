"""Benchmark: province-scale planning (siting.region) on Dask with 1 and 2 worker processes.

The synthetic province (geodata.synthetic_province) is built in the 103 real county polygons of
Inner Mongolia when ``$SITING_DATA_DIR`` has them (else a 10 × 10 grid of synthetic units), then
planned (MCLP, 2 new sites per county, 10 min by car, packaged rules) with:

* ``serial``: every unit in this process, no Dask (the reference result);
* ``dask-1`` / ``dask-2``: a fresh ``LocalCluster`` of 1 / 2 single-threaded worker processes on
  loopback (cluster start and worker warm-up timed separately from the run).

Each Dask result is checked equal to the serial one (same sites, same coverage). It also
measures the task overheads: the round trip of empty tasks, the pickled size of each unit's
inputs and the time to ship them to a worker (a task that only touches its job), and the
per-unit compute time (the critical path is the largest unit). The machine's load average is
recorded: the 2 cores are shared, so timings are noisy.

Usage: python benchmarks/bench_region.py [--cell-km 2] [--out benchmarks/results/region.json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _data_dir() -> Path:
    return Path(os.environ.get("SITING_DATA_DIR", REPO.parent / "shared" / "data"))


def _touch(job) -> str:
    return job.unit_id


def _noop(i: int) -> int:
    return i


def _province(cell_km: float, population: int):
    from geodata.boundaries import load_boundaries
    from geodata.synthetic import synthetic_province, synthetic_units

    path = _data_dir() / "inner-mongolia-admin-boundaries/inner_mongolia_county_amap_wgs84.geojson"
    if path.exists():
        units = load_boundaries(path, id_column="adcode")
        source = f"{path.name} (103 real county polygons)"
    else:
        units = synthetic_units(10, 10, size_km=100.0, origin_lonlat=(106.0, 38.0))
        source = "synthetic 10 x 10 grid (boundaries not found)"
    t0 = time.perf_counter()
    province = synthetic_province(units, 0, population=population, cell_km=cell_km)
    return province, source, time.perf_counter() - t0


def _overheads(client, jobs) -> dict:
    import distributed

    # empty tasks: scheduler + comms round trip, no data
    n = 200
    client.gather(client.map(_noop, range(20), pure=False))  # warm the comms
    t0 = time.perf_counter()
    client.gather(client.map(_noop, range(n), pure=False))
    empty = (time.perf_counter() - t0) / n
    # ship every unit's inputs to a worker and back a string: pickling + transfer, no compute
    t0 = time.perf_counter()
    futures = [client.submit(_touch, job, pure=False) for job in jobs]
    for _ in distributed.as_completed(futures):
        pass
    ship = time.perf_counter() - t0
    return {
        "empty_task_ms": round(empty * 1000, 3),
        "ship_all_inputs_s": round(ship, 3),
        "ship_per_unit_ms": round(ship / len(jobs) * 1000, 2),
    }


def _run_dask(province, settings, workers: int, jobs) -> dict:
    import distributed

    from siting.region import plan_region
    from siting.region.executor import warm_up

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    start = time.perf_counter() - t0
    with distributed.Client(cluster) as client:
        t1 = time.perf_counter()
        client.run(warm_up)
        warm = time.perf_counter() - t1
        over = _overheads(client, jobs)
        p = province
        t2 = time.perf_counter()
        result = plan_region(
            p.units,
            p.demand,
            p.sites,
            p.roads,
            settings=settings,
            scheduler=cluster.scheduler_address,
        )
        wall = time.perf_counter() - t2
    cluster.close()
    return {
        "result": result,
        "cluster_start_s": round(start, 3),
        "warm_up_s": round(warm, 3),
        "wall_s": round(wall, 3),
        "run_s": round(result.timings["run"], 3),
        **over,
    }


def _same(a, b) -> bool:
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(a.demand, b.demand, check_exact=True)
        pd.testing.assert_frame_equal(a.sites, b.sites, check_exact=True)
    except AssertionError:
        return False
    return a.coverage_share == b.coverage_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-km", type=float, default=2.0)
    parser.add_argument("--population", type=int, default=24_000_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/region.json")
    args = parser.parse_args()

    from siting.region import RegionSettings, plan_region, split_region

    load0 = os.getloadavg()
    province, source, gen_s = _province(args.cell_km, args.population)
    settings = RegionSettings(model="mclp", new_sites=2, mode="drive", time_limit=60.0)
    p = province
    t0 = time.perf_counter()
    jobs, _ = split_region(p.units, p.demand, p.sites, p.roads, settings=settings)
    split_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sizes = [len(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)) for job in jobs]
    pickle_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    serial = plan_region(p.units, p.demand, p.sites, p.roads, settings=settings, serial=True)
    serial_s = time.perf_counter() - t0
    unit_s = sorted((o.seconds for o in serial.outcomes.values()), reverse=True)
    print(f"serial: {serial_s:.1f} s, coverage {serial.coverage_share:.4f}", flush=True)

    runs = {}
    for workers in (1, 2):
        out = _run_dask(province, settings, workers, jobs)
        res = out.pop("result")
        out["equal_to_serial"] = _same(res, serial)
        out["failed_units"] = len(res.failed)
        out["sum_task_s"] = round(sum(o.seconds for o in res.outcomes.values()), 3)
        runs[f"dask-{workers}"] = out
        print(f"dask-{workers}: {out}", flush=True)

    w1, w2 = runs["dask-1"]["run_s"], runs["dask-2"]["run_s"]
    report = {
        "benchmark": "province-scale planning on dask.distributed (siting.region)",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load0],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "province": {
            "units_source": source,
            **province.params,
            "generate_s": round(gen_s, 3),
        },
        "settings": settings.resolved().describe(),
        "split_s": round(split_s, 3),
        "unit_inputs": {
            "pickled_bytes_total": int(sum(sizes)),
            "pickled_bytes_mean": int(statistics.mean(sizes)),
            "pickled_bytes_max": int(max(sizes)),
            "pickle_all_s": round(pickle_s, 3),
        },
        "unit_compute_s": {
            "sum": round(sum(unit_s), 3),
            "mean": round(statistics.mean(unit_s), 4),
            "median": round(statistics.median(unit_s), 4),
            "max": round(unit_s[0], 3),
            "largest_5": [round(s, 3) for s in unit_s[:5]],
        },
        "serial_s": round(serial_s, 3),
        "coverage_share": serial.coverage_share,
        "runs": runs,
        "speedup_2_vs_1_workers": round(w1 / w2, 3) if w2 > 0 else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
