"""LaunchSpec -> Docker container arguments, and the volume/privilege policy (pure)."""

from __future__ import annotations

import pytest

from executor.container_spec import (
    DEFAULT_PIDS_LIMIT,
    ContainerPolicy,
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
    assert kwargs["memswap_limit"] == kwargs["mem_limit"]  # no swap beyond the limit
    assert kwargs["cpu_quota"] / kwargs["cpu_period"] == 0.5  # a quota: `docker update`able
    assert "nano_cpus" not in kwargs
    assert kwargs["ports"] == {"80/tcp": 31001}
    assert kwargs["volumes"] == {"/data/x": {"bind": "/x", "mode": "ro"}}
    assert kwargs["environment"] == {"BERTH_INSTANCE": "web-1421970700191214531", "A": "1"}
    assert kwargs["network_mode"] == "bridge"
    assert kwargs["name"] == "berth-web-1421970700191214531"
    labels = kwargs["labels"]
    assert labels["berth.task_id"] == "web-1421970700191214531"
    assert labels["berth.framework_id"] == "fw"
    assert labels["berth.agent_id"] == "agent-1"
    assert labels["berth.notmetered"] == "true"
    assert float(labels["berth.mem"]) == 64
    assert labels["berth.elastic"] == "true" and labels["berth.priority"] == "0"


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


# -- volumes resolved for real (issue 9) ---------------------------------------------------


def test_a_symlink_out_of_the_allowed_prefix_is_refused_and_named(tmp_path):
    allowed = tmp_path / "x"
    allowed.mkdir()
    (allowed / "root").symlink_to("/")  # what an earlier task could plant
    task = spec(volumes=(Volume(host_path=str(allowed / "root"), container_path="/h"),))
    refusal = VolumePolicy(allowed=(str(allowed),)).refusal(task)
    assert refusal is not None
    assert f"host path {allowed / 'root'} (which resolves to /)" in refusal


def test_a_symlink_that_stays_inside_binds_its_resolved_target(tmp_path):
    allowed = tmp_path / "x"
    (allowed / "real").mkdir(parents=True)
    (allowed / "link").symlink_to(allowed / "real")
    task = spec(volumes=(Volume(host_path=str(allowed / "link"), container_path="/v",
                                mode="ro"),))
    refusal, binds = VolumePolicy(allowed=(str(allowed),)).check(task)
    assert refusal is None
    assert create_kwargs(task, "a", binds)["volumes"] == {
        str(allowed / "real"): {"bind": "/v", "mode": "ro"}}


def test_allowed_prefixes_are_resolved_too(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    task = spec(volumes=(Volume(host_path=str(tmp_path / "real" / "d"), container_path="/v"),))
    assert VolumePolicy(allowed=(str(tmp_path / "alias"),)).refusal(task) is None


def test_a_path_that_resolves_elsewhere_at_mount_time_is_refused():
    answers = {"/data/v": ["/data/v", "/etc"]}

    def resolve(path: str) -> str:
        return answers[path].pop(0) if path in answers else path
    policy = VolumePolicy(allowed=("/data",), resolve=resolve)
    refusal, binds = policy.check(spec(volumes=(Volume(host_path="/data/v",
                                                       container_path="/v"),)))
    assert refusal is None
    moved = policy.moved(binds)
    assert moved is not None and "host path /data/v changed" in moved and "/etc" in moved


def test_a_resolved_path_with_a_colon_is_refused():
    policy = VolumePolicy(allowed=("/data",), resolve=lambda p: "/data/a:/etc" if p == "/data/a"
                          else p)
    refusal = policy.refusal(spec(volumes=(Volume(host_path="/data/a", container_path="/v"),)))
    assert refusal is not None and "/data/a" in refusal and "':'" in refusal


# -- safer containers by default (issue 9) -------------------------------------------------


def test_containers_are_hardened_by_default():
    kwargs = create_kwargs(spec(), "agent-1")
    assert kwargs["pids_limit"] == DEFAULT_PIDS_LIMIT == 1024
    assert kwargs["security_opt"] == ["no-new-privileges:true"]
    assert kwargs["cap_drop"] == ["AUDIT_WRITE", "MKNOD", "NET_RAW"]
    assert "cap_add" not in kwargs


@pytest.mark.parametrize(("policy", "expected"), [
    (ContainerPolicy(pids_limit=0), {"pids_limit": -1}),
    (ContainerPolicy(pids_limit=64), {"pids_limit": 64}),
    (ContainerPolicy(allow_new_privileges=True), {"security_opt": None}),
    (ContainerPolicy(cap_add=("net_raw",)), {"cap_drop": ["AUDIT_WRITE", "MKNOD"],
                                             "cap_add": None}),
    (ContainerPolicy(cap_add=("CAP_SYS_PTRACE", "NET_ADMIN", "SYS_PTRACE")),
     {"cap_add": ["NET_ADMIN", "SYS_PTRACE"]}),
])
def test_the_operator_overrides_the_defaults(policy, expected):
    kwargs = create_kwargs(spec(), "agent-1", policy=policy)
    for key, value in expected.items():
        assert kwargs.get(key) == value, key


def test_a_task_cannot_raise_the_operators_limits():
    # Nothing a task's spec carries reaches the hardening keys: env, labels and arguments
    # that look like Docker options are data, not options.
    task = spec(env={"pids_limit": "0"}, labels={"security_opt": "x"},
                arguments=("--cap-add", "SYS_ADMIN"))
    hardened = {k: create_kwargs(task, "a")[k] for k in ("pids_limit", "security_opt",
                                                        "cap_drop")}
    assert hardened == {k: create_kwargs(spec(), "a")[k] for k in hardened}
    assert "cap_add" not in create_kwargs(task, "a")


@pytest.mark.parametrize(("fields", "problem"), [
    ({"pids_limit": -1}, "negative"),
    ({"cap_add": ("WIZARDRY",)}, "not a Linux capability"),
])
def test_bad_operator_policies_say_why(fields, problem):
    with pytest.raises(ValueError, match=problem):
        ContainerPolicy(**fields)
