"""The task JSON: the seed's examples are accepted, bad input is refused field by field."""

import pytest

from offers.problems import SpecError
from offers.task import SLA, NetworkMode, parse_task

CADVISOR = {
    "id": "cadvisor", "dockerimage": "google/cadvisor:0.6.2", "mem": "50",
    "sla": "one-per-node", "notmetered": True,
    "volumes": [
        {"host_path": "/", "container_path": "/rootfs", "mode": "ro"},
        {"host_path": "/var/run", "container_path": "/var/run", "mode": "rw"},
        {"host_path": "/sys", "container_path": "/sys", "mode": "ro"},
        {"host_path": "/var/lib/docker", "container_path": "/var/lib/docker/", "mode": "ro"},
    ],
    "ports": [{"host_port": "31500", "container_port": "8080"}],
}
STRESS60 = {"id": "stress60", "dockerimage": "stress", "mem": "100", "reshuffleable": True,
            "nodetype": "lab", "arguments": ["--vm-bytes", "60M", "--vm", "1"]}
INFLUXDB = {
    "id": "influxdb", "dockerimage": "influxdb", "mem": "100", "cpus": "1", "sla": "singleton",
    "nodetype": "analytics", "notmetered": True,
    "volumes": [{"host_path": "/analytics/log/influxdb", "container_path": "/log/", "mode": "rw"}],
    "ports": [{"host_port": "31400", "container_port": "8083"},
              {"host_port": "31410", "container_port": "8086"}],
}


def test_the_seeds_examples_parse_with_numbers_given_as_strings():
    cadvisor, stress, influx = map(parse_task, (CADVISOR, STRESS60, INFLUXDB))
    assert cadvisor.mem == 50.0 and cadvisor.sla is SLA.ONE_PER_NODE and cadvisor.notmetered
    assert cadvisor.ports[0].host_port == 31500 and cadvisor.ports[0].container_port == 8080
    assert cadvisor.volumes[0].mode == "ro"
    assert stress.reshuffleable and stress.nodetype == "lab"
    assert stress.arguments == ("--vm-bytes", "60M", "--vm", "1")
    assert influx.cpus == 1.0 and influx.sla is SLA.SINGLETON
    assert influx.host_ports == (31400, 31410)
    assert stress.networkmode is NetworkMode.BRIDGE


def test_charmander_drops_spaces_from_ids_and_the_seeds_spelling_of_reshuffleable_is_accepted():
    spec = parse_task({"id": "my task", "dockerimage": "x", "reshuffeable": True})
    assert spec.id == "mytask" and spec.reshuffleable


def test_numbers_in_arguments_and_env_become_strings():
    spec = parse_task({"id": "a", "dockerimage": "x", "arguments": ["--vm", 1],
                       "env": {"N": 3}, "disk": 10})
    assert spec.arguments == ("--vm", "1") and spec.env == {"N": "3"} and spec.disk == 10


def _base(**fields):
    return {"id": "t", "dockerimage": "img", **fields}


@pytest.mark.parametrize(("data", "field", "words"), [
    (_base(mem="0"), "mem", "at least 4"),
    (_base(mem=-5), "mem", "at least 4"),
    # Sizes Docker cannot honour (and that round to 0 in a TaskInfo's six decimals).
    (_base(cpus="0.0000001"), "cpus", "at least 0.01"),
    (_base(cpus=0.009), "cpus", "at least 0.01"),
    (_base(mem="5e-324"), "mem", "at least 4"),
    (_base(mem=3.9), "mem", "at least 4"),
    (_base(disk="5e-324"), "disk", "0 or at least 1"),
    (_base(disk=0.5), "disk", "0 or at least 1"),
    (_base(id="a\x00b"), "id", "container name"),
    (_base(dockerimage="img\x00"), "dockerimage", "NUL"),
    (_base(nodetype="lab\x00"), "nodetype", "NUL"),
    (_base(arguments=["--vm", "1\x00"]), "arguments[1]", "NUL"),
    (_base(env={"A\x00": "1"}), "env", "NUL"),
    (_base(env={"A": "x\x00y"}), "env.A", "NUL"),
    (_base(cpus="nan"), "cpus", "finite"),
    (_base(mem=float("inf")), "mem", "finite"),
    (_base(mem=1e15), "mem", "less than or equal"),
    (_base(mem="fifty"), "mem", "not a number"),
    (_base(mem=True), "mem", "not true/false"),
    (_base(disk=-1), "disk", "greater than or equal to 0"),
    ({"dockerimage": "img"}, "id", "required"),
    ({"id": "t"}, "dockerimage", "required"),
    (_base(dockerimage="bad image"), "dockerimage", "white space"),
    (_base(id="../etc"), "id", "container name"),
    (_base(id="-x"), "id", "container name"),
    (_base(id="   "), "id", "empty"),
    (_base(id="a" * 200), "id", "at most"),
    (_base(sla="twice"), "sla", "singleton"),
    (_base(networkmode="overlay"), "networkmode", "bridge"),
    (_base(ports=[{"host_port": 0, "container_port": 80}]), "ports[0].host_port", "greater than"),
    (_base(ports=[{"host_port": 80, "container_port": 70000}]), "ports[0].container_port",
     "less than"),
    (_base(ports=[{"host_port": 8.5, "container_port": 80}]), "ports[0].host_port", "whole"),
    (_base(ports=[{"host_port": 31000, "container_port": 80},
                  {"host_port": "31000", "container_port": 81}]), "ports", "given twice"),
    (_base(networkmode="host", ports=[{"host_port": 31000, "container_port": 80}]), "ports",
     "networkmode 'bridge'"),
    (_base(volumes=[{"host_path": "data", "container_path": "/data"}]), "volumes[0].host_path",
     "absolute"),
    (_base(volumes=[{"host_path": "/data", "container_path": "data"}]),
     "volumes[0].container_path", "absolute"),
    (_base(volumes=[{"host_path": "/d", "container_path": "/d", "mode": "rx"}]),
     "volumes[0].mode", "'ro' or 'rw'"),
    (_base(memory=100), "memory", "unknown field"),
    (_base(arguments="--vm 1"), "arguments", "JSON list"),
    (_base(env=["A"]), "env", "JSON object"),
    (_base(env={"A=B": "1"}), "env", "environment variable"),
])
def test_bad_input_is_refused_naming_the_field(data, field, words):
    with pytest.raises(SpecError) as caught:
        parse_task(data)
    problems = {p.field: p.problem for p in caught.value.problems}
    assert field in problems, problems
    assert words.lower() in problems[field].lower(), problems[field]


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(SpecError) as caught:
        parse_task(["id", "x"])
    assert "JSON object" in str(caught.value)


def test_every_problem_is_reported_not_just_the_first():
    with pytest.raises(SpecError) as caught:
        parse_task({"id": "", "dockerimage": "", "mem": -1, "sla": "x"})
    assert {p.field for p in caught.value.problems} == {"id", "dockerimage", "mem", "sla"}


def test_the_smallest_sizes_docker_honours_are_accepted():
    spec = parse_task(_base(cpus="0.01", mem="4", disk="1"))
    assert spec.demand() == (0.01, 4.0, 1.0)
    assert parse_task(_base(disk=0)).disk == 0.0


def test_the_placement_key_follows_the_spec_through_copies_and_pickling():
    import pickle

    spec = parse_task(STRESS60)
    renamed = spec.with_id("stress61")
    assert renamed.placement_key is spec.placement_key  # shared: one class in a batch
    bigger = spec.model_copy(update={"cpus": 2.0})
    assert bigger.placement_key[0] == 2.0  # not the old spec's key
    loaded, loaded_renamed = pickle.loads(pickle.dumps([spec, renamed]))
    assert loaded.placement_key == spec.placement_key
    assert loaded_renamed.placement_key is loaded.placement_key
    built = type(spec).model_construct(**{**spec.__dict__, "mem": 300.0})
    assert built.placement_key[1] == 300.0
    with pytest.raises(AttributeError):
        _ = spec.no_such_field
