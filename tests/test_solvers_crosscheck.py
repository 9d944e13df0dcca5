"""Randomized cross-checks: ``solve()`` against an independent formulation on small instances.

The independent models are written here, assignment-style, with PuLP and CBC (``x_ij`` per
reachable pair, ``x_ij <= y_j``), and share nothing with ``solvers``: not its formulations
(class-merged covering rows, the radius p-median, the p-center bisection), its reductions or its
certificate. The plans ``solve()`` returns are checked here too, with their objective
recomputed from the plan. Every reported status is checked:

- ``optimal``: the independent model is feasible and its optimum equals the objective; the
  bound equals it too;
- ``feasible``: the plan is valid, its objective is no better than the independent optimum and
  the bound (when given) is valid; only the ``heuristic`` backend may answer ``feasible``
  (the exact backends run without a time limit, so they must prove optimality);
- ``infeasible``: the independent model is infeasible too;
- ``no_solution``: only from the ``heuristic`` backend (no time limit is set), and only when
  the independent model is infeasible or the heuristic found no plan.

The instances are seeded (deterministic). Each model runs ``_QUICK`` instances in the default
suite and ``_SLOW`` more under ``slow``: costs dense or sparse (a missing pair is unreachable),
integer or decimal sums (so ``0.1 + 0.2`` meets a threshold of ``0.3``), weights with zeros,
fixed sites, ``p`` at and above the smallest ``p`` that reaches every demand point (and one
below it), and a share of instances on the ``cbc`` and ``heuristic`` backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pulp
import pytest

from solvers import LSCP, MCLP, CapacitatedPMedian, CostMatrix, Model, PCenter, PMedian, solve

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: instances per model and chunk; chunks per model in the quick suite and under ``slow``
_CHUNK = 20
_QUICK = {"lscp": 10, "mclp": 10, "pmedian": 15, "pcenter": 15, "cpmedian": 10}
_SLOW = {"lscp": 40, "mclp": 40, "pmedian": 40, "pcenter": 40, "cpmedian": 40}
_TOL = 1e-6


def _limit(threshold: float) -> float:
    """The documented coverage comparison (README: ``cost <= t + 1e-9 × max(1, t)``)."""
    return threshold + 1e-9 * max(1.0, abs(threshold))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOL * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------- instances
@dataclass
class Instance:
    """A random instance: dense costs (``inf``: unreachable) and the model's parameters."""

    kind: str
    D: np.ndarray
    w: np.ndarray
    fixed: list[int]
    backend: str = "highs"
    p: int | None = None
    threshold: float | None = None
    loads: np.ndarray | None = None
    capacity: np.ndarray | None = None
    min_load: np.ndarray | None = None
    soft: bool = False
    violation_cost: float | None = None
    note: dict = field(default_factory=dict)

    @property
    def reach(self) -> np.ndarray:
        return np.isfinite(self.D)

    def model(self) -> Model:
        costs = CostMatrix.from_dense(self.D)
        common = {"weights": self.w, "fixed": self.fixed}
        if self.kind == "lscp":
            return LSCP(costs, threshold=self.threshold, **common)
        if self.kind == "mclp":
            return MCLP(costs, threshold=self.threshold, p=self.p, **common)
        if self.kind == "pmedian":
            return PMedian(costs, p=self.p, **common)
        if self.kind == "pcenter":
            return PCenter(costs, p=self.p, **common)
        return CapacitatedPMedian(
            costs,
            p=self.p,
            capacity=self.capacity,
            min_load=self.min_load,
            loads=self.loads,
            soft=self.soft,
            violation_cost=self.violation_cost,
            **common,
        )


def _costs(rng: np.random.Generator, n: int, m: int, density: float) -> np.ndarray:
    """Integer costs, or sums of tenths (round-off: 0.1 + 0.2 != 0.3); pairs kept with
    probability ``density``."""
    if rng.random() < 0.5:
        D = rng.integers(0, 25, size=(n, m)).astype(np.float64)
    else:
        D = rng.integers(0, 10, size=(n, m)) * 0.1 + rng.integers(0, 10, size=(n, m)) * 0.1
    if density < 1.0:
        D[rng.random((n, m)) >= density] = np.inf
    return D


def _weights(rng: np.random.Generator, n: int) -> np.ndarray:
    w = rng.integers(0, 6, size=n).astype(np.float64)
    if rng.random() < 0.3:
        w = np.round(w * rng.random(n) * 2, 1)
    if not (w > 0).any():
        w[0] = 1.0
    return w


def _fixed(rng: np.random.Generator, m: int) -> list[int]:
    k = int(rng.choice([0, 0, 1, 2]))
    return sorted(int(j) for j in rng.choice(m, size=min(k, m - 1), replace=False))


def _backend(seed: int) -> str:
    return {0: "heuristic", 5: "cbc"}.get(seed % 10, "highs")


def _threshold(rng: np.random.Generator, D: np.ndarray) -> float:
    """A threshold equal to some cost level (ties at the threshold are the point), written as
    a fresh decimal (so a sum of tenths may sit 1 ulp above it)."""
    values = np.unique(D[np.isfinite(D) & (D > 0)])
    return float(round(float(rng.choice(values)), 6)) if len(values) else 1.0


def _lscp(seed: int) -> Instance:
    rng = np.random.default_rng(1000 + seed)
    if seed % 3 == 0:  # demand = candidates: points on a grid, every point a site
        n = int(rng.integers(5, 12))
        xy = rng.integers(0, 12, size=(n, 2)).astype(np.float64)
        D = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2))
        w = np.ones(n)
    else:
        n, m = int(rng.integers(4, 14)), int(rng.integers(3, 9))
        D = _costs(rng, n, m, float(rng.choice([1.0, 0.6])))
        w = _weights(rng, n)
    return Instance("lscp", D, w, _fixed(rng, D.shape[1]), _backend(seed),
                    threshold=_threshold(rng, D))  # fmt: skip


def _mclp(seed: int) -> Instance:
    rng = np.random.default_rng(2000 + seed)
    n, m = int(rng.integers(4, 14)), int(rng.integers(3, 9))
    D = _costs(rng, n, m, float(rng.choice([1.0, 0.6])))
    fixed = _fixed(rng, m)
    p = int(rng.integers(max(1, len(fixed)), m + 1))
    return Instance("mclp", D, _weights(rng, n), fixed, _backend(seed), p=p,
                    threshold=_threshold(rng, D))  # fmt: skip


def _smallest_reaching_p(inst: Instance) -> int | None:
    """The fewest sites (fixed included) reaching every demand with weight > 0 (independent
    set cover), or None when some such demand reaches no site."""
    status, value = _cbc_cover(inst.reach, inst.w > 0, inst.fixed)
    return None if status == "infeasible" else max(1, round(value))


def _p_family(kind: str, seed: int, base: int) -> Instance:
    """p-median / p-center: dense (a third) or sparse costs; ``p`` at the smallest value that
    reaches every demand point, one above, or one below (infeasible)."""
    rng = np.random.default_rng(base + seed)
    n, m = int(rng.integers(4, 14)), int(rng.integers(3, 9))
    density = 1.0 if seed % 3 == 0 else float(rng.uniform(0.25, 0.7))
    D = _costs(rng, n, m, density)
    fixed = _fixed(rng, m)
    inst = Instance(kind, D, _weights(rng, n), fixed, _backend(seed))
    smallest = _smallest_reaching_p(inst)
    low = max(1, len(fixed))
    if smallest is None:
        p = int(rng.integers(low, m + 1))
    else:
        p = smallest + int(rng.choice([0, 0, 1, -1]))
    inst.p = min(max(p, low), m)
    inst.note = {"smallest_p": smallest, "density": round(density, 2)}
    return inst


def _cpmedian(seed: int) -> Instance:
    rng = np.random.default_rng(5000 + seed)
    n, m = int(rng.integers(4, 10)), int(rng.integers(3, 7))
    D = _costs(rng, n, m, 1.0 if seed % 2 == 0 else float(rng.uniform(0.5, 0.9)))
    fixed = _fixed(rng, m)
    p = int(rng.integers(max(1, len(fixed)), m + 1))
    w = _weights(rng, n)
    loads = rng.integers(0, 8, size=n).astype(np.float64) if seed % 3 else None
    total = float((w if loads is None else loads).sum())
    capacity = np.round(total / p * rng.uniform(0.7, 1.8, size=m), 1)
    min_load = np.minimum(np.round(total / p * rng.uniform(0.0, 0.6, size=m), 1), capacity)
    if seed % 4 == 0:
        min_load = np.zeros(m)
    soft = seed % 5 == 1
    cost = None if seed % 10 == 1 else (7.5 if soft else None)
    return Instance("cpmedian", D, w, fixed, _backend(seed), p=p, loads=loads, capacity=capacity,
                    min_load=min_load, soft=soft, violation_cost=cost)  # fmt: skip


# --------------------------------------------------------------------------- independent models
def _cbc(prob: pulp.LpProblem) -> tuple[str, float | None]:
    prob.solve(pulp.PULP_CBC_CMD(msg=False))
    status = pulp.LpStatus[prob.status]
    if status == "Infeasible":
        return "infeasible", None
    assert status == "Optimal", f"CBC ended with {status}"
    return "optimal", float(pulp.value(prob.objective) or 0.0)


def _cbc_cover(allowed: np.ndarray, rows: np.ndarray, fixed: list[int]) -> tuple[str, float | None]:
    """Fewest open sites such that every row in ``rows`` is assigned to an open allowed site."""
    n, m = allowed.shape
    if any(rows[i] and not allowed[i].any() for i in range(n)):
        return "infeasible", None
    prob = pulp.LpProblem("cover", pulp.LpMinimize)
    y = [pulp.LpVariable(f"y{j}", cat="Binary") for j in range(m)]
    prob += pulp.lpSum(y)
    _assign(prob, allowed, rows, y, fixed)
    return _cbc(prob)


def _assign(
    prob: pulp.LpProblem, allowed: np.ndarray, rows: np.ndarray, y: list, fixed: list[int]
) -> dict:
    """``x_ij`` for the allowed pairs of ``rows``: each such row assigned once, ``x <= y``."""
    x = {}
    for i, j in zip(*np.nonzero(allowed & rows[:, None]), strict=True):
        x[i, j] = pulp.LpVariable(f"x{i}_{j}", cat="Binary")
        prob += x[i, j] <= y[j]
    for i in np.flatnonzero(rows):
        prob += pulp.lpSum(x[i, j] for j in np.flatnonzero(allowed[i])) == 1
    for j in fixed:
        prob += y[j] == 1
    return x


def independent(inst: Instance) -> tuple[str, float | None]:
    """Status (``optimal`` / ``infeasible``) and optimum of the independent model."""
    n, m = inst.D.shape
    active = inst.w > 0
    if inst.kind == "lscp":
        return _cbc_cover(_limit(inst.threshold) >= inst.D, active, inst.fixed)
    sense = pulp.LpMaximize if inst.kind == "mclp" else pulp.LpMinimize
    prob = pulp.LpProblem(inst.kind, sense)
    y = [pulp.LpVariable(f"y{j}", cat="Binary") for j in range(m)]
    prob += pulp.lpSum(y) == inst.p
    if inst.kind == "mclp":  # x_ij for covering pairs; each demand counted at most once
        cover = _limit(inst.threshold) >= inst.D
        x = {
            (i, j): pulp.LpVariable(f"x{i}_{j}", cat="Binary")
            for i, j in zip(*np.nonzero(cover), strict=True)
        }
        for (_, j), var in x.items():
            prob += var <= y[j]
        for i in range(n):
            prob += pulp.lpSum(x[i, j] for j in np.flatnonzero(cover[i])) <= 1
        for j in inst.fixed:
            prob += y[j] == 1
        prob += pulp.lpSum(inst.w[i] * var for (i, _), var in x.items())
        return _cbc(prob)
    rows = active if inst.kind != "cpmedian" else active | (_loads(inst) > 0)
    if any(rows[i] and not inst.reach[i].any() for i in range(n)):
        return "infeasible", None
    x = _assign(prob, inst.reach, rows, y, inst.fixed)
    distance = pulp.lpSum(inst.w[i] * inst.D[i, j] * var for (i, j), var in x.items())
    if inst.kind == "pmedian":
        prob += distance
    elif inst.kind == "pcenter":
        r = pulp.LpVariable("r", lowBound=0)
        for i in np.flatnonzero(rows):
            prob += r >= pulp.lpSum(inst.D[i, j] * x[i, j] for j in np.flatnonzero(inst.reach[i]))
        prob += r
    else:
        loads = _loads(inst)
        penalty = []
        for j in range(m):
            load = pulp.lpSum(loads[i] * var for (i, jj), var in x.items() if jj == j)
            if inst.soft:
                over = pulp.LpVariable(f"over{j}", lowBound=0)
                under = pulp.LpVariable(f"under{j}", lowBound=0)
                prob += load <= inst.capacity[j] * y[j] + over
                prob += load >= inst.min_load[j] * y[j] - under
                penalty += [over, under]
            else:
                prob += load <= inst.capacity[j] * y[j]
                prob += load >= inst.min_load[j] * y[j]
        prob += distance + _violation_cost(inst) * pulp.lpSum(penalty)
    return _cbc(prob)


def _loads(inst: Instance) -> np.ndarray:
    return inst.w if inst.loads is None else inst.loads


def _violation_cost(inst: Instance) -> float:
    """Soft mode: the given cost, else the documented default ``Σ_i w_i (max_j c_ij −
    min_j c_ij) + 1`` over the demand with weight or load > 0."""
    if not inst.soft:
        return 0.0
    if inst.violation_cost is not None:
        return inst.violation_cost
    total = 1.0
    for i in np.flatnonzero((inst.w > 0) | (_loads(inst) > 0)):
        c = inst.D[i][inst.reach[i]]
        if len(c):
            total += inst.w[i] * (c.max() - c.min())
    return total


# --------------------------------------------------------------------------- the plan, checked here
def plan_value(inst: Instance, sites: np.ndarray, assignment: np.ndarray) -> float:
    """The objective of a returned plan, recomputed from the instance (AssertionError when the
    plan breaks the model)."""
    n, m = inst.D.shape
    sites = np.asarray(sites)
    assert len(set(sites.tolist())) == len(sites) and all(0 <= j < m for j in sites)
    assert set(inst.fixed) <= set(sites.tolist()), "a fixed site is closed"
    if inst.p is not None:
        assert len(sites) == inst.p, f"{len(sites)} open sites, p = {inst.p}"
    active = inst.w > 0
    near = inst.D[:, sites].min(axis=1) if len(sites) else np.full(n, np.inf)
    if inst.kind == "lscp":
        assert (near[active] <= _limit(inst.threshold)).all(), "demand left uncovered"
        return float(len(sites))
    if inst.kind == "mclp":
        return float(inst.w[near <= _limit(inst.threshold)].sum())
    if inst.kind in ("pmedian", "pcenter"):
        assert np.isfinite(near[active]).all(), "demand left with no open site in reach"
        if inst.kind == "pmedian":
            return float(inst.w[active] @ near[active])
        return float(near[active].max()) if active.any() else 0.0
    loads = _loads(inst)
    rows = np.flatnonzero(active | (loads > 0))
    assert len(assignment) == n and np.isin(assignment[rows], sites).all(), "bad assignment"
    assert np.isfinite(inst.D[rows, assignment[rows]]).all(), "assigned over an unreachable pair"
    distance = float(inst.w[rows] @ inst.D[rows, assignment[rows]])
    site_load = np.array([loads[rows][assignment[rows] == j].sum() for j in sites])
    over = np.maximum(site_load - inst.capacity[sites], 0) + np.maximum(
        inst.min_load[sites] - site_load, 0
    )
    if not inst.soft:
        assert (over <= 1e-6).all(), "a load bound is broken"
        return distance
    return distance + _violation_cost(inst) * float(over.sum())


def check(inst: Instance) -> str | None:
    """None when ``solve()`` agrees with the independent model, else what disagrees."""
    status, optimum = independent(inst)
    sol = solve(inst.model(), backend=inst.backend)
    exact = inst.backend != "heuristic"
    got = f"{sol.status.value} {sol.objective} (bound {sol.bound}); independent {status} {optimum}"
    if sol.status == "infeasible":
        return None if status == "infeasible" else got
    if sol.status == "no_solution":
        return None if not exact else got
    if status == "infeasible":
        return got + ": a plan for an infeasible instance"
    try:
        value = plan_value(inst, sol.open_sites, sol.assignment)
    except AssertionError as exc:
        return f"{got}: invalid plan ({exc})"
    assert optimum is not None
    maximise = inst.kind == "mclp"
    if not _close(value, sol.objective):
        return f"{got}: the plan's objective is {value}"
    if (
        value < optimum - _TOL * max(1, abs(optimum))
        if not maximise
        else value > optimum + _TOL * max(1, abs(optimum))
    ):
        return f"{got}: better than the optimum"
    if sol.bound is not None:
        wrong = (
            sol.bound > optimum + _TOL * max(1, abs(optimum))
            if not maximise
            else sol.bound < optimum - _TOL * max(1, abs(optimum))
        )
        if wrong:
            return f"{got}: the bound is not valid"
    if sol.status == "optimal":
        if not (_close(value, optimum) and sol.bound is not None and _close(sol.bound, optimum)):
            return f"{got}: not the optimum"
        if sol.gap != 0.0:
            return f"{got}: optimal with gap {sol.gap}"
    elif exact:
        return f"{got}: an exact backend without a time limit must prove optimality"
    return None


# --------------------------------------------------------------------------- the tests
_MAKERS: dict[str, Callable[[int], Instance]] = {
    "lscp": _lscp,
    "mclp": _mclp,
    "pmedian": lambda seed: _p_family("pmedian", seed, 3000),
    "pcenter": lambda seed: _p_family("pcenter", seed, 4000),
    "cpmedian": _cpmedian,
}


def _chunks() -> list:
    out = []
    for kind, quick in _QUICK.items():
        for chunk in range(quick + _SLOW[kind]):
            marks = () if chunk < quick else (pytest.mark.slow,)
            out.append(pytest.param(kind, chunk, marks=marks, id=f"{kind}-{chunk}"))
    return out


@pytest.mark.parametrize(("kind", "chunk"), _chunks())
def test_solve_agrees_with_an_independent_model(kind: str, chunk: int) -> None:
    mismatches = []
    for seed in range(chunk * _CHUNK, (chunk + 1) * _CHUNK):
        inst = _MAKERS[kind](seed)
        problem = check(inst)
        if problem is not None:
            mismatches.append(f"{kind} seed {seed} ({inst.backend}, {inst.note}): {problem}")
    assert not mismatches, "\n".join(mismatches)


def _cases(inst: Instance) -> set[str]:
    """What an instance exercises (without solving it)."""
    out = {inst.backend}
    if inst.fixed:
        out.add("fixed")
    if (inst.w == 0).any():
        out.add("zero-weight")
    smallest = inst.note.get("smallest_p")
    if smallest is not None:
        density = "dense" if inst.note["density"] == 1.0 else "sparse"
        where = "=" if inst.p == smallest else ">" if inst.p > smallest else "<"
        out.add(f"{density}:p{where}")
    return out


def test_the_quick_instances_exercise_every_case() -> None:
    """The first quick chunks cover what the cross-checks are for: feasible and infeasible
    instances, p at, above and below the smallest reaching p on sparse costs (at it on dense),
    fixed sites, zero weights and every backend."""
    common = {"highs", "cbc", "heuristic", "optimal", "fixed", "zero-weight"}
    wanted = {kind: set(common) for kind in _QUICK}
    for kind in ("pmedian", "pcenter"):
        wanted[kind] |= {"dense:p=", "sparse:p=", "sparse:p>", "sparse:p<", "infeasible"}
    wanted["lscp"].add("infeasible")
    wanted["cpmedian"].add("infeasible")
    for kind, cases in wanted.items():
        seen: set[str] = set()
        for seed in range(2 * _CHUNK):
            inst = _MAKERS[kind](seed)
            seen |= _cases(inst)
            if not {"optimal", "infeasible"} <= seen:  # only solve while these are missing
                seen.add(independent(inst)[0])
            if cases <= seen:
                break
        assert cases <= seen, (kind, cases - seen)
