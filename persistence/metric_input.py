"""What a metric sample must be before it is stored: a name in `[A-Za-z0-9_.:-]`, a
finite value, a time that is not in the far future, string tags. Pure; the HTTP door
(api/metrics_app.py) answers the problems as a 400 naming each field, and nothing of a
batch is stored when any of it is wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from offers.problems import FieldProblem

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_TAG_VALUE = 256
MAX_TAGS = 16
MAX_BATCH = 10_000
FUTURE_SLACK = 300.0  # seconds a sample may be ahead of our clock (clocks differ a little)
AGGREGATIONS = ("mean", "max", "min", "sum", "last")
GROUPINGS = ("node", "job", "instance", "namespace")


@dataclass(frozen=True)
class Sample:
    """One value of metric `name` for the series `tags`, at `at` (seconds since the epoch)."""

    name: str
    value: float
    at: float
    tags: dict[str, str] = field(default_factory=dict)


def name_problem(name: object, where: str) -> FieldProblem | None:
    if isinstance(name, str) and NAME.match(name):
        return None
    return FieldProblem(where, f"{str(name)[:80]!r} is not a metric name (1-200 of "
                               "A-Z a-z 0-9 _ . : -)")


def value_problem(value: object, where: str) -> FieldProblem | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return FieldProblem(where, "must be a number")
    if not math.isfinite(value):
        return FieldProblem(where, "must be finite (not NaN or infinite)")
    return None


def time_problem(at: object, now: float, where: str) -> FieldProblem | None:
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        return FieldProblem(where, "must be a finite number of seconds since the epoch")
    if at < 0:
        return FieldProblem(where, "must not be before 1970")
    if at > now + FUTURE_SLACK:
        return FieldProblem(where, f"is {at - now:.0f}s in the future (at most "
                                   f"{FUTURE_SLACK:.0f}s ahead is taken)")
    return None


def tags_problems(tags: object, where: str) -> list[FieldProblem]:
    if not isinstance(tags, dict):
        return [FieldProblem(where, "must be an object of strings")]
    if len(tags) > MAX_TAGS:
        return [FieldProblem(where, f"at most {MAX_TAGS} tags")]
    problems = []
    for key, value in tags.items():
        if not NAME.match(key) or len(key) > 64:
            problems.append(FieldProblem(f"{where}.{key[:40]}", "is not a tag name (1-64 of "
                                                                 "A-Z a-z 0-9 _ . : -)"))
        elif not isinstance(value, str) or not value or len(value) > MAX_TAG_VALUE \
                or not value.isprintable():
            problems.append(FieldProblem(f"{where}.{key}", "must be a non-empty printable "
                                                           f"string of at most {MAX_TAG_VALUE}"))
    return problems


def read_samples(body: Any, now: float) -> tuple[list[Sample], list[FieldProblem]]:
    """The samples of `POST /v1/metrics`: one `{"resource", "value", "at", "tags"}`, one
    `{"metrics": {name: value}, "at", "tags"}` (JuliaRun's several-at-once form), or a
    list of either. `at` defaults to `now`."""
    items, prefix = (body, "{i}") if isinstance(body, list) else ([body], "")
    if not items:
        return [], [FieldProblem("", "no samples")]
    samples: list[Sample] = []
    problems: list[FieldProblem] = []
    for i, item in enumerate(items):
        here = prefix.format(i=i)
        dot = f"{here}." if here else ""
        if not isinstance(item, dict):
            problems.append(FieldProblem(here, "must be an object"))
            continue
        at = item.get("at", now)
        tags = item.get("tags") or {}
        found = [time_problem(at, now, f"{dot}at"), *tags_problems(tags, f"{dot}tags")]
        if "metrics" in item:
            metrics = item["metrics"]
            if not isinstance(metrics, dict) or not metrics:
                found.append(FieldProblem(f"{dot}metrics", "must be an object name -> value"))
                metrics = {}
            pairs = [(n, v, f"{dot}metrics.{str(n)[:40]}") for n, v in metrics.items()]
        else:
            pairs = [(item.get("resource"), item.get("value"), f"{dot}value")]
        for name, value, where in pairs:
            found += [name_problem(name, f"{dot}resource" if "metrics" not in item
                                   else where), value_problem(value, where)]
            if not any(found):
                samples.append(Sample(name, float(value), float(at), dict(tags)))
        problems += [p for p in found if p is not None]
    if len(samples) > MAX_BATCH:
        problems.append(FieldProblem("", f"at most {MAX_BATCH} samples per request"))
    return ([] if problems else samples), problems
