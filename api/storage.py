"""Durable storage of the service: an SQLite database (WAL) for metadata, files on disk beside it.

Layout under the storage directory::

    siting.sqlite3                 datasets, jobs, schema_version
    datasets/<uuid>/data<suffix>   one uploaded file per dataset (never the user's name)
    jobs/<uuid>/                   request.json, result files, state.pkl (what-if reuse)
    networks/                      prepared road networks (content-hash cache)

The schema is versioned (table ``schema_version``); :data:`MIGRATIONS` lists the steps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Storage", "now_iso"]

logger = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 1: datasets and jobs
    """
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        filename TEXT NOT NULL,
        stored TEXT NOT NULL,
        size INTEGER NOT NULL,
        created TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        started TEXT,
        finished TEXT,
        error TEXT,
        summary TEXT
    );
    CREATE INDEX jobs_status ON jobs(status);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_JOB_COLUMNS = ("status", "progress", "message", "started", "finished", "error", "summary")


def now_iso() -> str:
    """The current UTC time as ISO 8601 text."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Storage:
    """The database and files of one storage directory (thread-safe; one connection per call)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("datasets", "jobs", "networks"):
            (self.root / sub).mkdir(exist_ok=True)
        self.db_path = self.root / "siting.sqlite3"
        self._lock = threading.Lock()
        self._migrate()

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA busy_timeout = 30000")
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    def _migrate(self) -> None:
        with self._connect() as con:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"storage {self.db_path} has schema version {current}, newer than this "
                    f"service's {SCHEMA_VERSION}; upgrade the service"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                con.execute("BEGIN IMMEDIATE")
                try:
                    for statement in MIGRATIONS[version - 1].split(";"):
                        if statement.strip():
                            con.execute(statement)
                    con.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                logger.info("storage %s migrated to schema version %d", self.db_path, version)

    def schema_version(self) -> int:
        """The schema version of the database."""
        with self._connect() as con:
            return int(con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    # ------------------------------------------------------------------ datasets
    def dataset_dir(self, dataset_id: str) -> Path:
        """The folder of a dataset (its id is a UUID we generated, never user text)."""
        return self.root / "datasets" / str(uuid.UUID(dataset_id))

    def new_dataset_dir(self) -> tuple[str, Path]:
        """A fresh dataset id and its (created) folder."""
        dataset_id = str(uuid.uuid4())
        folder = self.dataset_dir(dataset_id)
        folder.mkdir(parents=True)
        return dataset_id, folder

    def add_dataset(
        self,
        dataset_id: str,
        *,
        name: str,
        kind: str,
        filename: str,
        stored: str,
        size: int,
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        """Record an uploaded dataset whose file is already in place."""
        row = {
            "id": dataset_id,
            "name": name,
            "kind": kind,
            "filename": filename,
            "stored": stored,
            "size": size,
            "created": now_iso(),
            "meta": json.dumps(meta),
        }
        with self._connect() as con:
            con.execute(
                "INSERT INTO datasets (id, name, kind, filename, stored, size, created, meta) "
                "VALUES (:id, :name, :kind, :filename, :stored, :size, :created, :meta)",
                row,
            )
        return self._dataset_row(row)

    @staticmethod
    def _dataset_row(row: Any) -> dict[str, Any]:
        out = dict(row)
        out["meta"] = json.loads(out["meta"] or "{}")
        return out

    def get_dataset(self, dataset_id: str) -> dict[str, Any] | None:
        """One dataset's record, or ``None``."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        return None if row is None else self._dataset_row(row)

    def list_datasets(self) -> list[dict[str, Any]]:
        """Every dataset, newest first."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM datasets ORDER BY created DESC, id").fetchall()
        return [self._dataset_row(r) for r in rows]

    def dataset_path(self, record: dict[str, Any]) -> Path:
        """The stored file of a dataset record."""
        return self.dataset_dir(record["id"]) / record["stored"]

    def delete_dataset(self, dataset_id: str) -> bool:
        """Delete a dataset's record and files; ``False`` when it did not exist."""
        with self._connect() as con:
            cur = con.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        shutil.rmtree(self.dataset_dir(dataset_id), ignore_errors=True)
        return cur.rowcount > 0

    # ------------------------------------------------------------------ jobs
    def job_dir(self, job_id: str) -> Path:
        """The folder of a job (a UUID we generated)."""
        return self.root / "jobs" / str(uuid.UUID(job_id))

    def add_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Store a new queued job and its request; return its record."""
        job_id = str(uuid.uuid4())
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True)
        (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
        with self._connect() as con:
            con.execute(
                "INSERT INTO jobs (id, status, created, message) VALUES (?, 'queued', ?, ?)",
                (job_id, now_iso(), "waiting for a worker"),
            )
        record = self.get_job(job_id)
        assert record is not None
        return record

    def job_request(self, job_id: str) -> dict[str, Any]:
        """The stored request of a job."""
        return json.loads((self.job_dir(job_id) / "request.json").read_text(encoding="utf-8"))

    @staticmethod
    def _job_row(row: Any) -> dict[str, Any]:
        out = dict(row)
        out["summary"] = json.loads(out["summary"]) if out["summary"] else None
        return out

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """One job's record, or ``None``."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._job_row(row)

    def list_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest jobs."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM jobs ORDER BY created DESC, id LIMIT ?", (limit,)
            ).fetchall()
        return [self._job_row(r) for r in rows]

    def update_job(self, job_id: str, **values: Any) -> None:
        """Set some columns of a job (``summary`` as a dict)."""
        unknown = set(values) - set(_JOB_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job columns {sorted(unknown)}")
        if "summary" in values and values["summary"] is not None:
            values["summary"] = json.dumps(values["summary"])
        sets = ", ".join(f"{k} = :{k}" for k in values)
        with self._connect() as con:
            con.execute(f"UPDATE jobs SET {sets} WHERE id = :id", {**values, "id": job_id})

    def jobs_with_status(self, status: str) -> list[str]:
        """Ids of the jobs in a status, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY created, id", (status,)
            ).fetchall()
        return [r[0] for r in rows]

    def count_jobs(self) -> dict[str, int]:
        """How many jobs are in each status."""
        with self._connect() as con:
            rows = con.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def fail_interrupted(self) -> list[str]:
        """Mark jobs left ``running`` by a previous process as failed; return their ids."""
        with self._connect() as con:
            rows = con.execute("SELECT id FROM jobs WHERE status = 'running'").fetchall()
            ids = [r[0] for r in rows]
            con.execute(
                "UPDATE jobs SET status = 'failed', finished = ?, error = ?, "
                "message = 'interrupted' WHERE status = 'running'",
                (
                    now_iso(),
                    "the service stopped while this job was running (process ended or was "
                    "killed); submit it again",
                ),
            )
        return ids
