"""Undo for the core's registries: what lets the master take back an event it could not persist.

The adapter persists what an event decided before it acts on it. When the write fails
(a full disk), the event must leave no trace, in memory either, or the core would believe
in tasks, offers and agents the database never heard of. The core's registries are dicts of
frozen records, so remembering each key's previous value the first time an event changes it
is a complete undo, at the cost of one list append per write (not a copy of the state).

Outside a transaction (between `commit` and the next `begin`, or in a core nobody
persists for, as in the simulator) there is nothing to undo, and the registries are plain
dicts: their writes cost what a dict's cost, not a Python call each.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def _refused(self: dict, *args: Any, **kwargs: Any) -> Any:
    raise TypeError("this write is not journaled; use item assignment, del or pop")


class Journal:
    """Records, while open, how to put every journaled dict back as it was."""

    def __init__(self) -> None:
        self.entries: list[tuple[dict, Any, Any]] | None = None
        self._dicts: dict[int, JournaledDict] = {}  # id -> dict

    def dict(self) -> JournaledDict:
        """A new registry whose writes this journal records while it is open."""
        d = JournaledDict(self)
        if self.entries is None:
            d.__class__ = _Closed
        self._dicts[id(d)] = d
        return d

    def release(self, d: JournaledDict) -> None:
        """Forget a registry its owner dropped for good, so that the journal does not
        hold every registry ever made. Should a rollback bring it back (it was dropped
        while the journal was open, so it is a `JournaledDict`), it stays correct."""
        self._dicts.pop(id(d), None)

    def begin(self) -> None:
        self.entries = []
        for d in self._dicts.values():
            d.__class__ = JournaledDict

    def commit(self) -> None:
        self.entries = None
        for d in self._dicts.values():
            d.__class__ = _Closed

    def rollback(self) -> None:
        """Undo every change since `begin`, newest first."""
        entries = self.entries or []
        self.commit()
        for target, key, old in reversed(entries):
            if old is _MISSING:
                dict.pop(target, key, None)
            else:
                dict.__setitem__(target, key, old)


class JournaledDict(dict):
    """A dict whose item writes are recorded in a `Journal` while it is open.

    Only the writes the core uses are journaled; the others are refused rather than
    silently left out of the undo. While the journal is closed the dict's class is
    `_Closed`: the same layout with dict's own writes (the journal switches it).
    """

    __slots__ = ("_journal",)

    def __init__(self, journal: Journal):
        super().__init__()
        self._journal = journal

    def _remember(self, key: Any) -> None:
        entries = self._journal.entries
        if entries is not None:
            entries.append((self, key, dict.get(self, key, _MISSING)))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._remember(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if key in self:
            self._remember(key)
        dict.__delitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self._remember(key)
        return dict.pop(self, key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    update = popitem = clear = __ior__ = _refused  # type: ignore[assignment]


class _Closed(JournaledDict):
    """A journaled dict while its journal is closed: plain dict writes, nothing recorded."""

    __slots__ = ()
    __setitem__ = dict.__setitem__  # type: ignore[assignment]
    __delitem__ = dict.__delitem__  # type: ignore[assignment]
    pop = dict.pop  # type: ignore[assignment]
    setdefault = dict.setdefault  # type: ignore[assignment]
