"""How long the metrics store keeps what: raw points, then each rollup level, and the
command line's form of it (`--metrics-retention raw=1h,1m=1d,1h=30d`)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Retention:
    """How long raw points stay (seconds), then each rollup level as (step, keep), finest
    first; every step divides the next. `grace`: how late a sample may arrive and still
    be in its bucket's rollup."""

    raw_seconds: float = 3600.0
    levels: tuple[tuple[int, float], ...] = ((60, 86400.0), (3600, 30 * 86400.0))
    grace: float = 60.0
    sample_seconds: float = 5.0  # the agents' meter period: what one sample stands for

    def __post_init__(self) -> None:
        steps = [s for s, _ in self.levels]
        if any(b % a for a, b in itertools.pairwise(steps)) or min(steps) <= 0:
            raise ValueError("each rollup step must be positive and divide the next")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> float:
    text = text.strip()
    unit = _UNITS.get(text[-1:])
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (<n>[smhd])") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r} must be a positive duration")
    return value


def parse_retention(text: str) -> Retention:
    """`raw=1h,1m=1d,1h=30d`: how long raw points stay, then each rollup step and how
    long its rollups stay (the default). ValueError names what is wrong."""
    raw, levels = None, []
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r} is not <step>=<keep> or raw=<keep>")
        if key.strip() == "raw":
            raw = _seconds(value)
        else:
            step = _seconds(key)
            if step != int(step):
                raise ValueError(f"{key!r}: a rollup step is whole seconds")
            levels.append((int(step), _seconds(value)))
    if raw is None or not levels:
        raise ValueError("give raw=<keep> and at least one <step>=<keep>")
    return Retention(raw_seconds=raw, levels=tuple(sorted(levels)))
