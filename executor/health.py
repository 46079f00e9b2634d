"""What a health check's results mean, apart from running them (executor/health_probes.py):
given the last result, the failures so far and the grace period, is the instance healthy,
unhealthy, or to be killed?

Mesos's rules: failures in the first `grace` seconds do not count, unless the instance was
healthy once (its grace is then over); a success resets the count; `max_failures` counted
failures in a row kill it. Health is reported when it changes, not after every check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from offers.health import HealthCheck


@dataclass(frozen=True)
class CheckResult:
    """One run of a check. `detail` says what was seen (`GET :8080/ answered 404`);
    `response_time` is an HTTP check's, in milliseconds."""

    ok: bool
    detail: str
    response_time: float | None = None


@dataclass(frozen=True)
class HealthState:
    """Where one instance's checks stand: since when it runs, whether it was healthy at
    its last report (None: not yet known) and its counted failures in a row."""

    started_at: float
    healthy: bool | None = None
    failures: int = 0
    ever_healthy: bool = False


@dataclass(frozen=True)
class Step:
    """The new state, the health to report (None: unchanged) and, when the instance is to
    be killed, why (`unhealthy: ...`)."""

    state: HealthState
    report: bool | None = None
    kill: str | None = None


def observe(check: HealthCheck, state: HealthState, result: CheckResult, now: float) -> Step:
    """Fold one result into the state."""
    if result.ok:
        new = replace(state, healthy=True, failures=0, ever_healthy=True)
        return Step(new, report=True if state.healthy is not True else None)
    if not state.ever_healthy and now - state.started_at < check.grace:
        return Step(state)  # still starting: not counted
    failures = state.failures + 1
    new = replace(state, healthy=False, failures=failures)
    report = False if state.healthy is not False else None
    if failures >= check.max_failures:
        times = "once" if failures == 1 else f"{failures} times in a row"
        return Step(new, report, kill=f"unhealthy: {result.detail} ({check.describe()} "
                                      f"failed {times})")
    return Step(new, report)
