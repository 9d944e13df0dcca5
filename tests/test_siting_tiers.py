"""Multi-tier planning: the upper tier's sites are fixed for the lower tier."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from siting import DataNotFoundError, InputError
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


def test_load_tiers_reads_tables_in_order_relative_to_the_file(tmp_path) -> None:
    from siting.tiers import load_tiers

    (tmp_path / "data").mkdir()
    _points("C", [500, 3250]).to_file(tmp_path / "data" / "c.geojson", driver="GeoJSON")
    _points("S", [3300]).to_file(tmp_path / "data" / "s.geojson", driver="GeoJSON")
    (tmp_path / "tiers.toml").write_text(
        '[[tiers]]\ntier = "community_health_service_centre"\nexisting = "data/c.geojson"\n'
        'new_sites = 0\n\n[[tiers]]\ntier = "village_clinic"\nsites = "data/s.geojson"\n'
        'model = "pmedian"\nnew_sites = 1\nthreshold_minutes = 15\nmode = "drive"\n'
        "band = [100, 500]\n",
        encoding="utf-8",
    )
    top, low = load_tiers(tmp_path / "tiers.toml")
    assert top.tier == "community_health_service_centre" and top.model == "mclp"
    assert top.sites["site_id"].tolist() == ["C0", "C1"] and top.sites["existing"].all()
    assert (low.tier, low.model, low.new_sites) == ("village_clinic", "pmedian", 1)
    assert (low.threshold_minutes, low.mode, low.band) == (15, "drive", (100, 500))
    assert low.sites["site_id"].tolist() == ["S0"] and not low.sites["existing"].any()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = 1\n", "must hold [[tiers]] tables, one per tier; got the keys ['x']"),
        ("[[tiers]\n", "is not valid UTF-8 TOML"),
        ('[[tiers]]\nsites = "s.geojson"\n', "tier 1 needs `tier`, a tier key"),
        ('[[tiers]]\ntier = "village_clinic"\n', "tier 1 ('village_clinic') needs `sites`"),
        (
            '[[tiers]]\ntier = "village_clinic"\nsites = "s.geojson"\nband = [1]\n',
            "`band` of tier 1 ('village_clinic') must be two whole numbers [min, max], got [1]",
        ),
        (
            '[[tiers]]\ntier = "village_clinic"\nsites = "s.geojson"\nnew_site = 1\n',
            "unknown key 'new_site' in tier 1 ('village_clinic'); expected one of tier, sites",
        ),
    ],
)
def test_load_tiers_refuses_bad_files(tmp_path, text: str, message: str) -> None:
    from siting.tiers import load_tiers

    (tmp_path / "tiers.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_tiers(tmp_path / "tiers.toml")
    assert message in str(err.value)
    with pytest.raises(DataNotFoundError, match=r"tiers file .* does not exist"):
        load_tiers(tmp_path / "missing.toml")
