"""Benchmark: the ``solvers`` package (HiGHS via highspy) against PySAL spopt + PuLP/CBC.

Deterministic instances (seeded uniform points in the unit square, Euclidean costs), solved by
this project and by ``spopt.locate`` (``LSCP`` / ``MCLP`` / ``PMedian`` / ``PCenter``
``.from_cost_matrix`` with ``pulp.PULP_CBC_CMD(msg=False)``) on the same cost array.

Every (size, model, implementation) case runs in a fresh Python process, one at a time: the
child regenerates the instance from its seed (not timed), then times the model build (ours:
``CostMatrix`` + model object; spopt: ``from_cost_matrix``, i.e. the PuLP model) and the solve
(ours: ``Solution.time``; spopt: ``.solve``), and reports the process's peak resident memory
(``ru_maxrss``; the input arrays included, the RSS right after generating them is recorded as
``input_rss_mb``). spopt gets a wall-clock cap per case (``--spopt-cap``; the child is killed
when it runs over and the case is recorded as *did not finish*) and an address-space cap
(``--spopt-mem-gb``). spopt is skipped where its dense model cannot fit (see ``_spopt_skip``).

Sizes (demand × candidates, p): ``1k`` 1,000 × 100 (p=10), ``5k`` 5,000 × 300 (p=20), ``20k``
20,000 × 1,000 (p=50), ``100k`` 100,000 × 2,000 (p=100) and ``1m`` 1,000,000 × 200 (p=20,
MCLP only). The coverage radius is ``sqrt(0.8 / (p π))`` (p discs of total area 0.8 × the
square), which gives 60–90 % covered weight at the MCLP optimum (recorded per case). Demand
weights are integers 1..9. For 1k–20k the cost matrix is dense (every pair reachable); for
100k and 1m it is sparse: the pairs within ``3 × radius`` plus each demand's 3 nearest
candidates (pairs left out are unreachable; covering models only read pairs within the
radius, so they are unaffected). LSCP uses the demand points within the radius of some
candidate (both implementations get the same rows); LSCP and p-center are unweighted.

OR-Library (``--orlib``): the 40 ``pmed`` instances from ``$SITING_DATA_DIR/orlib-pmed``
(default ``../shared/data`` relative to the repository), ours and spopt + CBC (capped per
instance with ``--orlib-cap``), objective checked against the published optima.

Usage::

    python benchmarks/bench_solvers.py [--sizes 1k,5k,20k,100k,1m] [--models lscp,mclp,...]
        [--orlib] [--spopt/--no-spopt] [--spopt-cap 600] [--out benchmarks/results]
        [--our-limit SECONDS] [--tag NAME]

``--our-limit`` replaces our per-case time limits (the targets': 60 s at 20k, …) by one
limit for every case, to measure how far a longer solve gets.

Writes ``<out>/solvers_<tag>.json`` (machine description included) and prints a markdown table;
``--markdown benchmarks/RESULTS.md`` regenerates the solver section of that file from every
``<out>/solvers*.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SIZES: dict[str, tuple[int, int, int]] = {
    "1k": (1_000, 100, 10),
    "5k": (5_000, 300, 20),
    "20k": (20_000, 1_000, 50),
    "100k": (100_000, 2_000, 100),
    "1m": (1_000_000, 200, 20),
}
MODELS = ("lscp", "mclp", "pmedian", "pcenter")
#: models run per size (the 1M-demand instance is the MCLP case of the issue)
SIZE_MODELS: dict[str, tuple[str, ...]] = {
    "1k": MODELS,
    "5k": MODELS,
    "20k": MODELS,
    "100k": ("lscp", "mclp", "pmedian"),
    "1m": ("mclp",),
}
DENSE_SIZES = ("1k", "5k", "20k")
#: our time limit per case: the targets of issue 4 for the large sizes, generous otherwise
OUR_LIMIT = {"100k": {"pmedian": 120.0}, "_large": 60.0, "20k": 60.0, "_default": 180.0}
SEED = 20_240_401


# --------------------------------------------------------------------------- instances
def radius_for(p: int) -> float:
    """Coverage radius: p discs of total area 0.8 × the unit square."""
    return math.sqrt(0.8 / (p * math.pi))


def make_instance(size: str) -> dict[str, Any]:
    """The deterministic instance of ``size``: points, weights, p, radius and costs.

    Returns ``dense`` (n × m float array) for the dense sizes, else ``rows``/``cols``/``data``
    triples of the sparse cost matrix.
    """
    from scipy.spatial import cKDTree

    n, m, p = SIZES[size]
    rng = np.random.default_rng(SEED + n + m)
    demand = rng.random((n, 2))
    cand = rng.random((m, 2))
    weights = rng.integers(1, 10, size=n).astype(np.float64)
    r = radius_for(p)
    out: dict[str, Any] = {"n": n, "m": m, "p": p, "radius": r, "weights": weights}
    if size in DENSE_SIZES:
        from scipy.spatial.distance import cdist

        out["dense"] = cdist(demand, cand)
        return out
    tree = cKDTree(cand)
    cutoff = 3 * r if size != "1m" else r * 1.0000001
    lists = tree.query_ball_point(demand, cutoff, return_sorted=False)
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=n)
    cols = np.fromiter((j for x in lists for j in x), dtype=np.int64, count=int(counts.sum()))
    del lists
    rows = np.repeat(np.arange(n, dtype=np.int64), counts)
    _, near = tree.query(demand, k=3)
    rows = np.concatenate([rows, np.repeat(np.arange(n, dtype=np.int64), 3)])
    cols = np.concatenate([cols, near.ravel()])
    data = np.sqrt(((demand[rows] - cand[cols]) ** 2).sum(axis=1))
    out.update(rows=rows, cols=cols, data=data)
    return out


def lscp_rows(inst: dict[str, Any]) -> np.ndarray:
    """Demand rows within the radius of some candidate (the LSCP instance's demand)."""
    r = inst["radius"]
    if "dense" in inst:
        return np.flatnonzero(inst["dense"].min(axis=1) <= r)
    ok = np.zeros(inst["n"], dtype=bool)
    ok[inst["rows"][inst["data"] <= r]] = True
    return np.flatnonzero(ok)


# --------------------------------------------------------------------------- one case (child)
def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(inst: dict[str, Any], model: str, time_limit: float) -> dict[str, Any]:
    from solvers import LSCP, MCLP, CostMatrix, PCenter, PMedian, solve

    t0 = time.perf_counter()
    if "dense" in inst:
        dense = inst["dense"]
        if model == "lscp":
            dense = dense[lscp_rows(inst)]
        costs = CostMatrix.from_dense(dense)
    else:
        rows, cols, data = inst["rows"], inst["cols"], inst["data"]
        n = inst["n"]
        if model == "lscp":
            keep = lscp_rows(inst)
            new = np.full(n, -1, dtype=np.int64)
            new[keep] = np.arange(len(keep))
            mask = new[rows] >= 0
            rows, cols, data, n = new[rows[mask]], cols[mask], data[mask], len(keep)
        costs = CostMatrix.from_triples(rows, cols, data, (n, inst["m"]))
    r, p, w = inst["radius"], inst["p"], inst["weights"]
    if model == "lscp":
        obj: Any = LSCP(costs, threshold=r)
    elif model == "mclp":
        obj = MCLP(costs, threshold=r, p=p, weights=w)
    elif model == "pmedian":
        obj = PMedian(costs, p=p, weights=w)
    else:
        obj = PCenter(costs, p=p)
    build = time.perf_counter() - t0
    sol = solve(obj, time_limit=time_limit)
    out = {
        "build_s": build,
        "solve_s": sol.time,
        "status": sol.status.value,
        "objective": sol.objective,
        "bound": sol.bound,
        "gap": sol.gap,
        "details": {k: v for k, v in sol.details.items() if isinstance(v, int | float | str)},
    }
    if model == "mclp" and sol.objective is not None:
        out["coverage"] = sol.objective / float(w.sum())
    return out


def _spopt(inst: dict[str, Any], model: str, cap: float) -> dict[str, Any]:
    import pulp
    from spopt.locate import LSCP, MCLP, PCenter, PMedian

    dense = inst["dense"]
    r, p, w = inst["radius"], inst["p"], inst["weights"]
    t0 = time.perf_counter()
    if model == "lscp":
        m = LSCP.from_cost_matrix(dense[lscp_rows(inst)], service_radius=r)
    elif model == "mclp":
        m = MCLP.from_cost_matrix(dense, w, service_radius=r, p_facilities=p)
    elif model == "pmedian":
        m = PMedian.from_cost_matrix(dense, w, p_facilities=p)
    else:
        m = PCenter.from_cost_matrix(dense, p_facilities=p)
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    m.solve(pulp.PULP_CBC_CMD(msg=False), results=False)
    solve_s = time.perf_counter() - t1
    status = pulp.LpStatus[m.problem.status]
    return {
        "build_s": build,
        "solve_s": solve_s,
        "status": "optimal" if status == "Optimal" else status.lower(),
        "objective": float(pulp.value(m.problem.objective)),
    }


def _child(spec: dict[str, Any]) -> None:
    if spec["impl"] == "spopt" and spec.get("mem_gb"):
        lim = int(spec["mem_gb"] * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    orlib = spec["kind"] == "orlib"
    inst = _orlib_instance(spec["name"]) if orlib else make_instance(spec["size"])
    input_rss = _rss_mb()
    try:
        if spec["kind"] == "orlib":
            res = _orlib_case(inst, spec["impl"], spec["cap"])
        elif spec["impl"] == "ours":
            res = _ours(inst, spec["model"], spec["time_limit"])
        else:
            res = _spopt(inst, spec["model"], spec["cap"])
    except MemoryError:
        res = {"status": "out of memory", "error": f"over the {spec.get('mem_gb')} GB cap"}
    res["input_rss_mb"] = input_rss
    res["peak_rss_mb"] = _peak_mb()
    print("RESULT " + json.dumps(res), flush=True)


def _run_child(spec: dict[str, Any], wall: float | None) -> dict[str, Any]:
    """Run one case in a fresh process; a timeout gives a *did not finish* record."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # own process group: a kill also ends the CBC subprocess
    )
    try:
        out, err = proc.communicate(timeout=wall)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {
            "status": "did not finish",
            "error": f"killed after {wall:.0f} s (cap)",
            "wall_s": time.perf_counter() - t0,
        }
    for line in out.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res["wall_s"] = time.perf_counter() - t0
            return res
    tail = (err or "").strip().splitlines()[-3:]
    return {"status": "error", "error": " | ".join(tail), "wall_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- OR-Library
def data_dir() -> Path:
    return Path(os.environ.get("SITING_DATA_DIR", ROOT.parent / "shared" / "data"))


def _orlib_instance(name: str) -> dict[str, Any]:
    from solvers.instances import load_orlib_pmed

    costs, p = load_orlib_pmed(data_dir() / "orlib-pmed" / f"{name}.txt")
    return {"costs": costs, "p": p}


def _orlib_case(inst: dict[str, Any], impl: str, cap: float) -> dict[str, Any]:
    costs, p = inst["costs"], inst["p"]
    if impl == "ours":
        from solvers import PMedian, solve

        t0 = time.perf_counter()
        model = PMedian(costs, p=p)
        build = time.perf_counter() - t0
        sol = solve(model, time_limit=cap)
        return {
            "build_s": build,
            "solve_s": sol.time,
            "status": sol.status.value,
            "objective": sol.objective,
        }
    dense = costs.to_dense()
    return _spopt(
        {"dense": dense, "weights": np.ones(len(dense)), "p": p, "radius": 0.0}, "pmedian", cap
    )


def run_orlib(args: argparse.Namespace) -> dict[str, Any]:
    from solvers.instances import load_orlib_optima

    optima = load_orlib_optima(data_dir() / "orlib-pmed" / "pmedopt.txt")
    rows = []
    for k in range(1, 41):
        name = f"pmed{k}"
        row: dict[str, Any] = {"instance": name, "optimum": optima.get(name)}
        spec = {"kind": "orlib", "name": name, "impl": "ours", "cap": args.orlib_ours_cap}
        row["ours"] = _run_child(spec, None)
        if args.spopt:
            spec = dict(spec, impl="spopt", cap=args.orlib_cap, mem_gb=args.spopt_mem_gb)
            row["spopt"] = _run_child(spec, args.orlib_cap)
        rows.append(row)
        print(_orlib_line(row), flush=True)
    return {"instances": rows, "summary": orlib_summary(rows, args.orlib_cap)}


def _total(res: dict[str, Any]) -> float | None:
    if "build_s" in res and "solve_s" in res:
        return res["build_s"] + res["solve_s"]
    return None


def _orlib_line(row: dict[str, Any]) -> str:
    o, s = row["ours"], row.get("spopt", {})
    return (
        f"{row['instance']}: ours {o.get('status')} {o.get('objective')} "
        f"{_total(o) or float('nan'):.2f}s | spopt {s.get('status')} {s.get('objective')} "
        f"{_total(s) or s.get('wall_s', float('nan')):.2f}s | opt {row['optimum']}"
    )


def orlib_summary(rows: list[dict[str, Any]], cap: float) -> dict[str, Any]:
    ours_t = sum(_total(r["ours"]) or 0.0 for r in rows)
    ours_opt = sum(
        r["ours"].get("status") == "optimal" and r["ours"].get("objective") == r["optimum"]
        for r in rows
    )
    out: dict[str, Any] = {"ours_total_s": ours_t, "ours_optimal_and_matching": int(ours_opt)}
    sp_rows = [r for r in rows if "spopt" in r]
    if sp_rows:
        sp_opt = [r for r in sp_rows if r["spopt"].get("status") == "optimal"]
        # an unfinished instance counts its full cap (a lower bound on spopt's time)
        sp_t = sum(_total(r["spopt"]) or cap for r in sp_rows)
        both = [r for r in sp_opt]
        out |= {
            "spopt_cap_s": cap,
            "spopt_total_s_lower_bound": sp_t,
            "spopt_optimal_within_cap": len(sp_opt),
            "spopt_matching_optimum": int(
                sum(abs(r["spopt"]["objective"] - r["optimum"]) < 1e-6 for r in sp_opt)
            ),
            "ratio_total": sp_t / ours_t if ours_t else None,
            "ours_total_on_spopt_solved_s": sum(_total(r["ours"]) or 0 for r in both),
            "spopt_total_on_spopt_solved_s": sum(_total(r["spopt"]) or 0 for r in both),
        }
    return out


# --------------------------------------------------------------------------- synthetic sizes
def _spopt_skip(size: str, model: str) -> str | None:
    """Why spopt is not run on this case (``None``: it is run)."""
    if size not in DENSE_SIZES:
        n, m, _ = SIZES[size]
        return (
            f"not run: spopt takes a dense {n:,} × {m:,} cost array "
            f"({n * m * 8 / 2**30:.1f} GB) and builds one PuLP term per pair"
        )
    if size == "20k" and model in ("pmedian", "pcenter"):
        return (
            "not run: 20M assignment variables x_ij as PuLP objects (~60 GB at the "
            "~3 GB per million measured for the 1k p-median)"
        )
    return None


def _our_limit(size: str, model: str) -> float:
    if size == "20k":
        return OUR_LIMIT["20k"]  # type: ignore[return-value]
    if size in ("100k", "1m"):
        return OUR_LIMIT.get(size, {}).get(model, OUR_LIMIT["_large"])  # type: ignore[return-value]
    return OUR_LIMIT["_default"]  # type: ignore[return-value]


def run_sizes(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for size in args.sizes:
        for model in SIZE_MODELS[size]:
            if args.models and model not in args.models:
                continue
            n, m, p = SIZES[size]
            row: dict[str, Any] = {"size": size, "n": n, "m": m, "p": p, "model": model}
            limit = args.our_limit or _our_limit(size, model)
            row["ours_time_limit_s"] = limit
            spec = {"kind": "synthetic", "size": size, "model": model, "impl": "ours"}
            row["ours"] = _run_child(dict(spec, time_limit=limit), None)
            if args.spopt:
                why = _spopt_skip(size, model)
                if why:
                    row["spopt"] = {"status": "skipped", "error": why}
                else:
                    spec = dict(spec, impl="spopt", cap=args.spopt_cap, mem_gb=args.spopt_mem_gb)
                    row["spopt"] = _run_child(spec, args.spopt_cap)
            _compare(row)
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def _compare(row: dict[str, Any]) -> None:
    o, s = row["ours"], row.get("spopt")
    if not s or _total(o) is None:
        return
    t = _total(s)
    if t is not None:
        row["ratio"] = t / _total(o)
        if o.get("objective") is not None and s.get("objective") is not None:
            row["same_objective"] = bool(
                abs(o["objective"] - s["objective"]) <= 1e-6 * max(1.0, abs(o["objective"]))
            )
    elif s.get("status") == "did not finish" and o.get("status") == "optimal":
        # only a proven optimum of ours bounds the ratio (both unfinished: no ratio)
        row["ratio_lower_bound"] = s["wall_s"] / _total(o)


def _fmt(x: float | None, nd: int = 2) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def _line(row: dict[str, Any]) -> str:
    o, s = row["ours"], row.get("spopt", {})
    ratio = row.get("ratio")
    rstr = (
        f"{ratio:.1f}x"
        if ratio
        else (f">{row['ratio_lower_bound']:.1f}x" if row.get("ratio_lower_bound") else "–")
    )
    return (
        f"{row['size']} {row['model']}: ours {o.get('status')} obj={o.get('objective')} "
        f"gap={o.get('gap')} {_fmt(_total(o))}s {o.get('peak_rss_mb', 0):.0f}MB | spopt "
        f"{s.get('status')} obj={s.get('objective')} {_fmt(_total(s))}s | ratio {rstr} "
        f"same={row.get('same_objective')}"
    )


# --------------------------------------------------------------------------- machine, output
def machine() -> dict[str, Any]:
    import highspy
    import psutil
    import pulp
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import spopt

        spopt_v = spopt.__version__
    except ImportError:
        spopt_v = None
    try:
        from importlib.metadata import PackageNotFoundError, version

        highs_v = version("highspy")
    except PackageNotFoundError:  # pragma: no cover - metadata missing
        highs_v = getattr(highspy, "__version__", "?")
    try:
        cbc = pulp.PULP_CBC_CMD().path
    except (pulp.PulpSolverError, AttributeError, OSError):  # pragma: no cover
        cbc = None
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "highspy": highs_v,
        "pulp": pulp.__version__,
        "cbc": cbc,
        "spopt": spopt_v,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "note": "shared 2-core machine; other jobs may have run concurrently",
    }


def markdown_sizes(rows: list[dict[str, Any]]) -> str:
    head = (
        "| size (n × m, p) | model | ours status | ours objective | gap | ours build + solve (s)"
        " | ours peak RSS (MB) | spopt status | spopt objective | spopt build + solve (s) "
        "| spopt peak RSS (MB) | same objective | ratio |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        o, s = r["ours"], r.get("spopt", {})
        ratio = (
            f"**{r['ratio']:.1f}×**"
            if r.get("ratio")
            else (f"> {r['ratio_lower_bound']:.1f}×" if r.get("ratio_lower_bound") else "–")
        )
        sstat = s.get("status", "not run")
        if sstat in ("skipped", "did not finish", "error", "out of memory"):
            sstat = f"{sstat}: {s.get('error', '')}"
        lines.append(
            f"| {r['size']} ({r['n']:,} × {r['m']:,}, p={r['p']}) | {r['model']} "
            f"| {o.get('status')} | {_fmt(o.get('objective'), 4)} | {_gapfmt(o.get('gap'))} "
            f"| {_fmt(o.get('build_s'))} + {_fmt(o.get('solve_s'))} "
            f"| {_fmt(o.get('peak_rss_mb'), 0)} | {sstat} | {_fmt(s.get('objective'), 4)} "
            f"| {_pair(s)} | {_fmt(s.get('peak_rss_mb'), 0)} "
            f"| {'yes' if r.get('same_objective') else ('no' if 'same_objective' in r else '–')}"
            f" | {ratio} |"
        )
    return head + "\n".join(lines) + "\n"


def _pair(s: dict[str, Any]) -> str:
    if "build_s" in s:
        return f"{_fmt(s['build_s'])} + {_fmt(s['solve_s'])}"
    if s.get("status") == "did not finish":
        return f"> {s['wall_s']:.0f}"
    return "–"


def _gapfmt(g: float | None) -> str:
    return "–" if g is None else f"{100 * g:.3f} %"


def markdown_orlib(res: dict[str, Any]) -> str:
    s = res["summary"]
    out = [
        f"- ours: {s['ours_optimal_and_matching']}/40 proven optimal and equal to the published "
        f"optimum, total {s['ours_total_s']:.1f} s (build + solve, distance matrix not timed)."
    ]
    if "spopt_cap_s" in s:
        out.append(
            f"- spopt + CBC (cap {s['spopt_cap_s']:.0f} s per instance): "
            f"{s['spopt_optimal_within_cap']}/40 solved to optimality within the cap "
            f"({s['spopt_matching_optimum']} equal to the published optimum); total "
            f"≥ {s['spopt_total_s_lower_bound']:.1f} s (an unfinished instance counts as its cap;"
            " with a short cap this total says little). On the "
            f"{s['spopt_optimal_within_cap']} "
            f"instances spopt solved: spopt {s['spopt_total_on_spopt_solved_s']:.1f} s vs ours "
            f"{s['ours_total_on_spopt_solved_s']:.1f} s."
        )
    head = (
        "\n| instance | optimum | ours status | ours objective | ours (s) "
        "| spopt status | spopt objective | spopt (s) |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in res["instances"]:
        o, sp_ = r["ours"], r.get("spopt", {})
        st = _total(sp_)
        lines.append(
            f"| {r['instance']} | {r['optimum']} | {o.get('status')} | {o.get('objective')} "
            f"| {_fmt(_total(o))} | {sp_.get('status', 'not run')} | {sp_.get('objective', '–')}"
            f" | {_fmt(st) if st is not None else _pair(sp_)} |"
        )
    return "\n".join(out) + "\n" + head + "\n".join(lines) + "\n"


def write_markdown(out_dir: Path, target: Path) -> None:
    """Regenerate the solver section of ``target`` from every ``out_dir/solvers*.json``."""
    parts = ["<!-- solvers:start -->", "## Solvers: this project (HiGHS) vs spopt + CBC", ""]
    parts.append(
        "Generated by `python benchmarks/bench_solvers.py` (see its docstring for the "
        "instances). Times are wall-clock seconds of model build + solve for identical cost "
        "arrays; *ratio* = spopt time / our time, both measured in the same run. Peak RSS is "
        "the case process's peak (input arrays included).\n"
    )
    for f in sorted(out_dir.glob("solvers*.json")):
        res = json.loads(f.read_text())
        mach = res["machine"]
        parts.append(f"### `{f.name}` — {mach['date_utc']} UTC\n")
        parts.append(
            f"Machine: {mach['cpu']}, {mach['logical_cores']} logical cores, {mach['ram_gb']} "
            f"GB RAM, {mach['os']}; Python {mach['python']}, numpy {mach['numpy']}, scipy "
            f"{mach['scipy']}, highspy {mach['highspy']}, PuLP {mach['pulp']} (CBC bundled), "
            f"spopt {mach['spopt']}. {mach['note']}."
            + (
                f" spopt cap {res['args']['spopt_cap']} s per case."
                if res.get("sizes") and res["args"].get("spopt", True)
                else ""
            )
            + (
                f" Our time limit {res['args']['our_limit']:g} s for every case."
                if res["args"].get("our_limit")
                else ""
            )
            + "\n"
        )
        if res.get("sizes"):
            for row in res["sizes"]:
                for key in ("ratio", "ratio_lower_bound", "same_objective"):
                    row.pop(key, None)
                _compare(row)
            parts.append(markdown_sizes(res["sizes"]))
        if res.get("orlib"):
            parts.append("\n#### OR-Library p-median (40 instances)\n")
            parts.append(markdown_orlib(res["orlib"]))
    parts.append("<!-- solvers:end -->")
    section = "\n".join(parts) + "\n"
    text = target.read_text() if target.exists() else "# Benchmark results\n\n"
    if "<!-- solvers:start -->" in text:
        a = text.index("<!-- solvers:start -->")
        b = text.index("<!-- solvers:end -->") + len("<!-- solvers:end -->\n")
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    target.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k,5k,20k,100k,1m")
    parser.add_argument("--models", default="", help="comma list; default: all per size")
    parser.add_argument("--orlib", action="store_true")
    parser.add_argument("--spopt", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--spopt-cap", type=float, default=600.0)
    parser.add_argument("--spopt-mem-gb", type=float, default=12.0)
    parser.add_argument("--orlib-cap", type=float, default=600.0, help="spopt cap per instance")
    parser.add_argument("--orlib-ours-cap", type=float, default=600.0)
    parser.add_argument(
        "--our-limit",
        type=float,
        default=None,
        help="our time limit for every case instead of the targets' (long runs)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--tag", default="")
    parser.add_argument("--markdown", type=Path, help="regenerate this file's solver section")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(json.loads(args.child))
        return
    if args.markdown and not args.sizes and not args.orlib:
        write_markdown(args.out, args.markdown)
        return
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.models = [m for m in args.models.split(",") if m]
    result: dict[str, Any] = {
        "benchmark": "solvers",
        "machine": machine(),
        "args": {
            "sizes": args.sizes,
            "models": args.models,
            "spopt": args.spopt,
            "spopt_cap": args.spopt_cap,
            "orlib_cap": args.orlib_cap,
            "our_limit": args.our_limit,
        },
        "sizes": run_sizes(args),
    }
    if args.orlib:
        result["orlib"] = run_orlib(args)
    tag = args.tag or "_".join(args.sizes + (["orlib"] if args.orlib else []))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"solvers_{tag}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown_sizes(result["sizes"]) if result["sizes"] else "")
    print(f"written to {path}")
    if args.markdown:
        write_markdown(args.out, args.markdown)


if __name__ == "__main__":
    main()
