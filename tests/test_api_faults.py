"""Storage faults: a full disk (ENOSPC injected at the storage layer, and a real tiny tmpfs where
the machine allows mounting one), read-only storage, the start-up sweep, job ends that could
not be recorded, and one server per storage folder."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.storage import Storage, StorageInUse
from tests.api_support import (
    body,
    client,
    fc,
    health,
    problem,
    start_server,
    upload,
    wait,
)


class _FailingConnection:
    """An SQLite connection whose statements fail as on a full or read-only disk."""

    def __init__(self, con: sqlite3.Connection, message: str) -> None:
        self._con = con
        self._message = message

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError(self._message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _inject(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Every write of the storage layer fails with ``code`` (ENOSPC or EROFS): file creation
    raises the OSError, SQLite writes the error SQLite reports for it."""
    message = {
        errno.ENOSPC: "database or disk is full",
        errno.EROFS: "attempt to write a readonly database",
    }[code]

    def open_write(self: Storage, path: Path) -> Any:
        raise OSError(code, os.strerror(code), str(path))

    original = Storage._connect

    @contextlib.contextmanager
    def connect(self: Storage, *, write: bool) -> Iterator[Any]:
        with original(self, write=write) as con:
            yield _FailingConnection(con, message) if write else con

    monkeypatch.setattr(Storage, "_open_write", open_write)
    monkeypatch.setattr(Storage, "_connect", connect)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from geodata.synthetic import save_synthetic_city, synthetic_city

    return save_synthetic_city(
        synthetic_city(1, population=20_000, extent_km=3.0), tmp_path_factory.mktemp("city")
    )


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [(errno.ENOSPC, 507, "full"), (errno.EROFS, 503, "read-only")],
)
def test_disk_faults_refuse_writes_and_keep_results_readable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    city: dict[str, Path],
    code: int,
    status: int,
    words: str,
) -> None:
    with client(tmp_path / "store") as c:
        job = c.post("/v1/jobs", json=body()).json()["id"]
        assert wait(c, job)["status"] == "done"
        result = c.get(f"/v1/jobs/{job}/result").content
        dataset = upload(c, "sites", city["candidates.geojson"])["id"]
        health(c, "ok")

        with monkeypatch.context() as m:
            _inject(m, code)
            doc = problem(
                c.post(
                    "/v1/datasets",
                    data={"kind": "sites"},
                    files={"file": ("s.geojson", city["existing.geojson"].read_bytes())},
                ),
                status,
            )
            assert words in doc["detail"] and "finished results stay readable" in doc["detail"]
            r = c.post("/v1/jobs", json=body())
            problem(r, status)
            if status == 503:
                assert r.headers["retry-after"]
            problem(c.delete(f"/v1/datasets/{dataset}"), status)
            # reads keep working: records, results, files, what-if (no write)
            assert [d["id"] for d in c.get("/v1/datasets").json()] == [dataset]
            assert [j["id"] for j in c.get("/v1/jobs").json()] == [job]
            assert c.get(f"/v1/jobs/{job}/result").content == result
            assert c.get(f"/v1/jobs/{job}/result.gpkg").status_code == 200
            w = c.post(f"/v1/jobs/{job}/what-if", json={"open_sites": ["c1"]})
            assert w.status_code == 200, w.text
            state = health(c, "degraded")
            assert not state["storage"]["writable"]
            assert words in state["storage"]["problem"]
        # the disk is back: writes work and health recovers
        upload(c, "sites", city["existing.geojson"])
        health(c, "ok")
        assert len(list((tmp_path / "store" / "datasets").iterdir())) == 2


def test_writes_stop_below_the_free_space_kept(tmp_path: Path, city: dict[str, Path]) -> None:
    with client(tmp_path / "store", min_free_bytes=1 << 62) as c:
        doc = problem(
            c.post(
                "/v1/datasets",
                data={"kind": "sites"},
                files={"file": ("s.geojson", city["existing.geojson"].read_bytes())},
            ),
            507,
        )
        assert "bytes free" in doc["detail"]
        problem(c.post("/v1/jobs", json=body()), 507)
        state = health(c, "degraded")
        assert "bytes free" in state["storage"]["problem"]
        assert not any((tmp_path / "store" / "jobs").iterdir())


def _done_job(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "store"
    with client(store) as c:
        job = c.post("/v1/jobs", json=body()).json()["id"]
        assert wait(c, job)["status"] == "done"
    return store, job


def test_start_up_sweep_records_ends_and_removes_leftovers(tmp_path: Path) -> None:
    store, done = _done_job(tmp_path)
    storage = Storage(store)
    # a job whose process finished its results but could not record it (the disk was full)
    finished = storage.add_job(json.dumps(body()).encode(), "open")["id"]
    shutil.copytree(storage.job_dir(done) / "result", storage.job_dir(finished) / "result")
    storage.update_job(finished, status="running")
    # one that was cut short, with half-written results
    cut = storage.add_job(json.dumps(body()).encode(), "open")["id"]
    storage.update_job(cut, status="running")
    (storage.job_dir(cut) / "result.tmp").mkdir()
    # folders without a row (a write cut short) and temporary files
    orphans = [store / "jobs" / str(uuid.uuid4()), store / "datasets" / str(uuid.uuid4())]
    for folder in orphans:
        folder.mkdir()
        (folder / "data.geojson").write_text("{}")
    (store / "networks" / ".network-walk-x.npz.123.tmp").write_bytes(b"x")

    with client(store) as c:
        info = c.get(f"/v1/jobs/{finished}").json()
        assert info["status"] == "done" and info["summary"]["status"] == "optimal"
        assert c.get(f"/v1/jobs/{finished}/result").json()["status"] == "optimal"
        info = c.get(f"/v1/jobs/{cut}").json()
        assert info["status"] == "failed" and "stopped while this job was running" in info["error"]
        assert not any(p.exists() for p in orphans)
        assert not (storage.job_dir(cut) / "result.tmp").exists()
        assert not list((store / "networks").glob(".*.tmp"))
        assert c.get(f"/v1/jobs/{done}").json()["status"] == "done"


def _slow_body(seed: int = 0) -> dict[str, Any]:
    """A p-center job that takes many seconds (4,000 demand points, 400 candidates)."""
    rng = np.random.default_rng(seed)
    lon = 111.60 + rng.random(4400) * 0.2
    lat = 40.75 + rng.random(4400) * 0.15
    demand = fc(
        [
            (float(x), float(y), {"population": int(p)})
            for x, y, p in zip(lon[:4000], lat[:4000], rng.integers(1, 500, 4000), strict=True)
        ]
    )
    sites = fc(
        [
            (float(x), float(y), {"site_id": f"s{i}"})
            for i, (x, y) in enumerate(zip(lon[4000:], lat[4000:], strict=True))
        ]
    )
    return {
        "demand": demand,
        "sites": sites,
        "model": "pcenter",
        "new_sites": 40,
        "time_limit": 120,
        "name": "slow",
    }


def test_a_killed_job_process_gets_its_end_recorded(tmp_path: Path) -> None:
    with client(tmp_path / "store") as c:
        job = c.post("/v1/jobs", json=_slow_body()).json()["id"]
        manager = c.app.state.jobs
        deadline = time.monotonic() + 60
        while job not in manager.running and time.monotonic() < deadline:
            time.sleep(0.05)
        proc = manager._running[job]
        os.kill(proc.pid, signal.SIGKILL)
        info = wait(c, job)
        assert info["status"] == "failed"
        assert "SIGKILL" in info["error"] and "out of memory" in info["error"]
        # the service goes on
        assert wait(c, c.post("/v1/jobs", json=body()).json()["id"])["status"] == "done"


def test_a_second_app_on_the_same_folder_refuses_to_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with client(store) as first:
        second = client(store)
        with pytest.raises(StorageInUse, match="in use by another siting server"):
            second.__enter__()
        health(first, "ok")
    with client(store) as again:
        assert again.get("/health").status_code == 200


def test_a_second_server_process_refuses_to_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = start_server(store)
    try:
        with httpx.Client(base_url=first.url, headers={"X-API-Key": "w"}, timeout=60) as h:
            job = h.post("/v1/jobs", json=_slow_body()).json()["id"]
            # the job is normally still live (a p-center of 4,000 x 400) when the second
            # server starts; on any machine it must not have failed
            assert h.get(f"/v1/jobs/{job}").json()["status"] in ("queued", "running", "done")
            second = start_server(store, wait_ready=False)
            try:
                assert second.proc.wait(timeout=60) != 0
            finally:
                second.stop()
            assert "in use by another siting server" in second.log.read_text()
            health(h, "ok")
            # the second one neither failed the live job (its recovery never ran) nor claimed
            # it: it is still the first server's, unfinished or done, without an error
            info = h.get(f"/v1/jobs/{job}").json()
            assert info["status"] in ("queued", "running", "done") and info["error"] is None, info
    finally:
        first.stop()


# --------------------------------------------------------------------------- a real full disk
def _can_mount() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount(), reason="needs root and `unshare -m` to mount a tmpfs")
def test_a_real_full_then_read_only_disk(tmp_path: Path, city: dict[str, Path]) -> None:
    """The server runs in its own mount namespace with its storage on a 16 MB tmpfs. The disk
    fills while a job runs: uploads and jobs get 507s, finished results stay readable, the job
    ends failed with the reason once its end can be written. Remounted read-only: 503s, results
    readable. A server restarted on the read-only folder starts and serves the results."""
    store = tmp_path / "store"
    store.mkdir()
    ctl = tmp_path / "control"
    ctl.mkdir()

    def step(name: str, command: str) -> str:
        return (
            f"while [ ! -e {ctl}/{name} ]; do sleep 0.1; done; {command}; touch {ctl}/{name}-done"
        )

    script = f"""
        mount -t tmpfs -o size=16m tmpfs {store} || exit 1
        "$@" & pid=$!
        trap 'kill $pid; wait $pid; exit 0' TERM
        {step("fill", f"dd if=/dev/zero of={store}/filler bs=1k 2>/dev/null")}
        {step("free", f"rm -f {store}/filler")}
        {step("ro", f"until mount -o remount,ro {store} 2>/dev/null; do sleep 0.2; done")}
        {step("restart", "kill $pid; wait $pid")}
        "$@" & pid=$!
        wait $pid
    """
    env = {"SITING_MIN_FREE_BYTES": "0"}
    server = start_server(store, env, prefix=["unshare", "-m", "sh", "-c", script, "sh"])

    def signal(name: str) -> None:
        (ctl / name).touch()
        deadline = time.monotonic() + 60
        while not (ctl / f"{name}-done").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (ctl / f"{name}-done").exists(), name

    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": "w"}, timeout=60) as h:
            job = h.post("/v1/jobs", json=body()).json()["id"]
            assert wait(h, job)["status"] == "done"
            result = h.get(f"/v1/jobs/{job}/result").content
            slow = h.post("/v1/jobs", json={**_slow_body(), "time_limit": 10}).json()["id"]
            while h.get(f"/v1/jobs/{slow}").json()["status"] == "queued":
                time.sleep(0.1)

            signal("fill")
            doc = problem(
                h.post(
                    "/v1/datasets",
                    data={"kind": "roads"},
                    files={"file": ("r.graphml", city["roads.graphml"].read_bytes())},
                ),
                507,
            )
            assert "full" in doc["detail"]
            problem(h.post("/v1/jobs", json=body()), 507)
            assert h.get(f"/v1/jobs/{job}/result").content == result
            assert h.post(f"/v1/jobs/{job}/what-if", json={"new_sites": 2}).status_code == 200
            health(h, "degraded")
            # the slow job ends while the disk is full: failed, recorded now or once it can be
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                unrecorded = "could not write its results" in server.log.read_text()
                if unrecorded or h.get(f"/v1/jobs/{slow}").json()["status"] != "running":
                    break
                time.sleep(0.5)
            signal("free")
            info = wait(h, slow, timeout=60)
            assert info["status"] == "failed", info
            assert "full" in info["error"], info
            assert h.get("/health").json()["status"] in ("ok", "degraded")

            signal("ro")
            problem(h.post("/v1/jobs", json=body()), 503)
            assert h.get(f"/v1/jobs/{job}/result").content == result
            health(h, "degraded", problem="read-only")

            signal("restart")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if h.get("/health").status_code == 200:
                        break
                time.sleep(0.2)
            health(h, "degraded", problem="read-only")
            assert h.get(f"/v1/jobs/{job}/result").content == result
            assert h.get(f"/v1/jobs/{job}").json()["status"] == "done"
            problem(h.post("/v1/jobs", json=body()), 503)
    finally:
        server.stop()
