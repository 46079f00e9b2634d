"""Image templates for tests: a tar.gz made in memory from a config and files."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

RUN = b"#!/bin/sh\necho hello from the template\n"
BUILD = b"#!/bin/sh\necho building in $(pwd)\nchmod +x run.sh\n"


def config(name: str = "tmpl", **fields: Any) -> dict[str, Any]:
    return {"name": name, "installsource": ".", "installdestination": "/app/",
            "workingdir": "/app", "buildfile": "build.sh", "runfile": "run.sh", **fields}


def template(conf: dict | None = None, files: dict[str, bytes] | None = None, *,
             modes: dict[str, int] | None = None, extra: list[tarfile.TarInfo] = (),
             gzipped: bool = True) -> bytes:
    """A tar.gz of `config.json` (`conf`; None: none) and `files` (default: build.sh and
    run.sh), each 0755 unless `modes` says otherwise; `extra` entries added as they are."""
    out = io.BytesIO()
    members = {} if conf is None else {"config.json": json.dumps(conf).encode()}
    members.update({"build.sh": BUILD, "run.sh": RUN} if files is None else files)
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, content in members.items():
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(content), (modes or {}).get(name, 0o755)
            archive.addfile(entry, io.BytesIO(content))
        for entry in extra:
            archive.addfile(entry)
    return gzip.compress(out.getvalue()) if gzipped else out.getvalue()


def link(name: str, target: str, symbolic: bool = True) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = tarfile.SYMTYPE if symbolic else tarfile.LNKTYPE
    entry.linkname = target
    return entry
