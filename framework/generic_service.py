"""ConPaaS's Generic service as a state machine: which lifecycle script runs where, and
when (seed 001, "The Generic service"; docs/generic-service.md).

Sans-I/O: the driver's runner (framework/process/generic_runner.py) tells it what it saw
(`observe` the job's running instances, `joined` with an instance's address, `ended` a
script) and what users asked (`enable` a version, `request` run/interrupt/cleanup); it
answers with commands to carry out inside the containers, or raises Refused (409).
Run ids come from an injected source and times from an injected clock.

The rules, as the seed states them:
- the first instance is `master` for as long as it lives, every other one a `node`;
- `init.sh` runs when a version becomes active on an instance, once per instance and
  version, before any other script of that version there (others wait for its end);
- `notify.sh` runs once on every remaining instance when instances were added or removed,
  with `agents.json` (id, address, role of each) written first in every instance;
- `run` and `cleanup` are refused while any script runs; `interrupt` when none runs; a
  second `interrupt` kills every running script; what still runs on an instance when its
  `interrupt.sh` ends is killed;
- enabling a version is refused while a script of the current one runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SCRIPTS = ("init", "notify", "run", "interrupt", "cleanup")
REQUESTED = ("run", "interrupt", "cleanup")
MASTER, NODE = "master", "node"
NEVER, RUNNING, EXITED = "never run", "running", "exited"
LOG_LINES = 200


class Refused(Exception):
    """The request does not fit the service's state now (the API answers 409)."""


@dataclass(frozen=True)
class Member:
    """One line of agents.json."""

    id: str
    address: str
    role: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "ip": self.address, "address": self.address,
                "role": self.role}


# -- commands ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Join:
    """Prepare a new instance (its folders) and learn its address: answer `joined`."""

    instance: str


@dataclass(frozen=True)
class WriteAgents:
    """Write agents.json into the instance."""

    instance: str
    agents: tuple[Member, ...]


@dataclass(frozen=True)
class Deliver:
    """Put the version's files into the instance's code folder (replacing what was there)."""

    instance: str
    version: str


@dataclass(frozen=True)
class RunScript:
    """Run `<script>.sh parameters...` in the instance; `deliver` the version's files
    first (an init), `agents` written first (a notify). Answer `ended(run_id, ...)`."""

    instance: str
    run_id: str
    script: str
    version: str
    parameters: tuple[str, ...] = ()
    deliver: bool = False
    agents: tuple[Member, ...] | None = None


@dataclass(frozen=True)
class KillScripts:
    """Kill these runs' process trees in the instance (SIGTERM, then SIGKILL)."""

    instance: str
    run_ids: tuple[str, ...]


Command = Join | WriteAgents | Deliver | RunScript | KillScripts


# -- state ------------------------------------------------------------------------------

@dataclass
class ScriptStatus:
    state: str = NEVER
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    version: str | None = None
    parameters: tuple[str, ...] = ()
    started_at: float | None = None
    ended_at: float | None = None

    def as_json(self) -> dict:
        return {"state": self.state, "exit_code": self.exit_code, "stdout": self.stdout,
                "stderr": self.stderr, "error": self.error, "version": self.version,
                "parameters": list(self.parameters), "started_at": self.started_at,
                "ended_at": self.ended_at}


@dataclass
class Instance:
    id: str
    address: str | None = None  # known once joined
    joining: bool = True  # a Join is on its way (False: to be sent again)
    announced: bool = False  # in the membership the others were last told of
    inited: set[str] = field(default_factory=set)  # versions whose init.sh has ended here
    running: dict[str, str] = field(default_factory=dict)  # run id -> script
    waiting: list[tuple[str, tuple[str, ...], tuple[Member, ...] | None]] = field(
        default_factory=list)  # scripts held until init ends
    status: dict[str, ScriptStatus] = field(
        default_factory=lambda: {s: ScriptStatus() for s in SCRIPTS})
    log: list[str] = field(default_factory=list)


class GenericService:
    """One service job's Generic state."""

    def __init__(self, job: str, clock: Callable[[], float], ids: Callable[[], str],
                 active: str | None = None,
                 inited: dict[str, set[str]] | None = None) -> None:
        """`inited`: instance -> versions whose init.sh ran there before (the store's
        memory across restarts of the framework)."""
        self.job = job
        self._known_inits = {k: set(v) for k, v in (inited or {}).items()}
        self.clock = clock
        self.ids = ids
        self.active = active
        self.instances: dict[str, Instance] = {}  # in order of arrival
        self.master: str | None = None
        self.interrupting = False
        self._membership_changed = False

    # -- views --------------------------------------------------------------------------

    def role(self, instance: str) -> str:
        return MASTER if instance == self.master else NODE

    def members(self) -> tuple[Member, ...]:
        return tuple(Member(i.id, i.address or "", self.role(i.id))
                     for i in self.instances.values() if i.address is not None)

    def running(self) -> list[tuple[str, str]]:
        """(instance, script) of every script running now."""
        return [(i.id, script) for i in self.instances.values()
                for script in i.running.values()]

    def busy(self) -> bool:
        return any(i.running or i.waiting for i in self.instances.values())

    def status(self) -> list[dict]:
        return [{"instance": i.id, "role": self.role(i.id), "address": i.address,
                 "scripts": {s: i.status[s].as_json() for s in SCRIPTS},
                 "log": "\n".join(i.log)} for i in self.instances.values()]

    # -- what was seen --------------------------------------------------------------------

    def observe(self, running: Sequence[str]) -> list[Command]:
        """The job's running instances now, oldest first."""
        now = set(running)
        gone = [i for i in self.instances if i not in now]
        for instance in gone:
            del self.instances[instance]
            self._membership_changed = True
        commands: list[Command] = []
        for instance in running:
            if instance not in self.instances:
                self.instances[instance] = Instance(
                    instance, inited=self._known_inits.pop(instance, set()))
                self._membership_changed = True
                commands.append(Join(instance))
            elif not self.instances[instance].joining:
                self.instances[instance].joining = True
                commands.append(Join(instance))
        if self.master not in self.instances:
            # The first instance; if the master itself is lost (its node died), the
            # oldest one left takes the role: there is always exactly one.
            self.master = next(iter(self.instances), None)
        return commands + self._announce()

    def joined(self, instance: str, address: str) -> list[Command]:
        found = self.instances.get(instance)
        if found is None or found.address is not None:
            return []
        found.address = address
        self._note(found, f"joined as {self.role(instance)} at {address}")
        return self._announce()

    def join_failed(self, instance: str) -> None:
        """Its Join could not be carried out (its agent not connected yet, say): the next
        `observe` asks again."""
        found = self.instances.get(instance)
        if found is not None and found.address is None:
            found.joining = False

    def ended(self, instance: str, run_id: str, exit_code: int | None, stdout: str = "",
              stderr: str = "", error: str | None = None) -> list[Command]:
        found = self.instances.get(instance)
        if found is None or run_id not in found.running:
            return []
        script = found.running.pop(run_id)
        status = found.status[script]
        status.state, status.exit_code, status.ended_at = EXITED, exit_code, self.clock()
        status.stdout, status.stderr, status.error = stdout, stderr, error
        self._note(found, f"{script}.sh exited with {exit_code}"
                   + (f" ({error})" if error else ""))
        commands: list[Command] = []
        if script == "init" and status.version is not None:
            found.inited.add(status.version)
            held, found.waiting = found.waiting, []
            for name, parameters, agents in held:
                commands += self._start(found, name, parameters, agents)
        if script == "interrupt" and found.running:
            # interrupt.sh is done and the application still runs: it is killed.
            commands.append(KillScripts(found.id, tuple(found.running)))
        if not any(i.running for i in self.instances.values()):
            self.interrupting = False
        return commands

    # -- what users ask -----------------------------------------------------------------

    def enable(self, version: str) -> list[Command]:
        if self.active is not None and (running := self.running()):
            instance, script = running[0]
            raise Refused(f"{script}.sh of the active version {self.active} is running on "
                          f"instance {instance}: wait for it, or interrupt it first")
        self.active = version
        commands: list[Command] = []
        for instance in self.instances.values():
            instance.waiting = []
            instance.status = {s: ScriptStatus() for s in SCRIPTS}
            if instance.announced:  # the others are brought up when they are announced
                commands += self._bring_up(instance)
        return commands

    def request(self, script: str, parameters: Sequence[str] = ()) -> list[Command]:
        if script not in REQUESTED:
            raise ValueError(f"{script!r} is not run, interrupt or cleanup")
        if self.active is None:
            raise Refused("no code version is active: upload one and enable it")
        ready = [i for i in self.instances.values() if i.address is not None]
        if not ready:
            raise Refused("the service has no running instance yet")
        running = self.running()
        if script == "interrupt":
            if not running:
                raise Refused("no script is running: there is nothing to interrupt")
            if self.interrupting:  # the second interrupt: everything dies
                return [KillScripts(i.id, tuple(i.running))
                        for i in self.instances.values() if i.running]
            self.interrupting = True
            return [c for i in ready if i.running
                    for c in self._start(i, "interrupt", tuple(parameters))]
        if running or self.busy():
            instance, name = running[0] if running else (
                next(i.id for i in self.instances.values() if i.waiting), "init")
            raise Refused(f"{name}.sh is running on instance {instance}: {script} waits "
                          "until no script runs (interrupt it first)")
        return [c for i in ready for c in self._start(i, script, tuple(parameters))]

    def forget_version(self, version: str) -> None:
        for instance in self.instances.values():
            instance.inited.discard(version)

    # -- inside -------------------------------------------------------------------------

    def _announce(self) -> list[Command]:
        """Once every instance has joined after a change: init on the new ones, notify
        on the others (once per change, however many came or went)."""
        if not self._membership_changed or any(
                i.address is None for i in self.instances.values()):
            return []
        self._membership_changed = False
        agents = self.members()
        commands: list[Command] = []
        for instance in self.instances.values():
            if not instance.announced:
                instance.announced = True
                commands.append(WriteAgents(instance.id, agents))
                commands += self._bring_up(instance)
            elif self.active is not None:
                commands += self._start(instance, "notify", (), agents)
            else:
                commands.append(WriteAgents(instance.id, agents))
        return commands

    def _bring_up(self, instance: Instance) -> list[Command]:
        """The active version onto an instance: its files, and init.sh unless it ran
        there for this version before."""
        if self.active is None:
            return []
        if self.active in instance.inited:
            return [Deliver(instance.id, self.active)]
        init = instance.status["init"]
        if init.state == RUNNING and init.version == self.active:
            return []  # on its way
        return self._start(instance, "init", ())

    def _start(self, instance: Instance, script: str, parameters: tuple[str, ...],
               agents: tuple[Member, ...] | None = None) -> list[Command]:
        assert self.active is not None
        if script != "init" and self.active not in instance.inited:
            instance.waiting.append((script, parameters, agents))
            return []
        run_id = self.ids()
        instance.running[run_id] = script
        instance.status[script] = ScriptStatus(RUNNING, version=self.active,
                                               parameters=parameters,
                                               started_at=self.clock())
        self._note(instance, f"{script}.sh started" + (
            f" with {list(parameters)}" if parameters else ""))
        return [RunScript(instance.id, run_id, script, self.active, parameters,
                          deliver=script == "init", agents=agents)]

    def _note(self, instance: Instance, line: str) -> None:
        instance.log.append(f"{self.clock():.3f} {line}")
        del instance.log[:-LOG_LINES]
