"""The elasticity grades (offers/elasticity.py): CPU before memory before preemption,
proportional shares, never below use, growth back; and the budget as an invariant."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from executor.capacity import Amounts
from offers.elasticity import (
    ChangeStep,
    ElasticPolicy,
    Grade,
    IncumbentTracker,
    Tenant,
    decide,
    secondary_budget,
)

TOTAL = Amounts(4.0, 8192.0, 0.0)
HEADROOM = Amounts(0.0, 0.0, 0.0)

# Preempting for CPU too (`--preempt-for-cpu`): then every kept limit fits the budget.
STRICT = ElasticPolicy(cpu_preempts=True)


def tenant(task_id, cpus, mem, used_mem=0.0, priority=0, started=0.0, elastic=True):
    return Tenant(task_id, Amounts(cpus, mem, 0.0), Amounts(0.0, used_mem, 0.0), priority,
                  started, elastic)


def budget_for(incumbent_cpus=0.0, incumbent_mem=0.0):
    return secondary_budget(TOTAL, Amounts(incumbent_cpus, incumbent_mem, 0.0), HEADROOM)


def test_an_idle_node_leaves_every_task_its_requested_size():
    tasks = [tenant("a", 1, 1024), tenant("b", 2, 2048)]
    decision = decide(budget_for(), tasks)
    assert decision.grade is Grade.NONE
    assert decision.limits == {"a": Amounts(1, 1024, 0), "b": Amounts(2, 2048, 0)}
    assert decision.preempted == ()


def test_cpu_load_lowers_quotas_in_proportion_to_requests_and_leaves_memory():
    tasks = [tenant("a", 1, 1024), tenant("b", 3, 2048)]
    decision = decide(budget_for(incumbent_cpus=2.0), tasks)  # 2 cpus left for 4 asked
    assert decision.grade is Grade.CPU
    assert decision.limits["a"].cpus == 0.5
    assert decision.limits["b"].cpus == 1.5
    assert decision.limits["a"].mem == 1024 and decision.limits["b"].mem == 2048
    assert decision.taken_back(tasks) == Amounts(2.0, 0.0, 0.0)


def test_memory_load_lowers_limits_toward_use_never_below_it():
    tasks = [tenant("a", 1, 3000, used_mem=500), tenant("b", 1, 3000, used_mem=2500)]
    decision = decide(budget_for(incumbent_mem=8192 - 4000), tasks)  # 4000 MiB for 6000
    assert decision.grade is Grade.MEMORY
    a, b = decision.limits["a"].mem, decision.limits["b"].mem
    assert a + b <= 4000 + 1e-6
    assert a >= 500 and b >= 2500  # never below what each uses
    assert 3000 - a > 3000 - b  # the one with room to give gives more
    assert decision.preempted == ()


def test_preemption_only_when_the_floors_do_not_fit_least_important_first():
    tasks = [tenant("old-low", 1, 2000, used_mem=1800, priority=0, started=1.0),
             tenant("young-low", 1, 2000, used_mem=1800, priority=0, started=5.0),
             tenant("high", 1, 2000, used_mem=1800, priority=10, started=9.0)]
    decision = decide(budget_for(incumbent_mem=8192 - 4200), tasks)  # room for two floors
    assert decision.grade is Grade.PREEMPT
    assert [p.task_id for p in decision.preempted] == ["young-low"]
    assert decision.preempted[0].reason.startswith("preempted: node's own load needs ")
    assert "1800 MiB" in decision.preempted[0].reason  # 6000 asked, 4200 left
    assert set(decision.limits) == {"old-low", "high"}
    assert sum(v.mem for v in decision.limits.values()) <= 4200 + 1e-6


def test_cpu_pressure_alone_never_preempts_while_quotas_can_shrink():
    tasks = [tenant("a", 2, 1024), tenant("b", 2, 1024)]
    decision = decide(budget_for(incumbent_cpus=3.9), tasks)
    assert decision.grade is Grade.CPU
    assert decision.preempted == ()
    assert sum(v.cpus for v in decision.limits.values()) <= 0.1 + 1e-9


def test_a_node_that_wants_every_core_preempts_unless_cpu_may_not():
    tasks = [tenant("a", 1, 1024, started=1.0), tenant("b", 1, 1024, started=2.0)]
    busy = budget_for(incumbent_cpus=3.985)  # room for one smallest quota, not two
    assert [p.task_id for p in decide(busy, tasks, STRICT).preempted] == ["b"]
    gentle = decide(busy, tasks)  # the default: CPU is compressible
    assert gentle.preempted == ()
    assert gentle.limits["a"].cpus == gentle.limits["b"].cpus == ElasticPolicy().min_cpus


def test_work_that_is_not_elastic_keeps_its_size_and_goes_last():
    tasks = [tenant("fixed", 2, 2048, elastic=False, priority=-5),
             tenant("elastic", 2, 2048, used_mem=100, priority=5)]
    decision = decide(budget_for(incumbent_cpus=1.0, incumbent_mem=4096), tasks)
    assert decision.limits["fixed"] == Amounts(2, 2048, 0)
    assert decision.limits["elastic"].cpus == 1.0
    assert decision.limits["elastic"].mem == 2048
    squeezed = decide(budget_for(incumbent_mem=8192 - 2100), tasks)
    assert [p.task_id for p in squeezed.preempted] == ["elastic"]  # despite its priority
    assert squeezed.limits == {"fixed": Amounts(2, 2048, 0)}


def test_limits_grow_back_to_the_requested_size_when_the_load_goes():
    tasks = [tenant("a", 1, 2048, used_mem=200)]
    squeezed = decide(budget_for(incumbent_cpus=3.5, incumbent_mem=7000), tasks)
    assert squeezed.limits["a"].cpus < 1 and squeezed.limits["a"].mem < 2048
    relieved = decide(budget_for(), tasks)
    assert relieved.limits["a"] == Amounts(1, 2048, 0)
    assert relieved.grade is Grade.NONE


def test_the_incumbent_estimate_rises_at_once_and_falls_gradually():
    tracker = IncumbentTracker(fall=0.5)
    tracker.update(Amounts(0.0, 100.0, 0.0))
    assert tracker.update(Amounts(2.0, 900.0, 0.0)) == Amounts(2.0, 900.0, 0.0)
    assert tracker.update(Amounts(0.0, 100.0, 0.0)) == Amounts(1.0, 500.0, 0.0)


def test_small_moves_are_not_worth_an_update_but_a_return_is():
    step = ChangeStep()
    requested = Amounts(1.0, 1024.0, 0.0)
    assert not step.changed(Amounts(0.5, 1000, 0), Amounts(0.51, 1003, 0), requested)
    assert step.changed(Amounts(0.5, 1000, 0), Amounts(0.3, 1000, 0), requested)
    assert step.changed(Amounts(0.99, 1024, 0), Amounts(1.0, 1024, 0), requested)


tenants_st = st.lists(
    st.builds(
        Tenant,
        task_id=st.text("abcdef", min_size=1, max_size=4),
        requested=st.builds(Amounts, st.floats(0.01, 4), st.floats(6, 4096), st.just(0.0)),
        used=st.builds(Amounts, st.just(0.0), st.floats(0, 4096), st.just(0.0)),
        priority=st.integers(-3, 3),
        started=st.floats(0, 100),
        elastic=st.booleans(),
    ),
    max_size=8, unique_by=lambda t: t.task_id)


@given(tenants_st, st.floats(0, 8), st.floats(0, 16384))
@settings(max_examples=300)
def test_kept_limits_always_fit_the_budget_and_respect_use(tenants, cpus, mem):
    budget = Amounts(cpus, mem, 0.0)
    decision = decide(budget, tenants, STRICT)
    assert sum(v.cpus for v in decision.limits.values()) <= budget.cpus + 1e-6
    assert sum(v.mem for v in decision.limits.values()) <= budget.mem + 1e-6
    policy = ElasticPolicy()
    for t in tenants:
        limit = decision.limits.get(t.task_id)
        if limit is None:
            continue
        assert limit.cpus <= t.requested.cpus + 1e-9 and limit.mem <= t.requested.mem + 1e-9
        assert limit.mem >= policy.mem_floor(t) - 1e-6  # never below use (plus margin)
    assert len(decision.limits) + len(decision.preempted) == len(tenants)


class ANodeUnderChangingLoad(RuleBasedStateMachine):
    """Tasks come, use memory and go while the node's own load moves; the agent decides
    once per period and carries the decision out. After every period the limits of the
    tasks it decided on fit the budget measured in it; a task launched since (placed on
    the spare the master last heard of) is brought inside it by the next period."""

    def __init__(self):
        super().__init__()
        self.tasks: dict[str, Tenant] = {}
        self.limits: dict[str, Amounts] = {}
        self.incumbent = Amounts(0.0, 0.0, 0.0)
        self.tracker = IncumbentTracker()
        self.decided: tuple[Amounts, set[str]] | None = None  # last budget, its tasks
        self.clock = 0.0
        self.serial = 0

    @rule(cpus=st.floats(0.01, 2), mem=st.floats(6, 3000), priority=st.integers(-2, 2),
          elastic=st.booleans())
    def launch(self, cpus, mem, priority, elastic):
        self.serial += 1
        task_id = f"t{self.serial}"
        self.tasks[task_id] = Tenant(task_id, Amounts(cpus, mem, 0.0), started=self.clock,
                                     priority=priority, elastic=elastic)
        self.limits[task_id] = Amounts(cpus, mem, 0.0)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), share=st.floats(0, 1))
    def use_memory(self, data, share):
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        task = self.tasks[task_id]
        used = share * self.limits[task_id].mem  # a container never uses above its limit
        self.tasks[task_id] = Tenant(task.task_id, task.requested, Amounts(0.0, used, 0.0),
                                     task.priority, task.started, task.elastic)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def finish(self, data):
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        del self.tasks[task_id]
        del self.limits[task_id]

    @rule(cpus=st.floats(0, 4), mem=st.floats(0, 8192))
    def incumbent_moves(self, cpus, mem):
        self.incumbent = Amounts(cpus, mem, 0.0)

    @rule()
    def period(self):
        self.clock += 1.0
        budget = secondary_budget(TOTAL, self.tracker.update(self.incumbent), HEADROOM)
        decision = decide(budget, list(self.tasks.values()), STRICT)
        for p in decision.preempted:
            del self.tasks[p.task_id]
            del self.limits[p.task_id]
        self.limits.update(decision.limits)
        self.decided = (budget, set(self.tasks))

    @invariant()
    def limits_fit_the_budget_of_the_last_period(self):
        if self.decided is None:
            return
        budget, decided = self.decided
        kept = [v for k, v in self.limits.items() if k in decided]
        assert sum(v.cpus for v in kept) <= budget.cpus + 1e-6
        assert sum(v.mem for v in kept) <= budget.mem + 1e-6


ANodeUnderChangingLoad.TestCase.settings = settings(max_examples=100,
                                                    stateful_step_count=40)
TestElasticityStateful = ANodeUnderChangingLoad.TestCase


# -- revocable capacity in the framework's offer rounds -------------------------------------


def test_only_elastic_work_is_placed_on_revocable_capacity():
    from dataclasses import replace

    from tests.framework_harness import Harness, launches, task

    h = Harness.make()
    fixed = h.submit(task("fixed", mem=800, elastic=False))
    elastic = h.submit(task("elastic", mem=800))
    # 500 MiB regular, 1000 MiB taken back from elastic tasks on the node
    offer = replace(h.offer("a1", mem=500), revocable_cpus=1.0, revocable_mem=1000.0)
    [launch] = launches(h.offers(offer))
    assert [t for t, _ in launch.tasks] == [elastic]
    assert "node" in (h.scheduler.pending_reason(fixed) or "")
    plain = h.offer("a2", mem=1000)  # no revocable part: fixed work fits here
    [launch] = launches(h.offers(plain))
    assert [t for t, _ in launch.tasks] == [fixed]


def test_a_preempted_instance_is_relaunched_elsewhere_by_its_jobs_policy():
    from framework import events as ev
    from offers.job import parse_job
    from offers.states import TaskState as S
    from tests.framework_harness import Harness, launches

    h = Harness.make()
    h.send(ev.JobSubmitted(parse_job({
        "name": "crunch", "count": 1, "relaunch": {"avoid": 600},
        "task": {"dockerimage": "busybox", "mem": 100, "cpus": 0.5}})))
    [first] = [t for c in launches(h.offers(h.offer("a1"))) for t, _ in c.tasks]
    h.status(first, "RUNNING")
    reason = "preempted: node's own load needs 1.50 cpus / 700 MiB"
    h.status(first, "LOST", reason=reason)
    record = h.scheduler.task(first)
    assert record.state is S.LOST and reason in (record.reason or "")
    assert launches(h.offers(h.offer("a1"))) == []  # the busy node is avoided a while
    [second] = [t for c in launches(h.offers(h.offer("a2"))) for t, _ in c.tasks]
    assert second != first


def test_elastic_false_on_a_job_template_reaches_the_launch():
    from offers.job import parse_job
    from offers.launch import LaunchSpec
    from offers.protocol.task_info import task_info

    job = parse_job({"name": "db", "priority": 5,
                     "task": {"dockerimage": "busybox", "elastic": False}})
    spec = LaunchSpec.from_task("db-1", "fw", job.task.task(job))
    assert (spec.elastic, spec.priority) == (False, 5)
    labels = {lb["key"]: lb["value"] for lb in task_info(spec, "a1")["labels"]["labels"]}
    assert labels["berth.elastic"] == "false" and labels["berth.priority"] == "5"
