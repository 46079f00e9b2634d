"""LaunchSpec -> Docker container arguments, and the volume/privilege policy (pure)."""

from __future__ import annotations

import pytest

from executor.container_spec import (
    VolumePolicy,
    container_name,
    create_kwargs,
    port_clash_reason,
    ports_from_bindings,
)
from offers.launch import LaunchSpec
from offers.task import NetworkMode, PortMapping, Volume


def spec(**fields) -> LaunchSpec:
    base = dict(task_id="web-1421970700191214531", framework_id="fw", name="web",
                image="berth/busybox:latest", cpus=0.5, mem=64)
    base.update(fields)
    return LaunchSpec(**base)


@pytest.mark.parametrize(("fields", "entrypoint", "command"), [
    ({}, None, None),
    ({"arguments": ("--vm-bytes", "60M", "--vm", "1")}, None, ["--vm-bytes", "60M", "--vm", "1"]),
    ({"shell": True, "command": "httpd -f -p 80"}, ["/bin/sh", "-c"], ["httpd -f -p 80"]),
    ({"command": "/bin/sleep", "arguments": ("5",)}, ["/bin/sleep"], ["5"]),
])
def test_command_info_maps_like_mesos(fields, entrypoint, command):
    kwargs = create_kwargs(spec(**fields), "agent-1")
    assert kwargs.get("entrypoint") == entrypoint
    assert kwargs.get("command") == command


def test_resources_ports_volumes_env_and_labels_reach_the_container():
    kwargs = create_kwargs(spec(
        ports=(PortMapping(host_port=31001, container_port=80),),
        volumes=(Volume(host_path="/data/x", container_path="/x", mode="ro"),),
        env={"A": "1"}, notmetered=True), "agent-1")
    assert kwargs["mem_limit"] == 64 * 1024 * 1024
    assert kwargs["nano_cpus"] == 500_000_000
    assert kwargs["ports"] == {"80/tcp": 31001}
    assert kwargs["volumes"] == {"/data/x": {"bind": "/x", "mode": "ro"}}
    assert kwargs["environment"] == {"A": "1"}
    assert kwargs["network_mode"] == "bridge"
    assert kwargs["name"] == "berth-web-1421970700191214531"
    labels = kwargs["labels"]
    assert labels["berth.task_id"] == "web-1421970700191214531"
    assert labels["berth.framework_id"] == "fw"
    assert labels["berth.agent_id"] == "agent-1"
    assert labels["berth.notmetered"] == "true"
    assert float(labels["berth.mem"]) == 64


def test_host_network_publishes_nothing():
    assert "ports" not in create_kwargs(spec(network=NetworkMode.HOST), "a")


@pytest.mark.parametrize(("allowed", "host_path", "ok"), [
    ((), "/data", False),
    (("/data",), "/data", True),
    (("/data",), "/data/sub/dir", True),
    (("/data",), "/database", False),
    (("/data/",), "/data/x/../../etc", False),
    (("/",), "/anything", True),
])
def test_host_paths_only_under_allowed_prefixes(allowed, host_path, ok):
    task = spec(volumes=(Volume(host_path=host_path, container_path="/v"),))
    refusal = VolumePolicy(allowed=allowed).refusal(task)
    assert (refusal is None) == ok
    if not ok:
        assert host_path in refusal


def test_privileged_needs_the_operator():
    assert "privileged" in VolumePolicy().refusal(spec(privileged=True))
    assert VolumePolicy(allow_privileged=True).refusal(spec(privileged=True)) is None


def test_port_clash_names_the_port():
    task = spec(ports=(PortMapping(host_port=31001, container_port=80),))
    reason = port_clash_reason(task, "driver failed programming external connectivity: "
                                     "Bind for 0.0.0.0:31001 failed: port is already allocated")
    assert reason.startswith("host port 31001 is already in use on this node")
    assert port_clash_reason(task, "no such network") is None


def test_names_and_bindings():
    assert container_name("a b/c") == "berth-a_b_c"
    assert ports_from_bindings({"80/tcp": [{"HostIp": "", "HostPort": "31001"}],
                                "81/tcp": None}) == {31001}
