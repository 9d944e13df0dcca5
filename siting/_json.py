"""JSON output: the one clean-up of values for JSON (:func:`jsonable`, :func:`json_number`) and
the one serialisation convention (:func:`to_json`: UTF-8 kept, strict, no NaN).

Every JSON the project writes (summaries, GeoJSON properties, the API's bodies, the
``solve-matrix`` file) goes through these, so a non-finite float is always ``null`` and a numpy
scalar always a plain number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

__all__ = ["json_number", "jsonable", "to_json"]

logger = logging.getLogger(__name__)


def jsonable(value: Any) -> Any:
    """``value`` made JSON-safe: numpy scalars become Python numbers, NaN / inf / NA / NaT
    become ``None``, dates and times ISO 8601 strings, durations ISO 8601 durations, mappings
    (keys as strings), sequences and dataclasses are converted item by item, geometries become
    WKT, anything else ``str``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, dt.datetime | dt.date | dt.time):  # pd.Timestamp is a datetime
        return value.isoformat()
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else pd.Timedelta(value).isoformat()
    if isinstance(value, dt.timedelta):  # pd.Timedelta is a timedelta
        return pd.Timedelta(value).isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, BaseGeometry):
        return value.wkt
    return str(value)


def json_number(value: float | None, digits: int | None = None) -> float | None:
    """A number for JSON: ``None`` when missing or not finite, else a float (rounded to
    ``digits`` decimals when given)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value) if digits is None else round(float(value), digits)


def to_json(value: Any, *, indent: int | None = None, compact: bool = False) -> str:
    """JSON text of an already JSON-safe ``value`` (see :func:`jsonable`): non-ASCII kept as
    is, NaN refused; ``compact`` drops the spaces after separators."""
    separators = (",", ":") if compact else None
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=indent, separators=separators
    )
