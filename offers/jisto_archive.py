"""A Jisto job source archive (a tar.gz holding `config.json`) read from bytes in memory.

Nothing is extracted: the members are only listed and `config.json` read. Every member
is still checked as an extraction would need it to be (`refusal`: the rules of tarfile's
`data` filter, written out because Debian bookworm's Python 3.11.2 predates that filter),
so an archive whose paths escape it (`../`, an absolute path, a link out of it, a
device) is refused as a whole. Decompression is bounded (`MAX_UNPACKED` bytes,
`MAX_MEMBERS` entries), so a small archive cannot unpack into gigabytes.
"""

from __future__ import annotations

import gzip
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any

from offers.jisto import JobSource, parse_job_source
from offers.problems import FieldProblem, SpecError

CONFIG = "config.json"
MAX_MEMBERS = 1000
MAX_CONFIG = 64 * 1024  # a config.json is a few hundred bytes
MAX_UNPACKED = 16 * 1024 * 1024


class Bounded(io.RawIOBase):
    """A reader that refuses to yield more than `limit` bytes of `inner`."""

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner, self.left = inner, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.inner.read(min(len(buffer), self.left + 1))
        if len(chunk) > self.left:
            raise TooBig
        self.left -= len(chunk)
        buffer[:len(chunk)] = chunk
        return len(chunk)


class TooBig(Exception):
    pass


def _escapes(path: str) -> bool:
    """A relative path that, normalized, leaves the archive's root."""
    path = posixpath.normpath(path)
    return path == ".." or path.startswith("../")


def refusal(member: tarfile.TarInfo) -> str | None:
    """Why extracting `member` would be unsafe, or None."""
    name = member.name
    if name.startswith("/"):
        return "its path is absolute"
    if _escapes(name):
        return "its path leads out of the archive"
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith("/"):
            return "it links to an absolute path"
        # a symbolic link is relative to its own folder, a hard link to the archive's root
        where = posixpath.join(posixpath.dirname(name), target) if member.issym() else target
        if _escapes(where):
            return "it links out of the archive"
    elif not (member.isfile() or member.isdir()):
        return "it is a device or other special file"
    return None


def _problem(message: str, field: str = "archive") -> SpecError:
    return SpecError([FieldProblem(field, message)])


def safe_members(data: bytes, max_unpacked: int = MAX_UNPACKED,
                 max_members: int = MAX_MEMBERS
                 ) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Each member of a tar (gzip or not) in `data` with the open archive (to read it
    with `extractfile` before the next), every one checked first (`refusal`); SpecError
    naming `archive` when one is unsafe, there are too many, it unpacks to more than
    `max_unpacked` bytes or it is not a tar at all."""
    raw = gzip.GzipFile(fileobj=io.BytesIO(data)) if data[:2] == b"\x1f\x8b" else \
        io.BytesIO(data)
    stream = io.BufferedReader(Bounded(raw, max_unpacked))
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for count, member in enumerate(archive, start=1):
                if count > max_members:
                    raise _problem(f"has more than {max_members} entries")
                why = refusal(member)
                if why is not None:
                    raise _problem(f"entry {member.name!r} is refused: {why}")
                yield member, archive
    except TooBig:
        raise _problem(f"unpacks to more than {max_unpacked} bytes") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _problem(f"is not a tar.gz archive ({exc})") from None


def read_config(data: bytes) -> dict[str, Any]:
    """The decoded `config.json` of an archive; SpecError naming `archive` (not a tar.gz,
    an unsafe path, too large) or `config.json` (missing, not JSON)."""
    found: bytes | None = None
    for member, archive in safe_members(data):
        if posixpath.normpath(member.name) != CONFIG:
            continue
        if found is not None:
            raise _problem("holds config.json twice", CONFIG)
        if not member.isfile():
            raise _problem("is not a regular file", CONFIG)
        if member.size > MAX_CONFIG:
            raise _problem(f"is {member.size} bytes; at most {MAX_CONFIG}", CONFIG)
        found = archive.extractfile(member).read()  # type: ignore[union-attr]
    if found is None:
        raise _problem("the archive holds no config.json at its top level", CONFIG)
    return decode_config(found)


def decode_config(found: bytes) -> dict[str, Any]:
    try:
        return json.loads(found.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, a huge number
        raise _problem(f"is not JSON: {exc}", CONFIG) from None


def read_job_source(data: bytes) -> JobSource:
    """The job source an archive holds; SpecError naming every problem."""
    return parse_job_source(read_config(data))
