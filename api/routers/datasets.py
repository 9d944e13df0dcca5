"""/v1/datasets: upload (multipart), list, get and delete input files.

Files are stored under a generated UUID (``datasets/<uuid>/data<suffix>``); the uploaded name
is kept as metadata only, never used as a path.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import PurePath
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.dependencies import SettingsDep, Store, require_read, require_write
from api.inputs import dataset_suffix, validate_dataset
from api.problems import ApiProblem
from api.routers.common import problems
from api.schemas import DatasetInfo, DatasetKind
from api.storage import Storage
from siting import SitingError

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
_CHUNK = 1 << 20


def _not_found(dataset_id: UUID) -> ApiProblem:
    return ApiProblem(
        404,
        "Dataset not found",
        f"no dataset with id {dataset_id}",
        field="dataset_id",
        value=str(dataset_id),
        expected="the id of an uploaded dataset (GET /v1/datasets lists them)",
    )


def _info(record: dict) -> DatasetInfo:
    return DatasetInfo(**{k: v for k, v in record.items() if k != "stored"})


@router.post(
    "",
    status_code=201,
    response_model=DatasetInfo,
    responses=problems(401, 403, 413, 415, 422),
    dependencies=[Depends(require_write)],
    summary="Upload a dataset",
)
async def upload_dataset(
    settings: SettingsDep,
    storage: Store,
    file: Annotated[UploadFile, File(description="The data file.")],
    kind: Annotated[
        DatasetKind,
        Form(
            description="population: GeoTIFF raster or GeoJSON/GeoPackage with a population "
            "property; roads: .osm, .osm.pbf or .graphml; sites: GeoJSON/GeoPackage points; "
            "units: admin-unit polygons."
        ),
    ],
    name: Annotated[str | None, Form(max_length=200, description="A label.")] = None,
) -> DatasetInfo:
    """Store a file under a new id after reading it with the domain loader (bad files are
    refused with 422, unknown formats with 415, files above the size limit with 413). Road
    networks are prepared on first use and cached for later runs."""
    filename = PurePath((file.filename or "upload").replace("\\", "/")).name[:200] or "upload"
    suffix = dataset_suffix(kind, filename)
    dataset_id, folder = storage.new_dataset_dir()
    stored = f"data{suffix}"
    target = folder / stored
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := await file.read(_CHUNK):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise ApiProblem(
                        413,
                        "Upload too large",
                        f"`file` is larger than the limit of {settings.max_upload_bytes:,} bytes",
                        field="file",
                        expected=f"at most {settings.max_upload_bytes} bytes",
                    )
                out.write(chunk)
        if size == 0:
            raise ApiProblem(
                422, "Empty upload", "`file` is empty", field="file", expected="a non-empty file"
            )
        meta = await run_in_threadpool(validate_dataset, kind, target)
    except (ApiProblem, SitingError):
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    record = storage.add_dataset(
        dataset_id,
        name=name or filename,
        kind=kind,
        filename=filename,
        stored=stored,
        size=size,
        meta=meta,
    )
    logger.info("dataset %s (%s, %d bytes) stored", dataset_id, kind, size)
    return _info(record)


@router.get(
    "",
    response_model=list[DatasetInfo],
    responses=problems(401, 422),
    dependencies=[Depends(require_read)],
    summary="List datasets",
)
def list_datasets(storage: Store) -> list[DatasetInfo]:
    """Every uploaded dataset, newest first."""
    return [_info(r) for r in storage.list_datasets()]


def _get(storage: Storage, dataset_id: UUID) -> dict:
    record = storage.get_dataset(str(dataset_id))
    if record is None:
        raise _not_found(dataset_id)
    return record


@router.get(
    "/{dataset_id}",
    response_model=DatasetInfo,
    responses=problems(401, 404, 422),
    dependencies=[Depends(require_read)],
    summary="Get a dataset",
)
def get_dataset(dataset_id: UUID, storage: Store) -> DatasetInfo:
    """One dataset's metadata."""
    return _info(_get(storage, dataset_id))


@router.delete(
    "/{dataset_id}",
    status_code=204,
    response_class=Response,
    responses=problems(401, 403, 404, 422),
    dependencies=[Depends(require_write)],
    summary="Delete a dataset",
)
def delete_dataset(dataset_id: UUID, storage: Store) -> Response:
    """Delete a dataset and its file (jobs already finished keep their results)."""
    if not storage.delete_dataset(str(dataset_id)):
        raise _not_found(dataset_id)
    return Response(status_code=204)
