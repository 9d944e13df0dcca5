"""Loopback load test of the HTTP service: is ``/health`` fast while solves run?

Starts ``uvicorn api.main:app`` on a free loopback port with a fresh storage folder and an API
key, uploads a synthetic city (100,000 residents, roads), runs one job, then runs
``--concurrency`` clients at once (default 32) for ``--requests`` requests in all; each client
sends, in turn, a ``/health``, a synchronous solve, a job poll and a what-if re-solve (so a
quarter of the clients' requests are health checks, issued while the others' solves and
what-ifs run in the worker processes). Writes the latency percentiles of each kind, the
``/health`` p99 in particular, the throughput, the errors and the machine load (1-minute load
average before and after, CPU count) to ``benchmarks/results/api_load.json``.

    python benchmarks/bench_api_load.py [--requests 2000] [--concurrency 32]
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
KEY = "bench-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))] * 1000.0, 1)


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": _pct(values, 0.50),
        "p95_ms": _pct(values, 0.95),
        "p99_ms": _pct(values, 0.99),
        "max_ms": round(max(values) * 1000.0, 1),
    }


async def _fire(url: str, job: str, n: int, concurrency: int) -> tuple[float, dict, dict]:
    latency: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: dict[str, int] = {}
    body = {"demand": EXAMPLE_DEMAND, "sites": EXAMPLE_SITES, "new_sites": 1}
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, timeout=300, limits=limits, headers={"X-API-Key": KEY}
    ) as ac:

        async def client(offset: int) -> None:
            turn = offset
            for i in counter:
                kind = KINDS[turn % len(KINDS)]
                turn += 1
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
                if r.status_code != 200:
                    key = f"{kind} {r.status_code}"
                    errors[key] = errors.get(key, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(concurrency)))
    return time.perf_counter() - t0, latency, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--request-workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="siting-load-"))
    files = save_synthetic_city(synthetic_city(0, population=100_000), tmp / "city")
    port = _free_port()
    env = {
        **os.environ,
        "SITING_STORAGE_DIR": str(tmp / "store"),
        "SITING_WRITE_KEYS": f"bench:{KEY}",
        "SITING_WORKERS": "1",
        "SITING_REQUEST_WORKERS": str(args.request_workers),
    }
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
        client = httpx.Client(base_url=url, timeout=300, headers={"X-API-Key": KEY})
        ids = {}
        for kind, name in [
            ("population", "population.tif"),
            ("roads", "roads.graphml"),
            ("sites", "candidates.geojson"),
            ("sites", "existing.geojson"),
        ]:
            upload = {"file": (name, files[name].read_bytes())}
            r = client.post("/v1/datasets", data={"kind": kind}, files=upload)
            r.raise_for_status()
            ids[name] = r.json()["id"]
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
        load_before = os.getloadavg()[0]
        wall, latency, errors = asyncio.run(_fire(url, job, args.requests, args.concurrency))
        load_after = os.getloadavg()[0]
    finally:
        proc.terminate()
        proc.wait()
    every = [x for v in latency.values() for x in v]
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_1min_before": round(load_before, 2),
            "load_1min_after": round(load_after, 2),
        },
        "requests": args.requests,
        "concurrency": args.concurrency,
        "request_workers": args.request_workers,
        "wall_seconds": round(wall, 1),
        "requests_per_second": round(args.requests / wall, 1),
        "errors": errors,
        "all": _stats(every),
        "by_kind": {k: _stats(v) for k, v in latency.items() if v},
        "health_p99_under_100ms": _stats(latency["health"])["p99_ms"] < 100.0,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
