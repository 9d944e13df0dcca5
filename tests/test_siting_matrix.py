"""`siting solve-matrix`: the JSON contract on hand-checkable matrices, and its input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from siting.matrix import load_cost_table, load_demand_table, solve_matrix
from siting_errors import DataNotFoundError, InputError

# A line: demand a-b-c-d-e at x = 0..4, sites at demand points a, c, e (cost = |dx|).
DEMAND = "demand_id,weight\na,1\nb,2\nc,1\nd,2\ne,1\n"


def _costs(reach: float = 10.0) -> str:
    pos = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    lines = ["demand_id,site_id,cost"]
    for d, x in pos.items():
        for s, sx in (("S1", 0), ("S2", 2), ("S3", 4)):
            if abs(x - sx) <= reach:
                lines.append(f"{d},{s},{abs(x - sx)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    costs, demand = tmp_path / "costs.csv", tmp_path / "demand.csv"
    costs.write_text(_costs(), encoding="utf-8")
    demand.write_text(DEMAND, encoding="utf-8")
    return costs, demand


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "siting", *args], capture_output=True, text=True, check=False
    )


def test_pmedian_p1_picks_the_middle(files: tuple[Path, Path]) -> None:
    out = solve_matrix(load_cost_table(files[0]), load_demand_table(files[1]), model="pmedian", p=1)
    # site S2 at x=2: 1*2 + 2*1 + 0 + 2*1 + 1*2 = 8 (S1: 0+2+2+6+4 = 14)
    assert out["status"] == "optimal"
    assert out["objective"] == pytest.approx(8.0)
    assert out["sites"] == ["S2"]
    assert out["assignment"] == {k: "S2" for k in "abcde"}
    assert out["gap"] == pytest.approx(0.0)


def test_mclp_coverage_is_inclusive(files: tuple[Path, Path]) -> None:
    # threshold 1: S2 covers b,c,d (weights 2+1+2 = 5 of 7); cost exactly 1 counts as covered
    out = solve_matrix(
        load_cost_table(files[0]), load_demand_table(files[1]), model="mclp", p=1, threshold=1.0
    )
    assert out["sites"] == ["S2"]
    assert out["coverage"] == {
        "covered_weight": 5.0,
        "total_weight": 7.0,
        "share": pytest.approx(5 / 7),
    }
    assert out["objective"] == pytest.approx(5.0)
    below = solve_matrix(
        load_cost_table(files[0]), load_demand_table(files[1]), model="mclp", p=1, threshold=0.999
    )
    assert below["coverage"]["covered_weight"] == pytest.approx(1.0)  # only the site's own point


def test_lscp_infeasible_lists_unreachable_demand(tmp_path: Path) -> None:
    costs = tmp_path / "c.csv"
    costs.write_text(_costs(reach=0.5), encoding="utf-8")  # b and d reach no site
    demand = tmp_path / "d.csv"
    demand.write_text(DEMAND, encoding="utf-8")
    out = solve_matrix(
        load_cost_table(costs), load_demand_table(demand), model="lscp", threshold=1.0
    )
    assert out["status"] == "infeasible"
    assert sorted(out["unreachable_demand"]) == ["b", "d"]
    assert out["reason"]


def test_cli_writes_the_contract(files: tuple[Path, Path], tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.json"
    proc = _run(
        "solve-matrix",
        "--costs",
        str(files[0]),
        "--demand",
        str(files[1]),
        "--model",
        "pcenter",
        "--p",
        "2",
        "--threshold",
        "1",
        "--json",
        str(target),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(target.read_text(encoding="utf-8"))
    for key in ("status", "objective", "gap", "sites", "assignment", "coverage"):
        assert key in out
    # sites at 0, 2, 4 and points 0..4: every pair of sites leaves one point 2 away
    assert out["objective"] == pytest.approx(2.0)
    assert len(out["sites"]) == 2
    assert out["status"] == "optimal"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "pmedian", "--p", "5"],
            "`p` must be at most the number of candidates (3), got 5",
        ),
        (
            ["--model", "mclp", "--p", "1", "--threshold", "0"],
            "`threshold` must be a finite number > 0",
        ),
        (["--model", "mclp", "--p", "1"], "`threshold` is required"),
        (
            ["--model", "kmeans", "--p", "1"],
            "`--model` must be one of lscp, mclp, pmedian, pcenter",
        ),
    ],
)
def test_cli_bad_parameters(
    files: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    proc = _run(
        "solve-matrix",
        "--costs",
        str(files[0]),
        "--demand",
        str(files[1]),
        "--json",
        str(tmp_path / "x.json"),
        *args,
    )
    assert proc.returncode == 2
    assert message in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


def test_bad_files(tmp_path: Path, files: tuple[Path, Path]) -> None:
    with pytest.raises(DataNotFoundError, match=r"nope\.csv"):
        load_cost_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("demand,site,cost\na,S1,1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"must have columns demand_id,site_id,cost"):
        load_cost_table(bad)
    neg = tmp_path / "neg.csv"
    neg.write_text("demand_id,site_id,cost\na,S1,-1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"`cost` must be finite and >= 0, got -1 at data row 1"):
        load_cost_table(neg)
    stray = tmp_path / "stray.csv"
    stray.write_text("demand_id,site_id,cost\nzz,S1,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="not in the demand file"):
        solve_matrix(load_cost_table(stray), load_demand_table(files[1]), model="pmedian", p=1)


def _sites_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sites.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_per_site_max_load_moves_the_median(files: tuple[Path, Path], tmp_path: Path) -> None:
    from siting.matrix import load_site_table

    # S2 alone would serve all 7 (cost 8); capped at 6 it cannot, so S1 or S3 (cost 14) opens
    sites = load_site_table(_sites_file(tmp_path, "site_id,min_load,max_load,fixed\nS2,,6,no\n"))
    costs, demand = load_cost_table(files[0]), load_demand_table(files[1])
    out = solve_matrix(costs, demand, model="pmedian", p=1, sites=sites)
    assert out["status"] == "optimal"
    assert out["objective"] == pytest.approx(14.0)
    assert out["sites"] in (["S1"], ["S3"])
    assert out["loads"] == {out["sites"][0]: 7.0}


def test_fixed_site_from_the_sites_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    from siting.matrix import load_site_table

    sites = load_site_table(_sites_file(tmp_path, "site_id,fixed\nS3,true\n"))
    costs, demand = load_cost_table(files[0]), load_demand_table(files[1])
    out = solve_matrix(costs, demand, model="pmedian", p=1, sites=sites)
    assert out["sites"] == ["S3"] and out["objective"] == pytest.approx(14.0)


def test_impossible_bounds_are_infeasible_and_soft_reports_the_violation(
    files: tuple[Path, Path],
) -> None:
    costs, demand = load_cost_table(files[0]), load_demand_table(files[1])
    hard = solve_matrix(costs, demand, model="pmedian", p=1, max_load=6)
    assert hard["status"] == "infeasible" and hard["sites"] == []
    assert hard["reason"]
    low = solve_matrix(costs, demand, model="pmedian", p=2, min_load=4)
    assert low["status"] == "infeasible"
    soft = solve_matrix(costs, demand, model="pmedian", p=1, max_load=6, soft=True)
    assert soft["sites"] == ["S2"]
    assert soft["violations"] == [
        {"site": "S2", "load": 7.0, "bound": "capacity", "limit": 6.0, "amount": 1.0}
    ]


def test_cli_load_bounds_and_bad_sites_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    target = tmp_path / "bounded.json"
    common = ["solve-matrix", "--costs", str(files[0]), "--demand", str(files[1])]
    proc = _run(*common, "--model", "pmedian", "--p", "2", "--max-load", "4", "--json", str(target))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(target.read_text(encoding="utf-8"))
    assert out["status"] == "optimal" and out["objective"] == pytest.approx(6.0)
    assert max(out["loads"].values()) <= 4.0 and sum(out["loads"].values()) == 7.0
    bad = _sites_file(tmp_path, "site_id,max_load\nS2,-3\n")
    proc = _run(*common, "--model", "pmedian", "--p", "1", "--sites", str(bad), "--json", "x")
    assert proc.returncode == 2
    assert (
        "column `max_load` (empty: no bound) must be finite and >= 0, got -3 at data row 1"
        in proc.stderr
    )
    proc = _run(*common, "--model", "mclp", "--p", "1", "--threshold", "1", "--max-load", "3",
                "--json", "x")  # fmt: skip
    assert proc.returncode == 2 and "apply to model 'pmedian' only" in proc.stderr
