"""The Charmander scheduler's decisions, event by event, on a virtual clock."""

from __future__ import annotations

import pytest

from framework import commands as cmd
from framework import events as ev
from offers.states import TaskState
from tests.framework_harness import Harness, launches, task


def test_pending_task_is_launched_on_an_offer_and_other_offers_are_declined():
    h = Harness.make()
    tid = h.submit(task("stress60", mem=100))
    assert h.scheduler.task(tid).state is TaskState.PENDING
    out = h.offers(h.offer("a1", mem=50), h.offer("a2", mem=500))
    [launch] = launches(out)
    assert launch.agent_id == "a2" and [t for t, _ in launch.tasks] == [tid]
    assert [c.offer_ids for c in out if isinstance(c, cmd.Decline)] == [("o1",)]
    record = h.scheduler.task(tid)
    assert (record.state, record.agent_id, record.hostname) == (TaskState.STAGING, "a2", "h-a2")
    h.status(tid, "RUNNING")
    assert h.scheduler.task(tid).running


def test_offers_of_two_agents_under_one_hostname_place_on_the_first_and_decline_the_other():
    """A master that lets two live agents share a hostname (berth's refuses) must not stop
    the offer round: placement knows a node by its hostname, so the second is declined."""
    h = Harness.make()
    h.submit(task("a", cpus=1.0))
    out = h.offers(h.offer("a1", host="twin"), h.offer("a2", host="twin"),
                   h.offer("a3", host="other"))
    (launch,) = launches(out)
    assert launch.agent_id == "a1"
    (decline,) = [c for c in out if isinstance(c, cmd.Decline)]
    assert set(decline.offer_ids) == {"o2", "o3"}
    assert h.scheduler.counters["offers_received"] == 3


def test_unplaceable_task_stays_pending_with_the_placement_reason():
    h = Harness.make()
    tid = h.submit(task("big", mem=10_000))
    h.offers(h.offer("a1", mem=1000))
    assert h.scheduler.task(tid).state is TaskState.PENDING
    reason = h.scheduler.pending_reason(tid)
    assert reason and "node" in reason


def test_nodetype_is_respected():
    h = Harness.make()
    tid = h.submit(task("stress60", nodetype="lab"))
    out = h.offers(h.offer("a1", nodetype="analytics"), h.offer("a2", nodetype="lab"))
    assert [c.agent_id for c in launches(out)] == ["a2"]
    assert h.scheduler.task(tid).agent_id == "a2"


def test_suppress_when_idle_and_revive_when_new_work_arrives():
    h = Harness.make()
    out = h.offers(h.offer("a1"))
    assert any(isinstance(c, cmd.Suppress) for c in out)
    assert h.scheduler.suppressed
    h.submit(task("late"))
    assert isinstance(h.issued[-1], cmd.Revive)
    assert not h.scheduler.suppressed


def test_one_per_node_runs_on_every_agent_including_late_joiners_never_twice():
    h = Harness.make()
    sid = h.submit(task("cadvisor", mem=50, sla="one-per-node"))
    h.run_launches(h.offers(h.offer("a1"), h.offer("a2")))
    assert h.running_on() == [(sid, "a1"), (sid, "a2")]
    # Offers again from the same agents: nothing new.
    assert launches(h.offers(h.offer("a1"), h.offer("a2"))) == []
    # A third agent joins.
    h.run_launches(h.offers(h.offer("a3")))
    assert h.running_on() == [(sid, "a1"), (sid, "a2"), (sid, "a3")]
    # It is never suppressed: later agents must get it too.
    assert not h.scheduler.suppressed


def test_one_per_node_respects_nodetype():
    h = Harness.make()
    sid = h.submit(task("agentx", sla="one-per-node", nodetype="lab"))
    h.run_launches(h.offers(h.offer("a1", nodetype="lab"), h.offer("a2", nodetype="analytics"),
                            h.offer("a3", nodetype="lab")))
    assert h.running_on() == [(sid, "a1"), (sid, "a3")]


def test_singleton_is_relaunched_when_lost_and_the_returning_one_is_killed():
    h = Harness.make()
    sid = h.submit(task("influxdb", sla="singleton"))
    [first] = h.run_launches(h.offers(h.offer("a1")))
    h.send(ev.AgentLost("a1"))
    assert h.scheduler.task(first).state is TaskState.LOST
    [second] = h.run_launches(h.offers(h.offer("a2")))
    assert second != first and second.startswith(sid)
    # a1 comes back with the old container still running.
    out = h.status(first, "RUNNING", agent="a1")
    assert cmd.Kill(first, "a1") in out
    running = [r for r in h.scheduler.tasks() if r.state is TaskState.RUNNING]
    assert [r.task_id for r in running] == [second]


def test_singleton_replacement_waiting_for_offers_is_dropped_when_the_original_returns():
    h = Harness.make()
    h.submit(task("influxdb", sla="singleton"))
    [first] = h.run_launches(h.offers(h.offer("a1")))
    h.status(first, "LOST", reason="agent gone")
    pending = [r for r in h.scheduler.tasks() if r.state is TaskState.PENDING]
    assert len(pending) == 1
    out = h.status(first, "RUNNING")
    assert not [c for c in out if isinstance(c, cmd.Kill)]
    assert h.scheduler.task(pending[0].task_id).state is TaskState.KILLED
    assert launches(h.offers(h.offer("a2"))) == []


def test_failed_singleton_is_retried_after_a_backoff():
    h = Harness.make(backoff_seconds=10)
    h.submit(task("influxdb", sla="singleton"))
    [first] = h.run_launches(h.offers(h.offer("a1")))
    h.status(first, "FAILED", reason="exit 1")
    assert launches(h.offers(h.offer("a1"))) == []  # too early
    h.clock.now += 11
    h.send(ev.Tick())
    assert len(launches(h.offers(h.offer("a1")))) == 1


def test_plain_task_is_placed_once():
    h = Harness.make()
    tid = h.submit(task("once"))
    h.run_launches(h.offers(h.offer("a1")))
    h.status(tid, "FAILED", reason="exit 1")
    h.clock.now += 1000
    h.send(ev.Tick())
    assert launches(h.offers(h.offer("a1"))) == []


@pytest.mark.parametrize(
    ("state", "expect_kill", "final"),
    [
        ("PENDING", False, TaskState.KILLED),
        ("RUNNING", True, TaskState.KILLING),
        ("STAGING", True, TaskState.KILLING),
    ],
)
def test_kill_by_prefix(state, expect_kill, final):
    h = Harness.make()
    tid = h.submit(task("stress60"))
    other = h.submit(task("other"))
    if state != "PENDING":
        out = h.offers(h.offer("a1"))
        if state == "RUNNING":
            h.run_launches(out)
    out = h.send(ev.KillRequested("stress"))
    assert out[0] == cmd.KillMatched("stress", (tid,))
    assert (cmd.Kill(tid, "a1") in out) is expect_kill
    assert h.scheduler.task(tid).state is final
    assert h.scheduler.task(other).state is not TaskState.KILLED


def test_kill_with_no_match_matches_nothing():
    h = Harness.make()
    h.submit(task("stress60"))
    assert h.send(ev.KillRequested("nope")) == [cmd.KillMatched("nope", ())]


def test_killed_singleton_is_not_relaunched():
    h = Harness.make()
    sid = h.submit(task("influxdb", sla="singleton"))
    [first] = h.run_launches(h.offers(h.offer("a1")))
    h.send(ev.KillRequested(sid))
    h.status(first, "KILLED")
    assert launches(h.offers(h.offer("a2"))) == []
    assert h.scheduler.task(first).reason == "killed on request"


def test_unknown_running_task_is_killed():
    h = Harness.make()
    out = h.send(ev.TaskStatusChanged("ghost-1", TaskState.RUNNING, None, "a1"))
    assert out == [cmd.Kill("ghost-1", "a1")]


def test_stale_updates_are_ignored():
    h = Harness.make()
    tid = h.submit(task("x"))
    h.run_launches(h.offers(h.offer("a1")))
    h.status(tid, "FINISHED")
    h.status(tid, "STARTING")  # out of order: not allowed by the table, ignored
    assert h.scheduler.task(tid).state is TaskState.FINISHED


def test_subscribed_reconciles_launched_tasks():
    h = Harness.make()
    tid = h.submit(task("x"))
    h.run_launches(h.offers(h.offer("a1")))
    out = h.send(ev.Subscribed("fw-1"))
    assert cmd.Reconcile(((tid, "a1"),)) in out


def test_staging_too_long_is_reconciled_on_tick():
    h = Harness.make(staging_timeout=30)
    tid = h.submit(task("x"))
    h.offers(h.offer("a1"))
    assert not h.send(ev.Tick())
    h.clock.now += 31
    assert h.send(ev.Tick()) == [cmd.Reconcile(((tid, "a1"),))]


def test_reshuffle_places_by_usage_so_tasks_fit_on_fewer_nodes():
    """Tasks that ask 100 MiB but use 20 are re-placed by their usage: fewer nodes."""
    h = Harness.make(strategy="spread")
    ids = [h.submit(task(f"sim{i}", mem=100, cpus=0.1, reshuffleable=True)) for i in range(4)]
    nodes = [h.offer(f"a{i}", mem=250, cpus=4) for i in range(4)]
    h.run_launches(h.offers(*nodes))
    before = {h.scheduler.task(t).agent_id for t in ids}
    assert len(before) >= 2  # 100 MiB each, 250 per node: at most 2 per node
    for t in ids:
        h.send(ev.UsageObserved(t, cpus=0.05, mem=20))
    out = h.send(ev.ReshuffleRequested())
    assert {c.task_id for c in out if isinstance(c, cmd.Kill)} == set(ids)
    for t in ids:
        h.status(t, "KILLED")
    new = h.run_launches(h.offers(*[h.offer(f"a{i}", mem=250, cpus=4) for i in range(4)]))
    assert len(new) == 4
    after = {h.scheduler.task(t).agent_id for t in new}
    assert len(after) < len(before)
    sizes = {h.scheduler.task(t).launched_spec.mem for t in new}
    assert sizes == {22.0}  # the peak of 20 MiB times 1.1


def test_reshuffled_copies_wait_for_every_old_copy_then_are_packed_in_one_round():
    """Placing copies as their own old copy stops packs them round by round, each round
    blind to the agents the last one filled: the copies wait for all old copies instead."""
    h = Harness.make(strategy="spread")
    ids = [h.submit(task(f"sim{i}", mem=100, cpus=0.1, reshuffleable=True)) for i in range(4)]
    h.run_launches(h.offers(*[h.offer(f"a{i}", mem=250, cpus=4) for i in range(4)]))
    for t in ids:
        h.send(ev.UsageObserved(t, cpus=0.05, mem=20))
    h.send(ev.ReshuffleRequested())
    copies = [r.task_id for r in h.scheduler.tasks() if r.state is TaskState.PENDING]
    for t in ids[:3]:
        assert not any(isinstance(c, cmd.Revive) for c in h.status(t, "KILLED"))
    assert launches(h.offers(*[h.offer(f"a{i}", mem=250, cpus=4) for i in range(4)])) == []
    assert "reshuffled copies to stop" in h.scheduler.pending_reason(copies[0])
    assert cmd.Revive() in h.status(ids[3], "KILLED")  # the last one: offers, now
    [launch] = launches(h.offers(*[h.offer(f"a{i}", mem=250, cpus=4) for i in range(4)]))
    assert sorted(t for t, _ in launch.tasks) == sorted(copies)


def test_a_reshuffle_stops_waiting_for_an_old_copy_that_never_stops():
    h = Harness.make(staging_timeout=60.0)
    h.submit(task("quiet", mem=100, cpus=0.1, reshuffleable=True))
    other = h.submit(task("other", mem=100, cpus=0.1, reshuffleable=True))
    h.run_launches(h.offers(h.offer("a1", mem=250), h.offer("a2", mem=250)))
    h.send(ev.ReshuffleRequested())
    h.status(other, "KILLED")  # the kill of "quiet" is never confirmed (agent gone quiet)
    assert launches(h.offers(h.offer("a3", mem=250))) == []
    h.clock.now += 61
    [launch] = launches(h.offers(h.offer("a3", mem=250)))
    assert [t.rsplit(".", 1)[0] for t, _ in launch.tasks] == [other]


def test_reshuffle_leaves_one_per_node_and_non_reshuffleable_tasks_alone():
    h = Harness.make()
    h.submit(task("cadvisor", sla="one-per-node", reshuffleable=True))
    h.submit(task("db"))
    h.run_launches(h.offers(h.offer("a1")))
    out = h.send(ev.ReshuffleRequested())
    assert not [c for c in out if isinstance(c, cmd.Kill)]


def test_changed_records_hand_out_each_change_once():
    h = Harness.make()
    tid = h.submit(task("x"))
    assert [r.task_id for r in h.scheduler.changed_records()] == [tid]
    assert h.scheduler.changed_records() == []


def test_plain_task_lost_before_it_ran_is_queued_again():
    h = Harness.make()
    tid = h.submit(task("x"))
    h.offers(h.offer("a1"))
    h.status(tid, "LOST", reason="unknown to the master")
    [again] = [r for r in h.scheduler.tasks() if r.state is TaskState.PENDING]
    assert again.submission_id == tid
    assert len(launches(h.offers(h.offer("a2")))) == 1


def test_one_per_node_running_everywhere_shows_no_pending_copy():
    h = Harness.make()
    sid = h.submit(task("cadvisor", sla="one-per-node"))
    h.run_launches(h.offers(h.offer("a1"), h.offer("a2")))
    h.offers(h.offer("a1"), h.offer("a2"))
    assert sorted(h.states().values()) == ["RUNNING", "RUNNING"]
    # An instance dies: the next offer from its node brings it back.
    first = next(r.task_id for r in h.scheduler.tasks() if r.agent_id == "a1")
    h.status(first, "KILLED")
    h.run_launches(h.offers(h.offer("a1")))
    assert h.running_on() == [(sid, "a1"), (sid, "a2")]


def test_one_per_node_with_no_eligible_node_pends_with_a_reason():
    h = Harness.make()
    sid = h.submit(task("agentx", sla="one-per-node", nodetype="gpu"))
    h.offers(h.offer("a1", nodetype="lab"))
    assert h.scheduler.task(sid).state is TaskState.PENDING
    assert "nodetype" in h.scheduler.pending_reason(sid)


def test_resubscribing_with_work_revives_and_without_work_suppresses():
    h = Harness.make()
    assert cmd.Suppress() in h.send(ev.Subscribed("fw"))
    h.submit(task("x"))
    assert cmd.Revive() in h.send(ev.Subscribed("fw"))


def test_reshuffled_launch_never_asks_for_more_than_was_offered():
    """A usage-sized task is placed with exactly the spec it is launched with: rounding the
    size after placement could ask for a little more cpu than the offer had (refused)."""
    h = Harness.make()
    tid = h.submit(task("sim", mem=100, cpus=1.0, reshuffleable=True))
    h.run_launches(h.offers(h.offer("a1")))
    h.send(ev.UsageObserved(tid, cpus=0.1236 / 1.1, mem=20))  # sized 0.1236 cpus, shown 0.124
    h.send(ev.ReshuffleRequested())
    h.status(tid, "KILLED")
    offer = h.offer("a2", cpus=0.12365, mem=1000)
    for launch in launches(h.offers(offer)):
        assert sum(spec.cpus for _, spec in launch.tasks) <= offer.cpus
        assert sum(spec.mem for _, spec in launch.tasks) <= offer.mem


def test_finished_task_forgotten_by_pruning_is_not_relaunched_on_resubscription():
    h = Harness.make(retain_finished=1)
    first = h.submit(task("a"))
    second = h.submit(task("b"))
    h.run_launches(h.offers(h.offer("a1")))
    h.status(first, "FINISHED")
    h.status(second, "FINISHED")
    h.send(ev.Subscribed("fw"))
    assert [(r.task_id, r.state) for r in h.scheduler.tasks()] == [(second, TaskState.FINISHED)]
    assert not h.scheduler.has_work()


def test_two_offers_from_one_agent_are_summed_and_accepted_together_others_declined_at_once():
    h = Harness.make()
    tid = h.submit(task("wide", mem=3000, cpus=1))
    out = h.offers(h.offer("a1", mem=2000), h.offer("a2", mem=1000), h.offer("a1", mem=2000),
                   h.offer("a3", mem=500))
    [launch] = launches(out)  # neither of a1's offers holds 3000 MiB alone; both together do
    assert launch.agent_id == "a1" and launch.offer_ids == ("o1", "o3")
    assert [t for t, _ in launch.tasks] == [tid]
    assert [c.offer_ids for c in out if isinstance(c, cmd.Decline)] == [("o2", "o4")]
