"""Namespace quotas and credits in the scheduler, with the real master core in memory
(tests/cluster_harness.py): a quota holds work back with its reason and lets it run once
room frees; priority decides who goes first within a quota; credits metered from what
runs, and a namespace out of them has its jobs stopped and new work refused until a grant.
Plus a property: whatever is submitted and ended, no namespace ever holds more than its
quota."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import commands as cmd
from framework import events as ev
from offers.quota import CreditUnit, Quota
from offers.states import TaskState
from offers.task import TaskSpec
from tests.cluster_harness import Cluster

S = TaskState


def spec(task_id: str, ns: str = "team-a", cpus: float = 1.0, **kw) -> TaskSpec:
    return TaskSpec(id=task_id, dockerimage="busybox", cpus=cpus, mem=256, namespace=ns, **kw)


def states(cluster: Cluster) -> dict[str, tuple[str, str | None]]:
    return {r.spec.id: (r.state.value, r.reason) for r in cluster.scheduler.tasks()}


def test_a_quota_holds_work_back_with_its_reason_and_lets_it_run_once_room_frees():
    c = Cluster.make()
    c.add_agent("a1", cpus=16)
    c.wiring.to_framework(ev.QuotasChanged({"team-a": Quota(cpus=2.0)}))
    first, second = c.submit(spec("one")), c.submit(spec("two"))
    c.submit(spec("three"))
    c.submit(spec("other", ns="team-b", cpus=4.0))  # another namespace: no limit
    c.allocate()
    now = states(c)
    assert now["one"][0] == now["two"][0] == now["other"][0] == "RUNNING"
    assert now["three"] == ("PENDING", "namespace team-a quota: cpus 2.0 of 2.0 in use")
    c.end(first)
    c.advance(6)
    c.allocate()
    assert states(c)["three"][0] == "RUNNING"
    assert second  # still running beside it


def test_within_a_quota_higher_priority_goes_first_and_instances_are_counted():
    c = Cluster.make()
    c.add_agent("a1", cpus=16)
    c.wiring.to_framework(ev.QuotasChanged({"team-a": Quota(instances=1)}))
    c.submit(spec("low"))
    c.submit(spec("high", priority=5))
    c.allocate()
    now = states(c)
    assert now["high"][0] == "RUNNING"
    assert now["low"] == ("PENDING", "namespace team-a quota: instances 1 of 1 in use")


def test_credits_are_spent_by_what_runs_and_running_out_stops_the_namespace():
    c = Cluster.make(credit_unit=CreditUnit(cpus=1.0, mem=1024.0))
    c.add_agent("a1", cpus=16)
    c.wiring.to_framework(ev.BalancesChanged({"team-a": 1.0}))
    c.submit(spec("two-cpus", cpus=2.0))
    c.allocate()
    assert states(c)["two-cpus"][0] == "RUNNING"
    charged = []
    c.clock.advance(1800)  # half an hour of 2 units: 1 credit
    for command in c.scheduler.handle(ev.Tick()):
        if isinstance(command, cmd.ChargeCredits):
            charged.append(dict(command.spent))
    assert charged == [{"team-a": 1.0}]
    assert c.scheduler.namespace_status("team-a")["burn_per_hour"] == 2.0
    assert c.scheduler.submission_refusal("team-a", job=False) is None
    c.wiring.to_framework(ev.BalancesChanged({"team-a": 0.0}))  # what the store answered
    state, reason = states(c)["two-cpus"]
    assert state in ("KILLING", "KILLED") and reason == "namespace team-a ran out of credits"
    assert "no credits left" in c.scheduler.submission_refusal("team-a", job=False)
    late = c.submit(spec("late"))
    c.allocate()
    assert c.scheduler.task(late).state is S.PENDING
    assert "no credits left" in c.scheduler.task(late).reason
    c.wiring.to_framework(ev.BalancesChanged({"team-a": 5.0}))  # a grant
    c.advance(6)
    c.allocate()
    assert c.scheduler.task(late).state is S.RUNNING


def test_a_jobs_quota_refuses_the_next_job():
    c = Cluster.make()
    c.wiring.to_framework(ev.QuotasChanged({"team-a": Quota(jobs=0)}))
    assert c.scheduler.submission_refusal("team-a", job=True) == \
        "namespace team-a quota: jobs 0 of 0"
    assert c.scheduler.submission_refusal("team-a", job=False) is None  # tasks are not jobs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quota_cpus=st.integers(1, 6), quota_instances=st.integers(1, 6),
       steps=st.lists(st.tuples(st.sampled_from(["submit", "end", "round"]),
                                st.sampled_from(["team-a", "team-b"]),
                                st.sampled_from([0.5, 1.0, 2.0])), max_size=30))
def test_no_namespace_ever_holds_more_than_its_quota(quota_cpus, quota_instances, steps):
    c = Cluster.make()
    c.add_agent("a1", cpus=32, mem=65536)
    c.add_agent("a2", cpus=32, mem=65536)
    quota = Quota(cpus=float(quota_cpus), instances=quota_instances)
    c.wiring.to_framework(ev.QuotasChanged({"team-a": quota, "team-b": quota}))
    for i, (step, ns, cpus) in enumerate(steps):
        if step == "submit":
            c.submit(spec(f"t{i}", ns=ns, cpus=cpus))
        elif step == "end":
            running = [r for r in c.scheduler.tasks()
                       if r.state is S.RUNNING and r.spec.namespace == ns]
            if running:
                c.end(running[0].task_id)
        else:
            c.advance(6)
            c.allocate()
        for space in ("team-a", "team-b"):
            live = [r for r in c.scheduler.tasks() if r.spec.namespace == space
                    and r.state in (S.STAGING, S.STARTING, S.RUNNING, S.KILLING)]
            assert len(live) <= quota.instances
            assert sum(r.spec.cpus for r in live) <= quota.cpus + 1e-9
