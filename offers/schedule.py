"""A job's schedule (the Elastic Job Master's daily, weekly and monthly jobs, as cron).

What the fields say, checked as data: their types, the time zone (an IANA name the
system's tz database knows), the `@daily`/`@weekly`/`@monthly` shorthands with an `at`
time. Whether an expression parses is the cron library's to say, and that lives in
`framework.schedules` (offers/ takes no third-party library beyond pydantic and numpy).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

MAX_EXPRESSIONS = 20
MAX_SCHEDULED_NAME = 100  # a run's name adds the firing time (20 characters)
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# The shorthands the seed's crontab used, as cron fields after "minute hour".
SHORTHANDS = {"@daily": "* * *", "@weekly": "* * 0", "@monthly": "1 * *"}


class Concurrency(StrEnum):
    ALLOW = "allow"  # runs may overlap
    FORBID = "forbid"  # a firing while a run is active is skipped
    REPLACE = "replace"  # a firing stops the active runs and starts a new one


class CatchUp(StrEnum):
    NONE = "none"  # firings missed by more than `starting_deadline` are skipped
    LATEST = "latest"  # of the missed firings, the latest runs
    ALL = "all"  # every missed firing runs, the newest `catch_up_limit` of them


def _expressions(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_whole)]


class Schedule(BaseModel):
    """When a job runs: each firing of `cron` in `time_zone` starts a run of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: Annotated[tuple[str, ...], BeforeValidator(_expressions)] = Field(
        min_length=1, max_length=MAX_EXPRESSIONS)
    at: str | None = None  # "HH:MM" for @daily, @weekly, @monthly (default 00:00)
    time_zone: str = "UTC"
    concurrency: Concurrency = Concurrency.ALLOW
    catch_up: CatchUp = CatchUp.LATEST
    catch_up_limit: Count = Field(10, ge=1, le=1000)
    starting_deadline: float = Field(60.0, gt=0, le=366 * 24 * 3600.0)
    successful_runs_history: Count = Field(3, ge=0, le=1000)
    failed_runs_history: Count = Field(1, ge=0, le=1000)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                             "'Europe/Berlin')") from None
        return value

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, value: str | None) -> str | None:
        if value is not None and not _AT.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM")
        return value

    @field_validator("cron")
    @classmethod
    def _not_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for expression in value:
            if not expression.strip():
                raise ValueError("an expression must not be empty")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def expressions(self) -> tuple[str, ...]:
        """The cron expressions with the shorthands written out at `at`."""
        hour, minute = (0, 0)
        if self.at is not None:
            matched = _AT.match(self.at)
            hour, minute = int(matched.group(1)), int(matched.group(2))
        return tuple(f"{minute} {hour} {SHORTHANDS[e.strip()]}"
                     if e.strip() in SHORTHANDS else " ".join(e.split())
                     for e in self.cron)
