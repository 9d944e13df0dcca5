"""Rule R3: small villages grouped, one (joint) village clinic per group."""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from geodata.boundaries import assign_units
from siting.ruleplan._state import VILLAGE_TIER, Progress, State
from siting.scenario import VILLAGE_SITE_PREFIX
from siting_errors import InputError
from solvers import Status

logger = logging.getLogger(__name__)


def place_village_clinics(state: State, progress: Progress | None) -> None:
    """R3: villages grouped (under 500 with adjacent ones), one clinic per group."""
    from siting.villages import choose_group_sites, group_villages

    sc = state.scenario
    if sc.villages is None or state.travel.village_costs is None:
        return
    start = time.perf_counter()
    r3 = state.rules.R3
    villages = sc.villages.reset_index(drop=True)
    site_pos = pd.Index(sc.sites["site_id"].astype(str))
    vcol = site_pos.get_indexer(VILLAGE_SITE_PREFIX + villages["village_id"].astype(str))
    if (vcol < 0).any():
        raise InputError("the scenario's sites lack its villages' clinic sites; rebuild it")
    if sc.units is not None and state.kinds is not None:
        v_unit = assign_units(villages, sc.units)
        v_kind = np.append(state.kinds.kinds, state.outside).astype(object)[v_unit]
    else:
        v_unit = np.full(len(villages), -1, dtype=np.int64)
        v_kind = np.full(len(villages), state.outside, dtype=object)
    rural = v_kind != "subdistrict"
    if (~rural).any():
        state.notes.append(
            f"{int((~rural).sum())} villages lie in sub-districts: no village clinic there "
            f"({state.rules.R5.cite()}: stations instead)"
        )
    if not rural.any():
        return
    if progress is not None:
        progress(f"R3: {int(rural.sum())} villages into joint-clinic groups")
    idx = np.flatnonzero(rural)
    vcosts = state.travel.village_costs.csr()
    pairs = vcosts[idx][:, vcol[idx]].tocoo()
    off = pairs.row != pairs.col  # a village to itself: 0
    n_v = len(idx)
    vv = sp.csr_array(
        (
            np.concatenate([pairs.data[off], np.zeros(n_v)]),
            (
                np.concatenate([pairs.row[off], np.arange(n_v)]),
                np.concatenate([pairs.col[off], np.arange(n_v)]),
            ),
        ),
        shape=(n_v, n_v),
    )
    sub = villages.iloc[idx].reset_index(drop=True)
    sub["population"] = pd.to_numeric(sub["population"]).astype(float)
    groups = group_villages(sub, population_column="population", rule=r3, travel_minutes=vv)
    choice = choose_group_sites(groups, vv, "population")
    has_clinic = np.zeros(int(groups["group_id"].max()) + 1, dtype=bool)
    clinics = np.flatnonzero(state.open & (state.tier == VILLAGE_TIER))
    if len(clinics):  # a group whose village hosts an open clinic has one already
        at = vcosts[idx][:, clinics].tocoo()
        reach = np.full((len(idx), len(clinics)), np.inf)
        reach[at.row, at.col] = at.data
        ok = np.isfinite(reach.min(axis=0))
        nearest_village = np.argmin(reach, axis=0)
        has_clinic[groups["group_id"].to_numpy()[nearest_village[ok]]] = True
    opened = 0
    clinic_site = np.full(len(has_clinic), None, dtype=object)
    ids = sc.sites["site_id"].astype(str).to_numpy()
    for row in choice.itertuples(index=False):
        g = int(row.group_id)
        touring = bool(groups.loc[groups["group_id"] == g, "touring"].iloc[0])
        if touring or has_clinic[g] or state.judge_only:
            continue
        j = int(vcol[idx[row.site]])
        if state.open[j]:
            continue
        label = "R3" if row.villages == 1 else f"R3 joint clinic of {row.villages} villages"
        state.open_site(j, VILLAGE_TIER, label)
        clinic_site[g] = ids[j]
        opened += 1
    out = gpd.GeoDataFrame(
        {
            "village_id": sub["village_id"].astype(str).to_numpy(),
            "name": sub["name"].astype(str).to_numpy() if "name" in sub.columns else "",
            "population": sub["population"].to_numpy(),
            "unit_id": [state.unit_id(u) if u >= 0 else None for u in v_unit[idx]],
            "group_id": groups["group_id"].to_numpy(),
            "small": groups["small"].to_numpy(),
            "joint": groups["joint"].to_numpy(),
            "touring": groups["touring"].to_numpy(),
            "group_population": groups["group_population"].to_numpy(),
            "clinic_site_id": clinic_site[groups["group_id"].to_numpy()],
            "rule": r3.cite(),
        },
        geometry=sub.geometry.to_numpy(),
        crs=sub.crs,
    )
    state.village_groups = out
    state.step(
        "R3",
        VILLAGE_TIER,
        opened,
        time.perf_counter() - start,
        Status.OPTIMAL,
        groups=int(groups["group_id"].nunique()),
        joint_groups=int(groups.loc[groups["joint"], "group_id"].nunique()),
        touring_groups=int(groups.loc[groups["touring"], "group_id"].nunique()),
    )


# ----------------------------------------------------------------------------- R6
