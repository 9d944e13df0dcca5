"""The one writer path of a result's layers: every layer as GeoJSON and all of them in one styled
GeoPackage (:func:`save_layers`), a JSON summary beside them (:func:`save_summary`) and its
tables as CSV (:func:`save_csv`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from siting._json import jsonable, to_json
from siting.export._frames import check_file_part, write_text_atomic
from siting.export.geojson import geojson_dict, geojson_text
from siting.export.gpkg import check_layer_names, save_geopackage
from siting.export.styles import default_styles
from siting_errors import InputError

__all__ = ["CSV_ENCODING", "LAYER_FORMATS", "save_csv", "save_layers", "save_summary"]

logger = logging.getLogger(__name__)

LAYER_FORMATS = ("geojson", "gpkg")
"""The formats :func:`save_layers` writes."""


def save_layers(
    layers: Mapping[str, gpd.GeoDataFrame],
    directory: str | Path,
    *,
    formats: Sequence[str] = LAYER_FORMATS,
    stem: str = "plan",
    styles: Mapping[str, str] | None = None,
    precision: int = 6,
    crs: Any = "EPSG:4326",
    id_columns: Mapping[str, str] | None = None,
    extra_members: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write every layer as ``<stem>_<layer>.geojson`` and all of them into ``<stem>.gpkg``:
    the one writer of a result's layers (:mod:`siting.outputs` calls it for plans, tiered
    plans, regions and what-if runs).

    Args:
        layers: layer name → GeoDataFrame.
        directory: output folder (created when missing).
        formats: any of ``"geojson"`` and ``"gpkg"``.
        stem: the file-name prefix.
        styles: QML per layer for the GeoPackage; ``None`` uses :func:`default_styles`,
            ``{}`` writes none.
        precision: GeoJSON coordinate decimals.
        crs: the GeoPackage's CRS (``None`` keeps each layer's own).
        id_columns: layer name → column used as GeoJSON feature ``id``.
        extra_members: layer name → extra top-level GeoJSON members (e.g. coverage).

    Returns:
        ``"<layer>.geojson"`` → path for each layer, and ``"gpkg"`` → path.

    Every GeoJSON document is built (and so checked) before anything is written.
    """
    if not isinstance(layers, Mapping) or not layers:
        raise InputError("`layers` must be a non-empty mapping of layer name → GeoDataFrame")
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in LAYER_FORMATS]
    if bad or not formats:
        raise InputError(
            f"`formats` must be a non-empty selection of {list(LAYER_FORMATS)}, got {list(formats)}"
        )
    stem = check_file_part(stem, "`stem`")
    names = check_layer_names(layers)
    for name in names:
        check_file_part(name, f"layer name {name!r}")
    id_columns = dict(id_columns or {})
    extra_members = dict(extra_members or {})
    for what, mapping in (("id_columns", id_columns), ("extra_members", extra_members)):
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise InputError(
                f"`{what}` names layers that do not exist: {unknown}; layers are {names}"
            )

    out_dir = Path(directory)
    docs = {}
    if "geojson" in formats:
        docs = {
            name: geojson_dict(
                layers[name],
                precision=precision,
                id_column=id_columns.get(name),
                extra=extra_members.get(name),
                name=name,
            )
            for name in names
        }
    files: dict[str, Path] = {}
    for name, doc in docs.items():
        path = out_dir / f"{stem}_{name}.geojson"
        write_text_atomic(path, geojson_text(doc))
        files[f"{name}.geojson"] = path
    if "gpkg" in formats:
        files["gpkg"] = save_geopackage(
            layers,
            out_dir / f"{stem}.gpkg",
            styles=default_styles() if styles is None else styles,
            crs=crs,
        )
    logger.info("wrote %d files to %s", len(files), out_dir)
    return files


def save_summary(summary: Any, path: str | Path) -> Path:
    """Write a result's summary as indented UTF-8 JSON (made JSON-safe first: numpy scalars as
    numbers, NaN and infinities as ``null``); the file is replaced atomically."""
    p = Path(path)
    write_text_atomic(p, to_json(jsonable(summary), indent=2))
    return p


CSV_ENCODING = "utf-8-sig"
"""The encoding of every CSV written: UTF-8 with a byte-order mark, so that Excel (which reads
a CSV without one in the local code page) shows Chinese names intact; pandas, Python's csv
module with ``utf-8-sig``, LibreOffice and QGIS read it as plain UTF-8."""


def save_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV (no index) in :data:`CSV_ENCODING`, replacing the file atomically:
    the one writer of the CSVs a plan, a tiered plan or a region writes."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"`table` must be a DataFrame, got {type(table).__name__}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(tmp, index=False, encoding=CSV_ENCODING)
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    return p
