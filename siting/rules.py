"""The planning documents' siting rules (R1–R12) as typed, immutable, citable parameter sets.

A :class:`RulePreset` holds one frozen dataclass per rule (:class:`CentreBandRule` for R1 …
:class:`OutcomeTargetsRule` for R12). Each rule carries its parameters and where it comes from:
``source`` (document file prefix ``000``…``004`` and clause), ``quote`` (the original sentence),
``title`` (English) and ``note`` (where a value is the preset's reading rather than a number the
document states), so every output can name the rule that produced it (:meth:`Rule.cite`).

The packaged Inner Mongolia preset is :func:`default_rules`; a user copies it
(:func:`save_rules`), edits it and reads it back (:func:`load_rules`, or ``--rules FILE`` on the
command line). Validation reports every bad field of a file at once, unknown keys included.
Building a rule directly (or with :func:`dataclasses.replace`) validates it too.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from siting_errors import DataNotFoundError, InputError

__all__ = [
    "RULE_CODES",
    "RULE_TYPES",
    "CentreBandRule",
    "ColocationRule",
    "EmergencyStationRule",
    "FacilityKindRule",
    "JointClinicRule",
    "LayoutAdjustmentRule",
    "MedicalCommunityRule",
    "OutcomeTargetsRule",
    "Rule",
    "RulePreset",
    "ServiceCircleRule",
    "StaffingRule",
    "SubCentreRule",
    "Tier",
    "TownshipCentreRule",
    "default_rules",
    "load_rules",
    "rules_from_dict",
    "rules_to_dict",
    "save_rules",
]

logger = logging.getLogger(__name__)

_PACKAGED_PRESET = "inner_mongolia.toml"
_MODES = ("walk", "drive")
_META = ("title", "source", "quote", "note")
_TIER_KEYS = ("en", "zh", "source")

V = TypeVar("V")
Check = Callable[[Any], str | None]


class _FrozenMap(Mapping[str, V]):
    """A read-only, hashable mapping (rule tables stay immutable and rules stay hashable)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, V] | None = None) -> None:
        self._data: dict[str, V] = dict(data or {})

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __repr__(self) -> str:
        return f"{{{', '.join(f'{k!r}: {v!r}' for k, v in self._data.items())}}}"


# ----------------------------------------------------------------------------- field checks


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _positive_int(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v > 0
    return None if ok else f"must be a positive integer, got {v!r}"


def _positive_number(v: Any) -> str | None:
    return None if _is_number(v) and v > 0 else f"must be a number > 0, got {v!r}"


def _non_negative_number(v: Any) -> str | None:
    return None if _is_number(v) and v >= 0 else f"must be a number >= 0, got {v!r}"


def _share(v: Any) -> str | None:
    return None if _is_number(v) and 0 <= v <= 1 else f"must be a share in [0, 1], got {v!r}"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else f"must be a non-empty string, got {v!r}"


def _optional_text(v: Any) -> str | None:
    return None if isinstance(v, str) else f"must be a string, got {v!r}"


def _choice(*allowed: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in allowed else f"must be one of {', '.join(allowed)}, got {v!r}"

    return check


def _kind_table(v: Any) -> str | None:
    ok = (
        isinstance(v, Mapping)
        and len(v) > 0
        and all(isinstance(k, str) and k and isinstance(x, str) and x for k, x in v.items())
    )
    return None if ok else f"must be a table of area kinds to facility tiers, got {v!r}"


def _param(check: Check, convert: Callable[[Any], Any] | None = None) -> Any:
    """A rule parameter: validated with ``check``, stored after ``convert``."""
    return field(metadata={"check": check, "convert": convert})


def _meta(check: Check, *, show: bool = True) -> Any:
    return field(repr=show, metadata={"meta": check})


def _unknown(key: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"is not a known parameter ({hint}known: {', '.join(known)})"


# ----------------------------------------------------------------------------- rule objects


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One rule of the planning documents: its parameters and where it comes from.

    Subclasses add the parameters; ``code`` (``"R1"`` …) is fixed per class.
    """

    code: ClassVar[str] = ""
    title: str = _meta(_text)
    source: str = _meta(_text)
    quote: str = _meta(_text, show=False)
    note: str = field(default="", repr=False, metadata={"meta": _optional_text})

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        problems = _rule_problems(type(self), values)
        if problems:
            raise InputError(_summary(f"rule {self.code}", problems))
        for f in _param_fields(type(self)):
            convert = f.metadata["convert"]
            if convert is not None:
                object.__setattr__(self, f.name, convert(getattr(self, f.name)))

    def cite(self) -> str:
        """A short citation naming the rule and its source, e.g. ``R1 (002 task 1)``."""
        return f"{self.code} ({self.source})"

    def params(self) -> dict[str, Any]:
        """The rule's parameters (without title, source, quote and note), as plain values."""
        return {
            f.name: dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v
            for f in _param_fields(type(self))
        }

    @classmethod
    def _cross_problems(cls, values: Mapping[str, Any]) -> list[str]:
        """Problems between parameters (each already valid on its own)."""
        return []


@dataclass(frozen=True, kw_only=True)
class CentreBandRule(Rule):
    """R1: one community health service centre per ``min_population``–``max_population``
    residents or per sub-district; one more per started ``extra_per`` above ``max_population``;
    sub-districts under ``min_population`` keep their one centre, flagged when ``small_flag``."""

    code: ClassVar[str] = "R1"
    min_population: int = _param(_positive_int)
    max_population: int = _param(_positive_int)
    extra_per: int = _param(_positive_int)
    small_flag: bool = _param(_flag)

    @classmethod
    def _cross_problems(cls, values: Mapping[str, Any]) -> list[str]:
        lo, hi = values["min_population"], values["max_population"]
        if lo >= hi:
            return [f"R1.min_population ({lo}) must be below R1.max_population ({hi})"]
        return []


@dataclass(frozen=True, kw_only=True)
class TownshipCentreRule(Rule):
    """R2: township health centres each township must have."""

    code: ClassVar[str] = "R2"
    per_township: int = _param(_positive_int)


@dataclass(frozen=True, kw_only=True)
class JointClinicRule(Rule):
    """R3: villages strictly below ``joint_clinic_below`` residents run a clinic jointly with an
    adjacent neighbour; adjacency is ``touching`` polygons or a ``travel_time`` of at most
    ``adjacency_minutes``."""

    code: ClassVar[str] = "R3"
    joint_clinic_below: int = _param(_positive_int)
    adjacency: str = _param(_choice("touching", "travel_time"))
    adjacency_minutes: float = _param(_positive_number, float)


@dataclass(frozen=True, kw_only=True)
class ColocationRule(Rule):
    """R4: village clinic sites near the activity centre / elderly home: within
    ``poi_max_distance_m``, with ``preference_weight`` for co-located candidates."""

    code: ClassVar[str] = "R4"
    poi_max_distance_m: float = _param(_positive_number, float)
    preference_weight: float = _param(_non_negative_number, float)


@dataclass(frozen=True, kw_only=True)
class FacilityKindRule(Rule):
    """R5: the facility tier planned in an area of each administrative kind."""

    code: ClassVar[str] = "R5"
    facility_by_kind: Mapping[str, str] = _param(_kind_table, _FrozenMap)


@dataclass(frozen=True, kw_only=True)
class ServiceCircleRule(Rule):
    """R6: the ``threshold_minutes`` service circle, by ``urban_mode`` / ``rural_mode``."""

    code: ClassVar[str] = "R6"
    threshold_minutes: float = _param(_positive_number, float)
    urban_mode: str = _param(_choice(*_MODES))
    rural_mode: str = _param(_choice(*_MODES))


@dataclass(frozen=True, kw_only=True)
class SubCentreRule(Rule):
    """R7: ``k`` county sub-centres among the existing centres, serving the most people within
    ``threshold_minutes`` by ``mode``."""

    code: ClassVar[str] = "R7"
    k: int = _param(_positive_int)
    threshold_minutes: float = _param(_positive_number, float)
    mode: str = _param(_choice(*_MODES))


@dataclass(frozen=True, kw_only=True)
class LayoutAdjustmentRule(Rule):
    """R8: what-if runs adjust the layout; ``keep_existing`` keeps today's facilities open."""

    code: ClassVar[str] = "R8"
    keep_existing: bool = _param(_flag)


@dataclass(frozen=True, kw_only=True)
class MedicalCommunityRule(Rule):
    """R9: a county under ``single_community_below`` residents forms one medical community;
    at most ``lead_hospitals`` lead hospitals."""

    code: ClassVar[str] = "R9"
    single_community_below: int = _param(_positive_int)
    lead_hospitals: int = _param(_positive_int)


@dataclass(frozen=True, kw_only=True)
class EmergencyStationRule(Rule):
    """R10: emergency stations at township centres, reaching everyone within
    ``threshold_minutes`` by ``mode``."""

    code: ClassVar[str] = "R10"
    threshold_minutes: float = _param(_positive_number, float)
    mode: str = _param(_choice(*_MODES))


@dataclass(frozen=True, kw_only=True)
class StaffingRule(Rule):
    """R11: beds and staff per 1,000 / 10,000 residents."""

    code: ClassVar[str] = "R11"
    beds_per_1000: float = _param(_positive_number, float)
    physicians_per_1000: float = _param(_positive_number, float)
    nurses_per_1000: float = _param(_positive_number, float)
    gps_per_10000: float = _param(_positive_number, float)
    public_health_per_10000: float = _param(_positive_number, float)


@dataclass(frozen=True, kw_only=True)
class OutcomeTargetsRule(Rule):
    """R12: outcome targets the plans set (context for reports, not constraints)."""

    code: ClassVar[str] = "R12"
    in_county_hospitalisation: float = _param(_share, float)
    first_visit_primary_care: float = _param(_share, float)
    first_visit_primary_care_kangbashi: float = _param(_share, float)
    hohhot_new_centres_2025: int = _param(_positive_int)


RULE_TYPES: Mapping[str, type[Rule]] = _FrozenMap(
    {
        cls.code: cls
        for cls in (
            CentreBandRule,
            TownshipCentreRule,
            JointClinicRule,
            ColocationRule,
            FacilityKindRule,
            ServiceCircleRule,
            SubCentreRule,
            LayoutAdjustmentRule,
            MedicalCommunityRule,
            EmergencyStationRule,
            StaffingRule,
            OutcomeTargetsRule,
        )
    }
)
RULE_CODES: tuple[str, ...] = tuple(RULE_TYPES)


@dataclass(frozen=True, kw_only=True)
class Tier:
    """A facility tier of the documents: English and Chinese names, and the documents using it."""

    key: str
    en: str
    zh: str
    source: str


@dataclass(frozen=True, kw_only=True)
class RulePreset:
    """Every rule R1–R12 of a set of planning documents, validated, plus the documents and the
    facility tiers they name. ``preset.R1`` … ``preset.R12`` are the typed rules."""

    name: str
    title: str
    documents: Mapping[str, str]
    R1: CentreBandRule
    R2: TownshipCentreRule
    R3: JointClinicRule
    R4: ColocationRule
    R5: FacilityKindRule
    R6: ServiceCircleRule
    R7: SubCentreRule
    R8: LayoutAdjustmentRule
    R9: MedicalCommunityRule
    R10: EmergencyStationRule
    R11: StaffingRule
    R12: OutcomeTargetsRule
    tiers: Mapping[str, Tier]

    def __post_init__(self) -> None:
        object.__setattr__(self, "documents", _FrozenMap(self.documents))
        object.__setattr__(self, "tiers", _FrozenMap(self.tiers))
        problems = [f"preset.{n} {m}" for n in ("name", "title") if (m := _text(getattr(self, n)))]
        for code, cls in RULE_TYPES.items():
            rule = getattr(self, code)
            if not isinstance(rule, cls):
                problems.append(f"{code} must be a {cls.__name__}, got {type(rule).__name__}")
        if not problems:
            problems += _preset_cross_problems(self.rules, self.documents, self.tiers)
        if problems:
            raise InputError(_summary(f"preset {self.name!r}", problems))

    @property
    def rules(self) -> Mapping[str, Rule]:
        """The rules by code, in order R1 … R12."""
        return _FrozenMap({code: getattr(self, code) for code in RULE_CODES})

    def rule(self, code: str) -> Rule:
        """The rule with this code (``"R1"`` …)."""
        if code not in RULE_TYPES:
            raise InputError(f"rule code must be one of {', '.join(RULE_CODES)}, got {code!r}")
        return getattr(self, code)

    def with_params(self, code: str, **params: Any) -> RulePreset:
        """A copy with some parameters of one rule changed (validated), e.g.
        ``preset.with_params("R6", threshold_minutes=15.0)``."""
        data = rules_to_dict(self)
        data[self.rule(code).code].update(params)
        return rules_from_dict(data, origin=f"preset {self.name!r} with {code} edited")


# ----------------------------------------------------------------------------- validation


def _param_fields(cls: type[Rule]) -> list[Any]:
    return [f for f in fields(cls) if "check" in f.metadata]


def _summary(origin: str, problems: list[str]) -> str:
    n = len(problems)
    return f"{origin} has {n} problem{'s' if n > 1 else ''}: " + "; ".join(problems)


def _rule_problems(cls: type[Rule], section: Mapping[str, Any]) -> list[str]:
    """Every problem of one rule's table, each prefixed with ``R<n>.<field>``."""
    code = cls.code
    problems: list[str] = []
    for f in fields(cls):
        check: Check = f.metadata.get("meta") or f.metadata["check"]
        if f.name not in section:
            if f.name != "note":  # the only optional field
                problems.append(f"{code}.{f.name} missing")
            continue
        if msg := check(section[f.name]):
            problems.append(f"{code}.{f.name} {msg}")
    known = [f.name for f in fields(cls)]
    problems += [f"{code}.{key} {_unknown(key, known)}" for key in section if key not in known]
    if not problems:
        problems += cls._cross_problems(section)
    return problems


def _document_prefixes(source: str) -> list[str]:
    return re.findall(r"(?<!\d)\d{3}(?!\d)", source)


def _preset_cross_problems(rules: Mapping[str, Any], documents: Any, tiers: Any) -> list[str]:
    """Problems between sections: R5 names known tiers; every source names a known document.
    Works on rule objects or raw tables; parts that are malformed themselves are skipped (they
    are reported on their own)."""
    problems: list[str] = []
    r5 = rules.get("R5")
    table = (
        r5.facility_by_kind if isinstance(r5, FacilityKindRule) else _get(r5, "facility_by_kind")
    )
    if isinstance(table, Mapping) and isinstance(tiers, Mapping) and tiers:
        for kind, tier in table.items():
            if isinstance(tier, str) and tier not in tiers:
                problems.append(
                    f"R5.facility_by_kind.{kind} must be one of the tiers "
                    f"({', '.join(tiers)}), got {tier!r}"
                )
    if not isinstance(documents, Mapping) or not documents:
        return problems
    for code, rule in rules.items():
        source = rule.source if isinstance(rule, Rule) else _get(rule, "source")
        if not isinstance(source, str):
            continue
        for doc in _document_prefixes(source):
            if doc not in documents:
                problems.append(
                    f"{code}.source names document {doc}, which is not in [documents] "
                    f"({', '.join(documents)})"
                )
    return problems


def _get(table: Any, key: str) -> Any:
    return table.get(key) if isinstance(table, Mapping) else None


def _string_table_problems(name: str, table: Any) -> list[str]:
    if not isinstance(table, Mapping) or not table:
        return [f"[{name}] missing (a table of names to descriptions)"]
    return [f"{name}.{k} {m}" for k, v in table.items() if (m := _text(v))]


def _tier_problems(tiers: Any) -> list[str]:
    if not isinstance(tiers, Mapping) or not tiers:
        return ["[tiers] missing (a table of facility tiers with en, zh and source)"]
    problems: list[str] = []
    for key, tier in tiers.items():
        if not isinstance(tier, Mapping):
            problems.append(f"tiers.{key} must be a table with {', '.join(_TIER_KEYS)}")
            continue
        problems += [f"tiers.{key}.{k} missing" for k in _TIER_KEYS if k not in tier]
        problems += [
            f"tiers.{key}.{k} {m}" for k in _TIER_KEYS if k in tier and (m := _text(tier[k]))
        ]
        problems += [
            f"tiers.{key}.{k} {_unknown(k, _TIER_KEYS)}" for k in tier if k not in _TIER_KEYS
        ]
    return problems


def rules_from_dict(data: Mapping[str, Any], *, origin: str = "rules") -> RulePreset:
    """Validate parsed preset data (the layout of the TOML file) into a :class:`RulePreset`.

    Every problem — missing or unknown fields and sections, bad values, R5 tiers and sources
    naming unknown entries — is listed in one :class:`InputError` starting with ``origin``.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{origin} must be a table of sections, got {type(data).__name__}")
    problems: list[str] = []
    head = data.get("preset")
    if not isinstance(head, Mapping):
        problems.append("[preset] missing (with name and title)")
        head = {}
    else:
        problems += [f"preset.{n} missing" for n in ("name", "title") if n not in head]
        problems += [
            f"preset.{n} {m}" for n in ("name", "title") if n in head and (m := _text(head[n]))
        ]
        problems += [
            f"preset.{k} {_unknown(k, ('name', 'title'))}"
            for k in head
            if k not in ("name", "title")
        ]
    documents = data.get("documents")
    problems += _string_table_problems("documents", documents)
    for code, cls in RULE_TYPES.items():
        section = data.get(code)
        if section is None:
            problems.append(f"[{code}] missing")
        elif not isinstance(section, Mapping):
            problems.append(f"[{code}] must be a table, got {section!r}")
        else:
            problems += _rule_problems(cls, section)
    tiers = data.get("tiers")
    problems += _tier_problems(tiers)
    known = ("preset", "documents", *RULE_CODES, "tiers")
    problems += [
        f"[{key}] is not a known section (known: {', '.join(known)})"
        for key in data
        if key not in known
    ]
    problems += _preset_cross_problems(
        {code: data.get(code) for code in RULE_CODES}, documents, tiers
    )
    if problems:
        raise InputError(_summary(origin, problems))
    # every section was validated above: the documents and tiers are tables of tables
    rules: dict[str, Any] = {code: cls(**data[code]) for code, cls in RULE_TYPES.items()}
    checked_documents = cast(Mapping[str, str], documents)
    checked_tiers = cast(Mapping[str, Mapping[str, str]], tiers)
    return RulePreset(
        name=head["name"],
        title=head["title"],
        documents=dict(checked_documents),
        tiers={key: Tier(key=key, **tier) for key, tier in checked_tiers.items()},
        **rules,
    )


def rules_to_dict(preset: RulePreset) -> dict[str, Any]:
    """The preset as plain data in the TOML layout (the inverse of :func:`rules_from_dict`)."""
    out: dict[str, Any] = {
        "preset": {"name": preset.name, "title": preset.title},
        "documents": dict(preset.documents),
    }
    for code, rule in preset.rules.items():
        out[code] = {m: getattr(rule, m) for m in _META} | rule.params()
    out["tiers"] = {
        k: {"en": t.en, "zh": t.zh, "source": t.source} for k, t in preset.tiers.items()
    }
    return out


# ----------------------------------------------------------------------------- I/O


def load_rules(path: str | Path) -> RulePreset:
    """Read and validate a TOML preset (the layout of ``siting/data/inner_mongolia.toml``)."""
    from siting._toml import read_toml

    p = Path(path)
    data = read_toml(p, "rules file")
    preset = rules_from_dict(data, origin=f"rules file {str(p)!r}")
    logger.debug("read rule preset %r from %s", preset.name, p)
    return preset


@cache
def default_rules() -> RulePreset:
    """The packaged Inner Mongolia preset (``siting/data/inner_mongolia.toml``)."""
    text = resources.files("siting").joinpath("data", _PACKAGED_PRESET).read_text("utf-8")
    return rules_from_dict(tomllib.loads(text), origin=f"the packaged preset {_PACKAGED_PRESET}")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):  # a JSON string is a valid TOML basic string
        return json.dumps(v, ensure_ascii=False)
    raise InputError(f"cannot write {v!r} ({type(v).__name__}) to a rules file")


def _toml_tables(name: str, values: Mapping[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    lines += [
        f"{_toml_key(k)} = {_toml_value(v)}"
        for k, v in values.items()
        if not isinstance(v, Mapping)
    ]
    for k, v in values.items():
        if isinstance(v, Mapping):
            lines += ["", *_toml_tables(f"{name}.{_toml_key(k)}", v)]
    return lines


def save_rules(preset: RulePreset, path: str | Path) -> Path:
    """Write a preset as TOML, to copy, edit and read back with :func:`load_rules`."""
    p = Path(path)
    if not p.parent.is_dir():
        raise DataNotFoundError(f"cannot write rules file {str(p)!r}: folder does not exist")
    lines = [
        f"# Siting rule preset {preset.name!r}: {preset.title}",
        "# Edit the values and pass this file with --rules FILE or siting.rules.load_rules(path).",
        "",
    ]
    for section, values in rules_to_dict(preset).items():
        if section == "tiers":
            for key, tier in values.items():
                lines += [*_toml_tables(f"tiers.{_toml_key(key)}", tier), ""]
        else:
            lines += [*_toml_tables(section, values), ""]
    p.write_text("\n".join(lines), encoding="utf-8")
    logger.debug("wrote rule preset %r to %s", preset.name, p)
    return p
