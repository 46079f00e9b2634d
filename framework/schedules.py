"""Schedules' firing decisions: a schedule, its last firing, now and its runs -> what to
start, stop and forget. Pure (sans-I/O): times are seconds since the epoch, passed in;
nothing is read or written here. `framework.process.schedule_runner` carries decisions out
from the framework's tick, writing each run and the new last firing in one transaction.

The firing times come from cronsim (pinned at 2.8), not from a parser of our own. Chosen
over croniter because it is small, pure Python without dependencies, kept by the
healthchecks.io author who evaluates cron schedules for a living, and because its
daylight-saving rules are explicit and tested: a wall-clock time that occurs twice at a
fall-back fires once, at its first occurrence, and a time that a spring-forward skips
fires at the first minute after the gap (as Debian's cron does). It also walks backwards
(`reverse=True`), so the newest missed firings are found without walking a long outage.

What a firing is: an instant t with last < t <= now. Persisting the largest instant acted
on is what keeps a restart from running it twice, and `catch_up` what keeps it from
being skipped; DST cannot double a firing because instants, not wall times, are compared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from offers.job import JobSpec, Phase
from offers.problems import FieldProblem
from offers.schedule import SHORTHANDS, CatchUp, Concurrency, Schedule

_CHECK_FROM = datetime(2000, 1, 1, tzinfo=UTC)  # any instant: expressions are checked once
MAX_DST_SHIFT = 2 * 3600.0  # no zone moves its clocks by more


@dataclass(frozen=True)
class Run:
    """One run of a scheduled job as the schedule remembers it: the child job's name,
    the firing it was started for (a manual launch: when it was asked), and its phase."""

    name: str
    firing: float
    phase: Phase = Phase.PENDING
    manual: bool = False

    def as_json(self) -> dict:
        return {"name": self.name, "firing": self.firing, "manual": self.manual}


@dataclass(frozen=True)
class ScheduleState:
    """What the store keeps of a scheduled job: its template, when it was accepted, the
    last firing acted on (None: none yet; firings count from `created_at`) and its runs,
    oldest first (phases are the core's, not stored)."""

    spec: JobSpec
    created_at: float
    last_firing: float | None = None
    runs: tuple[Run, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def since(self) -> float:
        return self.created_at if self.last_firing is None else self.last_firing


@dataclass(frozen=True)
class Decision:
    """What to do now: `start` runs for these firing times (oldest first), `stop` these
    active runs (concurrency: replace), `forget` these finished runs (beyond the history
    limits); `last_firing` is the newest firing acted on (started or skipped), to persist
    (None: no firing was due); `skipped` says which firings did not run and why."""

    last_firing: float | None
    start: tuple[float, ...] = ()
    stop: tuple[str, ...] = ()
    forget: tuple[str, ...] = ()
    skipped: tuple[tuple[float, str], ...] = field(default=())

    @property
    def changes(self) -> bool:
        return self.last_firing is not None or bool(self.stop or self.forget)


# -- expressions ------------------------------------------------------------------------


def schedule_problems(schedule: Schedule) -> list[FieldProblem]:
    """Each expression that cronsim cannot read, named by field (`schedule.cron[i]` for a
    list), and an `at` without a shorthand it applies to."""
    out = []
    several = len(schedule.cron) > 1
    for i, expression in enumerate(schedule.expressions()):
        name = f"schedule.cron[{i}]" if several else "schedule.cron"
        try:
            next(CronSim(expression, _CHECK_FROM))
        except (CronSimError, StopIteration, ValueError) as exc:
            out.append(FieldProblem(name, f"{schedule.cron[i]!r} is not a cron expression: "
                                          f"{exc or 'it never fires'} (five fields: minute "
                                          "hour day-of-month month day-of-week, or "
                                          f"{', '.join(SHORTHANDS)})"))
    if schedule.at is not None and not any(e.strip() in SHORTHANDS for e in schedule.cron):
        out.append(FieldProblem("schedule.at", f"applies to {', '.join(SHORTHANDS)} only"))
    return out


def firings(schedule: Schedule, after: float, now: float, limit: int) -> list[float]:
    """The firing instants t with after < t <= now, the newest `limit`, oldest first."""
    zone = schedule.zone
    # Firings fall on whole seconds; half a second past now's makes `now` itself count.
    start = datetime.fromtimestamp(math.floor(now) + 0.5, zone)
    found: set[float] = set()
    for expression in schedule.expressions():
        for taken, when in enumerate(CronSim(expression, start, reverse=True)):
            instant = when.timestamp()
            if instant <= after or taken >= limit:
                break
            found.add(instant)
    return sorted(found)[-limit:]


def next_firing(schedule: Schedule, after: float) -> float:
    """The first firing instant after `after` (never later than the true one: the runner
    waits for it). cronsim's forward step can be off by a DST shift next to a fall-back
    (it repeats the second occurrence of a time, or skips a time just after a half-hour
    one, as on Lord Howe Island), so the answer is the backward walk `decide` uses, over
    the forward step plus the largest shift; the forward step only when that finds none."""
    start = datetime.fromtimestamp(after, schedule.zone)
    ahead = min(next(CronSim(e, start)).timestamp() for e in schedule.expressions())
    near = firings(schedule, after, ahead + MAX_DST_SHIFT, limit=10_000)
    return near[0] if near else ahead


def run_name(job: str, firing: float) -> str:
    """A run's name: the job's and the firing's minute in UTC (unique, and the same for
    the same firing whatever the time zone does)."""
    return f"{job}-{datetime.fromtimestamp(firing, UTC):%Y%m%dT%H%M}Z"


def manual_run_name(job: str, now: float, nth: int = 1) -> str:
    """A manual launch's name: the second it was asked in, and `nth` for the second and
    later launches within that second."""
    stamp = f"{job}-{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S}Z-manual"
    return stamp if nth == 1 else f"{stamp}-{nth}"


# -- the decision -------------------------------------------------------------------------


def decide(schedule: Schedule, since: float, now: float, runs: Sequence[Run]) -> Decision:
    """What the schedule calls for at `now`, given the last firing acted on (`since`: the
    job's creation before any) and its runs with their phases."""
    due = firings(schedule, since, now, schedule.catch_up_limit)
    wanted, skipped = _caught_up(schedule, due, now)
    active = [r.name for r in runs if not r.phase.final]
    stop: list[str] = []
    if wanted and schedule.concurrency is Concurrency.FORBID:
        if active:
            skipped += [(t, "a run is still active (concurrency: forbid)") for t in wanted]
            wanted = []
        else:
            skipped += [(t, "one run at a time (concurrency: forbid)") for t in wanted[:-1]]
            wanted = wanted[-1:]
    elif wanted and schedule.concurrency is Concurrency.REPLACE:
        stop = active
        skipped += [(t, "replaced by a newer firing (concurrency: replace)")
                    for t in wanted[:-1]]
        wanted = wanted[-1:]
    return Decision(last_firing=max(due[-1], since) if due else None,
                    start=tuple(wanted), stop=tuple(stop),
                    forget=tuple(beyond_history(schedule, runs)),
                    skipped=tuple(sorted(skipped)))


def _caught_up(schedule: Schedule, due: list[float],
               now: float) -> tuple[list[float], list[tuple[float, str]]]:
    """The due firings to run by `catch_up`, and the others with why not."""
    if schedule.catch_up is CatchUp.ALL:
        return list(due), []
    if schedule.catch_up is CatchUp.LATEST:
        return due[-1:], [(t, "a later firing runs instead (catch_up: latest)")
                          for t in due[:-1]]
    on_time = [t for t in due if now - t <= schedule.starting_deadline]
    return on_time, [(t, f"missed by more than {schedule.starting_deadline:g} s "
                         "(catch_up: none)") for t in due if t not in on_time]


def beyond_history(schedule: Schedule, runs: Sequence[Run]) -> list[str]:
    """Finished runs past the limits: the newest `successful_runs_history` complete ones
    and the newest `failed_runs_history` failed or stopped ones are kept."""
    newest_first = sorted((r for r in runs if r.phase.final), key=lambda r: r.firing,
                          reverse=True)
    succeeded = [r.name for r in newest_first if r.phase is Phase.COMPLETE]
    failed = [r.name for r in newest_first if r.phase is not Phase.COMPLETE]
    return (succeeded[schedule.successful_runs_history:]
            + failed[schedule.failed_runs_history:])
