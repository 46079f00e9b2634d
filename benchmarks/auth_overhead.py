"""What authentication costs the REST API: task POSTs per second against a framework with
no users (nobody authenticates) and against one with a user, each request carrying HTTP
Basic (the password check is cached) or a Bearer token. The servers run one after the
other in this command, rounds alternating, so drift on a shared machine hits both sides.

`ratio_*` is POSTs/s with authentication over POSTs/s without (target >= 0.9).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from access.passwords import hash_password
from access.policy import Scope
from access.store import AccessStore
from benchmarks.api_load import ROOT, STRESS60, _free_port, _load, _wait_up
from persistence.database import default_url

TARGET_RATIO = 0.9


def _start(data_dir: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "--log-level", "error", "framework",
         "--master", "http://127.0.0.1:9", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


async def _posts(url: str, proc: subprocess.Popen, headers: dict[str, str], seconds: float,
                 concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        await _wait_up(session, url, proc)
        result = await _load(session, "POST", f"{url}/client/task", STRESS60, seconds,
                             concurrency, 202)
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} POSTs were not 202 ({headers or 'open'})")
    return result["per_second"]


def run(seconds: float = 3.0, concurrency: int = 16, rounds: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="berth-auth-bench-") as tmp:
        open_dir, secured_dir = Path(tmp, "open"), Path(tmp, "secured")
        store = AccessStore(default_url(secured_dir))
        store.add_user("bench", "user", frozenset({"default"}), hash_password("bench-pass"), 0.0)
        token, _ = store.add_token("bench", None, Scope.WRITE, 0.0, None)
        store.close()
        sides = {"none": (open_dir, {}),
                 "basic": (secured_dir, {"Authorization": aiohttp.encode_basic_auth(
                     "bench", "bench-pass")}),
                 "bearer": (secured_dir, {"Authorization": f"Bearer {token}"})}
        rates: dict[str, list[float]] = {name: [] for name in sides}
        ports = {d: _free_port() for d in (open_dir, secured_dir)}
        procs = {d: _start(d, port) for d, port in ports.items()}
        try:
            for _ in range(rounds):
                for name, (data_dir, headers) in sides.items():
                    rates[name].append(asyncio.run(_posts(
                        f"http://127.0.0.1:{ports[data_dir]}", procs[data_dir], headers,
                        seconds, concurrency)))
        finally:
            for proc in procs.values():
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    median = {name: statistics.median(r) for name, r in rates.items()}
    out: dict[str, Any] = {"benchmark": "api_auth", "seconds": seconds, "rounds": rounds,
                           "concurrency": concurrency, "posts_per_second": rates}
    for name in ("basic", "bearer"):
        out[f"ratio_{name}"] = round(median[name] / median["none"], 3)
    out["target_ratio"] = TARGET_RATIO
    out["meets_target"] = min(out["ratio_basic"], out["ratio_bearer"]) >= TARGET_RATIO
    return out
