"""Undo for the core's registries: what lets the master take back an event it could not persist.

The adapter persists what an event decided before it acts on it. When the write fails
(a full disk), the event must leave no trace, in memory either, or the core would believe
in tasks, offers and agents the database never heard of. The core's registries are dicts of
frozen records, so remembering each key's previous value the first time an event changes it
is a complete undo of the values, at the cost of one list append per write (not a copy of
the state). A key it deletes comes back at the end, though: a registry whose order
means something (a history, oldest first) is made `ordered`, and keeps a copy of its
items at the first write of each transaction instead.

Outside a transaction (between `commit` and the next `begin`, or in a core nobody
persists for, as in the simulator) there is nothing to undo, and the registries are plain
dicts: their writes cost what a dict's cost, not a Python call each.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()
_ORDER = object()  # the key of an entry that holds an ordered dict's items, in order


def _refused(self: dict, *args: Any, **kwargs: Any) -> Any:
    raise TypeError("this write is not journaled; use item assignment, del or pop")


class Journal:
    """Records, while open, how to put every journaled dict back as it was."""

    def __init__(self) -> None:
        self.entries: list[tuple[dict, Any, Any]] | None = None
        # id -> (dict, its class while the journal is open)
        self._dicts: dict[int, tuple[JournaledDict, type[JournaledDict]]] = {}
        self._ordered: set[int] = set()  # ordered dicts whose items this transaction kept

    def dict(self, ordered: bool = False) -> JournaledDict:
        """A new registry whose writes this journal records while it is open. An
        `ordered` one is put back in its order too (a rollback of a plain one puts a key
        it deleted back at the end), at the cost of a copy of its items the first time a
        transaction writes to it: for small registries whose order means something."""
        d = JournaledDict(self)
        opened = OrderedJournaledDict if ordered else JournaledDict
        d.__class__ = opened if self.entries is not None else _Closed
        self._dicts[id(d)] = (d, opened)
        return d

    def release(self, d: JournaledDict) -> None:
        """Forget a registry its owner dropped for good, so that the journal does not
        hold every registry ever made. Should a rollback bring it back (it was dropped
        while the journal was open, so it is a `JournaledDict`), it stays correct."""
        self._dicts.pop(id(d), None)

    def begin(self) -> None:
        self.entries = []
        self._ordered = set()
        for d, opened in self._dicts.values():
            d.__class__ = opened

    def commit(self) -> None:
        self.entries = None
        for d, _ in self._dicts.values():
            d.__class__ = _Closed

    def rollback(self) -> None:
        """Undo every change since `begin`, newest first."""
        entries = self.entries or []
        self.commit()
        for target, key, old in reversed(entries):
            if key is _ORDER:  # the whole dict as it was, in its order
                dict.clear(target)
                dict.update(target, old)
            elif old is _MISSING:
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

    def update(self, items: dict) -> None:  # type: ignore[override]
        """Write every item of a dict (one decline refuses a whole round's agents)."""
        for key in items:
            self._remember(key)
        dict.update(self, items)

    popitem = clear = __ior__ = _refused  # type: ignore[assignment]


class OrderedJournaledDict(JournaledDict):
    """A journaled dict whose rollback also restores its order: the first write of a
    transaction keeps a copy of its items, and nothing else is recorded."""

    __slots__ = ()

    def _remember(self, key: Any) -> None:
        journal = self._journal
        if journal.entries is not None and id(self) not in journal._ordered:
            journal._ordered.add(id(self))
            journal.entries.append((self, _ORDER, list(dict.items(self))))


class _Closed(JournaledDict):
    """A journaled dict while its journal is closed: plain dict writes, nothing recorded."""

    __slots__ = ()
    __setitem__ = dict.__setitem__  # type: ignore[assignment]
    __delitem__ = dict.__delitem__  # type: ignore[assignment]
    pop = dict.pop  # type: ignore[assignment]
    setdefault = dict.setdefault  # type: ignore[assignment]
    update = dict.update  # type: ignore[assignment]
