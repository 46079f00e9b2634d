"""JuliaRun's job types as berth jobs: a `submitJob` request's parameters -> a JobSpec.

| JuliaRun | berth |
| --- | --- |
| JuliaBatch | `batch` of one |
| JuliaParBatch | `parallel`: a master plus `nworkers` workers |
| JuliaParBatchWorkers | `array` of `nworkers` units |
| Notebook, MessageQ | `service` of one |
| Webserver | `service` of `nworkers` |
| PkgBuilder | `batch` of one, the bundle's read-write volume mounted |

Each type takes the parameters its constructor documents, with the documented defaults;
any other is refused by name. A container runs `[shell] <executable> <script>` (the
image's `executable` from the configuration; without one the image's own command, the
script then in `JRUN_START_SCRIPT`). Volumes are mounted at `/mnt/<name>`; a port's
service port is the agent's host port. Pure: the configuration and namespace are given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from framework import juliarun_params as p
from framework.juliarun_config import JuliaRunConfig, Volume
from offers.job import JobSpec, JobType, parse_job
from offers.problems import FieldProblem, SpecError
from offers.task import MAX_CPUS, MAX_MEM_MIB, MIN_CPUS, MIN_MEM_MIB

TYPE_LABEL = "juliarun.type"
PORTS_LABEL = "juliarun.ports"
EXTERNAL_LABEL = "juliarun.external"
# Parameters of the HTTP layer, never the job's: authentication and namespace.
NOT_PARAMETERS = frozenset({"jruntok", "jrunns", "namespace"})

_VOLUMES = {"pkg_bundle": None, "additional_volumes": ""}
_PORTS = {"ports": "", "external": "false"}
_PROCESS = {"image": "julia", "cpu": "100m", "gpu": "0", "memory": "512Mi", "shell": None}
_WORKERS = {"worker_cpu": "100m", "worker_gpu": "0", "worker_memory": "512Mi",
            "worker_shell": None, "worker_start_script": "worker.sh"}
_SERVICE = {"additional_volumes": "", "cpu": "100m", "memory": "512Mi", "envvars": "",
            "external": "false"}


@dataclass(frozen=True)
class Kind:
    """One JuliaRun job type: its berth type, required and optional parameters."""

    name: str
    berth: JobType
    required: tuple[str, ...]
    optional: Mapping[str, str | None] = field(default_factory=dict)
    script: str | None = "start_script"  # the parameter the container runs
    workers: bool = False  # has `nworkers` and a scale

    @property
    def parameters(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("JuliaBatch", JobType.BATCH, ("name", "start_script", "run_volume"),
         {**_VOLUMES, **_PORTS, **_PROCESS}),
    Kind("JuliaParBatch", JobType.PARALLEL, ("name", "start_script", "run_volume"),
         {**_VOLUMES, **_PORTS, **_PROCESS, "nworkers": "0", **_WORKERS}, workers=True),
    Kind("JuliaParBatchWorkers", JobType.ARRAY, ("name", "start_script", "run_volume"),
         {**_VOLUMES, **_PORTS, **_PROCESS, "nworkers": "0"}, workers=True),
    Kind("Notebook", JobType.SERVICE, ("name", "run_volume"),
         {**_VOLUMES, **_PROCESS, **_WORKERS, "passwd": None,
          "ports": "nb:8888:8888", "external": "false"}, script=None),
    Kind("PkgBuilder", JobType.BATCH, ("name", "builder_script", "run_volume", "pkg_bundle"),
         {"additional_volumes": "", **_PROCESS, "cpu": "2", "memory": "8Gi"},
         script="builder_script"),
    Kind("Webserver", JobType.SERVICE, ("name", "cfg_file", "run_volume"),
         {**_SERVICE, "image": "nginx", "ports": "http:80:80,https:443:443",
          "nworkers": "1"}, script="cfg_file", workers=True),
    Kind("MessageQ", JobType.SERVICE, ("name", "cfg_file", "run_volume"),
         {**_SERVICE, "image": "rabbitmq:3", "cpu": "1", "memory": "4Gi",
          "ports": "amqptls:5671:5671,amqp:5672:5672,mgmttls:15672:15671,"
                   "mgmt:15672:15672"}, script="cfg_file"),
)}


def kind_of(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise SpecError([FieldProblem("JobType", f"{name!r} is not a JuliaRun job type; "
                                                 f"one of {', '.join(KINDS)}")])
    return kind


class _Reader:
    """Reads one request's parameters, collecting a problem per bad one."""

    def __init__(self, kind: Kind, given: Mapping[str, str], config: JuliaRunConfig):
        self.kind, self.config = kind, config
        self.values = {**kind.optional, **{k: v for k, v in given.items()
                                           if k not in NOT_PARAMETERS}}
        self.problems: list[FieldProblem] = []
        for name in given:
            if name not in kind.parameters and name not in NOT_PARAMETERS:
                self.problem(name, f"unknown parameter of a {kind.name} job; it takes "
                                   f"{', '.join(kind.parameters)}")
        for name in kind.required:
            if not (self.values.get(name) or "").strip():
                self.problem(name, f"is required by a {kind.name} job")

    def problem(self, name: str, text: str) -> None:
        self.problems.append(FieldProblem(name, text))

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def read(self, name: str, reader, fallback: Any = None) -> Any:
        value = self.values.get(name)
        if value is None:
            return fallback
        try:
            return reader(value)
        except ValueError as exc:
            self.problem(name, str(exc))
            return fallback

    def size(self, prefix: str = "") -> tuple[float, float]:
        cpus = self.read(prefix + "cpu", p.cores, 0.1)
        if not MIN_CPUS <= cpus <= MAX_CPUS:
            self.problem(prefix + "cpu", f"must be from {MIN_CPUS:g} to {MAX_CPUS:g} cores")
        mem = self.read(prefix + "memory", p.mebibytes, 512.0)
        if not MIN_MEM_MIB <= mem <= MAX_MEM_MIB:
            self.problem(prefix + "memory", f"must be from {MIN_MEM_MIB:g}Mi to "
                                            f"{MAX_MEM_MIB // 2 ** 20:g}Ti")
        if self.values.get(prefix + "gpu") is not None and \
                self.read(prefix + "gpu", p.quantity, 0) != 0:
            self.problem(prefix + "gpu", "berth's agents offer no GPUs; give 0")
        return cpus, mem

    def image(self) -> tuple[str, str | None]:
        name = self.text("image") or ""
        images = self.config.images
        found = images.get(name) or images.get(name.split(":")[0])
        if found is None:
            known = ", ".join(sorted(images)) or "none: start berth with --config FILE"
            self.problem("image", f"{name!r} is not an image of the configuration "
                                  f"(configured: {known})")
            return "invalid", None
        return found.image, found.executable

    def volume(self, parameter: str, name: str) -> Volume | None:
        volume = self.config.volumes.get(name)
        if volume is None:
            known = ", ".join(sorted(self.config.volumes)) or "none"
            self.problem(parameter, f"{name!r} is not a volume of the configuration's "
                                    f"storage (configured: {known})")
        return volume


def job_from_juliarun(type_name: str, given: Mapping[str, str], config: JuliaRunConfig,
                      namespace: str) -> JobSpec:
    """The berth job a `submitJob/<type>/` request stands for; SpecError names each bad
    parameter (by its JuliaRun name)."""
    kind = kind_of(type_name)
    r = _Reader(kind, given, config)
    name = r.text("name") or "invalid"
    image, executable = r.image()
    cpus, mem = r.size()
    ports = r.read("ports", p.ports, ())
    external = r.read("external", p.boolean, False)
    volumes = _volumes(r, kind, namespace, name)
    env = {"JRUN_NAME": name, "JRUN_JOBTYPE": kind.name, **r.read("envvars", p.envvars, {})}
    bundle = r.text("pkg_bundle")
    if bundle is not None:
        env["JULIA_PKGDIR"] = env["JULIA_LOAD_PATH"] = f"/mnt/{bundle}"
    if r.text("passwd") is not None:
        env["JRUN_PASSWD"] = r.text("passwd") or ""
    run_volume = r.text("run_volume")
    if run_volume:
        env["JRUN_RUN_VOLUME"] = f"/mnt/{run_volume}"
    template = _template(image, executable, r.text("shell"), r.text(kind.script or ""),
                         cpus, mem, env, volumes, ports)
    count = r.read("nworkers", p.whole, 1) if kind.workers else None
    job: dict[str, Any] = {
        "name": name, "type": kind.berth.value, "namespace": namespace,
        "labels": {TYPE_LABEL: kind.name, PORTS_LABEL: p.ports_text(ports),
                   EXTERNAL_LABEL: "true" if external else "false"}}
    if kind.berth is JobType.PARALLEL:
        w_cpus, w_mem = r.size("worker_")
        job["master"] = template
        job["task"] = _template(image, executable, r.text("worker_shell"),
                                r.text("worker_start_script"), w_cpus, w_mem, env,
                                volumes, ())
        job["count"] = count
    else:
        if kind.name == "Notebook":
            r.size("worker_")  # checked only: berth starts no workers for a notebook
        job["task"] = template
        if kind.berth is JobType.BATCH:
            job["completions"] = 1
        else:
            job["count"] = count if count is not None else 1
    if r.problems:
        raise SpecError(r.problems)
    try:
        return parse_job(job)
    except SpecError as exc:  # what berth's own checks say, in JuliaRun's words
        raise SpecError([_renamed(problem) for problem in exc.problems]) from None


def _template(image: str, executable: str | None, shell: str | None,
              script: str | None, cpus: float, mem: float, env: dict[str, str],
              volumes: list[dict[str, str]], ports) -> dict[str, Any]:
    command = [c for c in (shell, executable) if c]
    env = dict(env)
    if script is not None:
        env["JRUN_START_SCRIPT"] = script
        if executable:
            command.append(script)
    return {"dockerimage": image, "cpus": cpus, "mem": mem, "arguments": command,
            "env": env, "volumes": volumes,
            "ports": [{"host_port": x.service, "container_port": x.container}
                      for x in ports]}


def _volumes(r: _Reader, kind: Kind, namespace: str, job: str) -> list[dict[str, str]]:
    wanted: list[tuple[str, str, bool | None]] = []  # parameter, volume, read-only?
    if r.text("run_volume"):
        wanted.append(("run_volume", r.text("run_volume") or "", None))
    for extra in r.read("additional_volumes", p.names, ()):
        wanted.append(("additional_volumes", extra, None))
    bundle = r.text("pkg_bundle")
    if bundle is not None:
        if bundle not in r.config.packages:
            known = ", ".join(r.config.packages) or "none"
            r.problem("pkg_bundle", f"{bundle!r} is not a package bundle of the "
                                    f"configuration (packages: {known})")
        elif kind.name == "PkgBuilder":
            wanted.append(("pkg_bundle", bundle + "rw", False))
        else:
            wanted.append(("pkg_bundle", bundle, True))
    out: list[dict[str, str]] = []
    mounted: set[str] = set()
    for parameter, name, readonly in wanted:
        volume = r.volume(parameter, name)
        if volume is None:
            continue
        # A bundle's read-write volume is mounted where its read-only one would be.
        at = f"/mnt/{name[:-2] if parameter == 'pkg_bundle' and readonly is False else name}"
        if at in mounted:
            r.problem(parameter, f"{name!r} is mounted already")
            continue
        mounted.add(at)
        host = volume.path or f"{r.config.scratchdir}/{namespace}/{job}/{name}"
        ro = volume.readonly if readonly is None else readonly
        out.append({"host_path": host, "container_path": at, "mode": "ro" if ro else "rw"})
    return out


_FIELDS = {"name": "name", "task.dockerimage": "image", "master.dockerimage": "image",
           "task.arguments": "start_script", "task.env": "envvars"}


def _renamed(problem: FieldProblem) -> FieldProblem:
    for prefix, parameter in _FIELDS.items():
        if problem.field.startswith(prefix):
            return FieldProblem(parameter, problem.problem)
    return problem


def juliarun_type(spec: JobSpec | None) -> str | None:
    """The JuliaRun type a job was submitted as; None for berth's other jobs."""
    if spec is None or not spec.labels:
        return None
    return spec.labels.get(TYPE_LABEL)


def endpoint_ports(spec: JobSpec) -> dict[str, int]:
    """Port name -> the service (host) port, as `getJobEndpoint` names them."""
    text = (spec.labels or {}).get(PORTS_LABEL, "")
    return {x.name: x.service for x in p.ports(text)}
