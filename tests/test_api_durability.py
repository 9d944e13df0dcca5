"""Durability with a real server process: uvicorn on loopback, SIGKILL mid-job, restart.

A job runs in a worker process; killing the server ends its fork server and so its job
processes (none outlives the server to write into a folder another server now owns). The next
start records the job as failed and serves the finished results, what-ifs included.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil

from tests.api_support import body, start_server
from tests.test_api_faults import _slow_body


def _poll(c: httpx.Client, job_id: str, want: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    info: dict = {}
    while time.monotonic() < deadline:
        info = c.get(f"/v1/jobs/{job_id}").json()
        if info["status"] in want:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {want}: {info}")


def test_sigkill_mid_job_then_restart(tmp_path: Path) -> None:
    storage = tmp_path / "store"
    server = start_server(storage)
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": "w"}, timeout=60) as c:
            done = c.post("/v1/jobs", json=body(name="quick")).json()["id"]
            assert _poll(c, done, {"done", "failed"})["status"] == "done"
            result = c.get(f"/v1/jobs/{done}/result").content
            gpkg = c.get(f"/v1/jobs/{done}/result.gpkg").content
            slow = c.post("/v1/jobs", json=_slow_body()).json()["id"]
            assert _poll(c, slow, {"running"})["status"] == "running"
            time.sleep(1.0)  # the job process is solving now
            children = psutil.Process(server.proc.pid).children(recursive=True)
            assert len(children) >= 2  # the fork server and the job
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
    assert server.proc.returncode == -signal.SIGKILL
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert alive == [], f"worker processes outlived the server: {alive}"

    server = start_server(storage)
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": "w"}, timeout=60) as c:
            info = c.get(f"/v1/jobs/{slow}").json()
            assert info["status"] == "failed"
            assert "stopped while this job was running" in info["error"]
            assert c.get(f"/v1/jobs/{done}").json()["status"] == "done"
            assert c.get(f"/v1/jobs/{done}/result").content == result
            assert c.get(f"/v1/jobs/{done}/result.gpkg").content == gpkg
            r = c.post(f"/v1/jobs/{done}/what-if", json={"close_sites": ["c2"]})
            assert r.status_code == 200, r.text
            assert r.json()["coverage_difference"]["share"] < 0
    finally:
        server.stop()


def test_a_clean_stop_requeues_running_jobs(tmp_path: Path) -> None:
    storage = tmp_path / "store"
    server = start_server(storage)
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": "w"}, timeout=60) as c:
            slow = c.post("/v1/jobs", json={**_slow_body(1), "time_limit": 3}).json()["id"]
            assert _poll(c, slow, {"running"})["status"] == "running"
    finally:
        server.stop()  # SIGTERM: the job's process is stopped and the job queued again
    server = start_server(storage)
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": "w"}, timeout=60) as c:
            info = _poll(c, slow, {"done", "failed"}, timeout=180)
            assert info["status"] == "done", info
    finally:
        server.stop()
