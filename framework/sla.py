"""SLA upkeep, quarantine and shutdown: how the scheduler keeps what a task asked for.

- `singleton`: at most one live instance cluster-wide; relaunched when LOST or FAILED;
  when a lost instance comes back while a replacement exists, the older one is killed.
- `one-per-node`: one live instance on every eligible agent, agents that join later
  included; a second instance on one agent is killed.
- none: placed once.

A task whose launch fails for a reason in its own spec is quarantined: it ends `ERROR`
with that reason and is not launched again (a singleton ending `ERROR` is not relaunched;
a one-per-node task rejected as invalid by the master is placed nowhere any more, and one
that fails on a node is retried there, backed off, `max_node_errors` times at most). A spec
read back from the store that fails today's checks is quarantined the same way.

Shutting berth down is not killing: what ends while it stops ends "stopped: berth was shut
down", and the next start queues such tasks again.
"""

from __future__ import annotations

from collections.abc import Callable

from framework import commands as cmd
from framework import events as ev
from framework.instance_index import InstanceIndex, Submission
from framework.records import (
    LIVE,
    QUEUED_AFTER_SHUTDOWN,
    SPEC_ERROR_CODES,
    STOPPED_BY_SHUTDOWN,
    TaskRecord,
    default_reason,
)
from offers.states import TaskState
from offers.task import SLA

S = TaskState
OPEN = tuple(state for state in TaskState if not state.terminal)


class SlaUpkeep:
    """The SLA, quarantine and shutdown rules of `CharmanderScheduler` (a mixin).

    It has no state of its own: it reads the settings (`backoff_seconds`,
    `max_backoff_seconds`, `max_node_errors`, `clock`), sets `stopping`, reads the instance
    index (`_index`, and the aliases `_records`, `_order`, `_daemons`) and changes records
    only through the scheduler's `_new_instance`, `_replace`, `_kill_record` and `_drop`.
    """

    clock: Callable[[], float]
    stopping: bool
    backoff_seconds: float
    max_backoff_seconds: float
    max_node_errors: int
    _index: InstanceIndex
    _records: dict[str, TaskRecord]
    _order: dict[str, int]
    _daemons: dict[str, None]

    # -- SLA upkeep ---------------------------------------------------------------------

    def _upkeep(self, sub: Submission, cause: TaskRecord | None = None) -> list[cmd.Command]:
        """Bring one submission's instances back in line with its SLA."""
        if not sub.wanted or sub.quarantined or self.stopping:
            return []
        if sub.spec.sla is SLA.ONE_PER_NODE:
            return self._upkeep_daemon(sub)
        out: list[cmd.Command] = []
        instances = self._index.instances(sub)
        live = [r for r in instances if r.state in LIVE]
        pending = [r for r in instances if r.state is S.PENDING]
        if not live and not pending and instances and _stopped_by_shutdown(instances[-1]):
            # berth was stopped while this ran, not the task killed: run it again.
            self._new_instance(sub, by_usage=instances[-1].by_usage,
                               reason=QUEUED_AFTER_SHUTDOWN)
            return out
        if sub.spec.sla is SLA.SINGLETON:
            if len(live) > 1:  # a lost instance came back: keep the newest launch
                keep = max(live, key=self._newest_first_key(sub))
                for record in live:
                    if record is not keep:
                        out += self._kill_record(
                            record, f"duplicate of singleton instance {keep.task_id}")
            if live:
                for record in pending:
                    self._drop(record, f"not needed: {live[0].task_id} is running again")
            elif not pending and cause is not None and cause.state in (S.LOST, S.FAILED):
                delay = self._backoff(sub) if cause.state is S.FAILED else 0.0
                self._new_instance(sub, by_usage=cause.by_usage,
                                   not_before=self.clock() + delay)
        elif not instances:
            self._new_instance(sub)
        elif (cause is not None and cause.state is S.LOST and cause.running_at is None
              and not live and not pending):
            # Lost before it ever ran (the launch went astray): it was never placed.
            self._new_instance(sub, by_usage=cause.by_usage)
        return out

    def _upkeep_daemon(self, sub: Submission) -> list[cmd.Command]:
        """one-per-node: kill second instances on one agent; keep one instance not finished
        (PENDING until a node takes it). Works from the indexes: one status costs O(1)."""
        out: list[cmd.Command] = []
        order = self._order.__getitem__
        crowds = sorted((sorted(sub.live_on[agent], key=order) for agent in sub.crowded),
                        key=lambda ids: order(ids[0]))
        for ids in crowds:
            records = [self._records[task_id] for task_id in ids]
            keep = max(records, key=self._newest_first_key(sub))
            for record in records:
                if record is not keep:
                    out += self._kill_record(
                        record, f"second instance on agent {record.agent_id}; "
                                f"{keep.task_id} stays")
        if not any(sub.by_state.get(state) for state in OPEN):
            instances = self._index.instances(sub)
            again = bool(instances) and _stopped_by_shutdown(instances[-1])
            self._new_instance(sub, reason=QUEUED_AFTER_SHUTDOWN if again else None)
        return out

    def _newest_first_key(self, sub: Submission) -> Callable[[TaskRecord], tuple[float, int]]:
        """Order instances by launch time, then by instance number: the max is the newest."""
        order = self._order
        return lambda r: (r.launched_at or 0.0, order.get(r.task_id, -1))

    def _backoff(self, sub: Submission) -> float:
        exponent = max(sub.failures - 1, 0)
        return min(self.backoff_seconds * 2 ** min(exponent, 30), self.max_backoff_seconds)

    # -- quarantine -------------------------------------------------------------------

    def _after_error(self, sub: Submission, record: TaskRecord,
                     code: str | None) -> list[cmd.Command]:
        """An instance could not be started. Its own spec's fault (the master says the
        TaskInfo is invalid), or a singleton's: the task is quarantined, since launching the
        same spec again fails the same way. A one-per-node task failing on one node (an
        image missing there) says nothing of the others: that node is retried, backed off,
        and given up after `max_node_errors` failures in a row."""
        if code in SPEC_ERROR_CODES or sub.spec.sla is SLA.SINGLETON:
            self._quarantine(sub, record.reason or default_reason(S.ERROR))
        elif sub.spec.sla is SLA.ONE_PER_NODE and record.hostname:
            errors = sub.errors_on[record.hostname] = sub.errors_on.get(record.hostname, 0) + 1
            if errors >= self.max_node_errors:
                sub.retry_after[record.hostname] = float("inf")
        return []

    def _quarantine(self, sub: Submission, reason: str) -> None:
        """Launch this task no more: its waiting instances end ERROR with the reason.
        Instances already running keep running (Docker took them); none replaces them."""
        sub.quarantined = reason
        self._daemons.pop(sub.id, None)
        for task_id in list(sub.by_state.get(S.PENDING, ())):
            self._replace(self._records[task_id], state=S.ERROR, reason=reason,
                          updated_at=self.clock())

    # -- shutdown ---------------------------------------------------------------------

    def _shutdown(self, e: ev.ShutdownStarted) -> list[cmd.Command]:
        """From now on nothing is placed or relaunched: the next start decides."""
        self.stopping = True
        return []


def _stopped_by_shutdown(record: TaskRecord) -> bool:
    """Did this instance end because berth stopped, not because someone killed it?"""
    return (record.state in (S.KILLED, S.FAILED) and not record.killed
            and record.reason == STOPPED_BY_SHUTDOWN)


def ends_by_shutdown(stopping: bool, record: TaskRecord, state: TaskState) -> bool:
    """Does this update end a container the shutdown stops (the agent may say KILLING
    first)? Not if someone had asked to kill it before."""
    return (stopping and state in (S.KILLING, S.KILLED, S.FAILED)
            and not record.killed and (record.state is not S.KILLING
                                       or record.reason == STOPPED_BY_SHUTDOWN))
