"""The real master core and the real framework core wired in memory (`simulator.wiring`,
the same wiring the simulator runs), a recording executor for agents, a paused clock.

Nothing here decides anything: offers, filters, launches and losses are the cores' own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from framework import events as ev
from framework.scheduler import CharmanderScheduler
from master import events as E
from master.core import Master
from offers.launch import LaunchSpec
from offers.states import TaskState
from simulator.wiring import Wiring
from tests.master_harness import PausedClock, res

FRAMEWORK_ID = "fw"


@dataclass
class RecordingExecutor:
    """Agents that run what they are told at once (RUNNING) and remember it."""

    launched: list[tuple[str, LaunchSpec]] = field(default_factory=list)
    killed: list[tuple[str, str]] = field(default_factory=list)

    def launch(self, agent_id: str, spec: LaunchSpec) -> list[object]:
        self.launched.append((agent_id, spec))
        return [E.AgentStatus(agent_id, spec.task_id, TaskState.RUNNING,
                              container_id=f"c-{spec.task_id}")]

    def kill(self, agent_id: str, task_id: str) -> list[object]:
        self.killed.append((agent_id, task_id))
        return [E.AgentStatus(agent_id, task_id, TaskState.KILLED)]

    def where(self, name: str) -> list[str]:
        """The agents an instance of the user's task `name` was launched on, in order."""
        return [agent for agent, spec in self.launched if spec.name == name]


@dataclass
class Cluster:
    clock: PausedClock
    master: Master
    scheduler: CharmanderScheduler
    executor: RecordingExecutor
    wiring: Wiring
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def make(cls, *, agent_timeout: float = 15.0, **scheduler_kw) -> Cluster:
        clock = PausedClock()
        ids, uuids = itertools.count(1), itertools.count(1)
        master = Master(clock, agent_timeout=agent_timeout, ids=lambda: f"o{next(ids)}",
                        uuids=lambda: f"u{next(uuids)}")
        scheduler = CharmanderScheduler(clock=clock, **scheduler_kw)
        executor = RecordingExecutor()
        wiring = Wiring(master, scheduler, executor, FRAMEWORK_ID)
        wiring.subscribe()
        return cls(clock, master, scheduler, executor, wiring)

    def add_agent(self, agent_id: str, cpus: float = 4.0, mem: float = 4096.0,
                  nodetype: str = "lab") -> None:
        r = res(cpus, mem, 1000.0, "31000-31009")
        self.wiring.to_master(E.AgentRegister(agent_id, f"host-{agent_id}", "",
                                              {"nodetype": nodetype}, r, r))

    def submit(self, spec) -> str:
        task_id = f"{spec.id}-{next(self._seq)}"
        self.wiring.to_framework(ev.TaskSubmitted(task_id, spec))
        return task_id

    def allocate(self) -> int:
        """One allocation; how many offers it sent the framework."""
        before = self.wiring.counts["offers"]
        self.wiring.to_master(E.Allocate())
        return self.wiring.counts["offers"] - before

    def advance(self, seconds: float, *, heard_from: tuple[str, ...] = ()) -> None:
        """Time passes; the agents in `heard_from` heartbeat; both cores tick."""
        self.clock.advance(seconds)
        for agent_id in heard_from:
            self.wiring.to_master(E.AgentHeartbeat(agent_id))
        self.wiring.to_master(E.Tick())
        self.wiring.to_framework(ev.Tick())

    def end(self, task_id: str, state: TaskState = TaskState.FINISHED) -> None:
        agent_id = self.master.tasks[task_id].agent_id
        self.wiring.to_master(E.AgentStatus(agent_id, task_id, state))

    def states(self, name: str) -> list[tuple[str, str | None]]:
        """(state, agent) of every instance the framework holds of the user's task."""
        return sorted((r.state.value, r.agent_id) for r in self.scheduler.tasks()
                      if r.spec.id == name)
