"""Dataset files: the formats each dataset kind accepts, the checks of an upload, and every read
of a stored dataset, all through the file guard (:mod:`geodata.guard`).

An upload is checked once when it arrives (allowed suffix, content of that format, sizes from
the header, then read with the domain loader and checked again: CRS without grid files,
coordinates inside lon/lat ranges for geographic data, populations within bounds); a stored
dataset is checked again by the guard each time a run reads it. GeoJSON uploads are parsed with
the strict request models and stored re-serialised (only ``type``, ``crs`` and the features'
``id`` / ``geometry`` / ``properties``), so GDAL later reads only text this service wrote.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import ValidationError

from api.geojson import FeatureCollection
from api.problems import ApiProblem, redact_paths
from api.storage import Storage
from geodata.guard import (
    GEOJSON_TYPES,
    DatasetCheck,
    GuardLimits,
    SizeLimitError,
    check_crs,
    check_dataset,
    gdal_sandbox,
    parse_crs,
    parse_json,
    sniff_format,
)
from siting_errors import (
    CRSError,
    DataNotFoundError,
    InputError,
    SitingError,
    UnsupportedFormatError,
)

__all__ = [
    "DATASET_SUFFIXES",
    "MAX_POPULATION",
    "MAX_TOTAL_POPULATION",
    "Resolver",
    "check_frame",
    "check_population",
    "dataset_suffix",
    "read_dataset",
    "storage_resolver",
    "validate_upload",
]

logger = logging.getLogger(__name__)

_GEOJSON = (".geojson", ".json")
_VECTOR = (*_GEOJSON, ".gpkg", ".fgb", ".zip")
#: file suffixes each dataset kind accepts (longest match wins) and the guard kind they are read as
DATASET_SUFFIXES: dict[str, dict[str, str]] = {
    "population": {".tif": "raster", ".tiff": "raster", **dict.fromkeys(_VECTOR, "vector")},
    "roads": dict.fromkeys((".osm.pbf", ".pbf", ".osm", ".xml", ".graphml"), "roads"),
    "sites": dict.fromkeys(_VECTOR, "vector"),
    "units": dict.fromkeys(_VECTOR, "vector"),
}
#: the most residents one demand point may carry, and all together (more is a unit error)
MAX_POPULATION = 1e9
MAX_TOTAL_POPULATION = 1e11

#: ``(field, dataset id, kind)`` → the stored file of a dataset the caller may read
Resolver = Callable[[str, UUID, str], Path]


def dataset_suffix(kind: str, filename: str) -> str:
    """The stored suffix of an upload (from an allow-list), or an UnsupportedFormatError."""
    from siting import UnsupportedFormatError

    allowed = DATASET_SUFFIXES[kind]
    name = filename.lower()
    for suffix in sorted(allowed, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise UnsupportedFormatError(
        f"`file` {filename!r} has an unsupported format for a {kind} dataset; expected one of "
        f"{', '.join(allowed)}"
    )


def storage_resolver(storage: Storage, scope: str | None) -> Resolver:
    """A resolver over ``storage`` that sees the datasets of owner ``scope`` (every owner's for
    ``None``): 404 for an unknown or foreign id, 422 for a dataset of another kind."""

    def resolve(field: str, dataset_id: UUID, kind: str) -> Path:
        record = storage.get_dataset(str(dataset_id), scope)
        if record is None:
            raise ApiProblem(
                404,
                "Dataset not found",
                f"`{field}`: no dataset with id {dataset_id}; upload one with POST /v1/datasets",
                field=field,
                value=str(dataset_id),
                expected="the id of an uploaded dataset",
            )
        if record["kind"] != kind:
            raise ApiProblem(
                422,
                "Wrong dataset kind",
                f"`{field}`: dataset {dataset_id} is a {record['kind']!r} dataset; expected "
                f"{kind!r}",
                field=field,
                value=str(dataset_id),
                expected=f"a {kind} dataset",
            )
        path = storage.dataset_path(record)
        if not path.is_file():
            raise DataNotFoundError(f"`{field}`: the file of dataset {dataset_id} is missing")
        return path

    return resolve


# --------------------------------------------------------------------------- checks of frames
def check_population(values: Any, what: str, *, at: str = "feature") -> np.ndarray:
    """Populations as floats: finite and >= 0 (:func:`solvers.finite_non_negative`, the one
    check of the project), at most :data:`MAX_POPULATION` each and
    :data:`MAX_TOTAL_POPULATION` together; an :class:`InputError` naming ``what``, the first
    bad value as sent and its position (``at`` and the row) otherwise."""
    from solvers import finite_non_negative

    raw = pd.Series(values).reset_index(drop=True)
    shown = raw.to_numpy(dtype=object)
    numbers = pd.to_numeric(raw, errors="coerce")
    pop = finite_non_negative(numbers, what, at=at, shown=shown)
    big = np.flatnonzero(pop > MAX_POPULATION)
    if len(big):
        raise InputError(
            f"{what} must be at most {MAX_POPULATION:g} residents, got {_item(shown, big[0])!r} "
            f"at {at} {big[0]}"
        )
    total = float(pop.sum())
    if total > MAX_TOTAL_POPULATION:
        raise InputError(
            f"{what} holds {total:g} residents in all; at most {MAX_TOTAL_POPULATION:g} can be "
            "planned for"
        )
    return pop


def _item(shown: np.ndarray, i: int) -> Any:
    value = shown[i]
    return value.item() if isinstance(value, np.generic) else value


def check_frame(frame: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """A loaded frame's CRS names no grid file and, when geographic, its coordinates are
    longitudes/latitudes (a projected file read as WGS84 is refused naming ``what``)."""
    if frame.crs is None:
        raise CRSError(f"`{what}` has no CRS; give one (an EPSG code or WKT)")
    crs = check_crs(frame.crs, f"`{what}`")
    if crs.is_geographic and len(frame):
        x0, y0, x1, y1 = frame.total_bounds
        if not (np.isfinite([x0, y0, x1, y1]).all()):
            raise InputError(f"`{what}` has non-finite coordinates")
        if x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
            raise CRSError(
                f"`{what}` has coordinates up to ({max(abs(x0), abs(x1)):g}, "
                f"{max(abs(y0), abs(y1)):g}), outside longitude/latitude ranges, but it is read "
                "as WGS84 lon/lat: it has no CRS of its own; name its CRS (the `crs` field of "
                "the upload, or a `crs` member in GeoJSON, e.g. EPSG:32649)"
            )
    return frame


# --------------------------------------------------------------------------- reading
def _guard_kind(kind: str, path: Path) -> str:
    name = path.name.lower()
    for suffix, guard in sorted(DATASET_SUFFIXES[kind].items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return guard
    return "vector"


def _loader(kind: str, check: DatasetCheck, options: dict[str, Any]) -> Any:
    path = check.path
    if kind == "population":
        from geodata import load_population

        if check.format == "GTiff":
            return load_population(path)
        return load_population(
            path, population_column=options.get("population_property", "population")
        )
    if kind == "sites":
        from geodata import load_sites

        return load_sites(path, existing=bool(options.get("existing", False)))
    if kind == "units":
        from geodata import load_boundaries

        return load_boundaries(path, keep=tuple(options.get("keep", ())))
    from geodata.network import load_or_build_network

    return load_or_build_network(path, options["mode"], options["cache_dir"])


def read_dataset(path: Path, kind: str, what: str, limits: GuardLimits, **options: Any) -> Any:
    """A stored dataset read with its domain loader, after the guard checked the file and
    inside the GDAL sandbox; errors name ``what`` (the request field). ``options``:
    ``population_property``, ``existing`` (sites), ``keep`` (unit columns to keep besides
    ``kind``), ``mode`` and ``cache_dir`` (roads)."""
    check = check_dataset(path, _guard_kind(kind, path), limits)
    try:
        with gdal_sandbox():
            value = _loader(kind, check, options)
    except SitingError as exc:
        message = redact_paths(str(exc))
        raise type(exc)(message if f"`{what}`" in message else f"`{what}`: {message}") from exc
    except MemoryError:
        raise SizeLimitError(f"`{what}` needs more memory than a worker process may use") from None
    except Exception as exc:  # a loader tripping over hostile content is bad input, not a bug
        logger.warning("reading %s (%s) failed", path, kind, exc_info=exc)
        raise InputError(
            f"`{what}`: the {kind} file could not be read "
            f"({type(exc).__name__}: {redact_paths(str(exc))[:300]})"
        ) from exc
    if isinstance(value, gpd.GeoDataFrame):
        check_frame(value, what)
        if kind == "population":
            check_population(value["population"], f"`{what}`: the population", at="demand point")
    return value


# --------------------------------------------------------------------------- uploads
def _canonical_geojson(path: Path, crs: str | None, limits: GuardLimits) -> None:
    """Parse an uploaded GeoJSON with the request models and store it re-serialised."""
    if path.stat().st_size > limits.max_json_bytes:
        raise SizeLimitError(
            f"`file` is {path.stat().st_size:,} bytes; GeoJSON datasets are read whole and the "
            f"limit is {limits.max_json_bytes:,} bytes (upload GeoPackage or FlatGeobuf instead)"
        )
    doc = parse_json(path.read_bytes(), "file", max_depth=limits.max_json_depth)
    kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
    if kind not in GEOJSON_TYPES:
        raise UnsupportedFormatError(
            f"`file` is named as GeoJSON but its content is JSON of type {str(kind)[:40]!r}, "
            "which is never read; expected a GeoJSON FeatureCollection"
        )
    if kind != "FeatureCollection":
        raise InputError(f"`file` must be a GeoJSON FeatureCollection, got a {kind}")
    try:
        fc = FeatureCollection.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(
            f"`file.{where}`: {err['msg']} ({len(exc.errors())} problems in all)"
        ) from None
    out: dict[str, Any] = {"type": "FeatureCollection"}
    declared = fc.crs_name()
    if crs is not None and declared is not None:
        raise CRSError("`crs` is given but the file has a `crs` member; give one of them")
    name = crs if crs is not None else declared
    if name is not None:
        parsed = parse_crs(name, "crs" if crs is not None else "file.crs")
        code = parsed.to_epsg()
        text = f"urn:ogc:def:crs:EPSG::{code}" if code else parsed.to_wkt()
        out["crs"] = {"type": "name", "properties": {"name": text}}
    out["features"] = [
        {
            "type": "Feature",
            **({"id": f.id} if f.id is not None else {}),
            "geometry": f.geometry.model_dump(mode="json", exclude_none=True),
            "properties": f.properties,
        }
        for f in fc.features
    ]
    text = json.dumps(out, ensure_ascii=False, allow_nan=False)
    tmp = path.with_name(f".{path.name}.canonical")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def validate_upload(
    kind: str,
    path: Path,
    limits: GuardLimits,
    *,
    crs: str | None = None,
    filename: str | None = None,
) -> dict[str, Any]:
    """Check an uploaded file and read it like a run will; its metadata (features, population,
    CRS, format). ``crs`` (EPSG code or WKT) is the CRS of a GeoJSON file without one. Errors
    name the ``file`` field and the uploaded ``filename``, never the stored name."""
    try:
        return _validate_upload(kind, path, limits, crs)
    except SitingError as exc:
        message = str(exc).replace(repr(path.name), f"`file` {filename or path.name!r}")
        if isinstance(exc, CRSError) and crs is None and path.suffix.lower() in _GEOJSON:
            message += "; a GeoJSON upload names its CRS in the `crs` field (e.g. EPSG:32649)"
        raise type(exc)(message) from exc


def _validate_upload(kind: str, path: Path, limits: GuardLimits, crs: str | None) -> dict[str, Any]:
    if crs is not None and path.suffix.lower() not in _GEOJSON:
        raise InputError(
            "`crs` applies to GeoJSON uploads only; other formats declare their own CRS"
        )
    if path.suffix.lower() in _GEOJSON:
        sniff_format(path, "vector")  # a VRT or anything else under a GeoJSON name: 415
        _canonical_geojson(path, crs, limits)
    if kind == "roads":
        check = check_dataset(path, "roads", limits)
        return {"format": check.format, **check.details}
    frame = read_dataset(path, kind, "file", limits)
    meta: dict[str, Any] = {
        "features": len(frame),
        "crs": frame.crs.to_string() if frame.crs is not None else None,
    }
    if kind == "population":
        meta["population"] = round(float(frame["population"].sum()), 3)
    return meta
