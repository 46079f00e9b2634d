"""JuliaRun's job types as berth jobs (framework/juliarun.py): each type's berth type,
its documented defaults, the container's command from the configured image, volumes at
/mnt/<name>, and every bad parameter refused by its JuliaRun name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.juliarun import KINDS, endpoint_ports, job_from_juliarun, juliarun_type
from framework.juliarun_config import parse_config
from offers.job import JobType
from offers.problems import SpecError

CONFIG = parse_config("""{
    "images": {"julia": {"image": "berth/busybox", "executable": "sh"},
               "nginx": {"image": "web/nginx", "executable": "/usr/sbin/nginx"},
               "rabbitmq": {"image": "mq/rabbit"}},
    "storage": {"hostpath": [{"name": "juliarun", "path": "/srv/jr"},
                             {"name": "data", "path": "/srv/data", "readonly": true},
                             {"name": "pkgdefault", "path": "/srv/pkg", "readonly": true},
                             {"name": "pkgdefaultrw", "path": "/srv/pkg"}],
                "scratch": [{"name": "empty"}]},
    "packages": ["pkgdefault"]
}""")
BASE = {"name": "hello", "start_script": "/mnt/juliarun/hello.jl", "run_volume": "juliarun"}


def job(kind: str, **params: str):
    return job_from_juliarun(kind, params, CONFIG, "default")


def problems(kind: str, **params: str) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        job(kind, **params)
    return {p.field: p.problem for p in caught.value.problems}


def test_julia_batch_is_a_batch_of_one_with_the_documented_defaults():
    spec = job("JuliaBatch", **BASE)
    assert spec.type is JobType.BATCH and spec.completions == 1
    task = spec.task
    assert (task.cpus, task.mem) == (0.1, 512.0)  # "100m", "512Mi"
    assert task.dockerimage == "berth/busybox"
    assert task.arguments == ("sh", "/mnt/juliarun/hello.jl")  # <executable> <script>
    assert [(v.host_path, v.container_path, v.mode) for v in task.volumes] == [
        ("/srv/jr", "/mnt/juliarun", "rw")]
    assert task.ports == ()
    assert task.env["JRUN_JOBTYPE"] == "JuliaBatch"
    assert juliarun_type(spec) == "JuliaBatch"


def test_julia_par_batch_is_a_master_and_nworkers():
    spec = job("JuliaParBatch", **BASE, nworkers="2", cpu="1", memory="2Gi",
               worker_cpu="250m", worker_memory="256Mi",
               worker_start_script="/mnt/juliarun/worker.jl", pkg_bundle="pkgdefault")
    assert spec.type is JobType.PARALLEL and spec.count == 2
    assert (spec.master.cpus, spec.master.mem) == (1.0, 2048.0)
    assert (spec.task.cpus, spec.task.mem) == (0.25, 256.0)
    assert spec.master.arguments == ("sh", "/mnt/juliarun/hello.jl")
    assert spec.task.arguments == ("sh", "/mnt/juliarun/worker.jl")
    bundle = [v for v in spec.task.volumes if v.container_path == "/mnt/pkgdefault"]
    assert [(v.host_path, v.mode) for v in bundle] == [("/srv/pkg", "ro")]
    assert spec.task.env["JULIA_LOAD_PATH"] == "/mnt/pkgdefault"


def test_julia_par_batch_workers_is_an_array_of_nworkers_defaulting_to_none():
    assert job("JuliaParBatchWorkers", **BASE, nworkers="5").type is JobType.ARRAY
    assert job("JuliaParBatchWorkers", **BASE, nworkers="5").count == 5
    assert job("JuliaParBatchWorkers", **BASE).count == 0


def test_services_have_their_documented_ports_and_sizes():
    web = job("Webserver", name="web", cfg_file="/mnt/juliarun/nginx.conf",
              run_volume="juliarun")
    assert web.type is JobType.SERVICE and web.count == 1
    assert web.task.arguments == ("/usr/sbin/nginx", "/mnt/juliarun/nginx.conf")
    assert endpoint_ports(web) == {"http": 80, "https": 443}
    assert {(m.container_port, m.host_port) for m in web.task.ports} == {(80, 80),
                                                                         (443, 443)}
    mq = job("MessageQ", name="mq", cfg_file="/mnt/juliarun/mq.conf", run_volume="juliarun",
             envvars="RABBITMQ_NODENAME=rabbit")
    assert (mq.task.cpus, mq.task.mem) == (1.0, 4096.0)
    assert mq.task.dockerimage == "mq/rabbit"  # "rabbitmq:3" is the abstract "rabbitmq"
    assert mq.task.arguments == ()  # no executable configured: the image's own command
    assert mq.task.env["JRUN_START_SCRIPT"] == "/mnt/juliarun/mq.conf"
    assert mq.task.env["RABBITMQ_NODENAME"] == "rabbit"
    assert endpoint_ports(mq) == {"amqptls": 5671, "amqp": 5672, "mgmttls": 15671,
                                  "mgmt": 15672}
    nb = job("Notebook", name="nb", run_volume="juliarun", passwd="s3cret")
    assert nb.type is JobType.SERVICE and endpoint_ports(nb) == {"nb": 8888}
    assert nb.task.env["JRUN_PASSWD"] == "s3cret" and nb.task.arguments == ("sh",)
    assert juliarun_type(nb) == "Notebook"


def test_a_webserver_scales_by_nworkers_and_ports_can_be_given():
    web = job("Webserver", name="web", cfg_file="c", run_volume="juliarun", nworkers="3",
              ports="8080,https:8443:31443", external="true")
    assert web.count == 3
    assert endpoint_ports(web) == {"port8080": 8080, "https": 31443}
    assert web.labels["juliarun.external"] == "true"


def test_pkg_builder_mounts_the_bundles_read_write_volume():
    spec = job("PkgBuilder", name="build", builder_script="/mnt/juliarun/build.jl",
               run_volume="juliarun", pkg_bundle="pkgdefault")
    assert spec.type is JobType.BATCH
    assert (spec.task.cpus, spec.task.mem) == (2.0, 8192.0)  # "2", "8Gi"
    bundle = [v for v in spec.task.volumes if v.container_path == "/mnt/pkgdefault"]
    assert [(v.host_path, v.mode) for v in bundle] == [("/srv/pkg", "rw")]
    assert spec.task.arguments == ("sh", "/mnt/juliarun/build.jl")


def test_volumes_mount_at_mnt_name_with_their_configured_mode():
    spec = job("JuliaBatch", **BASE, additional_volumes="data,empty")
    mounts = {v.container_path: (v.host_path, v.mode) for v in spec.task.volumes}
    assert mounts["/mnt/data"] == ("/srv/data", "ro")
    assert mounts["/mnt/empty"] == (
        f"{CONFIG.scratchdir}/default/hello/empty", "rw")  # a folder of its own per job


def test_a_shell_wraps_the_command():
    spec = job("JuliaBatch", **BASE, shell="/mnt/juliarun/master.sh")
    assert spec.task.arguments == ("/mnt/juliarun/master.sh", "sh", "/mnt/juliarun/hello.jl")


def test_every_documented_parameter_is_accepted():
    values = {"cpu": "1", "memory": "1Gi", "worker_cpu": "1", "worker_memory": "1Gi",
              "gpu": "0", "worker_gpu": "0", "ports": "80", "external": "false",
              "nworkers": "1", "image": "julia", "pkg_bundle": "pkgdefault",
              "additional_volumes": "data", "envvars": "A=1", "passwd": "x"}
    for kind in KINDS.values():
        params = {name: values.get(name, "/mnt/juliarun/x") for name in kind.parameters}
        params.update(name="j", run_volume="juliarun")
        if kind.name in ("Webserver", "MessageQ"):
            params["image"] = "nginx"
        spec = job_from_juliarun(kind.name, params, CONFIG, "team")
        assert spec.type is kind.berth and spec.namespace == "team", kind.name


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"bogus": "1"}, "bogus", "unknown parameter of a JuliaBatch job"),
    ({"nworkers": "2"}, "nworkers", "unknown parameter"),  # a JuliaBatch has no workers
    ({"memory": "12Qi"}, "memory", "not a quantity"),
    ({"memory": "1Ki"}, "memory", "must be from"),
    ({"cpu": "lots"}, "cpu", "not a quantity"),
    ({"cpu": "1000000"}, "cpu", "must be from"),
    ({"gpu": "1"}, "gpu", "no GPUs"),
    ({"ports": "http:80:80:80"}, "ports", "name:container:service"),
    ({"external": "perhaps"}, "external", "true or false"),
    ({"image": "julia-9"}, "image", "not an image of the configuration"),
    ({"run_volume": "nowhere"}, "run_volume", "not a volume"),
    ({"additional_volumes": "juliarun"}, "additional_volumes", "mounted already"),
    ({"pkg_bundle": "other"}, "pkg_bundle", "not a package bundle"),
    ({"start_script": ""}, "start_script", "is required"),
    ({"name": "bad name!"}, "name", "container name"),
])
def test_bad_parameters_are_named(params, field, words):
    found = problems("JuliaBatch", **{**BASE, **params})
    assert field in found and words in found[field], found


def test_an_unknown_job_type_is_named():
    assert "not a JuliaRun job type" in problems("JuliaQuantum", **BASE)["JobType"]


def test_without_a_configuration_no_image_is_known():
    with pytest.raises(SpecError) as caught:
        job_from_juliarun("JuliaBatch", BASE, parse_config("{}"), "default")
    found = {p.field: p.problem for p in caught.value.problems}
    assert "--config" in found["image"]


def test_authentication_parameters_are_not_job_parameters():
    spec = job("JuliaBatch", **BASE, jruntok="abc", jrunns="team")
    assert spec.namespace == "default"  # the namespace is the caller's to choose (api/)


_VALUES = st.one_of(st.sampled_from(["", "0", "1", "100m", "512Mi", "2Gi", "12Qi", "-1",
                                     "true", "maybe", "juliarun", "data", "empty",
                                     "pkgdefault", "http:80:80", "80,443", "a:b:c:d",
                                     "A=1", "julia", "/mnt/juliarun/x.jl"]),
                    st.text(max_size=12))


@given(st.sampled_from(sorted(KINDS)),
       st.dictionaries(st.sampled_from(sorted({n for k in KINDS.values()
                                               for n in k.parameters} | {"bogus"})),
                       _VALUES, max_size=12))
def test_every_refusal_names_a_parameter_the_caller_sent_or_must_send(kind, params):
    """Whatever is sent, the answer is a job of the type's berth type or problems each
    named by a JuliaRun parameter (never by berth's internal field paths)."""
    try:
        spec = job_from_juliarun(kind, params, CONFIG, "default")
    except SpecError as exc:
        allowed = {*KINDS[kind].parameters, *params, "JobType"}
        assert exc.problems
        assert {p.field for p in exc.problems} <= allowed, exc.problems
    else:
        assert spec.type is KINDS[kind].berth and juliarun_type(spec) == kind
