"""Durability with a real server process: uvicorn on loopback, SIGKILL mid-job, restart.

The slow job is made slow on purpose: the server is started through a tiny wrapper that makes
``plan`` sleep for scenarios named ``slow`` (everything else is the real service).
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from api.schemas import EXAMPLE_DEMAND, EXAMPLE_SITES

REPO = Path(__file__).resolve().parents[1]
WRAPPER = """
import sys, time
import api.jobs
_plan = api.jobs.plan
def plan(scenario, **kw):
    if scenario.name == "slow":
        time.sleep(60)
    return _plan(scenario, **kw)
api.jobs.plan = plan
import uvicorn
uvicorn.run("api.main:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(storage: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "SITING_STORAGE_DIR": str(storage), "SITING_WRITE_KEYS": "w"}
    log = storage.parent / f"server-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, str(port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def _body(name: str) -> dict[str, Any]:
    return {
        "demand": copy.deepcopy(EXAMPLE_DEMAND),
        "sites": copy.deepcopy(EXAMPLE_SITES),
        "new_sites": 1,
        "name": name,
    }


def _poll(c: httpx.Client, job_id: str, want: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = c.get(f"/v1/jobs/{job_id}").json()
        if info["status"] in want:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {want}: {info}")


def test_sigkill_mid_job_then_restart(tmp_path: Path) -> None:
    storage = tmp_path / "store"
    proc, url = _start(storage)
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": "w"}, timeout=30) as c:
            done = c.post("/v1/jobs", json=_body("quick")).json()["id"]
            assert _poll(c, done, {"done", "failed"})["status"] == "done"
            result = c.get(f"/v1/jobs/{done}/result").content
            gpkg = c.get(f"/v1/jobs/{done}/result.gpkg").content
            slow = c.post("/v1/jobs", json=_body("slow")).json()["id"]
            assert _poll(c, slow, {"running"})["status"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    proc, url = _start(storage)
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": "w"}, timeout=30) as c:
            info = c.get(f"/v1/jobs/{slow}").json()
            assert info["status"] == "failed"
            assert "stopped while this job was running" in info["error"]
            assert c.get(f"/v1/jobs/{done}").json()["status"] == "done"
            assert c.get(f"/v1/jobs/{done}/result").content == result
            assert c.get(f"/v1/jobs/{done}/result.gpkg").content == gpkg
            r = c.post(f"/v1/jobs/{done}/what-if", json={"close_sites": ["c2"]})
            assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
