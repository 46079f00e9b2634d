"""Code versions' archives (framework/code_archive.py): tar, tar.gz, tar.bz2 and zip all
become the same plain tar; unsafe or unreadable archives are refused naming `file`."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest

from framework.code_archive import plain_tar
from offers.problems import SpecError

FILES = {"init.sh": b"echo init\n", "run.sh": b"echo run $1\n", "lib/data.txt": b"x" * 10}


def _tar(files: dict[str, bytes], mode: str = "w", links: dict[str, str] | None = None
         ) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


def _zip(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


def _contents(tar_bytes: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


@pytest.mark.parametrize("archive", [_tar(FILES), _tar(FILES, "w:gz"), _tar(FILES, "w:bz2"),
                                     _zip(FILES)], ids=["tar", "tar.gz", "tar.bz2", "zip"])
def test_every_format_becomes_the_same_plain_tar(archive):
    tar, names = plain_tar(archive)
    assert _contents(tar) == FILES
    assert sorted(names) == sorted(FILES)


@pytest.mark.parametrize("archive, why", [
    (_tar({"../evil.sh": b"x"}), "leads out of the archive"),
    (_tar({"/etc/passwd": b"x"}), "its path is absolute"),
    (_tar({}, links={"out": "../../etc"}), "links out of the archive"),
    (_tar({}, links={"abs": "/etc/shadow"}), "links to an absolute path"),
    (_zip({"../evil.sh": b"x"}), "leads out of the archive"),
    (_zip({}, links={"out": "../../etc"}), "links out of the archive"),
    (b"not an archive at all, just text" * 20, "is not a tar, tar.gz, tar.bz2 or zip"),
    (b"", "is empty"),
])
def test_unsafe_or_unreadable_archives_are_refused_naming_file(archive, why):
    with pytest.raises(SpecError) as caught:
        plain_tar(archive)
    [problem] = caught.value.problems
    assert problem.field == "file" and why in problem.problem


def test_a_link_inside_the_archive_is_kept():
    tar, _ = plain_tar(_tar({"a.sh": b"x"}, links={"b.sh": "a.sh"}))
    with tarfile.open(fileobj=io.BytesIO(tar)) as read:
        assert read.getmember("b.sh").linkname == "a.sh"
