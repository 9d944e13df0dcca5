"""Benchmark: the command line's start and the full Wuhan raster plan (issue 17).

1. **start** — ``siting --help`` and ``siting plan --help``, each ``--repeat`` times in a fresh
   process (wall time: median and best), and the imports of ``siting.cli`` alone
   (``python -X importtime``: what the start costs before any command runs).
2. **Wuhan raster** — ``siting plan --population wuhan_pop_age20plus_worldpop_100m.tif --model
   mclp --new-sites 20`` (494,676 cells, no roads: straight-line walking, the 10-minute circle;
   candidates generated), ``--runs`` times in a fresh process: wall time, the stage timings and
   candidate count from the summary, peak memory of the child (``ru_maxrss``) and the size of
   every output file.

The machine's load (``os.getloadavg``) is recorded before and after each part: timings taken on
a busy machine are not final.

Usage: python benchmarks/bench_cli.py [--repeat 10] [--runs 3] [--out benchmarks/results/cli.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SITING_DATA_DIR", REPO.parent / "shared" / "data"))
RASTER = DATA / "wuhan-worldpop-age-structure-100m" / "wuhan_pop_age20plus_worldpop_100m.tif"


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def bench_start(repeat: int) -> dict[str, Any]:
    """Wall times of the help commands and the import time of siting.cli."""
    out: dict[str, Any] = {"load_before": _load()}
    for label, args in (("siting --help", ["--help"]), ("siting plan --help", ["plan", "--help"])):
        times = []
        for _ in range(repeat):
            seconds, proc = _timed([sys.executable, "-m", "siting", *args])
            if proc.returncode != 0:
                raise RuntimeError(f"{label} failed: {proc.stderr}")
            times.append(seconds)
        out[label] = {
            "median_s": round(statistics.median(times), 3),
            "best_s": round(min(times), 3),
        }
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import siting.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative = [
        int(m.group(1)) for m in re.finditer(r"\|\s+(\d+) \|\s+siting\.cli$", proc.stderr, re.M)
    ]
    out["import siting.cli (ms, -X importtime)"] = round(cumulative[-1] / 1000, 1)
    out["load_after"] = _load()
    return out


def bench_wuhan(runs: int) -> dict[str, Any]:
    """The full Wuhan raster plan, ``runs`` times, each in a fresh process."""
    if not RASTER.is_file():
        return {"skipped": f"{RASTER} not found (set SITING_DATA_DIR)"}
    out: dict[str, Any] = {"load_before": _load(), "runs": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "wuhan"
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            seconds, proc = _timed(
                [sys.executable, "-m", "siting", "plan", "--population", str(RASTER),
                 "--model", "mclp", "--new-sites", "20", "--out", str(target), "--quiet"]
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"the Wuhan plan failed: {proc.stderr}")
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            summary = json.loads((target / "plan_summary.json").read_text(encoding="utf-8"))
            sizes = {p.name: p.stat().st_size for p in sorted(target.iterdir())}
            out["runs"].append(
                {
                    "wall_s": round(seconds, 2),
                    "peak_rss_mb": round(max(peak, before) / 1024, 1),
                    "status": summary["status"],
                    "demand_points": summary["scenario"]["demand_points"],
                    "candidate_sites": summary["scenario"]["candidate_sites"],
                    "coverage_share": round(summary["coverage"]["share"], 6),
                    "uncoverable_population": summary["uncoverable"]["population"],
                    "timings_s": summary["timings"],
                    "output_mb": {k: round(v / 1e6, 2) for k, v in sizes.items()},
                    "output_total_mb": round(sum(sizes.values()) / 1e6, 2),
                }
            )
    out["best_wall_s"] = min(r["wall_s"] for r in out["runs"])
    out["load_after"] = _load()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "cli.json")
    args = parser.parse_args()
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "start": bench_start(args.repeat),
        "wuhan_raster_mclp": bench_wuhan(args.runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
