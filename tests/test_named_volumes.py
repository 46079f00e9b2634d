"""Named Docker volumes in a task's spec (offers/task.py `Volume.name`): one source or the
other, carried framework -> master as Mesos's DOCKER_VOLUME source, and handed to Docker
by name (no host path check: the engine owns it)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.mesos_task_info import launch_from_task_info
from executor.container_spec import VolumePolicy, create_kwargs
from offers.launch import LaunchSpec
from offers.protocol.task_info import task_info
from offers.task import Volume


def _spec(*volumes: Volume) -> LaunchSpec:
    return LaunchSpec(task_id="gen.2", framework_id="f", name="gen", image="berth/busybox",
                      cpus=0.1, mem=16, volumes=volumes)


@pytest.mark.parametrize("fields", [
    {"container_path": "/media/x"},
    {"container_path": "/media/x", "name": "v", "host_path": "/srv"},
    {"container_path": "/media/x", "name": "../etc"},
    {"container_path": "relative", "name": "v"},
])
def test_a_volume_has_exactly_one_valid_source(fields):
    with pytest.raises(ValidationError):
        Volume(**fields)


def test_a_named_volume_goes_through_the_master_and_to_docker_by_name():
    named = Volume(name="berth-gen-data-1", container_path="/media/data")
    host = Volume(host_path="/srv/shared", container_path="/shared", mode="ro")
    info = task_info(_spec(named, host), "a1")
    assert info["container"]["volumes"][0] == {
        "container_path": "/media/data", "mode": "RW",
        "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "berth-gen-data-1"}}}
    back = launch_from_task_info(info, "f")
    assert back.spec.volumes == (named, host)
    why, binds = VolumePolicy(allowed=("/srv",)).check(back.spec)
    assert why is None
    assert VolumePolicy(allowed=("/srv",)).moved(binds) is None
    kwargs = create_kwargs(back.spec, "a1", binds)
    assert kwargs["volumes"]["berth-gen-data-1"] == {"bind": "/media/data", "mode": "rw"}
