"""The report directory: summary.json, intervals.csv, PNG plots and report.md.

Written into a temporary directory next to DIR and renamed into place at the end, so a
failed run never leaves a partial report behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from simulator.compare_plots import plot_nodes_used, plot_packing
from simulator.elastic import ElasticAgents
from simulator.elastic_report import autoscale_markdown, elastic_markdown, elastic_report
from simulator.job_runs import job_report, jobs_markdown
from simulator.metrics import INTERVAL_COLUMNS
from simulator.run import SimResult, percentile

TIMING_KEY = "run"  # the only part of a summary that differs between identical runs


def summarize(result: SimResult) -> dict:
    """Everything a person compares between runs; deterministic except `run`."""
    rec, m, cfg = result.recorder, result.agents, result.config
    calls = result.wiring.counts
    rows = rec.rows
    pending = rec.pending_time

    def mean(name: str) -> float:
        values = rec.column(name)
        return round(float(values.mean()), 4) if values.size else 0.0

    def peak(name: str) -> float:
        values = rec.column(name)
        return round(float(values.max()), 4) if values.size else 0.0

    states = {"finished": 0, "running_at_end": 0, "stopped_at_end": 0, "never_ran": 0}
    for state in m.items.values():
        if state.first_run is None:
            states["never_ran"] += 1
        elif state.live:
            states["running_at_end"] += 1
        elif state.finished:
            states["finished"] += 1
        else:
            states["stopped_at_end"] += 1
    moved = sum(r.tasks_moved for r in rec.reshuffles)
    jobs = {"jobs": job_report(m, result.scheduler)} if m.jobs else {}
    if isinstance(m, ElasticAgents):
        jobs["elasticity"] = elastic_report(m)
    if result.autoscaler is not None:
        jobs["autoscaling"] = result.autoscaler.report()
    return {
        "strategy": cfg.strategy,
        "seed": cfg.seed,
        "nodes": result.nodes.size,
        "horizon_s": cfg.horizon,
        "workload_tasks": result.workload_size,
        "submitted": result.submitted,
        "tasks": states,
        "utilization": {
            "requested": {"cpus": mean("util_requested_cpus"), "mem": mean("util_requested_mem")},
            "used": {"cpus": mean("util_used_cpus"), "mem": mean("util_used_mem")},
            "peak_requested": {"cpus": peak("util_requested_cpus"),
                               "mem": peak("util_requested_mem")},
            "incumbent_cpus_share": round(float(np.divide(
                rec.column("incumbent_cpus").sum(), max(rec.column("cpus_total").sum(), 1e-9))),
                4) if rows else 0.0,
        },
        "pending_time_s": {
            "count": int(np.count_nonzero(~np.isnan(pending))),
            "p50": _round(percentile(pending, 50)),
            "p95": _round(percentile(pending, 95)),
            "p99": _round(percentile(pending, 99)),
            "max": _round(percentile(pending, 100)),
        },
        "unplaced_by_reason": result.unplaced,
        "sla_violations": result.checker.violations,
        "sla_violations_by_kind": dict(result.checker.by_kind),
        "sla_violation_examples": result.checker.examples,
        "invalid_launches": m.counters.invalid_launches,
        "invalid_launch_reasons": dict(m.counters.invalid_reasons),
        "invalid_launch_examples": m.counters.invalid_examples,
        "nodes_used": {"mean": mean("nodes_used"), "max": int(peak("nodes_used")),
                       "at_end": rec.nodes_used()},
        "packing_efficiency": _packing_means(rec),
        "reshuffles": [r.as_dict() for r in rec.reshuffles],
        "reshuffle_gains": {
            "count": len(rec.reshuffles), "tasks_moved": moved,
            "nodes_freed": sum(r.nodes_used_before - r.nodes_used_after
                               for r in rec.reshuffles),
            "requested_cpus_freed": round(sum(r.requested_cpus_before - r.requested_cpus_after
                                              for r in rec.reshuffles), 3),
            "requested_mem_freed": round(sum(r.requested_mem_before - r.requested_mem_after
                                             for r in rec.reshuffles), 3),
        },
        "agents": {"losses": m.counters.agent_losses, "tasks_lost": m.counters.lost,
                   "oom_killed": m.counters.oom_killed},
        "master": {"offer_cycles": result.offer_cycles, "offers": calls["offers"],
                   "launches": calls["accepts"], "tasks_launched": m.counters.tasks_launched,
                   "declines": calls["declines"], "kills": calls["kills"],
                   "finished": m.counters.finished, "failed": m.counters.failed},
        **jobs,
        TIMING_KEY: {"events": result.events, "wall_s": round(result.wall_seconds, 3),
                     "events_per_s": round(result.events / max(result.wall_seconds, 1e-9))},
    }


def _packing_means(rec) -> dict[str, float]:
    """Requested / capacity of the nodes in use, the mean over the samples with any."""
    busy = rec.column("nodes_used") > 0
    return {res: round(float(rec.column(f"packing_{res}")[busy].mean()), 4) if busy.any()
            else 0.0 for res in ("cpus", "mem")}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """A temporary directory that becomes `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_report(result: SimResult, out: Path, summary: dict | None = None) -> dict:
    """Write one run's report files into `out` (an existing directory)."""
    summary = summary or summarize(result)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    with open(out / "intervals.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(INTERVAL_COLUMNS)
        for row in result.recorder.rows:
            writer.writerow([_cell(v) for v in row])
    _plot_utilization({summary["strategy"]: result}, out / "utilization.png")
    _plot_pending({summary["strategy"]: result}, out / "pending.png")
    _plot_packing(result, out / "packing.png")
    (out / "report.md").write_text(_markdown(summary, result) + jobs_markdown(summary)
                                   + elastic_markdown(summary) + autoscale_markdown(summary))
    return summary


def write_comparison(results: dict[str, SimResult], out: Path) -> dict:
    """One sub-directory per strategy, plus a side-by-side table and overlaid plots."""
    summaries = {}
    for name, result in results.items():
        sub = out / name
        sub.mkdir()
        summaries[name] = write_report(result, sub)
    (out / "compare.json").write_text(json.dumps(summaries, indent=2) + "\n")
    _plot_utilization(results, out / "utilization.png")
    _plot_pending(results, out / "pending.png")
    series = [{k: r.recorder.column(k) for k in ("time", "nodes_used", "packing_cpus")}
              for r in results.values()]
    plot_nodes_used(list(results), series, out / "nodes_used.png")
    plot_packing(list(results), series, out / "packing.png")
    (out / "report.md").write_text(_comparison_markdown(summaries))
    return summaries


def _cell(value: object) -> object:
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return value


def _hours(result: SimResult) -> np.ndarray:
    return result.recorder.column("time") / 3600.0


def _plot_utilization(results: dict[str, SimResult], path: Path) -> None:
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for name, result in results.items():
        hours = _hours(result)
        for ax, res in zip(axes, ("cpus", "mem"), strict=True):
            label = name if len(results) > 1 else "requested"
            line, = ax.plot(hours, result.recorder.column(f"util_requested_{res}"), label=label)
            ax.plot(hours, result.recorder.column(f"util_used_{res}"), linestyle="--",
                    color=line.get_color(), label=f"{name} used" if len(results) > 1 else "used")
            if len(results) == 1:
                total = np.maximum(result.recorder.column(f"{res}_total"), 1e-9)
                ax.plot(hours, result.recorder.column(f"incumbent_{res}") / total, color="grey",
                        linestyle=":", label="incumbent")
    for ax, res in zip(axes, ("cpus", "mem"), strict=True):
        ax.set_ylabel(f"{res} share of cluster")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    axes[0].set_title("Utilization over time (solid: requested by berth tasks, dashed: used)")
    axes[1].set_xlabel("simulated hours")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_pending(results: dict[str, SimResult], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, result in results.items():
        values = result.recorder.pending_time
        values = np.sort(values[~np.isnan(values)])
        if values.size:
            ax.step(np.maximum(values, 0.01), np.arange(1, values.size + 1) / values.size,
                    where="post", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("pending time: submission to first RUNNING (s, log scale)")
    ax.set_ylabel("share of tasks")
    ax.set_title("Pending-time distribution (CDF)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_packing(result: SimResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4))
    packing = result.recorder.packing
    if packing is not None:
        shares = np.sort(packing)[::-1]
        ax.fill_between(np.arange(shares.size), shares, step="post", alpha=0.6)
    ax.set_xlabel("nodes, fullest first")
    ax.set_ylabel("requested cpus / node cpus")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Per-node packing at the busiest sample "
                 f"(t={result.recorder.packing_at / 3600:.1f} h)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _markdown(s: dict, result: SimResult) -> str:
    u, p, t = s["utilization"], s["pending_time_s"], s["tasks"]
    unplaced = "".join(f"| {reason} | {count} |\n"
                       for reason, count in s["unplaced_by_reason"].items()) or "| (none) | 0 |\n"
    violations = "\n".join(f"- {e}" for e in s["sla_violation_examples"]) or "- none"
    reshuffles = "".join(
        f"| {r['at'] / 3600:.1f} h | {r['tasks_moved']} | {r['nodes_used_before']} -> "
        f"{r['nodes_used_after']} | {r['requested_cpus_before']:.1f} -> "
        f"{r['requested_cpus_after']:.1f} | {r['requested_mem_before']:.0f} -> "
        f"{r['requested_mem_after']:.0f} |\n" for r in s["reshuffles"]) or "| (none) | | | | |\n"
    tasks_line = " / ".join(str(t[k]) for k in ("finished", "running_at_end",
                                                 "stopped_at_end", "never_ran"))
    n = s["nodes_used"]
    used_line = f"{n['mean']:.1f} / {n['max']} / {n['at_end']}"

    def pct(pair: dict) -> str:
        return f"{pair['cpus']:.1%} / {pair['mem']:.1%}"

    return f"""# berth sim: {s['strategy']}, seed {s['seed']}

{s['nodes']} nodes, {s['submitted']} of {s['workload_tasks']} tasks submitted over
{s['horizon_s'] / 3600:.1f} simulated hours. The framework's own scheduler placed them on
offers from a simulated master; an independent checker watched what ran where.

## Outcome

| | |
| --- | --- |
| SLA violations (independent checker) | **{s['sla_violations']}** |
| launches refused by the master | {s['invalid_launches']} |
| tasks finished / running at end / stopped / never ran | {tasks_line} |
| utilization requested (time mean): cpus / mem | {pct(u['requested'])} |
| utilization used (time mean): cpus / mem | {pct(u['used'])} |
| peak requested: cpus / mem | {pct(u['peak_requested'])} |
| incumbent load (cpus share) | {u['incumbent_cpus_share']:.1%} |
| pending time p50 / p95 / p99 / max (s) | {p['p50']} / {p['p95']} / {p['p99']} / {p['max']} |
| nodes used (besides daemons): mean / max / at end | {used_line} |
| events handled, events/s | {s['run']['events']}, {s['run']['events_per_s']} |

Utilization is the share of the up nodes' total capacity held by berth tasks (requested)
and actually used by them; the gap between the two is what `intelligence` and reshuffle
try to win back.

![utilization](utilization.png)

## Pending time

From submission to the first RUNNING instance.

![pending](pending.png)

## Packing

Requested cpus per node when the cluster was busiest: binpack fills few nodes to the brim,
spread levels them.

![packing](packing.png)

## Tasks that never ran, by the framework's last reason

| reason | tasks |
| --- | --- |
{unplaced}
## Reshuffles

| at | tasks moved | nodes used | requested cpus | requested mem (MiB) |
| --- | --- | --- | --- | --- |
{reshuffles}
## SLA violations

{violations}

Per-interval numbers: `intervals.csv`. Everything above: `summary.json`.
"""


def _comparison_markdown(summaries: dict[str, dict]) -> str:
    names = list(summaries)
    rows = [
        ("SLA violations", lambda s: s["sla_violations"]),
        ("requested cpus (mean)", lambda s: f"{s['utilization']['requested']['cpus']:.1%}"),
        ("requested mem (mean)", lambda s: f"{s['utilization']['requested']['mem']:.1%}"),
        ("used cpus (mean)", lambda s: f"{s['utilization']['used']['cpus']:.1%}"),
        ("used mem (mean)", lambda s: f"{s['utilization']['used']['mem']:.1%}"),
        ("pending p50 (s)", lambda s: s["pending_time_s"]["p50"]),
        ("pending p95 (s)", lambda s: s["pending_time_s"]["p95"]),
        ("pending p99 (s)", lambda s: s["pending_time_s"]["p99"]),
        ("never ran", lambda s: s["tasks"]["never_ran"]),
        ("finished", lambda s: s["tasks"]["finished"]),
        ("nodes used (mean)", lambda s: f"{s['nodes_used']['mean']:.1f}"),
        ("nodes used (max)", lambda s: s["nodes_used"]["max"]),
        ("OOM kills (undersized launches)", lambda s: s["agents"]["oom_killed"]),
        ("packing efficiency cpus (mean)",
         lambda s: f"{s['packing_efficiency']['cpus']:.1%}"),
        ("reshuffle: nodes freed", lambda s: s["reshuffle_gains"]["nodes_freed"]),
        ("reshuffle: cpus freed", lambda s: s["reshuffle_gains"]["requested_cpus_freed"]),
        ("events/s", lambda s: s["run"]["events_per_s"]),
    ]
    head = "| | " + " | ".join(names) + " |\n| --- |" + " --- |" * len(names) + "\n"
    body = "".join(f"| {label} | " + " | ".join(str(get(summaries[n])) for n in names) + " |\n"
                   for label, get in rows)
    first = summaries[names[0]]
    return f"""# berth sim: {', '.join(names)} side by side

Same cluster ({first['nodes']} nodes), same workload ({first['workload_tasks']} tasks) and
seed {first['seed']}; only the strategy differs. Each strategy's full report is in its
sub-directory.

{head}{body}
![utilization](utilization.png)

![pending](pending.png)

Nodes running berth work (besides one-per-node daemons), and packing efficiency: what
berth's tasks request on those nodes / their capacity.

![nodes in use](nodes_used.png)

![packing efficiency](packing.png)
"""
