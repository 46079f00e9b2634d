"""The agent's retry schedule (pure), and an agent whose master answers 503 (real HTTP on
loopback, the agent's own virtual clock): it backs off instead of hammering."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
import structlog
from aiohttp import web

from executor.agent import Agent, AgentConfig
from executor.backoff import Backoff
from executor.capacity import Amounts, NodeSample


def test_the_schedule_doubles_from_half_a_second_to_thirty():
    backoff = Backoff()
    assert [backoff.next(0.0) for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next(0.0) == 0.5


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999])
def test_jitter_only_shortens_and_by_at_most_a_fifth(draw):
    backoff = Backoff()
    for failures in range(1, 12):
        wait = backoff.next(draw)
        nominal = backoff.nominal(failures)
        assert nominal * 0.8 < wait <= nominal <= 30
        assert wait == pytest.approx(nominal * (1 - 0.2 * draw))


def test_two_agents_with_different_draws_do_not_retry_in_step():
    a, b = Backoff(), Backoff()
    rng_a, rng_b = random.Random(1), random.Random(2)
    waits_a = [a.next(rng_a.random()) for _ in range(8)]
    waits_b = [b.next(rng_b.random()) for _ in range(8)]
    assert all(x != y for x, y in zip(waits_a, waits_b, strict=True))


@pytest.mark.parametrize(("fields", "problem"), [
    ({"first": 0}, "first"), ({"first": 5, "longest": 1}, "longest"), ({"jitter": 1}, "jitter")])
def test_nonsense_schedules_are_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        Backoff(**fields)


# -- a real agent against a master that answers 503 ----------------------------------------


class IdleBackend:
    """A backend with nothing to run: registration is all this test exercises."""

    agent_id = ""
    on_status = staticmethod(lambda update: None)

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def adopt(self) -> list: return []
    async def launch(self, spec) -> None: ...
    async def kill(self, task_id: str, grace_seconds: float = 10.0) -> None: ...
    async def meter(self) -> list: return []
    async def reconcile(self) -> None: ...
    def allocated(self) -> Amounts: return Amounts()
    def used_ports(self) -> frozenset[int]: return frozenset()
    def running(self) -> list: return []
    def views(self) -> list: return []
    def tenants(self, usage) -> list: return []
    async def resize(self, task_id: str, limits: Amounts) -> bool: return False
    async def preempt(self, task_id: str, reason: str) -> None: ...


class FixedSampler:
    def sample(self) -> NodeSample:
        return NodeSample(machine=Amounts(2.0, 2048.0, 10_000.0), used=Amounts(0.1, 100.0, 0.0))


class VirtualTime:
    """The agent's clock and its waits: a wait moves the clock, no real time passes."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def clock(self) -> float:
        return self.now

    async def wait(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_an_agent_whose_master_answers_503_backs_off(tmp_path):
    attempts: list[float] = []
    vt = VirtualTime()

    async def register(request: web.Request) -> web.Response:
        attempts.append(vt.now)
        return web.json_response({"code": 503, "message": "the data dir is full",
                                  "errors": []}, status=503)
    app = web.Application()
    app.router.add_post("/agent/v1/register", register)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    agent = Agent(AgentConfig(master=f"127.0.0.1:{port}", hostname="n1", data_dir=tmp_path),
                  IdleBackend(), FixedSampler(), clock=vt.clock, wait=vt.wait,
                  rng=random.Random(7))
    window = 300.0
    try:
        with structlog.testing.capture_logs() as logs:
            run = asyncio.create_task(agent.run())
            while vt.now < 1_000.0 + window and not run.done():
                await asyncio.sleep(0.01)
            await agent.stop()
            await asyncio.wait_for(run, 10)
    finally:
        await runner.cleanup()
    # 0.5+1+2+4+8+16 = 31.5 s (25.2 s at the most jitter) for the first 7 tries, then
    # one per 24-30 s: at most 19 in 300 s. Today's 10 s cap makes about 40.
    in_window = [t for t in attempts if t < 1_000.0 + window]
    assert 8 <= len(in_window) <= 19, attempts
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(g <= 30 for g in gaps) and max(gaps) > 20
    assert gaps[:5] == pytest.approx([0.5, 1, 2, 4, 8], rel=0.21)
    failures = [e for e in logs if e["event"] == "master_registration_failed"]
    assert len(failures) >= len(attempts) - 1  # once per attempt, with the reason
    assert [e["attempt"] for e in failures] == list(range(1, len(failures) + 1))
    assert all("503" in e["reason"] and "the data dir is full" in e["reason"]
               for e in failures)
