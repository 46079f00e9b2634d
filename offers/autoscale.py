"""A job's autoscaling policy, as data: JuliaRun's metric combinators as one typed tree,
or ConPaaS's `on_autoscaling` as a preset that stands for such a tree.

Every node of the tree evaluates to a number. `metric`, `per_instance` and `average`
yield a *value* (a reading of a stored metric); `threshold` and `target` turn a value
into a *count* (instances wanted); `bounded` and `combine` keep the kind of what they
wrap. The root must yield a count. What the tree means when evaluated, and the rules
around it (cooldowns, stabilization, the maximum step), are `framework.autoscaling`'s.
Checked here as data only: field types and ranges, then what fields say together
(`autoscale_problems`), each problem named by its field path.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from offers.problems import FieldProblem

MAX_WINDOW = 7 * 24 * 3600.0
MAX_INTERVAL = 24 * 3600.0
MAX_CHILDREN = 16
METRIC_NAME = r"^[A-Za-z0-9_.:-]{1,200}$"  # the metrics store's names
MAX_COUNT = 100_000  # offers.job.MAX_INSTANCES (not imported: job.py imports this module)


def _finite(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    return value


def _whole(value: Any) -> Any:
    value = _finite(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Number = Annotated[float, BeforeValidator(_finite)]
Count = Annotated[int, BeforeValidator(_whole)]


class Aggregation(StrEnum):
    """How the readings of a window become one value (the metrics store's `agg`)."""

    MEAN = "mean"
    MAX = "max"
    MIN = "min"
    SUM = "sum"
    LAST = "last"


class Combination(StrEnum):
    MAX = "max"
    MIN = "min"
    MEAN = "mean"
    SUM = "sum"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricNode(_Model):
    """A stored metric of the job (tags `job`, `namespace`), aggregated over the last
    `window` seconds."""

    node: Literal["metric"]
    name: str = Field(pattern=METRIC_NAME)
    window: Number = Field(60.0, gt=0, le=MAX_WINDOW)
    agg: Aggregation = Aggregation.MEAN
    unit: str | None = Field(None, max_length=16, pattern=r"^[A-Za-z%/]+$")  # for reasons


class PerInstanceNode(_Model):
    """The metric read for each running instance (tag `instance`), the readings combined
    by `combine` (max: the busiest instance)."""

    node: Literal["per_instance"]
    of: MetricNode
    combine: Combination = Combination.MAX


class AverageNode(_Model):
    """The mean of `of` evaluated at `samples` instants spread over the last `window`
    seconds (JuliaRun's Average: smooths a noisy value)."""

    node: Literal["average"]
    of: Node
    window: Number = Field(gt=0, le=MAX_WINDOW)
    samples: Count = Field(5, ge=2, le=60)


class CombineNode(_Model):
    """Several values or several counts made one (HPA with several metrics: `max`)."""

    node: Literal["combine"]
    op: Combination = Combination.MAX
    of: tuple[Node, ...] = Field(min_length=1, max_length=MAX_CHILDREN)


class ThresholdNode(_Model):
    """A count: `step` more instances while the value is above `high`, `step` fewer
    while it is below `low`, as many as now in between."""

    node: Literal["threshold"]
    of: Node
    low: Number
    high: Number
    step: Count = Field(1, ge=1, le=MAX_COUNT)


class TargetNode(_Model):
    """A count: Kubernetes HPA's `ceil(current x value / target)`, the count kept while
    the ratio is within `tolerance` of 1."""

    node: Literal["target"]
    of: Node
    value: Number = Field(gt=0)
    tolerance: Number = Field(0.1, ge=0, lt=1)


class BoundedNode(_Model):
    """What it wraps, kept between `min` and `max`."""

    node: Literal["bounded"]
    of: Node
    min: Number
    max: Number


Node = Annotated[MetricNode | PerInstanceNode | AverageNode | CombineNode | ThresholdNode
                 | TargetNode | BoundedNode, Field(discriminator="node")]
NODE_TYPES = ("metric", "per_instance", "average", "combine", "threshold", "target",
              "bounded")
for _model in (AverageNode, CombineNode, ThresholdNode, TargetNode, BoundedNode):
    _model.model_rebuild()
_NODE: TypeAdapter[Node] = TypeAdapter(Node)


def parse_node(data: Any) -> Node:
    """One tree on its own (pydantic's ValidationError if it is not one)."""
    return _NODE.validate_python(data)


class Strategy(StrEnum):
    """ConPaaS's choice of the size of the instances it adds, from the smallest (`low`)
    to the largest (`high`) of the sizes on offer."""

    LOW = "low"
    MEDIUM_DOWN = "medium_down"
    MEDIUM = "medium"
    MEDIUM_UP = "medium_up"
    HIGH = "high"

    def pick(self, sizes: tuple[InstanceSize, ...]) -> InstanceSize:
        """low the smallest, high the largest, medium the middle one, medium_down and
        medium_up a quarter from either end (sizes ordered by cpus, then mem)."""
        ordered = sorted(sizes, key=lambda s: (s.cpus, s.mem))
        last = len(ordered) - 1
        index = {Strategy.LOW: 0, Strategy.MEDIUM_DOWN: math.floor(last * 0.25),
                 Strategy.MEDIUM: round(last * 0.5), Strategy.MEDIUM_UP: math.ceil(last * 0.75),
                 Strategy.HIGH: last}[self]
        return ordered[index]


class InstanceSize(_Model):
    cpus: Number = Field(gt=0, le=1024)
    mem: Number = Field(gt=0, le=16 * 1024 * 1024)  # MiB


class OnAutoscaling(_Model):
    """ConPaaS's `on_autoscaling <adapt_interval> <response_time_threshold> <strategy>`:
    every `adapt_interval` minutes, one instance more while the mean of the health
    check's `response_time` over that interval is above the threshold, one fewer while it
    is below half of it. Instances added are of the size `strategy` picks from `sizes`
    (none given: the template's own size)."""

    response_time_threshold: Number = Field(gt=0, le=3_600_000)  # milliseconds
    adapt_interval: Number = Field(5.0, gt=0, le=MAX_INTERVAL / 60)  # minutes
    strategy: Strategy = Strategy.LOW
    sizes: tuple[InstanceSize, ...] | None = Field(None, min_length=1, max_length=32)

    def rule(self) -> ThresholdNode:
        window = self.adapt_interval * 60
        metric = MetricNode(node="metric", name="response_time", window=window, unit="ms")
        return ThresholdNode(node="threshold", of=metric,
                             low=self.response_time_threshold / 2,
                             high=self.response_time_threshold)

    def size(self) -> InstanceSize | None:
        return self.strategy.pick(self.sizes) if self.sizes else None


class ScaleUp(_Model):
    """`cooldown`: seconds after any change before a scale-up; `stabilization`: the
    lowest count recommended over these last seconds is taken (0: the newest)."""

    cooldown: Number = Field(0.0, ge=0, le=MAX_WINDOW)
    stabilization: Number = Field(0.0, ge=0, le=MAX_WINDOW)


class ScaleDown(_Model):
    """`cooldown`: seconds after any change before a scale-down; `stabilization`: the
    highest count recommended over these last seconds is taken (HPA: 300 s)."""

    cooldown: Number = Field(0.0, ge=0, le=MAX_WINDOW)
    stabilization: Number = Field(300.0, ge=0, le=MAX_WINDOW)


class AutoscalePolicy(_Model):
    """`"autoscale"` on a service or array job: its count kept between `min` and `max`
    by `rule` (or the `on_autoscaling` preset), evaluated every `interval` seconds."""

    min: Count = Field(1, ge=0, le=MAX_COUNT)
    max: Count = Field(ge=0, le=MAX_COUNT)
    interval: Number | None = Field(None, ge=1, le=MAX_INTERVAL)  # default 30 s
    rule: Node | None = None
    on_autoscaling: OnAutoscaling | None = None
    scale_up: ScaleUp = ScaleUp()
    scale_down: ScaleDown = ScaleDown()
    max_step: Count | None = Field(None, ge=1, le=MAX_COUNT)

    @property
    def tree(self) -> Node:
        """The rule that decides, the preset's when it is one."""
        if self.rule is not None:
            return self.rule
        return self.on_autoscaling.rule()  # type: ignore[union-attr]

    @property
    def every(self) -> float:
        """Seconds between evaluations."""
        if self.interval is not None:
            return self.interval
        if self.on_autoscaling is not None:
            return self.on_autoscaling.adapt_interval * 60
        return 30.0

    def added_size(self) -> InstanceSize | None:
        """The size of the instances a scale-up adds, if not the template's."""
        return self.on_autoscaling.size() if self.on_autoscaling is not None else None


# -- what the fields say together ------------------------------------------------------


def yields_count(node: Node) -> bool:
    """Whether the node yields a count (else a metric value)."""
    if isinstance(node, ThresholdNode | TargetNode):
        return True
    if isinstance(node, BoundedNode):
        return yields_count(node.of)
    if isinstance(node, CombineNode):
        return yields_count(node.of[0])
    return False


def autoscale_problems(policy: AutoscalePolicy, path: str = "autoscale"
                       ) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    if policy.min > policy.max:
        out.append(FieldProblem(f"{path}.min", f"min {policy.min} is above max "
                                               f"{policy.max}"))
    if (policy.rule is None) == (policy.on_autoscaling is None):
        out.append(FieldProblem(f"{path}.rule", "give either `rule` (a tree of nodes) or "
                                                "`on_autoscaling` (the preset)"))
    if policy.on_autoscaling is not None and policy.interval is not None:
        out.append(FieldProblem(f"{path}.interval", "the preset's `adapt_interval` is its "
                                                    "interval; give one of them"))
    if policy.rule is not None:
        out += _node_problems(policy.rule, f"{path}.rule")
        if not out and not yields_count(policy.rule):
            out.append(FieldProblem(f"{path}.rule", f"a {policy.rule.node} node yields a "
                                    "metric value, not a count: put it in a threshold or "
                                    "target node"))
    return out


def _node_problems(node: Node, path: str) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    if isinstance(node, ThresholdNode) and node.low > node.high:
        out.append(FieldProblem(f"{path}.low", f"low {node.low:g} is above high "
                                               f"{node.high:g}"))
    if isinstance(node, BoundedNode) and node.min > node.max:
        out.append(FieldProblem(f"{path}.min", f"min {node.min:g} is above max "
                                               f"{node.max:g}"))
    if isinstance(node, ThresholdNode | TargetNode) and yields_count(node.of):
        out.append(FieldProblem(f"{path}.of", f"a {node.node} node takes a metric value, "
                                              "not a count"))
    if isinstance(node, AverageNode) and yields_count(node.of):
        out.append(FieldProblem(f"{path}.of", "an average node takes a metric value, not "
                                              "a count"))
    if isinstance(node, CombineNode):
        kinds = {yields_count(child) for child in node.of}
        if len(kinds) > 1:
            out.append(FieldProblem(f"{path}.of", "mixes metric values and counts: "
                                                  "combine one kind"))
        for i, child in enumerate(node.of):
            out += _node_problems(child, f"{path}.of[{i}]")
    elif not isinstance(node, MetricNode | PerInstanceNode):
        out += _node_problems(node.of, f"{path}.of")
    return out


# -- pydantic's errors in the tree's words ----------------------------------------------


def tree_errors(errors: list[dict]) -> list[dict]:
    """pydantic's errors with the tree's paths: a node's type is not a path element
    (`autoscale.rule.of.window`, not `autoscale.rule.threshold.of.average.window`), an
    unknown or missing `node` is named as that field, and a list's length is not blamed
    for a bad item in it."""
    out = []
    for err in errors:
        loc = tuple(err["loc"])
        if "autoscale" not in loc:
            out.append(err)
            continue
        loc = tuple(part for i, part in enumerate(loc)
                    if not (part in NODE_TYPES and i > 0
                            and (loc[i - 1] in ("rule", "of") or isinstance(loc[i - 1], int))))
        kind = err["type"]
        if kind == "too_short" and isinstance(err.get("input"), list | tuple) and \
                len(err["input"]) >= err.get("ctx", {}).get("min_length", 0):
            continue
        if kind == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            err = {**err, "msg": f"unknown node type {tag!r}; one of "
                                 f"{', '.join(NODE_TYPES)}"}
            loc = (*loc, "node")
        elif kind == "union_tag_not_found":
            err = {**err, "msg": f"is required: one of {', '.join(NODE_TYPES)}"}
            loc = (*loc, "node")
        out.append({**err, "loc": loc})
    return out
