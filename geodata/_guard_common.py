"""Helpers shared by the file guard's modules (:mod:`geodata.guard`): the size-limit error, the
description of a file format, what a file's first bytes say it is, and the parsing of values
users send (CRS text, JSON)."""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from siting_errors import CRSError, InputError, UnsupportedFormatError

__all__ = [
    "FGB_MAGIC",
    "GPKG_APPLICATION_IDS",
    "SHAPEFILE_PARTS",
    "SHP_FILE_CODE",
    "SQLITE_MAGIC",
    "TIFF_MAGIC",
    "FileFormat",
    "SizeLimitError",
    "check_crs",
    "describe",
    "json_depth",
    "mismatch",
    "parse_crs",
    "parse_json",
    "short",
]

logger = logging.getLogger(__name__)


class SizeLimitError(InputError):
    """An input is larger than a limit of the guard (the HTTP service answers 413)."""


@dataclass(frozen=True)
class FileFormat:
    """A format of the allow-list: its name, GDAL driver, suffixes and dataset kinds."""

    name: str
    driver: str | None
    suffixes: tuple[str, ...]
    kinds: tuple[str, ...]


TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
SQLITE_MAGIC = b"SQLite format 3\x00"
GPKG_APPLICATION_IDS = (b"GPKG", b"GP10", b"GP11")
FGB_MAGIC = b"fgb\x03fgb"
SHP_FILE_CODE = b"\x00\x00'\n"  # 9994, big-endian
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")


def describe(head: bytes) -> str:
    """A guess at what a file really is, for error messages."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"<VRTDataset", b"<OGRVRTDataSource")) or b"<VRTDataset" in text[:1024]:
        return "a GDAL VRT (virtual dataset), which is never read"
    if text.startswith(b"<"):
        return "XML"
    if text.startswith((b"{", b"[")):
        return "JSON"
    if head.startswith(TIFF_MAGIC):
        return "a TIFF"
    if head.startswith(SQLITE_MAGIC):
        return "an SQLite database"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if head.startswith(FGB_MAGIC):
        return "FlatGeobuf"
    return "something else"


def mismatch(path: Path, fmt: FileFormat, head: bytes, detail: str = "") -> UnsupportedFormatError:
    """The error for a file whose content is not the format its suffix names."""
    article = "an" if fmt.name[0] in "AEIOU" else "a"
    return UnsupportedFormatError(
        f"{path.name!r} is named as {fmt.name} but its content is {describe(head)}"
        + (f" ({detail})" if detail else "")
        + f"; expected {article} {fmt.name} file"
    )


# --------------------------------------------------------------------------- CRS
_WKT_START = re.compile(
    r"^\s*(GEOGCS|PROJCS|GEOCCS|COMPD_CS|VERT_CS|LOCAL_CS|GEOGCRS|GEOGRAPHICCRS|PROJCRS|"
    r"PROJECTEDCRS|GEODCRS|GEODETICCRS|BASEGEOGCRS|COMPOUNDCRS|VERTCRS|VERTICALCRS|ENGCRS|"
    r"ENGINEERINGCRS|BOUNDCRS)\s*\[",
    re.IGNORECASE,
)
_EPSG = re.compile(r"^\s*(?:EPSG:|urn:ogc:def:crs:EPSG:[^:]*:)(\d{1,6})\s*$", re.IGNORECASE)
_CRS84 = re.compile(r"^\s*(?:OGC:)?CRS84\s*$|^\s*urn:ogc:def:crs:OGC:[^:]*:CRS84\s*$", re.I)
_GRIDS = re.compile(r"(?:nad|geoid)grids\s*=\s*([^\s\"\]]+)", re.IGNORECASE)


def parse_crs(value: Any, what: str) -> CRS:
    """A CRS given by a user: an EPSG code (``4326``, ``"EPSG:32649"``), an OGC URN
    (``urn:ogc:def:crs:EPSG::4326``, ``CRS84``) or WKT. PROJ strings, ``+init`` files, PROJJSON
    and anything naming grid files are refused (:class:`CRSError` naming ``what``), so a CRS
    never makes PROJ read a file or the network."""
    expected = "an EPSG code (e.g. EPSG:32649), an OGC URN or WKT"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CRSError(f"`{what}` must be {expected}, got {value!r}")
    text = str(value).strip()
    if isinstance(value, int) or text.isdigit():
        text = f"EPSG:{text}"
    if len(text) > 20_000:
        raise CRSError(f"`{what}` is {len(text):,} characters long; expected {expected}")
    match = _EPSG.match(text)
    try:
        if match:
            crs = CRS.from_epsg(int(match.group(1)))
        elif _CRS84.match(text):
            crs = CRS.from_user_input("OGC:CRS84")
        elif _WKT_START.match(text):
            crs = CRS.from_wkt(text)
        else:
            raise CRSError(f"`{what}` must be {expected}, got {short(text)!r}")
    except PyprojCRSError as exc:
        raise CRSError(f"`{what}` is not a valid CRS ({exc}); expected {expected}") from exc
    return check_crs(crs, f"`{what}`", given=text)


def check_crs(crs: Any, what: str, *, given: str | None = None) -> CRS:
    """``crs`` as a pyproj CRS, refused (:class:`CRSError`) when it names grid files
    (``+nadgrids`` / ``+geoidgrids`` other than ``@null``, ``PARAMETERFILE``) or ``+init``
    files: reading a file's CRS must never make PROJ open another file."""
    try:
        value = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
    except PyprojCRSError as exc:
        raise CRSError(f"{what}: the CRS is not valid ({exc})") from exc
    texts = [given or ""]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for version in ("WKT2_2019", "WKT1_GDAL", "PROJ"):
            try:
                text = value.to_proj4() if version == "PROJ" else value.to_wkt(version)
            except PyprojCRSError:
                continue
            texts.append(text or "")
    for text in texts:
        bad = "PARAMETERFILE" in text.upper() or "+init" in text.lower()
        for grids in _GRIDS.findall(text):
            bad |= any(g.strip().lstrip("@") != "null" for g in grids.split(","))
        if bad:
            raise CRSError(
                f"{what}: the CRS refers to grid or init files ({short(text)!r}); give the CRS "
                "as an EPSG code (e.g. EPSG:4326) or as WKT without grid files"
            )
    return value


def short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- JSON
def parse_json(data: bytes | str, what: str, *, max_depth: int = 64) -> Any:
    """Untrusted JSON text as Python values. Refused with an :class:`InputError` naming
    ``what``: invalid JSON (with line and column), ``NaN`` / ``Infinity`` (not JSON), numbers
    out of the float range (``1e309``), duplicate keys in an object, nesting deeper than
    ``max_depth``."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data).removeprefix(b"\xef\xbb\xbf")
    elif data.startswith("\ufeff"):
        data = data[1:]

    def constant(name: str) -> Any:
        raise InputError(
            f"`{what}` has {name}, which is not a JSON number; expected finite numbers"
        )

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise InputError(
                f"`{what}` has the number {short(text, 40)}, outside the range of a double; "
                "expected finite numbers"
            )
        return value

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            seen: set[str] = set()
            dup = next(k for k, _ in items if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise InputError(f"`{what}` has the key {dup!r} twice in one object")
        return out

    try:
        value = json.loads(
            data, parse_constant=constant, parse_float=number, object_pairs_hook=pairs
        )
    except RecursionError:
        raise InputError(
            f"`{what}` is nested too deeply; expected at most {max_depth} levels"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"`{what}` is not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"`{what}` is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    depth = json_depth(value, max_depth)
    if depth > max_depth:
        raise InputError(f"`{what}` is nested too deeply; expected at most {max_depth} levels")
    return value


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of lists and dicts in ``value``, counting stops just above ``limit``.

    Only containers are walked, and lists of numbers (coordinates) end the walk at once."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
    return deepest
