"""The command line's words: library messages (errors, notes) with the Python parameter names
they use rewritten as the ``siting`` flags that set them (`new_sites` → `--new-sites`)."""

from __future__ import annotations

import re

__all__ = ["FLAGS", "cli_words"]

#: Python parameter names in library messages and the CLI flags that set them
FLAGS: dict[str, str] = {
    "population_column": "--population-column",
    "id_column": "--id-column",
    "name_column": "--name-column",
    "x_column": "--x-column",
    "y_column": "--y-column",
    "crs": "--crs",
    "coords": "--coords",
    "new_sites": "--new-sites",
    "threshold_minutes": "--threshold",
    "cutoff_minutes": "--cutoff",
    "max_snap_distance": "--max-snap",
    "candidate_spacing": "--candidate-spacing",
    "max_candidates": "--max-candidates",
    "polygon_spacing": "--polygon-spacing",
    "detour_factor": "--detour-factor",
    "station_budget": "--station-budget",
    "time_limit": "--time-limit",
    "strict": "--strict",
    "sites": "--sites",
    "existing": "--existing",
    "units": "--units",
    "roads": "--roads",
    "model": "--model",
    "mode": "--mode",
    "speed_unit": "--road-speed-unit",
    "tolerance": "--road-tolerance",
}
_PYTHON_NAME = re.compile(
    r"`(?P<tick>\w+)`|\((?P<paren>\w+)[ :)]|\b(?P<kw>\w+)=(?P<value>True|False)?(?=[\s/'\"]|$)"
    r"|: (?P<colon>\w+)\)"
)


def cli_words(text: str) -> str:
    """A library message in the CLI's words: `new_sites`, (candidate_spacing) and
    population_column= become --new-sites, (--candidate-spacing), --population-column."""

    def flag(match: re.Match[str]) -> str:
        name = (
            match.group("tick") or match.group("paren") or match.group("kw") or match.group("colon")
        )
        if name not in FLAGS:
            return match.group(0)
        if match.group("tick"):
            return f"`{FLAGS[name]}`"
        if match.group("paren"):
            return f"({FLAGS[name]}{match.group(0)[-1]}"
        if match.group("colon"):
            return f": {FLAGS[name]})"
        value = match.group("value")
        return FLAGS[name] if value in (None, "True") else f"no {FLAGS[name]}"

    return re.sub(r"(--[\w-]+)(['\"])", r"\1 \2", _PYTHON_NAME.sub(flag, text))
