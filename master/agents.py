"""The agent side of the master: registration, liveness, capacity, task reports, metering.

An agent is believed only while it is heard from: every message refreshes `last_seen`,
and a message from an agent the master does not know, or has declared lost, is answered
with `AgentRejected`, so that the agent registers again rather than being half-trusted.
A re-registering agent's report of what runs is reconciled against the task registry:
what the master no longer wants is killed, what the agent no longer has is lost.
"""

from __future__ import annotations

from dataclasses import replace

from master import commands as C
from master import events as E
from master.reasons import DEFAULT_REASON, REASON_AGENT_REMOVED, REASON_AGENT_RESTARTED
from master.records import AgentRecord, evolve
from offers.states import IllegalTransition, TaskState


class AgentSide:
    """Handlers for agent messages; a mixin of `master.core.Master`.

    State: writes `agents`, `_heard`, `_on_host`, `tasks` (container ids, counted_by_agent),
    `_tasks_on`, `_dirty`; reads `frameworks`, `offers`, `_offers_on`, `_uncounted_on`.
    Uses `_set_state` (updates), `_count_total`, `_use_changed` and `unallocated`
    (allocation), `_drop_offers_on` (offer book).
    """

    def live_agents(self) -> list[AgentRecord]:
        return [a for a in self.agents.values() if not a.lost]

    def _on_register(self, ev: E.AgentRegister) -> list[object]:
        now = self.clock()
        before = self._on_host.get(ev.hostname)  # another live agent under this name?
        if before == ev.agent_id:
            before = None
        if before is not None:
            held = self.agents[before]
            if held.endpoint != ev.endpoint:
                # A hostname names one node to frameworks (constraints, where a job runs):
                # a second live agent under it would be a second node of the same name.
                return [C.AgentRejected(ev.agent_id or "", (
                    f"{ev.hostname!r} is registered by agent {before} at "
                    f"{held.endpoint or 'another endpoint'}; give this agent another "
                    "--hostname, or register after that agent has timed out"), "hostname")]
        agent_id = ev.agent_id or self._ids()
        old = self.agents.get(agent_id)
        out: list[object] = []
        if old is not None:
            out += self._drop_offers_on(agent_id, rescind=True)
            if self._on_host.get(old.hostname) == agent_id:
                del self._on_host[old.hostname]
        if before is not None:
            # A new agent at the address of one not yet timed out (its node restarted):
            # the old one is gone, as Mesos removes an agent when another registers at
            # its address.
            out += self._lose_agent(self.agents[before], now,
                                    f"a new agent ({agent_id}) registered at its address")
        self._on_host[ev.hostname] = agent_id
        agent = AgentRecord(
            id=agent_id, hostname=ev.hostname, endpoint=ev.endpoint,
            attributes=dict(ev.attributes), total=ev.total, spare=ev.spare,
            registered_at=old.registered_at if old else now, last_seen=now, lost=False,
            revocable=ev.revocable, elastic=dict(ev.elastic))
        self.agents[agent_id] = agent
        self._heard[agent_id] = now
        if old is not None and not old.lost:
            self._count_total(old.total, -1)
        self._count_total(agent.total, +1)
        self._tasks_on.setdefault(agent_id, set())
        out.append(C.SaveAgent(agent))
        for end in ev.ended:  # what the agent saw end while unheard: real ends, not LOST
            out += self._on_status(replace(end, agent_id=agent_id))

        keep, kill = [], []
        reported = set()
        for running in ev.running:
            reported.add(running.task_id)
            task = self.tasks.get(running.task_id)
            fw = self.frameworks.get(task.framework_id) if task else None
            if task is None or fw is None or fw.removed or task.agent_id != agent_id:
                kill.append(running.task_id)
            elif task.state is TaskState.LOST and not fw.partition_aware:
                # The framework was told LOST and has likely replaced it: no second copy.
                kill.append(running.task_id)
            elif task.state is TaskState.KILLING or (
                    task.state.terminal and task.state is not TaskState.LOST):
                kill.append(running.task_id)
            else:
                keep.append(running.task_id)
                state = running.state if running.state in (
                    TaskState.STARTING, TaskState.RUNNING) else TaskState.RUNNING
                out += self._set_state(task, state, source="SOURCE_AGENT",
                                       message="agent re-registered with this task running",
                                       container_id=running.container_id, counted=True)
        for tid in sorted(self._tasks_on.get(agent_id, set()) - reported):
            task = self.tasks[tid]
            gone = TaskState.KILLED if task.state is TaskState.KILLING else TaskState.LOST
            out += self._set_state(
                task, gone, reason=REASON_AGENT_RESTARTED,
                message=f"agent {ev.hostname} re-registered without this task")
        self._dirty.add(agent_id)
        out.append(C.AgentAccepted(agent_id, tuple(keep), tuple(kill),
                                   self.agent_heartbeat_seconds))
        return out

    def last_seen(self, agent_id: str) -> float:
        """When the agent last sent anything (its record's `last_seen` is only as fresh
        as the record: every message of every agent passes here, and sets only this)."""
        heard = self._heard.get(agent_id)
        return heard if heard is not None else self.agents[agent_id].last_seen

    def _live(self, agent_id: str) -> AgentRecord | None:
        agent = self.agents.get(agent_id)
        if agent is None or agent.lost:
            return None
        self._heard[agent_id] = self.clock()
        return agent

    def _rejected(self, agent_id: str) -> list[object]:
        known = agent_id in self.agents
        return [C.AgentRejected(agent_id, "agent was declared lost; register again" if known
                                else "unknown agent; register first")]

    def _on_heartbeat(self, ev: E.AgentHeartbeat) -> list[object]:
        heard = self._heard  # holds the live agents: `_live` without reading the record
        if ev.agent_id not in heard:
            return self._rejected(ev.agent_id)
        heard[ev.agent_id] = self.clock()
        return []

    def _on_capacity(self, ev: E.AgentCapacity) -> list[object]:
        agent = self._live(ev.agent_id)
        if agent is None:
            return self._rejected(ev.agent_id)
        agent_id = agent.id
        self.agents[agent_id] = evolve(agent, total=ev.total, spare=ev.spare,
                                       last_seen=self._heard[agent_id],
                                       revocable=ev.revocable, elastic=ev.elastic)
        if ev.total is not agent.total and ev.total != agent.total:
            self._count_total(agent.total, -1)
            self._count_total(ev.total, +1)
        uncounted = self._uncounted_on.get(agent_id)
        if uncounted:
            tasks = self.tasks
            for tid in list(uncounted):
                task = tasks[tid]
                if task.state is not TaskState.STAGING:  # started: this report counts it
                    counted = tasks[tid] = evolve(task, counted_by_agent=True)
                    self._use_changed(task, counted)
        self._dirty.add(agent_id)
        # An agent that shrank below what is out in offers: take those offers back.
        if self._offers_on.get(agent_id) and not self.unallocated(agent_id).contains(
                self.offered(agent_id)):
            return self._drop_offers_on(agent_id, rescind=True)
        return []

    def _on_status(self, ev: E.AgentStatus) -> list[object]:
        heard = self._heard  # as in `_on_heartbeat`
        if ev.agent_id not in heard:
            return self._rejected(ev.agent_id)
        heard[ev.agent_id] = self.clock()
        task = self.tasks.get(ev.task_id)
        if ev.limits is not None and task is not None and task.agent_id == ev.agent_id:
            self._limits_changed(ev.agent_id, ev.task_id, ev.limits)
        elif ev.state.terminal and ev.task_id in self.limits:
            self._limits_changed(ev.agent_id, ev.task_id, None)
        if task is None or task.agent_id != ev.agent_id:
            if ev.state.terminal:
                return []
            return [C.KillOnAgent(ev.agent_id, ev.task_id, self.kill_grace_seconds)]
        reason, message = ev.reason, ev.message
        if reason and not reason.startswith("REASON_"):
            message, reason = (f"{reason}: {message}" if message else reason), None
        if reason is None:
            reason = DEFAULT_REASON.get(ev.state)
        if ev.exit_code is not None and ev.state is TaskState.FAILED and (
                not message or "exit" not in message):
            message = f"{message + '; ' if message else ''}exit code {ev.exit_code}"
        try:
            return self._set_state(task, ev.state, reason=reason, message=message,
                                   source="SOURCE_EXECUTOR", container_id=ev.container_id,
                                   exit_code=ev.exit_code, healthy=ev.healthy)
        except IllegalTransition:
            # The agent reports something the table forbids (e.g. RUNNING after KILLED):
            # keep what we have; the agent's bug must not corrupt the registry.
            return []

    def _on_metering(self, ev: E.AgentMetering) -> list[object]:
        if self._live(ev.agent_id) is None:
            return self._rejected(ev.agent_id)
        tasks = self.tasks
        for sample in ev.samples:
            if sample.limits is not None:
                task = tasks.get(sample.task_id)
                if task is not None and task.agent_id == ev.agent_id \
                        and not task.state.terminal:
                    self._limits_changed(ev.agent_id, sample.task_id, sample.limits)
        return [C.RecordMetering(ev.agent_id, ev.samples, ev.node)] \
            if ev.samples or ev.node else []

    def _lose_agent(self, agent: AgentRecord, now: float, why: str | None = None
                    ) -> list[object]:
        last_seen = self.last_seen(agent.id)
        self._heard.pop(agent.id, None)
        if self._on_host.get(agent.hostname) == agent.id:
            del self._on_host[agent.hostname]
        self.agents[agent.id] = replace(agent, lost=True, last_seen=last_seen)
        self._count_total(agent.total, -1)
        out: list[object] = [C.SaveAgent(self.agents[agent.id])]
        out += self._drop_offers_on(agent.id, rescind=True)
        if why is None:
            why = (f"no message for {now - last_seen:.1f}s "
                   f"(agent_timeout {self.agent_timeout:g}s)")
        for tid in sorted(self._tasks_on.get(agent.id, set())):
            out += self._set_state(
                self.tasks[tid], TaskState.LOST, reason=REASON_AGENT_REMOVED,
                message=f"agent {agent.hostname} ({agent.id}) lost: {why}")
        for fw in self.frameworks.values():
            if fw.active:
                out.append(C.SendFailure(fw.id, agent.id))
        return out

    def _lose_silent_agents(self, now: float) -> list[object]:
        """Declare lost every agent not heard from for `agent_timeout`."""
        out: list[object] = []
        timeout = self.agent_timeout
        heard = self._heard
        if not heard or now - min(heard.values()) < timeout:
            return out  # the usual sweep: everyone was heard from lately
        silent = {a for a, at in heard.items() if now - at >= timeout}
        if silent:  # in the registry's order
            for agent in [a for a in self.agents.values() if a.id in silent]:
                out += self._lose_agent(agent, now)
        return out
