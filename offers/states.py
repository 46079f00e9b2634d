"""Task states and the one table of allowed transitions.

Anything not in the table is a bug in whoever asked for it, so it raises.
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    PENDING = "PENDING"  # queued in the framework
    STAGING = "STAGING"  # offer accepted, launch sent
    STARTING = "STARTING"  # container being created
    RUNNING = "RUNNING"
    KILLING = "KILLING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    LOST = "LOST"  # agent gone
    ERROR = "ERROR"  # spec could not be run: missing image, port clash...

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST, TaskState.ERROR}
)

_S = TaskState
ALLOWED: dict[TaskState, frozenset[TaskState]] = {
    _S.PENDING: frozenset({_S.STAGING, _S.KILLED, _S.ERROR}),
    _S.STAGING: frozenset(
        {_S.STARTING, _S.RUNNING, _S.KILLING, _S.FINISHED, _S.FAILED, _S.KILLED, _S.LOST,
         _S.ERROR}
    ),
    _S.STARTING: frozenset(
        {_S.RUNNING, _S.KILLING, _S.FINISHED, _S.FAILED, _S.KILLED, _S.LOST, _S.ERROR}
    ),
    _S.RUNNING: frozenset({_S.KILLING, _S.FINISHED, _S.FAILED, _S.KILLED, _S.LOST}),
    _S.KILLING: frozenset({_S.KILLED, _S.FINISHED, _S.FAILED, _S.LOST}),
    # A task reported LOST whose agent comes back still running it is RUNNING again
    # (Mesos's TASK_UNREACHABLE -> TASK_RUNNING); reconciliation then decides its fate.
    _S.LOST: frozenset({_S.RUNNING, _S.KILLING, _S.KILLED, _S.FINISHED, _S.FAILED}),
    _S.FINISHED: frozenset(),
    _S.FAILED: frozenset(),
    _S.KILLED: frozenset(),
    _S.ERROR: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change the table does not allow: a bug, not bad input."""


def check_transition(old: TaskState, new: TaskState) -> TaskState:
    """Return `new` if `old -> new` is allowed (or a repeat of `old`), else raise."""
    if new == old or new in ALLOWED[old]:
        return new
    raise IllegalTransition(f"task state {old} -> {new} is not allowed")
