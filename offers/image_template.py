"""Jisto's image templates (seed 000, sections 3.1 and 6.4): a tar.gz holding `config.json`
(`name`, `installsource`, `installdestination`, `workingdir`, `buildfile`, `runfile`), the
build and run scripts and the application's files, read and checked in memory, and the
build context (a generated Dockerfile beside the files) made from it.

Nothing is extracted to disk: the members are walked with the same safety rules as a Jisto
job source (`offers.jisto_archive.safe_members`: no `../`, no absolute paths, no links
out, no devices) and kept as bytes. Every refusal is a SpecError naming what is wrong, so
the upload is a clear 4xx and nothing is built.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from dataclasses import dataclass
from typing import Any

from offers.jisto_archive import CONFIG, MAX_CONFIG, decode_config, safe_members
from offers.problems import FieldProblem, SpecError

MAX_TEMPLATE = 64 * 1024 * 1024  # bytes of the tar.gz as sent (the operator may change it)
MAX_TEMPLATE_UNPACKED = 256 * 1024 * 1024
MAX_TEMPLATE_MEMBERS = 10_000
FIELDS = ("name", "installsource", "installdestination", "workingdir", "buildfile",
          "runfile")
DEFAULT_BASE = "berth/busybox"
APP_DIR = "app"  # where the template's files sit in the build context
RUNFILE_NOT_EXECUTABLE = "berth: runfile is not executable after the build"

# Docker's reference grammar (distribution/reference): path components of lowercase
# letters and digits joined by separators, an optional tag; no domain in a name berth
# keeps (its registry is the domain).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
MAX_NAME = 255


def _problem(field: str, message: str) -> SpecError:
    return SpecError([FieldProblem(field, message)])


def image_name_problem(text: Any) -> str | None:
    """Why Docker would refuse `text` as an image name here (`path[:tag]`), or None."""
    if not isinstance(text, str) or not text:
        return "must be a non-empty string like `stress` or `team/stress:1.0`"
    path, colon, tag = text.rpartition(":") if ":" in text else (text, "", "")
    if "@" in text:
        return "a digest (`@sha256:...`) cannot name a built image; give a tag"
    if colon and not _TAG.fullmatch(tag):
        return f"tag {tag!r} is not valid: letters, digits, `_`, `.`, `-`, at most 128"
    if len(path) > MAX_NAME:
        return f"is {len(path)} characters; at most {MAX_NAME}"
    if path != path.lower() and _PATH.fullmatch(path.lower()):
        return "repository name must be lowercase"
    first = path.split("/", 1)[0]
    if "/" in path and ("." in first or first == "localhost"):
        return "must not name a registry: berth pushes to its own"
    if not _PATH.fullmatch(path):
        return ("is not a valid repository name: lowercase letters and digits, "
                "separated by `.`, `_`, `__` or `-`, components joined by `/`")
    return None


def normal_name(text: str) -> str:
    """`path:tag` with Docker's default tag (`stress` -> `stress:latest`)."""
    last = text.rsplit("/", 1)[-1]
    return text if ":" in last else f"{text}:latest"


def image_key(reference: str, registry: str | None) -> str:
    """The name berth keeps an image under for a task's `image`: the tag made explicit,
    berth's own registry (`registry`, host:port) left out."""
    if registry and reference.startswith(f"{registry}/"):
        reference = reference[len(registry) + 1:]
    return normal_name(reference)


@dataclass(frozen=True)
class TemplateConfig:
    name: str  # path:tag
    installsource: str  # a folder of the archive, "." for its top
    installdestination: str  # absolute path in the image
    workingdir: str  # absolute path in the image
    buildfile: str  # relative to installsource
    runfile: str  # relative to installsource

    def in_image(self, relative: str) -> str:
        return posixpath.join(self.installdestination, relative)


@dataclass(frozen=True)
class ImageTemplate:
    config: TemplateConfig
    # (path under installsource, mode, content) of every regular file, or (path, -1,
    # target) of a symbolic link; folders by path
    files: tuple[tuple[str, int, bytes], ...]
    folders: tuple[str, ...]


def _relative(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _problem(f"config.json.{field}", "must be a non-empty string")
    if value.startswith("/"):
        raise _problem(f"config.json.{field}", f"{value!r} must be relative to the archive")
    path = posixpath.normpath(value)
    if path == ".." or path.startswith("../"):
        raise _problem(f"config.json.{field}", f"{value!r} leads out of the archive")
    return path


def _absolute(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise _problem(f"config.json.{field}", "must be an absolute path in the image, "
                                               "like `/app/`")
    if any(c in value for c in "\n\r\"\\\0"):
        raise _problem(f"config.json.{field}", "must not hold quotes, backslashes or "
                                               "line breaks")
    return posixpath.normpath(value)


def parse_config(raw: Any) -> TemplateConfig:
    """The checked config.json of a template; SpecError naming each bad field."""
    if not isinstance(raw, dict):
        raise _problem(CONFIG, "must be a JSON object")
    problems = [FieldProblem(f"config.json.{f}", "is required") for f in FIELDS
                if f not in raw]
    problems += [FieldProblem(f"config.json.{f}", "unknown field")
                 for f in sorted(set(raw) - set(FIELDS))]
    if problems:
        raise SpecError(problems)
    name_problem = image_name_problem(raw["name"])
    if name_problem is not None:
        raise _problem("config.json.name", name_problem)
    source = _relative("installsource", raw["installsource"])
    return TemplateConfig(normal_name(raw["name"]), source,
                          _absolute("installdestination", raw["installdestination"]),
                          _absolute("workingdir", raw["workingdir"]),
                          _relative("buildfile", raw["buildfile"]),
                          _relative("runfile", raw["runfile"]))


def read_template(data: bytes, limit: int = MAX_TEMPLATE) -> ImageTemplate:
    """The template `data` (a tar.gz) holds; SpecError naming `archive` (not gzip, larger
    than `limit` bytes, an unsafe entry) or the config.json field that is wrong (missing,
    naming a file the archive lacks)."""
    if len(data) > limit:
        raise _problem("archive", f"is {len(data)} bytes; at most {limit}")
    if data[:2] != b"\x1f\x8b":
        raise _problem("archive", "is not gzip-compressed: send a tar.gz")
    config_bytes: bytes | None = None
    members: list[tuple[str, int, bytes | None]] = []
    for member, archive in safe_members(data, MAX_TEMPLATE_UNPACKED, MAX_TEMPLATE_MEMBERS):
        path = posixpath.normpath(member.name)
        if path == CONFIG:
            if not member.isfile() or member.size > MAX_CONFIG:
                raise _problem(CONFIG, f"must be a regular file of at most {MAX_CONFIG} "
                                       "bytes")
            config_bytes = archive.extractfile(member).read()  # type: ignore[union-attr]
        elif member.isfile():
            members.append((path, member.mode,
                            archive.extractfile(member).read()))  # type: ignore[union-attr]
        elif member.isdir():
            members.append((path, member.mode, None))
        elif member.issym():  # inside the archive (safe_members checked): kept as a link
            members.append((path, -1, member.linkname.encode()))
        else:
            raise _problem("archive", f"entry {member.name!r} is a hard link: archive "
                                      "the file itself")
    if config_bytes is None:
        raise _problem(CONFIG, "the archive holds no config.json at its top level")
    config = parse_config(decode_config(config_bytes))
    return ImageTemplate(config, *_under_source(config, members))


def _under_source(config: TemplateConfig, members: list[tuple[str, int, bytes | None]]
                  ) -> tuple[tuple[tuple[str, int, bytes], ...], tuple[str, ...]]:
    source = config.installsource
    files: list[tuple[str, int, bytes]] = []
    folders: list[str] = []
    seen_source = source == "."
    for path, mode, content in members:
        if source != ".":
            if path == source:
                seen_source = True
                continue
            if not path.startswith(f"{source}/"):
                continue
            path = path[len(source) + 1:]
        seen_source = True
        if content is None:
            folders.append(path)
        else:
            files.append((path, mode, content))
    if not seen_source:
        raise _problem("config.json.installsource",
                       f"the archive has no folder {config.installsource!r}")
    names = {path for path, mode, _ in files if mode >= 0}
    for field in ("buildfile", "runfile"):
        value = getattr(config, field)
        if value not in names:
            where = value if source == "." else f"{source}/{value}"
            raise _problem(f"config.json.{field}", f"the archive has no file {where!r}")
    return tuple(files), tuple(folders)


# -- the build context ------------------------------------------------------------------------


def dockerfile(config: TemplateConfig, base: str = DEFAULT_BASE) -> str:
    """The Dockerfile of a template: `base`, the files copied to `installdestination`, the
    buildfile run at build time in `workingdir` (directly when executable, else by `sh`),
    a check that the runfile is executable after it, the runfile as the command."""
    build, run = config.in_image(config.buildfile), config.in_image(config.runfile)
    return "\n".join([
        f"FROM {base}",
        f"COPY {APP_DIR}/ {json.dumps(config.installdestination + '/')}",
        f"WORKDIR {json.dumps(config.workingdir)}",
        f"RUN if [ -x {_sh(build)} ]; then {_sh(build)}; else sh {_sh(build)}; fi",
        f"RUN [ -x {_sh(run)} ] || {{ echo {_sh(RUNFILE_NOT_EXECUTABLE + ': ' + run)} >&2; "
        "exit 1; }",
        f"CMD {json.dumps([run])}",
        "",
    ])


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def build_context(template: ImageTemplate, base: str = DEFAULT_BASE) -> bytes:
    """An uncompressed tar (what the Docker engine's build takes) of the generated
    Dockerfile and the template's files under `app/`, modes kept."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as context:
        _add(context, "Dockerfile", 0o644,
             dockerfile(template.config, base).encode())
        folder = tarfile.TarInfo(APP_DIR)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        context.addfile(folder)
        for path in template.folders:
            if path != ".":
                entry = tarfile.TarInfo(f"{APP_DIR}/{path}")
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                context.addfile(entry)
        for path, mode, content in template.files:
            if mode < 0:
                link = tarfile.TarInfo(f"{APP_DIR}/{path}")
                link.type, link.linkname = tarfile.SYMTYPE, content.decode()
                context.addfile(link)
            else:
                _add(context, f"{APP_DIR}/{path}", mode, content)
    return out.getvalue()


def _add(context: tarfile.TarFile, name: str, mode: int, content: bytes) -> None:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mode = len(content), mode & 0o7777
    context.addfile(entry, io.BytesIO(content))
