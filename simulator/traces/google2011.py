"""The Google cluster trace 2011 (clusterdata-2011-2): `task_events` and `machine_events`,
headerless CSV (gzip or plain) in the documented column order. Times are microseconds
(the window opens at 600 s); CPU and memory are fractions of the largest machine, scaled
by the reference machine. See docs/traces.md for every mapping and assumption.

The trace's parts are in time order, so each part is read only up to the window's end.
"""

from __future__ import annotations

from pathlib import Path

from simulator.traces.common import Column, Problems, Scale, csv_rows, integer, number, seconds
from simulator.traces.google_tasks import Chains, Step
from simulator.traces.workload import Machines, Trace, TraceWorkload

IMAGE = "trace/google2011"
TABLES = ("task_events", "machine_events")
TIMESTAMP = integer(0)

TASK_EVENTS = (
    Column("timestamp", TIMESTAMP),
    Column("missing info", None),
    Column("job ID", integer(0)),
    Column("task index", integer(0)),
    Column("machine ID", None),
    Column("event type", integer(0, 8)),
    Column("user", None),
    Column("scheduling class", None),
    Column("priority", integer(0, 11)),
    Column("CPU request", number(0.0), required=False),
    Column("memory request", number(0.0), required=False),
    Column("disk space request", None),
    Column("different-machines restriction", None),
)
MACHINE_EVENTS = (
    Column("timestamp", TIMESTAMP),
    Column("machine ID", integer(0)),
    Column("event type", integer(0, 2)),
    Column("platform ID", required=False),
    Column("CPUs", number(0.0), required=False),
    Column("memory", number(0.0), required=False),
)
# SUBMIT, SCHEDULE, EVICT, FAIL, FINISH, KILL, LOST, UPDATE_PENDING, UPDATE_RUNNING
STEPS = (Step.SUBMIT, Step.SCHEDULE, Step.INTERRUPT, Step.END, Step.END, Step.END,
         Step.INTERRUPT, Step.UPDATE, Step.UPDATE)
ADD, REMOVE, UPDATE = 0, 1, 2


def read(tables: dict[str, list[Path]], horizon: float, scale: Scale) -> Trace:
    trace = Trace(TraceWorkload(IMAGE), None)
    chains = Chains(trace, scale, "job-")
    for path in tables.get("task_events", []):
        problems = Problems(path)
        for line, row in csv_rows(path, TASK_EVENTS, problems):
            t = seconds(row[0])
            if t > horizon:
                break
            chains.feed((row[2], row[3]), t, STEPS[row[5]], row[9], row[10], row[8], line)
        problems.check()
    chains.close()
    if "machine_events" in tables:
        machines = Machines(trace)
        for path in tables["machine_events"]:
            problems = Problems(path)
            for _line, row in csv_rows(path, MACHINE_EVENTS, problems):
                if seconds(row[0]) > horizon:
                    break
                if row[2] == REMOVE:
                    machines.removed()
                    continue
                machines.seen(f"m{row[1]}",
                              None if row[4] is None else row[4] * scale.cpus,
                              None if row[5] is None else row[5] * scale.mem,
                              {"platform": row[3]} if row[3] else None)
            problems.check()
        trace.nodes = machines.nodes()
    trace.workload.done()
    return trace
