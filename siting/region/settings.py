"""The planning parameters shared by every unit of a region (:class:`RegionSettings`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from siting_errors import InputError

if TYPE_CHECKING:
    from siting.rules import RulePreset

__all__ = ["RegionSettings"]

logger = logging.getLogger(__name__)

#: speeds (km/h) used to derive the default buffer: the farthest one travels within the circle
_BUFFER_SPEED_KMH = {"walk": 4.5, "drive": 60.0}


@dataclass(frozen=True)
class RegionSettings:
    """The planning parameters shared by every unit.

    Attributes:
        model: ``lscp``, ``mclp``, ``pmedian`` or ``pcenter``.
        new_sites: new sites per unit (an int for every unit, or ``{unit_id: n}``; units not in
            the mapping get 0); capped at the unit's own candidates. Not used by LSCP.
        threshold_minutes: the service circle (R6); ``None`` uses the rules' R6.
        mode: ``walk`` or ``drive``; ``None`` uses the rules' R6 rural mode.
        buffer_km: cross-border buffer; ``None`` = how far one travels within the circle
            (threshold × 60 km/h driving, 4.5 km/h walking).
        max_snap_distance, cutoff_minutes, detour_factor, backend, time_limit, mip_gap: as in
            :class:`siting.Scenario`.
        rules: a :class:`siting.rules.RulePreset`; ``None`` uses the packaged preset.
    """

    model: str = "mclp"
    new_sites: int | Mapping[str, int] | None = 2
    threshold_minutes: float | None = None
    mode: str | None = None
    buffer_km: float | None = None
    max_snap_distance: float = 2000.0
    cutoff_minutes: float | None = None
    detour_factor: float = 1.3
    backend: str = "highs"
    time_limit: float | None = 60.0
    mip_gap: float = 0.0
    rules: RulePreset | None = None

    def resolved(self) -> RegionSettings:
        """A copy with the rules, threshold, mode and buffer filled in."""
        from siting.rules import RulePreset, default_rules

        rules = self.rules if self.rules is not None else default_rules()
        if not isinstance(rules, RulePreset):
            raise InputError(f"`rules` must be a RulePreset, got {type(rules).__name__}")
        threshold = (
            self.threshold_minutes
            if self.threshold_minutes is not None
            else rules.R6.threshold_minutes
        )
        mode = self.mode or rules.R6.rural_mode
        if mode not in _BUFFER_SPEED_KMH:
            raise InputError(f"`mode` must be walk or drive, got {mode!r}")
        buffer_km = self.buffer_km
        if buffer_km is None:
            buffer_km = float(threshold) / 60.0 * _BUFFER_SPEED_KMH[mode]
        if not np.isfinite(buffer_km) or buffer_km < 0:
            raise InputError(f"`buffer_km` must be >= 0, got {buffer_km!r}")
        if isinstance(self.new_sites, Mapping):
            new_sites: Any = {str(k): int(v) for k, v in self.new_sites.items()}
        else:
            new_sites = self.new_sites
        return RegionSettings(
            **{
                **{f: getattr(self, f) for f in self.__dataclass_fields__},
                "threshold_minutes": float(threshold),
                "mode": mode,
                "buffer_km": float(buffer_km),
                "rules": rules,
                "new_sites": new_sites,
            }
        )

    def describe(self) -> dict[str, Any]:
        """JSON-ready parameters (the rules by name)."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "rules"}
        if isinstance(out["new_sites"], Mapping):
            out["new_sites"] = dict(sorted(out["new_sites"].items()))
        out["rules"] = None if self.rules is None else self.rules.name
        return out

    def new_sites_for(self, unit_id: str) -> int | None:
        """The new sites asked of one unit (before capping at its candidates)."""
        if isinstance(self.new_sites, Mapping):
            return int(self.new_sites.get(unit_id, 0))
        return self.new_sites
