"""The simulator's cheap paths give what the plain ones give: records filled field by field,
the event queue's in-order line, the nodes' books behind their numpy views."""

from __future__ import annotations

import dataclasses
import heapq
import random

import numpy as np
import pytest

from framework import events as ev
from master import events as E
from offers.cluster import NodeSpec
from offers.launch import LaunchSpec
from offers.resource_vector import Resources
from offers.states import TaskState
from offers.task import parse_task
from simulator.frozen import maker
from simulator.nodes import SimNodes
from simulator.queue import EventQueue, Kind

SPEC = parse_task({"id": "web", "dockerimage": "x", "cpus": 1, "mem": 64})
RECORDS = [
    (ev.TaskStatusChanged, ("web-1", TaskState.RUNNING, "ok", "a1", None, "c1", None, None,
                             True)),
    (ev.UsageObserved, ("web-1", 0.5, 32.0)),
    (ev.TaskSubmitted, ("web-1", SPEC, None)),
    (E.AgentStatus, ("a1", "web-1", TaskState.FINISHED, None, "done", None, 0, None, None)),
    (E.Acknowledge, ("fw", "a1", "web-1", "u1")),
    (E.AgentCapacity, ("a1", Resources(4.0, 4096.0, 10.0), Resources(1.0, 2.0, 3.0, ((1, 2),)),
                       Resources(0.5, 64.0), {})),
    (Resources, (1.0, 2.0, 3.0, ((31000, 31001),))),
    (E.TaskLaunch, ("web-1", "web", "a1", Resources(1.0, 64.0),
                    LaunchSpec.from_task("web-1", "fw", SPEC))),
    (E.Accept, ("fw", ("o1",), (), None)),
]


@pytest.mark.parametrize(("cls", "values"), RECORDS, ids=lambda x: getattr(x, "__name__", ""))
def test_a_made_record_is_the_record(cls, values):
    made, built = maker(cls)(*values), cls(*values)
    assert type(made) is cls
    assert made == built and repr(made) == repr(built)
    if all(isinstance(v, str | float | int | tuple | Resources | None) for v in values):
        assert hash(made) == hash(built)  # (a spec holds a dict: no hash either way)
    assert dataclasses.replace(made) == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.__setattr__(dataclasses.fields(cls)[0].name, None)


def test_a_maker_wants_every_field():
    with pytest.raises(TypeError):
        maker(E.Acknowledge)("fw", "a1", "web-1")


@dataclasses.dataclass(frozen=True, slots=True)
class Slotted:
    x: int


@dataclasses.dataclass(frozen=True)
class Checked:
    x: int

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("negative")


@dataclasses.dataclass
class Mutable:
    x: int


@pytest.mark.parametrize("cls", [Slotted, Checked, Mutable])
def test_what_cannot_be_filled_is_built_by_its_class(cls):
    assert maker(cls) is cls


def test_the_in_order_line_pops_as_the_heap_would():
    rng = random.Random(5)
    queue, heap, seq, now = EventQueue(in_order=Kind.USAGE), [], 0, 0.0
    popped, expected = [], []
    for step in range(3000):
        if rng.random() < 0.6 or not heap:
            kind = rng.choice([Kind.USAGE, Kind.USAGE, Kind.FINISH, Kind.SAMPLE])
            # mostly a fixed delay after now; now and then one pushed out of order
            when = now + (60.0 if kind is Kind.USAGE and rng.random() < 0.9
                          else rng.choice([0.0, 5.0, 60.0, rng.uniform(0, 120)]))
            queue.push(when, kind, step)
            heapq.heappush(heap, (when, int(kind), seq, step))
            seq += 1
        else:
            assert queue.peek() == heap[0][:2]
            popped.append(queue.pop())
            when, kind, _, payload = heapq.heappop(heap)
            expected.append((when, kind, payload))
            now = when
    assert popped == expected and len(queue) == len(heap)


def test_the_books_are_what_the_arrays_show():
    nodes = SimNodes([NodeSpec(hostname=f"n{i}", cpus=8, mem=1000, disk=10) for i in range(3)])
    nodes.set_incumbent_share(np.array([0.5, 0.0, 0.25]))
    assert nodes.start(1, (0.1, 100.0, 1.0), (0.05, 50.0), work=True) == (0.1, 100.0, 1.0)
    nodes.start(1, (0.2, 200.0, 2.0), (0.1, 80.0), work=False)
    nodes.start(2, (9.0, 10.0, 0.0), (1.0, 1.0), work=True)
    assert nodes.allocated[1].tolist() == [0.1 + 0.2, 300.0, 3.0]
    assert nodes.used[1].tolist() == [0.05 + 0.1, 130.0]
    assert nodes.task_count.tolist() == [0, 2, 1] and nodes.work_count.tolist() == [0, 1, 1]
    for node in range(3):
        assert nodes.spare_of(node) == tuple(nodes.spare()[node].tolist())
    assert nodes.spare_of(2) == (0.0, 740.0, 10.0)  # never below zero
    nodes.stop(1, (0.1, 100.0, 1.0), (0.05, 50.0), work=True)
    nodes.stop(1, (0.2, 200.0, 2.0), (0.1, 80.0), work=False)
    assert nodes.allocated[1].tolist() == [0.0, 0.0, 0.0]  # no float dust left behind
    assert nodes.used[1].tolist() == [0.0, 0.0]
    assert nodes.task_count.tolist() == [0, 0, 1] and nodes.work_count.tolist() == [0, 0, 1]
