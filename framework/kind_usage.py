"""Task intelligence per kind of task: what tasks of one image, arguments and requested
shape actually use, learned from metering samples.

Charmander learned the usage of the very task it re-placed, so only a reshuffle gained
from it; learned per kind, a new submission of a known kind is placed (under the
`intelligence` strategy) on what its kind was metered to use instead of on its request.

Pure and bounded: time is passed in. Each kind keeps the peaks of a few time buckets that
cover the last `window` seconds (older buckets drop out, so the estimate follows a kind
whose use changes), and at most `max_kinds` kinds are kept, the least recently used
forgotten first. The size is the peak times 1 + margin, never above the request and never
below a floor; a kind one of whose sized instances ran out of memory is placed on its
request again for a window (`out_of_memory`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from offers.task import MIN_CPUS, MIN_MEM_MIB, TaskSpec

KindKey = tuple


def kind_key(spec: TaskSpec) -> KindKey:
    """The one definition of a kind: the same image, the same arguments and the same
    requested shape (cpus, mem, disk). Its id, environment, ports and SLA do not count:
    they say where and how a task runs, not how much it uses."""
    return (spec.dockerimage, spec.arguments, spec.cpus, spec.mem, spec.disk)


@dataclass(frozen=True)
class KindSettings:
    """How kinds are learned.

    `window`: seconds of samples a kind's peak is taken over; `buckets`: how finely the
    window slides (each bucket keeps one peak, so memory per kind is `buckets` + 1 rows);
    `margin`: the safety margin over the peak; `min_instances`: instances metered in the
    window before a kind is trusted (one instance's samples say little of its kind's
    spread); `max_kinds`: kinds remembered; `floor_share`: the size never drops
    below this share of the request (nor below berth's smallest container); `distrust`:
    seconds a kind is placed on its request after an instance sized by it ran out of
    memory (default: `window`); `size_memory`: False sizes cpus only, so a sized task keeps
    its requested memory, and with it its container's hard memory limit (no OOM risk; a
    cpu quota below use only slows a task down).
    """

    window: float = 24 * 3600.0
    buckets: int = 24
    margin: float = 0.1
    min_instances: int = 2
    max_kinds: int = 10_000
    floor_share: float = 0.1
    distrust: float | None = None
    size_memory: bool = True

    def __post_init__(self) -> None:
        if not (self.window > 0 and self.buckets >= 1 and self.margin >= 0
                and self.min_instances >= 1 and self.max_kinds >= 1
                and 0 <= self.floor_share <= 1):
            raise ValueError(f"invalid kind settings: {self}")


def clamp_size(spec: TaskSpec, peak: tuple[float, float], margin: float,
               floor_share: float) -> tuple[float, float]:
    """(cpus, mem) for a task whose like was metered at `peak`: the peak times 1 + margin,
    never above what `spec` asks for, never below the floor."""
    out = []
    for used, asked, smallest in ((peak[0], spec.cpus, MIN_CPUS), (peak[1], spec.mem,
                                                                    MIN_MEM_MIB)):
        floor = min(asked, max(smallest, floor_share * asked))
        want = used * (1 + margin) if math.isfinite(used) and used > 0 else 0.0
        out.append(min(asked, max(want, floor)))
    return out[0], out[1]


class _Kind:
    """One kind's recent peaks: `rows` of [bucket, cpus, mem, instances], oldest first
    (`instances`: the ids metered in that bucket, at most `min_instances` of them)."""

    __slots__ = ("distrusted_until", "known", "rows")

    def __init__(self) -> None:
        self.rows: list[list] = []
        self.distrusted_until = -math.inf
        # (bucket, peak or None) as last worked out; None after a new sample. A backlog
        # asks for a kind's peak once per pending task and offer round.
        self.known: tuple[int, tuple[float, float] | None] | None = None


class KindUsage:
    """Metered use per kind of task (see the module's docstring)."""

    def __init__(self, settings: KindSettings | None = None) -> None:
        self.settings = settings or KindSettings()
        self._width = self.settings.window / self.settings.buckets
        self._kinds: OrderedDict[KindKey, _Kind] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kinds)

    def observe(self, key: KindKey, cpus: float, mem: float, now: float,
                instance: str = "") -> None:
        """One metering sample of `instance`, a task of kind `key`."""
        if not (math.isfinite(cpus) and math.isfinite(mem)) or cpus < 0 or mem < 0:
            return
        kinds = self._kinds
        kind = kinds.get(key)
        if kind is None:
            kind = kinds[key] = _Kind()
            if len(kinds) > self.settings.max_kinds:
                kinds.popitem(last=False)
        else:
            kinds.move_to_end(key)
        bucket = math.floor(now / self._width)
        rows = self._expire(kind, bucket)
        kind.known = None
        if rows and rows[-1][0] >= bucket:  # the current bucket (or a clock that stepped back)
            row = rows[-1]
            row[1], row[2] = max(row[1], cpus), max(row[2], mem)
            if len(row[3]) < self.settings.min_instances:
                row[3].add(instance)
        else:
            rows.append([bucket, cpus, mem, {instance}])

    def peak(self, key: KindKey, now: float) -> tuple[float, float] | None:
        """The kind's peak (cpus, mem) over the window, or None if it is not known well
        enough (too few instances metered in the window) or is distrusted after running
        out of memory."""
        kind = self._kinds.get(key)
        if kind is None or now < kind.distrusted_until:
            return None
        self._kinds.move_to_end(key)
        bucket = math.floor(now / self._width)
        known = kind.known
        if known is None or known[0] != bucket:
            known = kind.known = (bucket, self._peak(kind, bucket))
        return known[1]

    def _peak(self, kind: _Kind, bucket: int) -> tuple[float, float] | None:
        rows = self._expire(kind, bucket)
        if len(rows) == 1 or self.settings.min_instances == 1:
            seen = len(rows[0][3]) if rows else 0
        else:
            seen = len(set().union(*(row[3] for row in rows)))
        if seen < self.settings.min_instances:
            return None
        return max(row[1] for row in rows), max(row[2] for row in rows)

    def size(self, spec: TaskSpec, now: float,
             own_peak: tuple[float, float] | None = None) -> tuple[float, float] | None:
        """(cpus, mem) to place `spec` on: from its own metered peak when known (the
        instance's job was metered), else from its kind's; None: place it on its request."""
        key = kind_key(spec)
        kind = self._kinds.get(key)
        if kind is not None and now < kind.distrusted_until:
            return None
        peak = own_peak if own_peak is not None else self.peak(key, now)
        if peak is None:
            return None
        s = self.settings
        cpus, mem = clamp_size(spec, peak, s.margin, s.floor_share)
        return (cpus, mem) if s.size_memory else (cpus, spec.mem)

    def known(self, now: float) -> list[tuple[KindKey, tuple[float, float]]]:
        """Every trusted kind with its peak, least recently used first (a view for people;
        it does not count as a use)."""
        out = []
        for key, kind in list(self._kinds.items()):
            if now >= kind.distrusted_until:
                peak = self._peak(kind, math.floor(now / self._width))
                if peak is not None:
                    out.append((key, peak))
        return out

    def out_of_memory(self, key: KindKey, now: float) -> None:
        """An instance placed by this kind's size ran out of memory: its samples undersold
        it. Forget them and place the kind on its request for a while."""
        kind = self._kinds.get(key)
        if kind is None:
            kind = self._kinds[key] = _Kind()
            if len(self._kinds) > self.settings.max_kinds:
                self._kinds.popitem(last=False)
        kind.rows.clear()
        kind.known = None
        distrust = self.settings.distrust
        kind.distrusted_until = now + (self.settings.window if distrust is None else distrust)

    def _expire(self, kind: _Kind, bucket: int) -> list[list]:
        """The kind's rows without those older than the window ending in `bucket`."""
        rows = kind.rows
        oldest = bucket - self.settings.buckets + 1
        while rows and rows[0][0] < oldest:
            rows.pop(0)
        return rows
