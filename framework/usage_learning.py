"""What the scheduler learns from metering (`UsageObserved`): each submission's peak use,
and each kind of task's (framework/kind_usage.py), which `intelligence` places new work
on; and what it unlearns when a task it launched smaller ran out of memory.

A mixin of framework/scheduler.py's Scheduler; it uses the scheduler's `_records` and
`clock`.
"""

from __future__ import annotations

from collections.abc import Callable

from framework import commands as cmd
from framework import events as ev
from framework.kind_usage import KindSettings, KindUsage, kind_key
from framework.records import TaskRecord
from offers.task import TaskSpec

OUT_OF_MEMORY = "out of memory"  # how the agent's reason for an OOM-killed container starts


class UsageLearning:
    """Peaks per submission and per kind of task."""

    _records: dict[str, TaskRecord]
    clock: Callable[[], float]

    def _init_usage(self, kinds: KindSettings) -> None:
        self._usage: dict[str, tuple[float, float]] = {}  # submission id -> peak (cpus, mem)
        # Jobs one of whose sized instances ran out of memory are placed on their request
        # from then on.
        self._kinds = KindUsage(kinds)
        self._keep_size: set[str] = set()

    def _usage_observed(self, e: ev.UsageObserved) -> list[cmd.Command]:
        record = self._records.get(e.task_id)
        if record is None or record.spec.notmetered:
            return []
        cpus, mem = self._usage.get(record.submission_id, (0.0, 0.0))
        self._usage[record.submission_id] = (max(cpus, e.cpus), max(mem, e.mem))
        self._kinds.observe(kind_key(record.spec), e.cpus, e.mem, self.clock(),
                          record.task_id)
        return []

    def _out_of_memory(self, record: TaskRecord, reason: str | None) -> bool:
        """Did this FAILED instance run out of memory (the agent's reason says so) after
        being launched smaller than it asked? Then its kind and its job go back to their
        request, and it is run again (`reconciler.note_end`)."""
        launched = record.launched_spec
        if (reason or "").startswith(OUT_OF_MEMORY) and launched is not None \
                and launched.mem < record.spec.mem:
            self._kinds.out_of_memory(kind_key(record.spec), self.clock())
            self._keep_size.add(record.submission_id)
            return True
        return False

    def kinds(self) -> list[dict]:
        """What intelligence has learned per kind of task: its key's parts and its peak."""
        return [{"dockerimage": key[0], "arguments": list(key[1]), "cpus": key[2],
                 "mem": key[3], "disk": key[4], "peak_cpus": cpus, "peak_mem": mem}
                for key, (cpus, mem) in self._kinds.known(self.clock())]

    def kind_peak(self, spec: TaskSpec) -> tuple[float, float] | None:
        """The metered peak (cpus, mem) of `spec`'s kind, None if not known."""
        return self._kinds.peak(kind_key(spec), self.clock())
