"""The instance index's by-state buckets: always a recount of the records, and an emptied
bucket does not keep the size of what it once held (iterating a dict walks the slots of
every key ever deleted from it until it is rebuilt)."""

import random
import sys
from collections import Counter

from framework.instance_index import InstanceIndex, with_changes
from framework.jobs import Job
from framework.records import HELD, LIVE, TaskRecord
from offers.job import charmander_policies
from offers.states import TERMINAL
from offers.states import TaskState as S
from offers.task import parse_task

SPEC = parse_task({"id": "t", "dockerimage": "x", "mem": 10, "cpus": 0.1})


def index_with(n: int) -> InstanceIndex:
    index = InstanceIndex()
    index.add_job(Job.from_task("j", SPEC, 0.0, charmander_policies(None)))
    for i in range(n):
        index.put(TaskRecord(task_id=f"j.{i}", submission_id="j", spec=SPEC,
                             state=S.PENDING, created_at=0.0))
    return index


def test_the_pending_bucket_shrinks_back_once_its_tasks_are_launched():
    index = index_with(20_000)
    full = sys.getsizeof(index.by_state[S.PENDING])
    for record in list(index.records.values()):
        index.put(with_changes(record, state=S.STAGING, agent_id="a1", hostname="h1"))
    assert not index.by_state[S.PENDING]
    assert sys.getsizeof(index.by_state[S.PENDING]) < full / 10
    assert list(index.pending()) == []


def test_buckets_match_a_recount_through_churn_and_pending_stays_oldest_first():
    rng = random.Random(3)
    index = index_with(3_000)
    moves = {S.PENDING: (S.STAGING,), S.STAGING: (S.RUNNING, S.LOST),
             S.RUNNING: (S.FINISHED, S.LOST), S.LOST: (S.PENDING, S.RUNNING),
             S.FINISHED: (S.FINISHED,)}
    for _ in range(30_000):
        record = index.records[f"j.{rng.randrange(3_000)}"]
        state = rng.choice(moves[record.state])
        index.put(with_changes(record, state=state, agent_id="a1", hostname="h1"))
    recount: dict = {}
    for record in index.records.values():
        recount.setdefault(record.state, set()).add(record.task_id)
    for state in S:
        assert set(index.by_state[state]) == recount.get(state, set()), state
    pending = [r.task_id for r in index.pending()]
    assert pending == sorted(recount.get(S.PENDING, ()), key=lambda t: int(t[2:]))


def test_agent_host_and_slot_indexes_match_a_recount_through_churn():
    """A record that stays on its host keeps its agent and host entries untouched (only
    whether it counts as LIVE changes): every per-agent, per-host, per-slot and per-job
    index still equals a recount of the records, moves between hosts included."""
    rng = random.Random(5)
    index = InstanceIndex()
    job = index.add_job(Job.from_task("j", SPEC, 0.0, charmander_policies(None)))
    for i in range(400):
        index.put(TaskRecord(task_id=f"j.{i}", submission_id="j", spec=SPEC,
                             state=S.PENDING, created_at=0.0, slot=(0, i % 7)))
    moves = {S.PENDING: (S.STAGING, S.KILLED), S.STAGING: (S.STARTING, S.RUNNING, S.KILLING),
             S.STARTING: (S.RUNNING, S.KILLING, S.LOST), S.RUNNING: (S.RUNNING, S.KILLING,
                                                                    S.FINISHED, S.LOST),
             S.KILLING: (S.KILLING, S.KILLED, S.LOST), S.LOST: (S.RUNNING, S.KILLING, S.PENDING)}
    agents = [(f"a{n}", f"h{n}") for n in range(5)] + [(None, None)]
    for _ in range(20_000):
        record = index.records[f"j.{rng.randrange(400)}"]
        state = rng.choice(moves.get(record.state, (record.state,)))
        agent, host = rng.choice(agents) if (
            record.state is S.PENDING or rng.random() < 0.2) else (record.agent_id,
                                                                   record.hostname)
        index.put(with_changes(record, state=state, agent_id=agent, hostname=host))
    records = list(index.records.values())
    held = [r for r in records if r.state in HELD]
    live = [r for r in records if r.state in LIVE]
    held_on: dict = {}
    for r in held:
        if r.agent_id:
            held_on.setdefault(r.agent_id, set()).add(r.task_id)
    assert {a: set(ids) for a, ids in index.held_on.items()} == held_on
    hosts = Counter(r.hostname for r in held if r.hostname)
    assert job.hosts == dict(hosts)
    live_on: dict = {}
    for r in live:
        live_on.setdefault(r.agent_id or "", set()).add(r.task_id)
    assert {a: set(ids) for a, ids in job.live_on.items()} == live_on
    assert job.crowded == {a for a, ids in live_on.items() if len(ids) > 1}
    by_slot: dict = {}
    for r in records:
        if r.state not in TERMINAL:
            by_slot.setdefault(r.slot, set()).add(r.task_id)
    assert {k: set(ids) for k, ids in job.by_slot.items()} == by_slot
    by_state: dict = {}
    for r in records:
        by_state.setdefault(r.state, set()).add(r.task_id)
    assert {k: set(ids) for k, ids in job.by_state.items()} == by_state
