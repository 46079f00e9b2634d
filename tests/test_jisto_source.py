"""Jisto's job sources and drafts as plain data: `env` strings, config.json (numbers as
strings, options), archives read safely (nothing escapes, config.json required), a draft
as the berth job it runs as, and UDP ports published by the container from config.json
through the master's TaskInfo down to Docker's port bindings."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from api.mesos_task_info import launch_from_task_info
from executor.container_spec import VolumePolicy, create_kwargs, ports_from_bindings
from offers.jisto import (
    JistoJob,
    JistoTask,
    JobOptions,
    berth_job_name,
    check_name,
    job_spec,
    parse_env,
    parse_job_source,
)
from offers.jisto_archive import MAX_MEMBERS, read_job_source
from offers.launch import LaunchSpec
from offers.problems import SpecError
from offers.protocol.task_info import task_info

UUID = "1685d125-5a5f-11e6-92b6-005056061e5b"
SEED_EXAMPLE = {  # section 3.2.1.3, as the seed writes it (minus its host-network clash)
    "iterations": "1",
    "options": {"net": "bridged", "privileged": "true",
                "volumes": {"/tmp": "/hosttmp", "/var": "/hostvar"},
                "tcpports": {"8000": "8000"}, "udpports": {"8000": "8000"}},
    "env": "SLEEP_TIME=300;baz=quux"}


def _fields(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [p.field for p in exc.value.problems]


def archive(files: dict[str, bytes], *, gz: bool = True,
            members: list[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for member in members:
            tar.addfile(member)
    return buffer.getvalue()


def config(data: dict) -> bytes:
    return archive({"config.json": json.dumps(data).encode()})


# -- env ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "env"), [
    ("SLEEP_TIME=300;baz=quux", {"SLEEP_TIME": "300", "baz": "quux"}),
    ("A=1;", {"A": "1"}),
    ("", {}),
    ("URL=http://x/?a=b", {"URL": "http://x/?a=b"}),  # the first `=` splits
    ("EMPTY=", {"EMPTY": ""}),
])
def test_env_strings_as_the_seed_writes_them(text, env):
    assert parse_env(text) == env


@pytest.mark.parametrize("text", ["A", "=1", "1A=2", "A B=1", "A=1;;B"])
def test_an_env_piece_that_is_not_name_value_is_refused_by_name(text):
    if text == "A=1;;B":
        with pytest.raises(ValueError, match="'B'"):
            parse_env(text)
        return
    with pytest.raises(ValueError, match="NAME=value"):
        parse_env(text)


# -- config.json -------------------------------------------------------------------------


def test_the_seed_example_config_parses_with_its_strings():
    source = parse_job_source(SEED_EXAMPLE)
    assert source.iterations == 1
    assert source.options.privileged is True
    assert not source.options.host_network
    assert source.options.tcpports == {8000: 8000} and source.options.udpports == {8000: 8000}
    assert source.all_env == {"SLEEP_TIME": "300", "baz": "quux"}
    assert parse_job_source({"iterations": "20", "jobName": "Hello World!"}).jobName == \
        "Hello World!"


def test_env_in_options_wins_over_the_top_level():
    source = parse_job_source({"iterations": 2, "env": "A=1;B=1",
                               "options": {"env": "B=2"}})
    assert source.all_env == {"A": "1", "B": "2"}


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "twenty", "", True, None, [], "100001"])
def test_iterations_that_is_not_a_positive_whole_number_is_refused(value):
    with pytest.raises(SpecError) as exc:
        parse_job_source({"iterations": value})
    assert _fields(exc) == ["iterations"]


@pytest.mark.parametrize(("data", "field"), [
    ({}, "iterations"),
    ({"iterations": "1", "jobname": "x"}, "jobname"),
    ({"iterations": "1", "options": {"privileged": "yes"}}, "options.privileged"),
    ({"iterations": "1", "options": {"volumes": {"tmp": "/x"}}}, "options.volumes.tmp"),
    ({"iterations": "1", "options": {"tcpports": {"http": "80"}}}, "options.tcpports.http"),
    ({"iterations": "1", "options": {"udpports": {"53": "70000"}}}, "options.udpports.53"),
    ({"iterations": "1", "options": {"net": "host", "udpports": {"53": "53"}}},
     "options.udpports"),
    ({"iterations": "1", "env": "NOPE"}, "env"),
    ({"iterations": "1", "options": {"colour": "red"}}, "options.colour"),
])
def test_a_bad_config_names_its_field(data, field):
    with pytest.raises(SpecError) as exc:
        parse_job_source(data)
    assert field in _fields(exc)


# -- archives -----------------------------------------------------------------------------


def test_an_archive_with_config_json_gives_its_job_source():
    data = archive({"config.json": json.dumps(SEED_EXAMPLE).encode(), "README": b"hi"})
    assert read_job_source(data).iterations == 1
    assert read_job_source(archive({"./config.json": b'{"iterations": "3"}'})).iterations == 3
    assert read_job_source(archive({"config.json": b'{"iterations": "2"}'}, gz=False)
                           ).iterations == 2


@pytest.mark.parametrize(("data", "field", "words"), [
    (archive({"other.json": b"{}"}), "config.json", "no config.json"),
    (archive({"sub/config.json": b'{"iterations": "1"}'}), "config.json", "top level"),
    (archive({"config.json": b"{not json"}), "config.json", "not JSON"),
    (archive({"config.json": b"\xff\xfe"}), "config.json", "not JSON"),
    (b"this is no archive", "archive", "not a tar.gz"),
    (b"\x1f\x8b\x08\x00garbage", "archive", "not a tar.gz"),
    (b"", "archive", "not a tar.gz"),
])
def test_an_archive_without_a_readable_config_json_is_refused(data, field, words):
    with pytest.raises(SpecError) as exc:
        read_job_source(data)
    assert _fields(exc) == [field]
    assert words in str(exc.value)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


@pytest.mark.parametrize(("data", "words"), [
    (archive({"config.json": b'{"iterations": "1"}', "../evil": b"x"}), "out of the archive"),
    (archive({"../config.json": b'{"iterations": "1"}'}), "out of the archive"),
    (archive({"a/../../config.json": b'{"iterations": "1"}'}), "out of the archive"),
    (archive({"/etc/config.json": b'{"iterations": "1"}'}), "absolute"),
    (archive({"config.json": b'{"iterations": "1"}'}, members=[_link("up", "../../etc")]),
     "links out"),
    (archive({"config.json": b'{"iterations": "1"}'}, members=[_link("root", "/")]),
     "absolute"),
    (archive({"config.json": b'{"iterations": "1"}'}, members=[_device("tty")]),
     "special file"),
])
def test_an_entry_that_escapes_the_archive_refuses_it_whole(data, words):
    with pytest.raises(SpecError) as exc:
        read_job_source(data)
    assert _fields(exc) == ["archive"]
    assert words in str(exc.value)


def test_an_archive_that_unpacks_into_too_much_is_refused():
    many = archive({f"f{i}": b"" for i in range(MAX_MEMBERS + 1)})
    with pytest.raises(SpecError, match="entries"):
        read_job_source(many)
    bomb = archive({"zeros": bytes(20 * 1024 * 1024)})  # compresses to about 20 KiB
    assert len(bomb) < 100_000
    with pytest.raises(SpecError, match="unpacks to more than"):
        read_job_source(bomb)


# -- drafts as berth jobs ----------------------------------------------------------------


def test_the_berth_job_name_is_valid_and_carries_the_short_uuid():
    assert berth_job_name("Hello World!", UUID) == "Hello-World-1685d125"
    assert berth_job_name("MyJob", UUID) == "MyJob-1685d125"
    assert berth_job_name("...", UUID) == "jisto-1685d125"
    assert berth_job_name("x" * 300, UUID) == "x" * 64 + "-1685d125"
    assert berth_job_name("ünïcode jöb", UUID) == "n-code-j-b-1685d125"


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "x" * 256, 7, None])
def test_a_job_name_must_be_text_to_show(name):
    with pytest.raises(ValueError):
        check_name(name)


def _draft(*tasks: JistoTask, options: JobOptions | None = None) -> JistoJob:
    return JistoJob(UUID, "MyJob", "default", 0.0, tasks, options)


def test_the_same_image_added_20_times_is_20_iterations_of_one_template():
    spec = job_spec(_draft(*(JistoTask(f"t{i}", "berth/busybox") for i in range(20))))
    assert spec.type == "batch" and spec.name == "MyJob-1685d125"
    assert [(t.dockerimage, t.count) for t in spec.tasks] == [("berth/busybox", 20)]


def test_several_images_and_envs_make_a_template_each_in_the_order_added():
    spec = job_spec(_draft(
        JistoTask("1", "stress", (("SLEEP_TIME", "300"),)), JistoTask("2", "berth/busybox"),
        JistoTask("3", "stress", (("SLEEP_TIME", "300"),)), JistoTask("4", "stress"),
        JistoTask("5", "berth/busybox", count=5)))
    assert [(t.dockerimage, t.env, t.count) for t in spec.tasks] == [
        ("stress", {"SLEEP_TIME": "300"}, 2), ("berth/busybox", {}, 6), ("stress", {}, 1)]


def test_a_draft_without_a_task_cannot_run():
    with pytest.raises(SpecError) as exc:
        job_spec(_draft())
    assert "no task" in str(exc.value)


def test_the_options_reach_every_template():
    source = parse_job_source(SEED_EXAMPLE)
    spec = job_spec(_draft(JistoTask("1", "a"), JistoTask("2", "b"),
                           options=source.options))
    for template in spec.tasks:
        assert template.privileged
        assert template.networkmode == "bridge"
        assert [(v.host_path, v.container_path, v.mode) for v in template.volumes] == [
            ("/tmp", "/hosttmp", "rw"), ("/var", "/hostvar", "rw")]
        assert {(p.host_port, p.container_port, p.protocol) for p in template.ports} == {
            (8000, 8000, "tcp"), (8000, 8000, "udp")}
    host = parse_job_source({"iterations": "1", "options": {"net": "host"}})
    assert job_spec(_draft(JistoTask("1", "a"), options=host.options)).tasks[0] \
        .networkmode == "host"


def test_udp_ports_from_config_json_are_published_as_udp_by_docker():
    """config.json -> job template -> the framework's TaskInfo -> the master's launch ->
    the agent's container arguments: `53/udp` bound to the host port."""
    source = parse_job_source({"iterations": "1", "options": {
        "udpports": {"5353": "53"}, "tcpports": {"8080": "80"}}})
    template = job_spec(_draft(JistoTask("1", "berth/busybox"), options=source.options)
                        ).tasks[0]
    spec = LaunchSpec.from_task("t-1", "fw", template.model_copy(update={"id": "t"}))
    launch = launch_from_task_info(task_info(spec, "agent-1"), "fw")
    kwargs = create_kwargs(launch.spec, "agent-1")
    assert kwargs["ports"] == {"53/udp": 5353, "80/tcp": 8080}
    # An agent that restarts adopts the container with both host ports taken:
    assert ports_from_bindings({"53/udp": [{"HostIp": "", "HostPort": "5353"}],
                                "80/tcp": [{"HostIp": "", "HostPort": "8080"}]}) == {5353, 8080}


def test_privileged_and_host_volumes_meet_the_agents_policy():
    """What a job source asks for is the agent's to allow: refused by default."""
    source = parse_job_source(SEED_EXAMPLE)
    template = job_spec(_draft(JistoTask("1", "a"), options=source.options)).tasks[0]
    spec = LaunchSpec.from_task("t-1", "fw", template.model_copy(update={"id": "t"}))
    assert "privileged" in VolumePolicy().refusal(spec)
    unprivileged = spec.model_copy(update={"privileged": False})
    assert "may not be mounted" in VolumePolicy().refusal(unprivileged)
    allowed = VolumePolicy(allowed=("/",), allow_privileged=True, resolve=lambda p: p)
    assert allowed.refusal(spec) is None
