"""MIP formulations of LSCP, MCLP, p-median and p-center, built as sparse arrays, and their solves.

Every builder is vectorised (no Python loop over demand points) and returns a
:class:`~solvers._mip.MatrixMIP`; every ``solve_*`` function returns a :class:`Solution`.

p-median uses the strong formulation (``x_ij <= y_j``) restricted to each demand's nearest
candidates, plus a "far" variable ``u_i`` priced at the cheapest cost *not* kept. That
truncated model is a relaxation: for any set of open sites its cost never exceeds the true cost
(a demand whose kept sites are all closed pays at most what any other site would cost). So when
its optimum uses no ``u_i``, that optimum's true cost equals its relaxed cost, which is a lower
bound on every solution — it is the true optimum. Otherwise the demand that used ``u_i`` keeps
more candidates and the model is solved again (a few rounds in practice). The first depth comes
from the greedy + swap heuristic, whose solution is also the MIP's warm start. Pairs farther
than the demand's nearest fixed (always open) site are never needed and are dropped.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from solvers._mip import MatrixMIP, MIPOutcome, relative_gap, solve_mip
from solvers.costs import CostMatrix
from solvers.heuristics import mclp_greedy, pmedian_greedy_swap
from solvers.models import LSCP, MCLP, PCenter, PMedian
from solvers.options import SolveOptions
from solvers.reductions import coverage_classes
from solvers.result import Solution, Status

__all__ = ["nearest_assignment", "solve_lscp", "solve_mclp", "solve_pcenter", "solve_pmedian"]

logger = logging.getLogger(__name__)

INF = np.inf


# --------------------------------------------------------------------------- shared helpers
def nearest_assignment(costs: CostMatrix, open_sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand: index of the nearest open site (-1 if none reachable) and its cost (inf)."""
    open_sites = np.asarray(open_sites, dtype=np.int64)
    sub = costs.restrict_sites(open_sites)
    assign = np.full(costs.n_demand, -1, dtype=np.int64)
    cost = np.full(costs.n_demand, INF)
    if sub.nnz:
        rows = sub.rows()
        order = np.lexsort((sub.indices, sub.data, rows))
        first = np.ones(len(order), dtype=bool)
        first[1:] = rows[order][1:] != rows[order][:-1]
        sel = order[first]
        assign[rows[sel]] = open_sites[sub.indices[sel]]
        cost[rows[sel]] = sub.data[sel]
    return assign, cost


def _describe(indices: np.ndarray, weights: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(f"{int(i)} (weight {weights[i]:g})" for i in indices[:limit])
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return shown + more


def _cover_mip(
    cover: sp.csr_array, n_sites: int, fixed: np.ndarray, max_sites: int | None = None
) -> MatrixMIP:
    """min Σ y s.t. every row covered (cover rows ≥ 1), optional Σ y ≤ max_sites."""
    A = sp.csr_array(cover, dtype=np.float64)
    n_rows = A.shape[0]
    lower = np.ones(n_rows)
    upper = np.full(n_rows, INF)
    if max_sites is not None:
        A = sp.vstack([A, sp.csr_array(np.ones((1, n_sites)))], format="csr")
        lower = np.append(lower, -INF)
        upper = np.append(upper, float(max_sites))
    col_lower = np.zeros(n_sites)
    col_lower[fixed] = 1.0
    return MatrixMIP(
        np.ones(n_sites),
        sp.csc_array(A),
        lower,
        upper,
        col_lower,
        np.ones(n_sites),
        np.ones(n_sites, dtype=bool),
        "min",
    )


def _solution(
    model: str,
    out: MIPOutcome | None,
    *,
    status: Status,
    objective: float | None,
    bound: float | None,
    gap: float | None,
    start: float,
    backend: str,
    open_sites: np.ndarray | None,
    assignment: np.ndarray | None,
    reason: str | None = None,
    details: dict | None = None,
) -> Solution:
    return Solution(
        model=model,
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        time=time.perf_counter() - start,
        backend=backend,
        open_sites=np.array([] if open_sites is None else open_sites, dtype=np.int64),
        assignment=np.array([] if assignment is None else assignment, dtype=np.int64),
        reason=reason
        if reason is not None
        else (
            out.message
            if out is not None and status not in (Status.OPTIMAL, Status.FEASIBLE)
            else None
        ),
        details=details or {},
    )


def _time_left(options: SolveOptions, start: float) -> SolveOptions:
    if options.time_limit is None:
        return options
    left = max(options.time_limit - (time.perf_counter() - start), 0.05)
    return SolveOptions(options.backend, left, options.mip_gap, options.threads, options.verbose)


# --------------------------------------------------------------------------- LSCP
def solve_lscp(model: LSCP, options: SolveOptions) -> Solution:
    """Fewest open sites (fixed included) covering every demand with weight > 0."""
    start = time.perf_counter()
    costs, w, fixed = model.costs, model.weights, model.fixed
    classes = coverage_classes(costs.within(model.threshold), w, fixed)
    if len(classes.uncoverable):
        bad = classes.uncoverable
        reason = (
            f"{len(bad)} demand points (total weight {w[bad].sum():g}) have no candidate "
            f"within the threshold {model.threshold:g}: {_describe(bad, w)}"
        )
        return _solution(
            "lscp",
            None,
            status=Status.INFEASIBLE,
            objective=None,
            bound=None,
            gap=None,
            start=start,
            backend=options.backend,
            open_sites=None,
            assignment=None,
            reason=reason,
            details={"uncoverable": bad.tolist()},
        )
    n_sites = costs.n_sites
    if classes.matrix.shape[0] == 0:
        open_sites = fixed
        out = None
        st, obj, bnd = Status.OPTIMAL, float(len(fixed)), float(len(fixed))
    else:
        if options.backend == "heuristic":
            open_sites = _greedy_cover(classes.matrix, fixed)
            obj = float(len(open_sites))
            return _solution(
                "lscp",
                None,
                status=Status.FEASIBLE,
                objective=obj,
                bound=None,
                gap=None,
                start=start,
                backend="heuristic",
                open_sites=open_sites,
                assignment=nearest_assignment(costs, open_sites)[0],
                details=_cover_details(classes),
            )
        mip = _cover_mip(classes.matrix, n_sites, fixed)
        warm = np.zeros(n_sites)
        warm[_greedy_cover(classes.matrix, fixed)] = 1.0
        out = solve_mip(mip, options, warm_start=warm)
        if out.x is None:
            return _solution(
                "lscp",
                out,
                status=out.status,
                objective=None,
                bound=out.bound,
                gap=None,
                start=start,
                backend=out.backend,
                open_sites=None,
                assignment=None,
            )
        open_sites = np.flatnonzero(out.x > 0.5)
        st, obj, bnd = out.status, float(len(open_sites)), out.bound
    assign = nearest_assignment(costs, open_sites)[0]
    return _solution(
        "lscp",
        out,
        status=st,
        objective=obj,
        bound=bnd,
        gap=relative_gap(obj, bnd) if st != Status.OPTIMAL else 0.0,
        start=start,
        backend=options.backend,
        open_sites=open_sites,
        assignment=assign,
        details=_cover_details(classes),
    )


def _cover_details(classes: object) -> dict:
    return {
        "demand_classes": int(classes.matrix.shape[0]),
        "covered_by_fixed": len(classes.fixed_covered),
    }


def _greedy_cover(cover: sp.csr_array, fixed: np.ndarray) -> np.ndarray:
    csc = sp.csc_array(cover)
    n_rows, n_sites = cover.shape
    done = np.zeros(n_rows, dtype=bool)
    is_open = np.zeros(n_sites, dtype=bool)
    for j in fixed:
        is_open[j] = True
        done[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = True
    col = np.repeat(np.arange(n_sites), np.diff(csc.indptr))
    while not done.all():
        gain = np.bincount(col, weights=~done[csc.indices], minlength=n_sites)
        gain[is_open] = -1
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        is_open[j] = True
        done[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = True
    return np.flatnonzero(is_open)


# --------------------------------------------------------------------------- MCLP
def solve_mclp(model: MCLP, options: SolveOptions) -> Solution:
    """Open ``p`` sites (fixed included) maximising the covered demand weight."""
    start = time.perf_counter()
    costs, w, fixed, p = model.costs, model.weights, model.fixed, model.p
    cover = costs.within(model.threshold)
    classes = coverage_classes(cover, w, fixed)
    base = float(w[classes.fixed_covered].sum())
    n_sites = costs.n_sites
    k = classes.matrix.shape[0]
    details = {
        "demand_classes": int(k),
        "covered_by_fixed_weight": base,
        "uncoverable_weight": float(w[classes.uncoverable].sum()),
    }
    greedy = (
        mclp_greedy(classes.matrix, classes.weight, p, fixed)
        if k
        else _fill_sites(fixed, p, n_sites)
    )
    if options.backend == "heuristic" or k == 0:
        open_sites = greedy
        obj = base + _covered_weight(classes.matrix, classes.weight, open_sites)
        st = Status.OPTIMAL if k == 0 else Status.FEASIBLE
        return _solution(
            "mclp",
            None,
            status=st,
            objective=obj,
            bound=obj if k == 0 else None,
            gap=0.0 if k == 0 else None,
            start=start,
            backend=options.backend,
            open_sites=open_sites,
            assignment=nearest_assignment(costs, open_sites)[0],
            details=details | {"covered_weight": obj},
        )
    # variables: y (n_sites) then z (k); rows: z_c - Σ_{j covers c} y_j <= 0 ; Σ y = p
    M = classes.matrix
    rows_cov = sp.hstack(
        [-sp.csr_array(M, dtype=np.float64), sp.eye_array(k, format="csr")], format="csr"
    )
    row_p = sp.csr_array(np.concatenate([np.ones(n_sites), np.zeros(k)])[None, :])
    A = sp.vstack([rows_cov, row_p], format="csc")
    row_lower = np.concatenate([np.full(k, -INF), [float(p)]])
    row_upper = np.concatenate([np.zeros(k), [float(p)]])
    col_lower = np.zeros(n_sites + k)
    col_lower[fixed] = 1.0
    col_upper = np.ones(n_sites + k)
    integer = np.concatenate([np.ones(n_sites, dtype=bool), np.zeros(k, dtype=bool)])
    c = np.concatenate([np.zeros(n_sites), classes.weight])
    mip = MatrixMIP(c, A, row_lower, row_upper, col_lower, col_upper, integer, "max", base)
    warm = np.zeros(n_sites + k)
    warm[greedy] = 1.0
    warm[n_sites:] = (M @ warm[:n_sites].astype(bool).astype(np.float64) > 0).astype(float)
    out = solve_mip(mip, options, warm_start=warm)
    if out.x is None:
        return _solution(
            "mclp",
            out,
            status=out.status,
            objective=None,
            bound=out.bound,
            gap=None,
            start=start,
            backend=out.backend,
            open_sites=None,
            assignment=None,
            details=details,
        )
    open_sites = np.flatnonzero(out.x[:n_sites] > 0.5)
    obj = base + _covered_weight(M, classes.weight, open_sites)
    return _solution(
        "mclp",
        out,
        status=out.status,
        objective=obj,
        bound=out.bound,
        gap=relative_gap(obj, out.bound) if out.status != Status.OPTIMAL else 0.0,
        start=start,
        backend=out.backend,
        open_sites=open_sites,
        assignment=nearest_assignment(costs, open_sites)[0],
        details=details | {"covered_weight": obj},
    )


def _covered_weight(M: sp.csr_array, weight: np.ndarray, open_sites: np.ndarray) -> float:
    y = np.zeros(M.shape[1])
    y[open_sites] = 1.0
    return float(weight[(M @ y) > 0].sum())


def _fill_sites(fixed: np.ndarray, p: int, n_sites: int) -> np.ndarray:
    chosen = list(fixed)
    for j in range(n_sites):
        if len(chosen) >= p:
            break
        if j not in set(fixed):
            chosen.append(j)
    return np.array(sorted(chosen), dtype=np.int64)


# --------------------------------------------------------------------------- p-median
def _levels(costs: CostMatrix, active: np.ndarray, fixed: np.ndarray):
    """Per active demand: stored pairs sorted by cost, and the cost of its nearest fixed site."""
    rows = costs.rows()
    keep = active[rows]
    r, j, c = rows[keep], costs.indices[keep].astype(np.int64), costs.data[keep]
    order = np.lexsort((j, c, r))
    r, j, c = r[order], j[order], c[order]
    fixed_mask = np.zeros(costs.n_sites, dtype=bool)
    fixed_mask[fixed] = True
    fix_cost = np.full(costs.n_demand, INF)
    if len(fixed):
        np.minimum.at(fix_cost, r[fixed_mask[j]], c[fixed_mask[j]])
    # drop pairs strictly farther than the nearest fixed site (never used)
    ok = c <= fix_cost[r]
    return r[ok], j[ok], c[ok], fix_cost


def solve_pmedian(
    model: PMedian, options: SolveOptions, warm_start: np.ndarray | None = None
) -> Solution:
    """Exact p-median by the truncated radius formulation with the optimality check above."""
    start = time.perf_counter()
    costs, w, fixed, p = model.costs, model.weights, model.fixed, model.p
    active = w > 0
    counts = np.diff(costs.indptr)
    unreachable = np.flatnonzero(active & (counts == 0))
    if len(unreachable):
        reason = (
            f"{len(unreachable)} demand points (total weight {w[unreachable].sum():g}) "
            f"cannot reach any candidate: {_describe(unreachable, w)}"
        )
        return _solution(
            "pmedian",
            None,
            status=Status.INFEASIBLE,
            objective=None,
            bound=None,
            gap=None,
            start=start,
            backend=options.backend,
            open_sites=None,
            assignment=None,
            reason=reason,
            details={"unreachable": unreachable.tolist()},
        )
    if warm_start is not None:
        heur = np.asarray(warm_start, dtype=np.int64)
    else:
        heur = pmedian_greedy_swap(costs, w, p, fixed)
    heur_assign, heur_cost = nearest_assignment(costs, heur)
    heur_obj = float((w * np.where(active, heur_cost, 0.0)).sum())
    if options.backend == "heuristic":
        return _solution(
            "pmedian",
            None,
            status=Status.FEASIBLE if np.isfinite(heur_obj) else Status.NO_SOLUTION,
            objective=heur_obj if np.isfinite(heur_obj) else None,
            bound=None,
            gap=None,
            start=start,
            backend="heuristic",
            open_sites=heur,
            assignment=heur_assign,
        )
    r, j, c, _fix_cost = _levels(costs, active, fixed)
    n_demand, n_sites = costs.n_demand, costs.n_sites
    new_level = np.ones(len(r), dtype=bool)
    new_level[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    n_levels = np.bincount(r[new_level], minlength=n_demand)
    lvl_rank = _level_rank(r, c, new_level)
    # start depth: twice the level of the heuristic's assignment, plus a margin
    heur_mask = np.zeros(n_sites, dtype=bool)
    heur_mask[heur] = True
    hit = heur_mask[j]
    first_hit = np.full(n_demand, np.iinfo(np.int64).max)
    np.minimum.at(first_hit, r[hit], lvl_rank[hit])
    need = np.where(first_hit < np.iinfo(np.int64).max, first_hit + 1, n_levels)
    depth = np.minimum(n_levels, 2 * need + 5)
    iterations = 0
    out = None
    while True:
        iterations += 1
        complete = (depth >= n_levels) & active
        not_kept = lvl_rank >= depth[r]
        next_cost = np.full(n_demand, INF)
        np.minimum.at(next_cost, r[not_kept], c[not_kept])
        mip, kept, far_rows = _build_pmedian_classic(
            r, j, c, lvl_rank, depth, w, n_demand, n_sites, p, fixed, next_cost, complete, active
        )
        warm = _classic_warm(mip, heur, costs, r[kept], j[kept], far_rows, n_sites)
        out = solve_mip(mip, _time_left(options, start), warm_start=warm)
        if out.x is None:
            break
        u = out.x[n_sites + int(kept.sum()) :]
        short = far_rows[u > 0.5]
        if len(short) == 0 or out.status != Status.OPTIMAL:
            break
        depth[short] = np.minimum(n_levels[short], 2 * depth[short] + 5)
        logger.debug("p-median: %d demand rows need more levels", len(short))
    open_sites = (
        np.flatnonzero(out.x[:n_sites] > 0.5) if out is not None and out.x is not None else heur
    )
    assign, acost = nearest_assignment(costs, open_sites)
    details = {
        "iterations": iterations,
        "pairs": int(np.minimum(depth, n_levels)[active].sum()),
        "heuristic_objective": heur_obj,
    }
    if out is None or out.x is None:
        if np.isfinite(heur_obj):
            return _solution(
                "pmedian",
                out,
                status=Status.FEASIBLE,
                objective=heur_obj,
                bound=out.bound if out else None,
                gap=relative_gap(heur_obj, out.bound if out else None),
                start=start,
                backend=options.backend,
                open_sites=heur,
                assignment=heur_assign,
                details=details,
                reason=None,
            )
        return _solution(
            "pmedian",
            out,
            status=out.status if out else Status.NO_SOLUTION,
            objective=None,
            bound=None,
            gap=None,
            start=start,
            backend=options.backend,
            open_sites=None,
            assignment=None,
            details=details,
        )
    obj = float((w * np.where(active, acost, 0.0)).sum())
    if not np.isfinite(obj):  # a truncated solution left someone unserved: use the heuristic
        obj, open_sites, assign = heur_obj, heur, heur_assign
    status = out.status
    bound = out.bound
    if status == Status.OPTIMAL:
        bound = min(bound, obj) if bound is not None else obj
    if obj > heur_obj:  # time limit: keep the better of MIP incumbent and heuristic
        obj, open_sites, assign = heur_obj, heur, heur_assign
    gap = 0.0 if status == Status.OPTIMAL else relative_gap(obj, bound)
    return _solution(
        "pmedian",
        out,
        status=status,
        objective=obj,
        bound=bound,
        gap=gap,
        start=start,
        backend=out.backend,
        open_sites=open_sites,
        assignment=assign,
        details=details,
    )


def _level_rank(r: np.ndarray, c: np.ndarray, new_level: np.ndarray) -> np.ndarray:
    level = np.cumsum(new_level) - 1
    first_of_row = np.ones(len(r), dtype=bool)
    first_of_row[1:] = r[1:] != r[:-1]
    row_start = np.maximum.accumulate(np.where(first_of_row, level, 0))
    return level - row_start


# --------------------------------------------------------------------------- p-center
def solve_pcenter(model: PCenter, options: SolveOptions) -> Solution:
    """Minimise the largest cost: bisection over distinct costs with a covering subproblem."""
    start = time.perf_counter()
    costs, w, fixed, p = model.costs, model.weights, model.fixed, model.p
    active = w > 0
    counts = np.diff(costs.indptr)
    unreachable = np.flatnonzero(active & (counts == 0))
    if len(unreachable):
        reason = (
            f"{len(unreachable)} demand points (total weight {w[unreachable].sum():g}) "
            f"cannot reach any candidate: {_describe(unreachable, w)}"
        )
        return _solution(
            "pcenter",
            None,
            status=Status.INFEASIBLE,
            objective=None,
            bound=None,
            gap=None,
            start=start,
            backend=options.backend,
            open_sites=None,
            assignment=None,
            reason=reason,
            details={"unreachable": unreachable.tolist()},
        )
    # heuristic upper bound: p-median-like greedy then evaluate max
    heur = pmedian_greedy_swap(costs, w, p, fixed, max_swaps=0)
    _, hc = nearest_assignment(costs, heur)
    ub = float(hc[active].max())
    best_sites = heur
    lb = float(costs.row_min()[active].max())
    values = np.unique(costs.data)
    values = values[(values >= lb) & (values <= ub)]
    lo, hi = 0, len(values) - 1  # values[hi] is feasible (ub)
    if options.backend == "heuristic":
        return _solution(
            "pcenter",
            None,
            status=Status.FEASIBLE,
            objective=ub,
            bound=lb,
            gap=relative_gap(ub, lb),
            start=start,
            backend="heuristic",
            open_sites=heur,
            assignment=nearest_assignment(costs, heur)[0],
        )
    proven_infeasible_below = lb  # every radius < lb is infeasible
    timed_out = False
    iterations = 0
    while lo < hi:
        mid = (lo + hi) // 2
        radius = float(values[mid])
        iterations += 1
        cover = costs.within(radius)
        classes = coverage_classes(cover, w, fixed)
        if len(classes.uncoverable):
            lo = mid + 1
            proven_infeasible_below = float(values[lo])
            continue
        if classes.matrix.shape[0] == 0:
            hi, best_sites = mid, fixed
            continue
        mip = _cover_mip(classes.matrix, costs.n_sites, fixed, max_sites=p)
        out = solve_mip(mip, _time_left(options, start))
        if out.status == Status.INFEASIBLE:
            lo = mid + 1
            proven_infeasible_below = float(values[lo])
        elif out.x is not None:
            hi = mid
            best_sites = np.flatnonzero(out.x > 0.5)
        else:
            timed_out = True
            break
        if options.time_limit is not None and time.perf_counter() - start > options.time_limit:
            timed_out = lo < hi
            break
    best_sites = _fill_sites(best_sites, p, costs.n_sites) if len(best_sites) < p else best_sites
    assign, acost = nearest_assignment(costs, best_sites)
    obj = float(acost[active].max())
    status = Status.FEASIBLE if timed_out else Status.OPTIMAL
    bound = obj if status == Status.OPTIMAL else proven_infeasible_below
    return _solution(
        "pcenter",
        None,
        status=status,
        objective=obj,
        bound=bound,
        gap=0.0 if status == Status.OPTIMAL else relative_gap(obj, bound),
        start=start,
        backend=options.backend,
        open_sites=best_sites,
        assignment=assign,
        details={"iterations": iterations},
    )


def _build_pmedian_classic(
    r: np.ndarray,
    j: np.ndarray,
    c: np.ndarray,
    lvl_rank: np.ndarray,
    depth: np.ndarray,
    w: np.ndarray,
    n_demand: int,
    n_sites: int,
    p: int,
    fixed: np.ndarray,
    next_cost: np.ndarray,
    complete: np.ndarray,
    active: np.ndarray,
) -> tuple[MatrixMIP, np.ndarray, np.ndarray]:
    """Truncated strong formulation: x over the kept pairs, a far variable u_i (cost = the first
    level not kept) for truncated rows. Returns the MIP, the kept pair mask and the u rows."""
    kept = lvl_rank < depth[r]
    kr, kj, kc = r[kept], j[kept], c[kept]
    n_x = len(kr)
    far_rows = np.flatnonzero(active & ~complete)
    n_u = len(far_rows)
    act_rows = np.flatnonzero(active)
    row_of = np.full(n_demand, -1, dtype=np.int64)
    row_of[act_rows] = np.arange(len(act_rows))
    n_assign = len(act_rows)
    # columns: y (n_sites) | x (n_x) | u (n_u)
    x_cols = n_sites + np.arange(n_x)
    u_cols = n_sites + n_x + np.arange(n_u)
    assign_rows = np.concatenate([row_of[kr], row_of[far_rows]])
    assign_cols = np.concatenate([x_cols, u_cols])
    link_rows = n_assign + np.arange(n_x)
    p_row = n_assign + n_x
    rows_all = np.concatenate([assign_rows, link_rows, link_rows, np.full(n_sites, p_row)])
    cols_all = np.concatenate([assign_cols, x_cols, kj, np.arange(n_sites)])
    vals = np.concatenate(
        [np.ones(len(assign_rows)), np.ones(n_x), -np.ones(n_x), np.ones(n_sites)]
    )
    n_cols = n_sites + n_x + n_u
    A = sp.csc_array(sp.coo_array((vals, (rows_all, cols_all)), shape=(p_row + 1, n_cols)))
    row_lower = np.concatenate([np.ones(n_assign), np.full(n_x, -INF), [float(p)]])
    row_upper = np.concatenate([np.ones(n_assign), np.zeros(n_x), [float(p)]])
    cost = np.concatenate([np.zeros(n_sites), w[kr] * kc, w[far_rows] * next_cost[far_rows]])
    col_lower = np.zeros(n_cols)
    col_lower[fixed] = 1.0
    integer = np.zeros(n_cols, dtype=bool)
    integer[:n_sites] = True
    mip = MatrixMIP(cost, A, row_lower, row_upper, col_lower, np.ones(n_cols), integer, "min")
    return mip, kept, far_rows


def _classic_warm(
    mip: MatrixMIP,
    heur: np.ndarray,
    costs: CostMatrix,
    kr: np.ndarray,
    kj: np.ndarray,
    far_rows: np.ndarray,
    n_sites: int,
) -> np.ndarray:
    """The heuristic's sites and nearest assignment as a starting point of the classic model."""
    x = np.zeros(mip.n_cols)
    x[heur] = 1.0
    assign, _ = nearest_assignment(costs, heur)
    x_part = (assign[kr] == kj).astype(float)  # pairs are unique, so one per row at most
    x[n_sites : n_sites + len(kr)] = x_part
    served = np.zeros(costs.n_demand, dtype=bool)
    served[kr[x_part > 0]] = True
    x[n_sites + len(kr) :] = (~served[far_rows]).astype(float)
    return x
