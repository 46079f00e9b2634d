"""Ended containers kept for a while, so their logs can still be read (Mesos's gc_delay).

A container whose end has been reported is renamed `<name>.ended-<id>`: the name tells a
restarted agent not to adopt it again (nor report its end twice), and frees the task's
own name. It is removed `delay` seconds after it ended. Pure bookkeeping; the backend
does the renaming and removing.
"""

from __future__ import annotations

from datetime import datetime

DEFAULT_GC_DELAY = 3600.0
ENDED_MARK = ".ended-"


def ended_name(name: str, container_id: str) -> str:
    """The name an ended container is kept under (unique: it carries the container id)."""
    return f"{name}{ENDED_MARK}{container_id[:12]}"


def is_ended_name(name: str) -> bool:
    return ENDED_MARK in name


def finished_at(state: dict, default: float) -> float:
    """When Docker says a container stopped (`State.FinishedAt`), as a Unix time."""
    text = str(state.get("FinishedAt") or "")
    try:  # "2024-05-01T12:00:00.123456789Z": whole seconds are plenty here
        return datetime.fromisoformat(text[:19] + "+00:00").timestamp()
    except ValueError:
        return default


class EndedContainers:
    """Container ids and when each ended; which are due for removal at a given time."""

    def __init__(self, delay: float = DEFAULT_GC_DELAY):
        if delay < 0:
            raise ValueError("the container gc delay must be >= 0 seconds")
        self.delay = delay
        self._ended: dict[str, float] = {}

    def add(self, container_id: str, ended_at: float) -> None:
        self._ended[container_id] = ended_at

    def due(self, now: float) -> list[str]:
        return [cid for cid, at in self._ended.items() if at + self.delay <= now]

    def discard(self, container_id: str) -> None:
        self._ended.pop(container_id, None)

    def __contains__(self, container_id: object) -> bool:
        return container_id in self._ended

    def __len__(self) -> int:
        return len(self._ended)
