"""R3: joint village clinics — small villages grouped with adjacent neighbours, touring service
for what stays isolated, and each group's clinic site."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from siting.rules import Rule
from siting_errors import InputError

__all__ = ["choose_group_sites", "group_villages"]

logger = logging.getLogger(__name__)


def _adjacency(villages: gpd.GeoDataFrame, rule: Rule, travel_minutes: Any) -> sp.csr_array:
    n = len(villages)
    if rule.adjacency == "travel_time" or travel_minutes is not None:
        if travel_minutes is None:
            raise InputError("R3.adjacency is 'travel_time' but no `travel_minutes` matrix "
                             "was given")
        m = sp.csr_array(travel_minutes) if sp.issparse(travel_minutes) else None
        if m is None:
            dense = np.asarray(travel_minutes, dtype=np.float64)
            if dense.shape != (n, n):
                raise InputError(f"`travel_minutes` must be {n} x {n}, got {dense.shape}")
            ok = np.isfinite(dense) & (dense <= rule.adjacency_minutes)
            np.fill_diagonal(ok, False)
            return sp.csr_array(ok)
        coo = m.tocoo()
        keep = (coo.data <= rule.adjacency_minutes) & (coo.row != coo.col)
        return sp.csr_array((np.ones(int(keep.sum()), dtype=bool),
                             (coo.row[keep], coo.col[keep])), shape=(n, n))
    geoms = villages.geometry.to_numpy()
    if not np.isin(shapely.get_type_id(geoms), [3, 6]).all():
        raise InputError("R3 'touching' adjacency needs village polygons; for points pass a "
                         "`travel_minutes` matrix")
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a != b
    return sp.csr_array((np.ones(int(keep.sum()), dtype=bool), (a[keep], b[keep])),
                        shape=(n, n))


def group_villages(villages: gpd.GeoDataFrame, *, population_column: str, rule: Rule,
                   travel_minutes: Any = None) -> gpd.GeoDataFrame:
    """Group villages under ``rule.joint_clinic_below`` residents (strictly below) with adjacent
    neighbours into joint-clinic groups.

    The smallest group below the threshold repeatedly joins its nearest adjacent group
    (nearest by travel time when given, else by distance between representative points; ties to
    the more populous one), so chains of small villages merge until the group reaches the
    threshold or has no neighbour left. A group still below the threshold without neighbours is
    flagged ``touring`` (mobile service). Returns the villages with ``group_id``, ``joint``,
    ``touring``, ``group_population`` and ``rule`` columns.
    """
    if population_column not in villages.columns:
        raise InputError(f"`villages` has no column {population_column!r}")
    pop = np.asarray(villages[population_column], dtype=np.float64)
    if (~np.isfinite(pop) | (pop < 0)).any():
        raise InputError(f"`{population_column}` must be finite and >= 0")
    n = len(villages)
    adj = _adjacency(villages, rule, travel_minutes)
    if travel_minutes is not None:
        tm = sp.csr_array(travel_minutes) if sp.issparse(travel_minutes) else \
            np.asarray(travel_minutes, dtype=np.float64)

        def dist(i: int, j: int) -> float:
            return float(tm[i, j])
    else:
        pts = shapely.point_on_surface(villages.geometry.to_numpy())
        xy = shapely.get_coordinates(pts)

        def dist(i: int, j: int) -> float:
            return float(np.hypot(*(xy[i] - xy[j])))
    group = np.arange(n)
    members = {i: {i} for i in range(n)}
    gpop = {i: pop[i] for i in range(n)}
    threshold = rule.joint_clinic_below
    neighbours = [set(adj.indices[adj.indptr[i]:adj.indptr[i + 1]].tolist()) for i in range(n)]
    stuck: set[int] = set()
    while True:
        small = [g for g in members if gpop[g] < threshold and g not in stuck]
        if not small:
            break
        g = min(small, key=lambda k: (gpop[k], k))
        near: dict[int, float] = {}
        for i in members[g]:
            for j in neighbours[i]:
                h = int(group[j])
                if h != g:
                    d = min(dist(a, j) for a in members[g] if j in neighbours[a])
                    near[h] = min(near.get(h, np.inf), d)
        if not near:
            stuck.add(g)
            continue
        h = min(near, key=lambda k: (near[k], -gpop[k], k))
        keep, drop = (h, g)
        for i in members[drop]:
            group[i] = keep
        members[keep] |= members.pop(drop)
        gpop[keep] += gpop.pop(drop)
    labels = {g: k for k, g in enumerate(sorted(members))}
    out = villages.copy()
    out["group_id"] = [labels[int(g)] for g in group]
    out["joint"] = [len(members[int(g)]) > 1 for g in group]
    out["group_population"] = [gpop[int(g)] for g in group]
    out["touring"] = out["group_population"] < threshold
    out["rule"] = rule.cite()
    return out


def choose_group_sites(groups: gpd.GeoDataFrame, costs: Any, weights: Any) -> dict[int, int]:
    """Each group's clinic: the member village minimising the population-weighted travel cost
    to it from the group's villages (exact, by enumeration within the group). ``costs`` is a
    dense ``n × n`` village-to-village matrix (inf where unreachable)."""
    c = np.asarray(costs, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    gid = groups["group_id"].to_numpy()
    out: dict[int, int] = {}
    for g in np.unique(gid):
        idx = np.flatnonzero(gid == g)
        total = (w[idx, None] * c[np.ix_(idx, idx)]).sum(axis=0)
        out[int(g)] = int(idx[int(np.argmin(total))])
    return out
