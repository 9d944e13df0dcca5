"""Request and response models of the HTTP API (pydantic), with the examples shown in /docs."""

from __future__ import annotations

import logging
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Coverage",
    "DatasetInfo",
    "DatasetKind",
    "Feature",
    "FeatureCollection",
    "HealthInfo",
    "JobCreated",
    "JobInfo",
    "PlanCollection",
    "SolveRequest",
    "WhatIfCollection",
    "WhatIfRequest",
]

logger = logging.getLogger(__name__)

DatasetKind = Literal["population", "roads", "sites", "units"]
ModelName = Literal["lscp", "mclp", "pmedian", "pcenter"]
ModeName = Literal["walk", "drive"]

_LON, _LAT = 111.70, 40.82  # Hohhot

EXAMPLE_DEMAND = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [_LON + dx, _LAT]},
            "properties": {"demand_id": f"d{i}", "population": pop},
        }
        for i, (dx, pop) in enumerate([(0.0, 1200), (0.006, 800), (0.03, 2500)])
    ],
}
EXAMPLE_SITES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [_LON + dx, _LAT]},
            "properties": {"site_id": sid, "name": name},
        }
        for sid, dx, name in [("c1", 0.003, "candidate 1"), ("c2", 0.03, "candidate 2")]
    ],
}


class Feature(BaseModel):
    """A GeoJSON Feature (RFC 7946)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None = None
    id: str | int | None = None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection in WGS84 lon/lat (RFC 7946). A legacy ``crs`` member naming
    another CRS is honoured; coordinates outside lon/lat ranges are refused."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_DEMAND]})

    type: Literal["FeatureCollection"]
    features: list[Feature] = Field(min_length=1, max_length=1_000_000)
    crs: dict[str, Any] | None = None


class SolveRequest(BaseModel):
    """One planning run: inputs (inline GeoJSON or uploaded dataset ids) and parameters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "demand": EXAMPLE_DEMAND,
                    "sites": EXAMPLE_SITES,
                    "model": "mclp",
                    "new_sites": 1,
                    "threshold_minutes": 10,
                    "mode": "walk",
                }
            ]
        },
    )

    demand: FeatureCollection | None = Field(
        None, description="Demand points or polygons with a population property."
    )
    demand_dataset: UUID | None = Field(None, description="An uploaded `population` dataset.")
    population_property: str = Field(
        "population", min_length=1, max_length=100, description="Population property name."
    )
    sites: FeatureCollection | None = Field(None, description="Candidate sites (points).")
    sites_dataset: UUID | None = Field(None, description="An uploaded `sites` dataset.")
    existing: FeatureCollection | None = Field(
        None, description="Existing facilities (always open)."
    )
    existing_dataset: UUID | None = Field(
        None, description="An uploaded `sites` dataset, used as existing sites."
    )
    units: FeatureCollection | None = Field(
        None, description="Admin units (polygons with unit_id, name) for the compliance report."
    )
    units_dataset: UUID | None = Field(None, description="An uploaded `units` dataset.")
    roads_dataset: UUID | None = Field(
        None,
        description="An uploaded `roads` dataset (OSM / GraphML); without it travel times are "
        "straight-line distance × detour factor.",
    )
    model: ModelName = "mclp"
    threshold_minutes: float | None = Field(10.0, gt=0, le=600)
    mode: ModeName = "walk"
    new_sites: int | None = Field(None, ge=0, le=100_000, description="New sites to open.")
    p: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Total open sites, existing included (alternative to new_sites).",
    )
    rules_preset: Literal["inner_mongolia"] | None = Field(
        None, description="Planning rules for the compliance report (default: inner_mongolia)."
    )
    time_limit: float | None = Field(
        None, gt=0, le=86_400, description="Solver time limit (s), capped by the server."
    )
    detour_factor: float = Field(1.3, ge=1, le=10)
    max_snap_distance: float = Field(500.0, gt=0, le=100_000)
    name: str = Field("plan", min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_source(self) -> SolveRequest:
        for inline, ref in (
            ("demand", "demand_dataset"),
            ("sites", "sites_dataset"),
            ("existing", "existing_dataset"),
            ("units", "units_dataset"),
        ):
            if getattr(self, inline) is not None and getattr(self, ref) is not None:
                raise ValueError(f"give `{inline}` or `{ref}`, not both")
        if self.demand is None and self.demand_dataset is None:
            raise ValueError("`demand` (GeoJSON) or `demand_dataset` (an upload id) is required")
        if (
            self.sites is None
            and self.sites_dataset is None
            and self.existing is None
            and self.existing_dataset is None
        ):
            raise ValueError("candidate `sites` or `existing` sites (inline or dataset) are needed")
        if self.new_sites is not None and self.p is not None:
            raise ValueError("give `new_sites` or `p`, not both")
        return self


class Coverage(BaseModel):
    """The coverage score: the share of residents within the threshold."""

    covered_weight: float
    total_weight: float
    share: float
    threshold: float


class SiteProperties(BaseModel):
    """Properties of a chosen site."""

    model_config = ConfigDict(extra="allow")

    site_id: str
    name: str | None = None
    status: Literal["existing", "new"]
    assigned_population: float | None = None
    covered_population: float | None = None
    mean_travel_min: float | None = None
    max_travel_min: float | None = None


class SiteFeature(BaseModel):
    """A chosen site."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    id: str | int | None = None
    geometry: dict[str, Any] | None
    properties: SiteProperties


class PlanCollection(BaseModel):
    """The chosen sites as a GeoJSON FeatureCollection; the coverage score and the solve status
    and gap are top-level members."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "FeatureCollection",
                    "status": "optimal",
                    "gap": 0.0,
                    "objective": 3700.0,
                    "coverage": {
                        "covered_weight": 3700.0,
                        "total_weight": 4500.0,
                        "share": 0.8222,
                        "threshold": 10.0,
                    },
                    "features": [
                        {
                            "type": "Feature",
                            "id": "c1",
                            "geometry": {"type": "Point", "coordinates": [_LON + 0.003, _LAT]},
                            "properties": {
                                "site_id": "c1",
                                "name": "candidate 1",
                                "status": "new",
                                "assigned_population": 2000.0,
                                "covered_population": 2000.0,
                                "mean_travel_min": 3.1,
                                "max_travel_min": 3.4,
                            },
                        }
                    ],
                }
            ]
        },
    )

    type: Literal["FeatureCollection"]
    status: Literal["optimal", "feasible", "infeasible", "no_solution"]
    gap: float | None = None
    objective: float | None = None
    bound: float | None = None
    coverage: Coverage | None = None
    mean_travel_minutes: float | None = None
    unreachable_population: float | None = None
    notes: list[str] = Field(default_factory=list)
    features: list[SiteFeature]


class CoverageDifference(BaseModel):
    """What-if coverage minus the job's coverage."""

    share: float | None
    covered_weight: float | None


class WhatIfCollection(PlanCollection):
    """A what-if result: the chosen sites plus the job's coverage and the difference."""

    base_coverage: Coverage | None = None
    coverage_difference: CoverageDifference


class WhatIfRequest(BaseModel):
    """Changes to a finished job's scenario; travel times are reused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"close_sites": ["c2"], "new_sites": 2}]},
    )

    open_sites: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="Candidate site ids forced open (kept open like existing sites).",
    )
    close_sites: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="Site ids removed from the scenario (existing or candidate).",
    )
    new_sites: int | None = Field(None, ge=0, le=100_000)
    p: int | None = Field(None, ge=1, le=100_000)
    threshold_minutes: float | None = Field(
        None, gt=0, le=600, description="Within the job's travel-time search cutoff."
    )
    time_limit: float | None = Field(None, gt=0, le=86_400)

    @model_validator(mode="after")
    def _check(self) -> WhatIfRequest:
        if self.new_sites is not None and self.p is not None:
            raise ValueError("give `new_sites` or `p`, not both")
        both = sorted(set(self.open_sites) & set(self.close_sites))
        if both:
            raise ValueError(f"sites {both[:5]} are both in `open_sites` and `close_sites`")
        return self


class DatasetInfo(BaseModel):
    """An uploaded dataset."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6f8f0e-7f5a-4f3e-9a43-4f1b7c1d2e3f",
                    "name": "hohhot population",
                    "kind": "population",
                    "filename": "pop.tif",
                    "size": 123456,
                    "created": "2026-11-22T21:00:00+00:00",
                    "meta": {"features": 527, "crs": "EPSG:32649"},
                }
            ]
        }
    )

    id: UUID
    name: str
    kind: DatasetKind
    filename: str
    size: int
    created: str
    meta: dict[str, Any] = Field(default_factory=dict)


class JobCreated(BaseModel):
    """A job was queued."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5a0d7a34-2c0f-4d9b-8a57-0d1f8f8f0b11",
                    "status": "queued",
                    "links": {"self": "/v1/jobs/5a0d7a34-2c0f-4d9b-8a57-0d1f8f8f0b11"},
                }
            ]
        }
    )

    id: UUID
    status: str
    links: dict[str, str]


class JobInfo(BaseModel):
    """A job's state."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5a0d7a34-2c0f-4d9b-8a57-0d1f8f8f0b11",
                    "status": "done",
                    "progress": 1.0,
                    "message": "finished",
                    "created": "2026-11-22T21:00:00+00:00",
                    "started": "2026-11-22T21:00:01+00:00",
                    "finished": "2026-11-22T21:00:09+00:00",
                    "error": None,
                    "summary": {"status": "optimal", "coverage": {"share": 0.82}},
                    "links": {"result": "/v1/jobs/5a0d7a34-2c0f-4d9b-8a57-0d1f8f8f0b11/result"},
                }
            ]
        }
    )

    id: UUID
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    message: str
    created: str
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    links: dict[str, str] = Field(default_factory=dict)


class HealthInfo(BaseModel):
    """Service health."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ok", "version": "0.1.0", "schema_version": 1, "jobs": {}}]
        }
    )

    status: Literal["ok"]
    version: str
    schema_version: int
    jobs: dict[str, int]
