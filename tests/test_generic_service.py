"""The Generic service's rules (framework/generic_service.py), without containers: table
cases for each rule, and a hypothesis state machine that runs random sequences of
scaling, joins, script ends and user requests and checks ConPaaS's guarantees after
every step:

- exactly one `master` while instances exist, and the same one as long as it lives;
- init.sh at most once per instance and version, and no other script of a version on an
  instance before its init.sh there has ended;
- run/cleanup are refused while anything runs, interrupt when nothing does.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from framework import generic_service as G


def machine(active: str | None = "v1") -> G.GenericService:
    counter = itertools.count(1)
    return G.GenericService("gen", clock=lambda: 100.0, ids=lambda: f"r{next(counter)}",
                            active=active)


def joined(service: G.GenericService, *instances: str) -> list[G.Command]:
    commands = service.observe([*service.instances, *instances])
    for instance in instances:
        commands += service.joined(instance, f"10.0.0.{instance[-1]}")
    return commands


def runs(commands, script: str | None = None) -> list[G.RunScript]:
    return [c for c in commands if isinstance(c, G.RunScript)
            and (script is None or c.script == script)]


def end_all(service: G.GenericService, commands, code: int = 0) -> list[G.Command]:
    """End every run in `commands` and in what their ends start, recursively."""
    out: list[G.Command] = []
    pending = runs(commands)
    while pending:
        run = pending.pop(0)
        more = service.ended(run.instance, run.run_id, code)
        out += more
        pending += runs(more)
    return out


def test_new_instances_join_then_init_runs_once_each_with_the_code_delivered():
    service = machine()
    commands = service.observe(["a1", "a2", "a3"])
    assert commands == [G.Join("a1"), G.Join("a2"), G.Join("a3")]
    assert service.joined("a1", "10.0.0.1") == []  # the others have not joined yet
    service.joined("a2", "10.0.0.2")
    commands = service.joined("a3", "10.0.0.3")
    inits = runs(commands, "init")
    assert [(r.instance, r.deliver) for r in inits] == [("a1", True), ("a2", True),
                                                       ("a3", True)]
    agents = [c for c in commands if isinstance(c, G.WriteAgents)]
    assert [a.role for a in agents[0].agents] == ["master", "node", "node"]
    assert not runs(commands, "notify")  # nobody was there before them
    end_all(service, commands)
    assert not runs(service.enable("v1"))  # re-enabled: delivered, init not again
    assert [type(c) for c in service.enable("v1")] == [G.Deliver] * 3


def test_scaling_notifies_the_others_once_and_inits_the_new_ones():
    service = machine()
    end_all(service, joined(service, "a1", "a2", "a3"))
    commands = service.observe(["a1", "a2", "a3", "a4", "a5"])
    assert runs(commands) == []  # waiting for the new ones to join
    service.joined("a4", "10.0.0.4")
    commands = service.joined("a5", "10.0.0.5")
    assert sorted(r.instance for r in runs(commands, "notify")) == ["a1", "a2", "a3"]
    assert sorted(r.instance for r in runs(commands, "init")) == ["a4", "a5"]
    assert all(len(r.agents) == 5 for r in runs(commands, "notify"))
    end_all(service, commands)
    commands = service.observe(["a1", "a3"])  # two removed at once: one notify each
    assert sorted(r.instance for r in runs(commands, "notify")) == ["a1", "a3"]
    assert all(len(r.agents) == 2 for r in runs(commands))


def test_the_master_stays_the_first_instance_and_a_lost_one_is_replaced_by_the_oldest():
    service = machine()
    joined(service, "a1", "a2")
    joined(service, "a3")
    assert service.role("a1") == "master"
    service.observe(["a2", "a3"])
    assert service.role("a2") == "master" and service.role("a3") == "node"


def test_scripts_wait_for_init_of_their_version_on_that_instance():
    service = machine()
    inits = runs(joined(service, "a1"))
    commands = service.observe(["a1", "a2"])
    commands += service.joined("a2", "10.0.0.2")
    assert runs(commands, "notify") == []  # a1's init has not ended: notify is held
    released = service.ended("a1", inits[0].run_id, 0)
    assert [r.script for r in runs(released)] == ["notify"]


@pytest.mark.parametrize("script", ["run", "cleanup"])
def test_run_and_cleanup_are_refused_while_a_script_runs(script):
    service = machine()
    end_all(service, joined(service, "a1", "a2"))
    started = service.request("run", ["x", "y"])
    assert [r.parameters for r in started] == [("x", "y"), ("x", "y")]
    with pytest.raises(G.Refused, match=r"run\.sh is running"):
        service.request(script)
    end_all(service, started)
    assert len(service.request(script)) == 2


def test_interrupt_needs_something_running_and_the_second_one_kills_everything():
    service = machine()
    end_all(service, joined(service, "a1", "a2"))
    with pytest.raises(G.Refused, match="nothing to interrupt"):
        service.request("interrupt")
    started = service.request("run")
    interrupts = service.request("interrupt")
    assert [r.script for r in interrupts] == ["interrupt", "interrupt"]
    kills = service.request("interrupt")
    assert all(isinstance(k, G.KillScripts) for k in kills)
    assert {k.instance: set(k.run_ids) for k in kills} == {
        r.instance: {r.run_id, i.run_id} for r, i in zip(started, interrupts, strict=True)}


def test_what_still_runs_when_interrupt_sh_ends_is_killed():
    service = machine()
    end_all(service, joined(service, "a1"))
    [run] = service.request("run")
    [interrupt] = service.request("interrupt")
    assert service.ended("a1", interrupt.run_id, 0) == [G.KillScripts("a1", (run.run_id,))]


def test_enabling_a_version_is_refused_while_a_script_of_the_current_one_runs():
    service = machine()
    end_all(service, joined(service, "a1"))
    [run] = service.request("run")
    with pytest.raises(G.Refused, match="interrupt it first"):
        service.enable("v2")
    service.ended("a1", run.run_id, 0)
    [init] = runs(service.enable("v2"))
    assert (init.script, init.version, init.deliver) == ("init", "v2", True)


def test_without_an_active_version_nothing_runs_but_agents_json_is_kept():
    service = machine(active=None)
    commands = joined(service, "a1")
    assert runs(commands) == [] and isinstance(commands[-1], G.WriteAgents)
    with pytest.raises(G.Refused, match="no code version is active"):
        service.request("run")


def test_after_a_restart_of_the_framework_init_does_not_run_again_where_it_ran():
    counter = itertools.count(1)
    service = G.GenericService("gen", lambda: 1.0, lambda: f"r{next(counter)}", "v1",
                               inited={"a1": {"v1"}})
    commands = joined(service, "a1", "a2")
    assert [r.instance for r in runs(commands, "init")] == ["a2"]
    assert G.Deliver("a1", "v1") in commands  # its files, in case they were lost


def test_status_shows_never_run_running_and_exited_with_output():
    service = machine()
    [init] = runs(joined(service, "a1"))
    [doc] = service.status()
    assert doc["scripts"]["run"]["state"] == "never run"
    assert doc["scripts"]["init"]["state"] == "running"
    service.ended("a1", init.run_id, 3, "out\n", "err\n")
    [doc] = service.status()
    assert (doc["scripts"]["init"]["state"], doc["scripts"]["init"]["exit_code"],
            doc["scripts"]["init"]["stdout"], doc["scripts"]["init"]["stderr"]) == (
        "exited", 3, "out\n", "err\n")
    assert "init.sh exited with 3" in doc["log"]


class GenericRules(RuleBasedStateMachine):
    """Random scaling, joins, ends and requests; the guarantees hold after each step."""

    def __init__(self) -> None:
        super().__init__()
        self.service = machine(active=None)
        self.alive: list[str] = []
        self.next = 1
        self.runs: dict[str, G.RunScript] = {}  # run id -> still running
        self.inits: dict[tuple[str, str], int] = {}  # (instance, version) -> inits
        self.inited: set[tuple[str, str]] = set()  # whose init has ended
        self.master_seen: str | None = None

    def _take(self, commands) -> None:
        for command in commands:
            if isinstance(command, G.RunScript):
                key = (command.instance, command.version)
                if command.script == "init":
                    self.inits[key] = self.inits.get(key, 0) + 1
                else:
                    assert key in self.inited, f"{command.script} before init on {key}"
                self.runs[command.run_id] = command
            elif isinstance(command, G.KillScripts):
                for run_id in command.run_ids:
                    self._end(run_id, 137)

    def _end(self, run_id: str, code: int) -> None:
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        if run.script == "init":
            self.inited.add((run.instance, run.version))
        self._take(self.service.ended(run.instance, run_id, code))

    @rule(add=st.integers(1, 3))
    def scale_up(self, add: int) -> None:
        for _ in range(add):
            self.alive.append(f"i{self.next}")
            self.next += 1
        self._take(self.service.observe(self.alive))

    @precondition(lambda self: self.alive)
    @rule(data=st.data())
    def scale_down(self, data) -> None:
        gone = data.draw(st.sampled_from(self.alive))
        self.alive.remove(gone)
        for run_id in [r for r, run in self.runs.items() if run.instance == gone]:
            del self.runs[run_id]  # its container is gone: no end will come
        self._take(self.service.observe(self.alive))

    @precondition(lambda self: any(i.address is None
                                   for i in self.service.instances.values()))
    @rule()
    def join_one(self) -> None:
        waiting = next(i for i in self.service.instances.values() if i.address is None)
        self._take(self.service.joined(waiting.id, "10.0.0.1"))

    @precondition(lambda self: any(i.address is None
                                   for i in self.service.instances.values()))
    @rule()
    def join_fails(self) -> None:
        waiting = next(i for i in self.service.instances.values() if i.address is None)
        self.service.join_failed(waiting.id)
        commands = self.service.observe(self.alive)
        assert G.Join(waiting.id) in commands  # asked again
        self._take(commands)

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), code=st.sampled_from([0, 1, 137]))
    def end_one(self, data, code: int) -> None:
        self._end(data.draw(st.sampled_from(sorted(self.runs))), code)

    @rule(version=st.sampled_from(["v1", "v2"]))
    def enable(self, version: str) -> None:
        busy = bool(self.service.running())
        try:
            self._take(self.service.enable(version))
        except G.Refused:
            assert busy and self.service.active is not None
            return
        assert self.service.active == version

    @rule(script=st.sampled_from(G.REQUESTED),
          parameters=st.lists(st.text(max_size=3), max_size=2))
    def request(self, script: str, parameters: list[str]) -> None:
        running = bool(self.service.running())
        try:
            self._take(self.service.request(script, parameters))
        except G.Refused:
            return
        if script == "interrupt":
            assert running, "interrupt accepted with nothing running"
        else:
            assert not running, f"{script} accepted while a script runs"

    @invariant()
    def one_master_that_stays(self) -> None:
        roles = [self.service.role(i) for i in self.service.instances]
        assert roles.count("master") == (1 if roles else 0)
        if self.master_seen in self.service.instances:
            assert self.service.master == self.master_seen
        self.master_seen = self.service.master

    @invariant()
    def init_once_per_instance_and_version(self) -> None:
        assert all(count == 1 for count in self.inits.values()), self.inits


TestGenericRules = GenericRules.TestCase
TestGenericRules.settings = settings(max_examples=60, stateful_step_count=40,
                                     deadline=None)
