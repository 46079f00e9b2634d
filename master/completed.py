"""Completed tasks: a bounded history per framework, as Mesos keeps
(`--max_completed_tasks_per_framework`).

A task that ended stays in the live registry (`tasks`) until its framework has
acknowledged the update that says so; then nothing about it can change any more, and it
moves to its framework's history of completed tasks, which keeps the newest
`max_completed_tasks`. A master that runs for months therefore holds its live tasks and a
bounded tail, not every task it ever launched; the store forgets what the history drops.
A LOST task of a partition-aware framework is not complete: its agent may come back with
it running.
"""

from __future__ import annotations

from collections.abc import Iterator

from master import commands as C
from master.records import TaskRecord
from offers.states import TaskState

# Mesos's default for --max_completed_tasks_per_framework.
DEFAULT_MAX_COMPLETED_TASKS = 1000


class CompletedTasks:
    """The completed-task history; a mixin of `master.core.Master`.

    State: writes `tasks` (a completed task leaves it), `_latest_uuid`, `_completed`
    (framework -> task id -> record, oldest first) and `_completed_of` (task id ->
    framework); reads `frameworks`, `max_completed_tasks`.
    """

    def task(self, task_id: str) -> TaskRecord | None:
        """A task the master knows of, live or completed."""
        task = self.tasks.get(task_id)
        if task is None:
            fid = self._completed_of.get(task_id)
            if fid is not None:
                task = self._completed[fid].get(task_id)
        return task

    def all_tasks(self) -> Iterator[TaskRecord]:
        """Live tasks, then each framework's completed ones, oldest first."""
        yield from self.tasks.values()
        for history in self._completed.values():
            yield from history.values()

    def completed_tasks(self, framework_id: str) -> list[TaskRecord]:
        history = self._completed.get(framework_id)
        return list(history.values()) if history else []

    def _acknowledged(self, task_id: str) -> list[object]:
        """The framework acknowledged the task's newest update (only the newest is held
        for acknowledgement): if that said the task ended, the task is complete."""
        task = self.tasks.get(task_id)
        if task is not None and task.state.terminal and self._may_complete(task):
            return self._complete(task)
        return []

    def _may_complete(self, task: TaskRecord) -> bool:
        if task.state is not TaskState.LOST:
            return True
        fw = self.frameworks.get(task.framework_id)
        return fw is None or fw.removed or not fw.partition_aware

    def _complete(self, task: TaskRecord) -> list[object]:
        """Move an ended task from the live registry to its framework's history; returns
        what the store must forget (the oldest beyond the bound)."""
        task_id, fid = task.id, task.framework_id
        del self.tasks[task_id]
        self._latest_uuid.pop(task_id, None)
        if fid not in self.frameworks:  # its framework was forgotten: so is the task
            return [] if task_id in self._completed_of else [C.ForgetTask(task_id)]
        history = self._completed.get(fid)
        if history is None:
            history = self._completed[fid] = self._journal.dict(ordered=True)  # oldest first
        history.pop(task_id, None)  # a reused id: the newest record, at the end
        history[task_id] = task
        self._completed_of[task_id] = fid
        out: list[object] = []
        while len(history) > self.max_completed_tasks:
            oldest = next(iter(history))
            del history[oldest]
            out += self._forget_task(oldest, fid)
        return out

    def _forget_task(self, task_id: str, framework_id: str) -> list[object]:
        if self._completed_of.get(task_id) == framework_id:
            del self._completed_of[task_id]
        return [] if task_id in self.tasks else [C.ForgetTask(task_id)]

    def _forget_completed_of(self, framework_id: str) -> list[object]:
        """A removed framework is forgotten: so is its history."""
        history = self._completed.pop(framework_id, None)
        if history is None:
            return []
        self._journal.release(history)
        out: list[object] = []
        for task_id in history:
            out += self._forget_task(task_id, framework_id)
        return out

    def _restore_completed(self, ended: list[TaskRecord]) -> list[object]:
        """After a restart: the tasks that had ended go to their histories, oldest first
        (their updates were sent before the restart; none is re-sent). Returns what the
        store must forget: what the bound leaves out."""
        out: list[object] = []
        for task in sorted(ended, key=lambda t: (t.updated_at, t.id)):
            self.tasks[task.id] = task
            out += self._complete(task)
        return out
