"""Namespaces' quotas and credit budgets in the scheduler (a mixin of `Scheduler`).

Told the quotas (`QuotasChanged`) and balances (`BalancesChanged`) by the service, it
holds back pending instances a quota or an empty budget does not allow (`_admitted`, in
each offer round), meters the credits running work spends (on `Tick`, every
`charge_seconds`, as a `ChargeCredits` command) and stops a namespace's jobs the moment
its balance reaches zero. With no quota and no budget anywhere, none of it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from framework import commands as cmd
from framework import events as ev
from framework.jobs import Job
from framework.quotas import admit, credits_spent, held_spec, use_by_namespace
from framework.records import TaskRecord
from offers.quota import CreditUnit, Quota
from offers.states import TaskState

CHARGE_SECONDS = 60.0


class NamespaceLimits:
    clock: Callable[[], float]
    credit_unit: CreditUnit
    _jobs: dict[str, Job]
    _records: dict[str, TaskRecord]

    def _init_limits(self, credit_unit: CreditUnit | None) -> None:
        self.credit_unit = credit_unit or CreditUnit()
        self.charge_seconds = CHARGE_SECONDS
        self._quotas: dict[str, Quota] = {}
        self._limiting = False  # some quota limits cpus, mem or instances
        self._balances: dict[str, float] = {}
        self._broke: frozenset[str] = frozenset()
        self._metered_at: float | None = None

    def _quotas_changed(self, e: ev.QuotasChanged) -> list[cmd.Command]:
        self._quotas = dict(e.quotas)
        self._limiting = any(q.limits_work for q in self._quotas.values())
        return self._revive_if_needed()

    def _balances_changed(self, e: ev.BalancesChanged) -> list[cmd.Command]:
        if self._metered_at is None:
            self._metered_at = self.clock()
        self._balances = dict(e.balances)
        broke = frozenset(ns for ns, credits in e.balances.items() if credits <= 0)
        newly, self._broke = broke - self._broke, broke
        out: list[cmd.Command] = []
        for job in list(self._jobs.values()):
            if job.wanted and job.namespace in newly:
                out += self._job_stopped(ev.JobStopped(job.id),
                                         f"namespace {job.namespace} ran out of credits")
        return out + self._revive_if_needed()

    def namespace_limits(self) -> set[str]:
        """The namespaces with a quota or a budget."""
        return set(self._quotas) | set(self._balances)

    def submission_refusal(self, namespace: str, job: bool) -> str | None:
        """Why a new task (or, with `job`, a job) in `namespace` is refused now, or None."""
        if namespace in self._broke:
            return (f"namespace {namespace} has no credits left (an admin grants more: "
                    f"berth credits grant {namespace} N)")
        quota = self._quotas.get(namespace)
        if job and quota is not None and quota.jobs is not None:
            jobs = sum(1 for j in self._jobs.values()
                       if j.namespace == namespace and j.wanted and not j.charmander)
            if jobs >= quota.jobs:
                return f"namespace {namespace} quota: jobs {jobs} of {quota.jobs}"
        return None

    def _admitted(self, pending: Iterable[TaskRecord]) -> Iterable[TaskRecord]:
        """The pending instances this round may place; the others get their reason."""
        if not (self._limiting or self._broke):
            return pending
        admitted, held = admit(pending, use_by_namespace(self._records.values()),
                               self._quotas, self._broke)
        for record, reason in held:
            self._note_reason(record, reason)
        return admitted

    def _meter_credits(self, now: float) -> list[cmd.Command]:
        if not self._balances or self._metered_at is None \
                or now - self._metered_at < self.charge_seconds:
            return []
        hours = (now - self._metered_at) / 3600.0
        self._metered_at = now
        spent = credits_spent(self._records.values(), frozenset(self._balances),
                              self.credit_unit, hours)
        spent = {ns: c for ns, c in spent.items() if c > 0}
        return [cmd.ChargeCredits(tuple(sorted(spent.items())))] if spent else []

    def namespace_status(self, namespace: str) -> dict:
        """What a namespace holds now, its quota, balance and burn rate (credits/hour)."""
        use = use_by_namespace(r for r in self._records.values()
                               if r.spec.namespace == namespace).get(namespace)
        burn = sum(self.credit_unit.units(held_spec(r).cpus, held_spec(r).mem)
                   for r in self._records.values()
                   if r.spec.namespace == namespace and r.state is TaskState.RUNNING)
        quota = self._quotas.get(namespace)
        return {
            "name": namespace,
            "use": {"cpus": use.cpus if use else 0.0, "mem": use.mem if use else 0.0,
                    "instances": use.instances if use else 0,
                    "jobs": sum(1 for j in self._jobs.values()
                                if j.namespace == namespace and j.wanted and not j.charmander)},
            "quota": None if quota is None else {k: v for k, v in vars(quota).items()
                                                 if v is not None},
            "credits": self._balances.get(namespace),
            "burn_per_hour": round(burn, 6),
            "out_of_credits": namespace in self._broke,
        }
