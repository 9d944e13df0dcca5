"""The guard on user files: which files GDAL/OGR may open, as which format, how large, and with
no network access and no reads beside the file.

A service that reads strangers' files must not let GDAL pick the driver by content: a GDAL VRT
saved as ``.tif`` or an OGR VRT saved as ``.geojson`` reads ``/etc/passwd``, a VRT pointing at
``/vsicurl/http://...`` makes the reader send HTTP requests, and a 13 KB GeoTIFF may declare
20,000 × 20,000 cells. This module is the one place that decides what may be opened:

* :func:`check_dataset` (``path``, ``kind``) checks one file before any reader touches it: a
  plain local regular file (no ``/vsi*`` path, URL, driver prefix or symlink), a suffix on the
  allow-list of the dataset kind (:data:`FORMATS`), content that is that format (magic bytes,
  or a strict parse for text formats: a VRT under any name is refused), and sizes within
  :class:`GuardLimits` read from the header before any data is read (raster cells, bands,
  decompressed bytes and block sizes; features; zip members and ratios; OSM PBF blobs). It
  returns a :class:`DatasetCheck` whose ``gdal_path`` / ``driver`` open the file with that one
  driver only.
* :func:`gdal_sandbox` is the GDAL configuration to read user files under (both the GDAL of
  rasterio and the GDAL of pyogrio): no directory listing or sibling files, no ``.aux.xml``, no
  ``/vsicurl`` (and so no ``/vsis3``, ``/vsigs``, ...) access, no VRT raw bands or Python
  pixel functions, no PROJ network.
* :func:`parse_crs` takes a CRS from a user (EPSG codes, OGC URNs or WKT; never PROJ strings,
  init files or grid files) and :func:`check_crs` refuses CRSs of files that name grid files.
* :func:`parse_json` reads untrusted JSON: no NaN/Infinity, no number out of range, no duplicate
  keys, bounded nesting.
* :func:`read_raster_band` reads a checked GeoTIFF band window by window.

Readers plug in with two lines (see each function)::

    info = check_dataset(path, "vector")              # raises before anything is opened
    with gdal_sandbox():
        frame = geopandas.read_file(info.gdal_path)    # the one allowed driver
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from geodata._guard_common import (
    FGB_MAGIC,
    GPKG_APPLICATION_IDS,
    SHAPEFILE_PARTS,
    SHP_FILE_CODE,
    SQLITE_MAGIC,
    TIFF_MAGIC,
    FileFormat,
    SizeLimitError,
    check_crs,
    mismatch,
    parse_crs,
    parse_json,
    short,
)
from geodata._guard_common import json_depth as json_depth
from geodata._guard_roads import check_graphml, check_osm_xml, check_pbf
from siting_errors import CRSError, DataNotFoundError, InputError, UnsupportedFormatError

__all__ = [
    "FORMATS",
    "GEOJSON_TYPES",
    "KINDS",
    "DatasetCheck",
    "GuardLimits",
    "SizeLimitError",
    "check_crs",
    "check_dataset",
    "gdal_sandbox",
    "json_depth",
    "parse_crs",
    "parse_json",
    "read_raster_band",
    "sandbox_options",
    "sniff_format",
]

logger = logging.getLogger(__name__)

#: dataset kinds and the formats each may be read as
KINDS: tuple[str, ...] = ("raster", "vector", "roads")


@dataclass(frozen=True)
class GuardLimits:
    """Upper bounds checked from headers before reading data.

    Attributes:
        max_raster_cells: width × height of a raster.
        max_raster_bands: bands of a raster.
        max_raster_bytes: decompressed size of all bands (cells × bands × bytes per value).
        max_block_bytes: decompressed size of one TIFF tile or strip.
        max_vector_features: features of a vector file (all layers).
        max_json_bytes: size of a GeoJSON file (it is parsed whole).
        max_json_depth: nesting of JSON arrays and objects.
        max_zip_members / max_zip_bytes / max_zip_ratio: members of a zipped shapefile, their
            total uncompressed size and the largest compression ratio of a member.
        max_pbf_bytes: declared uncompressed size of all blobs of an OSM PBF file.
    """

    max_raster_cells: int = 100_000_000
    max_raster_bands: int = 16
    max_raster_bytes: int = 1 << 30
    max_block_bytes: int = 64 << 20
    max_vector_features: int = 5_000_000
    max_json_bytes: int = 64 << 20
    max_json_depth: int = 64
    max_zip_members: int = 16
    max_zip_bytes: int = 2 << 30
    max_zip_ratio: float = 1000.0
    max_pbf_bytes: int = 16 << 30


@dataclass(frozen=True)
class DatasetCheck:
    """What :func:`check_dataset` found.

    Attributes:
        path: the checked file.
        kind: the dataset kind it was checked for.
        format: ``GTiff``, ``GeoJSON``, ``GPKG``, ``ESRI Shapefile`` (zipped), ``CSV``,
            ``FlatGeobuf``, ``OSM XML``, ``OSM PBF`` or ``GraphML``.
        driver: the one GDAL driver allowed to open it (``None`` for formats GDAL never opens:
            OSM and GraphML are parsed by pyosmium / osmnx).
        gdal_path: the name to give GDAL; it selects ``driver`` where GDAL has a prefix for it
            (``GeoJSON:``, ``GPKG:``, ``CSV:``, ``/vsizip/``).
        size: bytes on disk.
        crs: the CRS the file declares, already checked (``None`` if it declares none).
        details: header figures (cells, bands, features, layers, blobs, elements, ...).
    """

    path: Path
    kind: str
    format: str
    driver: str | None
    gdal_path: str
    size: int
    crs: CRS | None = None
    details: dict[str, Any] = field(default_factory=dict)


#: the allow-list: formats, their suffixes and the dataset kinds that may use them
FORMATS: tuple[FileFormat, ...] = (
    FileFormat("GTiff", "GTiff", (".tif", ".tiff"), ("raster",)),
    FileFormat("GeoJSON", "GeoJSON", (".geojson", ".json"), ("vector", "roads")),
    FileFormat("GPKG", "GPKG", (".gpkg",), ("vector", "roads")),
    FileFormat("ESRI Shapefile", "ESRI Shapefile", (".zip", ".shp.zip"), ("vector", "roads")),
    FileFormat("CSV", "CSV", (".csv",), ("vector",)),
    FileFormat("FlatGeobuf", "FlatGeobuf", (".fgb",), ("vector", "roads")),
    FileFormat("OSM XML", None, (".osm", ".xml"), ("roads",)),
    FileFormat("OSM PBF", None, (".osm.pbf", ".pbf"), ("roads",)),
    FileFormat("GraphML", None, (".graphml",), ("roads",)),
)

#: the ``type`` of a GeoJSON document
GEOJSON_TYPES = frozenset(
    {
        "FeatureCollection",
        "Feature",
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)
# ``scheme:`` / ``DRIVER:`` prefixes (http:, ftp:, GPKG:, CSV:, vrt:, ...) and GDAL virtual paths
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.+ -]*:")
# an extension no URL uses, new in each process: /vsicurl/ then opens nothing
_NO_CURL_EXTENSION = f".siting-no-network-{secrets.token_hex(8)}"


# --------------------------------------------------------------------------- GDAL configuration
def sandbox_options() -> dict[str, str]:
    """The GDAL configuration options :func:`gdal_sandbox` sets.

    * ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR``: GDAL neither lists the folder nor probes for
      sibling files (world files, ``.ovr``, ``.msk``, ``.prj``, ...).
    * ``GDAL_PAM_ENABLED=NO``: no ``.aux.xml`` read or written.
    * ``CPL_VSIL_CURL_ALLOWED_EXTENSIONS`` set to an extension no URL has (random per process):
      ``/vsicurl/`` and the file systems built on it (``/vsis3/``, ``/vsigs/``, ``/vsiaz/``,
      ...) refuse every file, so a VRT or GDALG source pointing at a URL sends no request
      (checked against a local listener in the tests). ``GDAL_HTTP_MAX_RETRY=0`` and 1 s
      timeouts bound any other HTTP use.
    * ``GDAL_VRT_ENABLE_PYTHON=NO``, ``GDAL_VRT_ENABLE_RAWRASTERBAND=NO``: no Python pixel
      functions, no raw file access from a VRT.
    * ``GDAL_CACHEMAX=64`` (MB): a bounded block cache.
    """
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_PAM_ENABLED": "NO",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": _NO_CURL_EXTENSION,
        "GDAL_HTTP_MAX_RETRY": "0",
        "GDAL_HTTP_TIMEOUT": "1",
        "GDAL_HTTP_CONNECTTIMEOUT": "1",
        "GDAL_VRT_ENABLE_PYTHON": "NO",
        "GDAL_VRT_ENABLE_RAWRASTERBAND": "NO",
        "GDAL_CACHEMAX": "64",
    }


@contextlib.contextmanager
def gdal_sandbox() -> Iterator[None]:
    """Read user files inside this block: :func:`sandbox_options` for rasterio's GDAL (its
    ``Env``, thread-local) and for pyogrio's GDAL (process-wide, restored on exit; run one
    reader per process, as the service's worker processes do), and PROJ networking off.
    A zipped shapefile read through ``/vsizip/`` still finds its ``.dbf`` and ``.shx``."""
    import pyogrio
    import rasterio
    from pyproj import network

    options = sandbox_options()
    before = {name: pyogrio.get_gdal_config_option(name) for name in options}
    online = network.is_network_enabled()  # type: ignore[attr-defined]
    pyogrio.set_gdal_config_options(options)
    network.set_network_enabled(False)  # type: ignore[attr-defined]
    try:
        with rasterio.Env(**{k: int(v) if v.isdigit() else v for k, v in options.items()}):
            yield
    finally:
        pyogrio.set_gdal_config_options(before)
        network.set_network_enabled(online)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- checks
def _plain_file(path: str | Path) -> tuple[Path, os.stat_result]:
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise UnsupportedFormatError(f"{path!r} is not a file path")
    if text.startswith("/vsi") or _PREFIX.match(text) or "<" in text or "\x00" in text:
        raise UnsupportedFormatError(
            f"{short(text)!r} is not a plain local file: GDAL virtual paths (/vsi...), URLs, "
            "driver prefixes and inline XML are refused"
        )
    p = Path(text)
    try:
        info = p.lstat()
    except FileNotFoundError:
        raise DataNotFoundError(f"file {text!r} does not exist") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsupportedFormatError(f"{text!r} is a symbolic link; expected a regular file")
    if not stat.S_ISREG(info.st_mode):
        raise UnsupportedFormatError(f"{text!r} is not a regular file")
    return p, info


def _format_for(path: Path, kind: str) -> FileFormat:
    if kind not in KINDS:
        raise InputError(f"`kind` must be one of {', '.join(KINDS)}, got {kind!r}")
    name = path.name.lower()
    allowed = [f for f in FORMATS if kind in f.kinds]
    matches = [(s, f) for f in allowed for s in f.suffixes if name.endswith(s)]
    if not matches:
        suffixes = ", ".join(s for f in allowed for s in f.suffixes)
        raise UnsupportedFormatError(
            f"{path.name!r} has an unsupported format for a {kind} dataset; expected one of "
            f"{suffixes}"
        )
    return max(matches, key=lambda m: len(m[0]))[1]


def _head(path: Path, n: int = 4096) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def _text_start(head: bytes) -> bytes:
    return head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")


def _is_xml(head: bytes) -> bool:
    text = _text_start(head)
    return text.startswith(b"<") and b"<VRTDataset" not in text and b"<OGRVRTDataSource" not in text


def _is_csv(head: bytes) -> bool:
    chunk = head.removeprefix(b"\xef\xbb\xbf")
    return b"\x00" not in chunk and chunk.lstrip()[:1] not in (b"<", b"{", b"[")


#: what the first bytes of each format look like (the rest is checked by its checker)
_SIGNATURES = {
    "GTiff": lambda head: head.startswith(TIFF_MAGIC),
    "GeoJSON": lambda head: _text_start(head).startswith(b"{"),
    "GPKG": lambda head: head.startswith(SQLITE_MAGIC) and head[68:72] in GPKG_APPLICATION_IDS,
    "ESRI Shapefile": lambda head: head.startswith(b"PK\x03\x04"),
    "CSV": _is_csv,
    "FlatGeobuf": lambda head: head.startswith(FGB_MAGIC),
    "OSM XML": _is_xml,
    "OSM PBF": lambda head: len(head) > 16 and b"OSMHeader" in head[:32],
    "GraphML": _is_xml,
}


def sniff_format(path: str | Path, kind: str) -> str:
    """The format of a user file from its name and first bytes, without parsing it: the cheap
    first step of :func:`check_dataset` (same errors), e.g. to refuse a VRT before anything
    else reads the file."""
    p, st = _plain_file(path)
    fmt = _format_for(p, kind)
    if st.st_size == 0:
        raise InputError(f"{p.name!r} is empty")
    head = _head(p)
    if not _SIGNATURES[fmt.name](head):
        raise mismatch(p, fmt, head)
    return fmt.name


def check_dataset(path: str | Path, kind: str, limits: GuardLimits | None = None) -> DatasetCheck:
    """Check a user file before any reader opens it; raise if it may not be read.

    ``kind`` is ``raster`` (GeoTIFF), ``vector`` (GeoJSON, GeoPackage, zipped shapefile, CSV,
    FlatGeobuf) or ``roads`` (OSM XML / PBF, GraphML, and line layers in the vector formats
    but CSV). Raises :class:`DataNotFoundError` (no such file), :class:`UnsupportedFormatError`
    (not a plain local file; suffix not allowed for ``kind``; content not the format its
    suffix names, e.g. a VRT saved as ``.tif``), :class:`SizeLimitError` (declared sizes above
    ``limits``) or :class:`InputError` / :class:`CRSError` (truncated or malformed content, a
    CRS naming grid files). Reading the header is all it does, under :func:`gdal_sandbox`.

    Plugging it into a reader::

        info = check_dataset(path, "raster", limits)
        with gdal_sandbox(), rasterio.open(info.gdal_path, driver=info.driver) as src:
            band = read_raster_band(src, 1, limits)
    """
    limits = limits or GuardLimits()
    sniff_format(path, kind)
    p, st = _plain_file(path)
    fmt = _format_for(p, kind)
    head = _head(p)
    checker = _CHECKS[fmt.name]
    check = checker(p, fmt, head, st.st_size, limits)
    return DatasetCheck(path=p, kind=kind, size=st.st_size, **check)


def _check_tiff(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    import rasterio
    from rasterio.errors import RasterioIOError

    with gdal_sandbox():
        try:
            src = rasterio.open(str(path), driver="GTiff")
        except RasterioIOError as exc:
            raise InputError(f"{path.name!r} is not a readable GeoTIFF: {exc}") from None
        with src:
            width, height, bands = src.width, src.height, src.count
            cells = width * height
            itemsize = sum(np.dtype(d).itemsize for d in src.dtypes)
            details: dict[str, Any] = {
                "width": width,
                "height": height,
                "bands": bands,
                "cells": cells,
                "dtype": src.dtypes[0] if bands else None,
                "decompressed_bytes": cells * itemsize,
            }
            if cells > limits.max_raster_cells:
                raise SizeLimitError(
                    f"{path.name!r} declares {width:,} × {height:,} = {cells:,} cells; the "
                    f"limit is {limits.max_raster_cells:,} cells"
                )
            if not 1 <= bands <= limits.max_raster_bands:
                raise SizeLimitError(
                    f"{path.name!r} has {bands} bands; expected 1 to {limits.max_raster_bands}"
                )
            if cells * itemsize > limits.max_raster_bytes:
                raise SizeLimitError(
                    f"{path.name!r} holds {cells * itemsize:,} bytes once decompressed; the "
                    f"limit is {limits.max_raster_bytes:,} bytes"
                )
            for bidx, (bh, bw) in enumerate(src.block_shapes, start=1):
                block = bh * bw * np.dtype(src.dtypes[bidx - 1]).itemsize
                if block > limits.max_block_bytes:
                    raise SizeLimitError(
                        f"{path.name!r} has {bw:,} × {bh:,} blocks ({block:,} bytes each once "
                        f"decompressed); the limit is {limits.max_block_bytes:,} bytes"
                    )
            _check_tiff_blocks(src, path, size)
            crs = check_crs(src.crs, f"{path.name!r}") if src.crs is not None else None
    return {
        "format": fmt.name,
        "driver": "GTiff",
        "gdal_path": str(path),
        "crs": crs,
        "details": details,
    }


def _check_tiff_blocks(src: Any, path: Path, size: int) -> None:
    """Every tile or strip lies inside the file (a truncated GeoTIFF is refused here, not when
    a reader reaches the missing part)."""
    for bidx in range(1, src.count + 1):
        bh, bw = src.block_shapes[bidx - 1]
        nx, ny = -(-src.width // bw), -(-src.height // bh)
        for y in range(ny):
            for x in range(nx):
                offset = src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=bidx)
                length = src.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=bidx)
                if offset is None or length is None:
                    continue  # sparse file: a missing block reads as nodata
                if int(offset) + int(length) > size:
                    raise InputError(
                        f"{path.name!r} is truncated: band {bidx} block ({x}, {y}) ends at byte "
                        f"{int(offset) + int(length):,} of a {size:,}-byte file"
                    )
        if src.interleaving is not None and src.interleaving.name == "PIXEL":
            return  # pixel-interleaved: the blocks of band 1 hold every band


def read_raster_band(src: Any, band: int, limits: GuardLimits | None = None) -> np.ma.MaskedArray:
    """One band of a raster checked by :func:`check_dataset` (open with ``gdal_path`` and
    ``driver`` under :func:`gdal_sandbox`), read in windows of whole blocks: the array is
    allocated once (bounded by the checked caps) and a corrupt block fails with its window."""
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    limits = limits or GuardLimits()
    if src.width * src.height > limits.max_raster_cells:
        raise SizeLimitError(
            f"the raster has {src.width * src.height:,} cells; the limit is "
            f"{limits.max_raster_cells:,} cells"
        )
    dtype = np.dtype(src.dtypes[band - 1])
    data = np.empty((src.height, src.width), dtype=dtype)
    mask = np.zeros((src.height, src.width), dtype=bool)
    bh = src.block_shapes[band - 1][0]
    rows = max(bh, (8 << 20) // max(1, src.width * dtype.itemsize) // bh * bh)
    for top in range(0, src.height, rows):
        h = min(rows, src.height - top)
        window = Window(0, top, src.width, h)
        try:
            part = src.read(band, window=window, masked=True)
        except RasterioIOError as exc:
            raise InputError(
                f"the raster cannot be decoded at rows {top}..{top + h - 1}: {exc}"
            ) from None
        data[top : top + h] = part.data
        mask[top : top + h] = np.ma.getmaskarray(part)
    return np.ma.MaskedArray(data, mask=mask)


def _check_geojson(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    if size > limits.max_json_bytes:
        raise SizeLimitError(
            f"{path.name!r} is {size:,} bytes; GeoJSON files are read whole and the limit is "
            f"{limits.max_json_bytes:,} bytes (use GeoPackage or FlatGeobuf for larger data)"
        )
    doc = parse_json(path.read_bytes(), path.name, max_depth=limits.max_json_depth)
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind not in GEOJSON_TYPES:
        raise mismatch(path, fmt, head, f"its top-level type is {short(str(kind), 40)!r}")
    features = doc.get("features")
    count = len(features) if isinstance(features, list) else 1
    if count > limits.max_vector_features:
        raise SizeLimitError(
            f"{path.name!r} has {count:,} features; the limit is {limits.max_vector_features:,}"
        )
    crs = _geojson_crs(doc.get("crs"), path)
    return {
        "format": fmt.name,
        "driver": "GeoJSON",
        "gdal_path": f"GeoJSON:{path}",
        "crs": crs,
        "details": {"features": count, "type": kind},
    }


def _geojson_crs(member: Any, path: Path) -> CRS:
    if member is None:
        return CRS.from_epsg(4326)
    props = member.get("properties") if isinstance(member, dict) else None
    name = props.get("name") if isinstance(props, dict) else None
    if not isinstance(member, dict) or member.get("type") != "name" or name is None:
        raise CRSError(
            f"{path.name!r}: the `crs` member must be "
            '{"type": "name", "properties": {"name": "EPSG:<code>"}}, got '
            f"{short(json.dumps(member), 80)}"
        )
    return parse_crs(name, f"{path.name}: crs")


def _check_gpkg(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    return _ogr_details(path, fmt, f"GPKG:{path}", limits)


def _check_fgb(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    return _ogr_details(path, fmt, str(path), limits)


def _check_csv(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    chunk = head.removeprefix(b"\xef\xbb\xbf")
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(chunk) - 4:  # not just a character cut at the end of the chunk
            raise InputError(f"{path.name!r} is not UTF-8 text ({exc.reason})") from None
    first = chunk.split(b"\n", 1)[0]
    if not any(sep in first for sep in (b",", b";", b"\t")):
        raise mismatch(path, fmt, head, "its first line has no comma, semicolon or tab")
    return {
        "format": fmt.name,
        "driver": "CSV",
        "gdal_path": f"CSV:{path}",
        "crs": None,
        "details": {},
    }


def _check_zip(
    path: Path, fmt: FileFormat, head: bytes, size: int, limits: GuardLimits
) -> dict[str, Any]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path.name!r} is not a readable zip archive ({exc})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members or len(members) > limits.max_zip_members:
            raise InputError(
                f"{path.name!r} has {len(members)} files; a zipped shapefile has 1 to "
                f"{limits.max_zip_members} (.shp, .shx, .dbf, .prj, .cpg)"
            )
        total = 0
        for m in members:
            name = m.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or len(parts) > 2 or ":" in name:
                raise InputError(f"{path.name!r} has a member with an unsafe name {name!r}")
            if stat.S_ISLNK(m.external_attr >> 16):
                raise InputError(f"{path.name!r}: member {name!r} is a symbolic link")
            if not name.lower().endswith(SHAPEFILE_PARTS):
                raise UnsupportedFormatError(
                    f"{path.name!r}: member {name!r} is not part of a shapefile; expected "
                    f"{', '.join(SHAPEFILE_PARTS)}"
                )
            total += m.file_size
            if m.file_size > (1 << 20) and m.file_size > limits.max_zip_ratio * max(
                1, m.compress_size
            ):
                ratio = m.file_size / max(1, m.compress_size)
                raise SizeLimitError(
                    f"{path.name!r}: member {name!r} expands {ratio:,.0f} times; the limit is "
                    f"{limits.max_zip_ratio:g}"
                )
        if total > limits.max_zip_bytes:
            raise SizeLimitError(
                f"{path.name!r} expands to {total:,} bytes; the limit is {limits.max_zip_bytes:,}"
            )
        shp = [m.filename for m in members if m.filename.lower().endswith(".shp")]
        if len(shp) != 1:
            raise InputError(f"{path.name!r} must hold exactly one .shp file, it holds {len(shp)}")
        stem = shp[0][:-4].lower()
        names = {m.filename.lower() for m in members}
        for part in (".shx", ".dbf"):
            if stem + part not in names:
                raise InputError(f"{path.name!r} has {shp[0]!r} but no {shp[0][:-4] + part!r}")
        with archive.open(shp[0]) as f:
            if f.read(4) != SHP_FILE_CODE:
                raise InputError(f"{path.name!r}: {shp[0]!r} is not a shapefile")
        crs = None
        prj = [m for m in members if m.filename.lower() == stem + ".prj"]
        if prj:
            if prj[0].file_size > 65536:
                raise InputError(f"{path.name!r}: the .prj file is {prj[0].file_size:,} bytes")
            text = archive.read(prj[0]).decode("utf-8", errors="replace")
            crs = parse_crs(text, f"{path.name}: {prj[0].filename}") if text.strip() else None
    inner = f"/vsizip/{path}/{shp[0]}"
    out = _ogr_details(path, fmt, inner, limits)
    out["crs"] = crs
    return out


def _ogr_details(
    path: Path, fmt: FileFormat, gdal_path: str, limits: GuardLimits
) -> dict[str, Any]:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    with gdal_sandbox():
        try:
            layers = pyogrio.list_layers(gdal_path)
            infos = [pyogrio.read_info(gdal_path, layer=str(name)) for name, _ in layers]
        except (DataSourceError, DataLayerError) as exc:
            raise InputError(f"{path.name!r} is not a readable {fmt.name} file: {exc}") from None
    drivers = {i["driver"] for i in infos}
    if drivers - {fmt.driver}:
        raise mismatch(path, fmt, b"", f"GDAL read it as {sorted(drivers)}")
    counts = [int(i["features"]) for i in infos]
    if any(c < 0 for c in counts):
        raise InputError(f"{path.name!r}: the number of features cannot be read from its header")
    total = sum(counts)
    if total > limits.max_vector_features:
        raise SizeLimitError(
            f"{path.name!r} has {total:,} features; the limit is {limits.max_vector_features:,}"
        )
    crs = None
    declared = infos[0]["crs"] if infos else None
    if declared:
        crs = check_crs(declared, f"{path.name!r}")
    return {
        "format": fmt.name,
        "driver": fmt.driver,
        "gdal_path": gdal_path,
        "crs": crs,
        "details": {"layers": [str(n) for n, _ in layers], "features": total},
    }


_CHECKS = {
    "GTiff": _check_tiff,
    "GeoJSON": _check_geojson,
    "GPKG": _check_gpkg,
    "ESRI Shapefile": _check_zip,
    "CSV": _check_csv,
    "FlatGeobuf": _check_fgb,
    "OSM XML": check_osm_xml,
    "OSM PBF": check_pbf,
    "GraphML": check_graphml,
}
