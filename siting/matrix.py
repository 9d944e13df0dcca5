"""Solving from a ready OD matrix (OSRM, ArcGIS, r5py): the ``siting solve-matrix`` contract.

Input tables: costs with columns ``demand_id,site_id,cost`` (a missing pair is unreachable) and
demand with ``demand_id,weight``. Output: a JSON-ready dict with at least ``status``,
``objective``, ``gap``, ``sites`` (chosen site ids), ``assignment`` (demand_id → site_id) and,
when a threshold is given, ``coverage`` (``covered_weight``, ``total_weight``, ``share``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting.coverage import coverage_score
from siting_errors import DataNotFoundError, InputError
from solvers import LSCP, MCLP, CostMatrix, PCenter, PMedian, Solution, solve

__all__ = ["MATRIX_MODELS", "load_cost_table", "load_demand_table", "matrix_result", "solve_matrix"]

logger = logging.getLogger(__name__)

MATRIX_MODELS: tuple[str, ...] = ("lscp", "mclp", "pmedian", "pcenter")


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


def _numeric(frame: pd.DataFrame, column: str, what: str, path: str | Path) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{what} file {str(path)!r}: column `{column}` must hold numbers >= 0, got "
            f"{_show(frame[column].iloc[i])} on data row {i + 1} ({int(bad.sum())} bad rows)"
        )
    return values


def _show(value: object) -> str:
    """A value as a user wrote it (numpy scalars unwrapped)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


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
) -> dict[str, Any]:
    """Solve a model over cost and demand tables; return the JSON contract as a dict."""
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
    site_ids = np.array(sorted(costs["site_id"].unique(), key=_natural_key), dtype=object)
    rows = index.get_indexer(costs["demand_id"])
    cols = pd.Index(site_ids).get_indexer(costs["site_id"])
    matrix = CostMatrix.from_triples(
        rows, cols, costs["cost"].to_numpy(), (len(demand_ids), len(site_ids))
    )
    weights = demand["weight"].to_numpy(dtype=np.float64)
    if model in ("lscp", "mclp") and threshold is None:
        raise InputError(f"`threshold` is required for model {model!r}")
    if model != "lscp" and p is None:
        raise InputError(f"`p` is required for model {model!r}")
    opts = {"backend": backend, "time_limit": time_limit, "mip_gap": mip_gap}
    if model == "lscp":
        spec = LSCP(matrix, threshold=threshold, weights=weights)
    elif model == "mclp":
        spec = MCLP(matrix, threshold=threshold, p=p, weights=weights)
    elif model == "pmedian":
        spec = PMedian(matrix, p=p, weights=weights)
    else:
        spec = PCenter(matrix, p=p, weights=weights)
    solution = solve(spec, **opts)
    return matrix_result(solution, matrix, weights, demand_ids, site_ids, threshold)


def _natural_key(value: str) -> tuple:
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
        "objective": _num(solution.objective),
        "bound": _num(solution.bound),
        "gap": _num(solution.gap),
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
        cov = coverage_score(weights, sub.row_min(), threshold)
        out["coverage"] = {
            "covered_weight": cov.covered_population,
            "total_weight": cov.total_population,
            "share": cov.share,
        }
    return out


def _num(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(value)
