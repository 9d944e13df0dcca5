"""The rule preset (R1–R12): documented values, sources, validation, round trip; R1 and R11."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from siting.compliance import centre_requirements, required_centres, staffing_needs
from siting.rules import (
    RULE_CODES,
    CentreBandRule,
    JointClinicRule,
    RulePreset,
    StaffingRule,
    default_rules,
    load_rules,
    rules_from_dict,
    rules_to_dict,
    save_rules,
)
from siting_errors import DataNotFoundError, InputError

RULES = default_rules()

# every parameter of every rule, as the documents (or siting-rules.md's reading of them) set it
DOCUMENTED = {
    "R1": {
        "min_population": 30_000,
        "max_population": 100_000,
        "extra_per": 50_000,
        "small_flag": True,
    },
    "R2": {"per_township": 1},
    "R3": {"joint_clinic_below": 500, "adjacency": "touching", "adjacency_minutes": 15.0},
    "R4": {"poi_max_distance_m": 500.0, "preference_weight": 0.1},
    "R5": {
        "facility_by_kind": {
            "subdistrict": "community_health_service_station",
            "township": "village_clinic",
        }
    },
    "R6": {"threshold_minutes": 10.0, "urban_mode": "walk", "rural_mode": "drive"},
    "R7": {"k": 2, "threshold_minutes": 30.0, "mode": "drive"},
    "R8": {"keep_existing": True},
    "R9": {"single_community_below": 200_000, "lead_hospitals": 2},
    "R10": {"threshold_minutes": 30.0, "mode": "drive"},
    "R11": {
        "beds_per_1000": 7.5,
        "physicians_per_1000": 3.6,
        "nurses_per_1000": 4.12,
        "gps_per_10000": 2.6,
        "public_health_per_10000": 8.3,
    },
    "R12": {
        "in_county_hospitalisation": 0.8,
        "first_visit_primary_care": 0.65,
        "first_visit_primary_care_kangbashi": 0.7,
        "hohhot_new_centres_2025": 10,
    },
}
SOURCES = {
    "R1": "002 task 1",
    "R3": "001 task 3",
    "R4": "000 task 3",
    "R5": "001 task 3",
    "R6": "003 三(二)2",
    "R10": "004 (四)2",
    "R11": "003 二(三) table",
}


# ------------------------------------------------------------------------------- the preset


@pytest.mark.parametrize("code", list(DOCUMENTED))
def test_every_rule_carries_its_documented_values(code: str) -> None:
    rule = RULES.rule(code)
    assert rule.code == code and type(rule).code == code
    assert rule.params() == DOCUMENTED[code]
    assert rule.title and rule.quote and rule.source
    assert rule.cite() == f"{code} ({rule.source})"


def test_preset_names_every_rule_tier_and_document() -> None:
    assert tuple(f"R{k}" for k in range(1, 13)) == RULE_CODES
    assert list(RULES.rules) == list(RULE_CODES)
    assert {code: RULES.rule(code).source for code in SOURCES} == SOURCES
    assert RULES.R1.cite() == "R1 (002 task 1)"
    assert isinstance(RULES.R1, CentreBandRule) and isinstance(RULES.R11, StaffingRule)
    assert set(RULES.documents) == {"000", "001", "002", "003", "004"}
    assert len(RULES.tiers) == 8
    assert RULES.tiers["township_health_centre"].zh == "乡镇（苏木）卫生院"
    assert RULES.tiers["community_health_service_centre"].en == "community health service centre"
    assert "about 4" in RULES.R11.note  # the text's "约4人" next to the table's 2.6


def test_every_quote_is_verbatim_in_the_document_its_source_names(data_dir: Path) -> None:
    seeds = data_dir.parent / "seeds"
    if not seeds.is_dir():
        pytest.skip(f"planning documents not found in {seeds}")
    docs = {
        p.name[:3]: re.sub(r"\s+", "", p.read_text(encoding="utf-8")) for p in seeds.glob("*.txt")
    }
    assert set(docs) == set(RULES.documents)
    for code, rule in RULES.rules.items():
        for fragment in rule.quote.split(" … "):
            found = {d for d, text in docs.items() if re.sub(r"\s+", "", fragment) in text}
            assert found, f"{code}: {fragment!r} is not in any document"
            assert found & set(re.findall(r"\d{3}", rule.source)), (code, fragment, found)


def test_rules_are_immutable_and_validated_on_every_construction() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES.R1.min_population = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        RULES.R5.facility_by_kind["township"] = "x"  # type: ignore[index]
    with pytest.raises(InputError, match=r"R1\.min_population must be a positive integer, got 0"):
        dataclasses.replace(RULES.R1, min_population=0)
    with pytest.raises(InputError, match=r"R1.min_population \(200000\) must be below"):
        dataclasses.replace(RULES.R1, min_population=200_000)
    edited = RULES.with_params("R6", threshold_minutes=15)
    assert edited.R6.threshold_minutes == 15.0 and RULES.R6.threshold_minutes == 10.0
    assert edited.R1 == RULES.R1 and edited != RULES
    with pytest.raises(InputError, match="rule code must be one of"):
        RULES.rule("R13")


def test_preset_round_trips_through_save_and_load(tmp_path: Path) -> None:
    path = save_rules(RULES, tmp_path / "copy.toml")
    back = load_rules(path)
    assert back == RULES
    assert rules_to_dict(back) == rules_to_dict(RULES)
    # a user's edit survives the trip
    text = path.read_text(encoding="utf-8").replace(
        "threshold_minutes = 10.0", "threshold_minutes = 12.5"
    )
    (tmp_path / "edited.toml").write_text(text, encoding="utf-8")
    assert load_rules(tmp_path / "edited.toml").R6.threshold_minutes == 12.5
    assert rules_from_dict(rules_to_dict(RULES)) == RULES


def test_a_broken_preset_reports_every_bad_field_at_once(tmp_path: Path) -> None:
    text = (
        save_rules(RULES, tmp_path / "ok.toml")
        .read_text(encoding="utf-8")
        .replace("min_population = 30000", "min_population = -5")
        .replace('urban_mode = "walk"', 'urban_mode = "bike"')
        .replace("joint_clinic_below = 500\n", "")
        .replace("extra_per = 50000", "extra_per = 50000\nextra_pre = 1")
        .replace('township = "village_clinic"', 'township = "village_clinc"')
        .replace('source = "004 (四)2"', 'source = "005 (四)2"')
        .replace("[R12]", "[R13]\nk = 1\n\n[R12]")
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_rules(bad)
    msg = str(err.value)
    assert msg.startswith(f"rules file {str(bad)!r} has 7 problems: ")
    for problem in [
        "R1.min_population must be a positive integer, got -5",
        "R1.extra_pre is not a known parameter (did you mean extra_per?",
        "R3.joint_clinic_below missing",
        "R5.facility_by_kind.township must be one of the tiers (county_hospital, ",
        "R6.urban_mode must be one of walk, drive, got 'bike'",
        "R10.source names document 005, which is not in [documents] (000, 001, 002, 003, 004)",
        "[R13] is not a known section",
    ]:
        assert problem in msg


def test_load_rules_names_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_rules(tmp_path / "nope.toml")
    (tmp_path / "x.toml").write_text("[R1\nmin_population = ", encoding="utf-8")
    with pytest.raises(InputError, match="is not valid UTF-8 TOML"):
        load_rules(tmp_path / "x.toml")
    with pytest.raises(InputError, match=r"\[R1\] missing.*\[tiers\] missing"):
        rules_from_dict({"preset": {"name": "x", "title": "y"}, "documents": {"000": "d"}})
    assert isinstance(default_rules(), RulePreset)


# ------------------------------------------------------------------------------- R1


@pytest.mark.parametrize(
    ("population", "centres"),
    [
        (29_999, 1),
        (30_000, 1),
        (100_000, 1),
        (100_001, 2),
        (150_000, 2),
        (150_001, 3),
        (157_000, 3),  # Kangbashi (003): 1 + ceil(57,000 / 50,000)
        (250_000, 4),
        (250_001, 5),
        (0, 1),
    ],
)
def test_r1_formula_at_the_boundaries(population: int, centres: int) -> None:
    assert required_centres(population, rule=RULES.R1) == centres
    assert isinstance(required_centres(population, rule=RULES.R1), int)


def test_r1_vectorised_and_flags() -> None:
    pops = np.array([29_999, 30_000, 100_000, 100_001, 150_000, 150_001, 157_000])
    assert required_centres(pops, rule=RULES.R1).tolist() == [1, 1, 1, 2, 2, 3, 3]
    units = pd.DataFrame(
        {"name": list("abcdefg"), "pop": pops, "have": [1, 0, 1, 1, 3, 2, 0]}, index=list("ABCDEFG")
    )
    table = centre_requirements(units, "pop", RULES.R1, existing_column="have", name_column="name")
    assert list(table.index) == list("ABCDEFG")
    assert table["flag"].tolist() == ["below_min"] + [""] * 6
    assert table["shortfall"].tolist() == [0, 1, 0, 1, 0, 1, 3]
    assert set(table["rule"]) == {"R1 (002 task 1)"}
    quiet = dataclasses.replace(RULES.R1, small_flag=False)
    assert (centre_requirements(units, "pop", quiet)["flag"] == "").all()


def test_r1_follows_an_edited_band() -> None:
    tighter = RULES.with_params(
        "R1", min_population=20_000, max_population=60_000, extra_per=30_000
    ).R1
    assert required_centres([25_000, 60_000, 60_001, 157_000], rule=tighter).tolist() == [
        1,
        1,
        2,
        5,
    ]
    units = pd.DataFrame({"pop": [25_000]})
    assert centre_requirements(units, "pop", tighter)["flag"].tolist() == [""]


def test_r1_rejects_bad_input() -> None:
    with pytest.raises(InputError, match=r"`rule` must be the R1 rule \(CentreBandRule\), got R3"):
        required_centres(1000, rule=RULES.R3)
    with pytest.raises(InputError, match=r"`population` must be finite and >= 0, got \[-1.0\]"):
        required_centres([10, -1], rule=RULES.R1)
    with pytest.raises(InputError, match="has no column 'people'"):
        centre_requirements(pd.DataFrame({"pop": [1]}), "people", RULES.R1)
    with pytest.raises(InputError, match="`have` must be finite"):
        centre_requirements(
            pd.DataFrame({"pop": [1], "have": [np.nan]}), "pop", RULES.R1, existing_column="have"
        )


def test_r1_on_real_beijing_subdistricts(data_dir: Path) -> None:
    folder = data_dir / "beijing-subdistrict-worldpop"
    pop = np.load(folder / "worldpop.npy", allow_pickle=False)[:, 0]
    units = gpd.read_file(folder / "beijing.shp", encoding="utf-8")
    assert len(units) == len(pop) == 331  # row i <-> shapefile row i (SOURCE.md)
    units["population"] = pop
    table = centre_requirements(units, "population", RULES.R1, name_column="乡")
    # independent re-computation in integer arithmetic: 1 + ceil(max(P - 100,000, 0) / 50,000)
    independent = [1 + -(-max(int(p) - 100_000, 0) // 50_000) for p in pop]
    assert table["required_centres"].tolist() == independent
    assert int(table["required_centres"].sum()) == 433
    assert int((table["flag"] == "below_min").sum()) == int((pop < 30_000).sum()) == 105
    assert table["required_centres"].value_counts().to_dict() == {
        1: 265,
        2: 46,
        3: 12,
        4: 5,
        6: 1,
        7: 2,
    }
    top = table.loc[table["population"].idxmax()]
    assert (top["name"], top["population"], top["required_centres"]) == ("卢沟桥镇", 364_319, 7)


# ------------------------------------------------------------------------------- R11


def test_r11_staffing_for_100000_residents() -> None:
    assert staffing_needs(100_000, rule=RULES.R11) == {
        "beds": 750,
        "physicians": 360,
        "nurses": 412,
        "general_practitioners": 26,
        "public_health_staff": 83,
    }


def test_r11_rounds_up_and_works_per_facility() -> None:
    assert staffing_needs(1_001, rule=RULES.R11) == {  # 7.5075, 3.6036, 4.1241, 0.26, 0.83
        "beds": 8,
        "physicians": 4,
        "nurses": 5,
        "general_practitioners": 1,
        "public_health_staff": 1,
    }
    assert staffing_needs(0, rule=RULES.R11)["beds"] == 0
    table = staffing_needs(np.array([100_000, 40_000, 157_000]), rule=RULES.R11)
    assert table["beds"].tolist() == [750, 300, 1178]  # 1,177.5 rounds up
    assert table["general_practitioners"].tolist() == [26, 11, 41]  # 10.4, 40.82
    assert set(table["rule"]) == {"R11 (003 二(三) table)"}
    text_gps = RULES.with_params("R11", gps_per_10000=4.0).R11  # the text's "about 4"
    assert staffing_needs(100_000, rule=text_gps)["general_practitioners"] == 40
    with pytest.raises(InputError, match="must be the R11 rule"):
        staffing_needs(100, rule=RULES.R1)


def test_rule_functions_accept_only_rule_objects() -> None:
    with pytest.raises(InputError, match=r"got \{'min_population': 1\}"):
        required_centres(1, rule={"min_population": 1})  # type: ignore[arg-type]
    assert isinstance(RULES.R3, JointClinicRule)
