"""The reconciler, table-driven: a job (desired) x its instances (observed) -> the plan;
and what `note_end` makes of an instance's end under the job's policies."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from framework.instance_index import InstanceIndex
from framework.jobs import MASTER, Job, Slot
from framework.reconciler import note_end, note_running, reconcile
from framework.records import TaskRecord
from offers.job import Phase, parse_job
from offers.states import TaskState as S

T = {"dockerimage": "busybox", "mem": 100, "cpus": 0.5}
NOW = 1000.0


def make_job(**fields) -> tuple[InstanceIndex, Job]:
    index = InstanceIndex()
    job = Job.from_spec(parse_job({"name": "j", "task": T, **fields}), created_at=0.0)
    index.add_job(job)
    return index, job


def record(job: Job, task_id: str, slot, state: S, agent: str | None = "a1",
           launched_at: float | None = 10.0, **more) -> TaskRecord:
    if state is S.PENDING:
        agent, launched_at = None, None
    return TaskRecord(task_id=task_id, submission_id=job.id, spec=job.templates[0],
                      state=state, created_at=0.0, agent_id=agent,
                      hostname=f"h-{agent}" if agent else None, launched_at=launched_at,
                      running_at=launched_at if state is S.RUNNING else None,
                      slot=slot, **more)


def put(index: InstanceIndex, job: Job, *records: TaskRecord) -> None:
    for r in records:
        job.instances[r.task_id] = None
        index.put(r)


@dataclass
class Case:
    name: str
    job: dict
    observed: list[tuple]  # (task id, slot, state[, agent[, launched_at]])
    starts: list[tuple]  # (slot, not_before)
    stops: list[tuple[str, str]]  # (task id, words in the reason)
    phase: Phase
    slots: dict = field(default_factory=dict)  # slot -> Slot fields (bookkeeping)
    job_fields: dict = field(default_factory=dict)  # Job fields set after building
    reason: str | None = None  # words in the phase's reason


BATCH = {"type": "batch", "completions": 5, "parallelism": 2}
W = (MASTER, 0)

CASES = [
    Case("batch: parallelism limits the starts", BATCH, [],
         [((0, 0), 0.0), ((0, 1), 0.0)], [], Phase.PENDING),
    Case("batch: a running instance takes one of the parallelism", BATCH,
         [("j.1", (0, 0), S.RUNNING)], [((0, 1), 0.0)], [], Phase.RUNNING),
    Case("batch: a done slot never starts again",
         {"type": "batch", "completions": 3}, [],
         [((0, 1), 0.0), ((0, 2), 0.0)], [], Phase.PENDING,
         slots={(0, 0): {"done": True}}),
    Case("batch: done slots do not count against parallelism", BATCH,
         [("j.3", (0, 2), S.STAGING)], [((0, 3), 0.0)], [], Phase.PENDING,
         slots={(0, 0): {"done": True}, (0, 1): {"done": True}}),
    Case("batch: a slot waiting to restart starts not before its time", BATCH, [],
         [((0, 0), 1030.0), ((0, 1), 0.0)], [], Phase.PENDING,
         slots={(0, 0): {"retry_at": 1030.0, "failures": [999.0]}}),
    Case("batch: complete", {"type": "batch", "completions": 3}, [], [], [],
         Phase.COMPLETE, slots={(0, i): {"done": True} for i in range(3)},
         reason="3 instances exited 0"),
    Case("batch: failed when a slot's restarts are spent; the others stopped",
         {"type": "batch", "completions": 3},
         [("j.1", (0, 0), S.RUNNING), ("j.3", (0, 2), S.PENDING)], [],
         [("j.1", "the job failed"), ("j.3", "the job failed")], Phase.FAILED,
         slots={(0, 1): {"gave_up": "exited with code 3 (restarted 3 times within 1800 s)"}},
         reason="index 1: exited with code 3"),
    Case("service: count 3 with 2 live -> one start", {"count": 3},
         [("j.1", (0, 0), S.RUNNING), ("j.2", (0, 1), S.STARTING)],
         [((0, 2), 0.0)], [], Phase.RUNNING),
    Case("service: scaled down -> the highest indexes stopped", {"count": 3},
         [("j.1", (0, 0), S.RUNNING), ("j.2", (0, 1), S.RUNNING),
          ("j.3", (0, 2), S.PENDING)], [],
         [("j.2", "scaled down"), ("j.3", "scaled down")], Phase.RUNNING,
         job_fields={"counts": (1,)}),
    Case("service: two live in one slot -> the older launch stopped", {"count": 1},
         [("j.1", (0, 0), S.RUNNING, "a1", 10.0), ("j.2", (0, 0), S.RUNNING, "a2", 20.0)],
         [], [("j.1", "duplicate of j.2")], Phase.RUNNING),
    Case("service: a KILLING one beside a live one is left to end", {"count": 1},
         [("j.1", (0, 0), S.KILLING, "a1"), ("j.2", (0, 0), S.RUNNING, "a2")],
         [], [], Phase.RUNNING),
    Case("service: live + pending in one slot -> the pending one dropped", {"count": 1},
         [("j.1", (0, 0), S.RUNNING), ("j.2", (0, 0), S.PENDING)], [],
         [("j.2", "not needed: j.1 is running")], Phase.RUNNING),
    Case("parallel: only the master until it runs",
         {"type": "parallel", "count": 2, "master": T}, [],
         [(W, 0.0)], [], Phase.PENDING),
    Case("parallel: master staging -> still no workers",
         {"type": "parallel", "count": 2, "master": T}, [("j.1", W, S.STAGING)],
         [], [], Phase.PENDING),
    Case("parallel: master running -> the workers",
         {"type": "parallel", "count": 2, "master": T}, [("j.1", W, S.RUNNING)],
         [((0, 0), 0.0), ((0, 1), 0.0)], [], Phase.RUNNING),
    Case("parallel: master done -> complete and the workers stopped",
         {"type": "parallel", "count": 2, "master": T},
         [("j.2", (0, 0), S.RUNNING), ("j.3", (0, 1), S.PENDING)], [],
         [("j.2", "the job is complete"), ("j.3", "the job is complete")],
         Phase.COMPLETE, slots={W: {"done": True}}, reason="master exited with status 0"),
    Case("parallel: master given up -> failed",
         {"type": "parallel", "count": 1, "master": T},
         [("j.2", (0, 0), S.RUNNING)], [], [("j.2", "the job failed")], Phase.FAILED,
         slots={W: {"gave_up": "exited with code 1 (no restart allowed)"}},
         reason="master: exited with code 1"),
    Case("array: units done are not restarted", {"type": "array", "count": 3},
         [("j.2", (0, 1), S.RUNNING)], [((0, 2), 0.0)], [], Phase.RUNNING,
         slots={(0, 0): {"done": True}}),
    Case("array: all units done -> complete", {"type": "array", "count": 2}, [], [], [],
         Phase.COMPLETE, slots={(0, 0): {"done": True}, (0, 1): {"done": True}}),
    Case("stopped: everything stopped, phase stopped", {"count": 3},
         [("j.1", (0, 0), S.RUNNING), ("j.2", (0, 1), S.PENDING),
          ("j.3", (0, 2), S.KILLING)], [],
         [("j.1", "the job was stopped"), ("j.2", "the job was stopped")], Phase.STOPPED,
         job_fields={"wanted": False}, reason="stopped on request"),
    Case("stepped: the next step waits until the current one all runs", {"count": 2},
         [("j.1", (0, 0), S.RUNNING), ("j.2", (0, 1), S.STAGING)], [], [],
         Phase.RUNNING, job_fields={"steps": [4, 6]}),
    Case("stepped: all of the current step runs -> the next step's starts", {"count": 2},
         [("j.1", (0, 0), S.RUNNING), ("j.2", (0, 1), S.RUNNING)],
         [((0, 2), 0.0), ((0, 3), 0.0)], [], Phase.RUNNING, job_fields={"steps": [4, 6]}),
    Case("several templates: each its own count",
         {"type": "array", "task": None,
          "tasks": [{**T, "id": "a", "count": 1}, {**T, "id": "b", "count": 2}]},
         [("j.1", (1, 0), S.RUNNING)], [((0, 0), 0.0), ((1, 1), 0.0)], [], Phase.RUNNING),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reconcile(case: Case):
    fields = {k: v for k, v in case.job.items() if v is not None}
    if "task" in case.job and case.job["task"] is None:
        fields = {k: v for k, v in fields.items() if k != "task"}
        index = InstanceIndex()
        job = Job.from_spec(parse_job({"name": "j", **fields}), created_at=0.0)
        index.add_job(job)
    else:
        index, job = make_job(**fields)
    for key, values in case.slots.items():
        for name, value in values.items():
            setattr(job.slot(key), name, value)
        job.done += bool(values.get("done"))  # the counters note_end keeps beside
        if values.get("gave_up"):
            job.given_up[key] = values["gave_up"]
    for name, value in case.job_fields.items():
        setattr(job, name, value)
    put(index, job, *(record(job, *row) for row in case.observed))

    plan = reconcile(job, index.records, NOW)

    assert [(s.slot, s.not_before) for s in plan.starts] == case.starts
    assert sorted(s.task_id for s in plan.stops) == sorted(t for t, _ in case.stops)
    reasons = {s.task_id: s.reason for s in plan.stops}
    for task_id, words in case.stops:
        assert words in reasons[task_id], reasons
    assert plan.phase is case.phase, plan.reason
    if case.reason is not None:
        assert plan.reason is not None and case.reason in plan.reason


def test_reconcile_changes_nothing():
    """Pure: the same plan twice, and no bookkeeping changed (it may create empty slots)."""
    index, job = make_job(type="batch", completions=3, parallelism=2)
    job.steps = [5]
    job.slot((0, 2)).done = True
    put(index, job, record(job, "j.1", (0, 0), S.RUNNING))

    def state():
        slots = {k: repr(v) for k, v in job.slots.items() if v != Slot()}
        return (slots, job.counts, job.steps, job.phase, dict(index.records),
                {k: dict(v) for k, v in job.by_slot.items()})

    before = state()
    first = reconcile(job, index.records, NOW)
    assert reconcile(job, index.records, NOW) == first
    assert state() == before


def test_stepped_plan_says_the_next_count():
    index, job = make_job(count=2)
    job.steps = [4, 6]
    put(index, job, record(job, "j.1", (0, 0), S.RUNNING), record(job, "j.2", (0, 1), S.RUNNING))
    assert reconcile(job, index.records, NOW).counts == (4,)


def test_restart_wait_is_the_start_reason():
    index, job = make_job(count=1)
    job.slot((0, 0)).retry_at = NOW + 30
    [start] = reconcile(job, index.records, NOW).starts
    assert "restarting after a failure" in (start.reason or "")


# -- system jobs --------------------------------------------------------------------------


def system_record(job, task_id, state, agent, launched_at=10.0):
    return record(job, task_id, None, state, agent, launched_at)


def test_system_one_pending_when_none_open():
    index, job = make_job(type="system")
    put(index, job, system_record(job, "j.1", S.FINISHED, "a1"))
    plan = reconcile(job, index.records, NOW)
    assert [(s.slot, s.not_before) for s in plan.starts] == [(None, 0.0)]
    assert plan.stops == [] and plan.phase is Phase.PENDING


def test_system_no_start_while_one_is_open():
    index, job = make_job(type="system")
    put(index, job, system_record(job, "j.1", S.RUNNING, "a1"))
    plan = reconcile(job, index.records, NOW)
    assert plan.starts == [] and plan.phase is Phase.RUNNING


def test_system_second_instance_on_one_agent_stopped():
    index, job = make_job(type="system")
    put(index, job, system_record(job, "j.1", S.RUNNING, "a1", 10.0),
        system_record(job, "j.2", S.STAGING, "a1", 20.0),
        system_record(job, "j.3", S.RUNNING, "a2", 5.0))
    plan = reconcile(job, index.records, NOW)
    assert [s.task_id for s in plan.stops] == ["j.1"]
    assert "second instance on agent a1" in plan.stops[0].reason


def test_system_stopped_stops_all_but_the_killing():
    index, job = make_job(type="system")
    job.wanted = False
    put(index, job, system_record(job, "j.1", S.RUNNING, "a1"),
        system_record(job, "j.2", S.KILLING, "a2"), system_record(job, "j.3", S.PENDING, None))
    plan = reconcile(job, index.records, NOW)
    assert sorted(s.task_id for s in plan.stops) == ["j.1", "j.3"]
    assert plan.starts == [] and plan.phase is Phase.STOPPED


# -- note_end -----------------------------------------------------------------------------


def ended(job, state, slot=(0, 0), task_id="j.1", agent="a1", ran=True, **more):
    return TaskRecord(task_id=task_id, submission_id=job.id, spec=job.templates[0],
                      state=state, created_at=0.0, agent_id=agent, hostname=f"h-{agent}",
                      launched_at=1.0, running_at=2.0 if ran else None, slot=slot, **more)


RESTART = {"attempts": 3, "delay": 10, "backoff": 2, "max_delay": 25, "interval": 500}


def test_failure_within_attempts_retries_after_a_growing_capped_delay():
    _, job = make_job(type="batch", completions=1, restart=RESTART)
    slot = job.slot((0, 0))
    waits = []
    for now in (100.0, 200.0, 300.0):
        note_end(job, ended(job, S.FAILED, reason="exited with code 3"), now)
        waits.append(slot.retry_at - now)
    assert waits == [10.0, 20.0, 25.0]  # delay * backoff^(n-1), capped at max_delay
    assert slot.gave_up is None and job.restarts == 3


def test_attempts_spent_within_the_interval_gives_up_with_the_reason():
    _, job = make_job(type="batch", completions=1, restart=RESTART)
    for now in (100.0, 200.0, 300.0, 400.0):
        note_end(job, ended(job, S.FAILED, reason="exited with code 3"), now)
    gave_up = job.slot((0, 0)).gave_up
    assert gave_up is not None and "exited with code 3" in gave_up
    assert "restarted 3 times within 500 s" in gave_up


def test_failures_older_than_the_interval_do_not_count():
    _, job = make_job(type="batch", completions=1, restart=RESTART)
    for now in (100.0, 200.0, 300.0, 650.0):  # 100 is older than 650 - 500
        note_end(job, ended(job, S.FAILED), now)
    slot = job.slot((0, 0))
    assert slot.gave_up is None
    assert slot.failures == [200.0, 300.0, 650.0]
    assert slot.retry_at == 650.0 + 25.0  # the third within the interval: 40, capped


def test_no_restart_allowed():
    _, job = make_job(type="batch", completions=1, restart={"attempts": 0})
    note_end(job, ended(job, S.FAILED, reason="exited with code 1"), 100.0)
    assert job.slot((0, 0)).gave_up == "exited with code 1 (no restart allowed)"


def test_lost_before_running_counts_nothing():
    _, job = make_job(count=1, relaunch={"attempts": 0})
    note_end(job, ended(job, S.LOST, ran=False), 100.0)
    slot = job.slot((0, 0))
    assert (slot.relaunches, slot.retry_at, slot.avoid, slot.gave_up) == (0, 0.0, {}, None)
    assert job.restarts == 0


def test_lost_after_running_relaunches_avoiding_the_node():
    _, job = make_job(count=1, relaunch={"avoid": 120})
    note_end(job, ended(job, S.LOST, agent="a2"), 100.0)
    slot = job.slot((0, 0))
    assert slot.relaunches == 1 and slot.retry_at == 100.0
    assert slot.avoid == {"h-a2": 220.0}
    assert slot.failures == [] and slot.gave_up is None


def test_relaunch_attempts_spent_gives_up():
    _, job = make_job(count=1, relaunch={"attempts": 1})
    note_end(job, ended(job, S.LOST, reason="agent a1 was lost"), 100.0)
    assert job.slot((0, 0)).gave_up is None
    note_end(job, ended(job, S.LOST, task_id="j.2", reason="agent a1 was lost"), 200.0)
    assert job.slot((0, 0)).gave_up == "agent a1 was lost"


def test_errors_in_a_row_give_up():
    _, job = make_job(count=1, relaunch={"errors": 2})
    note_end(job, ended(job, S.ERROR, ran=False, reason="image not found"), 100.0)
    slot = job.slot((0, 0))
    assert slot.gave_up is None and slot.retry_at > 100.0
    note_end(job, ended(job, S.ERROR, ran=False, reason="image not found"), 200.0)
    assert slot.gave_up == "image not found"


def test_running_between_errors_resets_them():
    _, job = make_job(count=1, relaunch={"errors": 2})
    note_end(job, ended(job, S.ERROR, ran=False), 100.0)
    note_running(job, ended(job, S.RUNNING, task_id="j.2"))
    note_end(job, ended(job, S.ERROR, ran=False, task_id="j.3"), 200.0)
    assert job.slot((0, 0)).gave_up is None


def test_killed_by_the_user_counts_nothing():
    _, job = make_job(type="batch", completions=1, restart={"attempts": 0})
    note_end(job, ended(job, S.FAILED, killed=True), 100.0)
    note_end(job, ended(job, S.KILLED, killed=True), 100.0)
    slot = job.slot((0, 0))
    assert (slot.failures, slot.gave_up, slot.done, job.restarts) == ([], None, False, 0)


def test_stopped_by_the_scheduler_counts_nothing():
    _, job = make_job(count=1, restart={"attempts": 0})
    note_end(job, ended(job, S.FAILED, ending="stop"), 100.0)
    assert job.slot((0, 0)).gave_up is None


def test_batch_exit_zero_is_done_service_exit_zero_restarts():
    _, batch = make_job(type="batch", completions=1)
    note_end(batch, ended(batch, S.FINISHED), 100.0)
    assert batch.slot((0, 0)).done
    _, service = make_job(count=1, restart={"delay": 7})
    note_end(service, ended(service, S.FINISHED), 100.0)
    slot = service.slot((0, 0))
    assert not slot.done and slot.retry_at == 107.0


def test_deadline_gives_up_the_slot():
    _, job = make_job(count=1, max_runtime=60)
    note_end(job, ended(job, S.FAILED, ending="deadline",
                        reason="deadline exceeded: ran longer than max_runtime 60 s"), 100.0)
    assert job.slot((0, 0)).gave_up.startswith("deadline exceeded")


def test_startup_timeout_kill_is_an_infrastructure_relaunch():
    _, job = make_job(count=1, relaunch={"avoid": 50})
    note_end(job, ended(job, S.KILLED, ran=False, ending="infrastructure"), 100.0)
    slot = job.slot((0, 0))
    assert slot.relaunches == 1 and slot.avoid == {"h-a1": 150.0}
