"""What-if planning: the functions behind the what-if notebook's widgets.

Change a scenario's parameters (:func:`configure`), add or remove a site (:func:`add_site`,
:func:`remove_site`), re-run it reusing travel times already computed (:func:`run_scenario`
with a :class:`TravelCache`), compare two runs (:func:`compare`: coverage gained, population
moved into the service circle, sites added or removed, the per-unit table side by side), get
map layers in WGS84 (:func:`map_layers`) and export the chosen run (:func:`export_scenario`).

Everything here is plain Python over :class:`siting.Scenario` and :class:`siting.PlanResult`;
no widget code, so the notebook's callbacks are tested by calling these functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.cases import real_data_dir
from siting.planning import plan
from siting.result import PlanResult
from siting.rules import RulePreset, default_rules, load_rules
from siting.scenario import Scenario
from siting.travel import Progress, TravelCosts
from siting_errors import DataNotFoundError, InputError

__all__ = [
    "REAL_CASES",
    "Comparison",
    "TravelCache",
    "add_site",
    "broken_rules",
    "compare",
    "configure",
    "demo_case",
    "export_scenario",
    "judged",
    "map_layers",
    "open_site_ids",
    "real_case",
    "real_data_dir",
    "remove_site",
    "rule_presets",
    "run_scenario",
    "scenario_summary",
]

logger = logging.getLogger(__name__)

#: Prefix of the ids given to sites a planner adds by coordinates.
ADDED_PREFIX = "ADD"


# --------------------------------------------------------------------------------- inputs


def demo_case(
    *,
    seed: int = 0,
    population: int = 300_000,
    model: str = "mclp",
    new_sites: int = 6,
    threshold_minutes: float = 10.0,
    mode: str = "walk",
    cutoff_minutes: float = 45.0,
) -> Scenario:
    """The synthetic demo city (:func:`siting.demo.demo_city`) as a what-if scenario;
    ``model="rules"`` plans it by the rules.

    ``cutoff_minutes`` (default 45) bounds the travel-time search once, so thresholds up to it
    re-solve without recomputing travel times.
    """
    from siting.demo import demo_city, demo_scenario

    city = demo_city(seed=seed, population=population)
    scenario = demo_scenario(
        city, new_sites=new_sites, threshold_minutes=threshold_minutes, mode=mode, model=model
    )
    return scenario.replace(cutoff_minutes=cutoff_minutes, name="what-if")


#: Real-data cases :func:`real_case` knows (folder names under ``$SITING_DATA_DIR``).
REAL_CASES: dict[str, str] = {"sao-paulo": "osm-sao-paulo-r5py-sample"}


def real_case(
    name: str = "sao-paulo",
    *,
    data_dir: str | Path | None = None,
    model: str = "mclp",
    new_sites: int = 8,
    threshold_minutes: float = 10.0,
    mode: str = "walk",
    cutoff_minutes: float = 45.0,
) -> Scenario:
    """A scenario on a real data set of the shared data folder (see :data:`REAL_CASES`).

    ``sao-paulo``: the r5py São Paulo sample: population on a hexagon grid, real OSM roads;
    candidate sites are the cells with schools (school buildings as sites for clinics), none
    existing. Raises :class:`DataNotFoundError` when the folder is absent.
    """
    from geodata.population import load_population
    from geodata.roads import load_roads

    if name not in REAL_CASES:
        raise InputError(f"`name` must be one of {', '.join(REAL_CASES)}, got {name!r}")
    folder = Path(data_dir) if data_dir is not None else real_data_dir()
    folder = folder / REAL_CASES[name]
    grid = folder / "spo_hexgrid.csv"
    if not grid.is_file():
        raise DataNotFoundError(f"real data set {name!r} not found: {str(grid)!r} is missing")
    demand = load_population(grid, x_column="lon", y_column="lat", crs="EPSG:4326", id_column="id")
    hexes = pd.read_csv(grid)
    schools = hexes[hexes["schools"] > 0]
    sites = gpd.GeoDataFrame(
        {
            "site_id": schools["id"].astype(str).to_numpy(),
            "name": [f"school cell {i}" for i in schools["id"]],
            "existing": False,
        },
        geometry=gpd.points_from_xy(schools["lon"], schools["lat"]),
        crs="EPSG:4326",
    )
    return Scenario(
        demand=demand,
        sites=sites,
        roads=load_roads(folder / "spo_osm.pbf", mode=mode),
        model=model,
        new_sites=None if model in ("rules", "lscp") else new_sites,
        threshold_minutes=threshold_minutes,
        mode=mode,
        cutoff_minutes=cutoff_minutes,
        name=f"what-if {name}",
    )


def rule_presets(paths: Sequence[str | Path] = ()) -> dict[str, RulePreset]:
    """Rule presets to choose from: the packaged one, then each TOML file of ``paths`` (a file
    or a folder of ``*.toml``), keyed by preset name (file stem when names repeat)."""
    out: dict[str, RulePreset] = {}
    packaged = default_rules()
    out[packaged.name] = packaged
    for raw in paths:
        p = Path(raw)
        files = sorted(p.glob("*.toml")) if p.is_dir() else [p]
        for f in files:
            preset = load_rules(f)
            key = preset.name if preset.name not in out else f.stem
            out[key] = preset
    return out


def configure(
    scenario: Scenario,
    *,
    new_sites: int | None = None,
    threshold_minutes: float | None = None,
    mode: str | None = None,
    rules: RulePreset | None = None,
    model: str | None = None,
    name: str | None = None,
) -> Scenario:
    """A copy of ``scenario`` with the given parameters changed (``None`` keeps a value);
    validated like any :class:`Scenario` (an :class:`InputError` names the bad value)."""
    changes: dict[str, Any] = {}
    for key, value in (
        ("new_sites", new_sites),
        ("threshold_minutes", threshold_minutes),
        ("mode", mode),
        ("rules", rules),
        ("model", model),
        ("name", name),
    ):
        if value is not None:
            changes[key] = value
    if "threshold_minutes" in changes:
        changes["threshold_minutes"] = float(changes["threshold_minutes"])
    return scenario.replace(**changes) if changes else scenario


# ------------------------------------------------------------------------------ site edits


def _sites_with_added(scenario: Scenario) -> gpd.GeoDataFrame:
    sites = scenario.sites.copy()
    if "added" not in sites.columns:
        sites["added"] = False
    sites["added"] = sites["added"].fillna(False).astype(bool)
    return sites


def add_site(
    scenario: Scenario,
    site_id: str | None = None,
    *,
    lon: float | None = None,
    lat: float | None = None,
    name: str | None = None,
    tier: str | None = None,
) -> Scenario:
    """A copy of ``scenario`` with one more site forced open.

    Either ``site_id`` of a candidate (from the list) or ``lon`` / ``lat`` in WGS84 (a click on
    the map; the site gets the id ``ADD1``, ``ADD2``, ...). The site becomes fixed open like an
    existing one (``existing`` True) and is flagged ``added`` True; ``new_sites`` more are still
    chosen by the model on top of it. ``tier`` (a rules plan) says which facility it is, e.g.
    ``community_health_service_station``; by default the unit's centre tier.
    """
    sites = _sites_with_added(scenario)
    ids = sites["site_id"].astype(str)
    if site_id is not None:
        if lon is not None or lat is not None:
            raise InputError("give either `site_id` or `lon`/`lat`, not both")
        hit = np.flatnonzero(ids.to_numpy() == str(site_id))
        if not len(hit):
            raise InputError(f"no site with site_id {site_id!r} (e.g. {ids.head(3).tolist()})")
        row = sites.index[hit[0]]
        if bool(sites.at[row, "existing"]):
            raise InputError(f"site {site_id!r} is already open (existing or added)")
        sites.loc[row, "existing"] = True
        sites.loc[row, "added"] = True
        if name is not None and "name" in sites.columns:
            sites.loc[row, "name"] = name
    else:
        if lon is None or lat is None:
            raise InputError("give `site_id` (a candidate) or both `lon` and `lat` (WGS84)")
        for what, value, bound in (("lon", lon, 180.0), ("lat", lat, 90.0)):
            if not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > bound:
                raise InputError(f"`{what}` must be a number within ±{bound:g}, got {value!r}")
        k = 1
        while f"{ADDED_PREFIX}{k}" in set(ids):
            k += 1
        new_id = f"{ADDED_PREFIX}{k}"
        point = gpd.GeoSeries([shapely.Point(float(lon), float(lat))], crs="EPSG:4326")
        point = point.to_crs(sites.crs)
        extra: dict[str, Any] = {c: None for c in sites.columns if c != sites.geometry.name}
        extra.update({"site_id": new_id, "existing": True, "added": True})
        if "name" in sites.columns:
            extra["name"] = name if name is not None else f"added site {k}"
        row = gpd.GeoDataFrame([extra], geometry=list(point), crs=sites.crs)
        row = row.rename_geometry(sites.geometry.name) if sites.geometry.name != "geometry" else row
        sites = pd.concat([sites, row[sites.columns]], ignore_index=True)
        sites = gpd.GeoDataFrame(sites, geometry=scenario.sites.geometry.name, crs=row.crs)
        sites["existing"] = sites["existing"].astype(bool)
        sites["added"] = sites["added"].astype(bool)
    if tier is not None or "tier" in sites.columns:
        if "tier" not in sites.columns:
            sites["tier"] = ""
        sites["tier"] = sites["tier"].fillna("").astype(str)
        if tier is not None:
            target = str(site_id) if site_id is not None else str(sites["site_id"].iloc[-1])
            sites.loc[sites["site_id"].astype(str) == target, "tier"] = tier
        if "rule" in sites.columns:
            target = str(site_id) if site_id is not None else str(sites["site_id"].iloc[-1])
            sites.loc[sites["site_id"].astype(str) == target, "rule"] = "what-if"
    logger.debug("added site %s", site_id or sites["site_id"].iloc[-1])
    return scenario.replace(sites=sites)


def remove_site(scenario: Scenario, site_id: str) -> Scenario:
    """A copy of ``scenario`` without the site ``site_id``: an existing facility closed, an
    added site withdrawn, or a candidate ruled out."""
    ids = scenario.sites["site_id"].astype(str).to_numpy()
    keep = ids != str(site_id)
    if keep.all():
        raise InputError(f"no site with site_id {site_id!r}")
    if not keep.any():
        raise InputError("cannot remove the last site")
    return scenario.replace(sites=scenario.sites[keep].reset_index(drop=True))


def open_site_ids(result: PlanResult) -> list[str]:
    """Ids of the open sites (existing, added and new) of a run."""
    return result.chosen_sites["site_id"].astype(str).tolist()


# ------------------------------------------------------------------------------- running


def _travel_key(scenario: Scenario) -> tuple[Any, ...]:
    return (
        scenario.mode,
        id(scenario.roads),
        scenario.detour_factor,
        scenario.walk_speed_kmh,
        scenario.max_snap_distance,
    )


@dataclass(eq=False)
class TravelCache:
    """Travel times already computed, one entry per travel setting (mode, roads, speeds).

    :func:`run_scenario` takes travel times from here when the demand is the same, the
    search cutoff is long enough and the sites are the same or a subset (a site removed);
    otherwise it computes them and stores them here.
    """

    entries: dict[tuple[Any, ...], TravelCosts] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def get(self, scenario: Scenario) -> TravelCosts | None:
        """Travel times usable for ``scenario`` (restricted to its sites), or ``None``."""
        travel = self.entries.get(_travel_key(scenario))
        if travel is None:
            return None
        demand_ids = scenario.demand["demand_id"].astype(str).to_numpy()
        if len(demand_ids) != len(travel.demand_ids) or (demand_ids != travel.demand_ids).any():
            return None
        if scenario.search_cutoff_minutes > travel.cutoff_minutes + 1e-9:
            return None
        site_ids = scenario.sites["site_id"].astype(str).to_numpy()
        if len(site_ids) == len(travel.site_ids) and (site_ids == travel.site_ids).all():
            return travel
        position = pd.Index(travel.site_ids)
        if not position.is_unique:
            return None
        index = position.get_indexer(site_ids)
        if (index < 0).any():
            return None
        return travel.restrict_sites(index)

    def put(self, scenario: Scenario, travel: TravelCosts) -> None:
        """Keep ``travel`` for later runs with the same travel setting (replaces an older
        entry unless that one covers more sites)."""
        key = _travel_key(scenario)
        old = self.entries.get(key)
        # keep the wider matrix unless the new one has sites the old one lacks
        if (
            old is not None
            and len(old.site_ids) > len(travel.site_ids)
            and set(travel.site_ids) <= set(old.site_ids)
        ):
            return
        self.entries[key] = travel


def run_scenario(
    scenario: Scenario,
    *,
    cache: TravelCache | None = None,
    progress: Progress | None = None,
) -> PlanResult:
    """Solve ``scenario`` (:func:`siting.plan`), reusing travel times from ``cache`` when it
    can and storing newly computed ones there."""
    travel = cache.get(scenario) if cache is not None else None
    if cache is not None:
        if travel is None:
            cache.misses += 1
        else:
            cache.hits += 1
    result = plan(scenario, travel=travel, progress=progress)
    if cache is not None and travel is None:
        cache.put(scenario, result.travel)
    return result


def judged(result: PlanResult) -> Scenario:
    """A rules plan frozen for what-if edits: its open sites fixed with their tier and rule,
    nothing new placed (:func:`siting.workflow.judged_scenario`). Edit it with
    :func:`add_site` / :func:`remove_site`, run it with :func:`run_scenario` (same travel
    times) and see what the edit breaks with :func:`broken_rules`."""
    from siting.workflow import judged_scenario

    return judged_scenario(result)


def broken_rules(before: PlanResult, after: PlanResult) -> pd.DataFrame:
    """Units whose compliance an edit made worse, with the rules it breaks
    (:func:`siting.workflow.broken_rules`)."""
    from siting.workflow import broken_rules as _broken

    return _broken(before, after)


def scenario_summary(result: PlanResult) -> dict[str, Any]:
    """The few numbers a what-if panel shows: coverage share and population, sites, mean
    travel time, parameters."""
    sc = result.scenario
    sites = result.chosen_sites
    added = sites["added"].astype(bool) if "added" in sites.columns else False
    cov = result.coverage
    return {
        "name": sc.name,
        "model": sc.model,
        "new_sites": sc.new_sites,
        "threshold_minutes": sc.threshold_minutes,
        "mode": sc.mode,
        "rules": (sc.rules or default_rules()).name,
        "status": result.status,
        "coverage_share": None if cov is None else cov.share,
        "covered_population": None if cov is None else cov.covered_population,
        "total_population": float(result.demand["population"].sum()),
        "existing_sites": int(((sites["status"] == "existing") & ~added).sum()),
        "added_sites": int(np.asarray(added).sum()) if "added" in sites.columns else 0,
        "new_sites_chosen": int((sites["status"] == "new").sum()),
        "new_site_ids": sites.loc[sites["status"] == "new", "site_id"].astype(str).tolist(),
        "mean_travel_minutes": None
        if not np.isfinite(result.mean_travel_minutes)
        else round(float(result.mean_travel_minutes), 3),
        # beside the mean: the residents it leaves out (no route to any open site)
        "unreachable_population": round(float(result.unreachable_population), 3),
    } | _compliance_counts(result)


def _compliance_counts(result: PlanResult) -> dict[str, Any]:
    comp = result.compliance
    if comp is None:
        return {}
    status = comp["status"].astype(str)
    return {
        "units_ok": int((status == "ok").sum()),
        "units_flagged": int((status == "flagged").sum()),
        "units_violating": int((~status.isin(["ok", "flagged"])).sum()),
    }


# ------------------------------------------------------------------------------ comparing


@dataclass(frozen=True, eq=False)
class Comparison:
    """Scenario ``after`` against scenario ``before`` (same demand points).

    Attributes:
        coverage_before / coverage_after: coverage shares (``None`` without a threshold).
        covered_before / covered_after: residents within each run's circle.
        coverage_gained: ``coverage_after - coverage_before`` (share points; negative = lost).
        population_gained: ``covered_after - covered_before`` (net residents).
        moved_in: residents outside the circle before and inside after.
        moved_out: residents inside before and outside after.
        sites_added / sites_removed: ids of sites open only after / only before.
        units: per admin unit, both runs side by side and the change (``None`` without
            units): ``unit_id``, ``name``, ``population``, ``covered_before``,
            ``covered_after``, ``covered_change``, ``share_before``, ``share_after``,
            ``share_change``, ``sites_before``, ``sites_after``.
        demand: per demand point ``demand_id``, ``population``, ``covered_before``,
            ``covered_after``, ``change`` (``in`` / ``out`` / ``""``) and the geometry.
    """

    coverage_before: float | None
    coverage_after: float | None
    covered_before: float
    covered_after: float
    coverage_gained: float | None
    population_gained: float
    moved_in: float
    moved_out: float
    sites_added: list[str]
    sites_removed: list[str]
    units: pd.DataFrame | None
    demand: gpd.GeoDataFrame

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (the unit and demand tables left out)."""
        return {
            "coverage_before": self.coverage_before,
            "coverage_after": self.coverage_after,
            "coverage_gained": self.coverage_gained,
            "covered_before": self.covered_before,
            "covered_after": self.covered_after,
            "population_gained": self.population_gained,
            "moved_in": self.moved_in,
            "moved_out": self.moved_out,
            "sites_added": list(self.sites_added),
            "sites_removed": list(self.sites_removed),
        }


def _unit_diff(before: PlanResult, after: PlanResult) -> pd.DataFrame | None:
    if before.units is None or after.units is None:
        return None
    cols = ["unit_id", "covered_population", "coverage_share", "existing_sites", "new_sites"]
    a = before.units[["unit_id", "name", "population", *cols[1:]]].copy()
    b = after.units[cols].copy()
    a["unit_id"] = a["unit_id"].astype(str)
    b["unit_id"] = b["unit_id"].astype(str)
    m = a.merge(b, on="unit_id", how="outer", suffixes=("_before", "_after"))
    out = pd.DataFrame(
        {
            "unit_id": m["unit_id"],
            "name": m["name"],
            "population": m["population"],
            "covered_before": m["covered_population_before"].fillna(0.0),
            "covered_after": m["covered_population_after"].fillna(0.0),
        }
    )
    out["covered_change"] = out["covered_after"] - out["covered_before"]
    out["share_before"] = m["coverage_share_before"]
    out["share_after"] = m["coverage_share_after"]
    out["share_change"] = out["share_after"] - out["share_before"]
    out["sites_before"] = (m["existing_sites_before"] + m["new_sites_before"]).fillna(0).astype(int)
    out["sites_after"] = (m["existing_sites_after"] + m["new_sites_after"]).fillna(0).astype(int)
    return out.reset_index(drop=True)


def compare(before: PlanResult, after: PlanResult) -> Comparison:
    """Compare two runs over the same demand points (e.g. existing clinics only vs a plan, or
    a plan vs the same plan with a site added): coverage gained, residents moved into and out
    of the service circle, sites added and removed, the per-unit table side by side."""
    da = before.demand[["demand_id", "population", "covered", "geometry"]]
    db = after.demand[["demand_id", "covered"]]
    if (
        len(da) != len(db)
        or (da["demand_id"].astype(str).to_numpy() != db["demand_id"].astype(str).to_numpy()).any()
    ):
        raise InputError("the two runs have different demand points; compare runs of one city")
    pop = da["population"].to_numpy(dtype=np.float64)
    cov_a = da["covered"].to_numpy(dtype=bool)
    cov_b = db["covered"].to_numpy(dtype=bool)
    moved_in = ~cov_a & cov_b
    moved_out = cov_a & ~cov_b
    demand = gpd.GeoDataFrame(
        {
            "demand_id": da["demand_id"].astype(str).to_numpy(),
            "population": pop,
            "covered_before": cov_a,
            "covered_after": cov_b,
            "change": np.where(moved_in, "in", np.where(moved_out, "out", "")),
        },
        geometry=da.geometry.to_numpy(),
        crs=before.demand.crs,
    )
    ca, cb = before.coverage, after.coverage
    share_a = None if ca is None else ca.share
    share_b = None if cb is None else cb.share
    open_a, open_b = open_site_ids(before), open_site_ids(after)
    return Comparison(
        coverage_before=share_a,
        coverage_after=share_b,
        covered_before=float(pop[cov_a].sum()),
        covered_after=float(pop[cov_b].sum()),
        coverage_gained=None if share_a is None or share_b is None else share_b - share_a,
        population_gained=float(pop[cov_b].sum() - pop[cov_a].sum()),
        moved_in=float(pop[moved_in].sum()),
        moved_out=float(pop[moved_out].sum()),
        sites_added=[s for s in open_b if s not in set(open_a)],
        sites_removed=[s for s in open_a if s not in set(open_b)],
        units=_unit_diff(before, after),
        demand=demand,
    )


# ------------------------------------------------------------------------- map and export


def map_layers(
    result: PlanResult, *, service_areas: bool = True, min_population: float = 0.0
) -> dict[str, gpd.GeoDataFrame]:
    """The layers of a run for a web map, in WGS84 (EPSG:4326), with the columns a popup
    shows: ``demand`` (cells above ``min_population``, with ``covered`` and travel time),
    ``sites`` (open sites: ``status``, ``added``), ``candidates``, ``service_areas`` (network
    runs, when asked) and ``admin_units`` (with coverage per unit)."""
    out: dict[str, gpd.GeoDataFrame] = {}
    demand = result.demand[result.demand["population"] > min_population]
    keep = [
        c
        for c in ("demand_id", "population", "travel_time_min", "covered", "unit_name")
        if c in demand.columns
    ]
    out["demand"] = demand[[*keep, "geometry"]].to_crs("EPSG:4326").reset_index(drop=True)
    sites = result.sites.copy()
    if "added" not in sites.columns:
        sites["added"] = False
    sites["added"] = sites["added"].fillna(False).astype(bool)
    site_cols = ["site_id", "name", "status", "added", "assigned_population", "geometry"]
    open_mask = sites["status"] != "candidate"
    out["sites"] = sites.loc[open_mask, site_cols].to_crs("EPSG:4326").reset_index(drop=True)
    out["candidates"] = (
        sites.loc[~open_mask, ["site_id", "name", "geometry"]]
        .to_crs("EPSG:4326")
        .reset_index(drop=True)
    )
    if service_areas:
        areas = result.service_areas()
        if areas is not None:
            areas = areas[areas.geometry.notna() & ~areas.geometry.is_empty]
            out["service_areas"] = areas.to_crs("EPSG:4326").reset_index(drop=True)
    if result.units is not None and result.scenario.units is not None:
        geo = result.scenario.units[["unit_id", "geometry"]].copy()
        geo["unit_id"] = geo["unit_id"].astype(str)
        table = result.units.copy()
        table["unit_id"] = table["unit_id"].astype(str)
        units = geo.merge(table, on="unit_id", how="left")
        out["admin_units"] = gpd.GeoDataFrame(units, geometry="geometry", crs=geo.crs).to_crs(
            "EPSG:4326"
        )
    return out


def export_scenario(
    result: PlanResult, path: str | Path, *, styles: Mapping[str, str] | None = None
) -> Path:
    """Write a run's layers into one GeoPackage styled for QGIS (demand graduated by the
    run's own threshold); return its path (``path``, with ``.gpkg`` added when it has another
    suffix)."""
    from siting.export import default_styles, save_layers

    threshold = result.scenario.threshold_minutes or 10.0
    chosen = styles if styles is not None else default_styles(threshold_minutes=threshold)
    p = Path(path)
    stem = p.name[: -len(".gpkg")] if p.name.lower().endswith(".gpkg") else p.name
    files = save_layers(result.layers(), p.parent, formats=("gpkg",), stem=stem, styles=chosen)
    return files["gpkg"]
