"""The job JSON: every bad input is refused with the field it is about and the problem;
good input gets the documented defaults."""

from __future__ import annotations

import pytest

from offers.job import JobType, Phase, RestartWhen, parse_job
from offers.problems import SpecError

T = {"dockerimage": "busybox", "mem": 100, "cpus": 0.5}


def job(**fields):
    return {"name": "j", "task": T, **fields}


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_job(data)
    return [(p.field, p.problem) for p in info.value.problems]


# (case, job JSON, field, words the problem must contain)
BAD = [
    ("unknown type", job(type="cron"), "type", "'batch'"),
    ("completions below 1", job(type="batch", completions=0), "completions",
     "greater than or equal to 1"),
    ("parallelism below 1", job(type="batch", completions=2, parallelism=0), "parallelism",
     "greater than or equal to 1"),
    ("count below 0", job(count=-1), "count", "greater than or equal to 0"),
    ("count not whole", job(count=2.5), "count", "not a whole number"),
    ("count not a number", job(count="many"), "count", "not a number"),
    ("parallel without master", job(type="parallel", count=2), "master",
     "needs a `master`"),
    ("master on a service", job(master=T), "master", "only a parallel job"),
    ("master on a batch", job(type="batch", master=T), "master", "only a parallel job"),
    ("task and tasks", job(tasks=[{**T, "count": 1}]), "task", "either `task`"),
    ("neither task nor tasks", {"name": "j"}, "task", "either `task`"),
    ("tasks empty", {"name": "j", "tasks": []}, "tasks", "at least 1"),
    ("sla in the template", job(task={**T, "sla": "singleton"}), "task.sla",
     "no sla"),
    ("sla in a tasks template", {"name": "j", "tasks": [{**T, "count": 1,
                                                          "sla": "one-per-node"}]},
     "tasks[0].sla", "no sla"),
    ("restart.attempts negative", job(restart={"attempts": -1}), "restart.attempts",
     "greater than or equal to 0"),
    ("restart.delay negative", job(restart={"delay": -1}), "restart.delay",
     "greater than or equal to 0"),
    ("restart.backoff below 1", job(restart={"backoff": 0.5}), "restart.backoff",
     "greater than or equal to 1"),
    ("restart.interval zero", job(restart={"interval": 0}), "restart.interval",
     "greater than 0"),
    ("restart unknown field", job(restart={"tries": 2}), "restart.tries", "unknown field"),
    ("relaunch.avoid negative", job(relaunch={"avoid": -5}), "relaunch.avoid",
     "greater than or equal to 0"),
    ("relaunch.attempts negative", job(relaunch={"attempts": -1}), "relaunch.attempts",
     "greater than or equal to 0"),
    ("relaunch.errors zero", job(relaunch={"errors": 0}), "relaunch.errors",
     "greater than or equal to 1"),
    ("startup_timeout zero", job(startup_timeout=0), "startup_timeout", "greater than 0"),
    ("max_runtime negative", job(max_runtime=-1), "max_runtime", "greater than 0"),
    ("name with a slash", job(name="a/b"), "name", "cannot be a container name"),
    ("name starting with a dash", job(name="-ab"), "name", "cannot be a container name"),
    ("name empty", job(name=""), "name", "must not be empty"),
    ("name missing", {"task": T}, "name", "is required"),
    ("count on a batch", job(type="batch", count=3), "count", "completions"),
    ("count on a system job", job(type="system", count=3), "count", "every eligible node"),
    ("completions on a service", job(completions=3), "completions", "only a batch job"),
    ("unknown field", job(replicas=3), "replicas", "unknown field"),
    ("priority not a number", job(priority="high"), "priority", "not a number"),
    ("template field bad", job(task={**T, "mem": -1}), "task.mem", ""),
]


@pytest.mark.parametrize(("data", "field", "words"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_bad_job_is_refused_naming_the_field(data, field, words):
    found = problems(data)
    assert any(f == field and words in p for f, p in found), found


def test_not_an_object_is_refused():
    assert problems([{"name": "j"}]) == [("", "a job must be a JSON object, not list")]


def test_several_problems_are_each_reported():
    found = dict(problems(job(type="batch", completions=0, restart={"delay": -1},
                              relaunch={"avoid": -1})))
    assert set(found) >= {"completions", "restart.delay", "relaunch.avoid"}


# Problems found by the job's shape check (a model validator) but about a nested field.
NESTED = [
    ("tasks[i] without count", {"name": "j", "tasks": [{**T, "count": 1}, T]},
     "tasks[1].count", "is required"),
    ("count in the single template", job(task={**T, "count": 3}), "task.count",
     "job's `count`"),
]


@pytest.mark.parametrize(("data", "field", "words"), [c[1:] for c in NESTED],
                         ids=[c[0] for c in NESTED])
def test_shape_problem_about_a_nested_field_names_it(data, field, words):
    found = problems(data)
    assert any(f == field and words in p for f, p in found), found


@pytest.mark.parametrize(("data", "fields"), [
    (job(type="parallel", completions=3), {"master", "completions"}),
    (job(completions=3, parallelism=2), {"completions", "parallelism"}),
], ids=["parallel without master and with completions", "completions and parallelism"])
def test_shape_problems_are_each_named_by_their_field(data, fields):
    found = problems(data)
    assert {f for f, _ in found} == fields, found
    assert all(": " not in p for _, p in found), found


def test_master_with_a_count_is_refused():
    found = problems(job(type="parallel", count=2, master={**T, "count": 3}))
    assert [f for f, _ in found] == ["master.count"], found


# -- good input ---------------------------------------------------------------------------


def test_defaults():
    spec = parse_job(job())
    assert spec.type is JobType.SERVICE
    assert spec.priority == 0
    assert spec.counts() == (1,)
    assert spec.restart_when is RestartWhen.ALWAYS
    r = spec.restart
    assert (r.attempts, r.interval, r.delay, r.backoff, r.max_delay) == (3, 1800.0, 5.0,
                                                                         2.0, 300.0)
    assert (spec.relaunch.attempts, spec.relaunch.avoid, spec.relaunch.errors) == (
        None, 300.0, 3)
    assert spec.startup_timeout is None and spec.max_runtime is None
    assert spec.templates[0].task(spec).id == "j"


def test_numbers_as_strings_are_accepted():
    spec = parse_job(job(type="batch", completions="20", parallelism="4", priority="7",
                         restart={"attempts": "2", "delay": "1.5"}, max_runtime="60"))
    assert (spec.completions, spec.parallelism, spec.priority) == (20, 4, 7)
    assert (spec.restart.attempts, spec.restart.delay) == (2, 1.5)
    assert spec.max_runtime == 60.0
    assert spec.counts() == (20,)


def test_batch_defaults_to_one_completion_and_restarts_on_failure_only():
    spec = parse_job(job(type="batch"))
    assert spec.counts() == (1,)
    assert spec.restart_when is RestartWhen.ON_FAILURE


@pytest.mark.parametrize(("kind", "when"), [
    ("service", RestartWhen.ALWAYS), ("system", RestartWhen.ALWAYS),
    ("array", RestartWhen.ON_FAILURE), ("batch", RestartWhen.ON_FAILURE)])
def test_restart_when_follows_the_type(kind, when):
    assert parse_job(job(type=kind)).restart_when is when


def test_several_templates_each_with_its_count():
    spec = parse_job({"name": "multi", "type": "array", "tasks": [
        {**T, "id": "a", "count": 2}, {**T, "id": "b", "dockerimage": "nginx", "count": "3"}]})
    assert spec.counts() == (2, 3)
    assert [t.task(spec).id for t in spec.templates] == ["a", "b"]


def test_parallel_job_with_master_and_workers():
    spec = parse_job(job(type="parallel", count=3, master={**T, "dockerimage": "julia"}))
    assert spec.counts() == (3,)
    assert spec.master is not None and spec.master.dockerimage == "julia"


def test_spaces_are_dropped_from_the_name():
    assert parse_job(job(name=" my job ")).name == "myjob"


def test_unlimited_restarts_and_zero_count_are_allowed():
    spec = parse_job(job(type="array", count=0, restart={"attempts": None}))
    assert spec.counts() == (0,) and spec.restart.attempts is None


def test_round_trip_through_json():
    spec = parse_job(job(type="batch", completions=5, restart={"delay": 2}))
    assert parse_job(spec.to_json()) == spec


def test_phase_final():
    assert {p for p in Phase if p.final} == {Phase.COMPLETE, Phase.FAILED, Phase.STOPPED}


@pytest.mark.parametrize(("constraints", "field", "words"), [
    ([["hostname", "NEAR"]], "constraints[0][1]", "not an operator"),
    ([["hostname", "UNIQUE"], ["rack", "MAX_PER"]], "constraints[1]", "MAX_PER needs a number"),
    ([["rack", "LIKE", "["]], "constraints[0][2]", "not a regular expression"),
])
def test_a_jobs_constraints_are_checked_by_position(constraints, field, words):
    with pytest.raises(SpecError) as caught:
        parse_job({"name": "j", "task": {"dockerimage": "x"}, "constraints": constraints})
    [problem] = caught.value.problems
    assert problem.field == field and words in problem.problem
