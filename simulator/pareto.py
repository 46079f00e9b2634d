"""Choosing among a sweep's outcomes: the Pareto front (nothing else is at least as good
on every objective and better on one) and the rule that recommends one setting.

Pure functions over plain numbers, so the rule can be tested on hand-made outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from offers.pareto import dominates, pareto_front

__all__ = ["RULE", "Outcome", "Recommendation", "dominates", "pareto_front", "recommend"]

# The recommendation's tolerance on pending p99: within this share of the best, or this
# many seconds, whichever is larger (a few seconds of p99 are an offer cycle or two).
P99_SLACK_SHARE = 0.25
P99_SLACK_SECONDS = 10.0


@dataclass(frozen=True)
class Outcome:
    """What the rule reads of one run. `p99`: pending-time p99 (s; None when no task
    ran); `nodes`: nodes in use, time mean; `risk`: preemptions (0 when not measured)."""

    nodes: float
    p99: float | None
    never_ran: int = 0
    violations: int = 0
    risk: float = 0.0

    def point(self) -> tuple[float, float]:
        return (self.nodes, math.inf if self.p99 is None else self.p99)


@dataclass(frozen=True)
class Recommendation:
    index: int
    reason: str


RULE = ("Among the settings with no SLA violation and the fewest tasks that never ran, "
        "take the Pareto front of nodes in use (time mean) against pending-time p99; "
        f"recommend the one using the fewest nodes whose p99 is within "
        f"{P99_SLACK_SHARE:.0%} or {P99_SLACK_SECONDS:g} s (the larger) of the front's "
        "best p99; ties go to the lower p99, then the lower preemption risk, then the "
        "first listed.")


def recommend(outcomes: Sequence[Outcome], slack_share: float = P99_SLACK_SHARE,
              slack_seconds: float = P99_SLACK_SECONDS) -> Recommendation | None:
    """The setting `RULE` picks, with the reason in numbers; None for no outcomes."""
    if not outcomes:
        return None
    clean = [i for i, o in enumerate(outcomes) if o.violations == 0] or \
        list(range(len(outcomes)))
    fewest = min(outcomes[i].never_ran for i in clean)
    eligible = [i for i in clean if outcomes[i].never_ran == fewest]
    front = [eligible[k] for k in pareto_front([outcomes[i].point() for i in eligible])]
    best = min(outcomes[i].point()[1] for i in front)
    allowed = best + max(best * slack_share, slack_seconds) if math.isfinite(best) else best
    close = [i for i in front if outcomes[i].point()[1] <= allowed]
    pick = min(close, key=lambda i: (outcomes[i].nodes, outcomes[i].point()[1],
                                     outcomes[i].risk, i))
    chosen = outcomes[pick]
    excluded = len(outcomes) - len(eligible)
    reason = (f"fewest nodes in use ({chosen.nodes:.1f} on average) among the "
              f"{len(close)} of {len(front)} Pareto-front settings whose pending p99 is "
              f"within {_seconds(allowed)} (best {_seconds(best)} plus "
              f"max({slack_share:.0%}, {slack_seconds:g} s)); its p99 is "
              f"{_seconds(chosen.point()[1])}")
    if excluded:
        reason += (f"; {excluded} setting(s) left out for SLA violations or more tasks "
                   f"that never ran (fewest: {fewest})")
    return Recommendation(pick, reason)


def _seconds(value: float) -> str:
    return f"{value:.4g} s" if math.isfinite(value) else "none (no task ran)"
