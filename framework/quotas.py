"""Namespaces' limits in the scheduler: what each holds, which pending instances a quota
or an empty credit budget holds back, and what running work costs in credits.

Pure functions over records, called only while some namespace has a quota or a budget
(a cluster without either pays nothing for this).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from framework.records import TaskRecord
from offers.quota import CreditUnit, Quota
from offers.states import TaskState

HOLDING = frozenset({TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING,
                     TaskState.KILLING})


@dataclass
class Use:
    cpus: float = 0.0
    mem: float = 0.0
    instances: int = 0

    def add(self, spec) -> None:
        self.cpus += spec.cpus
        self.mem += spec.mem
        self.instances += 1


def held_spec(record: TaskRecord):
    return record.launched_spec or record.spec


def use_by_namespace(records: Iterable[TaskRecord]) -> dict[str, Use]:
    """What each namespace's instances hold now (launched and not yet ended)."""
    out: dict[str, Use] = {}
    for r in records:
        if r.state in HOLDING:
            out.setdefault(r.spec.namespace, Use()).add(held_spec(r))
    return out


def over(quota: Quota, use: Use, spec) -> str | None:
    """Which limit one more instance of `spec` would pass, said as people read it."""
    if quota.instances is not None and use.instances + 1 > quota.instances:
        return f"instances {use.instances} of {quota.instances} in use"
    if quota.cpus is not None and use.cpus + spec.cpus > quota.cpus + 1e-9:
        return f"cpus {use.cpus:.1f} of {quota.cpus:.1f} in use"
    if quota.mem is not None and use.mem + spec.mem > quota.mem + 1e-9:
        return f"mem {use.mem:.0f} of {quota.mem:.0f} MiB in use"
    return None


def admit(pending: Iterable[TaskRecord], use: Mapping[str, Use], quotas: Mapping[str, Quota],
          broke: frozenset[str]) -> tuple[list[TaskRecord], list[tuple[TaskRecord, str]]]:
    """The pending instances this round may place, and those held back with why. In order
    of service (priority, then age), each admitted one counts against its namespace as if
    placed, so no round can take a namespace past its quota."""
    admitted: list[TaskRecord] = []
    held: list[tuple[TaskRecord, str]] = []
    counted = {ns: Use(u.cpus, u.mem, u.instances) for ns, u in use.items()}
    for record in sorted(pending, key=lambda r: -r.spec.priority):  # stable: age kept
        ns = record.spec.namespace
        if ns in broke:
            held.append((record, f"namespace {ns} has no credits left (an admin grants "
                                 f"more: berth credits grant {ns} N)"))
            continue
        quota = quotas.get(ns)
        if quota is None or not quota.limits_work:
            admitted.append(record)
            continue
        now = counted.setdefault(ns, Use())
        why = over(quota, now, held_spec(record))
        if why is not None:
            held.append((record, f"namespace {ns} quota: {why}"))
            continue
        now.add(held_spec(record))
        admitted.append(record)
    return admitted, held


def credits_spent(records: Iterable[TaskRecord], budgeted: frozenset[str], unit: CreditUnit,
                  hours: float) -> dict[str, float]:
    """Credits the running instances of budgeted namespaces used over `hours`."""
    out: dict[str, float] = {}
    for r in records:
        ns = r.spec.namespace
        if r.state is TaskState.RUNNING and ns in budgeted:
            spec = held_spec(r)
            out[ns] = out.get(ns, 0.0) + unit.units(spec.cpus, spec.mem) * hours
    return out
