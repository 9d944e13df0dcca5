"""The file guard's checks of road files (:mod:`geodata.guard`): OSM XML and GraphML read in one
streaming pass of expat without DTDs or entities, OSM PBF walked blob by blob without
decompressing anything."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geodata._guard_common import FileFormat, SizeLimitError, mismatch
from siting_errors import InputError

if TYPE_CHECKING:
    from geodata.guard import GuardLimits

__all__ = ["check_graphml", "check_osm_xml", "check_pbf"]

logger = logging.getLogger(__name__)


class _Refused(Exception):
    pass


def _scan_xml(path: Path, fmt: FileFormat, head: bytes, root: str) -> dict[str, int]:
    """One streaming pass of expat over an XML file: well-formed, no DOCTYPE (so no entity
    can expand or be fetched), root element ``root``; counts the elements by name."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    counts: dict[str, int] = {}
    first: list[str] = []

    def refuse(*_args: Any) -> None:
        raise _Refused("a DOCTYPE or entity declaration (DTDs and entities are refused)")

    def start(name: str, _attrs: Any) -> None:
        if not first:
            first.append(name)
            if name.rsplit(":", 1)[-1] != root:
                raise _Refused(f"the root element is <{name}>, expected <{root}>")
        counts[name] = counts.get(name, 0) + 1

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Refused as exc:
        raise InputError(f"{path.name!r} is not a {fmt.name} file we read: {exc}") from None
    except expat.ExpatError as exc:
        raise InputError(f"{path.name!r} is not well-formed XML: {exc}") from None
    if not first:
        raise InputError(f"{path.name!r} has no XML element")
    return counts


def check_osm_xml(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    counts = _scan_xml(path, fmt, head, "osm")
    if not counts.get("way"):
        raise InputError(f"{path.name!r} has no OSM way, so no road")
    details = {k: counts.get(k, 0) for k in ("node", "way", "relation")}
    return {"format": fmt.name, "driver": None, "gdal_path": str(path), "details": details}


def check_graphml(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    counts = _scan_xml(path, fmt, head, "graphml")
    local: dict[str, int] = {}
    for name, n in counts.items():
        key = name.rsplit(":", 1)[-1]
        local[key] = local.get(key, 0) + n
    if not local.get("edge"):
        raise InputError(f"{path.name!r} has no edge, so no road")
    details = {"nodes": local.get("node", 0), "edges": local["edge"]}
    return {"format": fmt.name, "driver": None, "gdal_path": str(path), "details": details}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of a protobuf message (varints and bytes only)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated field")
            value, pos = buf[pos : pos + length], pos + length
        else:
            raise ValueError(f"unexpected wire type {wire}")
        yield number, wire, value


def check_pbf(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    """Walk the blob headers of an OSM PBF file: an ``OSMHeader`` first, every blob inside the
    file (truncation), each at most 32 MiB and all together at most ``max_pbf_bytes`` once
    decompressed (declared ``raw_size``), without decompressing anything."""
    blobs = raw_total = pos = 0
    with path.open("rb") as f:
        while pos < size:
            prefix = f.read(4)
            if len(prefix) < 4:
                raise InputError(f"{path.name!r} is truncated at byte {pos:,}")
            (header_len,) = struct.unpack(">I", prefix)
            if header_len > 64 * 1024:
                raise mismatch(path, fmt, head, f"a blob header of {header_len:,} bytes")
            header = f.read(header_len)
            try:
                fields = {n: v for n, _w, v in _fields(header)}
                kind = fields.get(1, b"").decode("ascii")
                datasize = int(fields[3])
            except (ValueError, KeyError, UnicodeDecodeError, TypeError):
                raise mismatch(path, fmt, head, "no OSM PBF blob header") from None
            if blobs == 0 and kind != "OSMHeader":
                raise mismatch(path, fmt, head, f"the first blob is {kind!r}, not 'OSMHeader'")
            end = pos + 4 + header_len + datasize
            if datasize > 32 << 20 or end > size:
                raise InputError(
                    f"{path.name!r} is truncated or damaged: blob {blobs} ends at byte {end:,} "
                    f"of a {size:,}-byte file"
                )
            raw_size = _declared_raw_size(f.read(min(datasize, 16)))
            if raw_size is None:
                raise InputError(
                    f"{path.name!r}: blob {blobs} does not declare its uncompressed size"
                )
            if raw_size > 32 << 20:
                raise SizeLimitError(
                    f"{path.name!r}: blob {blobs} declares {raw_size:,} bytes; OSM PBF blobs "
                    "hold at most 32 MiB"
                )
            raw_total += raw_size
            if raw_total > limits.max_pbf_bytes:
                raise SizeLimitError(
                    f"{path.name!r} declares more than {limits.max_pbf_bytes:,} bytes once "
                    "decompressed"
                )
            blobs += 1
            pos = end
            f.seek(pos)
    return {
        "format": fmt.name,
        "driver": None,
        "gdal_path": str(path),
        "details": {"blobs": blobs, "raw_bytes": raw_total},
    }


def _declared_raw_size(blob_head: bytes) -> int | None:
    """The uncompressed size a PBF ``Blob`` declares in its first field: ``raw`` (1, its own
    length) or ``raw_size`` (2), which writers put before the compressed data."""
    try:
        key, pos = _varint(blob_head, 0)
        if key >> 3 in (1, 2) and key & 7 == (2 if key >> 3 == 1 else 0):
            return _varint(blob_head, pos)[0]
    except ValueError:
        return None
    return None
