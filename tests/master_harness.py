"""Builders and a paused clock for driving the master core in memory."""

from __future__ import annotations

import itertools

from master import commands as C
from master import events as E
from master.core import Master
from offers.launch import LaunchSpec
from offers.resource_vector import Resources
from offers.resources import parse_port_ranges
from offers.task import PortMapping


class PausedClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def res(cpus=0.0, mem=0.0, disk=0.0, ports="") -> Resources:
    return Resources(cpus, mem, disk, parse_port_ranges(ports) if ports else ())


def make_master(**kw) -> tuple[Master, PausedClock]:
    clock = PausedClock()
    counter = itertools.count(1)
    uuids = itertools.count(1)
    kw.setdefault("offer_timeout", 30.0)
    kw.setdefault("agent_timeout", 1000.0)
    m = Master(clock, ids=lambda: f"id{next(counter)}", uuids=lambda: f"u{next(uuids)}", **kw)
    return m, clock


def register(m: Master, agent_id="a1", hostname=None, cpus=4.0, mem=4096.0, disk=1000.0,
             ports="31000-31009", nodetype="lab", running=()) -> list:
    r = res(cpus, mem, disk, ports)
    return m.handle(E.AgentRegister(agent_id, hostname or f"host-{agent_id}",
                                    f"http://{agent_id}:5051", {"nodetype": nodetype},
                                    r, r, tuple(running)))


def subscribe(m: Master, fid="f1", capabilities=()) -> list:
    return m.handle(E.Subscribe(f"s-{fid}", fid, name=fid, capabilities=frozenset(capabilities)))


def offers_for(cmds, fid=None) -> list:
    return [o for c in cmds if isinstance(c, C.SendOffers)
            and (fid is None or c.framework_id == fid) for o in c.offers]


def updates(cmds, fid=None) -> list:
    return [c.status for c in cmds if isinstance(c, C.SendUpdate)
            and (fid is None or c.framework_id == fid)]


def of_type(cmds, kind) -> list:
    return [c for c in cmds if isinstance(c, kind)]


def launch(task_id: str, agent_id="a1", cpus=1.0, mem=512.0, disk=0.0, host_ports=(),
           framework_id="f1") -> E.TaskLaunch:
    ports = tuple(PortMapping(host_port=p, container_port=80) for p in host_ports)
    spec = LaunchSpec(task_id=task_id, framework_id=framework_id, name=task_id,
                      image="berth/busybox:latest", ports=ports, cpus=cpus, mem=mem, disk=disk)
    r = Resources(cpus, mem, disk, tuple((p, p) for p in host_ports))
    return E.TaskLaunch(task_id, task_id, agent_id, r, spec)


def accept(m: Master, offer_ids, *launches, fid="f1", refuse_seconds=0.0) -> list:
    return m.handle(E.Accept(fid, tuple(offer_ids), tuple(launches), refuse_seconds))
