"""Task states and the status updates they owe: transitions, kills, acks, reconciliation.

Every change of a task's state goes through `_set_state`, which checks it against the
transition table (`offers.states`), persists it and, unless the task is only staging,
sends its framework an update with a fresh uuid. An update is re-sent with backoff until
acknowledged; only the newest per task is, since it supersedes the older ones.
"""

from __future__ import annotations

from master import commands as C
from master import events as E
from master.reasons import REASON_RECONCILIATION, REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
from master.records import StatusUpdate, TaskRecord, evolve, make
from offers.states import TERMINAL, TaskState, check_transition


class TaskUpdates:
    """Task transitions and status-update tracking; a mixin of `master.core.Master`.

    State: writes `tasks`, `_tasks_on`, `_unacked`, `_latest_uuid`, `_dirty`; reads
    `frameworks`, `status_retry_seconds`, `kill_grace_seconds`. Uses `_hold` (allocation)
    and `_complete` (a task whose end was acknowledged, or told to no one, is complete).
    """

    def pending_acks(self, framework_id: str | None = None) -> list[StatusUpdate]:
        return [u for u, _, _ in self._unacked.values()
                if framework_id is None or u.framework_id == framework_id]

    def _on_kill(self, ev: E.Kill) -> list[object]:
        task = self.task(ev.task_id)
        if task is None or task.framework_id != ev.framework_id:
            return [self._one_off_update(ev.framework_id, ev.task_id, ev.agent_id,
                                         TaskState.LOST, REASON_RECONCILIATION,
                                         "task is unknown to the master", track=False)]
        if task.state.terminal:
            return [C.SendUpdate(ev.framework_id, self._status_of(task))]
        return self._kill(task, "killed by the framework")

    def _kill(self, task: TaskRecord, message: str) -> list[object]:
        out: list[object] = []
        if task.state is not TaskState.KILLING:
            fw = self.frameworks.get(task.framework_id)
            if fw is not None and "TASK_KILLING_STATE" in fw.capabilities:
                out += self._set_state(task, TaskState.KILLING, message=message)
            else:  # the framework cannot read TASK_KILLING: record it, tell no one
                check_transition(task.state, TaskState.KILLING)
                now = self.clock()
                self._forget_unallocated(task.agent_id)
                self.tasks[task.id] = evolve(task, state=TaskState.KILLING, message=message,
                                              updated_at=now)
                out.append(C.SaveTask(self.tasks[task.id]))
                out.append(C.RecordStatus(task.id, TaskState.KILLING.value, None, message, now))
        out.append(C.KillOnAgent(task.agent_id, task.id, self.kill_grace_seconds))
        return out

    def _on_acknowledge(self, ev: E.Acknowledge) -> list[object]:
        held = self._unacked.get(ev.uuid)
        if held is not None and held[0].framework_id == ev.framework_id \
                and held[0].task_id == ev.task_id:
            del self._unacked[ev.uuid]
            return self._acknowledged(ev.task_id)
        return []

    def _on_reconcile(self, ev: E.Reconcile) -> list[object]:
        fid = ev.framework_id
        out: list[object] = []
        if not ev.tasks:
            for task in self.tasks.values():
                if task.framework_id == fid and not task.state.terminal:
                    out.append(C.SendUpdate(fid, self._status_of(task)))
            return out
        for task_id, agent_id in ev.tasks:
            task = self.task(task_id)
            if task is not None and task.framework_id == fid:
                out.append(C.SendUpdate(fid, self._status_of(task)))
            else:
                out.append(self._one_off_update(fid, task_id, agent_id, TaskState.LOST,
                                                REASON_RECONCILIATION,
                                                "task is unknown to the master", track=False))
        return out

    def _set_state(self, task: TaskRecord, state: TaskState, *, reason: str | None = None,
                   message: str | None = None, source: str = "SOURCE_MASTER",
                   container_id: str | None = None, exit_code: int | None = None,
                   counted: bool = False, healthy: bool | None = None) -> list[object]:
        """Move a task through the transition table; persist and tell its framework.
        A change of health alone (`healthy`) is news too, as in Mesos."""
        check_transition(task.state, state)
        now = self.clock()
        if state == task.state and healthy is not None and healthy != task.healthy:
            return self._health_changed(task, healthy, message, container_id)
        if state == task.state:
            # A repeat: remember what is new (container id, agent has counted it), tell no one.
            quiet = evolve(task, container_id=container_id or task.container_id,
                            counted_by_agent=task.counted_by_agent or counted)
            if quiet != task:
                self.tasks[task.id] = quiet
                self._use_changed(task, quiet)
                return [C.SaveTask(quiet)] if quiet.container_id != task.container_id else []
            return []
        updated = evolve(
            task, state=state, reason=reason, message=message, updated_at=now,
            container_id=container_id or task.container_id,
            exit_code=exit_code if exit_code is not None else task.exit_code,
            counted_by_agent=task.counted_by_agent or counted,
            healthy=healthy if healthy is not None else task.healthy)
        task_id, agent_id = task.id, task.agent_id
        self.tasks[task_id] = updated
        ends = state in TERMINAL
        if ends != (task.state in TERMINAL):
            self._hold_resources(task.framework_id, task.resources, -1 if ends else +1)
        on_agent = self._tasks_on.get(agent_id)
        if on_agent is None:
            on_agent = self._tasks_on[agent_id] = set()
        if ends:
            on_agent.discard(task_id)
        else:
            on_agent.add(task_id)
        self._use_changed(task, updated)
        self._dirty.add(agent_id)
        out: list[object] = [C.SaveTask(updated), make(C.RecordStatus, {
            "task_id": task_id, "state": state._value_, "reason": reason, "message": message,
            "at": now})]
        fw = self.frameworks.get(task.framework_id)
        if fw is not None and not fw.removed and state is not TaskState.STAGING:
            update = self._status_of(updated, uuid=self._uuids(), source=source)
            self._track(update)
            if fw.active:
                out.append(C.SendUpdate(fw.id, update))
        elif ends and self._may_complete(updated):  # no one to acknowledge its end
            out += self._complete(updated)
        return out

    def _health_changed(self, task: TaskRecord, healthy: bool, message: str | None,
                        container_id: str | None) -> list[object]:
        """The same state, healthy or not now: kept, recorded and told to its framework
        with Mesos's reason for it."""
        updated = evolve(task, healthy=healthy, container_id=container_id or task.container_id,
                         updated_at=self.clock())
        self.tasks[task.id] = updated
        self._use_changed(task, updated)
        out: list[object] = [C.SaveTask(updated)]
        fw = self.frameworks.get(task.framework_id)
        if fw is not None and not fw.removed:
            update = self._status_of(updated, uuid=self._uuids(), source="SOURCE_EXECUTOR",
                                     reason=REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)
            if message:
                update = evolve(update, message=message)
            self._track(update)
            if fw.active:
                out.append(C.SendUpdate(fw.id, update))
        return out

    def _status_of(self, task: TaskRecord, uuid: str | None = None,
                   reason: str | None = None, source: str = "SOURCE_MASTER") -> StatusUpdate:
        return make(StatusUpdate, {
            "task_id": task.id, "framework_id": task.framework_id, "agent_id": task.agent_id,
            "state": task.state,
            "reason": reason or task.reason or (REASON_RECONCILIATION if uuid is None else None),
            "message": task.message, "source": source, "timestamp": task.updated_at,
            "uuid": uuid, "container_id": task.container_id, "exit_code": task.exit_code,
            "healthy": task.healthy})

    def _one_off_update(self, framework_id: str, task_id: str, agent_id: str | None,
                        state: TaskState, reason: str, message: str,
                        track: bool = True) -> C.SendUpdate:
        """An update about a task the registry does not hold (refused launch, unknown id)."""
        uuid = self._uuids() if track else None
        update = StatusUpdate(task_id=task_id, framework_id=framework_id, agent_id=agent_id,
                              state=state, reason=reason, message=message,
                              timestamp=self.clock(), uuid=uuid)
        if uuid is not None:
            self._track(update)
        return C.SendUpdate(framework_id, update)

    def _track(self, update: StatusUpdate) -> None:
        uuid = update.uuid
        assert uuid is not None
        latest = self._latest_uuid
        previous = latest.get(update.task_id)
        if previous is not None:
            self._unacked.pop(previous, None)  # superseded: only the newest is re-sent
        latest[update.task_id] = uuid
        retry = self.status_retry_seconds
        self._unacked[uuid] = (update, self.clock() + retry, retry)

    def _retry_updates(self, now: float) -> list[object]:
        """Re-send the unacknowledged updates that are due, to connected frameworks."""
        out: list[object] = []
        for uuid, (update, due, interval) in list(self._unacked.items()):
            fw = self.frameworks.get(update.framework_id)
            if due <= now and fw is not None and fw.active:
                out.append(C.SendUpdate(update.framework_id, update))
                interval = min(interval * 2, 10 * self.status_retry_seconds)
                self._unacked[uuid] = (update, now + interval, interval)
        return out
