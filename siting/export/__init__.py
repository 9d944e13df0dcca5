"""Exports for GIS users: RFC 7946 GeoJSON and multi-layer GeoPackages styled for QGIS.

Takes GeoDataFrames only (layers such as ``sites``, ``demand``, ``assignments``,
``service_areas``, ``admin_units``), so it serves every result type.

GeoJSON (:func:`geojson_dict`, :func:`save_geojson`; :mod:`siting.export.geojson`) follows
RFC 7946: coordinates in WGS84 (EPSG:4326) as ``[lon, lat]`` rounded to ``precision`` decimals
(6 ≈ 0.1 m), polygon rings in the right-hand rule (exteriors counter-clockwise, holes
clockwise), no ``crs`` member, JSON-safe properties (NaN → ``null``, timestamps → ISO 8601) and
``null`` geometry for empty or missing shapes. Geometries are written in 2-D; lines crossing the
antimeridian are not split.

GeoPackages (:func:`save_geopackage`; :mod:`siting.export.gpkg`) hold one table per layer, in
EPSG:4326 unless told otherwise, and optional QML styles in the standard ``layer_styles`` table
that QGIS reads, so the layers open styled. :func:`default_styles` (:mod:`siting.export.styles`)
gives those styles for the standard layers.

:func:`save_layers` (:mod:`siting.export.layers`) writes a whole set of layers in one call: the
one writer path of every result's layers (a plan, a tiered plan, a region, a what-if run);
:func:`save_summary` writes a JSON summary beside them and :func:`save_csv` its tables (UTF-8
with a byte-order mark, for Excel).
"""

from siting.export.geojson import geojson_dict, geojson_text, save_geojson
from siting.export.gpkg import save_geopackage
from siting.export.layers import CSV_ENCODING, LAYER_FORMATS, save_csv, save_layers, save_summary
from siting.export.styles import default_styles, field_aliases

__all__ = [
    "CSV_ENCODING",
    "LAYER_FORMATS",
    "default_styles",
    "field_aliases",
    "geojson_dict",
    "geojson_text",
    "save_csv",
    "save_geojson",
    "save_geopackage",
    "save_layers",
    "save_summary",
]
