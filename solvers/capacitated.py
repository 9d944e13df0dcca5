"""Capacitated p-median with lower and upper load bounds (single-source assignment).

Used for rule R1 (each community health service centre serves 30,000–100,000 residents).

Formulation, over the stored (reachable) pairs only — a pair the caller leaves out of the cost
matrix is never assigned (that is how "assign only within the sub-district" is expressed)::

    min  Σ w_i c_ij x_ij  (+ violation_cost · Σ_j (over_j + under_j) in soft mode)
    s.t. Σ_j x_ij = 1                                 every demand with weight or load > 0
         Σ_i l_i x_ij <= capacity_j y_j (+ over_j)    upper load bound
         Σ_i l_i x_ij >= min_load_j y_j (- under_j)   lower load bound
         x_ij <= y_j                                  strong linking, every pair
         Σ_j y_j = p,  y_j = 1 for fixed sites,  x, y binary

``w`` are the model's weights (objective) and ``l`` its loads (default: the weights). The strong
linking rows make the LP bound much tighter; they are always on (they are also what keeps a
zero-load demand, or a soft-mode overload, away from a closed site).

The solve:

1. **Diagnosis** before any solver runs: unreachable demand, a demand heavier than every
   capacity it can reach, fixed sites that cannot reach their ``min_load``, and — per group of
   demand and sites that share no reachable pair (e.g. sub-districts) — the fewest sites needed
   to stay within capacity and the most sites that can each reach their ``min_load``, compared
   with ``p``. Each gives status ``infeasible`` with a sentence in ``reason`` and data in
   ``details``.
2. **Heuristic** plan: p-median greedy + swap sites (or the caller's ``warm_start`` sites),
   single-source assignment by regret with capacity / min-load repair, shift and swap local
   search, locate–allocate rounds (move each centre to its cluster's best site) and site
   exchanges (close a centre, open one of the sites that would serve its cluster best; screened
   by a fast assignment), then the exact assignment of the best sites. It is the MIP's warm
   start and the result of the ``heuristic`` backend. On Lorena & Senne's SJC instances the
   exchanges take the plan from up to 9.8 % to 0.8–1.0 % above the optimum (SJC4a: 6 s), which
   lets HiGHS reach the optimum of SJC4a within 120 s.
3. **Reduced-cost fixing**: the LP relaxation is solved (HiGHS); a pair or site whose reduced
   cost pushes the LP bound above the heuristic's objective cannot be in any better plan and is
   dropped. On Lorena & Senne's SJC instances this removes ~80–90 % of the pairs.
4. The MIP on what is left (``solve_mip``, any backend).

Soft mode (``soft=True``) adds the slacks ``over_j`` / ``under_j`` at ``violation_cost`` per unit
of load. The default cost is ``Σ_i w_i (max_j c_ij − min_j c_ij) + 1`` — more than any change in
the distance term — so one unit less violation always wins: the result is the plan with the least
total violation and, among those, the cheapest (for violation differences of at least one load
unit). ``details["violations"]`` lists each violated bound.

Objective reported: the soft-model objective (distance cost + penalty) in soft mode, else the
distance cost ``Σ w_i c_ij``; ``details["distance_cost"]`` always holds the distance term.
Lorena & Senne's CPMP objective is the *unweighted* sum of client–median distances (their
SJC1 optimum 17288.99 is reproduced with ``weights=1, loads=demand``; weighting the distance by
demand gives about 1.13 million for the same plan).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from siting_errors import InputError
from solvers._common import plan_solution
from solvers._mip import MatrixMIP, highs_lp, solve_mip
from solvers.costs import CostMatrix
from solvers.heuristics import pmedian_greedy_swap
from solvers.models import CapacitatedPMedian
from solvers.options import SolveOptions
from solvers.result import Solution, Status

__all__ = ["solve_capacitated"]

logger = logging.getLogger(__name__)

INF = np.inf
_EPS = 1e-9
#: the heuristic works on a dense demand × open-site matrix; above this many cells it is skipped
_DENSE_LIMIT = 20_000_000
#: the heuristic keeps a dense active demand × site cost matrix up to this many cells
_DENSE_PAIRS_LIMIT = 4_000_000
#: pairwise swap moves are O(n²) per pass; only below this many demand points
_SWAP_LIMIT = 4_000
_LOCATE_ROUNDS = 25
#: site exchanges: improving moves accepted at most, and replacement sites tried per centre
_EXCHANGE_MOVES = 200
_EXCHANGE_TARGETS = 40
#: relative MIP gap of the heuristic's assignment sub-problems
_HEURISTIC_GAP = 1e-4
#: load-bound violation below which a plan counts as meeting the bounds
_VIOLATION_TOL = 1e-6
#: share of the time limit, and most seconds, the heuristic may spend on assignment MIPs
_HEURISTIC_SHARE = 0.25
_HEURISTIC_SECONDS = 30.0


# --------------------------------------------------------------------------- the active part
@dataclass(frozen=True, eq=False)
class _Pairs:
    """Pairs (demand r, site j, cost c) that may be assigned, sorted by demand then cost."""

    r: np.ndarray
    j: np.ndarray
    c: np.ndarray
    active: np.ndarray  # bool per demand: must be served (weight or load > 0)
    openable: np.ndarray  # bool per site: may be opened
    #: weighted cost, active demand × site (inf where not a pair), when small enough
    dense_wc: np.ndarray | None = None


def _pairs(model: CapacitatedPMedian) -> _Pairs:
    costs, load = model.costs, model.loads
    active = (model.weights > 0) | (load > 0)
    rows = costs.rows()
    keep = active[rows]
    r, j, c = rows[keep], costs.indices[keep].astype(np.int64), costs.data[keep]
    openable = np.ones(costs.n_sites, dtype=bool)
    if not model.soft:
        # a demand never goes to a site it would overload on its own
        ok = load[r] <= model.capacity[j] + _EPS
        r, j, c = r[ok], j[ok], c[ok]
        # a site that cannot reach its min_load can never be opened
        reach = np.bincount(j, weights=load[r], minlength=costs.n_sites)
        openable = reach >= model.min_load - _EPS
        openable[model.fixed] = True
        ok = openable[j]
        r, j, c = r[ok], j[ok], c[ok]
    order = np.lexsort((j, c, r))
    r, j, c = r[order], j[order], c[order]
    dense_wc = None
    n_active = int(active.sum())
    if n_active * costs.n_sites <= _DENSE_PAIRS_LIMIT:
        row = np.cumsum(active) - 1
        dense_wc = np.full((n_active, costs.n_sites), INF)
        dense_wc[row[r], j] = model.weights[r] * c
    return _Pairs(r, j, c, active, openable, dense_wc)


def _first(values: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(f"{v:g}" for v in np.asarray(values)[:limit].tolist())
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


# --------------------------------------------------------------------------- diagnosis
def _diagnose(model: CapacitatedPMedian, pairs: _Pairs) -> tuple[str, dict] | None:
    """A reason (and details) why no plan can exist, or None when none was found."""
    costs, load = model.costs, model.loads
    active = pairs.active
    counts = np.diff(costs.indptr)
    unreachable = np.flatnonzero(active & (counts == 0))
    if len(unreachable):
        return (
            f"{len(unreachable)} demand points (total load {load[unreachable].sum():g}) cannot "
            f"reach any candidate site: demand {_first(unreachable)}",
            {"unreachable": unreachable.tolist()},
        )
    if model.soft:
        return None
    served = np.zeros(costs.n_demand, dtype=bool)
    served[pairs.r] = True
    heavy = np.flatnonzero(active & ~served)
    if len(heavy):
        return (
            f"{len(heavy)} demand points are heavier than the capacity of every site they can "
            f"reach (or reach only sites that can never meet their min_load): demand "
            f"{_first(heavy)} with load {_first(load[heavy])}",
            {"too_heavy": heavy.tolist()},
        )
    fixed = model.fixed
    closed_fixed = fixed[~_reachable_min_ok(model, pairs)[fixed]]
    if len(closed_fixed):
        return (
            f"fixed sites {_first(closed_fixed)} cannot reach their min_load "
            f"({_first(model.min_load[closed_fixed])}) from the demand they can serve",
            {"fixed_below_min_load": closed_fixed.tolist()},
        )
    total = float(load[active].sum())
    fixed_min = float(model.min_load[fixed].sum())
    if fixed_min > total + _EPS:
        return (
            f"the fixed sites need at least {fixed_min:g} of load in total (their min_load) "
            f"but the total load is only {total:g}",
            {"fixed_min_load": fixed_min, "total_load": total},
        )
    return _diagnose_groups(model, pairs, total)


def _reachable_min_ok(model: CapacitatedPMedian, pairs: _Pairs) -> np.ndarray:
    reach = np.bincount(pairs.j, weights=model.loads[pairs.r], minlength=model.costs.n_sites)
    return reach >= model.min_load - _EPS


def _diagnose_groups(
    model: CapacitatedPMedian, pairs: _Pairs, total: float
) -> tuple[str, dict] | None:
    """Bounds on the number of open sites per group of demand and sites linked by reachable
    pairs (e.g. one group per sub-district), compared with ``p``.

    In a group, the fewest sites that can hold its load are its fixed sites plus the largest
    free capacities; the most sites that can each reach their ``min_load`` are its fixed sites
    plus the smallest free ``min_load`` values that the load can pay for. Both ignore which
    demand reaches which site inside the group, so they are necessary conditions only.
    """
    n_d, n_s = model.costs.shape
    load, cap, low, p = model.loads, model.capacity, model.min_load, model.p
    graph = sp.coo_array(
        (np.ones(len(pairs.r)), (pairs.r, n_d + pairs.j)), shape=(n_d + n_s, n_d + n_s)
    )
    _, label = connected_components(graph, directed=False)
    is_fixed = np.zeros(n_s, dtype=bool)
    is_fixed[model.fixed] = True
    dem = np.flatnonzero(pairs.active)
    site = np.flatnonzero(pairs.openable)
    d_group, s_group = label[dem], label[n_d + site]
    with_demand = np.unique(d_group)
    d_order, s_order = np.argsort(d_group, kind="stable"), np.argsort(s_group, kind="stable")
    d_bounds = (
        np.searchsorted(d_group[d_order], with_demand, side="left"),
        np.searchsorted(d_group[d_order], with_demand, side="right"),
    )
    s_sorted = s_group[s_order]
    groups = []
    for g, lo_d, hi_d in zip(with_demand, *d_bounds, strict=True):
        demand = dem[d_order[lo_d:hi_d]]
        sites = site[s_order[np.searchsorted(s_sorted, g) : np.searchsorted(s_sorted, g, "right")]]
        g_load = float(load[demand].sum())
        fx, free = sites[is_fixed[sites]], sites[~is_fixed[sites]]
        rest = g_load - float(cap[fx].sum())
        n_min = max(len(fx), 1)
        if rest > _EPS:
            cum = np.cumsum(np.sort(cap[free])[::-1])
            k = int(np.searchsorted(cum, rest - _EPS))
            if k >= len(free):
                return (
                    f"a group of {len(demand)} demand points (total load {g_load:g}; demand "
                    f"{_first(demand, 5)}) can reach only {len(sites)} sites, with total "
                    f"capacity {float(cap[sites].sum()):g}",
                    {"demand": demand.tolist(), "sites": sites.tolist(), "load": g_load},
                )
            n_min = max(n_min, len(fx) + k + 1)
        spare = g_load - float(low[fx].sum())
        if spare < -_EPS:
            return (
                f"the fixed sites {_first(fx)} need {float(low[fx].sum()):g} of load in total "
                f"(their min_load) but the demand they can reach totals only {g_load:g}",
                {"demand": demand.tolist(), "sites": fx.tolist(), "load": g_load},
            )
        n_max = len(fx) + int(np.searchsorted(np.cumsum(np.sort(low[free])), spare + _EPS, "right"))
        groups.append(
            {
                "demand": demand[:10].tolist(),
                "n_demand": len(demand),
                "load": g_load,
                "n_sites": len(sites),
                "min_open": n_min,
                "max_open": n_max,
            }
        )
    # sites that no demand can reach: open only if fixed or free of a min_load
    lone = site[~np.isin(s_group, with_demand)]
    lone_fixed = int(is_fixed[lone].sum())
    n_min_total = sum(g["min_open"] for g in groups) + lone_fixed
    n_max_total = sum(g["max_open"] for g in groups) + lone_fixed
    n_max_total += int(((low[lone] <= _EPS) & ~is_fixed[lone]).sum())
    split = len(groups) > 1
    where = (
        f" (the demand falls into {len(groups)} groups that share no reachable site; "
        "details['groups'] gives each group's bounds)"
        if split
        else ""
    )
    details = {"p": p, "total_load": total, "groups": groups}
    if n_min_total > p:
        if not split and lone_fixed == 0:
            top = float(cap[model.fixed].sum()) + float(
                np.sort(cap[pairs.openable & ~is_fixed])[::-1][: p - len(model.fixed)].sum()
            )
            reason = (
                f"total load {total:g} exceeds the largest possible capacity of p = {p} open "
                f"sites ({top:g}); at least {n_min_total} sites are needed"
            )
        else:
            reason = (
                f"staying within capacity needs at least {n_min_total} open sites{where}, "
                f"but p = {p}"
            )
        return reason, {"min_open": n_min_total, **details}
    if n_max_total < p:
        return (
            f"at most {n_max_total} open sites can each reach their min_load with a total load "
            f"of {total:g}{where}, but p = {p}",
            {"max_open": n_max_total, **details},
        )
    return None


# --------------------------------------------------------------------------- heuristic
@dataclass
class _Plan:
    """A heuristic plan: open sites and, per active demand, the site serving it."""

    open_sites: np.ndarray
    site_of: np.ndarray  # per demand, -1 if inactive
    cost: float  # distance term Σ w c
    violation: float  # total load-bound violation


class _Local:
    """Dense demand × open-site view used by the assignment heuristics."""

    def __init__(
        self, model: CapacitatedPMedian, pairs: _Pairs, open_sites: np.ndarray, penalty: float
    ) -> None:
        self.model = model
        self.sites = np.asarray(open_sites, dtype=np.int64)
        self.dem = np.flatnonzero(pairs.active)
        pos = np.full(model.costs.n_sites, -1, dtype=np.int64)
        pos[self.sites] = np.arange(len(self.sites))
        row = np.full(model.costs.n_demand, -1, dtype=np.int64)
        row[self.dem] = np.arange(len(self.dem))
        # weighted cost to each open site, inf where the pair is not allowed
        if pairs.dense_wc is not None:
            self.wc = pairs.dense_wc[:, self.sites]
        else:
            ok = pos[pairs.j] >= 0
            self.wc = np.full((len(self.dem), len(self.sites)), INF)
            self.wc[row[pairs.r[ok]], pos[pairs.j[ok]]] = model.weights[pairs.r[ok]] * pairs.c[ok]
        self.load = model.loads[self.dem]
        self.cap = model.capacity[self.sites]
        self.low = model.min_load[self.sites]
        self.penalty = penalty

    def violation(self, site_load: np.ndarray) -> np.ndarray:
        return np.maximum(site_load - self.cap, 0.0) + np.maximum(self.low - site_load, 0.0)

    # ----------------------------------------------------------- construction
    def regret_assign(self) -> np.ndarray | None:
        """Per active demand the open-site position; highest regret first, capacity respected
        when possible (else the cheapest site). None if some demand reaches no open site."""
        wc = self.wc
        if len(self.dem) == 0:
            return np.zeros(0, dtype=np.int64)
        if not np.isfinite(wc.min(axis=1)).all():
            return None
        two = np.sort(wc, axis=1)[:, :2] if wc.shape[1] > 1 else np.c_[wc, np.full(len(wc), INF)]
        regret = np.where(np.isfinite(two[:, 1]), two[:, 1] - two[:, 0], 1e300)
        order = np.lexsort((-self.load, -regret))
        pref = np.argsort(wc, axis=1, kind="stable")
        resid = self.cap.copy()
        out = np.empty(len(self.dem), dtype=np.int64)
        for a in order:
            la = self.load[a]
            row = pref[a]
            choice = row[0]
            for k in row:
                if not np.isfinite(wc[a, k]):
                    break
                if resid[k] >= la - _EPS:
                    choice = k
                    break
            out[a] = choice
            resid[choice] -= la
        return out

    # ----------------------------------------------------------- improvement
    def _site_load(self, at: np.ndarray) -> np.ndarray:
        return np.bincount(at, weights=self.load, minlength=len(self.sites))

    def shift(self, at: np.ndarray, max_passes: int = 50) -> np.ndarray:
        """Move single demand points to another open site while that lowers
        distance cost + penalty × violation (violation first when the penalty is large)."""
        n = len(at)
        idx = np.arange(n)
        for _ in range(max_passes):
            sl = self._site_load(at)
            viol = self.violation(sl)
            cur = self.wc[idx, at]
            # change of violation at the source and at every destination
            src = self.violation_vec(at, sl[at] - self.load) - viol[at]
            dst = self.violation(sl[None, :] + self.load[:, None]) - viol[None, :]
            delta = self.wc - cur[:, None] + self.penalty * (src[:, None] + dst)
            delta[idx, at] = INF
            best = np.argmin(delta, axis=1)
            gain = delta[idx, best]
            cand = np.flatnonzero(gain < -_EPS * (1.0 + np.abs(cur)))
            if len(cand) == 0:
                break
            moved = False
            for a in cand[np.argsort(gain[cand])]:
                b, s = best[a], at[a]
                la = self.load[a]
                sb = np.array([s, b])
                d_v = (
                    self.violation_vec(sb, sl[sb] + np.array([-la, la])).sum()
                    - self.violation_vec(sb, sl[sb]).sum()
                )
                d = self.wc[a, b] - self.wc[a, s] + self.penalty * d_v
                if d < -_EPS * (1.0 + abs(self.wc[a, s])):
                    at[a] = b
                    sl[s] -= la
                    sl[b] += la
                    moved = True
            if not moved:
                break
        return at

    def swap(self, at: np.ndarray, max_passes: int = 10) -> np.ndarray:
        """Exchange the sites of two demand points while that lowers the objective."""
        n = len(at)
        if n > _SWAP_LIMIT or n < 2:
            return at
        idx = np.arange(n)
        for _ in range(max_passes):
            improved = False
            sl = self._site_load(at)
            for a in range(n):
                s = at[a]
                t = at  # site of every other point
                d_cost = (
                    self.wc[a, t] - self.wc[a, s] + self.wc[idx, s] - self.wc[idx, t]
                )  # a goes to t, the other point goes to s
                diff = self.load - self.load[a]  # load change at s (t changes by -diff)
                d_v = (
                    self.violation_at(s, sl[s] + diff)
                    - self.violation_at(s, sl[s])
                    + self.violation_vec(t, sl[t] - diff)
                    - self.violation_vec(t, sl[t])
                )
                delta = d_cost + self.penalty * d_v
                delta[t == s] = INF
                k = int(np.argmin(delta))
                if delta[k] < -_EPS * (1.0 + abs(self.wc[a, s])):
                    tk = at[k]
                    sl[s] += self.load[k] - self.load[a]
                    sl[tk] += self.load[a] - self.load[k]
                    at[a], at[k] = tk, s
                    improved = True
            if not improved:
                break
        return at

    def violation_at(self, k: int, site_load: np.ndarray | float) -> np.ndarray:
        return np.maximum(site_load - self.cap[k], 0.0) + np.maximum(self.low[k] - site_load, 0.0)

    def violation_vec(self, ks: np.ndarray, site_load: np.ndarray) -> np.ndarray:
        return np.maximum(site_load - self.cap[ks], 0.0) + np.maximum(self.low[ks] - site_load, 0.0)

    def score(self, at: np.ndarray) -> tuple[float, float]:
        cost = float(self.wc[np.arange(len(at)), at].sum())
        return cost, float(self.violation(self._site_load(at)).sum())


def _improve(local: _Local, at: np.ndarray) -> np.ndarray:
    at = local.shift(at)
    for _ in range(5):
        before = local.score(at)
        at = local.shift(local.swap(at))
        if local.score(at) >= before:
            break
    return at


def _allocate(
    model: CapacitatedPMedian,
    pairs: _Pairs,
    open_sites: np.ndarray,
    penalty: float,
    exact_seconds: float = 0.0,
) -> _Plan | None:
    """Assign demand to the given open sites: regret + local search, then (with
    ``exact_seconds > 0``) the generalised assignment MIP warm-started from it."""
    local = _Local(model, pairs, open_sites, penalty)
    at = local.regret_assign()
    plan = None
    if at is not None:
        at = _improve(local, at)
        cost, viol = local.score(at)
        site_of = np.full(model.costs.n_demand, -1, dtype=np.int64)
        site_of[local.dem] = local.sites[at]
        plan = _Plan(np.sort(local.sites), site_of, cost, viol)
    if exact_seconds > 0:
        exact = _assign_exact(model, pairs, np.sort(local.sites), penalty, plan, exact_seconds)
        if exact is not None and _better(exact, plan, penalty):
            plan = exact
    return plan


def _assign_exact(
    model: CapacitatedPMedian,
    pairs: _Pairs,
    open_sites: np.ndarray,
    penalty: float,
    start: _Plan | None,
    seconds: float,
) -> _Plan | None:
    """The best single-source assignment to fixed open sites (a time-limited HiGHS MIP)."""
    is_open = np.zeros(model.costs.n_sites, dtype=bool)
    is_open[open_sites] = True
    keep = is_open[pairs.j]
    mip, lay = _build(model, pairs, pairs.r[keep], pairs.j[keep], pairs.c[keep], penalty, is_open)
    mip.col_lower[open_sites] = 1.0
    warm = None
    if start is not None and (model.soft or start.violation <= _VIOLATION_TOL):
        warm = _plan_vector(model, lay, start)
    out = solve_mip(mip, SolveOptions(time_limit=seconds, mip_gap=_HEURISTIC_GAP), warm)
    if out.x is None:
        return None
    return _plan_from_x(model, lay, out.x)


def _better(a: _Plan, b: _Plan | None, penalty: float) -> bool:
    if b is None:
        return True
    return a.cost + penalty * a.violation < b.cost + penalty * b.violation - _EPS * (
        1.0 + abs(b.cost)
    )


@dataclass(frozen=True, eq=False)
class _Clusters:
    """Per open site of a plan (its cluster): the weighted cost of serving the whole cluster
    from every site, how many members each site reaches, the cluster's size and load."""

    total: np.ndarray  # open site position × site
    count: np.ndarray  # open site position × site
    size: np.ndarray
    load: np.ndarray


def _clusters(model: CapacitatedPMedian, pairs: _Pairs, plan: _Plan) -> _Clusters:
    n_d, n_s = model.costs.shape
    dem = np.flatnonzero(plan.site_of >= 0)
    pos = np.full(n_s, -1, dtype=np.int64)
    pos[plan.open_sites] = np.arange(len(plan.open_sites))
    cluster = pos[plan.site_of[dem]]
    k = len(plan.open_sites)
    member = sp.csr_array((np.ones(len(dem)), (cluster, dem)), shape=(k, n_d))
    wc = sp.csr_array((model.weights[pairs.r] * pairs.c, (pairs.r, pairs.j)), shape=(n_d, n_s))
    reach = sp.csr_array((np.ones(len(pairs.r)), (pairs.r, pairs.j)), shape=(n_d, n_s))
    return _Clusters(
        total=(member @ wc).toarray(),
        count=(member @ reach).toarray(),
        size=np.bincount(cluster, minlength=k),
        load=np.bincount(cluster, weights=model.loads[dem], minlength=k),
    )


def _cluster_scores(
    model: CapacitatedPMedian, pairs: _Pairs, cl: _Clusters, k: int, penalty: float
) -> np.ndarray:
    """Cost of serving cluster ``k`` whole from each site (inf where a member cannot reach
    it or the site may not open), with the cluster's load-bound violation at that site."""
    ok = (cl.count[k] >= cl.size[k]) & pairs.openable
    score = np.where(ok, cl.total[k], INF)
    return score + penalty * (
        np.maximum(cl.load[k] - model.capacity, 0.0) + np.maximum(model.min_load - cl.load[k], 0)
    )


def _relocate(model: CapacitatedPMedian, pairs: _Pairs, plan: _Plan, penalty: float) -> np.ndarray:
    """Move every non-fixed centre to the site that serves its cluster most cheaply."""
    n_s = model.costs.n_sites
    is_open = np.zeros(n_s, dtype=bool)
    is_open[plan.open_sites] = True
    is_fixed = np.zeros(n_s, dtype=bool)
    is_fixed[model.fixed] = True
    cl = _clusters(model, pairs, plan)
    new_open = plan.open_sites.copy()
    for k, s in enumerate(plan.open_sites):
        if is_fixed[s]:
            continue
        score = _cluster_scores(model, pairs, cl, k, penalty)
        score[is_open & (np.arange(n_s) != s)] = INF
        t = int(np.argmin(score))
        if np.isfinite(score[t]) and t != s and score[t] < score[s] - _EPS * (1 + abs(score[s])):
            is_open[s], is_open[t] = False, True
            new_open[k] = t
    return np.sort(new_open)


def _fast_assign(
    model: CapacitatedPMedian, pairs: _Pairs, sites: np.ndarray, penalty: float
) -> tuple[float, np.ndarray]:
    """Quick value of an open-site set (regret assignment + single shifts) and, per demand,
    the site serving it (-1 where inactive); value inf if some demand reaches no open site."""
    local = _Local(model, pairs, sites, penalty)
    site_of = np.full(model.costs.n_demand, -1, dtype=np.int64)
    at = local.regret_assign()
    if at is None:
        return INF, site_of
    at = local.shift(at)
    site_of[local.dem] = local.sites[at]
    cost, viol = local.score(at)
    return cost + penalty * viol, site_of


def _exchange(
    model: CapacitatedPMedian, pairs: _Pairs, plan: _Plan, penalty: float, deadline: float
) -> np.ndarray | None:
    """Site exchange: close one non-fixed open site and open one of the few sites that would
    serve its cluster most cheaply, first improvement by :func:`_fast_assign`; repeated until no
    exchange helps (or the deadline). None if no exchange improved the plan."""
    n_s = model.costs.n_sites
    is_fixed = np.zeros(n_s, dtype=bool)
    is_fixed[model.fixed] = True
    sites = plan.open_sites.copy()
    current, site_of = _fast_assign(model, pairs, sites, penalty)
    improved = False
    tried: set[tuple[int, ...]] = {tuple(sites.tolist())}
    for _ in range(_EXCHANGE_MOVES):
        moved = False
        cl = _clusters(model, pairs, _Plan(sites, site_of, 0.0, 0.0))
        is_open = np.zeros(n_s, dtype=bool)
        is_open[sites] = True
        moves = []
        for k, s in enumerate(sites):
            if is_fixed[s]:
                continue
            score = _cluster_scores(model, pairs, cl, k, penalty)
            score[is_open] = INF
            for t in np.argsort(score)[:_EXCHANGE_TARGETS]:
                if np.isfinite(score[t]):
                    moves.append((score[t] - cl.total[k, s], int(s), int(t)))
        moves.sort()
        for _, s, t in moves:
            if time.perf_counter() > deadline:
                return sites if improved else None
            cand = np.sort(np.append(sites[sites != s], t))
            key = tuple(cand.tolist())
            if key in tried:
                continue
            tried.add(key)
            value, cand_site_of = _fast_assign(model, pairs, cand, penalty)
            if value < current - _EPS * (1.0 + abs(current)):
                sites, current, site_of, improved, moved = cand, value, cand_site_of, True, True
                break
        if not moved:
            break
    return sites if improved else None


def _initial_sites(
    model: CapacitatedPMedian, pairs: _Pairs, warm_start: np.ndarray | None
) -> np.ndarray:
    """``p`` sites to start from: the caller's (completed greedily if fewer than ``p``) or the
    p-median greedy + swap sites over the openable candidates, fixed sites included."""
    openable = np.flatnonzero(pairs.openable)
    pos = np.full(model.costs.n_sites, -1, dtype=np.int64)
    pos[openable] = np.arange(len(openable))
    keep = np.asarray(model.fixed, dtype=np.int64)
    if warm_start is not None:
        keep = np.union1d(keep, warm_start)
        if len(keep) == model.p:
            return keep
    sub = CostMatrix.from_triples(
        pairs.r, pos[pairs.j], pairs.c, (model.costs.n_demand, len(openable))
    )
    return np.sort(openable[pmedian_greedy_swap(sub, model.weights, model.p, pos[keep])])


def _locate_allocate(
    model: CapacitatedPMedian,
    pairs: _Pairs,
    sites: np.ndarray,
    penalty: float,
    best: _Plan | None,
    deadline: float,
    exact: bool,
) -> _Plan | None:
    """Assign (with ``exact``, as a MIP while time lasts), move each centre to its cluster's
    best site, repeat until no gain; the best plan seen (``best`` if nothing beats it)."""
    seen: set[tuple[int, ...]] = set()
    for _ in range(_LOCATE_ROUNDS):
        key = tuple(sites.tolist())
        if key in seen:
            break
        seen.add(key)
        left = max(deadline - time.perf_counter(), 0.0) if exact else 0.0
        plan = _allocate(model, pairs, sites, penalty, left)
        if plan is None or not _better(plan, best, penalty):
            break
        best = plan
        sites = _relocate(model, pairs, plan, penalty)
    return best


def _heuristic(
    model: CapacitatedPMedian,
    pairs: _Pairs,
    penalty: float,
    warm_start: np.ndarray | None,
    seconds: float,
    exact: bool,
) -> _Plan | None:
    """From :func:`_initial_sites`: locate–allocate rounds and site exchanges (fast
    assignment) until neither helps, then, with ``exact``, the exact assignment of the best
    sites and more locate–allocate rounds on it, all within ``seconds``."""
    n_active = int(pairs.active.sum())
    if n_active * model.p > _DENSE_LIMIT:
        logger.info("capacitated heuristic skipped: %d demand × %d sites", n_active, model.p)
        return None
    start = time.perf_counter()
    deadline = start + seconds
    # fast phase: at most two thirds of the time when exact assignments follow
    fast_deadline = start + (seconds * 2 / 3 if exact else seconds)
    best = _locate_allocate(
        model, pairs, _initial_sites(model, pairs, warm_start), penalty, None, fast_deadline, False
    )
    while best is not None and time.perf_counter() < fast_deadline:
        sites = _exchange(model, pairs, best, penalty, fast_deadline)
        if sites is None:
            break
        plan = _locate_allocate(model, pairs, sites, penalty, best, fast_deadline, False)
        if plan is best:
            break
        best = plan
    if exact and best is not None:
        logger.debug("capacitated heuristic: fast phase %.1f s, cost %.6g",
                     time.perf_counter() - start, best.cost)  # fmt: skip
        exact_plan = _allocate(
            model, pairs, best.open_sites, penalty, max(deadline - time.perf_counter(), 0.0)
        )
        if exact_plan is not None and _better(exact_plan, best, penalty):
            best = _locate_allocate(
                model, pairs, _relocate(model, pairs, exact_plan, penalty), penalty,
                exact_plan, deadline, True,
            )  # fmt: skip
    return best


def _default_penalty(model: CapacitatedPMedian, pairs: _Pairs) -> float:
    if model.soft and model.violation_cost is not None:
        return float(model.violation_cost)
    n = model.costs.n_demand
    hi = np.full(n, -INF)
    lo = np.full(n, INF)
    np.maximum.at(hi, pairs.r, pairs.c)
    np.minimum.at(lo, pairs.r, pairs.c)
    spread = np.where(pairs.active & np.isfinite(hi), hi - lo, 0.0)
    return float((model.weights * spread).sum()) + 1.0


# --------------------------------------------------------------------------- MIP
@dataclass(frozen=True, eq=False)
class _Layout:
    """Column layout of the MIP: y (sites) | x (pairs) | over | under (soft mode)."""

    n_sites: int
    r: np.ndarray
    j: np.ndarray
    c: np.ndarray
    soft: bool

    @property
    def n_x(self) -> int:
        return len(self.r)

    @property
    def x0(self) -> int:
        return self.n_sites

    @property
    def over0(self) -> int:
        return self.n_sites + self.n_x


def _build(
    model: CapacitatedPMedian,
    pairs: _Pairs,
    r: np.ndarray,
    j: np.ndarray,
    c: np.ndarray,
    penalty: float,
    site_ok: np.ndarray,
    strong: bool = True,
) -> tuple[MatrixMIP, _Layout]:
    n_d, n_s = model.costs.shape
    load, cap, low = model.loads, model.capacity, model.min_load
    lay = _Layout(n_s, r, j, c, model.soft)
    n_x = lay.n_x
    act = np.flatnonzero(pairs.active)
    row_of = np.full(n_d, -1, dtype=np.int64)
    row_of[act] = np.arange(len(act))
    n_a = len(act)
    soft = model.soft
    n_cols = n_s + n_x + (2 * n_s if soft else 0)
    xc = n_s + np.arange(n_x)
    sites = np.arange(n_s)
    # rows: assignment (n_a) | link (n_x) | capacity (n_s) | min load (n_s) | count (1)
    lk = np.arange(n_x) if strong or soft else np.flatnonzero(load[r] <= 0)
    n_l = len(lk)
    link0, cap0 = n_a, n_a + n_l
    low0 = cap0 + n_s
    p_row = low0 + n_s
    ri = [row_of[r], link0 + np.arange(n_l), link0 + np.arange(n_l), cap0 + j, cap0 + sites,
          low0 + j, low0 + sites, np.full(n_s, p_row)]  # fmt: skip
    ci = [xc, xc[lk], j[lk], xc, sites, xc, sites, sites]
    vi = [np.ones(n_x), np.ones(n_l), -np.ones(n_l), load[r], -cap, load[r], -low, np.ones(n_s)]
    if soft:
        ri += [cap0 + sites, low0 + sites]
        ci += [lay.over0 + sites, lay.over0 + n_s + sites]
        vi += [-np.ones(n_s), np.ones(n_s)]
    A = sp.csc_array(
        sp.coo_array(
            (np.concatenate(vi), (np.concatenate(ri), np.concatenate(ci))),
            shape=(p_row + 1, n_cols),
        )
    )
    row_lower = np.concatenate(
        [np.ones(n_a), np.full(n_l, -INF), np.full(n_s, -INF), np.zeros(n_s), [float(model.p)]]
    )
    row_upper = np.concatenate(
        [np.ones(n_a), np.zeros(n_l), np.zeros(n_s), np.full(n_s, INF), [float(model.p)]]
    )
    cost = np.zeros(n_cols)
    cost[xc] = model.weights[r] * c
    col_lower = np.zeros(n_cols)
    col_lower[model.fixed] = 1.0
    col_upper = np.ones(n_cols)
    col_upper[:n_s] = site_ok.astype(np.float64)
    col_upper[model.fixed] = 1.0
    integer = np.ones(n_cols, dtype=bool)
    if soft:
        cost[lay.over0 :] = penalty
        total = float(load[pairs.active].sum())
        col_upper[lay.over0 : lay.over0 + n_s] = total
        col_upper[lay.over0 + n_s :] = low
        integer[lay.over0 :] = False
    return MatrixMIP(cost, A, row_lower, row_upper, col_lower, col_upper, integer, "min"), lay


def _plan_vector(model: CapacitatedPMedian, lay: _Layout, plan: _Plan) -> np.ndarray | None:
    """The MIP column values of a heuristic plan (None if it uses a dropped pair)."""
    n_s = lay.n_sites
    n_cols = n_s + lay.n_x + (2 * n_s if lay.soft else 0)
    vec = np.zeros(n_cols)
    vec[plan.open_sites] = 1.0
    chosen = plan.site_of[lay.r] == lay.j
    if int(chosen.sum()) != int((plan.site_of >= 0).sum()):
        return None
    vec[lay.x0 + np.flatnonzero(chosen)] = 1.0
    if lay.soft:
        served = plan.site_of >= 0
        sl = np.bincount(plan.site_of[served], weights=model.loads[served], minlength=n_s)
        is_open = vec[:n_s] > 0.5
        vec[lay.over0 : lay.over0 + n_s] = np.where(
            is_open, np.maximum(sl - model.capacity, 0.0), 0.0
        )
        vec[lay.over0 + n_s :] = np.where(is_open, np.maximum(model.min_load - sl, 0.0), 0.0)
    return vec


def _lp_relaxation(
    mip: MatrixMIP, options: SolveOptions
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """LP bound, values and reduced costs of ``mip``'s relaxation (HiGHS), or None if unsolved."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    h.passModel(highs_lp(highspy, mip))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    bound = float(h.getInfo().objective_function_value)
    sol = h.getSolution()
    return (
        bound,
        np.asarray(sol.col_value, dtype=np.float64),
        np.asarray(sol.col_dual, dtype=np.float64),
    )


# --------------------------------------------------------------------------- solve
def _time_left(options: SolveOptions, start: float) -> SolveOptions:
    if options.time_limit is None:
        return options
    left = max(options.time_limit - (time.perf_counter() - start), 0.05)
    return SolveOptions(options.backend, left, options.mip_gap, options.threads, options.verbose)


def _violations(model: CapacitatedPMedian, open_sites: np.ndarray, site_load: np.ndarray) -> list:
    out = []
    for s in open_sites.tolist():
        load, cap, low = float(site_load[s]), float(model.capacity[s]), float(model.min_load[s])
        if load > cap + 1e-6:
            out.append({"site": s, "load": load, "bound": "capacity", "limit": cap,
                        "amount": load - cap})  # fmt: skip
        if load < low - 1e-6:
            out.append({"site": s, "load": load, "bound": "min_load", "limit": low,
                        "amount": low - load})  # fmt: skip
    return out


def _solution(
    model: CapacitatedPMedian,
    status: Status,
    *,
    start: float,
    backend: str,
    plan: _Plan | None = None,
    bound: float | None = None,
    reason: str | None = None,
    details: dict | None = None,
    penalty: float = 0.0,
) -> Solution:
    details = dict(details or {})
    if plan is None:
        return Solution(model="cpmedian", status=status, objective=None, bound=bound, gap=None,
                        time=time.perf_counter() - start, backend=backend, reason=reason,
                        details=details)  # fmt: skip
    served = plan.site_of >= 0
    site_load = np.bincount(
        plan.site_of[served], weights=model.loads[served], minlength=model.costs.n_sites
    )
    details["loads"] = {int(s): float(site_load[s]) for s in plan.open_sites}
    details["distance_cost"] = plan.cost
    objective = plan.cost
    if model.soft:
        viol = _violations(model, plan.open_sites, site_load)
        total = float(sum(v["amount"] for v in viol))
        details["violations"] = viol
        details["violation_total"] = total
        details["violation_cost"] = penalty
        objective = plan.cost + penalty * total
        if viol and reason is None:
            reason = (
                f"the hard load bounds cannot all be met: the closest plan violates "
                f"{len(viol)} of them by {total:g} in all (see details['violations'])"
            )
    if status == Status.OPTIMAL and bound is not None:
        bound = min(bound, objective)
    return plan_solution(
        "cpmedian",
        model.costs,
        plan.open_sites,
        status=status,
        start=start,
        backend=backend,
        objective=objective,
        bound=bound,
        assignment=plan.site_of,
        reason=reason,
        details=details,
    )


def _plan_from_x(model: CapacitatedPMedian, lay: _Layout, x: np.ndarray) -> _Plan:
    open_sites = np.flatnonzero(x[: lay.n_sites] > 0.5)
    chosen = x[lay.x0 : lay.x0 + lay.n_x] > 0.5
    site_of = np.full(model.costs.n_demand, -1, dtype=np.int64)
    site_of[lay.r[chosen]] = lay.j[chosen]
    cost = float((model.weights[lay.r[chosen]] * lay.c[chosen]).sum())
    served = site_of >= 0
    site_load = np.bincount(site_of[served], weights=model.loads[served],
                            minlength=lay.n_sites)  # fmt: skip
    viol = sum(v["amount"] for v in _violations(model, open_sites, site_load))
    return _Plan(open_sites, site_of, cost, float(viol))


def _check_warm_start(
    model: CapacitatedPMedian, pairs: _Pairs, warm_start: np.ndarray
) -> np.ndarray:
    sites = np.unique(np.asarray(warm_start).ravel())
    n_s = model.costs.n_sites
    if not np.issubdtype(sites.dtype, np.integer) or (
        len(sites) and (sites[0] < 0 or sites[-1] >= n_s)
    ):
        raise InputError(
            f"`warm_start` must be site indices in [0, {n_s}), got {sites[:10].tolist()}"
        )
    sites = np.union1d(sites.astype(np.int64), model.fixed)
    if len(sites) > model.p:
        raise InputError(
            f"`warm_start` together with the fixed sites names {len(sites)} sites, "
            f"more than p = {model.p}"
        )
    # sites that can never meet their min_load are left out (the heuristic completes the set)
    return sites[pairs.openable[sites]]


def solve_capacitated(
    model: CapacitatedPMedian, options: SolveOptions, warm_start: np.ndarray | None = None
) -> Solution:
    """Solve the capacitated p-median with load bounds; see the module docstring.

    Args:
        model: the validated model.
        options: backend, time limit, gap, threads, verbosity.
        warm_start: open site indices for the heuristic to start from (instead of the
            p-median greedy + swap sites).
    """
    start = time.perf_counter()
    pairs = _pairs(model)
    problem = _diagnose(model, pairs)
    if problem is not None:
        reason, details = problem
        logger.info("capacitated p-median infeasible: %s", reason)
        return _solution(model, Status.INFEASIBLE, start=start, backend=options.backend,
                         reason=reason, details=details)  # fmt: skip
    penalty = _default_penalty(model, pairs)
    details: dict = {"pairs": len(pairs.r)}
    if warm_start is not None:
        warm_start = _check_warm_start(model, pairs, warm_start)
    if options.backend == "heuristic":
        budget = options.time_limit or _HEURISTIC_SECONDS
    else:
        budget = _HEURISTIC_SHARE * (options.time_limit or _HEURISTIC_SECONDS / _HEURISTIC_SHARE)
        budget = min(budget, _HEURISTIC_SECONDS)
    exact = options.backend != "heuristic"
    plan = _heuristic(model, pairs, penalty, warm_start, budget, exact)
    details["heuristic_time"] = time.perf_counter() - start
    if plan is not None and not model.soft and plan.violation > _VIOLATION_TOL:
        plan = None  # the heuristic did not meet every bound: no usable plan
    if plan is not None:
        details["heuristic_objective"] = plan.cost + (
            penalty * plan.violation if model.soft else 0.0
        )
    if options.backend == "heuristic":
        if plan is None:
            return _solution(model, Status.NO_SOLUTION, start=start, backend="heuristic",
                             reason="the heuristic found no plan that meets every load bound; "
                             "use a MIP backend or soft=True", details=details)  # fmt: skip
        return _solution(model, Status.FEASIBLE, start=start, backend="heuristic", plan=plan,
                         details=details, penalty=penalty)  # fmt: skip
    r, j, c, site_ok = pairs.r, pairs.j, pairs.c, pairs.openable
    mip, lay = _build(model, pairs, r, j, c, penalty, site_ok)
    lp_bound = None
    if plan is not None:
        upper = plan.cost + (penalty * plan.violation if model.soft else 0.0)
        fixing = _lp_relaxation(mip, _time_left(options, start))
        if fixing is not None:
            lp_bound, _, rc = fixing
            details["lp_bound"] = lp_bound
            slack = upper - lp_bound + 1e-7 * max(1.0, abs(upper))
            if slack <= 2e-7 * max(1.0, abs(upper)):
                details["proof"] = "LP bound"
                return _solution(model, Status.OPTIMAL, start=start, backend=options.backend,
                                 plan=plan, bound=lp_bound, details=details,
                                 penalty=penalty)  # fmt: skip
            keep_y = site_ok & (rc[: lay.n_sites] <= slack)
            keep_y[model.fixed] = True
            keep_y[plan.open_sites] = True
            keep_x = (rc[lay.x0 : lay.x0 + lay.n_x] <= slack) & keep_y[j]
            keep_x |= plan.site_of[r] == j
            r, j, c, site_ok = r[keep_x], j[keep_x], c[keep_x], keep_y
            details["pairs_kept"] = int(keep_x.sum())
            details["sites_kept"] = int(keep_y.sum())
            mip, lay = _build(model, pairs, r, j, c, penalty, site_ok)
    warm = _plan_vector(model, lay, plan) if plan is not None else None
    out = solve_mip(mip, _time_left(options, start), warm)
    bound = out.bound
    if lp_bound is not None:
        bound = lp_bound if bound is None else max(bound, lp_bound)
    if bound is None:  # time ran out before any LP bound: every demand at its nearest site
        nearest = model.costs.row_min()
        bound = float(model.weights @ np.where(np.isfinite(nearest), nearest, 0.0))
        details["bound_source"] = "nearest site per demand (no LP bound within the time limit)"
    if out.x is None:
        if plan is not None:  # time limit before the MIP found anything: the heuristic plan
            return _solution(model, Status.FEASIBLE, start=start, backend=out.backend,
                             plan=plan, bound=bound, details=details,
                             penalty=penalty)  # fmt: skip
        reason = out.message
        if out.status == Status.INFEASIBLE:
            reason = (
                f"no assignment meets every load bound (capacity / min_load) with p = {model.p} "
                "(none of the quick checks names a single cause); use soft=True for the closest "
                "plan"
            )
        return _solution(model, out.status, start=start, backend=out.backend, bound=bound,
                         reason=reason, details=details)  # fmt: skip
    found = _plan_from_x(model, lay, out.x)
    status = out.status
    if plan is not None and status != Status.OPTIMAL and _better(plan, found, penalty):
        found = plan
    return _solution(model, status, start=start, backend=out.backend, plan=found, bound=bound,
                     details=details, penalty=penalty)  # fmt: skip
