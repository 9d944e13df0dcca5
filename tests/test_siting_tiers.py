"""Multi-tier planning: the upper tier's sites are fixed for the lower tier."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from siting import InputError
from siting.tiers import TierSpec, plan_tiers
from tests.test_siting_planning import CRS, X0, Y0, _scenario


def _points(prefix: str, xs: list[float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"site_id": [f"{prefix}{i}" for i in range(len(xs))], "existing": False},
        geometry=[Point(X0 + x, Y0) for x in xs],
        crs=CRS,
    )


def test_lower_tier_fills_the_gap_the_upper_tier_leaves() -> None:
    # demand 100, 200, 100 at 0-1,000 m and 1,000 + 50 at 3,000-3,500 m; circle 750 m
    centres = TierSpec(
        tier="community_health_service_centre", sites=_points("C", [500, 3250]), new_sites=1
    )
    stations = TierSpec(
        tier="community_health_service_station",
        sites=_points("S", [3300, 500, 1800]),
        new_sites=1,
        band=(100, 500),
    )
    tiered = plan_tiers(_scenario(), [centres, stations])
    top = tiered.result("community_health_service_centre")
    assert top.chosen_sites["site_id"].tolist() == ["C1"]  # 1,050 residents beat 400
    low = tiered.result("community_health_service_station")
    chosen = low.chosen_sites.set_index("site_id")["status"].to_dict()
    # C1 stays open as an existing site; the station goes where C1 does not reach (not S0)
    assert chosen == {"C1": "existing", "S1": "new"}
    assert low.coverage.share == pytest.approx(1.0)
    sites = tiered.sites().set_index("site_id")["tier"].to_dict()
    assert sites == {
        "C1": "community_health_service_centre",
        "S1": "community_health_service_station",
    }
    assert [s["tier"] for s in tiered.summary()] == [centres.tier, stations.tier]


def test_unknown_and_repeated_tiers_are_refused() -> None:
    spec = TierSpec(tier="hospital", sites=_points("C", [500]), new_sites=1)
    with pytest.raises(InputError, match="unknown tier 'hospital'; the preset"):
        plan_tiers(_scenario(), [spec])
    ok = TierSpec(tier="village_clinic", sites=_points("C", [500]), new_sites=1)
    with pytest.raises(InputError, match="each tier may appear once"):
        plan_tiers(_scenario(), [ok, ok])
    with pytest.raises(InputError, match="at least one tier"):
        plan_tiers(_scenario(), [])
