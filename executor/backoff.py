"""How long an agent waits before it tries the master again.

Pure: the random draw is handed in, so the schedule is tested as numbers. Exponential, so a
master that is down or failing (a full disk answering 500, an overloaded one answering 503)
sees each agent less and less often; capped, so an agent notices a master that came back
within `longest`; jittered, so a thousand agents cut off at the same moment do not come back
in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """Waits of `first`, 2 x `first`, 4 x `first` ... up to `longest`, each shortened by a
    random fraction of at most `jitter`. `reset()` after a session that held."""

    first: float = 0.5
    longest: float = 30.0
    jitter: float = 0.2
    failures: int = 0  # in a row, since the last reset

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.longest:
            raise ValueError(f"backoff needs 0 < first ({self.first}) <= longest "
                             f"({self.longest})")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter {self.jitter} must be in [0, 1)")

    def nominal(self, failures: int) -> float:
        """The wait after `failures` failures in a row, before jitter."""
        return min(self.first * 2 ** min(max(failures - 1, 0), 60), self.longest)

    def next(self, draw: float) -> float:
        """Count one more failure; the wait before the next try. `draw` is in [0, 1)."""
        self.failures += 1
        return self.nominal(self.failures) * (1 - self.jitter * draw)

    def reset(self) -> None:
        self.failures = 0
