"""Faults of the storage folder and its lock: what a full, read-only or broken disk means for the
service (:func:`storage_fault` turns OS and SQLite errors into :class:`StorageFault`s the API
answers 507 or 503 for) and the lock that keeps one server per folder (:class:`StorageLock`)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "StorageFault",
    "StorageFull",
    "StorageInUse",
    "StorageLock",
    "StorageReadOnly",
    "StorageUnavailable",
    "storage_fault",
]

logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StorageFault(Exception):
    """The storage folder cannot be written (or read) right now."""

    status = 503
    title = "Storage unavailable"
    slug = "storage-unavailable"


class StorageFull(StorageFault):
    """No space left on the storage device."""

    status = 507
    title = "Insufficient storage"
    slug = "storage-full"


class StorageReadOnly(StorageFault):
    """The storage folder is read-only or not writable by the service."""

    title = "Storage is read-only"
    slug = "storage-read-only"


class StorageUnavailable(StorageFault):
    """An I/O error or a damaged database."""


class StorageInUse(RuntimeError):
    """Another server holds the storage folder's lock."""


_OS_FAULTS: dict[int, type[StorageFault]] = {
    errno.ENOSPC: StorageFull,
    errno.EDQUOT: StorageFull,
    errno.EFBIG: StorageFull,
    errno.EROFS: StorageReadOnly,
    errno.EACCES: StorageReadOnly,
    errno.EPERM: StorageReadOnly,
    errno.EIO: StorageUnavailable,
}
# primary SQLite result codes
_SQLITE_FAULTS: dict[int, type[StorageFault]] = {
    13: StorageFull,  # SQLITE_FULL
    8: StorageReadOnly,  # SQLITE_READONLY
    10: StorageUnavailable,  # SQLITE_IOERR
    14: StorageUnavailable,  # SQLITE_CANTOPEN
    11: StorageUnavailable,  # SQLITE_CORRUPT
    26: StorageUnavailable,  # SQLITE_NOTADB
    5: StorageUnavailable,  # SQLITE_BUSY (after the busy timeout)
}
_SQLITE_MESSAGES: tuple[tuple[str, type[StorageFault]], ...] = (
    ("disk is full", StorageFull),
    ("readonly database", StorageReadOnly),
    ("read-only", StorageReadOnly),
    ("disk i/o error", StorageUnavailable),
    ("unable to open database", StorageUnavailable),
    ("database is locked", StorageUnavailable),
    ("malformed", StorageUnavailable),
)


def storage_fault(exc: BaseException) -> StorageFault | None:
    """The :class:`StorageFault` an OS or SQLite error means, or ``None`` (a bug)."""
    if isinstance(exc, StorageFault):
        return exc
    cls: type[StorageFault] | None = None
    if isinstance(exc, OSError) and exc.errno in _OS_FAULTS:
        cls = _OS_FAULTS[exc.errno]
        reason = os.strerror(exc.errno).lower()
    elif isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc).lower()
        if isinstance(code, int):
            cls = _SQLITE_FAULTS.get(code & 0xFF)
        if cls is None:
            cls = next((c for m, c in _SQLITE_MESSAGES if m in text), None)
        reason = f"database: {text}"
    if cls is None:
        return None
    detail = {
        StorageFull: "the storage disk is full ({reason}); finished results stay readable, "
        "new uploads and jobs are refused until space is freed",
        StorageReadOnly: "the storage folder is read-only ({reason}); finished results stay "
        "readable, writes are refused until it is writable again",
        StorageUnavailable: "the storage folder cannot be used right now ({reason}); try again "
        "later",
    }[cls]
    return cls(detail.format(reason=reason))


class StorageLock:
    """The exclusive lock of a storage folder, held by the one server that uses it.

    ``flock`` on ``siting.lock``: a second server (on the same host, or a host sharing the
    folder over a file system with working locks) gets :class:`StorageInUse` and refuses to
    start. On a read-only folder without a lock file nothing can be locked, and nothing can be
    written either, so no lock is needed.
    """

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / "siting.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StorageInUse` naming the holder. The lock is held on
        a read-only descriptor, so the folder can still be remounted read-only."""
        with contextlib.suppress(OSError):  # create it where the folder is writable
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644))
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            logger.warning("storage %s is read-only and has no lock file", self.path.parent)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise StorageInUse(
                f"storage folder {self.path.parent} is in use by another siting server "
                f"({holder}); run one server per storage folder"
            ) from None
        with contextlib.suppress(OSError), self.path.open("w", encoding="utf-8") as out:
            out.write(f"pid {os.getpid()} since {_now()}\n")
        self._fd = fd

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
