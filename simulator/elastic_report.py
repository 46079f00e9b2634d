"""The report's elasticity and autoscaling parts: secondary work done against the
incumbent's quality of service, preemptions and their relaunches, and what the
autoscaler decided for each job."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.elastic import ElasticAgents

MARKDOWN_CHANGES = 20


def elastic_report(agents: ElasticAgents) -> dict[str, Any]:
    c = agents.elastic
    delays = np.array(c.relaunch_delays, dtype=np.float64)

    def pct(q: float) -> float | None:
        return round(float(np.percentile(delays, q)), 3) if delays.size else None

    asked = c.asked_cpu_seconds
    return {
        "secondary_cpu_seconds": round(c.secondary_cpu_seconds, 3),
        "asked_cpu_seconds": round(asked, 3),
        "secondary_share_of_asked": round(c.secondary_cpu_seconds / asked, 4) if asked else None,
        "lowered_task_seconds": round(c.lowered_task_seconds, 3),
        "incumbent_short_node_seconds": round(c.incumbent_short_node_seconds, 3),
        "incumbent_short_cpu_seconds": round(c.incumbent_short_cpu_seconds, 3),
        "decisions_by_grade": dict(sorted(c.decisions.items())),
        "resizes": c.resizes,
        "preemptions": c.preemptions,
        "relaunched": c.relaunched,
        "relaunch_delay_s": {"p50": pct(50), "p99": pct(99), "max": pct(100)},
        "preemption_examples": list(c.preemption_examples),
    }


def elastic_markdown(summary: dict[str, Any]) -> str:
    e = summary.get("elasticity")
    if e is None:
        return ""
    share = e["secondary_share_of_asked"]
    share_text = f"{share:.1%}" if share is not None else "n/a"
    grades = ", ".join(f"{k} {v}" for k, v in e["decisions_by_grade"].items()) or "none"
    examples = "\n".join(f"- {x}" for x in e["preemption_examples"]) or "- none"
    d = e["relaunch_delay_s"]
    done = f"{e['secondary_cpu_seconds']} / {e['asked_cpu_seconds']} ({share_text})"
    return f"""
## Elasticity

Each simulated agent ran the agent's own elasticity decision (`offers/elasticity.py`)
against its node's incumbent load: CPU first, then memory, then preemption.

| | |
| --- | --- |
| incumbent short of what it asked for (node-seconds) | **{e['incumbent_short_node_seconds']}** |
| ... in cpu-seconds | {e['incumbent_short_cpu_seconds']} |
| secondary cpu-seconds done / asked for | {done} |
| task-seconds below the request (lowered limits) | {e['lowered_task_seconds']} |
| node decisions by grade | {grades} |
| containers resized | {e['resizes']} |
| preemptions / relaunched | {e['preemptions']} / {e['relaunched']} |
| relaunch delay p50 / p99 / max (s) | {d['p50']} / {d['p99']} / {d['max']} |

Preemptions:

{examples}
"""


def autoscale_markdown(summary: dict[str, Any]) -> str:
    jobs = summary.get("autoscaling")
    if not jobs:
        return ""
    rows = "".join(f"| {name} | {j['decisions']} | {j['scale_ups']} | {j['scale_downs']} | "
                   f"{j['min_count']} .. {j['max_count']} |\n" for name, j in jobs.items())
    changes = [(name, c) for name, j in jobs.items() for c in j["changed"]]
    lines = "".join(f"- t={c['at']:.0f}s {name}: {c['reason']}\n"
                    for name, c in changes[:MARKDOWN_CHANGES])
    more = len(changes) - MARKDOWN_CHANGES
    tail = f"\n{more} more changes in `summary.json`.\n" if more > 0 else ""
    return f"""
## Autoscaling

The framework's autoscaler (`framework/autoscale_book.py`, `framework/autoscaling.py`)
on the simulated metering.

| job | decisions | scale-ups | scale-downs | count |
| --- | --- | --- | --- | --- |
{rows}
{lines}{tail}"""
