"""The dependency direction api → siting → {geodata, solvers} holds, statically and at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("siting", "geodata", "solvers", "api")
FORBIDDEN = {
    "geodata": {"solvers", "siting", "api"},
    "solvers": {"geodata", "siting", "api"},
    "siting": {"api"},
    "api": set(),
}


def _imported_top_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_against_the_direction(package: str) -> None:
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        bad = _imported_top_names(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_checker_catches_a_bad_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import os\nfrom solvers.costs import CostMatrix\n", encoding="utf-8")
    assert "solvers" in _imported_top_names(bad)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("geodata", FORBIDDEN["geodata"]),
        ("solvers", FORBIDDEN["solvers"]),
        ("siting", FORBIDDEN["siting"]),
    ],
)
def test_runtime_imports_follow_the_direction(package: str, forbidden: set[str]) -> None:
    """Importing a package (and all its modules) never loads a package it must not use."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.split()
    assert not (set(out) & forbidden), f"{package} loaded {sorted(set(out) & forbidden)}"
