"""The Charmander REST API under load, on loopback.

The framework runs as its own process (`berth framework`, SQLite in a temp dir, a master
that is not there: every task stays PENDING, which is what this measures); the load comes
from asyncio clients in this process. Measured, each against a baseline in the same run:

- task POSTs: `concurrency` clients POST the seed's stress60 task for `seconds`; rate and
  p50/p99 latency. Baseline: `GET /admin/ping` the same way (the HTTP stack alone).
  Every 202 is on disk (group commit), so this includes the database.
- `GET /client/task` with `list_tasks` tasks queued: p50/p99 over `list_trials`.
  Baseline: one `GET /admin/ping`, sequentially, the same number of times.

`python -m benchmarks.api_load [--seconds S] [--concurrency C] [--list-tasks N]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TARGET_POSTS_PER_SECOND = 1000.0
TARGET_POST_P99_MS = 50.0
TARGET_LIST_MS = 100.0
JSON = {"Content-Type": "application/json"}  # any other body type is a 415

STRESS60 = json.dumps({"id": "stress60", "dockerimage": "stress", "mem": "100",
                       "reshuffleable": True, "nodetype": "lab",
                       "arguments": ["--vm-bytes", "60M", "--vm", "1"]}).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def _wait_up(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("berth framework exited early")
        try:
            async with session.get(f"{url}/admin/ping") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("berth framework did not answer within 60 s")


async def _load(session: aiohttp.ClientSession, method: str, url: str, body: bytes | None,
                seconds: float, concurrency: int, expect: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            async with session.request(method, url, data=body, headers=JSON) as resp:
                await resp.read()
                if resp.status != expect:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {"requests": len(latencies), "errors": errors,
            "per_second": round(len(latencies) / elapsed, 1),
            "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2)}


async def _sequential(session: aiohttp.ClientSession, url: str, trials: int
                      ) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(trials):
        started = time.perf_counter()
        async with session.get(url) as resp:
            body = await resp.read()
        times.append(time.perf_counter() - started)
        size = len(body)
    return times, size


async def _measure(url: str, proc: subprocess.Popen, seconds: float, concurrency: int,
                   list_tasks: int, list_trials: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _wait_up(session, url, proc)
        ping = await _load(session, "GET", f"{url}/admin/ping", None, seconds, concurrency,
                           200)
        posts = await _load(session, "POST", f"{url}/client/task", STRESS60, seconds,
                            concurrency, 202)
        queued = posts["requests"]
        while queued < list_tasks:  # top up to the listing size
            batch = min(concurrency * 8, list_tasks - queued)
            await asyncio.gather(*(session.post(f"{url}/client/task", data=STRESS60,
                                                headers=JSON)
                                   for _ in range(batch)))
            queued += batch
        await _sequential(session, f"{url}/client/task", 2)  # warm the serialization cache
        lists, size = await _sequential(session, f"{url}/client/task", list_trials)
        pings, _ = await _sequential(session, f"{url}/admin/ping", list_trials)
        async with session.get(f"{url}/client/task") as resp:
            listed = len(await resp.json())
    return {
        "posts": {**posts, "baseline_ping": ping,
                  "ratio_to_ping": round(posts["per_second"] / ping["per_second"], 3),
                  "target_per_second": TARGET_POSTS_PER_SECOND,
                  "target_p99_ms": TARGET_POST_P99_MS,
                  "meets_target": posts["per_second"] >= TARGET_POSTS_PER_SECOND
                  and posts["p99_ms"] < TARGET_POST_P99_MS and posts["errors"] == 0},
        "list": {"tasks": listed, "bytes": size, "trials": list_trials,
                 "p50_ms": round(statistics.median(lists) * 1000, 2),
                 "p99_ms": round(_percentile(lists, 0.99) * 1000, 2),
                 "baseline_ping_p50_ms": round(statistics.median(pings) * 1000, 3),
                 "ratio_to_ping": round(statistics.median(lists) / statistics.median(pings), 1),
                 "target_ms": TARGET_LIST_MS,
                 "meets_target": statistics.median(lists) * 1000 < TARGET_LIST_MS},
    }


def run(seconds: float = 5.0, concurrency: int = 16, list_tasks: int = 10_000,
        list_trials: int = 20) -> dict[str, Any]:
    """Start `berth framework` in a subprocess, load it, stop it; the results as a dict."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="berth-api-bench-") as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "--log-level", "error", "framework",
             "--master", "http://127.0.0.1:9", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", tmp],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            result = asyncio.run(_measure(f"http://127.0.0.1:{port}", proc, seconds,
                                          concurrency, list_tasks, list_trials))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"benchmark": "api_load", "seconds": seconds, "concurrency": concurrency,
            "cpus": os.cpu_count(), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--list-tasks", type=int, default=10_000)
    parser.add_argument("--list-trials", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.concurrency, args.list_tasks, args.list_trials)))


if __name__ == "__main__":
    main()
