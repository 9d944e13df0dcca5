"""GeoJSON input models (RFC 7946): geometries by type, features and feature collections.

Strict: numbers are numbers (``true`` is not 1), a geometry has the coordinate nesting of its
type, a feature of the API needs a geometry (``null`` is refused when the request is read, not
when a job runs), feature properties and foreign members nest at most
:data:`MAX_PROPERTY_DEPTH` levels, and a legacy ``crs`` member names a CRS by EPSG code, URN or
WKT only.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geodata.guard import json_depth, parse_crs

__all__ = [
    "MAX_PROPERTY_DEPTH",
    "CrsMember",
    "Feature",
    "FeatureCollection",
    "Geometry",
]

logger = logging.getLogger(__name__)

#: the deepest nesting of objects and arrays allowed in feature properties and foreign members
MAX_PROPERTY_DEPTH = 16

_LON, _LAT = 111.70, 40.82  # Hohhot

Position = Annotated[
    list[float],
    Field(min_length=2, max_length=3, description="[longitude, latitude] (or x, y in `crs`)"),
]
_STRICT = ConfigDict(extra="forbid", strict=True)


class Point(BaseModel):
    """A GeoJSON Point."""

    model_config = _STRICT
    type: Literal["Point"]
    coordinates: Position
    bbox: list[float] | None = None


class MultiPoint(BaseModel):
    """A GeoJSON MultiPoint."""

    model_config = _STRICT
    type: Literal["MultiPoint"]
    coordinates: Annotated[list[Position], Field(min_length=1)]
    bbox: list[float] | None = None


class LineString(BaseModel):
    """A GeoJSON LineString."""

    model_config = _STRICT
    type: Literal["LineString"]
    coordinates: Annotated[list[Position], Field(min_length=2)]
    bbox: list[float] | None = None


class MultiLineString(BaseModel):
    """A GeoJSON MultiLineString."""

    model_config = _STRICT
    type: Literal["MultiLineString"]
    coordinates: Annotated[
        list[Annotated[list[Position], Field(min_length=2)]], Field(min_length=1)
    ]
    bbox: list[float] | None = None


Ring = Annotated[list[Position], Field(min_length=4, description="closed: first == last")]


class Polygon(BaseModel):
    """A GeoJSON Polygon (exterior ring, then holes)."""

    model_config = _STRICT
    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1)]
    bbox: list[float] | None = None


class MultiPolygon(BaseModel):
    """A GeoJSON MultiPolygon."""

    model_config = _STRICT
    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[Annotated[list[Ring], Field(min_length=1)]], Field(min_length=1)]
    bbox: list[float] | None = None


SimpleGeometry = Annotated[
    Point | MultiPoint | LineString | MultiLineString | Polygon | MultiPolygon,
    Field(discriminator="type"),
]


class GeometryCollection(BaseModel):
    """A GeoJSON GeometryCollection (of simple geometries; collections do not nest)."""

    model_config = _STRICT
    type: Literal["GeometryCollection"]
    geometries: Annotated[list[SimpleGeometry], Field(min_length=1)]
    bbox: list[float] | None = None


Geometry = Annotated[
    Point | MultiPoint | LineString | MultiLineString | Polygon | MultiPolygon | GeometryCollection,
    Field(discriminator="type"),
]


def _shallow(value: Any, what: str) -> Any:
    if value is not None and json_depth(value, MAX_PROPERTY_DEPTH) > MAX_PROPERTY_DEPTH:
        raise ValueError(f"{what} nest more than {MAX_PROPERTY_DEPTH} levels deep")
    return value


class Feature(BaseModel):
    """A GeoJSON Feature with a geometry (RFC 7946 allows ``null``; a planning input needs a
    place). Foreign members are kept."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["Feature"]
    geometry: Geometry
    properties: dict[str, Any] | None = None
    id: str | int | None = None

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _shallow(value, "properties")

    @model_validator(mode="after")
    def _foreign(self) -> Feature:
        _shallow(self.model_extra, "foreign members")
        return self


class CrsMember(BaseModel):
    """A legacy (GeoJSON 2008) named CRS: ``{"type": "name", "properties": {"name": ...}}``."""

    model_config = _STRICT
    type: Literal["name"]
    properties: CrsName


class CrsName(BaseModel):
    """The name of a CRS: an EPSG code or URN (``EPSG:32649``,
    ``urn:ogc:def:crs:EPSG::32649``) or WKT; PROJ strings and grid files are refused."""

    model_config = _STRICT
    name: Annotated[str, Field(min_length=1, max_length=20_000)]


CrsMember.model_rebuild()


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection in WGS84 lon/lat (RFC 7946). A legacy ``crs`` member naming
    another CRS (EPSG code, URN or WKT) is honoured; coordinates outside lon/lat ranges without
    one are refused."""

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [_LON, _LAT]},
                            "properties": {"demand_id": "d0", "population": 1200},
                        }
                    ],
                }
            ]
        },
    )

    type: Literal["FeatureCollection"]
    features: list[Feature] = Field(min_length=1, max_length=1_000_000)
    crs: CrsMember | None = None
    bbox: list[float] | None = None

    @model_validator(mode="after")
    def _foreign(self) -> FeatureCollection:
        _shallow(self.model_extra, "foreign members")
        return self

    def crs_name(self) -> str | None:
        """The CRS the ``crs`` member names (``None``: WGS84 lon/lat)."""
        return None if self.crs is None else self.crs.properties.name

    def checked_crs(self, field: str) -> Any:
        """The pyproj CRS of this collection (``CRSError`` naming ``field.crs`` when the member
        is not an EPSG code, URN or WKT, or names grid files)."""
        from pyproj import CRS

        name = self.crs_name()
        return CRS.from_epsg(4326) if name is None else parse_crs(name, f"{field}.crs")
