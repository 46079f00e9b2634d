"""SLA safety over random event sequences: something bad never happens.

Whatever order offers, launches, failures, agent losses and returns, kills and reshuffles
arrive in, after every event: no two singleton instances run, no agent runs two instances
of one one-per-node task, and no transition outside the table is made.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from framework import events as ev
from offers.states import TaskState
from offers.task import SLA
from tests.framework_harness import Harness, task

AGENTS = ("a1", "a2", "a3", "a4")


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.h = Harness.make(backoff_seconds=1.0)
        self.n = 0

    @rule(sla=st.sampled_from([None, "singleton", "one-per-node"]),
          mem=st.sampled_from([50, 400, 900]), reshuffleable=st.booleans())
    def submit(self, sla, mem, reshuffleable):
        self.n += 1
        self.h.submit(task(f"t{self.n}", mem=mem, sla=sla, reshuffleable=reshuffleable))

    @rule(agents=st.sets(st.sampled_from(AGENTS), min_size=1))
    def offers(self, agents):
        self.h.offers(*[self.h.offer(a, mem=1000, cpus=2) for a in sorted(agents)])

    @rule(agents=st.sets(st.sampled_from(AGENTS), min_size=1))
    def offers_then_everything_starts(self, agents):
        self.h.run_launches(self.h.offers(*[self.h.offer(a, mem=1000, cpus=2)
                                            for a in sorted(agents)]))

    @rule(data=st.data(), state=st.sampled_from(["RUNNING", "STARTING", "FAILED", "FINISHED"]))
    def launched_task_reports(self, data, state):
        staged = [r for r in self.h.scheduler.tasks()
                  if r.state in (TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING)]
        if staged:
            record = data.draw(st.sampled_from(staged))
            self.h.status(record.task_id, state)

    @rule(agent=st.sampled_from(AGENTS))
    def agent_lost(self, agent):
        self.h.send(ev.AgentLost(agent))

    @rule(data=st.data())
    def lost_task_comes_back_running(self, data):
        lost = [r for r in self.h.scheduler.tasks() if r.state is TaskState.LOST]
        if lost:
            record = data.draw(st.sampled_from(lost))
            self.h.status(record.task_id, "RUNNING", agent=record.agent_id)

    @rule(data=st.data())
    def kill_finishes(self, data):
        killing = [r for r in self.h.scheduler.tasks() if r.state is TaskState.KILLING]
        if killing:
            self.h.status(data.draw(st.sampled_from(killing)).task_id, "KILLED")

    @rule(data=st.data())
    def kill_prefix(self, data):
        if self.n:
            self.h.send(ev.KillRequested(f"t{data.draw(st.integers(1, self.n))}-"))

    @rule(data=st.data())
    def usage_then_reshuffle(self, data):
        running = [r for r in self.h.scheduler.tasks() if r.state is TaskState.RUNNING]
        for record in running:
            mem = data.draw(st.sampled_from([20, 80]))
            self.h.send(ev.UsageObserved(record.task_id, 0.05, mem))
        self.h.send(ev.ReshuffleRequested())

    @rule(seconds=st.sampled_from([0.5, 5, 100]))
    def time_passes(self, seconds):
        self.h.clock.now += seconds
        self.h.send(ev.Tick())

    @rule()
    def resubscribe(self):
        self.h.send(ev.Subscribed("fw"))

    @invariant()
    def at_most_one_singleton_running(self):
        running = Counter(r.submission_id for r in self.h.scheduler.tasks()
                          if r.state is TaskState.RUNNING and r.spec.sla is SLA.SINGLETON)
        assert all(n <= 1 for n in running.values()), running

    @invariant()
    def at_most_one_per_node_instance_per_agent(self):
        running = Counter((r.submission_id, r.agent_id) for r in self.h.scheduler.tasks()
                          if r.state is TaskState.RUNNING and r.spec.sla is SLA.ONE_PER_NODE)
        assert all(n <= 1 for n in running.values()), running

    @invariant()
    def pending_tasks_say_why_after_offers(self):
        for record in self.h.scheduler.tasks():
            if record.state is TaskState.PENDING:
                assert self.h.scheduler.pending_reason(record.task_id)


SchedulerMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_sla_invariants = SchedulerMachine.TestCase
