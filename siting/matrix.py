"""Solving from a ready OD matrix (OSRM, ArcGIS, r5py): the ``siting solve-matrix`` contract.

Input tables: costs with columns ``demand_id,site_id,cost`` (a missing pair is unreachable),
demand with ``demand_id,weight`` and, optionally, sites with ``site_id,min_load,max_load,fixed``
(per-site load bounds for the capacitated p-median, and existing sites that stay open).
Output: a JSON-ready dict with at least ``status``, ``objective``, ``gap``, ``sites`` (chosen
site ids), ``assignment`` (demand_id → site_id) and, when a threshold is given, ``coverage``
(``covered_weight``, ``total_weight``, ``share``); with load bounds also ``loads`` (site_id →
assigned weight) and, for soft bounds, ``violations``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from siting._json import json_number, jsonable
from siting.coverage import coverage_score
from siting_errors import DataNotFoundError, InputError
from solvers import (
    LSCP,
    MCLP,
    CapacitatedPMedian,
    CostMatrix,
    PCenter,
    PMedian,
    Solution,
    coverage_limit,
    finite_non_negative,
    solve,
)

__all__ = [
    "MATRIX_MODELS",
    "load_cost_table",
    "load_demand_table",
    "load_site_table",
    "matrix_result",
    "solve_matrix",
]

logger = logging.getLogger(__name__)

MATRIX_MODELS: tuple[str, ...] = ("lscp", "mclp", "pmedian", "pcenter")

_T = TypeVar("_T")


def _read_csv(path: str | Path, what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{what} file {str(path)!r} does not exist")
    try:
        frame = pd.read_csv(
            path, dtype={columns[0]: str} | ({"site_id": str} if "site_id" in columns else {})
        )
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{what} file {str(path)!r} is not a readable CSV: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} file {str(path)!r} must have columns {','.join(columns)}; missing "
            f"{missing} (found {list(frame.columns)})"
        )
    return frame


def _numeric(
    frame: pd.DataFrame,
    column: str,
    what: str,
    path: str | Path,
    rows: np.ndarray | None = None,
    empty: bool = False,
) -> np.ndarray:
    """Column ``column`` as finite numbers >= 0 (only the data rows ``rows`` when given), or
    an error naming the file, the column, the value as written and its data row (``empty``:
    the message says an empty cell is allowed)."""
    raw = frame[column] if rows is None else frame[column].iloc[rows]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    data_rows = np.arange(1, len(frame) + 1) if rows is None else np.asarray(rows) + 1
    return finite_non_negative(
        values,
        f"{what} file {str(path)!r}: column `{column}`" + (" (empty: no bound)" if empty else ""),
        at="data row",
        labels=data_rows,
        shown=raw.to_numpy(dtype=object),
    )


def load_cost_table(path: str | Path) -> pd.DataFrame:
    """Read ``demand_id,site_id,cost`` (ids as strings, cost as float >= 0)."""
    frame = _read_csv(path, "costs", ("demand_id", "site_id", "cost"))
    frame["cost"] = _numeric(frame, "cost", "costs", path)
    frame["demand_id"] = frame["demand_id"].astype(str)
    frame["site_id"] = frame["site_id"].astype(str)
    if frame.empty:
        raise InputError(f"costs file {str(path)!r} has no rows")
    return frame


def load_demand_table(path: str | Path) -> pd.DataFrame:
    """Read ``demand_id,weight`` (unique ids, weight >= 0)."""
    frame = _read_csv(path, "demand", ("demand_id", "weight"))
    frame["weight"] = _numeric(frame, "weight", "demand", path)
    frame["demand_id"] = frame["demand_id"].astype(str)
    dup = frame["demand_id"][frame["demand_id"].duplicated()]
    if len(dup):
        raise InputError(f"demand file {str(path)!r}: duplicate demand_id {dup[:5].tolist()}")
    if frame.empty:
        raise InputError(f"demand file {str(path)!r} has no rows")
    return frame


_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def load_site_table(path: str | Path) -> pd.DataFrame:
    """Read ``site_id,min_load,max_load,fixed`` (unique ids; empty bounds mean none; ``fixed``
    is true/false, 1/0 or yes/no)."""
    frame = _read_csv(path, "sites", ("site_id",))
    frame["site_id"] = frame["site_id"].astype(str)
    dup = frame["site_id"][frame["site_id"].duplicated()]
    if len(dup):
        raise InputError(f"sites file {str(path)!r}: duplicate site_id {dup[:5].tolist()}")
    for column in ("min_load", "max_load"):
        if column not in frame.columns:
            frame[column] = np.nan
            continue
        given = np.flatnonzero(frame[column].notna().to_numpy())  # empty: no bound
        values = np.full(len(frame), np.nan)
        values[given] = _numeric(frame, column, "sites", path, rows=given, empty=True)
        frame[column] = values
    if "fixed" not in frame.columns:
        frame["fixed"] = False
    else:
        text = frame["fixed"].fillna("").astype(str).str.strip().str.lower()
        bad = ~text.isin(_TRUE | _FALSE)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"sites file {str(path)!r}: column `fixed` must be true/false, 1/0 or yes/no, "
                f"got {frame['fixed'].iloc[i]!r} on data row {i + 1}"
            )
        frame["fixed"] = text.isin(_TRUE).to_numpy()
    return frame


def solve_matrix(
    costs: pd.DataFrame,
    demand: pd.DataFrame,
    *,
    model: str,
    p: int | None = None,
    threshold: float | None = None,
    time_limit: float | None = None,
    backend: str = "highs",
    mip_gap: float = 0.0,
    max_load: float | None = None,
    min_load: float | None = None,
    sites: pd.DataFrame | None = None,
    soft: bool = False,
) -> dict[str, Any]:
    """Solve a model over cost and demand tables; return the JSON contract as a dict.

    ``max_load`` / ``min_load`` bound the demand weight assigned to each open site (p-median
    only: it becomes a capacitated p-median); ``sites`` (see :func:`load_site_table`) gives
    per-site bounds, which override the global ones where not empty, and fixed (existing)
    sites, which stay open and count towards ``p``. With ``soft`` the load bounds may be broken
    at a penalty, and the result lists each violation.
    """
    if model not in MATRIX_MODELS:
        raise InputError(f"`model` must be one of {', '.join(MATRIX_MODELS)}, got {model!r}")
    demand_ids = demand["demand_id"].astype(str).to_numpy()
    index = pd.Index(demand_ids)
    unknown = ~costs["demand_id"].isin(index)
    if unknown.any():
        ids = costs.loc[unknown, "demand_id"].unique()[:5].tolist()
        raise InputError(
            f"costs name demand_id values that are not in the demand file: {ids} "
            f"({int(unknown.sum())} rows)"
        )
    all_sites = costs["site_id"].unique()
    if sites is not None:
        all_sites = np.union1d(all_sites.astype(str), sites["site_id"].astype(str).to_numpy())
    site_ids = np.array(sorted(all_sites, key=_natural_key), dtype=object)
    rows = index.get_indexer(costs["demand_id"])
    cols = pd.Index(site_ids).get_indexer(costs["site_id"])
    matrix = CostMatrix.from_triples(
        rows, cols, costs["cost"].to_numpy(), (len(demand_ids), len(site_ids))
    )
    weights = demand["weight"].to_numpy(dtype=np.float64)
    if model in ("lscp", "mclp"):
        _required(threshold, "threshold", model)
    if model != "lscp":
        _required(p, "p", model)
    fixed, lower, upper = _site_bounds(sites, site_ids, min_load, max_load)
    capacitated = lower is not None or upper is not None
    if capacitated and model != "pmedian":
        raise InputError(
            f"load bounds (--max-load, --min-load, or bounds in --sites) apply to model "
            f"'pmedian' only, got model {model!r}"
        )
    # the CSV ids go into the model, so every reason and error names them
    ids = {"demand_ids": demand_ids, "site_ids": site_ids}
    spec: LSCP | MCLP | PMedian | PCenter | CapacitatedPMedian
    if model == "lscp":
        t = _required(threshold, "threshold", model)
        spec = LSCP(matrix, threshold=t, weights=weights, fixed=fixed, **ids)
    elif model == "mclp":
        t, k = _required(threshold, "threshold", model), _required(p, "p", model)
        spec = MCLP(matrix, threshold=t, p=k, weights=weights, fixed=fixed, **ids)
    elif model == "pmedian" and capacitated:
        spec = CapacitatedPMedian(
            matrix,
            p=_required(p, "p", model),
            weights=weights,
            fixed=fixed,
            capacity=_finite(upper, float(weights.sum())),
            min_load=0.0 if lower is None else lower,
            soft=soft,
            **ids,
        )
    elif model == "pmedian":
        spec = PMedian(matrix, p=_required(p, "p", model), weights=weights, fixed=fixed, **ids)
    else:
        spec = PCenter(matrix, p=_required(p, "p", model), weights=weights, fixed=fixed, **ids)
    solution = solve(spec, backend=backend, time_limit=time_limit, mip_gap=mip_gap)
    out = matrix_result(solution, matrix, weights, demand_ids, site_ids, threshold)
    if capacitated and solution.has_solution:
        load = np.bincount(
            solution.assignment[solution.assignment >= 0],
            weights=weights[solution.assignment >= 0],
            minlength=len(site_ids),
        )
        out["loads"] = {str(site_ids[j]): float(load[j]) for j in solution.open_sites}
        if "violations" in solution.details:
            out["violations"] = _violations(solution.details["violations"], site_ids)
    return out


def _required(value: _T | None, name: str, model: str) -> _T:
    """``value``, or an error saying the parameter is required for ``model``."""
    if value is None:
        raise InputError(f"`{name}` is required for model {model!r}")
    return value


def _site_bounds(
    sites: pd.DataFrame | None,
    site_ids: np.ndarray,
    min_load: float | None,
    max_load: float | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Fixed site indices and per-site lower / upper load bounds (``None``: no such bound)."""
    for name, value in (("max_load", max_load), ("min_load", min_load)):
        if value is not None:
            finite_non_negative([value], f"`--{name.replace('_', '-')}`", at=None)
    n = len(site_ids)
    lower = None if min_load is None else np.full(n, float(min_load))
    upper = None if max_load is None else np.full(n, float(max_load))
    if sites is None:
        return np.zeros(0, dtype=np.int64), lower, upper
    index = pd.Index(site_ids).get_indexer(sites["site_id"].astype(str))
    lo = sites["min_load"].to_numpy(dtype=np.float64)
    hi = sites["max_load"].to_numpy(dtype=np.float64)
    if np.isfinite(lo).any():
        lower = np.zeros(n) if lower is None else lower
        lower[index[np.isfinite(lo)]] = lo[np.isfinite(lo)]
    if np.isfinite(hi).any():
        upper = np.full(n, np.inf) if upper is None else upper
        upper[index[np.isfinite(hi)]] = hi[np.isfinite(hi)]
    fixed = np.sort(index[sites["fixed"].to_numpy(dtype=bool)])
    return fixed, lower, upper


def _finite(upper: np.ndarray | None, total: float) -> np.ndarray | float:
    """Upper bounds with "none" (``inf``) replaced by the total weight (never binding)."""
    if upper is None:
        return total
    return np.where(np.isfinite(upper), upper, max(total, 0.0))


def _violations(violations: list[dict[str, Any]], site_ids: np.ndarray) -> list[Any]:
    """The solver's violated bounds made JSON-ready, each ``site`` index as its id."""
    return jsonable([{**v, "site": str(site_ids[int(v["site"])])} for v in violations])


def _natural_key(value: str) -> tuple[int, float, str]:
    """Sort key of an id: numbers first, by value (``"2"`` before ``"10"``), then text."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def matrix_result(
    solution: Solution,
    matrix: CostMatrix,
    weights: np.ndarray,
    demand_ids: np.ndarray,
    site_ids: np.ndarray,
    threshold: float | None,
) -> dict[str, Any]:
    """The solve-matrix JSON members for a solution."""
    out: dict[str, Any] = {
        "status": solution.status.value,
        "objective": json_number(solution.objective),
        "bound": json_number(solution.bound),
        "gap": json_number(solution.gap),
        "model": solution.model,
        "backend": solution.backend,
        "time": round(solution.time, 4),
        "reason": solution.reason,
        "sites": [],
        "assignment": {},
    }
    if not solution.has_solution:
        if "uncoverable" in solution.details or "unreachable" in solution.details:
            bad = solution.details.get("uncoverable", solution.details.get("unreachable"))
            out["unreachable_demand"] = [str(demand_ids[i]) for i in np.asarray(bad)]
        return out
    open_idx = solution.open_sites
    out["sites"] = [str(s) for s in site_ids[open_idx]]
    sub = matrix.restrict_sites(open_idx)
    if solution.model in ("pmedian", "cpmedian") and len(solution.assignment):
        assign = solution.assignment
    else:
        assign = np.full(matrix.n_demand, -1, dtype=np.int64)
        if sub.nnz:
            rows = sub.rows()
            order = np.lexsort((sub.data, rows))
            first = np.ones(len(order), dtype=bool)
            first[1:] = rows[order][1:] != rows[order][:-1]
            assign[rows[order][first]] = open_idx[sub.indices[order][first]]
    out["assignment"] = {
        str(demand_ids[i]): str(site_ids[assign[i]]) for i in np.flatnonzero(assign >= 0)
    }
    if threshold is not None:
        # inclusive with the solvers' round-off tolerance (README: the solve-matrix contract)
        cov = coverage_score(weights, sub.row_min(), coverage_limit(threshold))
        out["coverage"] = {
            "covered_weight": cov.covered_population,
            "total_weight": cov.total_population,
            "share": cov.share,
        }
    return out
