"""The autoscaler's decision: given a job's policy, its counts, the metric readings, the
history of its decisions and now, the count it should have and why. Pure: no I/O, no
clock; the readings are fetched beforehand (`queries` says which) by the process that
runs it (framework/process/autoscaler.py), which also carries the decision out.

The rules around the policy's tree, in order (Kubernetes' HPA and the Nomad autoscaler):
the tree's value rounded up and kept within `min`..`max` is the *recommendation*; a
missing metric holds the count (a metric missing in one branch of a `combine` only
forbids a scale-down); a scale-up takes the lowest recommendation of its stabilization
window, a scale-down the highest of its own; no change within its direction's cooldown
of the last change; at most `max_step` instances more or fewer per decision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from offers.autoscale import (
    AutoscalePolicy,
    AverageNode,
    BoundedNode,
    Combination,
    CombineNode,
    MetricNode,
    Node,
    PerInstanceNode,
    TargetNode,
    ThresholdNode,
)


class MetricSource(Protocol):
    """Where readings come from (the framework's metrics store). `tags` name the job
    (`job`, `namespace`) and, for one instance's readings, the `instance`; None: no
    reading in the window."""

    def aggregate(self, name: str, *, tags: dict[str, str], start: float, end: float,
                  agg: str) -> float | None: ...


@dataclass(frozen=True)
class Query:
    """One reading the tree needs: `agg` of metric `name` with `tags` over start..end."""

    name: str
    tags: tuple[tuple[str, str], ...]
    start: float
    end: float
    agg: str

    def read(self, source: MetricSource) -> float | None:
        return source.aggregate(self.name, tags=dict(self.tags), start=self.start,
                                end=self.end, agg=self.agg)


Readings = Mapping[Query, float | None]


@dataclass(frozen=True)
class Subject:
    """What the tree is evaluated for: the job's tags, its running instances' ids (for
    per-instance readings), the count it has now (its desired count: what a scale
    set), and now."""

    job: str
    namespace: str
    instances: tuple[str, ...]
    count: int
    now: float

    def tags(self, instance: str | None = None) -> tuple[tuple[str, str], ...]:
        tags = (("job", self.job), ("namespace", self.namespace))
        return (*tags, ("instance", instance)) if instance is not None else tags


@dataclass(frozen=True)
class Decision:
    """One evaluation of a job's policy: the count it had (`current`), the count it is to
    have (`desired`), the tree's recommendation (None: a metric was missing), why, and
    the readings it was made from (by what they are, e.g. `response_time mean 60s`)."""

    job: str
    at: float
    current: int
    desired: int
    recommended: int | None
    reason: str
    inputs: dict[str, float | None] = field(default_factory=dict)
    size: dict[str, float] | None = None  # the instances it adds, if not the template's

    @property
    def changed(self) -> bool:
        return self.desired != self.current

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "current": self.current, "desired": self.desired,
                "recommended": self.recommended, "changed": self.changed,
                "reason": self.reason, "inputs": dict(self.inputs), "size": self.size}


# -- evaluating the tree ------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """What a node evaluated to: a number (None: missing), the metrics found missing on
    the way, and the words that say how it came about."""

    number: float | None
    text: str
    missing: tuple[str, ...] = ()
    unit: str = ""  # " ms": what the number is counted in, for the words

    def of(self, number: float) -> str:
        return f"{fmt(number)}{self.unit}"


def queries(node: Node, subject: Subject, end: float | None = None) -> list[Query]:
    """Every reading evaluating `node` for `subject` needs."""
    end = subject.now if end is None else end
    if isinstance(node, MetricNode):
        return [_query(node, subject.tags(), end)]
    if isinstance(node, PerInstanceNode):
        return [_query(node.of, subject.tags(i), end) for i in subject.instances]
    if isinstance(node, AverageNode):
        return [q for t in _sample_ends(node, end) for q in queries(node.of, subject, t)]
    if isinstance(node, CombineNode):
        return [q for child in node.of for q in queries(child, subject, end)]
    return queries(node.of, subject, end)


def evaluate(node: Node, subject: Subject, readings: Readings,
             end: float | None = None) -> Value:
    """The node's number for `subject` (a count for threshold and target nodes)."""
    end = subject.now if end is None else end
    if isinstance(node, MetricNode):
        number = readings.get(_query(node, subject.tags(), end))
        label, unit = _label(node), _unit(node)
        if number is None:
            return Value(None, f"{label} missing", (node.name,), unit)
        return Value(number, f"{label} {fmt(number)}{unit}", unit=unit)
    if isinstance(node, PerInstanceNode):
        found = [v for i in subject.instances
                 if (v := readings.get(_query(node.of, subject.tags(i), end))) is not None]
        label, unit = f"{node.combine} per instance of {_label(node.of)}", _unit(node.of)
        if not found:
            return Value(None, f"{label} missing", (node.of.name,), unit)
        number = combine(node.combine, found)
        return Value(number, f"{label} {fmt(number)}{unit} ({len(found)} of "
                             f"{len(subject.instances)} instances)", unit=unit)
    if isinstance(node, AverageNode):
        values = [evaluate(node.of, subject, readings, t) for t in _sample_ends(node, end)]
        found = [v.number for v in values if v.number is not None]
        missing = tuple(sorted({m for v in values for m in v.missing}))
        unit = values[0].unit
        if not found:
            return Value(None, f"average over {fmt(node.window)} s of {values[0].text}",
                         missing, unit)
        number = sum(found) / len(found)
        return Value(number, f"average over {fmt(node.window)} s of {len(found)} "
                             f"readings {fmt(number)}{unit}", missing, unit)
    if isinstance(node, CombineNode):
        values = [evaluate(child, subject, readings, end) for child in node.of]
        found = [v.number for v in values if v.number is not None]
        missing = tuple(sorted({m for v in values for m in v.missing}))
        text = f"{node.op} of ({'; '.join(v.text for v in values)})"
        units = {v.unit for v in values}
        return Value(combine(node.op, found) if found else None, text, missing,
                     units.pop() if len(units) == 1 else "")
    inner = evaluate(node.of, subject, readings, end)
    if inner.number is None:
        return inner
    if isinstance(node, BoundedNode):
        number = min(max(inner.number, node.min), node.max)
        if number != inner.number:
            return Value(number, f"{inner.text} bounded to {inner.of(number)}", inner.missing,
                         inner.unit)
        return inner
    if isinstance(node, ThresholdNode):
        return _threshold(node, inner, subject.count)
    return _target(node, inner, subject.count)


def _threshold(node: ThresholdNode, inner: Value, count: int) -> Value:
    if inner.number > node.high:
        return Value(count + node.step, f"{inner.text} over {inner.of(node.high)}",
                     inner.missing)
    if inner.number < node.low:
        return Value(max(count - node.step, 0), f"{inner.text} under {inner.of(node.low)}",
                     inner.missing)
    return Value(count, f"{inner.text} within {fmt(node.low)}..{inner.of(node.high)}",
                 inner.missing)


def _target(node: TargetNode, inner: Value, count: int) -> Value:
    ratio = inner.number / node.value
    if abs(ratio - 1) <= node.tolerance:
        return Value(count, f"{inner.text} within {fmt(node.tolerance * 100)}% of target "
                            f"{inner.of(node.value)}", inner.missing)
    base = max(count, 1)  # none running: the ratio is counted from one
    wanted = math.ceil(base * ratio - 1e-9)
    return Value(wanted, f"{inner.text} against target {inner.of(node.value)} "
                         f"(x{ratio:.2f})", inner.missing)


def combine(op: Combination, numbers: Sequence[float]) -> float:
    if op is Combination.MAX:
        return max(numbers)
    if op is Combination.MIN:
        return min(numbers)
    if op is Combination.SUM:
        return math.fsum(numbers)
    return math.fsum(numbers) / len(numbers)


def _query(node: MetricNode, tags: tuple[tuple[str, str], ...], end: float) -> Query:
    return Query(node.name, tags, end - node.window, end, str(node.agg))


def _sample_ends(node: AverageNode, end: float) -> list[float]:
    step = node.window / node.samples
    return [end - i * step for i in range(node.samples)]


def _label(node: MetricNode) -> str:
    return f"{node.name} {node.agg}"


def _unit(node: MetricNode) -> str:
    return f" {node.unit}" if node.unit else ""


def fmt(number: float) -> str:
    """A number as people read it: 2,450 / 0.75 / 12.5."""
    if float(number).is_integer() or abs(number) >= 100:
        return f"{number:,.0f}"
    return f"{number:.3g}"


# -- the decision -------------------------------------------------------------------------


def decide(policy: AutoscalePolicy, subject: Subject, readings: Readings,
           history: Sequence[Decision]) -> Decision:
    """The count the job is to have, and why. `history`: its earlier decisions, oldest
    first (those within the windows and the last change suffice)."""
    job, current, now = subject.job, subject.count, subject.now
    value = evaluate(policy.tree, subject, readings)
    inputs = {_input_name(q, subject): readings.get(q) for q in queries(policy.tree, subject)}
    size = policy.added_size()
    sized = size.model_dump() if size is not None else None

    def held(why: str, recommended: int | None) -> Decision:
        return Decision(job, now, current, current, recommended,
                        f"count {current} kept: {why}", inputs)

    if value.number is None:
        return held(f"{value.text}: no metric, no change", None)
    asked = math.ceil(value.number - 1e-9)
    recommended = min(max(asked, policy.min), policy.max)
    target = recommended
    notes: list[str] = []
    if value.missing and target < current:
        target = current
        notes.append(f"no scale-down while {', '.join(value.missing)} is missing")
    if target > current:
        target, note = _stabilized(target, current, history, now,
                                   policy.scale_up.stabilization, up=True)
        notes += note
    elif target < current:
        target, note = _stabilized(target, current, history, now,
                                   policy.scale_down.stabilization, up=False)
        notes += note
    if target != current:
        cooldown = policy.scale_up.cooldown if target > current else \
            policy.scale_down.cooldown
        last = _last_change(history)
        if last is not None and now - last.at < cooldown:
            direction = "scale-up" if target > current else "scale-down"
            return held(f"{value.text}; {direction} to {target} waits for the cooldown "
                        f"({fmt(cooldown)} s; the last change was {fmt(now - last.at)} s "
                        "ago)", recommended)
    if policy.max_step is not None and abs(target - current) > policy.max_step:
        target = current + policy.max_step * (1 if target > current else -1)
        notes.append(f"at most {policy.max_step} per decision")
    if target == current:
        why = value.text + "".join(f"; {n}" for n in notes)
        return held(why, recommended)
    streak = _streak(history, up=target > current)
    why = value.text + (f" for {streak + 1} intervals" if streak else "")
    if recommended != asked:
        why += f" (bounded at {'min' if recommended == policy.min else 'max'} {recommended})"
    why += "".join(f"; {n}" for n in notes)
    return Decision(job, now, current, target, recommended,
                    f"count {current} -> {target}: {why}", inputs,
                    sized if target > current else None)


def _stabilized(target: int, current: int, history: Iterable[Decision], now: float,
                window: float, *, up: bool) -> tuple[int, list[str]]:
    """HPA's stabilization: a scale-up to the lowest, a scale-down to the highest
    recommendation of the window (this one included), never past the current count.
    Each earlier recommendation counts as the change it asked for from the count it was
    made at, so a stepped rule (threshold: one fewer) keeps stepping after a change
    instead of waiting a whole window again."""
    if window <= 0:
        return target, []
    recent = [current + d.recommended - d.current for d in history
              if d.recommended is not None and now - d.at < window]
    if not recent:
        return target, []
    steadied = max(min([target, *recent]), current) if up else \
        min(max([target, *recent]), current)
    if steadied == target:
        return target, []
    if steadied == current:
        return steadied, [f"a count of {current} or {'fewer' if up else 'more'} was asked "
                          f"for within the last {fmt(window)} s"]
    side = "smallest" if up else "highest"
    return steadied, [f"the {side} count asked for over the last {fmt(window)} s is "
                      f"{steadied}"]


def _last_change(history: Sequence[Decision]) -> Decision | None:
    for decision in reversed(history):
        if decision.changed:
            return decision
    return None


def _streak(history: Sequence[Decision], *, up: bool) -> int:
    """Decisions in a row just before this one that recommended the same direction."""
    count = 0
    for decision in reversed(history):
        rec = decision.recommended
        if rec is None or (rec <= decision.current if up else rec >= decision.current):
            break
        count += 1
    return count


def _input_name(query: Query, subject: Subject) -> str:
    tags = dict(query.tags)
    who = f" {tags['instance']}" if "instance" in tags else ""
    back = subject.now - query.end
    when = f" at -{fmt(back)}s" if back > 0 else ""
    return f"{query.name}{who} {query.agg} {fmt(query.end - query.start)}s{when}"


def fetch(source: MetricSource | None, wanted: Iterable[Query]) -> dict[Query, float | None]:
    """The readings for `wanted` from `source` (None: no source, every reading missing).
    Blocking: the process runs it off its loop."""
    out: dict[Query, float | None] = {}
    for query in wanted:
        if query not in out:
            out[query] = query.read(source) if source is not None else None
    return out
