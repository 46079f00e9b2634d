"""The Alibaba cluster trace 2018 (cluster-trace-v2018): `batch_task` and `machine_meta`,
headerless CSV (gzip or plain) in the documented column order. Times are seconds since
the trace began; `plan_cpu` is in hundredths of a core; memory is normalized to 0-100 of
the reference machine's memory. See docs/traces.md.

A `batch_task` row is one task of a job with `instance_num` identical instances: each
instance is a berth task (`job.task.0`, `job.task.1`, ...), kept as one row until the
simulator asks for it. The file is not in time order, so it is read to its end.
"""

from __future__ import annotations

import re
from pathlib import Path

from simulator.traces.common import Column, Problems, Scale, csv_rows, integer, number
from simulator.traces.workload import Machines, Trace, TraceWorkload

IMAGE = "trace/alibaba2018"
TABLES = ("batch_task", "machine_meta")
NOT_STARTED = frozenset({"Waiting", "Ready"})
STILL_RUNNING = frozenset({"Running"})
_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9_.-]")

BATCH_TASK = (
    Column("task_name"),
    Column("instance_num", integer(0)),
    Column("job_name"),
    Column("task_type", None),
    Column("status"),
    Column("start_time", integer(0)),
    Column("end_time", integer(0), required=False),
    Column("plan_cpu", number(0.0), required=False),
    Column("plan_mem", number(0.0, 100.0), required=False),
)
MACHINE_META = (
    Column("machine_id"),
    Column("time_stamp", integer(0)),
    Column("failure_domain_1", required=False),
    Column("failure_domain_2", required=False),
    Column("cpu_num", integer(0), required=False),
    Column("mem_size", number(0.0, 100.0), required=False),
    Column("status", None),
)


def task_id(job: str, task: str) -> str:
    """`job.task`, with what a berth id cannot hold turned into `_` (task names may be
    base64 with `=`, `+` or `/`); the schema makes task names unique within a job."""
    return _NOT_IN_AN_ID.sub("_", f"{job}.{task}").lstrip("_.-")[:100] or "task"


def read(tables: dict[str, list[Path]], horizon: float, scale: Scale) -> Trace:
    trace = Trace(TraceWorkload(IMAGE), None)
    for path in tables.get("batch_task", []):
        problems = Problems(path)
        for line, row in csv_rows(path, BATCH_TASK, problems):
            name, instances, job, _type, status, start, end, cpu, mem = row
            if start > horizon:
                continue
            if status in NOT_STARTED:
                trace.count("left out: tasks not started (Waiting, Ready)")
                continue
            if instances == 0:
                trace.count("left out: tasks without instances")
                continue
            if cpu is None or mem is None:
                trace.count("left out: no resource request")
                continue
            duration: float | None = None
            if status not in STILL_RUNNING and end:
                if end < start:
                    trace.count("left out: end_time before start_time")
                    continue
                duration = float(end - start)
            trace.workload.add(task_id(job, name), float(start), duration, cpu / 100.0,
                               mem / 100.0 * scale.mem, 0, (job, name), count=instances,
                               line=line)
        problems.check()
    if "machine_meta" in tables:
        trace.nodes = _machines(trace, tables["machine_meta"], horizon, scale)
    trace.workload.done()
    return trace


def _machines(trace: Trace, paths: list[Path], horizon: float, scale: Scale):
    seen = []
    for path in paths:
        problems = Problems(path)
        for _line, row in csv_rows(path, MACHINE_META, problems):
            if row[1] <= horizon:
                seen.append(row)
        problems.check()
    machines = Machines(trace)
    for machine, _t, domain1, domain2, cpus, mem, _status in sorted(seen,
                                                                     key=lambda r: r[1]):
        attributes = {k: v for k, v in (("failure_domain_1", domain1),
                                         ("failure_domain_2", domain2)) if v}
        machines.seen(machine, None if cpus is None else float(cpus),
                      None if mem is None else mem / 100.0 * scale.mem, attributes)
    return machines.nodes()
