"""Jobs through the whole scheduler (virtual clock, made-up offers, an obliging agent):
what a user of `berth job` would see."""

from __future__ import annotations

import dataclasses
import itertools

from framework import commands as cmd
from framework import events as ev
from offers.job import Phase, parse_job
from offers.states import TaskState as S
from offers.task import Volume
from tests.framework_harness import Harness, launches, task

T = {"dockerimage": "busybox", "mem": 100, "cpus": 0.5}


def submit(h: Harness, **fields) -> str:
    spec = parse_job({"task": T, **fields})
    h.send(ev.JobSubmitted(spec))
    return spec.name


def launched(out) -> list[tuple[str, dict, str]]:
    """(task id, env, agent id) of every instance launched by these commands."""
    return [(task_id, dict(spec.env), c.agent_id) for c in launches(out)
            for task_id, spec in c.tasks]


def offer_round(h: Harness, *agents: str) -> list[tuple[str, dict, str]]:
    return launched(h.offers(*[h.offer(a) for a in agents or ("a1", "a2")]))


def exit_(h: Harness, task_id: str, code: int):
    record = h.scheduler.task(task_id)
    state = S.FINISHED if code == 0 else S.FAILED
    return h.send(ev.TaskStatusChanged(task_id, state, f"exited with code {code}",
                                       record.agent_id, exit_code=code))


def by_state(h: Harness, job: str, state: S) -> list[str]:
    return [r.task_id for r in h.scheduler.tasks()
            if r.submission_id == job and r.state is state]


def test_batch_of_20_completions_runs_each_index_once():
    name = submit(h := Harness.make(), name="b", type="batch", completions=20,
                  parallelism=3)
    indexes = []
    for _ in range(50):
        h.clock.now += 1
        h.send(ev.Tick())
        for task_id, env, _agent in offer_round(h):
            assert env["BERTH_JOB"] == "b"
            indexes.append(int(env["BERTH_JOB_INDEX"]))
            h.status(task_id, "RUNNING")
            exit_(h, task_id, 0)
        if h.scheduler.job(name).phase is Phase.COMPLETE:
            break
    job = h.scheduler.job(name)
    assert job.phase is Phase.COMPLETE, job.phase_reason
    assert sorted(indexes) == list(range(20))
    assert len(by_state(h, name, S.FINISHED)) == 20
    assert offer_round(h) == []  # nothing more runs


def test_parallelism_bounds_the_instances_at_once():
    name = submit(h := Harness.make(), name="b", type="batch", completions=10,
                  parallelism=3)
    first = offer_round(h, "a1", "a2", "a3")
    assert len(first) == 3
    for task_id, *_ in first:
        h.status(task_id, "RUNNING")
    assert offer_round(h) == []
    exit_(h, first[0][0], 0)
    assert [env["BERTH_JOB_INDEX"] for _, env, _ in offer_round(h)] == ["3"]
    assert h.scheduler.job(name).phase is Phase.RUNNING


def test_exit_3_is_restarted_attempts_times_then_the_job_fails():
    name = submit(h := Harness.make(), name="b", type="batch", completions=1,
                  restart={"attempts": 2, "delay": 10, "backoff": 2})
    runs = []
    for _ in range(10):
        got = offer_round(h)
        for task_id, env, _agent in got:
            runs.append((h.clock.now, env["BERTH_JOB_INDEX"]))
            h.status(task_id, "RUNNING")
            exit_(h, task_id, 3)
        if not got:
            h.clock.now += 5
            h.send(ev.Tick())
    job = h.scheduler.job(name)
    assert [index for _, index in runs] == ["0", "0", "0"]  # the first run + 2 restarts
    assert [b - a for (a, _), (b, _) in itertools.pairwise(runs)] == [10, 20]
    assert job.phase is Phase.FAILED
    assert "exited with code 3" in job.phase_reason and "index 0" in job.phase_reason
    assert job.restarts == 2
    assert {r.exit_code for r in h.scheduler.tasks()} == {3}


def test_startup_timeout_kills_a_staging_instance_and_relaunches_it():
    name = submit(h := Harness.make(), name="s", count=1, startup_timeout=30)
    [(first, _, agent)] = offer_round(h, "a1")
    assert agent == "a1"
    h.clock.now += 20
    assert [c for c in h.send(ev.Tick()) if isinstance(c, cmd.Kill)] == []
    h.clock.now += 11
    assert cmd.Kill(first, "a1") in h.send(ev.Tick())
    h.status(first, "KILLING", reason="killed by the framework")  # the master's word
    h.status(first, "KILLED", reason="killed before its container was created")
    record = h.scheduler.task(first)
    assert record.state is S.KILLED and "startup_timeout" in record.reason  # why, kept
    [(second, env, _agent)] = offer_round(h, "a2")
    assert second != first and env["BERTH_JOB_INDEX"] == "0"
    assert h.scheduler.job(name).restarts == 1



def test_startup_timeout_relaunch_avoids_the_node():
    submit(h := Harness.make(), name="s", count=1, startup_timeout=30,
           relaunch={"avoid": 600})
    [(first, *_)] = offer_round(h, "a1")
    h.clock.now += 31
    h.send(ev.Tick())
    h.status(first, "KILLED")
    assert offer_round(h, "a1") == []  # the node it did not start on is avoided
    [(_second, _env, agent)] = offer_round(h, "a2")
    assert agent == "a2"


def test_lost_instance_is_relaunched_away_from_its_node():
    submit(h := Harness.make(), name="s", count=1, relaunch={"avoid": 600})
    [(first, *_)] = offer_round(h, "a1")
    h.status(first, "RUNNING")
    h.send(ev.AgentLost("a1"))
    assert h.scheduler.task(first).state is S.LOST
    assert offer_round(h, "a1") == []


def test_max_runtime_ends_a_running_instance_failed():
    name = submit(h := Harness.make(), name="b", type="batch", completions=1,
                  max_runtime=60)
    [(task_id, *_)] = offer_round(h)
    h.status(task_id, "RUNNING")
    h.clock.now += 59
    assert not [c for c in h.send(ev.Tick()) if isinstance(c, cmd.Kill)]
    h.clock.now += 2
    assert cmd.Kill(task_id, "a1") in h.send(ev.Tick())
    h.status(task_id, "KILLED")
    record = h.scheduler.task(task_id)
    assert record.state is S.FAILED and record.reason.startswith("deadline exceeded")
    job = h.scheduler.job(name)
    assert job.phase is Phase.FAILED and "deadline exceeded" in job.phase_reason
    h.clock.now += 1000
    h.send(ev.Tick())
    assert offer_round(h) == []


def test_parallel_workers_get_the_masters_host():
    name = submit(h := Harness.make(), name="p", type="parallel", count=2,
                  master={**T, "dockerimage": "julia"})
    [(m, env, _agent)] = offer_round(h, "a1")
    assert "BERTH_MASTER_HOST" not in env
    assert offer_round(h, "a2") == []  # no worker before the master runs
    h.status(m, "RUNNING")
    workers = offer_round(h, "a2")
    assert [(env["BERTH_MASTER_HOST"], env["BERTH_MASTER_PORTS"])
            for _, env, _ in workers] == [("h-a1", ""), ("h-a1", "")]
    assert sorted(env["BERTH_JOB_INDEX"] for _, env, _ in workers) == ["0", "1"]
    for task_id, *_ in workers:
        h.status(task_id, "RUNNING")
    out = exit_(h, m, 0)
    assert sorted(c.task_id for c in out if isinstance(c, cmd.Kill)) == sorted(
        t for t, *_ in workers)
    assert h.scheduler.job(name).phase is Phase.COMPLETE



def test_a_template_with_host_ports_is_placed():
    submit(h := Harness.make(), name="web", count=1,
           task={**T, "ports": [{"host_port": 31080, "container_port": 80}]})
    [(_task, _env, agent)] = offer_round(h, "a1")
    assert agent == "a1"


def test_parallel_workers_get_the_masters_host_and_ports():
    master = {**T, "dockerimage": "julia",
              "ports": [{"host_port": 31005, "container_port": 8080}]}
    name = submit(h := Harness.make(), name="p", type="parallel", count=2, master=master)
    [(m, env, _agent)] = offer_round(h, "a1")
    assert "BERTH_MASTER_HOST" not in env
    assert offer_round(h, "a2") == []  # no worker before the master runs
    h.status(m, "RUNNING")
    workers = offer_round(h, "a2")
    assert len(workers) == 2
    for _task, env, _agent in workers:
        assert env["BERTH_MASTER_HOST"] == "h-a1"
        assert env["BERTH_MASTER_PORTS"] == "31005"
    assert sorted(env["BERTH_JOB_INDEX"] for _, env, _ in workers) == ["0", "1"]
    for task_id, *_ in workers:
        h.status(task_id, "RUNNING")
    out = exit_(h, m, 0)
    assert sorted(c.task_id for c in out if isinstance(c, cmd.Kill)) == sorted(
        t for t, *_ in workers)
    assert h.scheduler.job(name).phase is Phase.COMPLETE


def test_stepped_scale_advances_only_as_instances_run():
    name = submit(h := Harness.make(), name="s", count=0)
    h.send(ev.JobScaled(name, steps=(2, 4, 6)))
    job = h.scheduler.job(name)
    seen = []
    for want in (2, 4, 6):
        assert job.counts == (want,)
        got = offer_round(h)
        assert len(got) == 2
        assert offer_round(h) == []  # staging: the next step waits
        assert job.counts == (want,)
        for task_id, *_ in got:
            h.status(task_id, "RUNNING")
        seen.append(len(by_state(h, name, S.RUNNING)))
    assert seen == [2, 4, 6]
    assert job.counts == (6,) and job.steps == []
    assert offer_round(h) == []


def test_scale_down_stops_the_highest_indexes():
    name = submit(h := Harness.make(), name="s", count=3)
    for task_id, *_ in offer_round(h):
        h.status(task_id, "RUNNING")
    out = h.send(ev.JobScaled(name, count=1))
    killed = [c.task_id for c in out if isinstance(c, cmd.Kill)]
    assert sorted(h.scheduler.task(t).slot[1] for t in killed) == [1, 2]
    assert all(h.scheduler.task(t).reason == "scaled down" for t in killed)


def test_stop_kills_everything_and_the_job_is_stopped():
    name = submit(h := Harness.make(), name="s", count=3)
    running = launched(h.offers(h.offer("a1", cpus=1.0)))  # room for two of the three
    for task_id, *_ in running:
        h.status(task_id, "RUNNING")
    [pending] = by_state(h, name, S.PENDING)
    out = h.send(ev.JobStopped(name))
    assert sorted(c.task_id for c in out if isinstance(c, cmd.Kill)) == sorted(
        t for t, *_ in running)
    assert h.scheduler.task(pending).state is S.KILLED
    for task_id, *_ in running:
        h.status(task_id, "KILLED")
    job = h.scheduler.job(name)
    assert job.phase is Phase.STOPPED
    assert offer_round(h) == [] and by_state(h, name, S.PENDING) == []
    assert name in h.scheduler.changed_unwanted()


def test_delete_forgets_a_stopped_job():
    name = submit(h := Harness.make(), name="s", count=1)
    [(task_id, *_)] = offer_round(h)
    h.status(task_id, "RUNNING")
    h.send(ev.JobStopped(name))
    h.status(task_id, "KILLED")
    h.send(ev.JobDeleted(name))
    assert h.scheduler.job(name) is None
    assert h.scheduler.tasks() == []
    assert submit(h, name="s", count=1) == name  # the name is free again
    assert h.scheduler.job(name).phase is Phase.PENDING


def test_force_delete_of_a_running_job_then_its_kill_is_reported():
    name = submit(h := Harness.make(), name="s", count=1)
    [(task_id, *_)] = offer_round(h)
    h.status(task_id, "RUNNING")
    out = h.send(ev.JobDeleted(name))
    assert cmd.Kill(task_id, "a1") in out
    h.status(task_id, "KILLED")
    assert h.scheduler.job(name) is None
    assert all(r.submission_id != name or r.state.terminal for r in h.scheduler.tasks())


def test_recovered_batch_never_reruns_a_finished_index():
    spec = parse_job({"name": "b", "type": "batch", "completions": 6, "task": T})
    h = Harness.make()
    h.send(ev.JobSubmitted(spec, created_at=10.0, recovering=True))
    template = h.scheduler.job("b").templates[0]
    for n, state in enumerate([S.FINISHED, S.FINISHED, S.FINISHED, S.RUNNING]):
        h.send(ev.TaskRecovered(
            f"b.{n + 1}", "b", template, state, created_at=10.0 + n, agent_id="a1",
            hostname="h-a1", slot=(0, n), exit_code=0 if state is S.FINISHED else None,
            updated_at=20.0 + n))
    out = h.send(ev.Subscribed("fw"))
    assert any(isinstance(c, cmd.Reconcile) and ("b.4", "a1") in c.tasks for c in out)
    indexes = []
    for _ in range(10):
        for task_id, env, _agent in offer_round(h):
            indexes.append(int(env["BERTH_JOB_INDEX"]))
            h.status(task_id, "RUNNING")
            exit_(h, task_id, 0)
    assert sorted(indexes) == [4, 5]
    exit_(h, "b.4", 0)
    job = h.scheduler.job("b")
    assert job.phase is Phase.COMPLETE
    assert len(by_state(h, "b", S.FINISHED)) == 6


def test_delete_of_a_complete_job_with_a_lost_instance():
    name = submit(h := Harness.make(), name="b", type="batch", completions=1)
    [(first, *_)] = offer_round(h, "a1")
    h.status(first, "RUNNING")
    h.send(ev.AgentLost("a1"))
    [(second, *_)] = offer_round(h, "a2")
    h.status(second, "RUNNING")
    exit_(h, second, 0)
    assert h.scheduler.job(name).phase is Phase.COMPLETE
    h.send(ev.JobDeleted(name))
    h.status(first, "RUNNING", agent="a1")  # the agent comes back: the kill goes out
    h.status(first, "KILLED", agent="a1")
    assert h.scheduler.job(name) is None


def test_charmander_one_per_node_runs_once_on_every_agent():
    h = Harness.make()
    h.submit(task("d", sla="one-per-node"))
    first = offer_round(h, "a1")
    assert [agent for *_, agent in first] == ["a1"]
    assert sorted(agent for *_, agent in offer_round(h, "a1", "a2", "a3")) == ["a2", "a3"]


def test_system_job_runs_once_on_every_agent():
    name = submit(h := Harness.make(), name="d", type="system")
    assert [agent for *_, agent in offer_round(h, "a1")] == ["a1"]
    assert sorted(agent for *_, agent in offer_round(h, "a1", "a2", "a3")) == ["a2", "a3"]
    assert len(h.scheduler.job_instances(h.scheduler.job(name))) == 3


def test_stopping_a_complete_job_keeps_it_complete():
    name = submit(h := Harness.make(), name="b", type="batch", completions=1)
    [(task_id, *_)] = offer_round(h)
    h.status(task_id, "RUNNING")
    exit_(h, task_id, 0)
    assert h.scheduler.job(name).phase is Phase.COMPLETE
    h.send(ev.JobStopped(name))
    assert h.scheduler.job(name).phase is Phase.COMPLETE


def test_stopping_a_failed_job_keeps_it_failed():
    name = submit(h := Harness.make(), name="b", type="batch", completions=1,
                  restart={"attempts": 0})
    [(task_id, *_)] = offer_round(h)
    h.status(task_id, "RUNNING")
    exit_(h, task_id, 3)
    assert h.scheduler.job(name).phase is Phase.FAILED
    h.send(ev.JobStopped(name))
    assert h.scheduler.job(name).phase is Phase.FAILED


def test_unique_hostname_spreads_a_service_and_says_why_the_rest_waits():
    h = Harness.make()
    submit(h, name="web", type="service", count=3, constraints=[["hostname", "UNIQUE"]])
    first = offer_round(h, "a1", "a2")
    assert sorted(agent for *_, agent in first) == ["a1", "a2"]  # one per host
    for task_id, _env, agent in first:
        h.status(task_id, "RUNNING", agent=agent)
    assert offer_round(h, "a1", "a2") == []  # both hosts have one already
    [waiting] = by_state(h, "web", S.PENDING)
    assert "UNIQUE" in h.scheduler.pending_reason(waiting) or "hostname" in \
        h.scheduler.pending_reason(waiting)
    assert [agent for *_, agent in offer_round(h, "a3")] == ["a3"]


def test_max_per_counts_the_whole_job_across_rounds():
    h = Harness.make()
    submit(h, name="w", type="service", count=5, constraints=[["hostname", "MAX_PER", "2"]])
    for task_id, _env, agent in offer_round(h, "a1"):
        h.status(task_id, "RUNNING", agent=agent)
    assert len(by_state(h, "w", S.RUNNING)) == 2
    assert offer_round(h, "a1") == []  # a1 holds its 2 already
    assert len(offer_round(h, "a2")) == 2


def test_a_higher_priority_job_is_placed_first_on_a_full_offer():
    h = Harness.make()
    submit(h, name="low", type="batch", completions=1, task={**T, "cpus": 3})
    submit(h, name="high", type="batch", completions=1, priority=10, task={**T, "cpus": 3})
    [(task_id, _env, _agent)] = launched(h.offers(h.offer("a1", cpus=4)))
    assert h.scheduler.task(task_id).submission_id == "high"


def test_a_system_job_skips_nodes_its_constraints_exclude():
    h = Harness.make()
    submit(h, name="mon", type="system", constraints=[["rack", "CLUSTER", "r1"]])
    offers = [h.offer("a1"), h.offer("a2"), h.offer("a3")]
    offers = [dataclasses.replace(o, attributes={"rack": rack})
              for o, rack in zip(offers, ("r1", "r2", "r1"), strict=True)]
    placed = launched(h.offers(*offers))
    assert sorted(agent for *_, agent in placed) == ["a1", "a3"]


def test_ids_come_from_the_injected_source():
    from framework.driver import timestamp_ids
    from framework.scheduler import Scheduler

    assert [Scheduler(clock=lambda: 0.0).new_id("t") for _ in range(2)] == ["t-1", "t-1"]
    numbers = iter(["7", "8"])
    core = Scheduler(clock=lambda: 0.0, ids=lambda name: f"{name}-{next(numbers)}")
    assert [core.new_id("x"), core.new_id("x")] == ["x-7", "x-8"]
    live = timestamp_ids()
    first, second = live("t"), live("t")
    assert first != second and int(second.split("-")[1]) > int(first.split("-")[1])


def test_a_slots_volumes_restart_its_instance_with_them_and_nothing_is_counted():
    name = submit(h := Harness.make(), name="gen", type="service", count=2)
    first = [task_id for task_id, _env, _agent in offer_round(h, "a1")]
    for task_id in first:
        h.status(task_id, "RUNNING")
    target = first[1]
    slot = h.scheduler.task(target).slot
    volume = Volume(name="berth-gen-data-1", container_path="/media/data")
    out = h.send(ev.SlotVolumesChanged(name, slot, (volume,), restart=target))
    assert [c.task_id for c in out if isinstance(c, cmd.Kill)] == [target]
    h.status(target, "KILLED")
    h.clock.now += 1
    h.send(ev.Tick())
    [launch] = launches(h.offers(h.offer("a1")))
    [(new_id, spec)] = launch.tasks
    assert new_id != target and h.scheduler.task(new_id).slot == slot
    assert spec.volumes == (volume,)
    job = h.scheduler.job(name)
    assert job.restarts == 0 and job.slot(slot).relaunches == 0  # a restart, no failure
    h.send(ev.SlotVolumesChanged(name, slot, ()))  # detached: the next one mounts none
    assert slot not in job.slot_volumes
