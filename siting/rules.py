"""The planning documents' siting rules (R1–R12) as validated, citable parameter sets.

A :class:`RulePreset` is read from a TOML file (the packaged Inner Mongolia preset by default);
every rule carries its parameters, its source document and clause and the original sentence, so
every output can say which rule produced it (:meth:`Rule.cite`). Validation reports every bad
field of a file at once.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from siting_errors import DataNotFoundError, InputError

__all__ = ["RULE_CODES", "Rule", "RulePreset", "default_rules", "load_rules", "rules_from_dict",
           "rules_to_dict", "save_rules"]

logger = logging.getLogger(__name__)

Check = Callable[[Any], str | None]


def _posint(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v > 0
    return None if ok else f"must be a positive integer, got {v!r}"


def _posnum(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    return None if ok else f"must be a number > 0, got {v!r}"


def _nonneg(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    return None if ok else f"must be a number >= 0, got {v!r}"


def _share(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
    return None if ok else f"must be a share in [0, 1], got {v!r}"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _choice(*allowed: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in allowed else f"must be one of {', '.join(allowed)}, got {v!r}"
    return check


def _str_map(v: Any) -> str | None:
    ok = isinstance(v, Mapping) and all(isinstance(k, str) and isinstance(x, str) and x
                                        for k, x in v.items())
    return None if ok and v else f"must be a table of names to facility types, got {v!r}"


_MODE = _choice("walk", "drive")
SCHEMA: Mapping[str, Mapping[str, Check]] = MappingProxyType({
    "R1": {"min_population": _posint, "max_population": _posint, "extra_per": _posint,
           "small_flag": _flag},
    "R2": {"per_township": _posint},
    "R3": {"joint_clinic_below": _posint, "adjacency": _choice("touching", "travel_time"),
           "adjacency_minutes": _posnum},
    "R4": {"poi_max_distance_m": _posnum, "preference_weight": _nonneg},
    "R5": {"facility_by_kind": _str_map},
    "R6": {"threshold_minutes": _posnum, "urban_mode": _MODE, "rural_mode": _MODE},
    "R7": {"k": _posint, "threshold_minutes": _posnum, "mode": _MODE},
    "R8": {"keep_existing": _flag},
    "R9": {"single_community_below": _posint, "lead_hospitals": _posint},
    "R10": {"threshold_minutes": _posnum, "mode": _MODE},
    "R11": {"beds_per_1000": _posnum, "physicians_per_1000": _posnum,
            "nurses_per_1000": _posnum, "gps_per_10000": _posnum,
            "public_health_per_10000": _posnum},
    "R12": {"in_county_hospitalisation": _share, "first_visit_primary_care": _share,
            "hohhot_new_centres_2025": _posint},
})
RULE_CODES: tuple[str, ...] = tuple(SCHEMA)
_META = ("title", "source", "quote")


@dataclass(frozen=True)
class Rule:
    """One rule: its code, parameters, and where it comes from. Parameters read as attributes
    (``rule.min_population``)."""

    code: str
    title: str
    source: str
    quote: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        params = object.__getattribute__(self, "params")
        if name in params:
            return params[name]
        raise AttributeError(f"rule {object.__getattribute__(self, 'code')} has no parameter "
                             f"{name!r}")

    def cite(self) -> str:
        """A short citation, e.g. ``R1 (002 task 1)``."""
        return f"{self.code} ({self.source})"


@dataclass(frozen=True)
class RulePreset:
    """Every rule of a set of planning documents, validated."""

    name: str
    title: str
    rules: Mapping[str, Rule]
    tiers: Mapping[str, str]

    def __getattr__(self, name: str) -> Rule:
        rules = object.__getattribute__(self, "rules")
        if name in rules:
            return rules[name]
        raise AttributeError(f"the preset has no rule {name!r}")


def rules_from_dict(data: Mapping[str, Any], *, origin: str = "rules") -> RulePreset:
    """Validate a parsed preset; every problem is listed in one :class:`InputError`."""
    problems: list[str] = []
    preset = data.get("preset", {})
    if not isinstance(preset, Mapping) or not preset.get("name"):
        problems.append("preset.name missing")
    rules: dict[str, Rule] = {}
    for code, checks in SCHEMA.items():
        section = data.get(code)
        if not isinstance(section, Mapping):
            problems.append(f"{code} missing")
            continue
        for meta in _META:
            if not isinstance(section.get(meta), str) or not section.get(meta):
                problems.append(f"{code}.{meta} missing (a non-empty string)")
        params = {}
        for name, check in checks.items():
            if name not in section:
                problems.append(f"{code}.{name} missing")
                continue
            msg = check(section[name])
            if msg:
                problems.append(f"{code}.{name} {msg}")
            params[name] = dict(section[name]) if isinstance(section[name], Mapping) \
                else section[name]
        for key in section:
            if key not in checks and key not in _META:
                problems.append(f"{code}.{key} is not a known parameter "
                                f"(known: {', '.join(checks)})")
        rules[code] = Rule(code, str(section.get("title", "")), str(section.get("source", "")),
                           str(section.get("quote", "")), MappingProxyType(params))
    for key in data:
        if key not in SCHEMA and key not in ("preset", "tiers"):
            problems.append(f"{key} is not a known section (known: preset, tiers, "
                            f"{', '.join(RULE_CODES)})")
    r1 = data.get("R1", {})
    if isinstance(r1, Mapping) and not _posint(r1.get("min_population")) and \
            not _posint(r1.get("max_population")) and \
            r1["min_population"] >= r1["max_population"]:
        problems.append(f"R1.min_population ({r1['min_population']}) must be below "
                        f"R1.max_population ({r1['max_population']})")
    if problems:
        raise InputError(f"{origin} has {len(problems)} problem"
                         f"{'s' if len(problems) > 1 else ''}: " + "; ".join(problems))
    tiers = data.get("tiers", {})
    return RulePreset(str(preset["name"]), str(preset.get("title", "")),
                      MappingProxyType(rules), MappingProxyType(dict(tiers)))


def load_rules(path: str | Path) -> RulePreset:
    """Read and validate a TOML preset."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"rules file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"rules file {str(p)!r} is not valid TOML: {exc}") from exc
    return rules_from_dict(data, origin=f"rules file {str(p)!r}")


def default_rules() -> RulePreset:
    """The packaged Inner Mongolia preset."""
    text = resources.files("siting").joinpath("data/inner_mongolia.toml").read_text("utf-8")
    return rules_from_dict(tomllib.loads(text), origin="the packaged preset")


def rules_to_dict(preset: RulePreset) -> dict[str, Any]:
    """The preset as plain data (the inverse of :func:`rules_from_dict`)."""
    out: dict[str, Any] = {"preset": {"name": preset.name, "title": preset.title}}
    for code, rule in preset.rules.items():
        out[code] = {"title": rule.title, "source": rule.source, "quote": rule.quote,
                     **{k: dict(v) if isinstance(v, Mapping) else v
                        for k, v in rule.params.items()}}
    out["tiers"] = dict(preset.tiers)
    return out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def save_rules(preset: RulePreset, path: str | Path) -> Path:
    """Write a preset as TOML (to copy, edit and load again)."""
    data = rules_to_dict(preset)
    lines: list[str] = []
    for section, values in data.items():
        tables = {k: v for k, v in values.items() if isinstance(v, Mapping)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if k not in tables]
        for name, table in tables.items():
            lines.append(f"\n[{section}.{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
        lines.append("")
    p = Path(path)
    p.write_text("\n".join(lines), encoding="utf-8")
    return p
