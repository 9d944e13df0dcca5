"""Durable storage of the service: an SQLite database (WAL) for metadata, files on disk beside it.

Layout under the storage directory::

    siting.sqlite3                 datasets, jobs (each with its owner), schema_version
    siting.lock                    held by the one server using this folder
    datasets/<uuid>/data<suffix>   one uploaded file per dataset (never the user's name)
    jobs/<uuid>/                   request.json, result/ (result files, summary.json, state/)
    networks/                      prepared road networks (content-hash cache)

The schema is versioned (table ``schema_version``); :data:`MIGRATIONS` lists the steps.

Faults of the disk are errors of their own (:class:`StorageFault`): a full disk is
:class:`StorageFull` (the service answers 507), a read-only or unwritable one
:class:`StorageReadOnly` (503), an I/O error :class:`StorageUnavailable` (503). Reads keep
working on a read-only disk (the database is then opened read-only). Writes are atomic (a
temporary name, then a rename) so a full disk never leaves half a file under a final name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from api.faults import (
    StorageFault,
    StorageFull,
    StorageInUse,
    StorageLock,
    StorageReadOnly,
    StorageUnavailable,
    storage_fault,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Storage",
    "StorageFault",
    "StorageFull",
    "StorageInUse",
    "StorageLock",
    "StorageReadOnly",
    "StorageUnavailable",
    "now_iso",
    "storage_fault",
]

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
    # 2: owners (tenants) and the worker that claimed a job; rows of version 1 belong to no
    # tenant ('') and are visible to admin keys only
    """
    ALTER TABLE datasets ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN worker TEXT;
    CREATE INDEX datasets_owner ON datasets(owner, created);
    CREATE INDEX jobs_owner ON jobs(owner, created);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_JOB_COLUMNS = ("status", "progress", "message", "started", "finished", "error", "summary")
RESULT_DIR = "result"
SUMMARY_FILE = "summary.json"
_FAULT_MEMORY_S = 60.0


def now_iso() -> str:
    """The current UTC time as ISO 8601 text."""
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- storage
class Storage:
    """The database and files of one storage directory (thread-safe; one connection per call).

    ``prepare=False`` opens an existing folder without creating or migrating anything (the
    worker processes use it).
    """

    def __init__(self, root: str | Path, *, prepare: bool = True, min_free_bytes: int = 0) -> None:
        self.root = Path(root)
        self.db_path = self.root / "siting.sqlite3"
        self.min_free_bytes = min_free_bytes
        self._lock = threading.Lock()
        self._fault: tuple[StorageFault, float] | None = None
        if prepare:
            self._prepare()

    # ------------------------------------------------------------------ plumbing
    def _prepare(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for sub in ("datasets", "jobs", "networks"):
                (self.root / sub).mkdir(exist_ok=True)
        except OSError as exc:
            fault = storage_fault(exc)
            if fault is None or not self.db_path.is_file():
                raise
            logger.warning("storage %s: %s", self.root, fault)
        self._migrate()

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """A connection; reads fall back to a read-only open when the folder is read-only."""
        con = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        try:
            try:
                con.execute("PRAGMA busy_timeout = 30000")
                if not write:
                    con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                if write:
                    raise
                con.close()
                con = self._read_only_connection()
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    def _read_only_connection(self) -> sqlite3.Connection:
        uri = f"file:{self.db_path}?mode=ro"
        con = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return con
        except sqlite3.OperationalError:
            con.close()
        # a WAL database on a read-only folder without its -shm file: read the main file as it
        # is (the last connection to close checkpointed the WAL into it)
        return sqlite3.connect(f"{uri}&immutable=1", uri=True, timeout=30.0, isolation_level=None)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn disk faults of a write into :class:`StorageFault` and remember them for
        :meth:`health`; a successful write clears the memory."""
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            fault = storage_fault(exc)
            if fault is None:
                raise
            if isinstance(fault, StorageUnavailable):  # SQLite says "I/O error" on a full disk
                try:
                    self.check_space()
                except StorageFault as precise:
                    fault = precise
            with self._lock:
                self._fault = (fault, time.monotonic())
            logger.warning("storage %s: write failed: %s", self.root, fault)
            raise fault from exc
        except StorageFault as fault:
            with self._lock:
                self._fault = (fault, time.monotonic())
            raise
        else:
            with self._lock:
                self._fault = None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            fault = storage_fault(exc)
            if fault is None:
                raise
            raise fault from exc

    def _migrate(self) -> None:
        with self._reading(), self._connect(write=False) as con:
            has_table = con.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
            ).fetchone()
            current = 0
            if has_table:
                current = int(
                    con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
                )
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"storage {self.db_path} has schema version {current}, newer than this "
                f"service's {SCHEMA_VERSION}; upgrade the service"
            )
        if current == SCHEMA_VERSION:
            if mode != "wal":
                try:
                    with self._writing(), self._connect(write=True) as con:
                        con.execute("PRAGMA journal_mode = WAL")
                except StorageFault as exc:  # a read-only folder is served read-only
                    logger.warning("storage %s: journal mode left as %s: %s", self.root, mode, exc)
            return
        with self._writing(), self._connect(write=True) as con:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
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
        with self._reading(), self._connect(write=False) as con:
            return int(con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    # ------------------------------------------------------------------ space and health
    def check_space(self, needed: int = 0) -> None:
        """Raise :class:`StorageFull` / :class:`StorageReadOnly` before a write that cannot
        succeed: less than ``min_free_bytes`` + ``needed`` free, or a read-only mount."""
        try:
            st = os.statvfs(self.root)
        except OSError as exc:
            raise storage_fault(exc) or StorageUnavailable(str(exc)) from exc
        if st.f_flag & os.ST_RDONLY:
            raise StorageReadOnly(
                "the storage folder is on a read-only file system; finished results stay "
                "readable, writes are refused until it is writable again"
            )
        free = st.f_bavail * st.f_frsize
        if free < self.min_free_bytes + needed:
            raise StorageFull(
                f"the storage disk has {free:,} bytes free, below the {self.min_free_bytes:,} "
                f"kept free (+ {needed:,} needed); finished results stay readable, new uploads "
                "and jobs are refused until space is freed"
            )

    def health(self) -> dict[str, Any]:
        """``writable``, ``free_bytes`` and ``problem`` (``None`` when writes should work)."""
        problem: str | None = None
        free: int | None = None
        try:
            st = os.statvfs(self.root)
            free = st.f_bavail * st.f_frsize
            if st.f_flag & os.ST_RDONLY:
                problem = "the storage folder is on a read-only file system"
            elif free < self.min_free_bytes:
                problem = f"the storage disk has {free:,} bytes free"
            elif not os.access(self.root, os.W_OK):
                problem = "the storage folder is not writable"
        except OSError as exc:
            problem = f"the storage folder cannot be inspected: {exc.strerror}"
        with self._lock:
            fault = self._fault
        if problem is None and fault and time.monotonic() - fault[1] < _FAULT_MEMORY_S:
            problem = f"a recent write failed: {fault[0]}"
        return {"writable": problem is None, "free_bytes": free, "problem": problem}

    # ------------------------------------------------------------------ files
    def _open_write(self, path: Path) -> IO[bytes]:
        """A new file opened for writing (the one place files are created)."""
        return path.open("xb")

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with self._open_write(tmp) as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def _remove_tree(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------ datasets
    def dataset_dir(self, dataset_id: str) -> Path:
        """The folder of a dataset (its id is a UUID we generated, never user text)."""
        return self.root / "datasets" / str(uuid.UUID(dataset_id))

    def new_dataset_dir(self) -> tuple[str, Path]:
        """A fresh dataset id and its (created) folder."""
        self.check_space()
        dataset_id = str(uuid.uuid4())
        folder = self.dataset_dir(dataset_id)
        with self._writing():
            folder.mkdir(parents=True)
        return dataset_id, folder

    def save_upload(self, source: IO[bytes], target: Path, limit: int) -> int:
        """Copy an upload into ``target`` (a new file); return its size. Raises ``ValueError``
        when it is larger than ``limit`` bytes (the caller answers 413)."""
        size = 0
        with self._writing(), self._open_write(target) as out:
            while chunk := source.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ValueError(size)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return size

    def discard_dataset_dir(self, folder: Path) -> None:
        """Remove the folder of an upload that was refused."""
        self._remove_tree(folder)

    def add_dataset(
        self,
        dataset_id: str,
        *,
        owner: str,
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
            "owner": owner,
            "name": name,
            "kind": kind,
            "filename": filename,
            "stored": stored,
            "size": size,
            "created": now_iso(),
            "meta": json.dumps(meta),
        }
        with self._writing(), self._connect(write=True) as con:
            con.execute(
                "INSERT INTO datasets (id, owner, name, kind, filename, stored, size, created, "
                "meta) VALUES (:id, :owner, :name, :kind, :filename, :stored, :size, :created, "
                ":meta)",
                row,
            )
        return self._dataset_row(row)

    @staticmethod
    def _dataset_row(row: Any) -> dict[str, Any]:
        out = dict(row)
        out["meta"] = json.loads(out["meta"] or "{}")
        return out

    def get_dataset(self, dataset_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """One dataset's record, or ``None`` (also when it belongs to another owner; ``owner``
        ``None`` sees every owner's)."""
        with self._reading(), self._connect(write=False) as con:
            row = con.execute(
                "SELECT * FROM datasets WHERE id = ? AND (? IS NULL OR owner = ?)",
                (dataset_id, owner, owner),
            ).fetchone()
        return None if row is None else self._dataset_row(row)

    def list_datasets(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Datasets of ``owner`` (every owner's for ``None``), newest first."""
        with self._reading(), self._connect(write=False) as con:
            rows = con.execute(
                "SELECT * FROM datasets WHERE (? IS NULL OR owner = ?) ORDER BY created DESC, id",
                (owner, owner),
            ).fetchall()
        return [self._dataset_row(r) for r in rows]

    def dataset_path(self, record: dict[str, Any]) -> Path:
        """The stored file of a dataset record."""
        return self.dataset_dir(record["id"]) / record["stored"]

    def delete_dataset(self, dataset_id: str, owner: str | None = None) -> bool:
        """Delete a dataset's record and files; ``False`` when it does not exist for
        ``owner``."""
        with self._writing(), self._connect(write=True) as con:
            cur = con.execute(
                "DELETE FROM datasets WHERE id = ? AND (? IS NULL OR owner = ?)",
                (dataset_id, owner, owner),
            )
        if cur.rowcount:
            self._remove_tree(self.dataset_dir(dataset_id))
        return cur.rowcount > 0

    # ------------------------------------------------------------------ jobs
    def job_dir(self, job_id: str) -> Path:
        """The folder of a job (a UUID we generated)."""
        return self.root / "jobs" / str(uuid.UUID(job_id))

    def add_job(self, request: bytes, owner: str) -> dict[str, Any]:
        """Store a new queued job (its request as JSON bytes, written atomically before the
        row exists); return its record."""
        self.check_space(len(request))
        job_id = str(uuid.uuid4())
        folder = self.job_dir(job_id)
        try:
            with self._writing():
                folder.mkdir(parents=True)
                self._write_atomic(folder / "request.json", request)
            with self._writing(), self._connect(write=True) as con:
                con.execute(
                    "INSERT INTO jobs (id, owner, status, created, message) "
                    "VALUES (?, ?, 'queued', ?, ?)",
                    (job_id, owner, now_iso(), "waiting for a worker"),
                )
        except StorageFault:
            self._remove_tree(folder)
            raise
        record = self.get_job(job_id)
        assert record is not None
        return record

    def job_request(self, job_id: str) -> dict[str, Any]:
        """The stored request of a job."""
        with self._reading():
            text = (self.job_dir(job_id) / "request.json").read_text(encoding="utf-8")
        return dict(json.loads(text))

    @staticmethod
    def _job_row(row: Any) -> dict[str, Any]:
        out = dict(row)
        out["summary"] = json.loads(out["summary"]) if out["summary"] else None
        return out

    def get_job(self, job_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """One job's record, or ``None`` (also when it belongs to another owner)."""
        with self._reading(), self._connect(write=False) as con:
            row = con.execute(
                "SELECT * FROM jobs WHERE id = ? AND (? IS NULL OR owner = ?)",
                (job_id, owner, owner),
            ).fetchone()
        return None if row is None else self._job_row(row)

    def list_jobs(self, limit: int = 100, owner: str | None = None) -> list[dict[str, Any]]:
        """The newest jobs of ``owner`` (every owner's for ``None``)."""
        with self._reading(), self._connect(write=False) as con:
            rows = con.execute(
                "SELECT * FROM jobs WHERE (? IS NULL OR owner = ?) "
                "ORDER BY created DESC, id LIMIT ?",
                (owner, owner, limit),
            ).fetchall()
        return [self._job_row(r) for r in rows]

    def update_job(self, job_id: str, *, worker: str | None = None, **values: Any) -> bool:
        """Set some columns of a job (``summary`` as a dict); with ``worker`` only while the
        job is still ``running`` under that worker's claim. ``True`` when a row changed."""
        unknown = set(values) - set(_JOB_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job columns {sorted(unknown)}")
        if "summary" in values and values["summary"] is not None:
            values["summary"] = json.dumps(values["summary"])
        sets = ", ".join(f"{k} = :{k}" for k in values)
        where = "id = :id" + (" AND status = 'running' AND worker = :worker" if worker else "")
        with self._writing(), self._connect(write=True) as con:
            cur = con.execute(
                f"UPDATE jobs SET {sets} WHERE {where}", {**values, "id": job_id, "worker": worker}
            )
        return cur.rowcount > 0

    def claim_next_job(self, worker: str) -> str | None:
        """Atomically move the oldest ``queued`` job to ``running`` under ``worker``'s claim;
        its id, or ``None``. One statement, so two claimers never get the same job."""
        with self._writing(), self._connect(write=True) as con:
            row = con.execute(
                "UPDATE jobs SET status = 'running', started = ?, progress = 0.05, "
                "message = 'starting', worker = ? WHERE status = 'queued' AND id = "
                "(SELECT id FROM jobs WHERE status = 'queued' ORDER BY created, id LIMIT 1) "
                "RETURNING id",
                (now_iso(), worker),
            ).fetchone()
        return None if row is None else str(row[0])

    def jobs_with_status(self, status: str) -> list[str]:
        """Ids of the jobs in a status, oldest first."""
        with self._reading(), self._connect(write=False) as con:
            rows = con.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY created, id", (status,)
            ).fetchall()
        return [r[0] for r in rows]

    def count_jobs(self) -> dict[str, int]:
        """How many jobs are in each status."""
        with self._reading(), self._connect(write=False) as con:
            rows = con.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def result_summary(self, job_id: str) -> dict[str, Any] | None:
        """The summary a job's finished result folder holds (``None`` when it has none: the
        job did not finish writing its results)."""
        path = self.job_dir(job_id) / RESULT_DIR / SUMMARY_FILE
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def record_end(self, job_id: str, reason: str) -> str:
        """Record the end of a job whose process ended without recording it: ``done`` when its
        result folder is complete (the process could not write the database), else ``failed``
        with ``reason``. Returns the status recorded ('' when the job was not running)."""
        summary = self.result_summary(job_id)
        if summary is not None:
            values: dict[str, Any] = {
                "status": "done",
                "progress": 1.0,
                "message": "finished",
                "summary": summary,
            }
        else:
            values = {"status": "failed", "message": "interrupted", "error": reason}
        values["finished"] = now_iso()
        sets = ", ".join(f"{k} = :{k}" for k in values)
        if values.get("summary") is not None:
            values["summary"] = json.dumps(values["summary"])
        with self._writing(), self._connect(write=True) as con:
            cur = con.execute(
                f"UPDATE jobs SET {sets} WHERE id = :id AND status = 'running'",
                {**values, "id": job_id},
            )
        return str(values["status"]) if cur.rowcount else ""

    def recover(self) -> dict[str, list[str]]:
        """Start-up sweep (run by the server holding the lock): jobs left ``running`` by a
        process that died get their end recorded (``done`` if their results are complete,
        else ``failed``), temporary folders and files are removed, and job or dataset folders
        without a database row (a write cut short) are deleted. Returns what was done."""
        done: dict[str, list[str]] = {"done": [], "failed": [], "removed": []}
        reason = (
            "the service stopped while this job was running (process ended or was killed, or "
            "the disk was full); submit it again"
        )
        for job_id in self.jobs_with_status("running"):
            status = self.record_end(job_id, reason)
            if status:
                done[status].append(job_id)
        with self._reading(), self._connect(write=False) as con:
            jobs = {r[0] for r in con.execute("SELECT id FROM jobs")}
            datasets = {r[0] for r in con.execute("SELECT id FROM datasets")}
        for sub, known in (("jobs", jobs), ("datasets", datasets)):
            folder = self.root / sub
            for child in folder.iterdir() if folder.is_dir() else ():
                if child.name not in known:
                    self._remove_tree(child)
                    done["removed"].append(f"{sub}/{child.name}")
                elif sub == "jobs":
                    for tmp in child.glob(f"{RESULT_DIR}.tmp*"):
                        self._remove_tree(tmp)
                        done["removed"].append(f"jobs/{child.name}/{tmp.name}")
        for pattern in ("networks/.*.tmp", "jobs/*/.*.tmp", "datasets/*/.*.tmp"):
            for tmp in self.root.glob(pattern):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    done["removed"].append(str(tmp.relative_to(self.root)))
        return done

    def requeue(self, worker: str) -> list[str]:
        """Jobs ``running`` under ``worker``'s claim go back to ``queued`` (a clean shutdown
        stopped them; the next start runs them again)."""
        with self._writing(), self._connect(write=True) as con:
            rows = con.execute(
                "UPDATE jobs SET status = 'queued', progress = 0, started = NULL, worker = NULL, "
                "message = 'requeued: the service stopped while it ran' "
                "WHERE status = 'running' AND worker = ? RETURNING id",
                (worker,),
            ).fetchall()
        return [r[0] for r in rows]
