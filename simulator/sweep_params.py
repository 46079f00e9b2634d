"""What a tuning sweep may vary: each `--sweep NAME=V1,V2,...` parameter, the `SimConfig`
field it sets and how its values are read, so a bad name or value is refused before any
run starts (every problem named, not just the first)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from offers.problems import FieldProblem, SpecError
from offers.strategies import STRATEGIES
from simulator.run import SimConfig


@dataclass(frozen=True)
class Param:
    field: str  # the SimConfig field it sets
    read: Callable[[str], object]  # a value's text -> the value; ValueError says why
    help: str


def _number(low: float, high: float = math.inf, *, never: bool = False):
    """A float in [low, high]; with `never`, also `never` (None: the thing is off)."""

    def read(text: str) -> float | None:
        if never and text.lower() in ("never", "none", "off"):
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number" + (" (or never)" if never else "")) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}" if high < math.inf
                             else f"must be at least {low:g}")
        return value

    return read


def _strategy(text: str) -> str:
    if text not in STRATEGIES:
        raise ValueError(f"unknown strategy; one of {', '.join(STRATEGIES)}")
    return text


def _flag(text: str) -> bool:
    value = text.lower()
    if value in ("true", "on", "yes", "1"):
        return True
    if value in ("false", "off", "no", "0"):
        return False
    raise ValueError("true or false")


PARAMS: dict[str, Param] = {
    "strategy": Param("strategy", _strategy, "placement strategy"),
    "margin": Param("margin", _number(0, 10),
                    "intelligence: a task is placed on its metered peak times 1 + margin"),
    "refuse_seconds": Param("refuse_seconds", _number(0),
                            "the framework's decline filter (s)"),
    "offer_interval": Param("offer_interval", _number(0.1), "seconds between offer cycles"),
    "reshuffle_every": Param("reshuffle_every", _number(1, never=True),
                             "seconds between reshuffles, or never"),
    "backoff": Param("backoff_seconds", _number(0), "first retry delay of a failed task (s)"),
    "max_backoff": Param("max_backoff_seconds", _number(0),
                         "the retry delay doubles up to this (s)"),
    "autoscale_tick": Param("autoscale_tick", _number(0.1),
                            "seconds between the autoscaler's evaluations"),
    "elastic": Param("elastic", _flag, "tasks yield to their node's own load (true/false)"),
}
ALIASES = {"decline_filter": "refuse_seconds", "backoff_seconds": "backoff",
           "max_backoff_seconds": "max_backoff", "reshuffle_interval": "reshuffle_every"}


def parse_sweeps(texts: Sequence[str]) -> dict[str, list[object]]:
    """`["strategy=binpack,spread", "margin=0.05,0.2"]` -> `{"strategy": [...], ...}` in
    the order given; SpecError naming every bad name and value."""
    grid: dict[str, list[object]] = {}
    problems: list[FieldProblem] = []
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip().lower().replace("-", "_")
        name = ALIASES.get(name, name)
        where = name
        if not sep or not name:
            problems.append(FieldProblem(repr(text), "write NAME=V1,V2,..."))
            continue
        if name not in PARAMS:
            problems.append(FieldProblem(where, "unknown parameter; one of "
                                         + ", ".join(PARAMS)))
            continue
        if name in grid:
            problems.append(FieldProblem(where, "given twice; list all its values once"))
            continue
        items = [v.strip() for v in values.split(",")]
        if not any(items):
            problems.append(FieldProblem(where, "no values"))
            continue
        read, parsed = PARAMS[name].read, []
        for item in items:
            try:
                value = read(item)
            except ValueError as exc:
                problems.append(FieldProblem(where, f"{item!r}: {exc}"))
                continue
            if value in parsed:
                problems.append(FieldProblem(where, f"{item!r} is listed twice"))
            parsed.append(value)
        grid[name] = parsed
    if problems:
        raise SpecError(problems)
    return grid


def combinations(grid: dict[str, list[object]], base: SimConfig
                 ) -> list[tuple[dict[str, object], SimConfig]]:
    """Every combination of the grid's values (the first parameter varying slowest), each
    as its settings and the base config with them applied; SpecError if one is
    contradictory (a maximum backoff below the first)."""
    names = list(grid)
    out = []
    for values in itertools.product(*(grid[n] for n in names)):
        settings = dict(zip(names, values, strict=True))
        config = replace(base, **{PARAMS[n].field: v for n, v in settings.items()})
        if config.max_backoff_seconds < config.backoff_seconds:
            raise SpecError([FieldProblem("max_backoff", f"{label(settings)}: the "
                                          "maximum backoff is below the first backoff")])
        out.append((settings, config))
    return out


def varying(grid: dict[str, list[object]]) -> list[str]:
    """The parameters with more than one value (all of them if none has): what tells the
    combinations apart."""
    return [n for n, values in grid.items() if len(values) > 1] or list(grid)


def label(settings: dict[str, object], names: list[str] | None = None) -> str:
    """A short name for a combination, of `names` (default: all): `strategy=binpack
    margin=0.05`."""
    return " ".join(f"{k}={show_value(v)}" for k, v in settings.items()
                    if names is None or k in names) or "base"


def show_value(value: object) -> str:
    """A setting's value as written on the command line."""
    if value is None or value == "never":
        return "never"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
