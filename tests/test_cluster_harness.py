"""The real master core and the framework core together, in memory (tests/cluster_harness)."""

from __future__ import annotations

from offers.states import TaskState
from tests.cluster_harness import FRAMEWORK_ID, Cluster
from tests.framework_harness import task


def test_a_submitted_task_is_launched_on_an_agents_offer():
    c = Cluster.make()
    task_id = c.submit(task("web"))
    c.add_agent("a1")
    assert c.allocate() == 1
    assert c.executor.where("web") == ["a1"]
    assert c.states("web") == [("RUNNING", "a1")]
    assert c.master.tasks[task_id].state is TaskState.RUNNING
    c.end(task_id)
    assert c.states("web") == [("FINISHED", "a1")]
    assert c.master.task(task_id).state is TaskState.FINISHED
    # its end acknowledged, it is complete: out of the live registry, in the history
    assert task_id not in c.master.tasks
    assert [t.id for t in c.master.completed_tasks(FRAMEWORK_ID)] == [task_id]


def test_a_lost_agent_loses_its_singleton_which_is_relaunched_elsewhere():
    c = Cluster.make(agent_timeout=15.0)
    c.add_agent("a1")
    c.submit(task("db", sla="singleton"))
    c.allocate()
    assert c.executor.where("db") == ["a1"]
    c.add_agent("a2")
    c.advance(20.0, heard_from=("a2",))  # a1 silent past agent_timeout: lost
    assert not c.master.agents["a2"].lost and c.master.agents["a1"].lost
    c.allocate()
    assert c.executor.where("db") == ["a1", "a2"]
    assert c.states("db") == [("LOST", "a1"), ("RUNNING", "a2")]


def test_a_decline_filter_keeps_the_agent_from_the_framework_until_it_lifts():
    c = Cluster.make(refuse_seconds=60.0)
    c.add_agent("a1", cpus=2.0)
    c.submit(task("big", cpus=4.0))  # fits no agent: every offer is declined
    assert c.allocate() == 1
    assert c.executor.launched == []
    c.advance(30.0, heard_from=("a1",))
    c.add_agent("a2", cpus=8.0)  # a new agent is offered at once; a1 still is not
    assert c.allocate() == 1
    assert c.executor.where("big") == ["a2"]
    c.submit(task("small", cpus=1.0))
    c.advance(35.0, heard_from=("a1", "a2"))  # a1's filter has lifted
    c.allocate()
    assert c.executor.where("small") == ["a1"]
