"""Writing a plan's outputs: one GeoJSON per layer, one styled GeoPackage, a JSON summary
(and, for a tiered plan, each tier's outputs plus the open sites with their tier)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from siting.result import PlanResult

if TYPE_CHECKING:
    from siting.tiers import TieredPlan

__all__ = ["save_result", "save_tiers"]

logger = logging.getLogger(__name__)


def save_result(result: PlanResult, out_dir: str | Path, *, name: str = "plan") -> dict[str, Path]:
    """Write ``<name>_<layer>.geojson`` for every layer, ``<name>.gpkg`` (styled for QGIS),
    ``<name>_summary.json`` and ``<name>_units.csv`` (with admin units); return the paths."""
    from siting.export import default_styles, save_geojson, save_geopackage

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    layers = result.layers()
    files: dict[str, Path] = {}
    top = {"status": result.status}
    if result.coverage is not None:
        top["coverage"] = result.coverage.as_dict()
    for layer_name, layer in layers.items():
        path = out / f"{name}_{layer_name}.geojson"
        save_geojson(layer, path, extra=top if layer_name == "sites" else None)
        files[f"{layer_name}.geojson"] = path
    files["gpkg"] = out / f"{name}.gpkg"
    threshold = result.scenario.threshold_minutes or 10.0
    save_geopackage(layers, files["gpkg"], styles=default_styles(threshold_minutes=threshold))
    files["summary"] = out / f"{name}_summary.json"
    files["summary"].write_text(
        json.dumps(result.summary(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    if result.units is not None:
        files["units_csv"] = out / f"{name}_units.csv"
        result.units.to_csv(files["units_csv"], index=False, encoding="utf-8")
    if result.compliance is not None:
        files["compliance_csv"] = out / f"{name}_compliance.csv"
        result.compliance.to_csv(files["compliance_csv"], index=False, encoding="utf-8")
    logger.info("wrote %d files to %s", len(files), out)
    return files


def save_tiers(tiered: TieredPlan, out_dir: str | Path, *, name: str = "plan") -> dict[str, Path]:
    """Write every tier's outputs as :func:`save_result` does (stem ``<name>_<tier>``), every
    open site with the tier that opened it (``<name>_tiers_sites.geojson``) and the tiers'
    summaries (``<name>_tiers_summary.json``); return the paths."""
    from siting.export import save_geojson

    out = Path(out_dir)
    files: dict[str, Path] = {}
    for tier, result in zip(tiered.tiers, tiered.results, strict=True):
        for key, path in save_result(result, out, name=f"{name}_{tier}").items():
            files[f"{tier}/{key}"] = path
    files["tiers_sites"] = save_geojson(tiered.sites(), out / f"{name}_tiers_sites.geojson")
    files["tiers_summary"] = out / f"{name}_tiers_summary.json"
    files["tiers_summary"].write_text(
        json.dumps(tiered.summary(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return files
