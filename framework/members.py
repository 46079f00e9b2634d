"""Enum members as plain class attributes, for the framework's hot paths.

Python 3.11 reads a member off its enum class (`TaskState.RUNNING`) through the enum
metaclass's `__getattr__` hook, which the interpreter cannot cache: some five times the
cost of a plain class attribute, and a status update reads dozens of them. The classes
here hold the very same member objects, so `is`, `==` and hashing are unchanged; only
the lookup is cheaper. `S.RUNNING` reads as before (every module called TaskState `S`).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from offers.job import JobType, Phase, RestartWhen
from offers.states import TaskState
from offers.task import SLA


def plain(enum: type[Enum]) -> Any:
    """A plain class whose attributes are `enum`'s members."""
    return type(enum.__name__, (), dict(enum.__members__))


S = plain(TaskState)
PHASE = plain(Phase)
KIND = plain(JobType)
WHEN = plain(RestartWhen)
SLAS = plain(SLA)

FINAL = frozenset(phase for phase in Phase if phase.final)
"""The phases a job does not leave (`Phase.final`, as a set: a property call costs more)."""
