"""Reshuffle: kill every running reshuffleable task and queue it again, to be placed
with the `intelligence` strategy on its metered peak usage.

System jobs (one-per-node tasks) are not reshuffled. The new copies of one reshuffle are placed
together, once none of the old copies holds its node any more (or `staging_timeout` has
passed): what the old copies held then counts as free, and all are packed in one round,
which is what a reshuffle is for.
"""

from __future__ import annotations

from collections.abc import Callable

from framework import commands as cmd
from framework import events as ev
from framework.jobs import Job
from framework.members import S
from framework.records import HELD, TaskRecord


class Reshuffle:
    """The reshuffle handlers of `CharmanderScheduler` (a mixin).

    Its state, made by the scheduler's `__init__`: `_reshuffling` (ids of the submissions
    of the last reshuffle whose old copy still holds its node, in order) and
    `_reshuffle_deadline`. It reads `_records`, `_subs`, `clock` and `staging_timeout`,
    and changes records through `_new_instance` and `_kill_record`.
    """

    clock: Callable[[], float]
    staging_timeout: float
    _records: dict[str, TaskRecord]
    _subs: dict[str, Job]
    _reshuffling: dict[str, None]
    _reshuffle_deadline: float

    def _reshuffle(self, e: ev.ReshuffleRequested) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        for record in list(self._records.values()):
            sub = self._subs[record.submission_id]
            if (record.state is not S.RUNNING or not record.spec.reshuffleable
                    or sub.daemon or not sub.wanted or sub.quarantined):
                continue
            replacement = self._new_instance(sub, slot=record.slot, by_usage=True)
            out += self._kill_record(record, f"reshuffled: replaced by {replacement.task_id}",
                                     ending="stop")
            self._reshuffling[sub.id] = None
        self._reshuffle_deadline = self.clock() + self.staging_timeout
        return out + self._revive_if_needed()

    def _old_copies_hold(self) -> bool:
        """Does some task of the last reshuffle still hold its old copy? False (and the
        reshuffle is over) once none does or `staging_timeout` has passed."""
        if self._reshuffling and self.clock() >= self._reshuffle_deadline:
            self._reshuffling.clear()
        return bool(self._reshuffling)

    def _old_copy_stopped(self, sub: Job) -> bool:
        """After a terminal update: True if it stopped the last old copy of a reshuffle."""
        if sub.id not in self._reshuffling or any(sub.by_state.get(s) for s in HELD):
            return False
        del self._reshuffling[sub.id]
        return not self._reshuffling

    def _replaced_copy_holds(self, record: TaskRecord) -> bool:
        """Does another instance of this task still hold resources on some node?"""
        sub = self._subs[record.submission_id]
        return any(sub.by_state.get(state) for state in HELD)
