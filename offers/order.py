"""The order of service when a batch does not all fit: priority, then age.

One pass per class places a whole batch whenever everything fits, in whatever order packs
best. When something is left over, that is only right if no later-served task took a
node the left-over task fitted on; `passed_over` checks it from the pass's rows. If it
was passed over, the batch is served again as a sequence: the longest prefix that places
whole (chunks that grow while they place whole and are cut before the first task they
leave over, each one vectorized pass), then the next task alone, which either fits or
leaves its class unplaced for good (free capacity only shrinks), and so on. That costs a
few passes per class that runs out of room, not one per task.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

from offers.filters import (
    BEFORE_RESOURCES,
    EPSILON,
    STATIC,
    Filter,
    Scene,
    TaskClass,
    fits_one,
    fits_one_each,
)
from offers.passes import Daemon, PassResult, Settings, run_pass, utilization

Placed = dict[TaskClass, list[tuple[np.ndarray, np.ndarray]]]
# Float slack on the free capacity before a pass: a node's room after some placed tasks
# are given back is the same sums taken in another order, which may round a hair above
# what it was; far below any amount a task asks for.
SLACK = 1e-6


def serve_in_order(settings: Settings, before: Scene, after: Scene, result: PassResult,
                   classes: dict[TaskClass, list[int]], regular: Sequence[TaskClass],
                   daemons: Sequence[TaskClass], order: Sequence[int]
                   ) -> tuple[Scene, Placed, dict[TaskClass, Daemon]]:
    """The batch's outcome in order of service, given a pass (`result`, which left
    `after`) that did not place every task; `before` is the scene the pass started from."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    if not passed_over(before, after, result, classes, regular, daemons, rank):
        return after, {c: [result.chosen[c]] for c in regular if c in result.chosen}, \
            result.daemons
    first_short = min(int(rank[classes[c][result.placed(c)]]) for c in regular
                      if result.placed(c) < len(classes[c]))
    return _in_sequence(settings, before, classes, regular, daemons, rank, first_short)


def passed_over(before: Scene, after: Scene, result: PassResult,
                classes: dict[TaskClass, list[int]], regular: Sequence[TaskClass],
                daemons: Sequence[TaskClass], rank: np.ndarray) -> bool:
    """Whether some class's first unplaced task would fit on a node if the tasks served
    after it there (placed by `result`) were not: resources and host ports given back."""
    hopeful = _with_room_before(before, [c for c in regular
                                         if result.placed(c) < len(classes[c])])
    if not hopeful:
        return False
    n = before.cluster.size
    rows = []  # (class, rank of each task placed, its node): one row per class placed
    for cls in regular:
        if cls in result.chosen:
            nodes = np.repeat(*result.chosen[cls])
            rows.append((cls, rank[classes[cls][:nodes.size]], nodes))
    for cls in daemons:
        nodes = result.daemons[cls].placed
        rows.append((cls, np.full(nodes.size, rank[classes[cls][0]]), nodes))
    if rows:
        # Every placed task at once: its rank, row and node.
        ranks = np.concatenate([r for _, r, _ in rows])
        row_of = np.concatenate([np.full(r.size, k) for k, (_, r, _) in enumerate(rows)])
        node_of = np.concatenate([nodes for _, _, nodes in rows])
        demands = np.array([other.demand for other, _, _ in rows], dtype=np.float64)
    for cls in hopeful:
        first = rank[classes[cls][result.placed(cls)]]
        room = after.free
        if rows:
            later = np.flatnonzero(ranks > first)
            if later.size:
                # Each row's later tasks given back, row after row as the classes were
                # placed (a running sum: the same arithmetic, in the same order); `some`:
                # the rows with later tasks, in order.
                some = np.flatnonzero(np.bincount(row_of[later], minlength=len(rows)))
                cells = np.searchsorted(some, row_of[later]) * n + node_of[later]
                tasks = np.bincount(cells, minlength=some.size * n).reshape(some.size, n)
                back = tasks[:, :, None] * demands[some][:, None, :]
                room = np.cumsum(np.concatenate((room[None], back)), axis=0)[-1]
        ok = fits_one(room, np.asarray(cls.demand))
        static = before.limit(cls, STATIC)
        if static is not None:
            ok &= static
        if cls.ports:
            older_ports = {p: np.zeros(n, dtype=bool) for p in cls.ports}
            for other, ranks_of, nodes in rows:
                for p in set(cls.ports) & set(other.ports):
                    older_ports[p][nodes[ranks_of <= first]] = True
            for p, taken in older_ports.items():
                ok &= before.ports.offered[p] & ~before.ports.taken[p] & ~taken
        if cls.counting:
            ok &= after.counts_of(cls).room_mask(1)
        if ok.any():
            return True
    return False


def _with_room_before(before: Scene, short: list[TaskClass]) -> list[TaskClass]:
    """The classes among `short` that one task of fits on some node they may run on as
    the pass found the scene (with `SLACK` to spare). The others cannot have been passed
    over: what later tasks give back never makes a node roomier than it was before the
    pass (most classes left over are these, too big for any offered node)."""
    return _with_room(before, short, STATIC, SLACK)


def _with_room(scene: Scene, classes: list[TaskClass], filters: tuple[Filter, ...],
               slack: float = 0.0) -> list[TaskClass]:
    """The classes one task of fits on some node that `filters` let it run on."""
    if not classes:
        return classes
    free = scene.free + slack if slack else scene.free
    fits = fits_one_each(free, np.array([c.demand for c in classes]))
    out = []
    for cls, fit, some in zip(classes, fits, fits.any(axis=1).tolist(), strict=True):
        if some:
            mask = scene.limit(cls, filters)
            if mask is None or fit[mask].any():
                out.append(cls)
    return out


class _RoomWitness:
    """`_with_room`, asked again and again of a scene that only fills up (a sequence's
    chunks): each class keeps a node that had room for it, and all nodes are looked at
    again only for a class whose node has lost it. (With ten thousand nodes, looking at
    every node for every class after every chunk was most of a sequence's cost.)"""

    def __init__(self, filters: tuple[Filter, ...]) -> None:
        self.filters = filters
        self.node: dict[TaskClass, int] = {}

    def of(self, scene: Scene, classes: list[TaskClass]) -> list[TaskClass]:
        """The classes one task of fits on some node `filters` let it run on."""
        free, node_of = scene.free, self.node
        masks = {cls: scene.limit(cls, self.filters) for cls in classes}
        lost = [cls for cls in classes if not self._holds(free, cls, masks[cls])]
        if lost:  # every node, for all of them at once (as `_with_room`)
            fits = fits_one_each(free, np.array([c.demand for c in lost]))
            for cls, fit in zip(lost, fits, strict=True):
                mask = masks[cls]
                nodes = np.flatnonzero(fit if mask is None else fit & mask)
                if nodes.size:
                    node_of[cls] = int(nodes[0])
                else:
                    node_of.pop(cls, None)
        return [cls for cls in classes if cls in node_of]

    def _holds(self, free: np.ndarray, cls: TaskClass, mask: np.ndarray | None) -> bool:
        """Whether the class's node still lets it run and has room for one task there
        (`fits_one`'s arithmetic, in Python floats)."""
        node = self.node.get(cls)
        if node is None or (mask is not None and not mask[node]):
            return False
        have = free[node].tolist()
        return all((have[r] + EPSILON) / d >= 1 for r, d in enumerate(cls.demand) if d > 0)


def _in_sequence(settings: Settings, start: Scene, classes: dict[TaskClass, list[int]],
                 regular: Sequence[TaskClass], daemons: Sequence[TaskClass],
                 rank: np.ndarray, first_short: int
                 ) -> tuple[Scene, Placed, dict[TaskClass, Daemon]]:
    """Serve tasks by rank, in chunks that place whole; `first_short` is where the first
    pass left its first task over (the chunk before it likely places whole)."""
    scene = start.copy()
    util = utilization(settings, scene.free)
    ranks = {c: rank[classes[c]].tolist() for c in (*regular, *daemons)}  # ascending
    of_rank: dict[int, TaskClass] = {}
    for c, r in ranks.items():
        of_rank.update(dict.fromkeys(r, c))
    end = int(max(rank.max(initial=-1) + 1, 0))
    placed: Placed = {c: [] for c in regular}
    daemon_rows: dict[TaskClass, Daemon] = {}
    blocked: set[TaskClass] = set()
    room = _RoomWitness(BEFORE_RESOURCES)

    def prefix(pos: int, length: int):
        wants = []
        for c in regular:
            if c not in blocked:
                r = ranks[c]
                k = bisect_left(r, pos + length) - bisect_left(r, pos)
                if k:
                    wants.append((c, k))
        ds = [c for c in daemons if pos <= ranks[c][0] < pos + length]
        return wants, ds

    def attempt(pos: int, length: int):
        """A pass over ranks [pos, pos + length) on a copy: whether it placed them all,
        the outcome, and the rank of the first one it left over."""
        wants, ds = prefix(pos, length)
        sc, u = scene.copy(), None if util is None else util.copy()
        r = run_pass(settings, sc, u, wants, ds)
        first = end
        for c, k in wants:
            got = r.placed(c)
            if got < k:
                first = min(first, ranks[c][bisect_left(ranks[c], pos) + got])
        return first == end, (sc, u, r, wants), first

    def commit(outcome) -> None:
        nonlocal scene, util
        scene, util, r, wants = outcome
        for c, _ in wants:
            if c in r.chosen:
                placed[c].append(r.chosen[c])
        daemon_rows.update(r.daemons)
        # A class with no room left now never has any: its later tasks wait (at their
        # turn there is no more room than now), and no pass needs to try them again.
        open_classes = [c for c in regular if c not in blocked]
        with_room = set(room.of(scene, open_classes))
        blocked.update(c for c in open_classes if c not in with_room)

    # Chunks of the sequence, each placed whole and kept, growing while they fit; one
    # that does not is cut before its first left-over task; a task left over alone (its
    # turn, with only earlier ones placed) blocks its class.
    pos, size = 0, max(first_short, 1)
    while pos < end:
        size = min(size, end - pos)
        whole, outcome, first = attempt(pos, size)
        if whole:
            commit(outcome)
            pos += size
            size *= 2
        elif first > pos:
            size = first - pos
        else:
            cls = of_rank.get(pos)
            if size > 1:
                whole, outcome, _ = attempt(pos, 1)
                if whole:
                    commit(outcome)
            if not whole and cls is not None:
                blocked.add(cls)
            pos, size = pos + 1, 1
    return scene, placed, daemon_rows
