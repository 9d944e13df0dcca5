"""Helpers of the API tests: request bodies, clients, problem checks and a real server process."""

from __future__ import annotations

import copy
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas import EXAMPLE_DEMAND, EXAMPLE_SITES
from api.settings import Settings

REPO = Path(__file__).resolve().parents[1]
LON, LAT = 111.70, 40.82
PROBLEM = "application/problem+json"


def fc(points: list[tuple[float, float, dict[str, Any]]], **members: Any) -> dict[str, Any]:
    """A FeatureCollection of points with properties."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [x, y]},
                "properties": p,
            }
            for x, y, p in points
        ],
        **members,
    }


def body(**changes: Any) -> dict[str, Any]:
    """The example MCLP request (3 demand points, 2 candidates); a change to ``None`` leaves the
    field out."""
    out: dict[str, Any] = {
        "demand": copy.deepcopy(EXAMPLE_DEMAND),
        "sites": copy.deepcopy(EXAMPLE_SITES),
        "model": "mclp",
        "new_sites": 1,
        "threshold_minutes": 10,
    }
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def client(storage: Path, **settings: Any) -> TestClient:
    """A TestClient of a fresh app (open, unless keys are given)."""
    if not any(k.endswith("_keys") for k in settings):
        settings["open"] = True
    return TestClient(create_app(Settings(storage_dir=storage, **settings)))


def problem(r: Any, status: int) -> dict[str, Any]:
    """The problem+json document of a response with ``status``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    doc: dict[str, Any] = r.json()
    assert doc["status"] == status and doc["title"] and doc["detail"] and doc["type"]
    return doc


def upload(c: Any, kind: str, path: Path, expect: int = 201, **headers: str) -> dict[str, Any]:
    """Upload a file as a dataset."""
    with path.open("rb") as f:
        r = c.post(
            "/v1/datasets", data={"kind": kind}, files={"file": (path.name, f)}, headers=headers
        )
    assert r.status_code == expect, r.text
    doc: dict[str, Any] = r.json()
    return doc


def wait(c: Any, job_id: str, timeout: float = 60.0, **headers: str) -> dict[str, Any]:
    """Poll a job until it is done or failed."""
    deadline = time.monotonic() + timeout
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:
        info = c.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if info["status"] in ("done", "failed"):
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {info}")


def health(c: Any, status: str, timeout: float = 10.0, problem: str = "") -> dict[str, Any]:
    """``/health`` once it reports ``status`` (and a storage problem containing ``problem``);
    it answers from a probe taken every second."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = c.get("/health")
        assert r.status_code == 200, r.text
        doc = r.json()
        if doc["status"] == status and problem in (doc["storage"]["problem"] or ""):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"/health never reported {status!r}: {doc}")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real ``uvicorn api.main:app`` process on loopback."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    storage: Path,
    env: dict[str, str] | None = None,
    *,
    wait_ready: bool = True,
    prefix: list[str] | None = None,
) -> Server:
    """Start a server on ``storage`` (keys ``w`` write, ``r`` read unless ``env`` sets keys);
    wait until ``/health`` answers unless ``wait_ready`` is false. ``prefix`` runs it through
    another command (e.g. ``unshare``)."""
    port = free_port()
    full = {
        **os.environ,
        "SITING_STORAGE_DIR": str(storage),
        "SITING_WRITE_KEYS": "t:w",
        "SITING_READ_KEYS": "t:r",
        **(env or {}),
    }
    log = storage.parent / f"server-{port}.log"
    cmd = [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port)]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*(prefix or []), *cmd, "--log-level", "warning"],
            cwd=REPO,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    if not wait_ready:
        return server
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError("server did not start")


@contextmanager
def running_server(storage: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server for the duration of a ``with`` block."""
    server = start_server(storage, env)
    try:
        yield server
    finally:
        server.stop()


class Listener:
    """A loopback TCP listener recording what each connection sends (an SSRF target: a test
    asserts it receives nothing)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.requests: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.requests.append(conn.recv(4096))
                except OSError:
                    self.requests.append(b"")

    def close(self) -> None:
        """Stop listening."""
        self._stop = True
        self.thread.join()
        self.sock.close()


def tiny_tiff(width: int, height: int) -> bytes:
    """A 123-byte GeoTIFF header declaring ``width`` × ``height`` uint8 cells in one strip."""
    entries = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 0),
        (277, 3, 1),
        (278, 4, height),
        (279, 4, 1),
    ]
    data_offset = 8 + 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(entries)))
    for tag, kind, value in entries:
        value = data_offset if tag == 273 else value
        if kind == 3:
            out += struct.pack("<HHIHH", tag, kind, 1, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, 1, value)
    return bytes(out + struct.pack("<I", 0) + b"\x00")
