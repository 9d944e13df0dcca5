"""Administrative kinds of admin units (rule R5): sub-district (街道) or township (乡/镇/苏木).

A unit's kind decides which rules a rules plan applies to it: R1 community health service
centres and R5 stations in sub-districts, R2 township health centres and village clinics in
townships. The kind comes from a column (``kind`` = ``subdistrict`` / ``township``, or the
Chinese words), from the suffix of the unit's Chinese name (街道 → sub-district; 乡, 镇, 苏木 →
township), or is forced to one kind for every unit. :class:`UnitKinds` says which source was
used, so every output can print it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from siting.scenario import UNIT_KINDS
from siting_errors import InputError

__all__ = ["KIND_SUFFIXES", "UnitKinds", "kind_from_name", "unit_kinds"]

logger = logging.getLogger(__name__)

#: Name suffixes and the kind they mean (checked in this order, after dropping 办事处).
KIND_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("街道", "subdistrict"),
    ("苏木", "township"),
    ("镇", "township"),
    ("乡", "township"),
)
#: Values a kind column may hold, and the kind each means.
_COLUMN_VALUES: dict[str, str] = {
    "subdistrict": "subdistrict",
    "sub-district": "subdistrict",
    "sub_district": "subdistrict",
    "街道": "subdistrict",
    "township": "township",
    "乡": "township",
    "镇": "township",
    "苏木": "township",
    "乡镇": "township",
}
_SUFFIX_TEXT = "街道 -> sub-district; 乡/镇/苏木 -> township"


@dataclass(frozen=True, eq=False)
class UnitKinds:
    """The kind of every unit (``subdistrict``, ``township`` or ``""`` when unknown) and the
    sentence naming where it came from (``source``)."""

    kinds: np.ndarray
    source: str

    def count(self, kind: str) -> int:
        """Units of this kind (``""`` counts the unknown ones)."""
        return int((self.kinds == kind).sum())

    def describe(self) -> str:
        """``source`` plus the counts, e.g. ``"name suffix (...): 10 sub-districts"``."""
        parts = [
            f"{self.count(k)} {label}"
            for k, label in (("subdistrict", "sub-districts"), ("township", "townships"))
            if self.count(k)
        ]
        if self.count(""):
            parts.append(f"{self.count('')} of unknown kind")
        return f"unit kinds from {self.source}: {', '.join(parts) or 'no units'}"


def kind_from_name(name: str) -> str:
    """The kind a Chinese unit name's suffix means (``""`` when none matches)."""
    text = str(name).strip().removesuffix("办事处")
    for suffix, kind in KIND_SUFFIXES:
        if text.endswith(suffix):
            return kind
    return ""


def unit_kinds(
    units: pd.DataFrame, *, column: str | None = None, force: str | None = None
) -> UnitKinds:
    """Each unit's kind: ``force`` for all; else ``column`` (or a ``kind`` column when there
    is one); else the name suffix. When no name has a known suffix, every unit is treated as
    a sub-district (R1 applies everywhere, as in a city), and the source says so."""
    n = len(units)
    if force is not None:
        if force not in UNIT_KINDS:
            raise InputError(f"`unit_kind` must be one of {', '.join(UNIT_KINDS)}, got {force!r}")
        return UnitKinds(np.full(n, force, dtype=object), f"the forced kind {force!r}")
    if column is None and "kind" in units.columns:
        column = "kind"
    if column is not None:
        if column not in units.columns:
            raise InputError(
                f"the unit kind column {column!r} is not a column of the units "
                f"(columns: {[c for c in units.columns if c != 'geometry']})"
            )
        raw = units[column]
        kinds = np.empty(n, dtype=object)
        for i, value in enumerate(raw.tolist()):
            if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
                kinds[i] = ""
                continue
            key = str(value).strip().lower()
            if key not in _COLUMN_VALUES:
                raise InputError(
                    f"unit kind column {column!r} has {value!r} (unit "
                    f"{units['unit_id'].iloc[i] if 'unit_id' in units.columns else i}); "
                    f"expected one of {', '.join(_COLUMN_VALUES)} or empty"
                )
            kinds[i] = _COLUMN_VALUES[key]
        return UnitKinds(kinds, f"the column {column!r}")
    names = units["name"].astype(str).tolist() if "name" in units.columns else [""] * n
    kinds = np.array([kind_from_name(x) for x in names], dtype=object)
    if n and (kinds == "").all():
        return UnitKinds(
            np.full(n, "subdistrict", dtype=object),
            "no kind column and no name with a known suffix "
            f"({_SUFFIX_TEXT}): every unit treated as a sub-district",
        )
    return UnitKinds(kinds, f"the name suffix ({_SUFFIX_TEXT})")
