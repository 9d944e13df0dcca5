"""Writing a plan's outputs: one GeoJSON per layer, one styled GeoPackage, a JSON summary
(and, for a tiered plan, each tier's outputs plus the open sites with their tier; for a region,
the GeoPackage, the compliance CSV and the summary). Every layer goes through
:func:`siting.export.save_layers`, the one writer path."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pyproj

from siting.export import default_styles, save_csv, save_layers, save_summary
from siting.result import PlanResult

if TYPE_CHECKING:
    from siting.region import RegionResult
    from siting.tiers import TieredPlan

__all__ = ["geopackage_crs", "save_region", "save_result", "save_tiers"]

logger = logging.getLogger(__name__)

WGS84 = "EPSG:4326"


def geopackage_crs(layer: gpd.GeoDataFrame, projected: bool) -> pyproj.CRS:
    """The CRS a result's GeoPackage is written in: WGS84 longitude/latitude, or with
    ``projected`` the UTM zone (metres) of the centre of ``layer`` (its demand or its units),
    :func:`geodata.crs.local_utm_crs`."""
    if not projected:
        return pyproj.CRS.from_user_input(WGS84)
    from geodata.crs import local_utm_crs

    return local_utm_crs(layer)


def save_result(
    result: PlanResult,
    out_dir: str | Path,
    *,
    name: str = "plan",
    demand: str = "auto",
    summary: dict[str, Any] | None = None,
    projected: bool = False,
) -> dict[str, Path]:
    """Write ``<name>_<layer>.geojson`` for every layer, ``<name>.gpkg`` (styled for QGIS),
    ``<name>_summary.json``, ``<name>_units.csv`` (with admin units) and
    ``<name>_uncoverable.csv`` (residents no site covers within the threshold, with their
    longitude/latitude, when there are any; CSVs in UTF-8 with a BOM, for Excel); return the
    paths. ``demand``: the demand layer
    as ``points``, summed into a ``grid``, or ``auto`` (:meth:`PlanResult.layers`).
    ``summary`` is ``result.summary()`` when the caller has it already (computed once).
    ``projected``: the GeoPackage in the local UTM zone (metres, :func:`geopackage_crs`)
    instead of WGS84; the GeoJSON stays WGS84 (RFC 7946). The summary names the
    GeoPackage's CRS (``geopackage_crs``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top: dict[str, Any] = {"status": result.status}
    if result.coverage is not None:
        top["coverage"] = result.coverage.as_dict()
    threshold = result.scenario.threshold_minutes or 10.0
    crs = geopackage_crs(result.demand, projected)
    files = save_layers(
        result.layers(demand=demand),
        out,
        stem=name,
        styles=default_styles(threshold_minutes=threshold),
        extra_members={"sites": top},
        crs=crs,
    )
    summary = dict(result.summary() if summary is None else summary)
    summary["geopackage_crs"] = crs.to_string()
    files["summary"] = save_summary(summary, out / f"{name}_summary.json")
    if result.units is not None:
        files["units_csv"] = save_csv(result.units, out / f"{name}_units.csv")
    if result.compliance is not None:
        files["compliance_csv"] = save_csv(result.compliance, out / f"{name}_compliance.csv")
    lost = result.uncoverable()
    if len(lost) and result.scenario.model != "rules":  # a rules plan has its touring list
        lonlat = lost.geometry.to_crs("EPSG:4326")
        table = lost.drop(columns="geometry").assign(
            lon=lonlat.x.round(6).to_numpy(), lat=lonlat.y.round(6).to_numpy()
        )
        files["uncoverable_csv"] = save_csv(table, out / f"{name}_uncoverable.csv")
    logger.info("wrote %d files to %s", len(files), out)
    return files


def save_tiers(
    tiered: TieredPlan, out_dir: str | Path, *, name: str = "plan", projected: bool = False
) -> dict[str, Path]:
    """Write every tier's outputs as :func:`save_result` does (stem ``<name>_<tier>``), every
    open site with the tier that opened it (``<name>_tiers_sites.geojson``) and the tiers'
    summaries (``<name>_tiers_summary.json``); return the paths. ``projected``: the
    GeoPackages in the local UTM zone."""
    out = Path(out_dir)
    files: dict[str, Path] = {}
    for tier, result in zip(tiered.tiers, tiered.results, strict=True):
        saved = save_result(result, out, name=f"{name}_{tier}", projected=projected)
        for key, path in saved.items():
            files[f"{tier}/{key}"] = path
    sites = save_layers({"sites": tiered.sites()}, out, formats=("geojson",), stem=f"{name}_tiers")
    files["tiers_sites"] = sites["sites.geojson"]
    files["tiers_summary"] = save_summary(tiered.summary(), out / f"{name}_tiers_summary.json")
    return files


def save_region(
    result: RegionResult, out_dir: str | Path, *, name: str = "region", projected: bool = False
) -> dict[str, Path]:
    """Write a region plan: ``<name>.gpkg`` (styled layers), ``<name>_compliance.csv`` and
    ``<name>_summary.json`` (with every unit's error and traceback-free status).
    ``projected``: the GeoPackage in the UTM zone of the region's centre (metres; a region
    spanning several zones is distorted towards its edges)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threshold = result.settings.threshold_minutes or 10.0
    layers = result.layers()
    gpkg = save_layers(
        layers,
        out,
        formats=("gpkg",),
        stem=name,
        styles=default_styles(threshold_minutes=threshold),
        crs=geopackage_crs(layers["admin_units"], projected),
    )
    files = {
        "gpkg": gpkg["gpkg"],
        "compliance_csv": save_csv(result.compliance, out / f"{name}_compliance.csv"),
    }
    files["summary"] = save_summary(result.summary(), out / f"{name}_summary.json")
    logger.info("wrote the region plan to %s", out)
    return files
