"""A Generic service's code version (ConPaaS): an archive of tar, tar.gz, tar.bz2 or zip
that expands in the current directory, read from bytes into one plain tar.

The plain tar is what the agents unpack into each instance (Docker's put_archive takes
only tar), so every format is read once, here, at upload. Every member is checked with
the rules offers/jisto_archive.py applies to Jisto's archives (no absolute path, nothing
leading out, no link out, no device): one unsafe member refuses the whole archive.
Unpacking is bounded (`MAX_UNPACKED` bytes, `MAX_MEMBERS` entries). Pure: no I/O.
"""

from __future__ import annotations

import bz2
import gzip
import io
import stat
import tarfile
import zipfile
import zlib

from offers.jisto_archive import Bounded, TooBig, refusal
from offers.problems import FieldProblem, SpecError
from offers.script_exec import MAX_ARCHIVE_BYTES

MAX_MEMBERS = 2000
MAX_UNPACKED = MAX_ARCHIVE_BYTES - 64 * 1024  # the plain tar's room, headers aside
SCRIPTS = ("init.sh", "notify.sh", "run.sh", "interrupt.sh", "cleanup.sh")


def _problem(message: str, field: str = "file") -> SpecError:
    return SpecError([FieldProblem(field, message)])


def kind_of(data: bytes) -> str:
    """`zip`, `tar.gz`, `tar.bz2` or `tar`, from the first bytes (not the file name)."""
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "tar.gz"
    if data[:3] == b"BZh":
        return "tar.bz2"
    return "tar"


def plain_tar(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """(the archive as an uncompressed tar, its regular files' names); SpecError naming
    `file` when it is not one of the four formats, too large, or holds an unsafe entry."""
    if not data:
        raise _problem("is empty")
    kind = kind_of(data)
    out = io.BytesIO()
    names: list[str] = []
    try:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as target:
            members = _zip_members(data) if kind == "zip" else _tar_members(data, kind)
            for count, (member, content) in enumerate(members, start=1):
                if count > MAX_MEMBERS:
                    raise _problem(f"has more than {MAX_MEMBERS} entries")
                why = refusal(member)
                if why is not None:
                    raise _problem(f"entry {member.name!r} is refused: {why}")
                member.uid = member.gid = 0
                member.uname = member.gname = "root"
                target.addfile(member, io.BytesIO(content) if content is not None else None)
                if member.isfile():
                    names.append(member.name.removeprefix("./"))
                if out.tell() > MAX_ARCHIVE_BYTES:
                    raise TooBig
    except TooBig:
        raise _problem(f"unpacks to more than {MAX_UNPACKED} bytes") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error,
            ValueError) as exc:
        raise _problem(f"is not a tar, tar.gz, tar.bz2 or zip archive ({exc})") from None
    return out.getvalue(), tuple(names)


def _tar_members(data: bytes, kind: str):
    raw: io.RawIOBase | io.BufferedIOBase = io.BytesIO(data)
    if kind == "tar.gz":
        raw = gzip.GzipFile(fileobj=raw)
    elif kind == "tar.bz2":
        raw = bz2.BZ2File(raw)
    stream = io.BufferedReader(Bounded(raw, MAX_UNPACKED * 2))
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            content = None
            if member.isfile():
                if member.size > MAX_UNPACKED:
                    raise TooBig
                content = archive.extractfile(member).read()  # type: ignore[union-attr]
            yield member, content


def _zip_members(data: bytes):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        left = MAX_UNPACKED
        for info in archive.infolist():
            mode = info.external_attr >> 16
            member = tarfile.TarInfo(info.filename.rstrip("/") if info.is_dir()
                                     else info.filename)
            member.mtime = 0
            if info.is_dir():
                member.type, member.mode = tarfile.DIRTYPE, 0o755
                yield member, None
                continue
            if info.file_size > left:
                raise TooBig
            with archive.open(info) as source:
                content = source.read(left + 1)
            left -= len(content)
            if left < 0:
                raise TooBig
            if stat.S_ISLNK(mode):
                member.type, member.linkname = tarfile.SYMTYPE, content.decode()
                yield member, None
                continue
            member.mode = (mode & 0o7777) or 0o644
            member.size = len(content)
            yield member, content
