"""The master sees elasticity: an agent's split of its node in `GET /v1/agents`, what was
taken back offered apart as revocable (`"revocable": {}`, as Mesos marks it) and never
counted in the offer's size, a task's current limits in `/state`, and a preempted task
ending LOST with its reason."""

from __future__ import annotations

import pytest

from master import events as E
from offers.protocol import mesos as mj
from offers.states import TaskState
from tests.master_fixtures import (
    FakeAgent,
    SchedulerClient,
    docker_task_info,
    get_json,
    master,
    wait_for,
)
from tests.master_harness import accept, launch, make_master, offers_for, register, res, subscribe

__all__ = ["master"]  # the fixture

ELASTIC = {"incumbent": {"cpus": 1.5, "mem": 2048}, "secondary_used": {"cpus": 0.4, "mem": 300},
           "secondary_allocated": {"cpus": 0.5, "mem": 1024},
           "taken_back": {"cpus": 0.5, "mem": 1024}}


async def test_an_agents_split_of_its_node_and_revocable_capacity_reach_the_master(master):
    fw = await SchedulerClient.subscribe(master.url, "elastic")
    agent = await FakeAgent.register(master.url, "node-1", cpus=4.0, mem=4096.0)
    try:
        first = await fw.next_event("OFFERS")
        (offer,) = first["offers"]["offers"]
        assert not any("revocable" in r for r in offer["resources"])  # nothing taken yet
        await fw.call(mj.decline_call(fw.framework_id, [offer["id"]["value"]], 0.0))

        await agent.send({"type": "CAPACITY",
                          "total": {"cpus": 4, "mem": 4096, "disk": 10000,
                                    "ports": "31000-31099"},
                          "spare": {"cpus": 1, "mem": 1000, "disk": 10000,
                                    "ports": "31000-31099"},
                          "revocable": {"cpus": 0.5, "mem": 1024}, "elastic": ELASTIC})

        async def listed():
            _, body = await get_json(f"{master.url}/v1/agents")
            return body if body["agents"][0]["taken_back"]["mem"] == 1024 else None
        body = await wait_for(listed)
        (row,) = body["agents"]
        assert row["incumbent"] == {"cpus": 1.5, "mem": 2048}
        assert row["secondary_used"] == {"cpus": 0.4, "mem": 300}
        assert row["secondary_allocated"] == {"cpus": 0.5, "mem": 1024}
        assert row["revocable"] == {"cpus": 0.5, "mem": 1024}

        await fw.call(mj.revive_call(fw.framework_id))
        event = await fw.next_event("OFFERS")
        (offer,) = event["offers"]["offers"]
        revocable = {r["name"]: r["scalar"]["value"] for r in offer["resources"]
                     if "revocable" in r}
        assert revocable == {"cpus": 0.5, "mem": 1024}
        parsed = mj.offer_from_mesos(offer)
        assert (parsed.cpus, parsed.mem) == (1.0, 1000.0)  # the offer's own size apart
        assert (parsed.revocable_cpus, parsed.revocable_mem) == (0.5, 1024.0)
    finally:
        await fw.close()
        await agent.close()


async def test_limits_travel_with_metering_and_a_preemption_ends_lost(master):
    fw = await SchedulerClient.subscribe(master.url, "elastic")
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        (offer,) = (await fw.next_event("OFFERS"))["offers"]["offers"]
        info = docker_task_info("batch-1", agent.agent_id, cpus=1.0, mem=512)
        await fw.accept([offer["id"]["value"]], [info])
        await agent.next_message("LAUNCH")
        await agent.status("batch-1", "RUNNING", container_id="c-1",
                           limits={"cpus": 1.0, "mem": 512})
        await agent.send({"type": "METERING", "samples": [
            {"task_id": "batch-1", "t": 1.0, "cpus": 0.2, "mem": 100,
             "limits": {"cpus": 0.25, "mem": 200}}]})

        async def limited():
            _, state = await get_json(f"{master.url}/state")
            return state["tasks"][0]["limits"] == {"cpus": 0.25, "mem": 200} or None
        await wait_for(limited)

        reason = "preempted: node's own load needs 1.50 cpus / 700 MiB"
        await agent.status("batch-1", "LOST", reason=reason, container_id="c-1")
        lost = await fw.next_update("batch-1", "TASK_LOST")
        assert reason in lost["message"]
        _, state = await get_json(f"{master.url}/state")
        assert state["tasks"][0]["limits"] is None
    finally:
        await fw.close()
        await agent.close()


@pytest.mark.parametrize("message, field", [
    ({"type": "METERING", "samples": [{"task_id": "x", "t": 1, "cpus": 0, "mem": 0,
                                       "limits": {"cpus": "lots"}}]}, "samples[0]"),
    ({"type": "CAPACITY", "total": {"cpus": 1, "mem": 1, "disk": 1},
      "spare": {"cpus": 1, "mem": 1, "disk": 1}, "revocable": {"cpus": -1}}, "revocable"),
    ({"type": "STATUS", "task_id": "x", "state": "RUNNING", "limits": {"cpus": 1}},
     "limits"),
])
def test_bad_elasticity_fields_are_named(message, field):
    from api.agent_messages import agent_message
    from offers.problems import SpecError

    with pytest.raises(SpecError) as caught:
        agent_message("a1", message)
    assert caught.value.problems[0].field.startswith(field)


async def test_only_an_elastic_launch_may_use_the_revocable_part_of_an_offer(master):
    fw = await SchedulerClient.subscribe(master.url, "elastic")
    agent = await FakeAgent.register(master.url, "node-1", cpus=4.0, mem=4096.0)
    try:
        (offer,) = (await fw.next_event("OFFERS"))["offers"]["offers"]
        await fw.call(mj.decline_call(fw.framework_id, [offer["id"]["value"]], 0.0))
        await agent.send({"type": "CAPACITY",
                          "total": {"cpus": 4, "mem": 4096, "disk": 10000,
                                    "ports": "31000-31099"},
                          "spare": {"cpus": 1, "mem": 500, "disk": 10000,
                                    "ports": "31000-31099"},
                          "revocable": {"cpus": 1, "mem": 1000}, "elastic": ELASTIC})
        await fw.call(mj.revive_call(fw.framework_id))
        while True:
            (offer,) = (await fw.next_event("OFFERS"))["offers"]["offers"]
            if any("revocable" in r for r in offer["resources"]):
                break
        fixed = docker_task_info("fixed-1", agent.agent_id, cpus=0.5, mem=800)
        fixed["labels"] = {"labels": [{"key": "berth.elastic", "value": "false"}]}
        elastic = docker_task_info("elastic-1", agent.agent_id, cpus=0.5, mem=800)
        await fw.accept([offer["id"]["value"]], [fixed, elastic])
        refused = await fw.next_update("fixed-1", "TASK_ERROR")
        assert "mem" in refused["message"]
        launch = (await agent.next_message("LAUNCH"))["task"]
        assert launch["task_id"] == "elastic-1" and launch["elastic"] is True
    finally:
        await fw.close()
        await agent.close()


def test_offers_count_a_resized_task_at_its_current_limits_not_its_request():
    """The master's own cap (total - used) follows elasticity: a task the agent lowered
    to 1 cpu / 512 MiB counts as that, and as its request again once restored."""
    m, _ = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(E.Allocate()))[0]
    accept(m, [offer.id], launch("t1", cpus=3, mem=2048))
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, container_id="c1"))
    # The agent says all of the node is spare again, as after it took 2 cpus back.
    everything = res(4, 4096, 1000, "31000-31009")
    m.handle(E.AgentCapacity("a1", everything, everything))
    assert m.unallocated("a1").cpus == pytest.approx(1)  # total 4 - the 3 asked for
    m.handle(E.AgentMetering("a1", (E.MeteringSample("t1", 1.0, 0.9, 400.0, (1.0, 512.0)),)))
    assert m.unallocated("a1").cpus == pytest.approx(3)  # total 4 - the 1 it may use now
    assert m.unallocated("a1").mem == pytest.approx(4096 - 512)
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, limits=(3.0, 2048.0)))
    assert m.unallocated("a1").cpus == pytest.approx(1)
    m.handle(E.AgentStatus("a1", "t1", TaskState.FINISHED))
    assert m.unallocated("a1").cpus == pytest.approx(4)
