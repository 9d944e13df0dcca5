"""Input checks shared by the models and their callers: finite non-negative numbers, and the
coverage tolerance every threshold comparison in ``solvers`` uses.

One rule, one message: :func:`finite_non_negative` is the check behind model weights, loads and
load bounds, the ``siting solve-matrix`` tables and the API's inputs, so a bad value is reported
the same way everywhere (the input's name, the first bad value, where it is, how many).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from siting_errors import InputError

__all__ = ["COVERAGE_TOL", "coverage_limit", "finite_non_negative"]

logger = logging.getLogger(__name__)

#: relative tolerance of a coverage comparison: ``cost <= threshold + COVERAGE_TOL ×
#: max(1, threshold)`` (a cost of 0.1 + 0.2 is within a threshold of 0.3)
COVERAGE_TOL = 1e-9


def coverage_limit(threshold: float) -> float:
    """The largest cost that counts as within ``threshold``:
    ``threshold + 1e-9 × max(1, |threshold|)`` (coverage is inclusive, with round-off)."""
    t = float(threshold)
    return t + COVERAGE_TOL * max(1.0, abs(t))


def finite_non_negative(
    values: ArrayLike,
    what: str,
    *,
    at: str | None = "index",
    labels: Sequence[object] | np.ndarray | None = None,
    shown: Sequence[object] | np.ndarray | None = None,
) -> np.ndarray:
    """``values`` as a float64 array, or :class:`~siting_errors.InputError` when one is not a
    finite number ``>= 0``.

    The message names the input (``what``, e.g. ``"`weights`"``), the first bad value (from
    ``shown`` when given, e.g. the text a user wrote, else the parsed value), where it is
    (``at`` followed by its label from ``labels``, else its position; ``at=None`` for a single
    value) and how many are bad:
    ``"`weights` must be finite and >= 0, got nan at demand d7 (2 bad values)"``. Values that
    cannot be read as numbers count as bad (pass them through ``pandas.to_numeric(...,
    errors="coerce")`` first to report them with their text).
    """
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be finite numbers >= 0, got {values!r}") from exc
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = shown[i] if shown is not None else arr[i]
        value = raw.item() if isinstance(raw, np.generic) else raw
        label = labels[i] if labels is not None else i
        label = label.item() if isinstance(label, np.generic) else label
        n = int(bad.sum())
        where = "" if at is None else f" at {at} {label}"
        count = f" ({n} bad values)" if n > 1 else ""
        raise InputError(f"{what} must be finite and >= 0, got {value!r}{where}{count}")
    return arr
