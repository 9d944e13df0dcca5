"""Request and response models of the HTTP API (pydantic), with the examples shown in /docs.

Requests are strict (``true`` is not a number, ``"5"`` is not an integer) and their cross-field
rules are part of the JSON schema, so the OpenAPI document says exactly what is accepted:

* a solve/job request is one of five shapes chosen by ``model``: absent (or ``rules``) plans by
  the planning documents' rules (:class:`RulesRequest`: the rules decide how many sites, so no
  site count); ``lscp`` takes no site count; ``mclp``, ``pmedian`` and ``pcenter`` need exactly
  one of ``new_sites`` / ``p``, and only p-median / p-center accept ``threshold_minutes: null``
  (no coverage threshold);
* exactly one of ``demand`` / ``demand_dataset``; at least one of the site sources; never both
  the inline and the dataset form of one input;
* an optional field is left out rather than sent as ``null`` (except ``threshold_minutes``).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from api.geojson import Feature, FeatureCollection

__all__ = [
    "EXAMPLE_DEMAND",
    "EXAMPLE_SITES",
    "SOLVE_REQUEST",
    "BrokenRule",
    "Coverage",
    "DatasetInfo",
    "DatasetKind",
    "Feature",
    "FeatureCollection",
    "HealthInfo",
    "JobCreated",
    "JobInfo",
    "LscpRequest",
    "MclpRequest",
    "PCenterRequest",
    "PMedianRequest",
    "PlanCollection",
    "RulesRequest",
    "SolveRequest",
    "StorageHealth",
    "WhatIfCollection",
    "WhatIfRequest",
]

logger = logging.getLogger(__name__)

DatasetKind = Literal["population", "roads", "sites", "units"]
ModeName = Literal["walk", "drive"]
DatasetId = Annotated[UUID, Field(strict=False)]  # JSON text → UUID

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

_SOURCES = (
    ("demand", "demand_dataset"),
    ("sites", "sites_dataset"),
    ("existing", "existing_dataset"),
    ("units", "units_dataset"),
)
_NOT_NULL = (
    "demand",
    "demand_dataset",
    "sites",
    "sites_dataset",
    "existing",
    "existing_dataset",
    "units",
    "units_dataset",
    "roads_dataset",
    "new_sites",
    "p",
    "rules_preset",
    "time_limit",
    "station_budget",
    "unit_kind_column",
    "unit_kind",
    "villages",
    "pois",
)


def _one_of(*names: str) -> dict[str, Any]:
    return {"oneOf": [{"required": [n]} for n in names]}


def _not_both(a: str, b: str) -> dict[str, Any]:
    return {"not": {"required": [a, b]}}


#: the cross-field rules of every solve/job request, as JSON schema
_REQUEST_RULES: list[dict[str, Any]] = [
    _one_of("demand", "demand_dataset"),
    {
        "anyOf": [
            {"required": [n]} for n in ("sites", "sites_dataset", "existing", "existing_dataset")
        ]
    },
    _not_both("sites", "sites_dataset"),
    _not_both("existing", "existing_dataset"),
    _not_both("units", "units_dataset"),
]


def _tidy(schema: dict[str, Any], not_null: tuple[str, ...]) -> None:
    """Optional fields that refuse ``null``: the schema shows only their real type."""
    for name, prop in schema.get("properties", {}).items():
        if name not in not_null:
            continue
        branches = prop.pop("anyOf", None)
        if branches:
            prop.update(next(b for b in branches if b.get("type") != "null"))
        if prop.get("default", 0) is None:
            del prop["default"]


def _schema_rules(*extra: dict[str, Any]) -> Any:
    def add(schema: dict[str, Any]) -> None:
        _tidy(schema, _NOT_NULL)
        schema["allOf"] = [*_REQUEST_RULES, *extra]

    return add


class _RunRequest(BaseModel):
    """The inputs and parameters every model shares."""

    model_config = ConfigDict(extra="forbid", strict=True)

    demand: FeatureCollection | None = Field(
        None, description="Demand points or polygons with a population property."
    )
    demand_dataset: DatasetId | None = Field(None, description="An uploaded `population` dataset.")
    population_property: str = Field(
        "population", min_length=1, max_length=100, description="Population property name."
    )
    sites: FeatureCollection | None = Field(None, description="Candidate sites (points).")
    sites_dataset: DatasetId | None = Field(None, description="An uploaded `sites` dataset.")
    existing: FeatureCollection | None = Field(
        None, description="Existing facilities (always open)."
    )
    existing_dataset: DatasetId | None = Field(
        None, description="An uploaded `sites` dataset, used as existing sites."
    )
    units: FeatureCollection | None = Field(
        None, description="Admin units (polygons with unit_id, name) for the compliance report."
    )
    units_dataset: DatasetId | None = Field(None, description="An uploaded `units` dataset.")
    roads_dataset: DatasetId | None = Field(
        None,
        description="An uploaded `roads` dataset (OSM / GraphML); without it travel times are "
        "straight-line distance × detour factor.",
    )
    mode: ModeName = "walk"
    rules_preset: Literal["inner_mongolia"] | None = Field(
        None, description="Planning rules for the compliance report (default: inner_mongolia)."
    )
    time_limit: float | None = Field(
        None, gt=0, le=86_400, description="Solver time limit (s), capped by the server."
    )
    detour_factor: float = Field(1.3, ge=1, le=10)
    max_snap_distance: float = Field(500.0, gt=0, le=100_000)
    name: str = Field("plan", min_length=1, max_length=100)

    @field_validator(*_NOT_NULL, mode="before", check_fields=False)
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value

    @model_validator(mode="after")
    def _sources(self) -> _RunRequest:
        for inline, ref in _SOURCES:
            if getattr(self, inline) is not None and getattr(self, ref) is not None:
                raise ValueError(f"give `{inline}` or `{ref}`, not both")
        if self.demand is None and self.demand_dataset is None:
            raise ValueError("`demand` (GeoJSON) or `demand_dataset` (an upload id) is required")
        sources = ("sites", "sites_dataset", "existing", "existing_dataset")
        if all(getattr(self, n) is None for n in sources):
            raise ValueError("candidate `sites` or `existing` sites (inline or dataset) are needed")
        return self

    def site_count(self) -> tuple[int | None, int | None]:
        """``(new_sites, p)`` (both ``None`` for LSCP, which finds the count itself)."""
        return getattr(self, "new_sites", None), getattr(self, "p", None)

    def model_name(self) -> str:
        """The model to run (``rules``: by the planning documents' rules)."""
        return str(getattr(self, "model", None) or "rules")

    def plan_parameters(self) -> dict[str, Any]:
        """The model-specific :class:`siting.Scenario` parameters besides the inputs and the
        site count (none for a single model)."""
        return {}


class _CountedRequest(_RunRequest):
    new_sites: int | None = Field(None, ge=0, le=100_000, description="New sites to open.")
    p: int | None = Field(
        None, ge=1, le=100_000, description="Total open sites, existing included (or new_sites)."
    )

    @model_validator(mode="after")
    def _count(self) -> _CountedRequest:
        if (self.new_sites is None) == (self.p is None):
            raise ValueError(
                f"give exactly one of `new_sites` or `p` for model {self.model_name()!r}"
            )
        return self


def _threshold() -> Any:
    return Field(10.0, gt=0, le=600, description="The service circle (minutes).")


class LscpRequest(_RunRequest):
    """Cover every resident within ``threshold_minutes`` with the fewest new sites."""

    model_config = ConfigDict(json_schema_extra=_schema_rules())
    model: Literal["lscp"]
    threshold_minutes: float = _threshold()


class MclpRequest(_CountedRequest):
    """Cover the most residents within ``threshold_minutes`` with ``new_sites`` / ``p`` sites."""

    model_config = ConfigDict(
        json_schema_extra=_schema_rules(_one_of("new_sites", "p")),
    )
    model: Literal["mclp"]
    threshold_minutes: float = _threshold()


class PMedianRequest(_CountedRequest):
    """Least population-weighted mean travel time; ``threshold_minutes`` (or ``null``) only
    scores coverage."""

    model_config = ConfigDict(json_schema_extra=_schema_rules(_one_of("new_sites", "p")))
    model: Literal["pmedian"]
    threshold_minutes: float | None = _threshold()


class PCenterRequest(_CountedRequest):
    """Least worst travel time; ``threshold_minutes`` (or ``null``) only scores coverage."""

    model_config = ConfigDict(json_schema_extra=_schema_rules(_one_of("new_sites", "p")))
    model: Literal["pcenter"]
    threshold_minutes: float | None = _threshold()


UnitKind = Literal["subdistrict", "township"]
CountyStep = Literal["R7", "R9", "R10"]
_COUNT_FIELDS = ("new_sites", "p")


class RulesRequest(_RunRequest):
    """Plan by the planning documents' rules (``model`` absent or ``rules``), in order, on one
    travel-time matrix: R1 + R5 centres per sub-district (街道) in the 30,000-100,000 band, R2
    a township health centre per township (乡/镇/苏木), R3 village clinics and the touring list
    (with ``villages``), R6 the ``threshold_minutes`` circle closed with the fewest new
    stations (at most ``station_budget``), optional county steps, R11 beds and staff. The rules
    decide how many sites open: no ``new_sites`` / ``p``. A unit's kind comes from
    ``unit_kind`` (every unit), ``unit_kind_column`` (or a ``kind`` property of the units),
    else from its name's suffix."""

    model_config = ConfigDict(json_schema_extra=_schema_rules())
    model: Literal["rules"] = Field(
        "rules", description="`rules` (or absent): plan by the planning documents' rules."
    )
    threshold_minutes: float = Field(
        10.0, gt=0, le=600, description="The service circle of rule R6 (minutes)."
    )
    station_budget: int | None = Field(
        None,
        ge=0,
        le=100_000,
        description="The most new stations / village clinics the circle step (R6) may open; "
        "absent: the fewest that close the circle.",
    )
    unit_kind_column: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The units' property holding each unit's kind (subdistrict / township, or "
        "街道 / 乡 / 镇 / 苏木); default `kind` when present, else the name's suffix.",
    )
    unit_kind: UnitKind | None = Field(
        None, description="One kind for every unit (overrides the property and the names)."
    )
    villages: FeatureCollection | None = Field(
        None,
        description="Administrative villages (points or polygons with `population`, optional "
        "`village_id`, `name`) for rule R3: joint village clinics and the touring list.",
    )
    pois: FeatureCollection | None = Field(
        None, description="Activity centres / elderly homes (points) preferred by rule R4."
    )
    county_steps: list[CountyStep] = Field(
        default_factory=list,
        max_length=3,
        description="County rule steps to add: R7 sub-centres, R9 lead hospitals, R10 "
        "emergency stations.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_count(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [f for f in _COUNT_FIELDS if f in data]
            if given:
                raise ValueError(
                    f"`{given[0]}` is a site count of a single model; a request without "
                    "`model` plans by the rules, which decide how many sites open: give "
                    "`model` (mclp, pmedian, pcenter) or leave the count out"
                )
        return data

    def plan_parameters(self) -> dict[str, Any]:
        """The rule-plan parameters of :class:`siting.Scenario` (villages and pois are frames
        the caller converts)."""
        return {
            "station_budget": self.station_budget,
            "unit_kind_column": self.unit_kind_column,
            "unit_kind": self.unit_kind,
            "county_steps": tuple(self.county_steps),
        }


_MODELS = ("rules", "lscp", "mclp", "pmedian", "pcenter")


def _model_tag(value: Any) -> str:
    """The request shape: by ``model`` (absent: ``rules``); an unknown model is checked against
    a shape its other fields fit, so the error names `model` alone."""
    if isinstance(value, dict):
        model = value.get("model", "rules")
        if model in _MODELS:
            return str(model)
        return "mclp" if any(f in value for f in _COUNT_FIELDS) else "rules"
    return str(getattr(value, "model", "rules"))


SolveRequest = Annotated[
    Annotated[RulesRequest, Tag("rules")]
    | Annotated[LscpRequest, Tag("lscp")]
    | Annotated[MclpRequest, Tag("mclp")]
    | Annotated[PMedianRequest, Tag("pmedian")]
    | Annotated[PCenterRequest, Tag("pcenter")],
    Discriminator(_model_tag),
]
#: validates a solve / job request body
SOLVE_REQUEST: TypeAdapter[Any] = TypeAdapter(SolveRequest)
SOLVE_EXAMPLE = {
    "demand": EXAMPLE_DEMAND,
    "sites": EXAMPLE_SITES,
    "model": "mclp",
    "new_sites": 1,
    "threshold_minutes": 10,
    "mode": "walk",
}


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
    tier: str | None = Field(None, description="Rules plans: the facility tier of the site.")
    rule: str | None = Field(None, description="Rules plans: the rule that opened (or kept) it.")


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
    model: str | None = Field(None, description="`rules`, or the single model run.")
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


class BrokenRule(BaseModel):
    """An admin unit whose compliance the what-if edit makes worse than the job's plan."""

    unit_id: str
    name: str
    status_before: str | None = None
    status_after: str
    rules: str = Field(description="What the edit breaks: `R1/R2 centres`, `R1 band`, `R6 circle`.")
    reason: str


class WhatIfCollection(PlanCollection):
    """A what-if result: the chosen sites plus the job's coverage and the difference; for a
    rules job also the units whose compliance the edit breaks (``broken_rules``) and the
    edited plan's compliance counts."""

    base_coverage: Coverage | None = None
    coverage_difference: CoverageDifference
    broken_rules: list[BrokenRule] | None = None
    compliance: dict[str, Any] | None = None


def _what_if_schema(schema: dict[str, Any]) -> None:
    _tidy(schema, ("new_sites", "p", "threshold_minutes", "time_limit"))
    schema["allOf"] = [_not_both("new_sites", "p")]
    schema["examples"] = [{"close_sites": ["c2"], "new_sites": 2}]


class WhatIfRequest(BaseModel):
    """Changes to a finished job's scenario; travel times are reused. On a rules job the edits
    are judged by the rules (or planned around with ``replan``); ``new_sites`` / ``p`` are for
    single-model jobs."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra=lambda schema: _what_if_schema(schema),
    )

    open_sites: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=10_000,
        description="Candidate site ids forced open (kept open like existing sites).",
    )
    close_sites: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
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
    replan: bool = Field(
        False,
        description="Rules jobs: plan by the rules again around the edits (true), or judge the "
        "job's plan with the edits as they are, opening nothing new (false, the default).",
    )

    @field_validator("new_sites", "p", "threshold_minutes", "time_limit", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value

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


class StorageHealth(BaseModel):
    """Whether the storage folder takes writes."""

    writable: bool
    free_bytes: int | None = None
    problem: str | None = None


class HealthInfo(BaseModel):
    """Service health: ``ok``, or ``degraded`` when the storage folder refuses writes (full or
    read-only disk) while finished results stay readable."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "version": "0.1.0",
                    "schema_version": 2,
                    "jobs": {"done": 3},
                    "storage": {"writable": True, "free_bytes": 52_000_000_000, "problem": None},
                }
            ]
        }
    )

    status: Literal["ok", "degraded"]
    version: str
    schema_version: int | None
    jobs: dict[str, int]
    storage: StorageHealth
