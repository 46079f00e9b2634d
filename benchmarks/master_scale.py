"""The master at scale: many lightweight agents over real HTTP + websockets on loopback.

The master runs as its own process (`berth master`, SQLite in a temp dir) so its RSS is
its own; the simulated agents and one subscribed framework are asyncio clients in this
process. Measured, at `agents` and at a `baseline_agents` cluster in the same run:

- offer cycle: one agent reports more spare capacity -> the OFFERS event naming it
  reaches the framework (median and p90 over `trials`);
- full cycle: every agent reports more spare at once -> offers for all of them arrived;
- master RSS once everyone is connected and offered.

`python -m benchmarks.master_scale [--agents N] [--baseline-agents M] [--trials K]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import psutil

from offers.protocol import mesos as mj

ROOT = Path(__file__).resolve().parent.parent
TARGET_CYCLE_MS = 50.0
TARGET_RSS_MIB = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Framework:
    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url = session, url
        self.offered_agents: asyncio.Queue[set[str]] = asyncio.Queue()
        self.framework_id = ""
        self.stream_id = ""
        self._reader: asyncio.Task | None = None
        self._response: aiohttp.ClientResponse | None = None

    async def subscribe(self) -> None:
        self._response = await self.session.post(
            f"{self.url}/api/v1/scheduler", json=mj.subscribe_call("bench"),
            timeout=aiohttp.ClientTimeout(total=None))
        self.stream_id = self._response.headers["Mesos-Stream-Id"]
        subscribed = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(subscribed))
        self.framework_id = await subscribed

    async def _read(self, subscribed: asyncio.Future) -> None:
        decoder = mj.RecordIODecoder()
        with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
            async for chunk in self._response.content.iter_any():
                for event in decoder.feed(chunk):
                    if event["type"] == "SUBSCRIBED":
                        subscribed.set_result(event["subscribed"]["framework_id"]["value"])
                    elif event["type"] == "OFFERS":
                        self.offered_agents.put_nowait(
                            {o["agent_id"]["value"] for o in event["offers"]["offers"]})

    async def offers_for(self, agents: set[str]) -> None:
        """Wait until offers naming every agent in `agents` have arrived."""
        missing = set(agents)
        while missing:
            missing -= await self.offered_agents.get()

    def drain(self) -> None:
        while not self.offered_agents.empty():
            self.offered_agents.get_nowait()

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._response is not None:
            self._response.close()


class _Agent:
    """Registers, keeps a websocket open, heartbeats, reports capacity. Runs nothing."""

    def __init__(self, session: aiohttp.ClientSession, url: str, index: int):
        self.session, self.url, self.index = session, url, index
        self.agent_id = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.spare_cpus = 4.0
        self._beat: asyncio.Task | None = None

    def _resources(self, cpus: float) -> dict[str, Any]:
        return {"cpus": cpus, "mem": 8192, "disk": 50000, "ports": "31000-31999"}

    async def register(self) -> None:
        body = {"agent_id": None, "hostname": f"sim-{self.index:05d}",
                "endpoint": f"http://sim-{self.index}:5051",
                "attributes": {"nodetype": "lab" if self.index % 2 else "analytics"},
                "total": self._resources(1000.0), "spare": self._resources(self.spare_cpus),
                "running": []}
        async with self.session.post(f"{self.url}/agent/v1/register", json=body) as resp:
            answer = await resp.json()
        self.agent_id = answer["agent_id"]
        self.ws = await self.session.ws_connect(
            f"{self.url}/agent/v1/stream?agent_id={self.agent_id}", heartbeat=None)
        self._beat = asyncio.create_task(self._heartbeat(answer["heartbeat_seconds"]))

    async def _heartbeat(self, seconds: float) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(seconds)
                await self.ws.send_str('{"type":"HEARTBEAT"}')

    async def grow(self, cpus: float = 0.5) -> None:
        self.spare_cpus += cpus
        await self.ws.send_json({"type": "CAPACITY", "total": self._resources(1000.0),
                                 "spare": self._resources(self.spare_cpus)})

    async def close(self) -> None:
        if self._beat:
            self._beat.cancel()
        if self.ws is not None:
            await self.ws.close()


async def _measure(n_agents: int, trials: int, full_cycles: int) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="berth-bench-master-") as data_dir:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "--log-level", "warning", "master",
             "--host", "127.0.0.1", "--port", str(port), "--data-dir", data_dir,
             "--offer-timeout", "3600", "--agent-timeout", "120"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        connector = aiohttp.TCPConnector(limit=0)
        session = aiohttp.ClientSession(connector=connector)
        agents: list[_Agent] = []
        framework = _Framework(session, url)
        try:
            await _wait_until_up(session, url, proc)
            await framework.subscribe()
            started = time.perf_counter()
            agents = [_Agent(session, url, i) for i in range(n_agents)]
            gate = asyncio.Semaphore(50)

            async def register(agent: _Agent) -> None:
                async with gate:
                    await agent.register()

            await asyncio.gather(*(register(a) for a in agents))
            await framework.offers_for({a.agent_id for a in agents})
            register_seconds = time.perf_counter() - started

            cycles = []
            for i in range(trials):
                agent = agents[(i * 7919) % n_agents]
                framework.drain()
                t0 = time.perf_counter()
                await agent.grow()
                await framework.offers_for({agent.agent_id})
                cycles.append((time.perf_counter() - t0) * 1000)

            full = []
            for _ in range(full_cycles):
                framework.drain()
                t0 = time.perf_counter()
                await asyncio.gather(*(a.grow() for a in agents))
                await framework.offers_for({a.agent_id for a in agents})
                full.append((time.perf_counter() - t0) * 1000)

            rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        finally:
            await framework.close()
            await asyncio.gather(*(a.close() for a in agents), return_exceptions=True)
            await session.close()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    cycles.sort()
    return {
        "agents": n_agents,
        "offer_cycle_ms": {"median": round(statistics.median(cycles), 3),
                           "p90": round(cycles[int(0.9 * (len(cycles) - 1))], 3),
                           "max": round(cycles[-1], 3), "trials": len(cycles)},
        "full_cycle_ms": {"median": round(statistics.median(full), 3),
                          "runs": len(full)},
        "register_and_first_offers_seconds": round(register_seconds, 3),
        "master_rss_mib": round(rss, 1),
    }


async def _wait_until_up(session: aiohttp.ClientSession, url: str,
                         proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"master exited: {proc.stderr.read().decode()[-2000:]}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{url}/health") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError("master did not answer /health within 60 s")


def run(agents: int = 1000, baseline_agents: int = 10, trials: int = 30,
        full_cycles: int = 3, sweep: tuple[int, ...] = (100,)) -> dict[str, Any]:
    """Measure the master at `baseline_agents`, each size in `sweep` between, and `agents`;
    return one JSON-able dict (`scaled` vs `baseline`, plus the whole `sweep`)."""
    baseline = asyncio.run(_measure(baseline_agents, trials, full_cycles))
    middle = [asyncio.run(_measure(n, trials, full_cycles))
              for n in sweep if baseline_agents < n < agents]
    scaled = asyncio.run(_measure(agents, trials, full_cycles))
    cycle = scaled["offer_cycle_ms"]["median"]
    return {
        "benchmark": "master_scale",
        "scaled": scaled,
        "baseline": baseline,
        "sweep": [{"agents": m["agents"], "offer_cycle_ms": m["offer_cycle_ms"]["median"],
                   "full_cycle_ms": m["full_cycle_ms"]["median"],
                   "master_rss_mib": m["master_rss_mib"]} for m in (baseline, *middle, scaled)],
        "offer_cycle_ratio": round(cycle / max(baseline["offer_cycle_ms"]["median"], 1e-9), 2),
        "full_cycle_ratio": round(scaled["full_cycle_ms"]["median"]
                                  / max(baseline["full_cycle_ms"]["median"], 1e-9), 2),
        "rss_ratio": round(scaled["master_rss_mib"] / baseline["master_rss_mib"], 2),
        "targets": {"offer_cycle_ms": TARGET_CYCLE_MS, "master_rss_mib": TARGET_RSS_MIB},
        "meets_targets": cycle < TARGET_CYCLE_MS
        and scaled["master_rss_mib"] < TARGET_RSS_MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--baseline-agents", type=int, default=10)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--full-cycles", type=int, default=3)
    parser.add_argument("--sweep", type=int, nargs="*", default=[100],
                        help="Cluster sizes measured between the baseline and --agents.")
    args = parser.parse_args()
    print(json.dumps(run(args.agents, args.baseline_agents, args.trials, args.full_cycles,
                         tuple(args.sweep))))


if __name__ == "__main__":
    main()
