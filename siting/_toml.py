"""Reading the TOML input files (rules presets, tiers files) with the project's errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from siting_errors import DataNotFoundError, InputError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The parsed TOML file at ``path``; ``what`` names it in errors (``"rules file"``)."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"{what} {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {str(p)!r} is not valid UTF-8 TOML: {exc}") from exc
