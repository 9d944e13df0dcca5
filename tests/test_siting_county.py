"""R2, R4–R7, R9, R10: each rule's function, and what changes when its parameter changes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from siting.county import (
    allocate_to_leads,
    choose_sub_centres,
    colocated_candidates,
    emergency_stations,
    facility_type,
    service_circle,
    township_gaps,
)
from siting.rules import default_rules, rules_from_dict, rules_to_dict
from siting_errors import InputError
from solvers import CostMatrix

RULES = default_rules()
UTM = "EPSG:32649"


def _edited(code: str, **params: object) -> object:
    data = rules_to_dict(RULES)
    data[code].update(params)
    return rules_from_dict(data)


def test_r2_township_without_a_centre_is_missing_one() -> None:
    towns = gpd.GeoDataFrame(
        {"unit_id": ["t1", "t2"], "name": ["海流图镇", "川井苏木"]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)],
        crs=UTM,
    )
    centres = gpd.GeoDataFrame(geometry=[Point(5, 5), Point(6, 6)], crs=UTM)
    table = township_gaps(towns, centres, rule=RULES.R2)
    assert table["centres"].tolist() == [2, 0] and table["missing"].tolist() == [0, 1]
    two = township_gaps(towns, centres, rule=_edited("R2", per_township=2).R2)
    assert two["missing"].tolist() == [0, 2]


def test_r4_colocation_within_the_distance() -> None:
    sites = gpd.GeoDataFrame(
        {"site_id": ["a", "b"]},
        geometry=[Point(500_000, 4_500_000), Point(502_000, 4_500_000)],
        crs=UTM,
    )
    pois = gpd.GeoDataFrame(geometry=[Point(500_300, 4_500_000)], crs=UTM)
    out = colocated_candidates(sites, pois, rule=RULES.R4)
    assert out["colocated"].tolist() == [True, False]
    assert out["poi_distance_m"].round().tolist() == [300, 1700]
    assert out["preference"].tolist() == [RULES.R4.preference_weight, 0.0]
    strict = colocated_candidates(sites, pois, rule=_edited("R4", poi_max_distance_m=200.0).R4)
    assert not strict["colocated"].any()


def test_r5_facility_type_by_area_kind() -> None:
    assert facility_type("subdistrict", rule=RULES.R5) == "community_health_service_station"
    assert facility_type("township", rule=RULES.R5) == "village_clinic"
    with pytest.raises(InputError, match="area kind must be one of subdistrict, township"):
        facility_type("banner", rule=RULES.R5)


def test_r6_service_circle_by_area() -> None:
    assert service_circle(RULES, area="urban") == (10.0, "walk")
    assert service_circle(RULES, area="rural") == (10.0, "drive")
    assert service_circle(_edited("R6", threshold_minutes=15.0), area="urban") == (15.0, "walk")


def test_r7_sub_centres_cover_the_most_people() -> None:
    # 4 demand towns x 3 township centres (minutes)
    minutes = np.array([[5, 40, 60], [10, 35, 50], [50, 20, 45], [60, 50, 10]], dtype=float)
    pop = np.array([30_000, 20_000, 25_000, 60_000])
    sol = choose_sub_centres(CostMatrix.from_dense(minutes), pop, rule=RULES.R7)
    assert sol.open_sites.tolist() == [0, 2]  # k = 2: 30k+20k (centre 0) + 60k (centre 2)
    assert sol.objective == pytest.approx(110_000)
    one = choose_sub_centres(CostMatrix.from_dense(minutes), pop, rule=_edited("R7", k=1).R7)
    assert one.open_sites.tolist() == [2]


def test_r9_medical_community_leads() -> None:
    minutes = CostMatrix.from_dense(np.array([[10, 50], [70, 20], [30, 25]], dtype=float))
    assert allocate_to_leads(minutes, 250_000, rule=RULES.R9).tolist() == [0, 1, 1]
    assert allocate_to_leads(minutes, 150_000, rule=RULES.R9).tolist() == [0, 0, 0]


def test_r10_emergency_stations_and_unreachable_demand() -> None:
    minutes = np.array([[10, 50], [40, 20], [25, 29]], dtype=float)
    sol = emergency_stations(CostMatrix.from_dense(minutes), rule=RULES.R10)
    assert sol.objective == 2  # 30 min: row 0 only by 0, row 1 only by 1
    fewer = emergency_stations(
        CostMatrix.from_dense(minutes), rule=_edited("R10", threshold_minutes=45.0).R10
    )
    assert fewer.objective == 1
    none = emergency_stations(
        CostMatrix.from_dense(minutes), rule=_edited("R10", threshold_minutes=5.0).R10
    )
    assert none.status == "infeasible" and "3 demand points" in none.reason
