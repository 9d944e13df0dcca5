"""The per-unit result cache: a unit's key (the hash of everything that determines its result)
and finished outcomes stored by key, so a rerun with the same inputs skips the unit."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.region.roads import RoadIndex, RoadWindow
from siting.region.unit import UnitJob, UnitOutcome

__all__ = ["CACHE_VERSION", "load_cached", "store", "unit_key"]

logger = logging.getLogger(__name__)

#: bump when the planning semantics change (part of every unit key, so old results stop
#: matching); the stored file format has its own tag
CACHE_VERSION = 1


def _hash_frame(h: Any, frame: gpd.GeoDataFrame, columns: tuple[str, ...]) -> None:
    h.update(str(len(frame)).encode())
    for col in columns:
        if col not in frame.columns:
            h.update(f"<no {col}>".encode())
            continue
        values = frame[col]
        if values.dtype.kind in "biuf":
            h.update(np.ascontiguousarray(values.to_numpy(dtype=np.float64)).tobytes())
        else:
            h.update("\x1f".join(map(str, values.tolist())).encode("utf-8"))
    h.update(b"\x1e".join(shapely.to_wkb(frame.geometry.to_numpy()).tolist()))


def _hash_roads(h: Any, roads: RoadWindow | Any) -> None:
    if roads is None:
        h.update(b"<straight line>")
    elif isinstance(roads, RoadWindow):
        h.update(roads.digest)
    else:  # a graph given directly
        h.update(RoadIndex(roads).clip(shapely.box(-180, -90, 180, 90)).digest)


def unit_key(job: UnitJob) -> str:
    """SHA-256 of everything that determines a unit's result (the cache key)."""
    from siting.rules import rules_to_dict

    h = hashlib.sha256()
    s = job.settings
    meta = {
        "version": CACHE_VERSION,
        "unit_id": job.unit_id,
        "settings": {**s.describe(), "new_sites": s.new_sites_for(job.unit_id)},
        "rules": None if s.rules is None else rules_to_dict(s.rules),
    }
    h.update(json.dumps(meta, sort_keys=True, default=str).encode("utf-8"))
    h.update(shapely.to_wkb(job.unit.geometry.iloc[0]))
    _hash_frame(h, job.demand, ("demand_id", "population"))
    _hash_frame(h, job.sites, ("site_id", "existing", "home_unit"))
    _hash_roads(h, job.roads)
    return h.hexdigest()


# ------------------------------------------------------------------------ the stored format
# One ``.npz`` per finished unit, read with ``allow_pickle=False``: the demand frame as one
# array per column (text columns as unicode arrays with a missing-value mask, geometries as
# concatenated WKB with offsets) and everything else as JSON (``meta``): the outcome's fields,
# each column's name and pandas dtype, the CRS and a format tag. The service areas (format 2)
# are a second frame, its arrays prefixed ``a``; files of format 1 (without them) are recomputed.
_FORMAT = "siting-unit-outcome-2"
_META_FIELDS = ("unit_id", "name", "key", "status", "summary", "seconds", "worker")


def _frame_arrays(
    frame: gpd.GeoDataFrame, prefix: str = "c"
) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Arrays and column descriptions of a frame (numbers and booleans as they are, text as
    unicode plus a missing mask, the geometry as WKB)."""
    arrays: dict[str, np.ndarray] = {}
    columns: list[dict[str, str]] = []
    geom_col = frame.geometry.name
    for k, col in enumerate(frame.columns):
        series = frame[col]
        key = f"{prefix}{k}"
        if col == geom_col:
            wkb = shapely.to_wkb(series.to_numpy())  # None for a missing shape: size 0
            sizes = np.array([0 if b is None else len(b) for b in wkb], dtype=np.int64)
            arrays[key] = np.frombuffer(b"".join(b or b"" for b in wkb), dtype=np.uint8)
            arrays[f"{key}_sizes"] = sizes
            columns.append({"name": str(col), "kind": "geometry", "dtype": "geometry"})
        elif isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
            arrays[key] = series.to_numpy()
            columns.append({"name": str(col), "kind": "array", "dtype": str(series.dtype)})
        else:
            missing = series.isna().to_numpy()
            text = [("" if m else str(v)) for v, m in zip(series.tolist(), missing, strict=True)]
            arrays[key] = np.array(text, dtype=str)
            arrays[f"{key}_missing"] = missing
            columns.append({"name": str(col), "kind": "text", "dtype": str(series.dtype)})
    return arrays, columns


def _frame_from_arrays(
    data: Any, columns: list[dict[str, str]], crs: str | None, prefix: str = "c"
) -> gpd.GeoDataFrame:
    values: dict[str, Any] = {}
    geometry = None
    for k, spec in enumerate(columns):
        key = f"{prefix}{k}"
        if spec["kind"] == "geometry":
            sizes = data[f"{key}_sizes"]
            buffer = data[key].tobytes()
            ends = np.cumsum(sizes)
            wkb = [
                buffer[e - n : e] if n else None
                for e, n in zip(ends.tolist(), sizes.tolist(), strict=True)
            ]
            geometry = (spec["name"], shapely.from_wkb(np.array(wkb, dtype=object)))
        elif spec["kind"] == "array":
            values[spec["name"]] = data[key]
        else:
            text = data[key].astype(object)
            text[data[f"{key}_missing"]] = None
            values[spec["name"]] = pd.Series(text, dtype=spec["dtype"])
    if geometry is None:
        raise ValueError("no geometry column")
    frame = pd.DataFrame(values)
    frame[geometry[0]] = gpd.GeoSeries(geometry[1], crs=crs)
    frame = frame[[spec["name"] for spec in columns]]
    return gpd.GeoDataFrame(frame, geometry=geometry[0], crs=crs)


def _cache_path(cache_dir: Path, job: UnitJob) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in job.unit_id)
    return cache_dir / f"{safe}-{job.key[:24]}.npz"


def _read(path: Path) -> UnitOutcome:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {_FORMAT!r}")
        demand = _frame_from_arrays(data, meta["columns"], meta["crs"])
        areas = meta.get("areas")
        service_areas = (
            None
            if areas is None
            else _frame_from_arrays(data, areas["columns"], areas["crs"], prefix="a")
        )
    return UnitOutcome(
        **{f: meta[f] for f in _META_FIELDS},
        demand=demand,
        service_areas=service_areas,
        new_site_ids=tuple(meta["new_site_ids"]),
        cached=True,
    )


def load_cached(cache_dir: Path | None, job: UnitJob) -> UnitOutcome | None:
    """The stored outcome of ``job`` (marked ``cached``), or ``None`` when there is none, it
    is unreadable (a truncated or foreign file: recomputed) or it is for other inputs."""
    if cache_dir is None:
        return None
    path = _cache_path(cache_dir, job)
    if not path.exists():
        return None
    try:
        outcome = _read(path)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable cache file %s: %s", path, exc)
        return None
    if outcome.key != job.key or not outcome.ok:
        return None
    return outcome


def store(cache_dir: Path | None, job: UnitJob, outcome: UnitOutcome) -> None:
    """Store a finished unit's outcome under its key (failed units are never stored); the
    file is written to a temporary name first, then moved into place."""
    if cache_dir is None or not outcome.ok or outcome.demand is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    arrays, columns = _frame_arrays(outcome.demand)
    crs = outcome.demand.crs
    meta: dict[str, Any] = {
        "format": _FORMAT,
        **{f: getattr(outcome, f) for f in _META_FIELDS},
        "new_site_ids": list(outcome.new_site_ids),
        "columns": columns,
        "crs": None if crs is None else crs.to_string(),
        "areas": None,
    }
    if outcome.service_areas is not None:
        area_arrays, area_columns = _frame_arrays(outcome.service_areas, prefix="a")
        arrays.update(area_arrays)
        area_crs = outcome.service_areas.crs
        meta["areas"] = {
            "columns": area_columns,
            "crs": None if area_crs is None else area_crs.to_string(),
        }
    path = _cache_path(cache_dir, job)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        payload: dict[str, Any] = {"meta": np.array(json.dumps(meta, ensure_ascii=False)), **arrays}
        np.savez(tmp, **payload)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
