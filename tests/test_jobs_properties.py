"""Job safety over random event sequences: something bad never happens.

Jobs of every type (and Charmander singletons and one-per-node tasks, which are jobs too)
are submitted, scaled, stopped, killed and deleted while agents offer, instances run,
exit 0 or not, are lost, fail to start, and time passes. After every step:

- a service or array job never has more live instances (launched, not being killed) than
  it wants, and no slot of any job has two;
- no batch (or array, or parallel master) index succeeds twice: never two FINISHED
  records of one slot that both counted (`counted`);
- no agent runs two live instances of one system job; no Charmander singleton has two
  live instances;
- no slot has more application failures within the restart interval than the policy's
  `attempts` + 1;
- a batch job that says `complete` has exactly its `completions` indexes FINISHED.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from framework import events as ev
from framework.records import LIVE
from offers.job import JobType, parse_job
from offers.job import Phase as JobPhase
from offers.states import TaskState as S
from offers.task import SLA
from tests.framework_harness import Harness, task

AGENTS = ("a1", "a2", "a3")
T = {"dockerimage": "busybox", "mem": 100, "cpus": 0.5}
INTERVAL = 200.0
ENDED = frozenset({S.FINISHED, S.FAILED, S.KILLED, S.ERROR})  # terminal, LOST aside
KINDS = [JobType.BATCH, JobType.SERVICE, JobType.PARALLEL, JobType.ARRAY, JobType.SYSTEM]


def job_json(name, kind, n, parallelism, attempts, delay, timeout):
    data = {"name": name, "type": str(kind), "task": T,
            "restart": {"attempts": attempts, "delay": delay, "interval": INTERVAL},
            "relaunch": {"avoid": 30}}
    if kind is JobType.BATCH:
        data["completions"] = n + 1
        if parallelism:
            data["parallelism"] = parallelism
    elif kind is not JobType.SYSTEM:
        data["count"] = n
    if kind is JobType.PARALLEL:
        data["master"] = {**T, "dockerimage": "master"}
    if timeout:
        data["startup_timeout"], data["max_runtime"] = 20, 300
    return data


def counted(record) -> bool:
    """An end the policies count: not of an instance someone (or berth) was stopping. (A
    lost instance that berth replaced and then, stopping the job, killed may still report
    FINISHED: its container ran on; that is the agent's news, not a second success.)"""
    return not record.killed and record.ending is None


class JobMachine(RuleBasedStateMachine):
    kinds = tuple(k for k in KINDS if k is not JobType.SYSTEM)  # see SystemJobMachine

    def __init__(self):
        super().__init__()
        self.h = Harness.make(backoff_seconds=1.0)
        self.jobs: list[str] = []  # job names, in submission order
        self.charmander: list[str] = []  # Charmander task ids
        self.n = 0

    # -- what users do ----------------------------------------------------------------

    @initialize(data=st.data(), n=st.integers(1, 3),
                parallelism=st.sampled_from([None, 2]), attempts=st.sampled_from([0, 2]),
                delay=st.sampled_from([0, 3]), timeout=st.booleans())
    def first_job(self, data, n, parallelism, attempts, delay, timeout):
        self.submit_job(data, n, parallelism, attempts, delay, timeout)

    @precondition(lambda self: len(self.jobs) < 6)
    @rule(data=st.data(), n=st.integers(0, 3),
          parallelism=st.sampled_from([None, 1, 2]), attempts=st.sampled_from([0, 1, 2]),
          delay=st.sampled_from([0, 3, 50]), timeout=st.booleans())
    def submit_job(self, data, n, parallelism, attempts, delay, timeout):
        kind = data.draw(st.sampled_from(self.kinds))
        self.n += 1
        name = f"j{self.n}x"
        self.h.send(ev.JobSubmitted(parse_job(job_json(name, kind, n, parallelism, attempts,
                                                       delay, timeout))))
        self.jobs.append(name)

    @precondition(lambda self: len(self.charmander) < 3)
    @rule(sla=st.sampled_from([SLA.SINGLETON, SLA.ONE_PER_NODE]))
    def submit_charmander_task(self, sla):
        self.n += 1
        self.charmander.append(self.h.submit(task(f"c{self.n}x", sla=str(sla))))

    def _scalable(self):
        return [j for j in self.jobs if (job := self.h.scheduler.job(j)) is not None
                and job.kind in (JobType.SERVICE, JobType.ARRAY) and job.wanted]

    @rule(data=st.data(), count=st.integers(0, 4), stepped=st.booleans())
    def scale(self, data, count, stepped):
        jobs = self._scalable()
        if not jobs:
            return
        name = data.draw(st.sampled_from(jobs))
        if stepped:
            self.h.send(ev.JobScaled(name, steps=tuple(range(1, count + 2))))
        else:
            self.h.send(ev.JobScaled(name, count=count))

    @rule(data=st.data(), how=st.sampled_from(["stop", "kill", "delete"]))
    def user_ends_a_job(self, data, how):
        """`berth job stop`, Charmander's DELETE (by prefix), or `berth job delete` of a
        job that is over."""
        jobs = [j for j in self.jobs if self.h.scheduler.job(j) is not None]
        if how == "stop" and jobs:
            self.h.send(ev.JobStopped(data.draw(st.sampled_from(jobs))))
        elif how == "kill" and (ids := jobs + [t.split("-")[0] + "-"
                                               for t in self.charmander]):
            self.h.send(ev.KillRequested(data.draw(st.sampled_from(ids))))
        elif how == "delete" and (over := [
                j for j in jobs if (job := self.h.scheduler.job(j)).phase.final
                and all(r.state in ENDED for r in self.h.scheduler.job_instances(job))]):
            self.h.send(ev.JobDeleted(data.draw(st.sampled_from(over))))

    # -- what the cluster does --------------------------------------------------------

    @rule(agents=st.sets(st.sampled_from(AGENTS), min_size=1), start=st.booleans())
    def offers(self, agents, start):
        out = self.h.offers(*[self.h.offer(a, cpus=2.0, mem=1000.0) for a in sorted(agents)])
        if start:
            self.h.run_launches(out)

    @rule(data=st.data(), outcome=st.sampled_from(
        ["RUNNING", "RUNNING", "STARTING", "FINISHED", "FAILED", "LOST", "ERROR"]))
    def instance_reports(self, data, outcome):
        states = (S.STAGING, S.STARTING, S.RUNNING, S.KILLING)
        launched = [r for r in self.h.scheduler.tasks() if r.state in states]
        if not launched:
            return
        record = data.draw(st.sampled_from(launched))
        code = {"FINISHED": 0, "FAILED": data.draw(st.sampled_from([1, 3, 137]))}.get(outcome)
        reason = None if code is None else f"exited with code {code}"
        self.h.send(ev.TaskStatusChanged(record.task_id, S(outcome), reason, record.agent_id,
                                         exit_code=code))

    @rule(code=st.sampled_from([0, 0, 3]))
    def every_running_instance_exits(self, code):
        for record in self.h.scheduler.tasks():
            if record.state is S.RUNNING:
                self._exit(record, code)

    @rule(agents=st.sets(st.sampled_from(AGENTS), min_size=1),
          seconds=st.sampled_from([0, 5, 60]), code=st.sampled_from([None, 0, 3]))
    def a_round(self, agents, seconds, code):
        """Time passes, agents offer, what they launch runs and (maybe) exits at once:
        many ends in few steps, where the restart and completion rules are."""
        self.time_passes(seconds)
        started = self.h.run_launches(self.h.offers(
            *[self.h.offer(a, cpus=2.0, mem=1000.0) for a in sorted(agents)]))
        if code is not None:
            for task_id in started:
                record = self.h.scheduler.task(task_id)
                if record is not None and record.state is S.RUNNING:
                    self._exit(record, code)

    def _exit(self, record, code):
        state = S.FINISHED if code == 0 else S.FAILED
        self.h.send(ev.TaskStatusChanged(record.task_id, state, f"exited with code {code}",
                                         record.agent_id, exit_code=code))

    @rule(data=st.data())
    def kill_lands(self, data):
        killing = [r for r in self.h.scheduler.tasks() if r.state is S.KILLING]
        if killing:
            self.h.status(data.draw(st.sampled_from(killing)).task_id, "KILLED")

    @rule(agent=st.sampled_from(AGENTS))
    def agent_lost(self, agent):
        self.h.send(ev.AgentLost(agent))

    @rule(data=st.data())
    def lost_instance_comes_back(self, data):
        lost = [r for r in self.h.scheduler.tasks() if r.state is S.LOST and r.agent_id]
        if lost:
            record = data.draw(st.sampled_from(lost))
            self.h.status(record.task_id, "RUNNING", agent=record.agent_id)

    @rule(seconds=st.sampled_from([1, 5, 25, 120]))
    def time_passes(self, seconds):
        self.h.clock.now += seconds
        self.h.send(ev.Tick())

    # -- invariants -------------------------------------------------------------------

    def _live(self, job):
        return [r for r in self.h.scheduler.job_instances(job) if r.state in LIVE]

    @invariant()
    def never_more_live_than_wanted(self):
        for job in self.h.scheduler.jobs():
            if job.kind in (JobType.SERVICE, JobType.ARRAY) and not job.charmander:
                live = self._live(job)
                assert len(live) <= job.desired(), (job.id, job.counts, live)
            if not job.daemon:
                per_slot = Counter(r.slot for r in self._live(job))
                assert all(n <= 1 for n in per_slot.values()), (job.id, per_slot)

    @invariant()
    def no_index_succeeds_twice(self):
        for job in self.h.scheduler.jobs():
            if job.kind in (JobType.BATCH, JobType.ARRAY, JobType.PARALLEL):
                done = Counter(r.slot for r in self.h.scheduler.job_instances(job)
                               if r.state is S.FINISHED and counted(r))
                assert all(n <= 1 for n in done.values()), (job.id, done)

    @invariant()
    def one_system_instance_per_agent(self):
        for job in self.h.scheduler.jobs():
            if job.daemon:
                per_agent = Counter(r.agent_id for r in self._live(job))
                assert all(n <= 1 for n in per_agent.values()), (job.id, per_agent)

    @invariant()
    def never_two_live_singletons(self):
        for job in self.h.scheduler.jobs():
            if job.charmander and job.sla is SLA.SINGLETON:
                assert len(self._live(job)) <= 1, (job.id, self._live(job))

    @invariant()
    def restarts_within_the_policy(self):
        for job in self.h.scheduler.jobs():
            attempts = job.restart.attempts
            if attempts is None:
                continue
            failed: dict[tuple, list[float]] = {}
            for r in self.h.scheduler.job_instances(job):
                if r.state is S.FAILED and not r.killed and r.ending is None:
                    where = r.slot if r.slot is not None else r.hostname  # system: per node
                    failed.setdefault(where, []).append(r.updated_at)
            for slot, times in failed.items():
                for t in times:
                    within = [u for u in times if t - job.restart.interval < u <= t]
                    assert len(within) <= attempts + 1, (job.id, slot, sorted(times))

    @invariant()
    def complete_batch_has_every_index_finished_once(self):
        for job in self.h.scheduler.jobs():
            if job.kind is JobType.BATCH and job.phase is JobPhase.COMPLETE:
                finished = [r.slot for r in self.h.scheduler.job_instances(job)
                            if r.state is S.FINISHED]
                assert sorted(set(finished)) == [(0, i) for i in range(job.counts[0])], (
                    job.id, finished)


JobMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_job_invariants = JobMachine.TestCase


class SystemJobMachine(JobMachine):
    """The same with system jobs submitted as jobs (a Charmander one-per-node task, which
    the machine above submits, is one too but placed by its sla)."""

    kinds = tuple(KINDS)


SystemJobMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
test_job_invariants_with_system_jobs = SystemJobMachine.TestCase
