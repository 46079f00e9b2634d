"""The query parameters of `GET /v1/metrics` and `GET /v1/rusage`, read into a window and
its options; each problem names its parameter. Times are seconds since the epoch, `now`,
or `-<amount><s|m|h|d>` before now (JuliaRun's relative times); durations `<amount>[s|m|h|d]`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from offers.problems import FieldProblem, SpecError
from persistence.metric_input import AGGREGATIONS, GROUPINGS, name_problem

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
MAX_POINTS = 10_000
FILTER_TAGS = ("node", "job", "instance")  # `namespace` narrows through api/namespaces.py


@dataclass(frozen=True)
class Window:
    start: float
    end: float


@dataclass(frozen=True)
class MetricsQuery:
    name: str | None
    window: Window
    agg: str
    group_by: str | None
    step: float | None
    tags: dict[str, str]


def duration(text: str) -> float | None:
    m = _DURATION.match(text.strip())
    if not m:
        return None
    return float(m.group(1)) * UNITS[m.group(2) or "s"]


def instant(text: str, now: float) -> float | None:
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("-"):
        ago = duration(text[1:])
        return None if ago is None else now - ago
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def window(query: Mapping[str, str], now: float, default_span: float,
           problems: list[FieldProblem]) -> Window:
    end = instant(query.get("to", "now"), now)
    if end is None:
        problems.append(FieldProblem("to", "must be seconds since the epoch, now or -<n>[smhd]"))
        end = now
    start = instant(query.get("from", f"{end - default_span!r}"), now)
    if start is None:
        problems.append(FieldProblem("from", "must be seconds since the epoch, now or "
                                             "-<n>[smhd]"))
        start = end - default_span
    if start >= end:
        problems.append(FieldProblem("from", "must be before to"))
    return Window(start, end)


def metrics_query(query: Mapping[str, str], now: float) -> MetricsQuery:
    problems: list[FieldProblem] = []
    name = query.get("name")
    if name is not None and (p := name_problem(name, "name")):
        problems.append(p)
    span = window(query, now, 600.0, problems)
    agg = query.get("agg", "mean")
    if agg not in AGGREGATIONS:
        problems.append(FieldProblem("agg", f"{agg[:40]!r} is not one of "
                                            f"{', '.join(AGGREGATIONS)}"))
    group_by = query.get("group_by") or None
    if group_by is not None and group_by not in GROUPINGS:
        problems.append(FieldProblem("group_by", f"{group_by[:40]!r} is not one of "
                                                 f"{', '.join(GROUPINGS)}"))
    step = None
    if query.get("step"):
        step = duration(query["step"])
        if step is None or step <= 0:
            problems.append(FieldProblem("step", "must be a duration: <n>[smhd], above 0"))
        elif (span.end - span.start) / step > MAX_POINTS:
            problems.append(FieldProblem("step", f"gives more than {MAX_POINTS} points over "
                                                 "the window; take a longer step"))
    if problems:
        raise SpecError(problems)
    tags = {t: query[t] for t in FILTER_TAGS if query.get(t)}
    return MetricsQuery(name, span, agg, group_by, step, tags)


def rusage_query(query: Mapping[str, str], now: float) -> tuple[Window, str]:
    problems: list[FieldProblem] = []
    span = window(query, now, 3600.0, problems)
    group_by = query.get("group_by", "namespace")
    if group_by not in ("job", "namespace"):
        problems.append(FieldProblem("group_by", f"{group_by[:40]!r} is not job or namespace"))
    if problems:
        raise SpecError(problems)
    return span, group_by
