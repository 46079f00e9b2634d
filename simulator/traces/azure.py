"""The Azure public dataset's VM table (AzurePublicDataset V1 2017 and V2 2019,
`vmtable.csv`): headerless CSV (gzip or plain), one VM a line. Times are seconds since
the trace began; sizes are buckets of cores and GB (`>24`: more than 24, read as 24);
CPU utilization is in percent of the VM's cores. The table has no machines: the
cluster comes from `--cluster` or `--nodes`. See docs/traces.md.
"""

from __future__ import annotations

from pathlib import Path

from simulator.traces.common import Column, Problems, RowProblem, Scale, csv_rows, number
from simulator.traces.workload import Trace, TraceWorkload

IMAGE = "trace/azure"
TABLES = ("vmtable",)
GIB = 1024.0


def bucket(cell: str, column: str) -> float:
    """`8` or `>24` (an open bucket, read as its lower bound) as a positive number."""
    digits = cell[1:] if cell.startswith(">") else cell
    try:
        value = float(digits)
    except ValueError:
        raise RowProblem(column, f"{cell!r} is not a size bucket such as 8 or >24") from None
    if not value > 0 or value == float("inf"):
        raise RowProblem(column, f"{cell!r} is not a positive size")
    return value


PERCENT = number(0.0)
VMTABLE = (
    Column("vm id", None),
    Column("subscription id", None),
    Column("deployment id"),
    Column("timestamp vm created", number(0.0)),
    Column("timestamp vm deleted", number(0.0)),
    Column("max cpu", None),
    Column("avg cpu", PERCENT),
    Column("p95 max cpu", None),
    Column("vm category"),
    Column("vm virtual core count", bucket),
    Column("vm memory (GB)", bucket),
)


def read(tables: dict[str, list[Path]], horizon: float, scale: Scale) -> Trace:
    trace = Trace(TraceWorkload(IMAGE), None)
    paths = tables.get("vmtable", [])
    for n, path in enumerate(paths, start=1):
        prefix = "vm" if len(paths) == 1 else f"vm{n}-"
        problems = Problems(path)
        for line, row in csv_rows(path, VMTABLE, problems):
            _vm, _subscription, deployment, created, deleted, _max, avg, _p95, category, \
                cores, memory = row
            if created > horizon:
                continue
            if deleted < created:
                trace.count("left out: deleted before created")
                continue
            mem = memory * GIB
            trace.workload.add(f"{prefix}{line}", created, deleted - created, cores, mem, 0,
                               (deployment, category),
                               used=(cores * min(avg, 100.0) / 100.0, mem), line=line)
        problems.check()
    trace.workload.done()
    return trace
