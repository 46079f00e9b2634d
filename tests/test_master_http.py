"""The master over real HTTP on loopback: v1 scheduler API + agent link + /state."""

from __future__ import annotations

import aiohttp
import pytest

from offers.protocol import mesos as mj
from tests.master_fixtures import (
    FakeAgent,
    SchedulerClient,
    docker_task_info,
    get_json,
    master,
    start_test_master,
)

__all__ = ["master"]  # the fixture


def _offer_resources(offer: dict) -> dict:
    out = {}
    for r in offer["resources"]:
        out[r["name"]] = (r["scalar"]["value"] if r["type"] == "SCALAR"
                          else [(x["begin"], x["end"]) for x in r["ranges"]["range"]])
    return out


async def test_version_health_and_empty_state(master):
    assert await get_json(f"{master.url}/version") == (200, {"version": "1.11.0", "build": "berth"})
    status, health = await get_json(f"{master.url}/health")
    assert status == 200 and health["status"] == "ok"
    status, state = await get_json(f"{master.url}/state")
    assert (state["agents"], state["frameworks"], state["tasks"]) == ([], [], [])


async def test_subscribe_offer_launch_run_kill(master):
    fw = await SchedulerClient.subscribe(master.url, "life")
    agent = await FakeAgent.register(master.url, "node-1", nodetype="lab")
    try:
        assert fw.stream_id and fw.framework_id
        event = await fw.next_event("OFFERS")
        (offer,) = event["offers"]["offers"]
        assert offer["agent_id"]["value"] == agent.agent_id
        assert offer["framework_id"]["value"] == fw.framework_id
        assert offer["hostname"] == "node-1"
        assert offer["attributes"] == [{"name": "nodetype", "type": "TEXT",
                                        "text": {"value": "lab"}}]
        assert _offer_resources(offer) == {"cpus": 4.0, "mem": 4096.0, "disk": 10000.0,
                                           "ports": [(31000, 31099)]}

        info = docker_task_info("web-1", agent.agent_id, host_port=31005, container_port=8080,
                                volumes=[("/srv/data", "/data", "RO")],
                                shell_command="httpd -f -p 8080")
        info["command"]["environment"] = {"variables": [{"name": "GREETING", "value": "hi"}]}
        info["labels"] = {"labels": [{"key": "team", "value": "berth"}]}
        resp = await fw.accept([offer["id"]["value"]], [info])
        assert resp.status == 202 and await resp.read() == b""

        launch = (await agent.next_message("LAUNCH"))["task"]
        assert launch["task_id"] == "web-1" and launch["framework_id"] == fw.framework_id
        assert launch["image"] == "berth/busybox:latest"
        assert (launch["shell"], launch["command"]) == (True, "httpd -f -p 8080")
        assert launch["network"] == "bridge"
        assert launch["ports"] == [{"host_port": 31005, "container_port": 8080,
                                    "protocol": "tcp"}]
        assert launch["volumes"] == [{"host_path": "/srv/data", "container_path": "/data",
                                      "mode": "ro"}]
        assert (launch["env"], launch["labels"]) == ({"GREETING": "hi"}, {"team": "berth"})

        await agent.status("web-1", "RUNNING", container_id="c-123")
        running = await fw.next_update("web-1", "TASK_RUNNING")
        assert running["agent_id"]["value"] == agent.agent_id and running["uuid"]
        assert (await fw.acknowledge(running)).status == 202

        _, state = await get_json(f"{master.url}/state")
        (task,) = state["tasks"]
        assert (task["state"], task["container_id"]) == ("RUNNING", "c-123")
        (a,) = state["agents"]
        assert a["used"]["cpus"] == pytest.approx(0.1)
        assert a["used"]["ports"] == "31005"

        resp = await fw.call(mj.kill_call(fw.framework_id, "web-1", agent.agent_id))
        assert resp.status == 202
        kill = await agent.next_message("KILL")
        assert kill["task_id"] == "web-1" and kill["grace_seconds"] > 0
        await fw.next_update("web-1", "TASK_KILLING")
        await agent.status("web-1", "KILLED", reason="killed on request")
        killed = await fw.next_update("web-1", "TASK_KILLED")
        assert "killed on request" in killed["message"]
    finally:
        await fw.close()
        await agent.close()


async def test_bad_task_comes_back_as_task_error_update(master):
    fw = await SchedulerClient.subscribe(master.url, "bad")
    agent = await FakeAgent.register(master.url, "node-1", cpus=1)
    try:
        offer = (await fw.next_event("OFFERS"))["offers"]["offers"][0]
        info = docker_task_info("huge", agent.agent_id, cpus=2)
        assert (await fw.accept([offer["id"]["value"]], [info])).status == 202
        error = await fw.next_update("huge", "TASK_ERROR")
        assert error["reason"] == "REASON_TASK_INVALID"
        assert "cpus 2 > 1 offered" in error["message"]
    finally:
        await fw.close()
        await agent.close()


async def test_decline_holds_the_agent_back_until_revive(master):
    fw = await SchedulerClient.subscribe(master.url, "picky")
    first = await FakeAgent.register(master.url, "node-1")
    try:
        offer = (await fw.next_event("OFFERS"))["offers"]["offers"][0]
        resp = await fw.call(mj.decline_call(fw.framework_id, [offer["id"]["value"]], 3600))
        assert resp.status == 202
        second = await FakeAgent.register(master.url, "node-2")
        later = (await fw.next_event("OFFERS"))["offers"]["offers"]
        # The declined agent is not offered again within refuse_seconds; the new one is.
        assert [o["hostname"] for o in later] == ["node-2"]
        assert (await fw.call(mj.revive_call(fw.framework_id))).status == 202
        again = (await fw.next_event("OFFERS"))["offers"]["offers"]
        assert [o["hostname"] for o in again] == ["node-1"]
        await second.close()
    finally:
        await fw.close()
        await first.close()


async def test_suppress_then_revive(master):
    fw = await SchedulerClient.subscribe(master.url, "quiet")
    try:
        assert (await fw.call(mj.suppress_call(fw.framework_id))).status == 202
        agent = await FakeAgent.register(master.url, "node-1")
        _, state = await get_json(f"{master.url}/state")
        assert state["frameworks"][0]["suppressed"] and state["outstanding_offers"] == 0
        assert (await fw.call(mj.revive_call(fw.framework_id))).status == 202
        offer = (await fw.next_event("OFFERS"))["offers"]["offers"][0]
        assert offer["hostname"] == "node-1"
        await agent.close()
    finally:
        await fw.close()


@pytest.mark.parametrize("case, body, stream, status, field", [
    ("not json", b"{nope", "current", 400, ""),
    ("unknown call", {"type": "FLY", "framework_id": {"value": "F"}}, "current", 400, "type"),
    ("accept without body", {"type": "ACCEPT", "framework_id": {"value": "F"}}, "current",
     400, "accept"),
    ("no stream id", {"type": "REVIVE", "framework_id": {"value": "F"}}, None, 400,
     "Mesos-Stream-Id"),
    ("wrong stream id", {"type": "REVIVE", "framework_id": {"value": "F"}}, "other", 400,
     "Mesos-Stream-Id"),
    ("unknown framework", {"type": "REVIVE", "framework_id": {"value": "nobody"}}, "current",
     403, None),
    # A task info without an id cannot be answered with an UPDATE, so it fails the call
    # (any other bad task info is refused alone: tests/test_master_hardening.py).
    ("task without an id", {"type": "ACCEPT", "framework_id": {"value": "F"}, "accept": {
        "offer_ids": [{"value": "o"}], "operations": [{"type": "LAUNCH", "launch": {
            "task_infos": [{"name": "x", "agent_id": {"value": "a"},
                            "resources": []}]}}]}}, "current", 400,
     "accept.operations[0].launch.task_infos[0].task_id"),
    ("bad port range", {"type": "DECLINE", "framework_id": {"value": "F"}, "decline": {
        "offer_ids": [{"value": "o"}], "filters": {"refuse_seconds": -1}}}, "current", 400,
     "decline.filters.refuse_seconds"),
])
async def test_malformed_calls_get_a_4xx_naming_the_field(master, case, body, stream, status,
                                                          field):
    fw = await SchedulerClient.subscribe(master.url, "sloppy")
    try:
        if isinstance(body, dict) and body.get("framework_id", {}).get("value") == "F":
            body["framework_id"]["value"] = fw.framework_id
        headers = {"Content-Type": "application/json"}
        sid = fw.stream_id if stream == "current" else stream
        if sid:
            headers["Mesos-Stream-Id"] = sid
        data = body if isinstance(body, bytes) else mj.json.dumps(body).encode()
        async with fw.session.post(f"{master.url}/api/v1/scheduler", data=data,
                                   headers=headers) as resp:
            assert resp.status == status, case
            error = await resp.json()
        assert error["code"] == status and error["message"], case
        if field:
            assert field in [e["field"] for e in error["errors"]], (case, error)
    finally:
        await fw.close()


async def test_agent_registration_is_validated(master):
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{master.url}/agent/v1/register",
                          json={"hostname": "", "total": {"cpus": -1}}) as r:
            assert r.status == 400
            fields = {e["field"] for e in (await r.json())["errors"]}
        assert {"hostname", "total.cpus"} <= fields
        async with s.get(f"{master.url}/agent/v1/stream?agent_id=ghost") as r:
            assert r.status == 404
        # One live agent per hostname: a second one elsewhere is refused, naming it.
        body = {"hostname": "twin", "endpoint": "http://10.0.0.1:5051",
                "total": {"cpus": 1, "mem": 512}, "spare": {"cpus": 1, "mem": 512}}
        async with s.post(f"{master.url}/agent/v1/register", json=body) as r:
            assert r.status == 200
            first = (await r.json())["agent_id"]
        async with s.post(f"{master.url}/agent/v1/register",
                          json={**body, "endpoint": "http://10.0.0.2:5051"}) as r:
            assert r.status == 409
            error = await r.json()
        assert [e["field"] for e in error["errors"]] == ["hostname"]
        assert first in error["message"]


async def test_a_silent_agent_is_lost_and_frameworks_hear_of_it(tmp_path):
    master = await start_test_master(tmp_path, agent_timeout=1.0)
    fw = await SchedulerClient.subscribe(master.url, "watcher", capabilities=())
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        offer = (await fw.next_event("OFFERS"))["offers"]["offers"][0]
        await fw.accept([offer["id"]["value"]], [docker_task_info("t1", agent.agent_id)])
        await agent.next_message("LAUNCH")
        await agent.status("t1", "RUNNING", container_id="c1")
        await fw.next_update("t1", "TASK_RUNNING")
        await agent.go_silent()
        lost = await fw.next_update("t1", "TASK_LOST")
        assert lost["reason"] == "REASON_AGENT_REMOVED" and "lost" in lost["message"]
        failure = await fw.next_event("FAILURE")
        assert failure["failure"]["agent_id"]["value"] == agent.agent_id
        _, state = await get_json(f"{master.url}/state")
        assert state["agents"][0]["active"] is False
        assert state["tasks"][0]["state"] == "LOST"

        # It comes back still running t1: the master tells it to kill that copy.
        back = await FakeAgent.register(master.url, "node-1", agent_id=agent.agent_id,
                                        running=[{"task_id": "t1", "framework_id":
                                                  fw.framework_id, "container_id": "c1",
                                                  "state": "RUNNING"}])
        assert back.answer["kill"] == ["t1"] and back.answer["keep"] == []
        await back.close()
    finally:
        await fw.close()
        await agent.close()
        await master.stop()


async def test_a_restarted_master_keeps_agents_frameworks_and_tasks(tmp_path):
    master = await start_test_master(tmp_path)
    fw = await SchedulerClient.subscribe(master.url, "durable")
    agent = await FakeAgent.register(master.url, "node-1")
    offer = (await fw.next_event("OFFERS"))["offers"]["offers"][0]
    await fw.accept([offer["id"]["value"]], [docker_task_info("t1", agent.agent_id)])
    await agent.next_message("LAUNCH")
    await agent.status("t1", "RUNNING", container_id="c1")
    await fw.next_update("t1", "TASK_RUNNING")
    framework_id, agent_id = fw.framework_id, agent.agent_id
    await fw.close()
    await agent.close()
    await master.stop()

    master = await start_test_master(tmp_path)
    try:
        _, state = await get_json(f"{master.url}/state")
        assert [a["id"] for a in state["agents"]] == [agent_id]
        assert [f["id"] for f in state["frameworks"]] == [framework_id]
        assert [(t["id"], t["state"]) for t in state["tasks"]] == [("t1", "RUNNING")]
        fw = await SchedulerClient.subscribe(master.url, "durable", framework_id=framework_id)
        assert fw.framework_id == framework_id
        agent = await FakeAgent.register(master.url, "node-1", agent_id=agent_id, running=[
            {"task_id": "t1", "framework_id": framework_id, "container_id": "c1",
             "state": "RUNNING"}])
        assert agent.answer["keep"] == ["t1"]
        offer = (await fw.next_event("OFFERS"))["offers"]["offers"][0]
        assert _offer_resources(offer)["cpus"] == pytest.approx(3.9)
        await fw.call(mj.reconcile_call(fw.framework_id))
        status = await fw.next_update("t1", "TASK_RUNNING")
        assert status["reason"] == "REASON_RECONCILIATION"
        await fw.close()
        await agent.close()
    finally:
        await master.stop()


async def test_teardown_kills_tasks_and_ends_the_stream(master):
    fw = await SchedulerClient.subscribe(master.url, "done")
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        offer = (await fw.next_event("OFFERS"))["offers"]["offers"][0]
        await fw.accept([offer["id"]["value"]], [docker_task_info("t1", agent.agent_id)])
        await agent.next_message("LAUNCH")
        assert (await fw.call(mj.teardown_call(fw.framework_id))).status == 202
        assert (await agent.next_message("KILL"))["task_id"] == "t1"
        await fw.next_event("__CLOSED__")
        _, state = await get_json(f"{master.url}/state")
        assert state["frameworks"][0]["removed"] is True
    finally:
        await fw.close()
        await agent.close()


async def test_metrics_count_agents_tasks_and_events(master):
    agent = await FakeAgent.register(master.url, "node-1")
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{master.url}/metrics") as r:
            assert r.status == 200
            text = await r.text()
        assert 'berth_master_agents{state="active"} 1.0' in text
        assert 'berth_master_resources{kind="total",resource="cpus"} 4.0' in text
        assert 'berth_master_events_total{type="AgentRegister"} 1.0' in text
    finally:
        await agent.close()
