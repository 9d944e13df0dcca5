"""R3 joint village clinics: small villages grouped with adjacent neighbours, touring service for
what stays small, and each group's clinic site.

Grouping (:func:`group_villages`): a village is *small* when its population is strictly below
``rule.joint_clinic_below`` (500: a village of exactly 500 is not small). Villages are adjacent
when their polygons touch or overlap (found with an STRtree), or — for points, or when
``rule.adjacency == "travel_time"`` — when the travel time between them (the shorter of the two
directions) is at most ``rule.adjacency_minutes``. Small groups are handled smallest first: a
small group joins the group of its nearest adjacent neighbour (nearest by travel time when a
matrix is given, else by the distance between village centres; ties go to the more populous
group), so chains of small villages merge transitively until the group reaches the threshold or
has no neighbour left. A group still under the threshold (e.g. an isolated small village) is
flagged ``touring``: no fixed clinic, served by touring (mobile) service.

Touring demand (:func:`touring_demand`): villages no fixed clinic reaches within the service
threshold, and groups left under the threshold, with their residents and location.

Site choice (:func:`choose_group_sites`): each group's clinic goes to the member village that
minimises the population-weighted travel of the group, exactly (by enumeration).
"""

from __future__ import annotations

import heapq
import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS

from geodata.crs import to_projected
from siting.rules import JointClinicRule, Rule
from siting_errors import InputError

__all__ = ["choose_group_sites", "group_villages", "touring_demand"]

logger = logging.getLogger(__name__)

_POLYGONAL = (3, 6)  # shapely type ids of Polygon, MultiPolygon
_DIGITS = 9  # distances are compared after rounding, so mirror-image layouts tie exactly


def _travel_edges(minutes: Any, n: int, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Off-diagonal pairs ``(i, j, t)`` of a travel-time matrix, symmetrised with the shorter
    direction. Dense: ``inf`` is unreachable. Sparse: a missing entry is unreachable."""
    if sp.issparse(minutes):
        if minutes.shape != (n, n):
            raise InputError(
                f"`{what}` must be {n} x {n} (one row per village), got {minutes.shape}"
            )
        coo = sp.coo_array(minutes)
        i, j, t = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)
    else:
        try:
            dense = np.asarray(minutes, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"`{what}` must be a numeric matrix") from exc
        if dense.shape != (n, n):
            raise InputError(f"`{what}` must be {n} x {n} (one row per village), got {dense.shape}")
        i, j = np.nonzero(~(dense == np.inf))  # NaN kept, to be reported below
        t = dense[i, j]
    if np.isnan(t).any() or (t < 0).any():
        raise InputError(
            f"`{what}` must hold travel times >= 0 (inf for unreachable), got "
            f"{t[np.isnan(t) | (t < 0)][:3].tolist()}"
        )
    keep = (i != j) & np.isfinite(t)
    i, j, t = i[keep], j[keep], t[keep]
    a, b = np.minimum(i, j), np.maximum(i, j)  # undirected pair, shorter direction wins
    order = np.lexsort((t, b, a))
    a, b, t = a[order], b[order], t[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[first], b[first], t[first]


def _centres(villages: gpd.GeoDataFrame) -> np.ndarray:
    """Village centres in metres (planar coordinates as given when there is no CRS)."""
    geo = villages.geometry
    if geo.crs is not None and CRS.from_user_input(geo.crs).is_geographic:
        geo = to_projected(geo, name="villages")
    geoms = geo.to_numpy()
    pts = shapely.centroid(geoms)
    outside = ~shapely.contains(geoms, pts) & np.isin(shapely.get_type_id(geoms), _POLYGONAL)
    pts[outside] = shapely.point_on_surface(geoms[outside])
    return shapely.get_coordinates(pts)


def _edges(
    villages: pd.DataFrame, rule: JointClinicRule, travel_minutes: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent village pairs ``(i < j)`` and how near they are (minutes or metres)."""
    n = len(villages)
    geoms = villages.geometry.to_numpy() if isinstance(villages, gpd.GeoDataFrame) else None
    polygons = (
        geoms is not None and n > 0 and bool(np.isin(shapely.get_type_id(geoms), _POLYGONAL).all())
    )
    if rule.adjacency == "travel_time" or not polygons:
        if travel_minutes is None:
            why = (
                f"{rule.cite()} adjacency is 'travel_time'"
                if rule.adjacency == "travel_time"
                else f"{rule.cite()} 'touching' adjacency needs village polygons (got points "
                "or other geometries)"
            )
            raise InputError(f"{why}: pass `travel_minutes`, a villages x villages matrix")
        a, b, t = _travel_edges(travel_minutes, n, "travel_minutes")
        near = t <= rule.adjacency_minutes
        return a[near], b[near], t[near]
    if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
        raise InputError("`villages` has missing or empty geometries")
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep].astype(np.int64), b[keep].astype(np.int64)
    if travel_minutes is not None:
        ta, tb, t = _travel_edges(travel_minutes, n, "travel_minutes")
        lookup = dict(zip(zip(ta.tolist(), tb.tolist(), strict=True), t.tolist(), strict=True))
        d = np.array(
            [lookup.get(pair, np.inf) for pair in zip(a.tolist(), b.tolist(), strict=True)]
        )
    else:
        xy = _centres(villages)
        d = np.hypot(*(xy[a] - xy[b]).T) if len(a) else np.empty(0)
    return a, b, d


def _merge(
    n: int, pop: np.ndarray, a: np.ndarray, b: np.ndarray, d: np.ndarray, threshold: float
) -> np.ndarray:
    """Group label (a member's position) of every village, merging small groups as documented."""
    neighbours: list[dict[int, float]] = [{} for _ in range(n)]
    for i, j, dist in zip(a.tolist(), b.tolist(), np.round(d, _DIGITS).tolist(), strict=True):
        neighbours[i][j] = min(neighbours[i].get(j, np.inf), dist)
        neighbours[j][i] = neighbours[i][j]
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    gpop = {i: float(pop[i]) for i in range(n)}
    heap = [(gpop[i], i) for i in range(n) if gpop[i] < threshold]
    heapq.heapify(heap)
    while heap:
        p, g = heapq.heappop(heap)
        if g not in members or gpop[g] != p:
            continue  # stale entry: the group has merged since
        if not neighbours[g]:
            continue  # no neighbour left: stays small (touring)
        h = min(neighbours[g], key=lambda k: (neighbours[g][k], -gpop[k], k))
        # g joins h: h's neighbours gain g's, at the nearer distance
        for k, dist in neighbours[g].items():
            del neighbours[k][g]
            if k != h:
                neighbours[h][k] = neighbours[k][h] = min(neighbours[h].get(k, np.inf), dist)
        neighbours[g] = {}
        members[h] += members.pop(g)
        gpop[h] += gpop.pop(g)
        if gpop[h] < threshold:
            heapq.heappush(heap, (gpop[h], h))
    label = np.empty(n, dtype=np.int64)
    for g, idx in members.items():
        label[idx] = g
    return label


def group_villages(
    villages: pd.DataFrame,
    *,
    population_column: str,
    rule: Rule,
    travel_minutes: Any = None,
) -> pd.DataFrame:
    """R3 joint-clinic groups (see the module docstring for the grouping).

    ``villages`` is a GeoDataFrame of village polygons or points (or a plain DataFrame when
    ``travel_minutes`` is given), with residents in ``population_column``. ``travel_minutes``
    is an optional ``n x n`` village-to-village matrix (dense, ``inf`` = unreachable, or scipy
    sparse, missing = unreachable); it is required for points and for ``travel_time``
    adjacency, and with touching polygons it decides which neighbour is nearest.

    Returns a copy of ``villages`` with ``group_id`` (0, 1, … in order of the groups' first
    village), ``small`` (the village is under the threshold), ``joint`` (the group has more
    than one village), ``touring`` (the group is still under the threshold), ``group_size``,
    ``group_population`` and ``rule`` (the citation).
    """
    r3 = rule
    if not isinstance(r3, JointClinicRule):
        got = f"{r3.code} ({type(r3).__name__})" if isinstance(r3, Rule) else repr(r3)
        raise InputError(f"`rule` must be the R3 rule (JointClinicRule), got {got}")
    if not isinstance(villages, pd.DataFrame):
        raise InputError(f"`villages` must be a GeoDataFrame, got {type(villages).__name__}")
    if population_column not in villages.columns:
        raise InputError(
            f"`villages` has no column {population_column!r} (columns: {list(villages.columns)})"
        )
    try:
        pop = np.asarray(villages[population_column], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`{population_column}` must be numbers") from exc
    if (~np.isfinite(pop) | (pop < 0)).any():
        bad = pop[~np.isfinite(pop) | (pop < 0)][:3].tolist()
        raise InputError(f"`{population_column}` must be finite and >= 0, got {bad}")
    n = len(villages)
    a, b, d = _edges(villages, r3, travel_minutes)
    threshold = float(r3.joint_clinic_below)
    label = _merge(n, pop, a, b, d, threshold)
    _, first = np.unique(label, return_index=True)
    order = {int(label[i]): k for k, i in enumerate(np.sort(first))}
    group_id = np.array([order[int(g)] for g in label], dtype=np.int64)
    size = np.bincount(group_id, minlength=len(order))
    total = np.bincount(group_id, weights=pop, minlength=len(order))
    out = villages.copy()
    out["group_id"] = group_id
    out["small"] = pop < threshold
    out["joint"] = size[group_id] > 1
    out["touring"] = total[group_id] < threshold
    out["group_size"] = size[group_id]
    out["group_population"] = total[group_id]
    out["rule"] = r3.cite()
    logger.debug(
        "R3: %d villages (%d small) -> %d groups, %d joint, %d touring",
        n,
        int(out["small"].sum()),
        len(order),
        int((size > 1).sum()),
        int((total < threshold).sum()),
    )
    return out


class _GroupCosts:
    """Dense cost blocks among each group's villages (rows: from, columns: to). Sparse input:
    a missing entry is unreachable (inf), except a village to itself (0); only the entries
    inside groups are kept, so each block is built without slicing the matrix."""

    def __init__(self, costs: Any, gid: np.ndarray) -> None:
        self.dense = None if sp.issparse(costs) else costs
        if self.dense is None:
            coo = sp.coo_array(costs)
            inside = gid[coo.row] == gid[coo.col]
            row, col, data = coo.row[inside], coo.col[inside], coo.data[inside]
            order = np.argsort(gid[row], kind="stable")
            self.row, self.col, self.data = row[order], col[order], data[order]
            self.group = gid[self.row]
        self.local = np.empty(len(gid), dtype=np.int64)

    def block(self, g: Any, idx: np.ndarray) -> np.ndarray:
        if self.dense is not None:
            return self.dense[np.ix_(idx, idx)]
        self.local[idx] = np.arange(len(idx))
        lo = int(np.searchsorted(self.group, g, side="left"))
        hi = int(np.searchsorted(self.group, g, side="right"))
        out = np.full((len(idx), len(idx)), np.inf)
        out[self.local[self.row[lo:hi]], self.local[self.col[lo:hi]]] = self.data[lo:hi]
        diag = np.diag_indices(len(idx))
        out[diag] = np.where(np.isinf(out[diag]), 0.0, out[diag])
        return out


def choose_group_sites(groups: pd.DataFrame, costs: Any, weights: Any) -> pd.DataFrame:
    """Each group's clinic site: the member village minimising the weighted travel cost
    ``sum_i w_i * costs[i, site]`` over the group's villages ``i`` (exact, by enumeration).

    ``groups`` is the output of :func:`group_villages` (``group_id`` per village); ``costs`` an
    ``n x n`` village-to-village matrix (row: from, column: to; dense with ``inf`` for
    unreachable, or scipy sparse where a missing entry is unreachable and a missing diagonal is
    0); ``weights`` the residents per village (an array or a column name of ``groups``).
    A site that some residents cannot reach is chosen only if every site leaves some residents
    unreached (the fewest win). Ties go to the more populous village, then the first.

    Returns one row per group: ``group_id``, ``site`` (position of the chosen village in
    ``groups``), ``site_label`` (its index label), ``villages``, ``population``,
    ``weighted_cost``, ``mean_cost`` (per reached resident), ``unreached_population`` and
    ``rule`` (from ``groups``, when present).
    """
    if not isinstance(groups, pd.DataFrame) or "group_id" not in groups.columns:
        raise InputError("`groups` must be the output of group_villages (with a group_id column)")
    n = len(groups)
    if isinstance(weights, str):
        if weights not in groups.columns:
            raise InputError(f"`groups` has no column {weights!r} for the weights")
        weights = groups[weights]
    try:
        w = np.asarray(weights, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError("`weights` must be numbers (residents per village)") from exc
    if w.shape != (n,) or (~np.isfinite(w) | (w < 0)).any():
        raise InputError(f"`weights` must be {n} finite numbers >= 0, got shape {w.shape}")
    if sp.issparse(costs):
        c: Any = sp.csr_array(costs)
        if c.shape != (n, n):
            raise InputError(f"`costs` must be {n} x {n}, got {c.shape}")
        values = sp.coo_array(c).data
    else:
        try:
            c = np.asarray(costs, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError("`costs` must be a numeric matrix") from exc
        if c.shape != (n, n):
            raise InputError(f"`costs` must be {n} x {n}, got {c.shape}")
        values = c.ravel()
    if np.isnan(values).any() or (values < 0).any():
        raise InputError("`costs` must be >= 0 (inf for unreachable), got NaN or negative values")
    gid = groups["group_id"].to_numpy()
    rule = groups["rule"].iloc[0] if "rule" in groups.columns and n else ""
    rows = []
    order = np.argsort(gid, kind="stable")
    keys, starts = np.unique(gid[order], return_index=True)
    blocks = _GroupCosts(c, gid)
    for g, idx in zip(keys, np.split(order, starts[1:]), strict=True):
        sub = blocks.block(g, idx)  # (from member, to member site)
        reach = np.isfinite(sub)
        wi = w[idx, None]
        unreached = np.where(reach, 0.0, wi).sum(axis=0)
        total = np.where(reach, wi * np.where(reach, sub, 0.0), 0.0).sum(axis=0)
        best = int(np.lexsort((np.arange(len(idx)), -w[idx], total, unreached))[0])
        reached = float(w[idx].sum() - unreached[best])
        rows.append(
            {
                "group_id": int(g),
                "site": int(idx[best]),
                "site_label": groups.index[idx[best]],
                "villages": len(idx),
                "population": float(w[idx].sum()),
                "weighted_cost": float(total[best]),
                "mean_cost": float(total[best] / reached) if reached > 0 else 0.0,
                "unreached_population": float(unreached[best]),
                "rule": rule,
            }
        )
    return pd.DataFrame(rows)


def touring_demand(
    groups: gpd.GeoDataFrame,
    clinic_minutes: Any,
    *,
    threshold_minutes: float,
    population_column: str,
    rule: JointClinicRule,
) -> gpd.GeoDataFrame:
    """R3: the demand for touring (mobile) service, one row per village that needs it.

    ``groups`` is the output of :func:`group_villages` (a GeoDataFrame); ``clinic_minutes`` the
    travel time from each village to its nearest fixed clinic (``inf`` or NaN when none is
    reachable). A village needs touring service when no fixed clinic is within
    ``threshold_minutes`` (inclusive), or when its joint-clinic group stayed under the threshold
    population (no clinic of its own). Returns those villages with ``population``,
    ``clinic_minutes``, ``reason`` (``no clinic within N min`` / ``group under 500``), the
    village's location (a point on its surface, in the input CRS) and ``rule``.
    """
    if not isinstance(rule, JointClinicRule):
        raise InputError(f"`rule` must be the R3 rule (JointClinicRule), got {rule!r:.60}")
    if not isinstance(groups, gpd.GeoDataFrame) or "touring" not in groups.columns:
        raise InputError("`groups` must be the GeoDataFrame returned by group_villages")
    if population_column not in groups.columns:
        raise InputError(f"`groups` has no column {population_column!r}")
    if not np.isfinite(threshold_minutes) or threshold_minutes <= 0:
        raise InputError(f"`threshold_minutes` must be a number > 0, got {threshold_minutes!r}")
    try:
        t = np.asarray(clinic_minutes, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError("`clinic_minutes` must be numbers (minutes per village)") from exc
    if t.shape != (len(groups),):
        raise InputError(
            f"`clinic_minutes` must hold one time per village ({len(groups)}), got {t.shape}"
        )
    t = np.where(np.isnan(t), np.inf, t)
    if (t < 0).any():
        raise InputError("`clinic_minutes` must be >= 0")
    far = ~(t <= threshold_minutes)
    small = groups["touring"].to_numpy(dtype=bool)
    need = far | small
    reason = np.where(
        far,
        f"no clinic within {threshold_minutes:g} min",
        f"group under {rule.joint_clinic_below}",
    )
    out = gpd.GeoDataFrame(
        {
            "village": groups.index[need],
            "population": groups[population_column].to_numpy(dtype=np.float64)[need],
            "clinic_minutes": t[need],
            "reason": reason[need],
            "group_id": groups["group_id"].to_numpy()[need],
            "rule": rule.cite(),
        },
        geometry=groups.geometry.representative_point().to_numpy()[need],
        crs=groups.crs,
    )
    return out.reset_index(drop=True)
