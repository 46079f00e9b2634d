"""The metrics store against issue 13's targets, on the embedded SQLite store.

- `ingest`: samples/s through `MetricsStore.record` in batches (as the framework writes one
  master poll at a time), 100 nodes' node and task series, time-ordered; beside it, the
  floor: the same rows through bare `sqlite3.executemany` into the same table.
- `query`: a one-day per-node query over 100 nodes (`node_cpu_used`, mean per node, and
  with a 5-minute step), on a store holding that day as the retention leaves it: the
  last hour raw (a sample every 5 s), the rest as 1-minute rollups. Median of repeats.
- `size`: the store for 100 nodes x 30 days, filled synthetically in its steady state:
  per series an hour of raw points, a day of 1-minute rollups and 30 days of 1-hour
  rollups, written time-ordered through the store's own paths; the file size is read
  after a WAL checkpoint. Each node has `--node-metrics` node series and `--tasks` task
  instances of 4 series (cpu, mem, cpu_limit, mem_limit) alive the whole month (task
  churn makes more series of fewer rows: the row count, which is what costs, is the same).

`berth bench metrics [--nodes 100] [--tasks 10] [--samples 1000000] [--size-nodes N]`
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from persistence.metric_input import Sample
from persistence.metrics import MetricsStore
from persistence.metrics_models import MARKS

NODE_METRICS = ("node_cpus", "node_cpu_used", "node_cpu_incumbent", "node_mem",
                "node_mem_used", "node_mem_incumbent", "node_disk", "node_disk_used",
                "node_net_in", "node_net_out", "node_disk_read", "node_disk_write")
TASK_METRICS = ("cpu", "mem", "cpu_limit", "mem_limit")
PERIOD = 5.0
DAY = 86400.0
NOW = 1_790_000_000.0 // 3600 * 3600
FILL_BATCH = 50_000


def _series(nodes: int, tasks: int, node_metrics: int) -> list[tuple[str, dict]]:
    out = []
    for n in range(nodes):
        node = f"node-{n:03d}"
        out += [(m, {"node": node}) for m in NODE_METRICS[:node_metrics]]
        for k in range(tasks):
            tags = {"node": node, "job": f"job-{k}", "instance": f"job-{k}.{n}",
                    "namespace": f"team-{k % 3}"}
            out += [(m, tags) for m in TASK_METRICS]
    return out


def _store(path: Path) -> MetricsStore:
    return MetricsStore(f"sqlite:///{path}")


def ingest(nodes: int, tasks: int, samples: int, batch: int) -> dict:
    series = _series(nodes, tasks, len(NODE_METRICS))
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp) / "m.db")
        ticks = max(samples // len(series), 1)
        rows = [Sample(name, float(i % 97), NOW - DAY + i * PERIOD, tags)
                for i in range(ticks) for name, tags in series]
        store.record(rows[:1])  # series ids made once, as in a running framework
        for name, tags in series:
            store.series_id(name, tags)
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            store.record(rows[i:i + batch])
        seconds = time.perf_counter() - started
        store.close()
        floor = _floor(Path(tmp) / "floor.db", len(series), ticks, batch)
    return {"samples": len(rows), "series": len(series), "batch": batch,
            "seconds": round(seconds, 3), "samples_per_s": round(len(rows) / seconds),
            "floor_sqlite3_executemany_per_s": round(len(rows) / floor),
            "target_samples_per_s": 50_000}


def _floor(path: Path, series: int, ticks: int, batch: int) -> float:
    store = _store(path)
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    rows = [(s + 1, int((NOW - DAY + i * PERIOD) * 1000), float(i % 97))
            for i in range(ticks) for s in range(series)]
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        with db:
            db.executemany("INSERT INTO metric_points (series_id, t, value) VALUES (?, ?, ?)"
                           " ON CONFLICT (t, series_id) DO UPDATE SET value = excluded.value",
                           rows[i:i + batch])
    seconds = time.perf_counter() - started
    db.close()
    return seconds


def _fill(store: MetricsStore, series: list[tuple[str, dict]], days: float) -> int:
    """The steady state at NOW as compaction leaves it (grace 60 s): raw points for the
    last hour, minute rollups for the day up to a minute ago, hour rollups for `days` up
    to the last complete hour; the marks set to match. Rows written."""
    ids = [store.series_id(name, tags) for name, tags in series]
    written = 0
    hour_start = NOW - 3600
    batch: list = []
    for i in range(int(3600 / PERIOD)):  # raw, time-ordered, a poll's worth at a time
        t = hour_start + i * PERIOD
        batch += [Sample(name, float((i + j) % 50), t, tags)
                  for j, (name, tags) in enumerate(series)]
        if len(batch) >= FILL_BATCH:
            written += store.record(batch)
            batch = []
    written += store.record(batch)
    rollups: list = []
    for step, first, end in ((60, NOW - DAY, NOW - 60), (3600, NOW - days * DAY, NOW - 3600)):
        for b in range(int((end - first) / step)):
            t = int((first + b * step) * 1000)
            rollups += [(sid, step, t, int(step / PERIOD), 25.0 * step / PERIOD, 0.0, 49.0,
                         7.0) for sid in ids]
            if len(rollups) >= FILL_BATCH:
                store.put_rollups(rollups)
                written += len(rollups)
                rollups = []
    store.put_rollups(rollups)
    written += len(rollups)
    with store.engine.begin() as c:
        c.execute(MARKS.insert(), [
            {"key": "rolled:60", "value": int((NOW - 60) * 1000)},
            {"key": "rolled:3600", "value": int((NOW - 3600) * 1000)},
            {"key": "from:raw", "value": int(hour_start * 1000)},
            {"key": "from:60", "value": int((NOW - DAY) * 1000)},
            {"key": "from:3600", "value": int((NOW - days * DAY) * 1000)}])
    return written


def query(nodes: int, repeats: int) -> dict:
    series = [(m, tags) for m, tags in _series(nodes, 0, len(NODE_METRICS))
              if m == "node_cpu_used"]
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp) / "m.db")
        rows = _fill(store, series, 1)
        timings = {}
        for label, step in (("per_node", None), ("per_node_5m_step", 300.0)):
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                found = store.query("node_cpu_used", start=NOW - DAY, end=NOW, agg="mean",
                                    group_by="node", step=step)
                times.append(time.perf_counter() - started)
            assert len(found) == nodes
            timings[label] = {"median_ms": round(statistics.median(times) * 1000, 1),
                              "max_ms": round(max(times) * 1000, 1)}
        store.close()
    return {"nodes": nodes, "rows_in_store": rows, **timings, "target_ms": 200}


def size(nodes: int, tasks: int, node_metrics: int, days: float,
         filled_nodes: int | None = None) -> dict:
    """The steady-state store for `nodes`; with `filled_nodes` fewer, that many are filled
    and the size scaled by nodes / filled_nodes (rows per series are fixed, so the size
    grows with the series count), and the answer says so."""
    filled = min(filled_nodes or nodes, nodes)
    series = _series(filled, tasks, node_metrics)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.db"
        store = _store(path)
        started = time.perf_counter()
        rows = _fill(store, series, days)
        fill_seconds = time.perf_counter() - started
        compact_started = time.perf_counter()
        store.compact(NOW)  # steady state: the minute's compaction has little to do
        compact_seconds = time.perf_counter() - compact_started
        query_started = time.perf_counter()
        month = store.query("node_cpu_used", start=NOW - days * DAY, end=NOW,
                            group_by="node")
        month_ms = (time.perf_counter() - query_started) * 1000
        counts = store.size()
        store.close()
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        total = os.path.getsize(path)
    scale = nodes / filled
    return {"nodes": nodes, "filled_nodes": filled, "days": days,
            "series": round(len(series) * scale), "rows": round(rows * scale),
            "rows_by_table_filled": counts, "bytes": round(total * scale),
            "MiB": round(total * scale / 2**20, 1), "bytes_per_row": round(total / rows, 1),
            "fill_seconds": round(fill_seconds, 1), "compact_seconds": round(compact_seconds, 2),
            "month_per_node_query_ms": round(month_ms, 1) if len(month) == filled else None,
            "fill": "synthetic steady state" + ("" if filled == nodes else
                                                f", {filled} nodes filled, scaled x{scale:g}"),
            "target_MiB": 1024}


def run(nodes: int = 100, tasks: int = 10, samples: int = 1_000_000, batch: int = 10_000,
        repeats: int = 10, node_metrics: int = len(NODE_METRICS), days: float = 30,
        size_nodes: int | None = None, skip: tuple[str, ...] = ()) -> dict:
    result: dict = {"benchmark": "metrics", "store": "sqlite (embedded)"}
    if "ingest" not in skip:
        result["ingest"] = ingest(nodes, tasks, samples, batch)
    if "query" not in skip:
        result["query"] = query(nodes, repeats)
    if "size" not in skip:
        result["size"] = size(nodes, tasks, node_metrics, days, size_nodes)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30)
    args = parser.parse_args()
    print(json.dumps(run(args.nodes, args.tasks, args.samples, days=args.days)))


if __name__ == "__main__":
    main()
