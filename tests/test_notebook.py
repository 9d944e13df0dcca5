"""The what-if notebook runs headless from top to bottom on the synthetic city (nbclient):
the plan by the rules, then a what-if edit and the rules it breaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipyleaflet")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "what_if_siting.ipynb"


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_shows_decisions_not_widget_code() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # the widget wiring lives in siting.whatif_panel (issue 18)
    assert len(code.splitlines()) < 130
    assert "ipywidgets" not in code and "ipyleaflet" not in code and "on_click" not in code
    assert "WhatIfPanel(" in code and "static_map(" in code


def test_notebook_runs_and_computes_the_what_if(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result_json = tmp_path / "outcome.json"
    monkeypatch.setenv("SITING_NOTEBOOK_RESULT", str(result_json))
    monkeypatch.setenv("SITING_NOTEBOOK_OUT", str(tmp_path / "export"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    out = json.loads(result_json.read_text(encoding="utf-8"))
    # issue 18: a static map image among the outputs (an HTML export shows it offline), the
    # compliance table with readable headings and formatted numbers, exports per scenario
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2  # the plan, and the scripted what-if
    html = "\n".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "Within the circle" in html and "Residents" in html
    assert "required_centres" not in html and "28106.0" not in html
    assert "assigned_population" not in html and "300000.0" not in html  # tiers, steps
    assert Path(out["geopackage"]).name.startswith("what_if_plan-rules-")
    assert Path(out["geopackage"]).name != "what_if.gpkg"
    # the notebook plans by the rules first: baseline (existing centres judged) vs the plan
    assert out["model"] == "rules" and out["plan_steps"][0] == "R1"
    assert 0.2 < out["coverage_baseline"] < out["coverage_plan"] <= 1.0
    assert out["plan_shortfall"] == 0 and out["plan_summary"]["units_violating"] == 0
    # the scripted what-if: closing a centre the plan placed breaks R1 in its unit
    assert out["broken_units"] and "R1/R2 centres" in out["broken_rules"][0]
    assert out["whatif_sites_removed"] == [out["closed_site"]]
    assert out["whatif_sites_added"] == [out["added_site"]]
    assert out["coverage_after"] == pytest.approx(
        out["coverage_plan"] + (out["moved_in"] - out["moved_out"]) / 300_000
    )
    assert out["travel_cache"]["misses"] == 1  # travel times computed once, then reused
    assert Path(out["geopackage"]).is_file()
