"""The farming target measured for real: farms of short `sleep` commands sampled and run
on `berth up`'s local agent (nodetype `lab`, price 0.12, real `berth/busybox`
containers), each with another seed (so another sample and another rest of the bag),
counting the executed makespans inside the forecast's interval. Prints JSON.

`python -m benchmarks.farm_real [--runs 10] [--tasks 40] [--slots 4]`
Needs a Docker engine and the local images (scripts/local-images.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None


def _until(base: str, farm_id: str, phase: str) -> dict:
    while True:
        view = _call(base, "GET", f"/v1/farms/{farm_id}")
        if view["phase"] in (phase, "failed"):
            return view
        time.sleep(0.3)


def measure(runs: int, tasks: int, slots: int) -> dict:
    ports = [_port() for _ in range(3)]
    base = f"http://127.0.0.1:{ports[0]}"
    bag = "".join(f"sleep 0.{1 + i % 4} && echo task {i}\n" for i in range(tasks))
    rows, inside = [], 0
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "up", "--nodetype", "lab", "--attributes",
             "price=0.12", "--data-dir", data, "--port", str(ports[0]), "--master-port",
             str(ports[1]), "--agent-port", str(ports[2]), "--ignore-incumbent",
             "--registry-port", "0", "--hostname", f"farm-bench-{os.getpid()}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(base + "/admin/ping", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.3)
            time.sleep(2)  # the agent registers
            for seed in range(runs):
                farm = _call(base, "POST", "/v1/farms", {
                    "image": "berth/busybox", "bag": bag, "slots": slots, "cpus": 0.05,
                    "mem": 16, "seed": seed})
                _call(base, "POST", f"/v1/farms/{farm['id']}/sample", {})
                _until(base, farm["id"], "sampled")
                found = _call(base, "GET", f"/v1/farms/{farm['id']}/schedules")["schedules"]
                chosen = min(found, key=lambda s: s["makespan"]["mean"])
                _call(base, "POST", f"/v1/farms/{farm['id']}/run",
                      {"schedule": chosen["index"]})
                view = _until(base, farm["id"], "done")
                m = chosen["makespan"]
                hit = view["phase"] == "done" and m["low"] <= view["run_seconds"] <= m["high"]
                inside += hit
                rows.append({"seed": seed, "phase": view["phase"],
                             "forecast": [round(m["low"], 2), round(m["mean"], 2),
                                          round(m["high"], 2)],
                             "executed": round(view["run_seconds"] or -1, 2),
                             "spent": view["spent"], "inside": hit})
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    return {"benchmark": "farm_real", "tasks": tasks, "slots": slots, "runs": rows,
            "inside": inside, "of": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(measure(args.runs, args.tasks, args.slots), indent=1))


if __name__ == "__main__":
    main()
