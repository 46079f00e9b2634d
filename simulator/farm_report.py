"""A farming run's report directory (`berth farm schedules|run|throughput --report
DIR`, like `berth sim --report`): the farm's view, its schedules and its throughput
function as JSON and CSV, their plots (PNG) and a `report.md` that says what was chosen
and, once run, how the executed makespan compares with its forecast. Written aside and
renamed into place: never half-written."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from simulator.farm_plot import plot_schedules, plot_throughput
from simulator.report import atomic_dir


def _pool(pool: Mapping[str, int]) -> str:
    return ", ".join(f"{n} x{c}" for n, c in sorted(pool.items()) if c) or "-"


def _schedule_rows(schedules: Sequence[Mapping]) -> list[list]:
    return [[s["index"], _pool(s["pool"]), _pool(s["shares"]),
             round(s["makespan"]["mean"], 3), round(s["makespan"]["low"], 3),
             round(s["makespan"]["high"], 3), round(s["cost"]["mean"], 6),
             round(s["cost"]["low"], 6), round(s["cost"]["high"], 6), s["pareto"]]
            for s in schedules]


SCHEDULE_COLUMNS = ["index", "pool", "tasks", "makespan_mean", "makespan_low",
                    "makespan_high", "cost_mean", "cost_low", "cost_high", "pareto"]
THROUGHPUT_COLUMNS = ["pool", "throughput_per_hour", "cost_per_hour", "pareto"]


def _csv(path: Path, columns: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)


def write_farm_report(target: Path, view: Mapping, schedules: Sequence[Mapping] | None,
                      throughput: Mapping | None) -> Path:
    """`view`: the farm as `GET /v1/farms/{id}` shows it; `schedules`: as listed (None:
    not computed, e.g. no samples yet); `throughput`: as `GET .../throughput` answers."""
    with atomic_dir(target) as out:
        (out / "farm.json").write_text(json.dumps(view, indent=2) + "\n")
        md = [f"# Farm {view['id']}", "",
              f"- phase: {view['phase']}{' (demo: simulated)' if view['demo'] else ''}",
              f"- tasks: {view['tasks']}, sampled: {view['sampled']}, "
              f"slots per node: {view['slots']}",
              f"- spent so far: {view['spent']:.4f}", ""]
        md += ["## Node types and samples", "", "| type | price/hour | nodes | samples | "
               "mean lane time (s) |", "|---|---|---|---|---|"]
        for name, t in view["nodetypes"].items():
            s = view["samples"].get(name, {"count": 0, "mean": None})
            mean = "-" if s["mean"] is None else f"{s['mean']:.3f}"
            md.append(f"| {name} | {t['price']:g} | {t['nodes']} | {s['count']} | {mean} |")
        md.append("")
        if schedules is not None:
            (out / "schedules.json").write_text(json.dumps(list(schedules), indent=2) + "\n")
            _csv(out / "schedules.csv", SCHEDULE_COLUMNS, _schedule_rows(schedules))
            plot_schedules(schedules, out / "schedules.png", f"farm {view['id']}: schedules")
            md += ["## Schedules (Pareto front)", "", "![schedules](schedules.png)", "",
                   "| # | pool | makespan s [95%] | cost [95%] |", "|---|---|---|---|"]
            for s in schedules:
                if s["pareto"]:
                    m, c = s["makespan"], s["cost"]
                    md.append(f"| {s['index']} | {_pool(s['pool'])} | {m['mean']:.1f} "
                              f"[{m['low']:.1f}, {m['high']:.1f}] | {c['mean']:.4f} "
                              f"[{c['low']:.4f}, {c['high']:.4f}] |")
            md += ["", f"{len(schedules)} schedules in all: schedules.csv.", ""]
        md += _forecast_lines(view)
        if throughput is not None:
            function = throughput["function"]
            (out / "throughput.json").write_text(json.dumps(dict(throughput), indent=2)
                                                 + "\n")
            _csv(out / "throughput.csv", THROUGHPUT_COLUMNS,
                 [[_pool(c["pool"]), c["throughput"], c["cost"], c["pareto"]]
                  for c in function])
            plot_throughput(function, out / "throughput.png",
                            f"farm {view['id']}: throughput = f(cost)",
                            throughput.get("for_target"))
            md += ["## HTC: throughput = f(cost)", "", "![throughput](throughput.png)", "",
                   "| pool | tasks/hour | cost/hour |", "|---|---|---|"]
            md += [f"| {_pool(c['pool'])} | {c['throughput']:.1f} | {c['cost']:.4f} |"
                   for c in function if c["pareto"]]
            chosen = throughput.get("for_target")
            if chosen:
                md += ["", f"For {chosen['target']:g} tasks/hour: {_pool(chosen['pool'])}, "
                           f"{chosen['throughput']:.1f} tasks/hour for "
                           f"{chosen['cost']:.4f}/hour."]
            md.append("")
        md += _htc_lines(view)
        (out / "report.md").write_text("\n".join(md) + "\n")
    return target


def _forecast_lines(view: Mapping) -> list[str]:
    forecast = view.get("forecast")
    if not forecast:
        return []
    lines = ["## The run", "",
             f"Schedule #{int(forecast['index'])} ({_pool(view['pool'])}): forecast "
             f"makespan {forecast['makespan']:.1f} s [{forecast['makespan_low']:.1f}, "
             f"{forecast['makespan_high']:.1f}], cost {forecast['cost']:.4f} "
             f"[{forecast['cost_low']:.4f}, {forecast['cost_high']:.4f}].", ""]
    executed = view.get("run_seconds")
    progress = view["progress"]
    if executed is not None and view["phase"] == "done":
        inside = forecast["makespan_low"] <= executed <= forecast["makespan_high"]
        lines.append(f"Executed makespan: {executed:.1f} s, "
                     f"{'inside' if inside else 'outside'} the forecast's interval.")
    else:
        lines.append(f"{view['phase']}: {progress['done']} done, {progress['left']} left.")
    return lines + [""]


def _htc_lines(view: Mapping) -> list[str]:
    htc, bags = view.get("htc") or {}, view.get("bags") or []
    if not htc.get("configuration") and not bags:
        return []
    lines = ["## HTC configuration and added bags", "",
             f"Target {htc.get('target')} tasks/hour on {_pool(htc.get('configuration') or {})}.",
             ""]
    if bags:
        lines += ["| bag | tasks | pool | phase | done | seconds |", "|---|---|---|---|---|---|"]
        lines += [f"| {b['number']} | {b['tasks']} | {_pool(b['pool'])} | {b['phase']} | "
                  f"{b['done']} | {'-' if b['run_seconds'] is None else round(b['run_seconds'], 1)} |"
                  for b in bags]
        lines.append("")
    return lines
