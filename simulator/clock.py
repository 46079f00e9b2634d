"""Virtual time: the one clock the simulated master, agents and the framework all read."""

from __future__ import annotations


class VirtualClock:
    """A `Callable[[], float]` clock that only moves when the event loop moves it."""

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance_to(self, when: float) -> None:
        if when < self.now:
            raise ValueError(f"virtual time cannot go back from {self.now} to {when}")
        self.now = when
