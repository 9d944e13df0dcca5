"""Private helpers of the exports: layer checks, reprojection and atomic text files."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyproj

from siting_errors import CRSError, InputError

logger = logging.getLogger(__name__)


def check_gdf(gdf: Any, name: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"layer {name!r} must be a GeoDataFrame, got {type(gdf).__name__}")
    try:
        gdf.geometry  # noqa: B018 - raises when there is no active geometry column
    except AttributeError as exc:
        raise InputError(f"layer {name!r} has no active geometry column") from exc
    if gdf.crs is None:
        raise CRSError(
            f"layer {name!r} has no CRS; set the CRS its coordinates are in "
            "(gdf.set_crs(...)) before exporting"
        )
    return gdf


def to_crs(gdf: gpd.GeoDataFrame, crs: Any, name: str) -> gpd.GeoDataFrame:
    try:
        target = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"`crs` must be a valid CRS, got {crs!r}") from exc
    if gdf.crs.equals(target):
        return gdf
    try:
        return gdf.to_crs(target)
    except (pyproj.exceptions.CRSError, pyproj.exceptions.ProjError) as exc:
        raise CRSError(
            f"layer {name!r} cannot be reprojected from {gdf.crs.to_string()} to "
            f"{target.to_string()}: {exc}"
        ) from exc


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def check_file_part(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must be a non-empty string, got {value!r}")
    if any(ch in value for ch in '/\\:*?"<>|\0') or value in (".", ".."):
        raise InputError(
            f'{what} must be usable in a file name (no path separators or /\\:*?"<>|), '
            f"got {value!r}"
        )
    return value
