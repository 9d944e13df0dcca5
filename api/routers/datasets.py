"""/v1/datasets: upload (multipart), list, get and delete input files of the caller's tenant.

Files are stored under a generated UUID (``datasets/<uuid>/data<suffix>``); the uploaded name
is kept as metadata only, never used as a path. Every upload is checked by the file guard and
read with the domain loader in a worker process before it is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePath
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from api import tasks
from api.dependencies import Pool, Reader, SettingsDep, Store, Writer, task_context
from api.problems import ApiProblem
from api.routers.common import in_worker, problems
from api.schemas import DatasetInfo, DatasetKind
from api.uploads import dataset_suffix

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
_CHECK_TIMEOUT_S = 900.0


def _not_found(dataset_id: UUID) -> ApiProblem:
    return ApiProblem(
        404,
        "Dataset not found",
        f"no dataset with id {dataset_id}",
        field="dataset_id",
        value=str(dataset_id),
        expected="the id of an uploaded dataset (GET /v1/datasets lists them)",
    )


def _info(record: dict[str, Any]) -> DatasetInfo:
    return DatasetInfo(**{k: v for k, v in record.items() if k not in ("stored", "owner")})


@router.post(
    "",
    status_code=201,
    response_model=DatasetInfo,
    responses={
        **problems(401, 403, 413, 415, 422, 504, 507),
        201: {
            "description": "The dataset was stored",
            "links": {
                "GetDataset": {
                    "operationId": "get_dataset",
                    "parameters": {"dataset_id": "$response.body#/id"},
                },
                "DeleteDataset": {
                    "operationId": "delete_dataset",
                    "parameters": {"dataset_id": "$response.body#/id"},
                },
            },
        },
    },
    summary="Upload a dataset",
    operation_id="upload_dataset",
)
async def upload_dataset(
    request: Request,
    principal: Writer,
    settings: SettingsDep,
    storage: Store,
    pool: Pool,
    file: Annotated[UploadFile, File(description="The data file.")],
    kind: Annotated[
        DatasetKind,
        Form(
            description="population: GeoTIFF raster, or GeoJSON / GeoPackage / FlatGeobuf / "
            "zipped shapefile with a `population` property; roads: .osm, .osm.pbf or .graphml; "
            "sites: points; units: admin-unit polygons."
        ),
    ],
    name: Annotated[str | None, Form(max_length=200, description="A label.")] = None,
    crs: Annotated[
        str | None,
        Form(
            max_length=20_000,
            description="CRS of a GeoJSON file without one: an EPSG code (EPSG:32649) or WKT.",
        ),
    ] = None,
) -> DatasetInfo:
    """Store a file of the caller's tenant under a new id after checking it: the format its
    suffix names (its content is sniffed: a VRT or another format under any name is refused,
    415), its declared sizes (413), then a full read with the domain loader (422 for bad data).
    Road networks are prepared on first use and cached for later runs."""
    filename = PurePath((file.filename or "upload").replace("\\", "/")).name[:200] or "upload"
    suffix = dataset_suffix(kind, filename)
    dataset_id, folder = await asyncio.to_thread(storage.new_dataset_dir)
    target = folder / f"data{suffix}"
    try:
        try:
            size = await asyncio.to_thread(
                storage.save_upload, file.file, target, settings.max_upload_bytes
            )
        except ValueError:
            raise ApiProblem(
                413,
                "Upload too large",
                f"`file` is larger than the limit of {settings.max_upload_bytes:,} bytes",
                field="file",
                expected=f"at most {settings.max_upload_bytes} bytes",
            ) from None
        if size == 0:
            raise ApiProblem(
                422, "Empty upload", "`file` is empty", field="file", expected="a non-empty file"
            )
        ctx = task_context(settings, storage, principal, sync=False)
        meta = await in_worker(
            request,
            pool,
            tasks.check_upload,
            ctx,
            kind,
            str(target),
            crs,
            filename,
            timeout=_CHECK_TIMEOUT_S,
        )
        record = await asyncio.to_thread(
            storage.add_dataset,
            dataset_id,
            owner=principal.tenant,
            name=name or filename,
            kind=kind,
            filename=filename,
            stored=target.name,
            size=target.stat().st_size,
            meta=meta,
        )
    except BaseException:
        await asyncio.to_thread(storage.discard_dataset_dir, folder)
        raise
    logger.info("dataset %s (%s, %d bytes) stored for %s", dataset_id, kind, size, principal.tenant)
    return _info(record)


@router.get(
    "",
    response_model=list[DatasetInfo],
    responses=problems(401, 422),
    summary="List datasets",
    operation_id="list_datasets",
)
def list_datasets(principal: Reader, storage: Store) -> list[DatasetInfo]:
    """The caller's datasets (every tenant's for an admin key), newest first."""
    return [_info(r) for r in storage.list_datasets(principal.scope)]


@router.get(
    "/{dataset_id}",
    response_model=DatasetInfo,
    responses=problems(401, 404, 422),
    summary="Get a dataset",
    operation_id="get_dataset",
)
def get_dataset(dataset_id: UUID, principal: Reader, storage: Store) -> DatasetInfo:
    """One dataset's metadata (404 for a dataset of another tenant)."""
    record = storage.get_dataset(str(dataset_id), principal.scope)
    if record is None:
        raise _not_found(dataset_id)
    return _info(record)


@router.delete(
    "/{dataset_id}",
    status_code=204,
    response_class=Response,
    responses=problems(401, 403, 404, 422, 507),
    summary="Delete a dataset",
    operation_id="delete_dataset",
)
def delete_dataset(dataset_id: UUID, principal: Writer, storage: Store) -> Response:
    """Delete a dataset and its file (jobs already finished keep their results)."""
    if not storage.delete_dataset(str(dataset_id), principal.scope):
        raise _not_found(dataset_id)
    return Response(status_code=204)
