"""The completed-task history under any sequence of launches, ends, acknowledgements,
agent losses, teardowns and rolled-back events (a hypothesis state machine).

Invariants: an ended task is live only while its end is unacknowledged (or it is a LOST
task a partition-aware framework may get back), and an update still owed is about a live
task; each framework's history keeps at most
its bound and never a live task; every task ever launched is live, in a history, or was
forgotten with a `ForgetTask`, exactly one of the three.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from master import commands as C
from master import events as E
from offers.states import TaskState
from tests.master_harness import launch, make_master, of_type, offers_for, register, subscribe

HISTORY = 2
PLAIN, AWARE = "f1", "f2"  # a plain framework, and one that is partition-aware
ENDS = [TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED]


class CompletedTasksMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m, self.clock = make_master(agent_timeout=10, max_completed_tasks=HISTORY,
                                         max_removed_frameworks=1)
        self.launched: list[str] = []
        self.forgotten: set[str] = set()
        self.lost_agent = False
        self._do(register(self.m, cpus=64, mem=65536))
        self._do(subscribe(self.m, PLAIN))
        self._do(subscribe(self.m, AWARE, capabilities=["PARTITION_AWARE"]))

    def _do(self, cmds: list) -> list:
        for c in of_type(cmds, C.ForgetTask):
            self.forgotten.add(c.task_id)
        return cmds

    def _known(self, i: int):
        if not self.launched:
            return None
        return self.m.task(self.launched[i % len(self.launched)])

    @precondition(lambda self: not self.lost_agent)
    @rule(aware=st.booleans())
    def launch_one(self, aware: bool) -> None:
        fid = AWARE if aware else PLAIN
        fw = self.m.frameworks.get(fid)
        if fw is None or fw.removed:
            return
        offers = offers_for(self._do(self.m.handle(E.Allocate())), fid)
        offers = offers or [o for o in self.m.offers.values() if o.framework_id == fid]
        if not offers:
            return
        task_id = f"t{len(self.launched)}"
        self._do(self.m.handle(E.Accept(fid, (offers[0].id,), (
            launch(task_id, cpus=0.5, mem=64, framework_id=fid),), 0.0)))
        if task_id in self.m.tasks:
            self.launched.append(task_id)

    @precondition(lambda self: not self.lost_agent)
    @rule(i=st.integers(0, 30), end=st.sampled_from([TaskState.RUNNING, *ENDS]))
    def agent_reports(self, i: int, end: TaskState) -> None:
        task = self._known(i)
        if task is not None and not task.state.terminal:
            self._do(self.m.handle(E.AgentStatus("a1", task.id, end)))

    @rule(i=st.integers(0, 30), rolled_back=st.booleans())
    def acknowledge(self, i: int, rolled_back: bool) -> None:
        pending = self.m.pending_acks()
        if not pending:
            return
        update = pending[i % len(pending)]
        before = (dict(self.m.tasks), {f: self.m.completed_tasks(f) for f in (PLAIN, AWARE)})
        if rolled_back:
            self.m.begin()
        cmds = self.m.handle(E.Acknowledge(update.framework_id, update.agent_id,
                                           update.task_id, update.uuid))
        if rolled_back:
            self.m.rollback()
            assert (dict(self.m.tasks),
                    {f: self.m.completed_tasks(f) for f in (PLAIN, AWARE)}) == before
        else:
            self._do(cmds)

    @rule()
    def acknowledge_everything(self) -> None:
        for u in self.m.pending_acks():
            self._do(self.m.handle(E.Acknowledge(u.framework_id, u.agent_id, u.task_id,
                                                 u.uuid)))

    @precondition(lambda self: not self.lost_agent)
    @rule()
    def agent_goes_silent(self) -> None:
        self.clock.advance(11)
        self._do(self.m.handle(E.Tick()))
        self.lost_agent = True

    @precondition(lambda self: self.lost_agent)
    @rule(keep=st.booleans())
    def agent_comes_back(self, keep: bool) -> None:
        running = [E.RunningTask(t, self.m.task(t).framework_id, "c")
                   for t in self.launched if keep and self.m.task(t) is not None]
        self._do(register(self.m, cpus=64, mem=65536, running=running))
        self.lost_agent = False

    @rule(aware=st.booleans())
    def tear_down_a_framework(self, aware: bool) -> None:
        self._do(self.m.handle(E.Teardown(AWARE if aware else PLAIN)))

    @invariant()
    def ended_tasks_are_live_only_until_acknowledged(self) -> None:
        m = self.m
        for task in m.tasks.values():
            if task.state.terminal:
                fw = m.frameworks.get(task.framework_id)
                kept = task.state is TaskState.LOST and fw is not None \
                    and not fw.removed and fw.partition_aware
                assert kept or m._latest_uuid.get(task.id) in m._unacked, task

    @invariant()
    def an_update_still_owed_is_about_a_live_task(self) -> None:
        for update in self.m.pending_acks():
            assert update.task_id in self.m.tasks or self.m.task(update.task_id) is None

    @invariant()
    def histories_keep_their_bound_and_no_live_task(self) -> None:
        for fid in (PLAIN, AWARE):
            history = self.m.completed_tasks(fid)
            assert len(history) <= HISTORY
            for task in history:
                assert task.state.terminal and task.id not in self.m.tasks

    @invariant()
    def every_task_is_live_kept_or_forgotten_exactly_once(self) -> None:
        histories = {t.id for f in (PLAIN, AWARE) for t in self.m.completed_tasks(f)}
        for task_id in self.launched:
            places = [task_id in self.m.tasks, task_id in histories,
                      task_id in self.forgotten]
            assert places.count(True) == 1, (task_id, places)


CompletedTasksMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_completed_tasks = CompletedTasksMachine.TestCase
