"""A sweep's report directory: sweep.json, sweep.csv, report.md and one comparison plot per
metric (nodes in use over time, pending-time CDF, packing efficiency over time), one line
per combination."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.compare_plots import plot_nodes_used, plot_packing, plot_pending_cdf
from simulator.pareto import RULE, Recommendation, pareto_front, recommend
from simulator.report import TIMING_KEY
from simulator.sweep import SweepRun, preemptions
from simulator.sweep_params import label, show_value, varying

PLOTS = ("nodes_used.png", "pending_cdf.png", "packing.png")


@dataclass
class SweepAnalysis:
    """The fronts and the recommendation of a sweep (indices into its runs)."""

    front: list[int]
    risk_front: list[int] | None  # nodes against preemptions, when any run had one
    recommended: Recommendation | None


def analyse(runs: Sequence[SweepRun]) -> SweepAnalysis:
    outcomes = [r.outcome() for r in runs]
    front = pareto_front([o.point() for o in outcomes])
    risk_front = (pareto_front([(o.nodes, o.risk) for o in outcomes])
                  if any(o.risk for o in outcomes) else None)
    return SweepAnalysis(front, risk_front, recommend(outcomes))


def rows(runs: Sequence[SweepRun], analysis: SweepAnalysis) -> list[dict[str, object]]:
    """The table: one row per combination, its settings then its outcome."""
    out = []
    pick = analysis.recommended.index if analysis.recommended else None
    for k, run in enumerate(runs):
        s = run.summary
        row: dict[str, object] = {name: _plain(v) for name, v in run.settings.items()}
        p, n = s["pending_time_s"], s["nodes_used"]
        row.update({
            "nodes_mean": n["mean"], "nodes_max": n["max"],
            "pending_p50_s": p["p50"], "pending_p99_s": p["p99"],
            "never_ran": s["tasks"]["never_ran"], "finished": s["tasks"]["finished"],
            "packing_cpus": s["packing_efficiency"]["cpus"],
            "packing_mem": s["packing_efficiency"]["mem"],
            "requested_cpus": s["utilization"]["requested"]["cpus"],
            "preemptions": preemptions(s), "sla_violations": s["sla_violations"],
            "pareto": k in analysis.front, "recommended": k == pick,
        })
        out.append(row)
    return out


def write_sweep(runs: Sequence[SweepRun], grid: dict[str, list[object]], out: Path,
                analysis: SweepAnalysis | None = None) -> SweepAnalysis:
    """Write the sweep's files into `out` (an existing, empty directory)."""
    analysis = analysis or analyse(runs)
    table = rows(runs, analysis)
    labels = run_labels(runs, grid)
    pick = analysis.recommended
    doc = {
        "parameters": {k: [_plain(v) for v in vs] for k, vs in grid.items()},
        "fixed": {k: _plain(vs[0]) for k, vs in grid.items() if k not in varying(grid)},
        "rule": RULE,
        "recommended": None if pick is None else {
            "label": labels[pick.index], "settings": table[pick.index], "reason": pick.reason},
        "pareto_front": [labels[i] for i in analysis.front],
        "same_outcomes": [[labels[i] for i in g] for g in same_outcomes(runs)],
        "risk_front": None if analysis.risk_front is None
        else [labels[i] for i in analysis.risk_front],
        "runs": [{"label": labels[k], "settings": {n: _plain(v) for n, v in r.settings.items()},
                  "row": table[k], "summary": r.summary} for k, r in enumerate(runs)],
    }
    (out / "sweep.json").write_text(json.dumps(doc, indent=2) + "\n")
    with open(out / "sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    plot_nodes_used(labels, [r.series for r in runs], out / PLOTS[0])
    plot_pending_cdf(labels, [r.pending for r in runs], out / PLOTS[1])
    plot_packing(labels, [r.series for r in runs], out / PLOTS[2])
    (out / "report.md").write_text(_markdown(runs, table, labels, analysis))
    return analysis


def run_labels(runs: Sequence[SweepRun], grid: dict[str, list[object]]) -> list[str]:
    """Each run named by the parameters that vary (those given one value are fixed)."""
    names = varying(grid)
    return [label(r.settings, names) for r in runs]


def same_outcomes(runs: Sequence[SweepRun]) -> list[list[int]]:
    """Groups of settings whose runs ended alike (the same summary but for the settings
    and timing): what a tuner learns those settings did not change on this workload."""
    groups: dict[str, list[int]] = {}
    for k, run in enumerate(runs):
        key = json.dumps({n: v for n, v in run.summary.items()
                          if n not in (TIMING_KEY, "strategy")}, sort_keys=True)
        groups.setdefault(key, []).append(k)
    return [g for g in groups.values() if len(g) > 1]


# The outcome columns as the terminal shows them: (header, format); settings as given.
_SHOWN = {
    "nodes_mean": ("nodes avg", "{:.1f}"), "nodes_max": ("max", "{}"),
    "pending_p50_s": ("p50 s", "{:.1f}"), "pending_p99_s": ("p99 s", "{:.1f}"),
    "never_ran": ("never ran", "{}"), "finished": ("done", "{}"),
    "packing_cpus": ("pack cpu", "{:.0%}"), "packing_mem": ("pack mem", "{:.0%}"),
    "requested_cpus": ("req cpu", "{:.0%}"), "preemptions": ("preempt", "{}"),
    "sla_violations": ("SLA viol", "{}"),
}


def terminal_table(table: list[dict[str, object]], settings: list[str]):
    """The rows as a rich table: `*` on the Pareto front, `->` recommended, a column for
    each setting in `settings` (those that vary), the fixed ones in the caption."""
    from rich import box
    from rich.table import Table

    view = Table(title="berth sim sweep (* Pareto front: nodes in use vs pending p99, "
                       "-> recommended)", box=box.SIMPLE_HEAD)
    fixed = [c for c in table[0] if c not in _SHOWN and c not in settings
             and c not in ("pareto", "recommended")]
    if fixed:
        view.caption = "fixed: " + ", ".join(f"{c}={show_value(table[0][c])}" for c in fixed)
    view.add_column("", no_wrap=True)
    for column in settings:
        view.add_column(column.replace("_", " "), no_wrap=True)
    for column in _SHOWN:
        view.add_column(_SHOWN[column][0], justify="right", no_wrap=True)
    for row in table:
        mark = ("->" if row["recommended"] else "") + ("*" if row["pareto"] else "")
        view.add_row(mark, *(show_value(row[c]) for c in settings),
                     *("-" if row[c] is None else fmt.format(row[c])
                       for c, (_, fmt) in _SHOWN.items()),
                     style="bold" if row["recommended"] else None)
    return view


def _plain(value: object) -> object:
    return "never" if value is None else value


def _markdown(runs, table, labels, analysis: SweepAnalysis) -> str:
    columns = list(table[0])
    head = "| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns) + "\n"
    settings = set(runs[0].settings)
    body = "".join("| " + " | ".join(show_value(row[c]) if c in settings else _cell(row[c])
                                     for c in columns) + " |\n" for row in table)
    first = runs[0].summary
    pick = analysis.recommended
    chosen = (f"**{labels[pick.index]}**: {pick.reason}." if pick else "none")
    same = "".join(f"- {', '.join(labels[i] for i in g)}\n" for g in same_outcomes(runs))
    same = ("\nThese settings ended exactly alike (they made no difference here):\n\n"
            + same) if same else ""
    risk = ""
    if analysis.risk_front is not None:
        risk = ("\nPareto front of nodes in use against preemptions: "
                + ", ".join(labels[i] for i in analysis.risk_front) + ".\n")
    return f"""# berth sim: sweep of {len(runs)} settings

Same cluster ({first['nodes']} nodes), workload ({first['workload_tasks']} tasks) and
seed {first['seed']} for every setting.

## Recommended

{chosen}

Rule: {RULE}

Pareto front of nodes in use against pending p99:
{', '.join(labels[i] for i in analysis.front)}.
{risk}{same}
## Outcomes

{head}{body}
`nodes_mean`: nodes running berth work besides one-per-node daemons, time mean;
`packing_*`: what berth holds on those nodes / their capacity, mean over the samples.
Every run's full summary: `sweep.json`; the table: `sweep.csv`.

![nodes in use](nodes_used.png)

![pending time](pending_cdf.png)

![packing efficiency](packing.png)
"""


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)
