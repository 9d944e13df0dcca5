"""Loopback load test of the HTTP service: health, sync solves, job polling and what-if calls.

Starts ``uvicorn api.main:app`` on a free loopback port with a fresh storage folder, uploads a
synthetic city (100,000 residents, roads), runs one job, then fires ``--requests`` requests
``--concurrency`` at a time (a quarter of each kind) and writes latency percentiles to
``benchmarks/results/api_load.json``.

    python benchmarks/bench_api_load.py [--requests 500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.schemas import EXAMPLE_DEMAND, EXAMPLE_SITES  # noqa: E402
from geodata import save_synthetic_city, synthetic_city  # noqa: E402

KINDS = ("health", "solve", "poll", "whatif")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] * 1000.0


async def _fire(url: str, job: str, n: int, concurrency: int) -> tuple[float, int, dict]:
    latency: dict[str, list[float]] = {k: [] for k in KINDS}
    body = {"demand": EXAMPLE_DEMAND, "sites": EXAMPLE_SITES, "new_sites": 1}
    sem = asyncio.Semaphore(concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=120) as ac:

        async def one(i: int) -> bool:
            kind = KINDS[i % len(KINDS)]
            async with sem:
                t = time.perf_counter()
                if kind == "health":
                    r = await ac.get("/health")
                elif kind == "solve":
                    r = await ac.post("/v1/solve", json=body)
                elif kind == "poll":
                    r = await ac.get(f"/v1/jobs/{job}")
                else:
                    r = await ac.post(f"/v1/jobs/{job}/what-if", json={"new_sites": 3 + i % 3})
                latency[kind].append(time.perf_counter() - t)
            return r.status_code != 200

        t0 = time.perf_counter()
        failed = await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0, int(sum(failed)), latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="siting-load-"))
    files = save_synthetic_city(synthetic_city(0, population=100_000), tmp / "city")
    port = _free_port()
    env = {**os.environ, "SITING_STORAGE_DIR": str(tmp / "store"), "SITING_WORKERS": "2"}
    cmd = [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = httpx.Client(base_url=url, timeout=120)
        ids = {}
        for kind, name in [
            ("population", "population.tif"),
            ("roads", "roads.graphml"),
            ("sites", "candidates.geojson"),
            ("sites", "existing.geojson"),
        ]:
            upload = {"file": (name, files[name].read_bytes())}
            ids[name] = client.post("/v1/datasets", data={"kind": kind}, files=upload).json()["id"]
        job = client.post(
            "/v1/jobs",
            json={
                "demand_dataset": ids["population.tif"],
                "roads_dataset": ids["roads.graphml"],
                "sites_dataset": ids["candidates.geojson"],
                "existing_dataset": ids["existing.geojson"],
                "new_sites": 4,
            },
        ).json()["id"]
        while client.get(f"/v1/jobs/{job}").json()["status"] not in ("done", "failed"):
            time.sleep(0.2)
        wall, errors, latency = asyncio.run(_fire(url, job, args.requests, args.concurrency))
    finally:
        proc.terminate()
        proc.wait()
    every = [x for v in latency.values() for x in v]
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "requests": args.requests,
        "concurrency": args.concurrency,
        "requests_per_second": round(args.requests / wall, 1),
        "errors": errors,
        "p50_ms": round(_pct(every, 0.5)),
        "p95_ms": round(_pct(every, 0.95)),
        "by_kind": {
            k: {"p50_ms": round(_pct(v, 0.5)), "p95_ms": round(_pct(v, 0.95))}
            for k, v in latency.items()
            if v
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
