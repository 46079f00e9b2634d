"""The framework core and the master core wired together in memory, as berth's HTTP
drivers (framework/driver.py, master/driver.py) wire them over the network.

The translation is the same: a framework `Launch` is an ACCEPT with one LAUNCH, a
`Decline` a DECLINE with its refuse filter, and so on; the master's OFFERS, RESCIND,
UPDATE and FAILURE become the framework's events, and every acknowledgeable update is
acknowledged once the framework has handled it. What the master tells agents goes to an
`Agents` backend (simulated nodes, or a recording executor in the tests), whose answers
are master events again. Everything is handled in the order it happened, one at a time;
no clock is read here: the cores read the one they were given.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

import numpy as np

from framework import commands as cmd
from framework import events as ev
from master import commands as C
from master import events as E
from master.core import Master
from master.reasons import REASON_INVALID_OFFERS, REASON_TASK_INVALID
from master.records import OfferRecord, StatusUpdate
from offers.launch import LaunchSpec
from offers.offer import OfferBatch
from offers.resource_vector import Resources, ports_of
from offers.task import TaskSpec
from simulator.frozen import maker

# Reasons the master gives a launch it refused: in a berth framework, a scheduler bug.
REFUSED_LAUNCH = frozenset({REASON_TASK_INVALID, REASON_INVALID_OFFERS})

# The master commands the wiring carries out (the two most frequent by name).
SendUpdate, LaunchOnAgent = C.SendUpdate, C.LaunchOnAgent
_CARRIED = frozenset({SendUpdate, LaunchOnAgent, C.KillOnAgent, C.SendOffers, C.SendRescind,
                      C.SendFailure, C.SendSubscribed})

# The records made for every launch and update, each of all its fields in order.
_resources = maker(Resources)
_task_launch = maker(E.TaskLaunch)
_accept = maker(E.Accept)
_acknowledge = maker(E.Acknowledge)
_status_changed = maker(ev.TaskStatusChanged)


class Agents(Protocol):
    """Where the master's agent commands are carried out; each answer is a list of
    master events (what the agents report back)."""

    def launch(self, agent_id: str, spec: LaunchSpec) -> list[object]: ...

    def kill(self, agent_id: str, task_id: str) -> list[object]: ...


class FrameworkCore(Protocol):
    def handle(self, event: object) -> list[object]: ...


# -- framework commands -> master events ----------------------------------------------------


def task_launch(task_id: str, spec: TaskSpec, agent_id: str, framework_id: str) -> E.TaskLaunch:
    """One TaskInfo of a LAUNCH: the spec's cpus, mem, disk and host ports."""
    ports = ports_of(spec.host_ports) if spec.ports else ()
    return _task_launch(task_id, spec.id, agent_id,
                        _resources(spec.cpus, spec.mem, spec.disk, ports),
                        LaunchSpec.from_task(task_id, framework_id, spec))


def master_event(command: object, framework_id: str) -> object | None:
    """The scheduler call a framework command is; None for what is not a call."""
    if isinstance(command, cmd.Launch):
        return _accept(framework_id, command.offer_ids,
                       tuple(task_launch(task_id, spec, command.agent_id, framework_id)
                             for task_id, spec in command.tasks), None)
    if isinstance(command, cmd.Decline):
        return E.Decline(framework_id, command.offer_ids, command.refuse_seconds)
    if isinstance(command, cmd.Kill):
        return E.Kill(framework_id, command.task_id, command.agent_id)
    if isinstance(command, cmd.Revive):
        return E.Revive(framework_id)
    if isinstance(command, cmd.Suppress):
        return E.Suppress(framework_id)
    if isinstance(command, cmd.Reconcile):
        return E.Reconcile(framework_id, command.tasks)
    return None  # KillMatched: an answer to the framework's own caller


# -- master commands -> framework events ----------------------------------------------------


def offers_event(offers: tuple[OfferRecord, ...]) -> ev.OffersReceived:
    """One OFFERS event as columns (`OfferBatch`): no object per offer on the way. (An
    `OfferRecord` is a tuple: its columns come from one transpose.)"""
    ids, _fids, agent_ids, hostnames, attributes, resources = list(zip(*offers, strict=True))[:6]
    rows = np.array([(r.cpus, r.mem, r.disk) for r in resources],
                    dtype=np.float64).reshape(len(offers), 3)
    return ev.OffersReceived(OfferBatch(ids, agent_ids, hostnames, rows,
                                        [r.ports for r in resources], attributes))


def revocable_offers_event(offers: tuple[OfferRecord, ...]) -> ev.OffersReceived:
    """`offers_event` with each offer's revocable cpus and mem (what elasticity took back
    from elastic tasks, for elastic work only), as the live framework reads them."""
    event = offers_event(offers)
    if any(o.revocable.cpus or o.revocable.mem for o in offers):
        revocable = np.array([(o.revocable.cpus, o.revocable.mem) for o in offers],
                             dtype=np.float64)
        event = ev.OffersReceived(replace(event.offers, revocable=revocable))
    return event


def status_event(status: StatusUpdate) -> ev.TaskStatusChanged:
    """An UPDATE as the framework reads it: the message for people, the code kept."""
    reason = status.message or status.reason
    if status.message and status.reason and status.reason not in status.message:
        reason = f"{status.message} ({status.reason})"
    return _status_changed(status.task_id, status.state, reason, status.agent_id, None,
                           status.container_id, status.reason, status.exit_code,
                           status.healthy)


class Wiring:
    """One master core, one framework core (subscribed as `framework_id`) and the agents.

    `to_master` and `to_framework` hand an event in and carry out everything that
    follows from it before returning. `refused` is told of every launch the master
    refused (an update with a `REFUSED_LAUNCH` reason); `counts` says how many calls
    and events went each way. `revocable`: offers carry what was taken back from elastic
    tasks (the agents are elastic).
    """

    def __init__(self, master: Master, framework: FrameworkCore, agents: Agents,
                 framework_id: str,
                 refused: Callable[[StatusUpdate], None] | None = None,
                 revocable: bool = False) -> None:
        self.master = master
        self.framework = framework
        self.agents = agents
        self.framework_id = framework_id
        self.refused = refused
        self._offers_event = revocable_offers_event if revocable else offers_event
        self.framework_events = 0
        self.counts = {"offers": 0, "offer_batches": 0, "accepts": 0, "declines": 0,
                       "kills": 0, "updates": 0}
        self._pending: deque[tuple[bool, object]] = deque()  # (to the master?, event)
        self._running = False

    def subscribe(self, stream_id: str = "sim-stream") -> None:
        self.to_master(E.Subscribe(stream_id, self.framework_id, name=self.framework_id))

    def to_master(self, event: object) -> None:
        self.to_master_all((event,))

    def to_framework(self, event: object) -> None:
        self._pending.append((False, event))
        self._run()

    def to_master_all(self, events: Iterable[object]) -> None:
        """Hand the master these events in order, then carry out what follows from them.

        From a standing start the master takes them one after another (what follows from
        each queues behind the rest, as it would in the loop); from inside a handler they
        queue behind what is already pending.
        """
        if self._running or self._pending:
            self._pending.extend((True, e) for e in events)
            self._run()
            return
        self._running = True
        handle, rest = self.master.handle, iter(events)
        try:
            for event in rest:
                commands = handle(event)
                if commands:
                    self._carry_out(commands)
        except BaseException:  # what was not handled waits, as it would in the loop
            self._pending.extendleft((True, e) for e in reversed(list(rest)))
            raise
        finally:
            self._running = False
        self._run()

    def _run(self) -> None:
        if self._running:  # called from inside a handler: the loop below gets to it
            return
        self._running = True
        pending = self._pending
        master, framework = self.master.handle, self.framework.handle
        fid = self.framework_id
        try:
            while pending:
                to_master, event = pending.popleft()
                if to_master:
                    commands = master(event)
                    if commands:
                        self._carry_out(commands)
                    continue
                self.framework_events += 1
                for command in framework(event):
                    call = master_event(command, fid)
                    if call is not None:
                        self._count_call(call)
                        pending.append((True, call))
        finally:
            self._running = False

    def _count_call(self, call: object) -> None:
        counts = self.counts
        if isinstance(call, E.Accept):
            counts["accepts"] += 1
        elif isinstance(call, E.Decline):
            counts["declines"] += 1
        elif isinstance(call, E.Kill):
            counts["kills"] += 1

    def _carry_out(self, commands: list[object]) -> None:
        pending, fid, counts = self._pending, self.framework_id, self.counts
        for c in commands:
            kind = type(c)
            if kind not in _CARRIED:  # persist commands, agent (re)registration answers,
                continue  # stream closes: nothing to carry out in memory
            if kind is SendUpdate:
                status = c.status
                counts["updates"] += 1
                if status.reason in REFUSED_LAUNCH and self.refused is not None:
                    self.refused(status)
                pending.append((False, status_event(status)))
                if status.uuid is not None:  # acknowledged once the framework has it
                    pending.append((True, _acknowledge(fid, status.agent_id, status.task_id,
                                                       status.uuid)))
            elif kind is LaunchOnAgent:
                for e in self.agents.launch(c.agent_id, c.spec):
                    pending.append((True, e))
            elif kind is C.KillOnAgent:
                for e in self.agents.kill(c.agent_id, c.task_id):
                    pending.append((True, e))
            elif kind is C.SendOffers:
                counts["offers"] += len(c.offers)
                counts["offer_batches"] += 1
                pending.append((False, self._offers_event(c.offers)))
            elif kind is C.SendRescind:
                pending.append((False, ev.OfferRescinded(c.offer_id)))
            elif kind is C.SendFailure:
                pending.append((False, ev.AgentLost(c.agent_id)))
            elif kind is C.SendSubscribed:
                pending.append((False, ev.Subscribed(c.framework_id)))
