"""JuliaRun's configuration file (its "Configuration" section), as far as it applies to
berth: `log`, `images`, `storage` (`hostpath` and `scratch` volumes) and `packages`.

The keys that configured JuliaRun's Kubernetes backend (`clustertype`, `compute`,
`accounting`...) are accepted and ignored, so an existing file loads as it is: berth is
the cluster. The cloud storage kinds are refused by name (none is reachable from here);
anything else unknown is refused by name too. Comments (`// ...`), which the seed's sample
file carries, are allowed.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from offers.problems import FieldProblem, SpecError, problems_from

# The keys of JuliaRun's backend: berth is the cluster, so they say nothing here.
IGNORED = ("clustertype", "externalsvc", "loggertype", "compute", "accountingtype",
           "accounting", "scalingtype", "kuberscaler")
CLOUD_STORAGE = ("glusterfs", "nfs", "azurefs", "azuredisk", "gitrepo", "gce", "ebs")
VOLUME_NAME = r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$"
DEFAULT_SCRATCH = "/tmp/berth-juliarun-scratch"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"] = "INFO"
    filename: str | None = None  # relative to the file's folder; none: berth's own log


class Image(_Strict):
    """An abstract image name's Docker image; a job's container runs
    `<executable> <start_script>` (the image's own command when there is no executable)."""

    image: str = Field(min_length=1, max_length=512, pattern=r"^\S+$")
    executable: str | None = Field(None, min_length=1)
    juliaver: str | None = None


class HostPath(_Strict):
    name: str = Field(pattern=VOLUME_NAME)
    path: str
    readonly: bool = False

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/") or ":" in path or "\x00" in path:
            raise ValueError(f"{path!r} is not an absolute host path without ':'")
        return path


class Scratch(_Strict):
    """Temporary storage from the host: a folder of its own per job, under `scratchdir`."""

    name: str = Field(pattern=VOLUME_NAME)
    readonly: bool = False


class Storage(_Strict):
    hostpath: tuple[HostPath, ...] = ()
    scratch: tuple[Scratch, ...] = ()


class Volume(_Strict):
    """A volume as a job mounts it: at `/mnt/<name>`."""

    name: str
    kind: Literal["hostpath", "scratch"]
    path: str | None  # a hostpath's; a scratch volume's is made per job
    readonly: bool


class JuliaRunConfig(_Strict):
    model_config = ConfigDict(extra="allow", frozen=True)

    log: LogConfig = LogConfig()
    images: dict[str, Image] = Field(default_factory=dict)
    storage: Storage = Storage()
    packages: tuple[str, ...] = ()
    # berth's own: where scratch volumes' folders are made (agents must allow it).
    scratchdir: str = DEFAULT_SCRATCH

    @model_validator(mode="after")
    def _whole(self) -> JuliaRunConfig:
        unknown = [key for key in self.model_extra or {} if key not in IGNORED]
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown configuration key; berth reads log, "
                             "images, storage, packages and scratchdir (and ignores "
                             f"{', '.join(IGNORED)})")
        names = [v.name for v in (*self.storage.hostpath, *self.storage.scratch)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"storage: volume name {twice[0]!r} is given twice; names "
                             "must be unique across storage kinds")
        for package in self.packages:
            for needed in (package, package + "rw"):
                if needed not in names:
                    raise ValueError(f"packages: bundle {package!r} needs a volume named "
                                     f"{needed!r} in storage (read-only {package!r} and "
                                     f"read-write {package + 'rw'!r})")
        if not self.scratchdir.startswith("/"):
            raise ValueError(f"scratchdir: {self.scratchdir!r} is not an absolute path")
        return self

    @property
    def volumes(self) -> dict[str, Volume]:
        out = {v.name: Volume(name=v.name, kind="hostpath", path=v.path,
                              readonly=v.readonly) for v in self.storage.hostpath}
        out.update({v.name: Volume(name=v.name, kind="scratch", path=None,
                                   readonly=v.readonly) for v in self.storage.scratch})
        return out

    @property
    def ignored(self) -> list[str]:
        return sorted(self.model_extra or {})

    def host_paths(self) -> list[str]:
        """What an agent must allow for this configuration's volumes to mount."""
        paths = [v.path for v in self.storage.hostpath]
        paths += [self.scratchdir] if self.storage.scratch else []
        return list(dict.fromkeys(paths))


_COMMENT = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*')


def parse_config(text: str) -> JuliaRunConfig:
    """The configuration in `text` (JSON, `//` comments allowed); SpecError names every
    problem by field."""
    try:
        data: Any = json.loads(_COMMENT.sub(lambda m: m.group(1) or "", text))
    except json.JSONDecodeError as exc:
        raise SpecError([FieldProblem("", f"not JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "the configuration must be a JSON object")])
    problems = _storage_kinds(data.get("storage"))
    if problems:
        raise SpecError(problems)
    try:
        return JuliaRunConfig.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc)) from None


def _storage_kinds(storage: Any) -> list[FieldProblem]:
    """The storage kinds berth cannot mount, each named."""
    if not isinstance(storage, dict):
        return []
    return [FieldProblem(f"storage.{kind}", f"{kind} volumes are not reachable from "
                                            "berth's agents; use hostpath or scratch "
                                            "volumes" if kind in CLOUD_STORAGE else
                         "unknown storage kind; berth knows hostpath and scratch")
            for kind in storage if kind not in ("hostpath", "scratch")]
