"""Secondary work yields to the node's own load: Jisto's elasticity, as plain arithmetic.

Every period the agent measures the node and asks `decide` how big each of berth's
containers may be right now. The budget is `total - incumbent - headroom`; the node's own
programs (the incumbent) come first. When the budget is short, berth answers in grades:

1. CPU: the quotas of elastic tasks are lowered, the budget shared in proportion to their
   requests (CPU is compressible: a slower task is not a broken one);
2. memory: limits are lowered toward what each task uses plus a margin, never below its
   use (below it the kernel would kill it), the cut shared in proportion to what each
   could give;
3. preemption: only when the floors of (1) and (2) do not fit, the least important task
   (elastic before `elastic: false`, then lowest priority, then youngest) is ended, and
   the question asked again without it.

When the load goes away the same arithmetic gives every task its requested size back.
Work marked `elastic: false` keeps its size and is only preempted when no elastic task
is left to take from. Pure: measurements come in as numbers, decisions go out as data;
the agent (executor/agent.py) and the simulator (simulator/elastic.py) run the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from offers.amounts import ZERO, Amounts

_EPS = 1e-9


class Grade(IntEnum):
    """How far a period's decision had to go (ordered: a later grade includes earlier ones
    as needed)."""

    NONE = 0  # every task at its requested size
    CPU = 1  # some CPU quotas lowered
    MEMORY = 2  # some memory limits lowered
    PREEMPT = 3  # some tasks ended


@dataclass(frozen=True)
class Tenant:
    """One of berth's tasks on this node, as the decision sees it."""

    task_id: str
    requested: Amounts  # its size at launch (cpus, mem; disk is not elastic)
    used: Amounts = ZERO  # measured use (cores, MiB)
    priority: int = 0
    started: float = 0.0  # when it started: among equals the youngest goes first
    elastic: bool = True  # False: keeps its size (placed only on what the peak leaves)
    limits: Amounts | None = None  # what it may use now (None: its request)

    @property
    def current(self) -> Amounts:
        return self.requested if self.limits is None else self.limits


@dataclass(frozen=True)
class ElasticPolicy:
    """The floors and margins of the grades."""

    min_cpus: float = 0.01  # the smallest quota given (Docker's is 1 ms per 100 ms)
    min_mem: float = 6.0  # MiB: Docker's smallest memory limit
    mem_margin: float = 0.10  # a lowered memory limit keeps this share of use on top...
    mem_margin_min: float = 16.0  # ...and at least this many MiB
    # When even the smallest quotas do not fit (the node's own programs want every core):
    # False (the default), CPU never preempts: it is compressible, the quotas stay at their
    # floor and the kernel's fair share gives the rest, as Kubernetes never evicts for CPU
    # (a second of a busy build must not kill work). True (`--preempt-for-cpu`): end tasks
    # as for memory, so the limits always fit what the node's programs leave.
    cpu_preempts: bool = False

    def mem_floor(self, tenant: Tenant) -> float:
        """The lowest memory limit a tenant may get: its use plus a margin, capped by its
        request (a container cannot use more than it was given)."""
        used = tenant.used.mem
        floor = max(self.min_mem, used + max(used * self.mem_margin, self.mem_margin_min))
        return min(floor, tenant.requested.mem)


@dataclass(frozen=True)
class Preemption:
    task_id: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """What every task may use this period; `limits` holds each kept task (cpus, mem)."""

    budget: Amounts
    limits: Mapping[str, Amounts] = field(default_factory=dict)
    preempted: tuple[Preemption, ...] = ()
    grade: Grade = Grade.NONE

    def taken_back(self, tenants: Iterable[Tenant]) -> Amounts:
        """cpus and MiB held back from the kept tasks' requests this period."""
        cpus = mem = 0.0
        for tenant in tenants:
            limit = self.limits.get(tenant.task_id)
            if limit is not None:
                cpus += max(tenant.requested.cpus - limit.cpus, 0.0)
                mem += max(tenant.requested.mem - limit.mem, 0.0)
        return Amounts(cpus, mem, 0.0)


def secondary_budget(total: Amounts, incumbent: Amounts, headroom: Amounts) -> Amounts:
    """What berth's containers may hold together: total - incumbent - headroom (>= 0)."""
    return (total - incumbent - headroom).clamp(ZERO, total)


def decide(budget: Amounts, tenants: Sequence[Tenant],
           policy: ElasticPolicy = ElasticPolicy()) -> Decision:
    """The limits of every task for this period, and the tasks to preempt."""
    kept = list(tenants)
    need = _shortfall(budget, kept)
    preempted: list[Preemption] = []
    while kept and not _floors_fit(budget, kept, policy):
        victim = min(kept, key=_expendability)
        kept.remove(victim)
        preempted.append(Preemption(
            victim.task_id, f"preempted: node's own load needs {need.cpus:.2f} cpus / "
                            f"{need.mem:.0f} MiB"))
    fixed = [t for t in kept if not t.elastic]
    elastic = [t for t in kept if t.elastic]
    cpu_left = budget.cpus - sum(t.requested.cpus for t in fixed)
    mem_left = budget.mem - sum(t.requested.mem for t in fixed)
    cpus = _cpu_shares(cpu_left, elastic, policy)
    mems = _mem_shares(mem_left, elastic, policy)
    limits = {t.task_id: Amounts(t.requested.cpus, t.requested.mem, 0.0) for t in fixed}
    for t in elastic:
        limits[t.task_id] = Amounts(cpus[t.task_id], mems[t.task_id], 0.0)
    if preempted:
        grade = Grade.PREEMPT
    elif any(mems[t.task_id] < t.requested.mem - _EPS for t in elastic):
        grade = Grade.MEMORY
    elif any(cpus[t.task_id] < t.requested.cpus - _EPS for t in elastic):
        grade = Grade.CPU
    else:
        grade = Grade.NONE
    return Decision(budget, limits, tuple(preempted), grade)


def _shortfall(budget: Amounts, tenants: Sequence[Tenant]) -> Amounts:
    """How much of the tasks' requests the node's own load takes (>= 0 per resource)."""
    cpus = sum(t.requested.cpus for t in tenants) - budget.cpus
    mem = sum(t.requested.mem for t in tenants) - budget.mem
    return Amounts(max(cpus, 0.0), max(mem, 0.0), 0.0)


def _expendability(tenant: Tenant) -> tuple[bool, int, float, str]:
    """Sort key: the first is preempted first (elastic, low priority, young)."""
    return (not tenant.elastic, tenant.priority, -tenant.started, tenant.task_id)


def _floors_fit(budget: Amounts, tenants: Sequence[Tenant], policy: ElasticPolicy) -> bool:
    cpus = mem = 0.0
    for t in tenants:
        if t.elastic:
            cpus += min(policy.min_cpus, t.requested.cpus)
            mem += policy.mem_floor(t)
        else:
            cpus += t.requested.cpus
            mem += t.requested.mem
    return (cpus <= budget.cpus + _EPS or not policy.cpu_preempts) and \
        mem <= budget.mem + _EPS


def _cpu_shares(budget: float, tenants: Sequence[Tenant],
                policy: ElasticPolicy) -> dict[str, float]:
    """Requests when they fit; else the budget in proportion to them, none below its
    floor (those at the floor leave the rest to share the remainder)."""
    requested = {t.task_id: t.requested.cpus for t in tenants}
    if sum(requested.values()) <= budget + _EPS:
        return requested
    floors = {k: min(policy.min_cpus, v) for k, v in requested.items()}
    if budget <= sum(floors.values()):
        return floors  # only when CPU may not preempt
    shares: dict[str, float] = {}
    open_ = dict(requested)
    while open_:
        left = budget - sum(shares.values())
        weight = sum(open_.values())
        proposal = {k: left * v / weight for k, v in open_.items()}
        low = [k for k, v in proposal.items() if v < floors[k]]
        if not low:
            shares.update(proposal)
            break
        for k in low:
            shares[k] = floors[k]
            del open_[k]
    return shares


def _mem_shares(budget: float, tenants: Sequence[Tenant],
                policy: ElasticPolicy) -> dict[str, float]:
    """Requests when they fit; else each its floor plus a share of what is left over the
    floors, in proportion to what it could give (request - floor)."""
    requested = {t.task_id: t.requested.mem for t in tenants}
    if sum(requested.values()) <= budget + _EPS:
        return requested
    floors = {t.task_id: policy.mem_floor(t) for t in tenants}
    give = {k: requested[k] - floors[k] for k in requested}
    spare = max(budget - sum(floors.values()), 0.0)
    total_give = sum(give.values())
    if total_give <= _EPS:
        return floors
    return {k: floors[k] + spare * give[k] / total_give for k in requested}


@dataclass(frozen=True)
class ChangeStep:
    """How far a limit must move before it is worth a `docker update` (no churn from
    measurement noise); a return to the requested size is always worth one."""

    cpus: float = 0.02
    mem: float = 8.0  # MiB

    def changed(self, current: Amounts, new: Amounts, requested: Amounts) -> bool:
        if new.cpus < current.cpus - self.cpus or new.cpus > current.cpus + self.cpus:
            return True
        if new.mem < current.mem - self.mem or new.mem > current.mem + self.mem:
            return True
        back = (new.cpus == requested.cpus and current.cpus != requested.cpus) or (
            new.mem == requested.mem and current.mem != requested.mem)
        return back


class IncumbentTracker:
    """The incumbent load the decisions act on: it rises at once (the node's own programs
    get their capacity back within one period) and falls by `fall` of the gap per period
    (one quiet second does not hand everything back, to be taken again the next)."""

    def __init__(self, fall: float = 0.6):
        if not 0 < fall <= 1:
            raise ValueError("fall must be in (0, 1]")
        self.fall = fall
        self.value: Amounts | None = None

    def update(self, sample: Amounts) -> Amounts:
        if self.value is None:
            self.value = sample
            return sample
        values = []
        for new, old in zip(sample.as_tuple(), self.value.as_tuple(), strict=True):
            values.append(new if new >= old else old + self.fall * (new - old))
        self.value = Amounts(*values)
        return self.value
