"""Task farming (ConPaaS's TaskFarming service): the rules of a farm, apart from the I/O
that runs it. A bag of tasks (one shell command per line), the node types it may run on
(agents' `nodetype` and `price` attributes), the sample taken of the bag, the runtimes
measured, how the rest of the bag is split over a chosen pool, and the money it costs.

Pure: no clock (times are passed in), no store, no HTTP. The schedules themselves are
computed by the simulator (simulator/farm.py) from what is kept here.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from offers.problems import FieldProblem, SpecError

MAX_LINE = 4096  # characters of one command: a shell line, not a script
MAX_TASKS = 100_000
# A type's tasks go to its containers as one `sh -c` script; Linux takes no single
# argument longer than 128 KiB (MAX_ARG_STRLEN), so a bag's script stays below that.
MAX_SCRIPT_BYTES = 120 * 1024
SAMPLE_ENOUGH = 31  # ConPaaS: "a bag with more than thirty tasks is large enough"
SECONDS_PER_HOUR = 3600.0
STOPPED_BY_USER = "stopped by the user"


class BadFarmInput(SpecError):
    """Input a farm cannot take: `message` says what, `problems` name each place."""

    def __init__(self, message: str, problems: list[FieldProblem]) -> None:
        super().__init__(problems)
        self.message = message


class FarmPhase(StrEnum):
    CREATED = "created"
    SAMPLING = "sampling"
    SAMPLED = "sampled"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"  # by the user, mid-sampling or mid-run (ConPaaS's `stop`)


def parse_bag(text: str, source: str = "bag") -> tuple[str, ...]:
    """The commands of a bag file, one a line. An empty (or blank) line or one longer than
    `MAX_LINE` is refused, naming `source:line`; so is a bag with no command. A final
    newline is not an empty line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    problems = []
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if not line.strip():
            problems.append(FieldProblem(f"{source}:{number}", "is empty: one command a "
                                                               "line, no blank lines"))
        elif len(line) > MAX_LINE:
            problems.append(FieldProblem(f"{source}:{number}",
                                         f"is {len(line)} characters long; at most "
                                         f"{MAX_LINE}"))
        elif "\x00" in line:
            problems.append(FieldProblem(f"{source}:{number}", "contains a NUL character"))
    if not lines:
        problems.append(FieldProblem(source, "has no command"))
    if len(lines) > MAX_TASKS:
        problems.append(FieldProblem(source, f"has {len(lines)} commands; at most "
                                             f"{MAX_TASKS}"))
    commands = tuple(line.rstrip("\r") for line in lines)
    size = len(task_script(commands).encode()) if not problems else 0
    if size > MAX_SCRIPT_BYTES:
        problems.append(FieldProblem(source, f"is {size} bytes as the tasks' script; at "
                                             f"most {MAX_SCRIPT_BYTES} (Linux's limit on "
                                             "one argument): split it into several farms"))
    if problems:
        raise BadFarmInput(f"invalid bag of tasks ({source})", problems[:20])
    return commands


@dataclass(frozen=True)
class NodeType:
    """A kind of node the farm may rent: its price per node-hour and how many there are."""

    name: str
    price: float  # per node and hour
    nodes: int


def parse_price(nodetype: str, value: str | None) -> float:
    if value is None or not str(value).strip():
        raise BadFarmInput(f"node type {nodetype!r} has no price",
                        [FieldProblem(f"nodetypes.{nodetype}.price",
                                      "is missing: give its agents a price attribute "
                                      "(--attributes price=0.12), per node and hour")])
    try:
        price = float(value)
    except ValueError:
        price = -1.0
    if not price >= 0 or price == float("inf"):
        raise BadFarmInput(f"node type {nodetype!r} has a bad price",
                        [FieldProblem(f"nodetypes.{nodetype}.price",
                                      f"is {value!r}; must be a number >= 0 (per hour)")])
    return price


def node_types(agents: Iterable[Mapping[str, object]]) -> dict[str, NodeType]:
    """The node types of the active agents (`attributes`, `active` as in the master's
    /state): agents with no `nodetype` are left out; a node type any of whose agents has
    no price, or two prices, is refused (SpecError naming it)."""
    prices: dict[str, set[str | None]] = {}
    counts: dict[str, int] = {}
    for agent in agents:
        if agent.get("active") is False:
            continue
        attributes = agent.get("attributes") or {}
        assert isinstance(attributes, Mapping)
        name = attributes.get("nodetype")
        if not name:
            continue
        prices.setdefault(str(name), set()).add(attributes.get("price"))
        counts[str(name)] = counts.get(str(name), 0) + 1
    found = {}
    for name, seen in sorted(prices.items()):
        if len(seen) > 1:
            if None in seen:
                parse_price(name, None)
            raise BadFarmInput(f"node type {name!r} has two prices",
                            [FieldProblem(f"nodetypes.{name}.price",
                                          f"its agents say {sorted(map(str, seen))}")])
        found[name] = NodeType(name, parse_price(name, next(iter(seen))), counts[name])
    return found


def sample_size(tasks: int, wanted: int = SAMPLE_ENOUGH) -> int:
    """How many tasks are sampled: `wanted` (more than thirty) or all of a smaller bag."""
    return min(tasks, max(1, wanted))


def choose_sample(tasks: int, size: int, seed: int) -> tuple[int, ...]:
    """Which tasks (line indexes) are sampled: a seeded random choice, in bag order."""
    return tuple(sorted(random.Random(seed).sample(range(tasks), size)))


def rest_of_bag(tasks: int, sampled: Sequence[int]) -> tuple[int, ...]:
    taken = set(sampled)
    return tuple(i for i in range(tasks) if i not in taken)


def task_script(commands: Sequence[str]) -> str:
    """A `sh -c` script running the `BERTH_JOB_INDEX`-th of `commands` (a batch job's
    instance index), failing with its exit code."""
    cases = "".join(f"{i}) {c}\n;;\n" for i, c in enumerate(commands))
    return (f'case "$BERTH_JOB_INDEX" in\n{cases}*) echo "no task $BERTH_JOB_INDEX" >&2; '
            "exit 64\n;;\nesac")


def split(pool: Mapping[str, int], slots: int, mean_runtime: Mapping[str, float],
          tasks: int) -> dict[str, int]:
    """How many of `tasks` each node type of the pool runs: in proportion to its
    throughput (nodes x slots / mean runtime), whole tasks, the remainder to the fastest
    shares first. A type with no nodes gets none."""
    rates = {t: n * slots / max(mean_runtime[t], 1e-9) for t, n in pool.items() if n > 0}
    if not rates:
        return {}
    total = sum(rates.values())
    exact = {t: tasks * r / total for t, r in rates.items()}
    shares = {t: int(v) for t, v in exact.items()}
    left = tasks - sum(shares.values())
    for t in sorted(exact, key=lambda t: (shares[t] - exact[t], t))[:left]:
        shares[t] += 1
    return shares


def pool_cost(pool: Mapping[str, int], prices: Mapping[str, float], seconds: float) -> float:
    """The money a pool costs kept for `seconds`: every node paid for the whole time."""
    return sum(n * prices[t] for t, n in pool.items()) * seconds / SECONDS_PER_HOUR


@dataclass(frozen=True)
class Bag:
    """A bag added to a farm after its sampling (ConPaaS's HTC `add`): submitted at once
    on the farm's configuration then, one batch job per node type of its pool."""

    number: int
    commands: tuple[str, ...]
    pool: dict[str, int]
    shares: dict[str, int]
    submitted_at: float
    phase: str = "running"  # running, done, failed
    run_seconds: float | None = None
    reason: str | None = None

    def job_name(self, farm_id: str, nodetype: str) -> str:
        return f"{farm_id}-bag{self.number}-{nodetype}"[:128]

    def as_json(self) -> dict:
        return {"number": self.number, "commands": list(self.commands),
                "pool": dict(self.pool), "shares": dict(self.shares),
                "submitted_at": self.submitted_at, "phase": self.phase,
                "run_seconds": self.run_seconds, "reason": self.reason}

    @staticmethod
    def from_json(doc: Mapping) -> Bag:
        return Bag(int(doc["number"]), tuple(doc["commands"]), dict(doc["pool"]),
                   dict(doc["shares"]), float(doc["submitted_at"]), doc["phase"],
                   doc["run_seconds"], doc["reason"])


@dataclass(frozen=True)
class Farm:
    """What the store keeps of a farm. `samples`: per node type, how long each sampled
    task held its lane (s: its runtime and its launch overhead); `startup`: per type, the
    delay from submission to the first launch; `pool`: the chosen nodes per type;
    `shares`: tasks per type of the rest; `forecast`: the chosen schedule's makespan and
    cost (mean, low, high); `configuration`: the HTC pool selected for `target` tasks
    per hour, on which added `bags` run."""

    id: str
    namespace: str
    image: str
    commands: tuple[str, ...]
    nodetypes: dict[str, NodeType]
    created_at: float
    phase: FarmPhase = FarmPhase.CREATED
    demo: bool = False
    slots: int = 1
    cpus: float = 0.1
    mem: float = 32.0
    seed: int = 0
    sampled: tuple[int, ...] = ()
    samples: dict[str, tuple[float, ...]] = field(default_factory=dict)
    startup: dict[str, float] = field(default_factory=dict)
    sample_started: float | None = None
    sample_seconds: float | None = None
    pool: dict[str, int] = field(default_factory=dict)
    shares: dict[str, int] = field(default_factory=dict)
    forecast: dict[str, float] = field(default_factory=dict)
    run_started: float | None = None
    run_seconds: float | None = None
    reason: str | None = None
    target: float | None = None  # HTC: the throughput asked for (tasks/hour)
    configuration: dict[str, int] = field(default_factory=dict)  # HTC: its pool
    bags: tuple[Bag, ...] = ()

    @property
    def prices(self) -> dict[str, float]:
        return {t.name: t.price for t in self.nodetypes.values()}

    def sample_pool(self) -> dict[str, int]:
        return {t.name: t.nodes for t in self.nodetypes.values()}

    def rest(self) -> tuple[int, ...]:
        return rest_of_bag(len(self.commands), self.sampled)

    def job_name(self, stage: str, nodetype: str) -> str:
        return f"{self.id}-{stage}-{nodetype}"[:128]


def stopped(farm: Farm, now: float) -> Farm:
    """The farm after ConPaaS's `stop` at `now`: a sampling or run in progress, and every
    added bag still running, end `stopped`, their pools paid until now. A farm with
    nothing running is as it was."""
    change: dict = {}
    if farm.phase is FarmPhase.SAMPLING:
        change = {"sample_seconds": max(0.0, now - (farm.sample_started or now))}
    elif farm.phase is FarmPhase.RUNNING:
        change = {"run_seconds": max(0.0, now - (farm.run_started or now))}
    if change:
        change.update(phase=FarmPhase.STOPPED, reason=STOPPED_BY_USER)
    bags = tuple(replace(b, phase="stopped", reason=STOPPED_BY_USER,
                         run_seconds=max(0.0, now - b.submitted_at))
                 if b.phase == "running" else b for b in farm.bags)
    if bags != farm.bags:
        change["bags"] = bags
    return replace(farm, **change) if change else farm


def spent(farm: Farm, now: float) -> float:
    """The money spent so far: the sampling pool while it sampled, the chosen pool since
    the run started (until it ended), each added bag's pool while it ran."""
    money = 0.0
    if farm.sample_started is not None:
        seconds = farm.sample_seconds if farm.sample_seconds is not None else \
            now - farm.sample_started
        money += pool_cost(farm.sample_pool(), farm.prices, max(0.0, seconds))
    if farm.run_started is not None:
        seconds = farm.run_seconds if farm.run_seconds is not None else \
            now - farm.run_started
        money += pool_cost(farm.pool, farm.prices, max(0.0, seconds))
    for bag in farm.bags:  # an added bag's pool, from its submission to its end
        seconds = bag.run_seconds if bag.run_seconds is not None else \
            now - bag.submitted_at
        money += pool_cost(bag.pool, farm.prices, max(0.0, seconds))
    return money


def progress_forecast(farm: Farm, done: int, now: float) -> dict[str, float] | None:
    """While running: the end expected from the rate so far, next to the schedule's
    forecast (the larger of the two elapsed-adjusted figures)."""
    if farm.run_started is None or not farm.forecast:
        return None
    elapsed = (farm.run_seconds if farm.run_seconds is not None
               else max(0.0, now - farm.run_started))
    total = sum(farm.shares.values())
    expected = farm.forecast["makespan"]
    if 0 < done < total:
        expected = max(elapsed, elapsed * total / done)
    elif done >= total:
        expected = elapsed
    return {"makespan": expected, "remaining": max(0.0, expected - elapsed),
            "cost": pool_cost(farm.pool, farm.prices, expected)}


def farm_json(farm: Farm) -> dict:
    """The farm as stored (and as the demo mode's file keeps it)."""
    return {"id": farm.id, "namespace": farm.namespace, "image": farm.image,
            "commands": list(farm.commands),
            "nodetypes": {n: {"price": t.price, "nodes": t.nodes}
                          for n, t in farm.nodetypes.items()},
            "created_at": farm.created_at, "phase": farm.phase.value, "demo": farm.demo,
            "slots": farm.slots, "cpus": farm.cpus, "mem": farm.mem, "seed": farm.seed,
            "sampled": list(farm.sampled),
            "samples": {t: list(v) for t, v in farm.samples.items()},
            "startup": dict(farm.startup),
            "sample_started": farm.sample_started, "sample_seconds": farm.sample_seconds,
            "pool": dict(farm.pool), "shares": dict(farm.shares),
            "forecast": dict(farm.forecast), "run_started": farm.run_started,
            "run_seconds": farm.run_seconds, "reason": farm.reason,
            "target": farm.target, "configuration": dict(farm.configuration),
            "bags": [b.as_json() for b in farm.bags]}


def farm_from_json(doc: Mapping) -> Farm:
    return Farm(
        id=doc["id"], namespace=doc["namespace"], image=doc["image"],
        commands=tuple(doc["commands"]),
        nodetypes={n: NodeType(n, float(t["price"]), int(t["nodes"]))
                   for n, t in doc["nodetypes"].items()},
        created_at=doc["created_at"], phase=FarmPhase(doc["phase"]), demo=doc["demo"],
        slots=doc["slots"], cpus=doc["cpus"], mem=doc["mem"], seed=doc["seed"],
        sampled=tuple(doc["sampled"]),
        samples={t: tuple(v) for t, v in doc["samples"].items()},
        startup=dict(doc.get("startup", {})),
        sample_started=doc["sample_started"], sample_seconds=doc["sample_seconds"],
        pool=dict(doc["pool"]), shares=dict(doc["shares"]), forecast=dict(doc["forecast"]),
        run_started=doc["run_started"], run_seconds=doc["run_seconds"],
        reason=doc["reason"], target=doc.get("target"),
        configuration=dict(doc.get("configuration") or {}),
        bags=tuple(Bag.from_json(b) for b in doc.get("bags", ())))


def farm_view(farm: Farm, done: int, now: float, sample_done: int | None = None,
              bags_done: Mapping[int, int] | None = None) -> dict:
    """What `GET /v1/farms/{id}` (and the demo's status) shows: phase, progress of the
    run (`done` tasks of the rest) or of the sampling (`sample_done` of the sampled tasks
    times the node types), money spent so far and the forecast; the HTC configuration
    and the added bags (`bags_done`: tasks finished per bag number)."""
    total = sum(farm.shares.values()) if farm.shares else len(farm.rest())
    sampling = None if sample_done is None else {
        "done": sample_done, "total": len(farm.sampled) * len(farm.nodetypes)}
    return {"sampling": sampling, "id": farm.id, "namespace": farm.namespace, "image": farm.image,
            "phase": farm.phase.value, "demo": farm.demo, "reason": farm.reason,
            "tasks": len(farm.commands), "sampled": len(farm.sampled), "slots": farm.slots,
            "nodetypes": {n: {"price": t.price, "nodes": t.nodes}
                          for n, t in sorted(farm.nodetypes.items())},
            "samples": {t: {"count": len(v), "mean": sum(v) / len(v) if v else None,
                            "runtimes": list(v), "startup": farm.startup.get(t, 0.0)}
                        for t, v in sorted(farm.samples.items())},
            "pool": dict(farm.pool), "shares": dict(farm.shares),
            "progress": {"done": done, "left": max(0, total - done), "total": total},
            "spent": round(spent(farm, now), 6),
            "forecast": dict(farm.forecast) or None,
            "expected": progress_forecast(farm, done, now),
            "sample_seconds": farm.sample_seconds, "run_seconds": farm.run_seconds,
            "htc": {"target": farm.target, "configuration": dict(farm.configuration)},
            "bags": [{"number": b.number, "tasks": len(b.commands), "phase": b.phase,
                      "pool": dict(b.pool), "shares": dict(b.shares),
                      "done": (bags_done or {}).get(b.number, 0 if b.phase != "done"
                                                    else len(b.commands)),
                      "submitted_at": b.submitted_at, "run_seconds": b.run_seconds,
                      "reason": b.reason} for b in farm.bags]}


def parse_nodetype(text: str) -> NodeType:
    """`NAME=PRICE[:NODES]` (a demo's node type; one node unless said), e.g.
    `small=0.12:4`. A node type without a price is refused, naming it."""
    name, _, rest = text.partition("=")
    name = name.strip()
    price, _, nodes = rest.partition(":")
    if not name:
        raise BadFarmInput(f"bad node type {text!r}", [FieldProblem(
            "nodetype", "give NAME=PRICE[:NODES], e.g. small=0.12:4")])
    value = parse_price(name, price or None)
    try:
        count = int(nodes) if nodes else 1
    except ValueError:
        count = 0
    if not 1 <= count <= 1000:
        raise BadFarmInput(f"bad node type {text!r}", [FieldProblem(
            f"nodetypes.{name}.nodes", f"is {nodes!r}; must be a whole number within "
                                       "1-1000")])
    return NodeType(name, value, count)


def lane_occupancy(runs: Sequence[tuple[float, float]], lanes: int, first_launch: float
                   ) -> tuple[float, ...]:
    """What a sample teaches beyond the tasks' own runtimes: how long each task held its
    lane, from the moment the lane was free (the previous task's end, or the first
    launch) to its own end, so offer rounds and container creation are in the samples
    with their spread. `runs`: (launched, ended) of each sampled task; the lanes are
    replayed as a batch job fills them, each task taking the lane that was free first."""
    free = [first_launch] * max(1, lanes)
    held = []
    for launched, ended in sorted(runs):
        lane_free = heapq.heappop(free)
        held.append(round(max(0.0, ended - min(lane_free, launched)), 3))
        heapq.heappush(free, max(ended, lane_free))
    return tuple(held)
