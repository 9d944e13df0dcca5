"""Benchmark: generating the synthetic city (geodata.synthetic.synthetic_city) at 300,000 and
1,000,000 residents, and at 1,000,000 with a 100,000+-node road network.

Each case runs in a fresh Python process (so the peak memory is the case's own), three times;
the result file records the fastest and median wall time, the graph size and the peak resident
memory of the process above what the imports took.

Usage: python benchmarks/bench_synthetic_city.py [--out benchmarks/results/synthetic_city.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

CASES = [
    {"label": "300k default", "kwargs": {}},
    {"label": "1M default", "kwargs": {"population": 1_000_000}},
    {
        "label": "1M, shape nodes every 20 m (100k+ nodes)",
        "kwargs": {"population": 1_000_000, "node_spacing_m": 20.0},
    },
    {
        "label": "1M, streets every 100 m, shape nodes every 30 m",
        "kwargs": {"population": 1_000_000, "street_spacing_m": 100.0, "node_spacing_m": 30.0},
    },
]
REPEATS = 3


def _child(kwargs: dict) -> None:
    import resource
    import time

    from geodata.synthetic import synthetic_city

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    city = synthetic_city(0, **kwargs)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = city.roads
    print(
        json.dumps(
            {
                "seconds": seconds,
                "nodes": g.number_of_nodes(),
                "edges": g.number_of_edges(),
                "peak_mb_above_imports": (after - before) / 1024,
                "population": float(city.population.sum(dtype="float64")),
                "extent_km": city.params["extent_m"] / 1000,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "synthetic_city.json"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(json.loads(args.child))
        return
    rows = []
    for case in CASES:
        runs = []
        for _ in range(REPEATS):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(case["kwargs"])],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        times = [r["seconds"] for r in runs]
        row = {
            "case": case["label"],
            "kwargs": case["kwargs"],
            "seconds_min": round(min(times), 3),
            "seconds_median": round(statistics.median(times), 3),
            "nodes": runs[0]["nodes"],
            "edges": runs[0]["edges"],
            "extent_km": runs[0]["extent_km"],
            "population": runs[0]["population"],
            "peak_mb_above_imports": round(max(r["peak_mb_above_imports"] for r in runs), 1),
        }
        rows.append(row)
        print(
            f"{row['case']}: {row['seconds_min']:.2f} s (median {row['seconds_median']:.2f}), "
            f"{row['nodes']:,} nodes, {row['edges']:,} edges, "
            f"+{row['peak_mb_above_imports']:.0f} MB"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "synthetic_city",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "repeats": REPEATS,
        "cases": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
