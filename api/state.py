"""What-if state of a finished job: its scenario and travel times as arrays + JSON, no pickle.

A job's ``result/state/`` folder holds ``manifest.json`` (format name, version, the scenario's
parameters, the frames' columns and CRS) and one ``.npz`` per table (``demand``, ``sites``,
``units``, and a rules plan's ``villages`` and ``pois``: columns as typed arrays, geometries as
WKB; ``travel``: the sparse travel-time matrix and its labels, and a rules plan's villages ×
sites matrix). Loading uses ``allow_pickle=False``, so a state file can hold no code.
The road network is not kept: a what-if re-solve reuses the travel-time matrix and never
searches the network again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from siting import Scenario, TravelCosts
from siting_errors import InputError
from solvers import CostMatrix

__all__ = ["STATE_FORMAT", "STATE_VERSION", "StateError", "load_state", "save_state"]

logger = logging.getLogger(__name__)

STATE_FORMAT = "siting-whatif-state"
STATE_VERSION = 2
#: versions :func:`load_state` reads (1: before rules plans; its jobs are single-model runs)
_READABLE = (1, 2)
_MANIFEST = "manifest.json"
_PARAMETERS = (
    "model",
    "new_sites",
    "threshold_minutes",
    "mode",
    "max_snap_distance",
    "cutoff_minutes",
    "detour_factor",
    "walk_speed_kmh",
    "backend",
    "time_limit",
    "mip_gap",
    "name",
    "options",
    "unit_kind_column",
    "unit_kind",
    "station_budget",
    "county_steps",
    "strict",
)


class StateError(InputError):
    """A job's what-if state is missing, from another version or damaged."""


def _save_frame(frame: gpd.GeoDataFrame, path: Path) -> dict[str, Any]:
    arrays: dict[str, np.ndarray] = {}
    columns = []
    for i, name in enumerate(c for c in frame.columns if c != frame.geometry.name):
        series = frame[name]
        if series.dtype.kind in "biuf":
            arrays[f"c{i}"] = series.to_numpy()
            kind = series.dtype.str
        else:
            missing = series.isna().to_numpy()
            text = ["" if m else str(v) for v, m in zip(series.tolist(), missing, strict=True)]
            arrays[f"c{i}"] = np.array(text, dtype=str)
            arrays[f"m{i}"] = missing
            kind = "str"
        columns.append({"name": str(name), "kind": kind})
    wkb = shapely.to_wkb(frame.geometry.to_numpy())
    arrays["wkb_lengths"] = np.array([len(b) for b in wkb], dtype=np.int64)
    arrays["wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    with path.open("wb") as out:
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return {
        "file": path.name,
        "rows": len(frame),
        "columns": columns,
        "geometry": str(frame.geometry.name),
        "crs": frame.crs.to_wkt() if frame.crs is not None else None,
    }


def _load_frame(folder: Path, entry: dict[str, Any]) -> gpd.GeoDataFrame:
    with np.load(folder / entry["file"], allow_pickle=False) as z:
        data: dict[str, Any] = {}
        for i, col in enumerate(entry["columns"]):
            values = z[f"c{i}"]
            if col["kind"] == "str":
                array = pd.array(values.astype(object), dtype="str")
                missing = z[f"m{i}"]
                if missing.any():
                    array = pd.array(np.where(missing, None, values.astype(object)), dtype="str")
                data[col["name"]] = array
            else:
                data[col["name"]] = values.astype(np.dtype(col["kind"]))
        lengths = z["wkb_lengths"]
        blob = z["wkb"].tobytes()
    ends = np.cumsum(lengths)
    starts = ends - lengths
    geoms = shapely.from_wkb([blob[s:e] for s, e in zip(starts, ends, strict=True)])
    crs = CRS.from_wkt(entry["crs"]) if entry["crs"] else None
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def save_state(scenario: Scenario, travel: TravelCosts, folder: str | Path) -> Path:
    """Write a finished run's scenario and travel times into ``folder`` (created)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frames: dict[str, Any] = {
        "demand": _save_frame(scenario.demand, out / "demand.npz"),
        "sites": _save_frame(scenario.sites, out / "sites.npz"),
    }
    for name in ("units", "villages", "pois"):
        frame = getattr(scenario, name)
        frames[name] = None if frame is None else _save_frame(frame, out / f"{name}.npz")
    costs = travel.costs
    arrays: dict[str, np.ndarray] = {
        "indptr": costs.indptr,
        "indices": costs.indices,
        "data": costs.data,
        "demand_snapped": np.asarray(travel.demand_snapped, dtype=bool),
        "site_snapped": np.asarray(travel.site_snapped, dtype=bool),
        "demand_ids": np.asarray(travel.demand_ids).astype(str),
        "site_ids": np.asarray(travel.site_ids).astype(str),
    }
    villages = travel.village_costs
    if villages is not None and travel.village_ids is not None:
        arrays.update(
            village_indptr=villages.indptr,
            village_indices=villages.indices,
            village_data=villages.data,
            village_shape=np.asarray(villages.shape, dtype=np.int64),
            village_ids=np.asarray(travel.village_ids).astype(str),
        )
    with (out / "travel.npz").open("wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    manifest = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "scenario": {name: getattr(scenario, name) for name in _PARAMETERS},
        "rules": None if scenario.rules is None else "inner_mongolia",
        "frames": frames,
        "travel": {
            "file": "travel.npz",
            "shape": list(costs.shape),
            "cutoff_minutes": travel.cutoff_minutes,
            "method": travel.method,
            "seconds": travel.seconds,
        },
    }
    (out / _MANIFEST).write_text(json.dumps(manifest, default=_plain), encoding="utf-8")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def load_state(folder: str | Path) -> tuple[Scenario, TravelCosts]:
    """Read what :func:`save_state` wrote; a :class:`StateError` when the folder is missing, of
    another format version or damaged."""
    root = Path(folder)
    try:
        manifest = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StateError(
            "the job has no what-if state (it ran before state files were kept)"
        ) from None
    except (OSError, ValueError) as exc:
        raise StateError(f"the job's what-if state is unreadable ({exc})") from None
    if manifest.get("format") != STATE_FORMAT or manifest.get("version") not in _READABLE:
        raise StateError(
            f"the job's what-if state is {manifest.get('format')!r} version "
            f"{manifest.get('version')!r}; this service reads {STATE_FORMAT!r} versions "
            f"{', '.join(map(str, _READABLE))}: submit the job again"
        )
    try:
        frames = manifest["frames"]
        demand = _load_frame(root, frames["demand"])
        sites = _load_frame(root, frames["sites"])
        optional: dict[str, Any] = {
            name: None if frames.get(name) is None else _load_frame(root, frames[name])
            for name in ("units", "villages", "pois")
        }
        info = manifest["travel"]
        with np.load(root / info["file"], allow_pickle=False) as z:
            shape = (int(info["shape"][0]), int(info["shape"][1]))
            costs = CostMatrix(z["indptr"], z["indices"], z["data"], shape)
            village_costs, village_ids = None, None
            if "village_ids" in z.files:
                vshape = z["village_shape"]
                village_costs = CostMatrix(
                    z["village_indptr"],
                    z["village_indices"],
                    z["village_data"],
                    (int(vshape[0]), int(vshape[1])),
                )
                village_ids = z["village_ids"].astype(object)
            travel = TravelCosts(
                costs=costs,
                cutoff_minutes=float(info["cutoff_minutes"]),
                method=str(info["method"]),
                demand_snapped=z["demand_snapped"],
                site_snapped=z["site_snapped"],
                network=None,
                site_snap=None,
                demand_ids=z["demand_ids"].astype(object),
                site_ids=z["site_ids"].astype(object),
                seconds=float(info["seconds"]),
                village_costs=village_costs,
                village_ids=village_ids,
            )
    except (OSError, ValueError, KeyError) as exc:
        raise StateError(
            f"the job's what-if state is damaged ({type(exc).__name__}: {exc})"
        ) from exc
    rules = None
    if manifest.get("rules") == "inner_mongolia":
        from siting.rules import default_rules

        rules = default_rules()
    params = dict(manifest["scenario"])
    if "county_steps" in params:
        params["county_steps"] = tuple(params["county_steps"])
    scenario = Scenario(demand=demand, sites=sites, rules=rules, **optional, **params)
    return scenario, travel
