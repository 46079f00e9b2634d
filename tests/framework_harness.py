"""Builders and an in-memory harness for the Charmander scheduler's pure-logic tests:
a scheduler on a virtual clock, offers made up on demand, and an obliging agent."""

from __future__ import annotations

from dataclasses import dataclass, field

from framework import commands as cmd
from framework import events as ev
from framework.scheduler import CharmanderScheduler
from framework.store import FrameworkStore
from offers.offer import Offer
from offers.states import TaskState
from offers.task import parse_task


def task(id="t", **fields):
    data = {"id": id, "dockerimage": "stress", "mem": 100, "cpus": 0.5}
    data.update(fields)
    return parse_task(data)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """A scheduler on a virtual clock plus a fake master that hands out offer ids."""

    scheduler: CharmanderScheduler
    clock: Clock
    issued: list = field(default_factory=list)
    _offer_seq: int = 0
    _task_seq: int = 0

    @classmethod
    def make(cls, **kwargs) -> Harness:
        clock = Clock()
        return cls(CharmanderScheduler(clock=clock, **kwargs), clock)

    @classmethod
    def recovered(cls, url: str, **kwargs) -> Harness:
        """A fresh scheduler fed what the store at `url` holds (migrated first), as a
        restarted framework is."""
        store = FrameworkStore(url)
        store.migrate()
        fresh = cls.make(**kwargs)
        for event in store.recover():
            fresh.send(event)
        store.close()
        return fresh

    def send(self, event) -> list:
        out = self.scheduler.handle(event)
        self.issued.extend(out)
        return out

    def submit(self, spec) -> str:
        self._task_seq += 1
        task_id = f"{spec.id}-{1_700_000_000_000_000_000 + self._task_seq}"
        self.send(ev.TaskSubmitted(task_id, spec))
        return task_id

    def offer(self, agent="a1", host=None, cpus=4.0, mem=4096.0, nodetype=None, ports=None):
        self._offer_seq += 1
        return Offer(id=f"o{self._offer_seq}", agent_id=agent, hostname=host or f"h-{agent}",
                     cpus=cpus, mem=mem, disk=10_000.0,
                     ports=ports or ((31000, 32000),),
                     attributes={"nodetype": nodetype} if nodetype else {})

    def offers(self, *offers) -> list:
        return self.send(ev.OffersReceived(tuple(offers)))

    def status(self, task_id, state, agent=None, reason=None):
        record = self.scheduler.task(task_id)
        agent = agent or (record.agent_id if record else None)
        return self.send(ev.TaskStatusChanged(task_id, TaskState(state), reason, agent))

    def run_launches(self, commands) -> list[str]:
        """Report every launched task RUNNING, as an obliging agent would."""
        ids = []
        for c in commands:
            if isinstance(c, cmd.Launch):
                for task_id, _ in c.tasks:
                    self.status(task_id, "RUNNING", agent=c.agent_id)
                    ids.append(task_id)
        return ids

    def states(self) -> dict[str, str]:
        return {r.task_id: str(r.state) for r in self.scheduler.tasks()}

    def running_on(self) -> list[tuple[str, str]]:
        return sorted((r.submission_id, r.agent_id) for r in self.scheduler.tasks()
                      if r.state is TaskState.RUNNING)


def launches(commands) -> list:
    return [c for c in commands if isinstance(c, cmd.Launch)]

