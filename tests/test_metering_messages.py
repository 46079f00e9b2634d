"""The METERING message's new parts (docs/agent-protocol.md, "Metering"): a task sample's
further numbers and the node's own measurements are read by the master, kept, served by
`GET /v1/metering?after=ID` and turned into tagged samples by the framework; a bad number
is named. The agent's node fields and I/O rates, without a machine."""

from __future__ import annotations

import math

import pytest

from api.agent_messages import agent_message
from executor.capacity import Amounts, NodeSample
from executor.measure import counter_rates
from executor.node_metrics import node_fields
from framework.process.metrics_feed import metering_samples
from master import commands as C
from master.events import MeteringSample, NodeMeteringSample
from master.store import MasterStore
from offers.problems import SpecError


def test_task_samples_carry_further_numbers_and_node_entries_are_read():
    ev = agent_message("a1", {"type": "METERING", "samples": [
        {"task_id": "t1", "t": 10, "cpus": 0.5, "mem": 20, "cpu_limit": 1, "mem_limit": 64,
         "note": "text is passed over"}],
        "node": [{"t": 10, "node_cpu_used": 1.5, "node_net_in": 100}]})
    [sample] = ev.samples
    assert dict(sample.fields) == {"cpu_limit": 1.0, "mem_limit": 64.0}
    [node] = ev.node
    assert node.t == 10 and dict(node.fields) == {"node_cpu_used": 1.5, "node_net_in": 100.0}


@pytest.mark.parametrize("message, field", [
    ({"samples": [{"task_id": "t", "t": 1, "cpus": 0, "mem": 0, "bad name": 1}]},
     "samples[0].bad name"),
    ({"samples": [{"task_id": "t", "t": 1, "cpus": 0, "mem": 0, "x": math.inf}]},
     "samples[0].x"),
    ({"node": [{"t": 1, "node_cpu_used": math.nan}]}, "node[0].node_cpu_used"),
    ({"node": [{"node_cpu_used": 1}]}, "node[0].t"),
    ({"node": "all"}, "node"),
])
def test_a_bad_number_is_named(message, field):
    with pytest.raises(SpecError) as caught:
        agent_message("a1", {"type": "METERING", **message})
    assert caught.value.problems[0].field == field


def test_the_master_keeps_both_and_serves_them_after_a_row(tmp_path):
    store = MasterStore(f"sqlite:///{tmp_path / 'm.db'}")
    store.apply([C.RecordMetering(
        "a1", (MeteringSample("t1", 10.0, 0.5, 20.0, (1.0, 64.0), (("response_time", 3.0),)),),
        (NodeMeteringSample(10.0, (("node_cpu_used", 1.5),)),))])
    first = store.metering_since(0, after=0)
    assert first["samples"] == [{"task_id": "t1", "t": 10.0, "cpus": 0.5, "mem": 20.0,
                                 "response_time": 3.0, "cpu_limit": 1.0, "mem_limit": 64.0,
                                 "agent_id": "a1", "hostname": None}]
    assert first["node"] == [{"t": 10.0, "node_cpu_used": 1.5, "agent_id": "a1",
                              "hostname": None}]
    assert store.metering_since(0, after=first["last"]) == {
        "samples": [], "node": [], "last": first["last"]}
    assert len(store.metering("t1")) == 1
    store.close()


def test_the_framework_tags_task_samples_and_node_entries():
    payload = {"samples": [{"task_id": "web.1", "t": 5, "cpus": 0.25, "mem": 30,
                            "cpu_limit": 0.5, "agent_id": "a1", "hostname": "n1"}],
               "node": [{"t": 5, "node_mem_used": 900, "agent_id": "a1", "hostname": "n1"}]}
    tags = {"instance": "web.1", "job": "web", "namespace": "shop"}
    samples = metering_samples(payload, lambda _task: dict(tags))
    by_name = {s.name: s for s in samples}
    assert set(by_name) == {"cpu", "mem", "cpu_limit", "node_mem_used"}
    assert by_name["cpu"].value == 0.25 and by_name["cpu"].tags == {**tags, "node": "n1"}
    assert by_name["node_mem_used"].tags == {"node": "n1"}


def test_node_fields_and_io_rates():
    sample = NodeSample(machine=Amounts(4, 8000, 100000), used=Amounts(1.5, 3000, 50000))
    fields = node_fields(sample, Amounts(1.0, 2500, 0), counter_rates(
        (0.0, (100.0, 200.0, 0.0, 4096.0)), (2.0, (300.0, 200.0, 0.0, 4096.0 + 8192))))
    assert fields == {"node_cpus": 4.0, "node_cpu_used": 1.5, "node_cpu_incumbent": 1.0,
                      "node_mem": 8000.0, "node_mem_used": 3000.0,
                      "node_mem_incumbent": 2500.0, "node_disk": 100000.0,
                      "node_disk_used": 50000.0, "node_net_in": 100.0, "node_net_out": 0.0,
                      "node_disk_read": 0.0, "node_disk_write": 4096.0}
    assert counter_rates(None, (1.0, (1.0, 1.0, 1.0, 1.0))) == {}  # the first look
    assert counter_rates((0.0, (10.0,) * 4), (1.0, (5.0,) * 4))["node_net_in"] == 0.0


def test_the_master_drops_metering_older_than_it_keeps(tmp_path):
    store = MasterStore(f"sqlite:///{tmp_path / 'm.db'}", metering_keep_seconds=100)
    old = C.RecordMetering("a1", (MeteringSample("t1", 10.0, 0.5, 20.0),))
    store.apply([old])
    store.apply([C.RecordMetering("a1", (), (NodeMeteringSample(500.0, ()),))
                 for _ in range(500)])  # the 501st write prunes
    assert store.metering("t1") == []
    assert len(store.metering_since(0)["node"]) == 500
    store.close()


async def test_the_framework_compacts_its_metrics_store_on_its_own(tmp_path):
    import asyncio

    from framework.process.metrics_feed import MetricsFeed
    from persistence.metric_input import Sample
    from persistence.metrics import MetricsStore

    store = MetricsStore(f"sqlite:///{tmp_path / 'm.db'}")
    now = 1_790_000_000.0 // 3600 * 3600  # whole minutes: rollups count by bucket start
    feed = MetricsFeed(store, clock=lambda: now, compact_seconds=0.01)
    await feed.record([Sample("cpu", 1.0, now - 7200 + i * 5, {"node": "n1"})
                       for i in range(1440)])
    runner = asyncio.create_task(feed.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if store.size()["metric_points"] < 1440:
                break
    finally:
        runner.cancel()
    assert store.size()["metric_points"] <= 720 + 12  # the older hour rolled up, dropped
    assert store.aggregate("cpu", tags={"node": "n1"}, start=now - 7200, end=now,
                           agg="sum") == 1440.0
    store.close()
