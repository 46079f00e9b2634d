"""The master's store on SQLite and PostgreSQL: what the core decided survives a restart."""

from __future__ import annotations

from master import commands as C
from master import events as E
from master.core import Master
from master.store import MasterStore
from offers.states import TaskState
from tests.master_db import db_url  # noqa: F401  (fixture)
from tests.master_harness import (
    PausedClock,
    accept,
    launch,
    make_master,
    offers_for,
    register,
    subscribe,
)


def _run(m, store, event):
    cmds = m.handle(event)
    store.apply(cmds)
    return cmds


def test_a_restarted_master_loses_no_agent_framework_or_task(db_url):  # noqa: F811
    store = MasterStore(db_url)
    m, _ = make_master()
    store.apply(register(m))
    store.apply(subscribe(m))
    offer = offers_for(m.handle(E.Allocate()))[0]
    store.apply(accept(m, [offer.id], launch("t1", cpus=1, mem=256, host_ports=(31001,))))
    _run(m, store, E.AgentStatus("a1", "t1", TaskState.RUNNING, container_id="c1"))
    _run(m, store, E.AgentMetering("a1", (E.MeteringSample("t1", 5.0, 0.5, 100.0),)))
    _run(m, store, E.Suppress("f1"))
    store.close()

    again = MasterStore(db_url)  # migrations run again: idempotent
    snap = again.load()
    assert [a.id for a in snap.agents] == ["a1"]
    assert snap.agents[0].attributes == {"nodetype": "lab"}
    assert snap.agents[0].total.ports == ((31000, 31009),)
    assert [(f.id, f.suppressed) for f in snap.frameworks] == [("f1", True)]
    (task,) = snap.tasks
    assert (task.id, task.state, task.container_id) == ("t1", TaskState.RUNNING, "c1")
    assert task.spec.ports[0].host_port == 31001
    assert [h["state"] for h in again.status_history("t1")] == ["STAGING", "RUNNING"]
    assert again.metering("t1") == [{"t": 5.0, "cpus": 0.5, "mem": 100.0, "agent_id": "a1"}]

    m2 = Master(PausedClock(), snapshot=snap)
    assert m2.tasks["t1"].state is TaskState.RUNNING
    assert m2.frameworks["f1"].suppressed
    again.close()


def test_only_persist_commands_are_written(db_url):  # noqa: F811
    store = MasterStore(db_url)
    assert store.apply([C.SendError("f1", "x")]) == 0
    assert store.load().agents == ()
    store.close()
