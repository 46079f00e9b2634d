"""berth's own recorded history as a workload and cluster: `berth sim --replay-from URL
--since T [--until T2]` (docs/traces.md, "berth's own history").

Simulated time 0 is `--since`. Each instance that ran (or still waited at `--until`)
becomes one task with its recorded spec, submitted when berth was asked for it, running
as long as it ran, using its metered peak; a run cut short by a lost agent is folded
into the instance that replaced it; the agents offered become the nodes and the agents
lost are lost again at the same moments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from framework.history_reader import InstanceRun, RecordedHistory, read_history
from offers.cluster import NodeSpec
from offers.problems import FieldProblem, SpecError
from offers.task import STORED, TaskSpec
from simulator.inputs import WorkItem
from simulator.traces.workload import MIN_DURATION, Trace

LOST = "LOST"
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


@dataclass
class Replay:
    """The replayed window: a trace (workload, nodes, counts) plus the agent losses as
    (seconds from `--since`, hostname)."""

    trace: Trace
    losses: tuple[tuple[float, str], ...] = field(default=())


def read(url: str, since: float, until: float) -> Replay:
    """The window [since, until) of the store at `url` (HistoryUnreadable if unreadable)."""
    return build(read_history(url, since, until), since, until)


def build(history: RecordedHistory, since: float, until: float) -> Replay:
    trace = Trace(workload=[], nodes=_nodes(history, since, until) or None)
    items: list[WorkItem] = []
    chains: dict[tuple[str, str], list[InstanceRun]] = {}
    per_node: dict[str, list[InstanceRun]] = {}
    for run in history.runs:
        if run.slot is None:
            per_node.setdefault(run.submission_id, []).append(run)
        else:
            chains.setdefault((run.submission_id, run.slot), []).append(run)
    for runs in chains.values():
        asked_at: float | None = None  # the first submission of interrupted work
        for k, run in enumerate(runs):
            if run.state == LOST and k + 1 < len(runs) and _ended_by(run, until):
                trace.count("runs interrupted by a lost agent (replayed as one)")
                asked_at = run.submitted_at if asked_at is None else asked_at
                continue
            item = _item(run, run.submitted_at if asked_at is None else asked_at,
                         since, until, trace)
            asked_at = None
            if item is not None:
                items.append(item)
    for runs in per_node.values():
        first = min(runs, key=lambda r: r.submitted_at)
        ends = [r.ended_at for r in runs]
        merged = InstanceRun(
            first.submission_id, first.submission_id, None, first.submitted_at,
            min((r.started_at for r in runs if r.started_at is not None), default=None),
            None if None in ends else max(ends), first.state, None, first.spec, None)
        trace.count("one-per-node instances (replayed as their one task)", len(runs))
        item = _item(merged, merged.submitted_at, since, until, trace)
        if item is not None:
            items.append(item)
    items.sort(key=lambda i: (i.submit_at, i.spec.id))
    trace.workload = items
    hosts = {n.hostname for n in trace.nodes or ()}
    losses = []
    for loss in history.losses:
        if loss.hostname in hosts:
            losses.append((loss.at - since, loss.hostname))
        else:
            trace.count("agent losses of agents never offered (not replayed)")
    ran_on = {r.hostname for r in history.runs if r.hostname}
    if trace.nodes is not None and ran_on - hosts:
        trace.count("hosts that ran tasks but were never offered (not in the cluster)",
                    len(ran_on - hosts))
    return Replay(trace, tuple(losses))


def _ended_by(run: InstanceRun, until: float) -> bool:
    return run.ended_at is not None and run.ended_at <= until


def _item(run: InstanceRun, asked_at: float, since: float, until: float,
          trace: Trace) -> WorkItem | None:
    """One run as a task, or None (counted) when it is not one."""
    started = run.started_at if run.started_at is not None and run.started_at < until \
        else None
    if started is None and _ended_by(run, until):
        trace.count("left out: ended without running")
        return None
    try:
        spec = TaskSpec.model_validate(run.spec, context=STORED)
    except ValueError:
        trace.count("left out: spec missing or unreadable today")
        return None
    spec = spec.model_copy(update={"id": run.task_id})
    if started is None:
        trace.count("still waiting at --until (no duration)")
        duration = None
    elif not _ended_by(run, until):
        trace.count("still running at --until (no duration)")
        duration = None
    else:
        duration = max(run.ended_at - max(started, since), MIN_DURATION)
    if asked_at < since:
        trace.count("asked for before --since (submitted at 0 with what remained)")
    return WorkItem(spec, max(asked_at - since, 0.0), duration, run.peak)


def _nodes(history: RecordedHistory, since: float, until: float) -> list[NodeSpec]:
    """The agents offered in the window, by hostname (an agent that registered again has
    a new id): the largest offer of each resource, the latest attributes."""
    by_host: dict[str, NodeSpec] = {}
    for agent in sorted(history.agents, key=lambda a: a.seen_at):
        old = by_host.get(agent.hostname)
        by_host[agent.hostname] = NodeSpec(
            hostname=agent.hostname,
            cpus=max(agent.cpus, old.cpus if old else 0.0),
            mem=max(agent.mem, old.mem if old else 0.0),
            disk=max(agent.disk, old.disk if old else 0.0),
            attributes={**(old.attributes if old else {}), **agent.attributes})
    return list(by_host.values())


def parse_time(text: str, now: float, name: str) -> float:
    """`--since` / `--until`: an ISO 8601 time (UTC unless it says otherwise), seconds
    since the epoch, or a time ago (`7d`, `12h`, `30m`, `90s`). SpecError naming the
    option otherwise."""
    value = text.strip()
    unit = UNITS.get(value[-1:].lower())
    try:
        if unit is not None and value[:-1].replace(".", "", 1).isdigit():
            return now - float(value[:-1]) * unit
        if value.replace(".", "", 1).isdigit():
            return float(value)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except ValueError:
        pass
    raise SpecError([FieldProblem(name, f"{text!r} is not a time: give an ISO 8601 time "
                                        "(2026-11-23T00:00, UTC unless it says otherwise), "
                                        "seconds since the epoch, or a time ago such as 7d, "
                                        "12h or 30m")])
