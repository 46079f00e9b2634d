"""Upload-to-ready of an image template through berth's API against a plain `docker build`
+ `docker push` of the same build context, in the same run, against the same registry (a
Debian docker-registry started here) and engine.

Each round makes a fresh template of `size_mib` MiB of random bytes (so no side reuses a
layer or a blob the other pushed), then times, alternating which goes first:

- berth: `POST /upload` (multipart, as Jisto's form) until `GET /v1/images` says `ready`
  (built through the Docker SDK, tagged, pushed);
- baseline: `docker build -` of the very context berth builds (its generated Dockerfile
  and the files), then `docker tag` and `docker push`.

`ratio` is berth's median over the baseline's (target <= 1.5).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import socket
import statistics
import subprocess
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from api.framework_server import start_framework
from master.registry_server import RegistryServer
from offers.image_template import build_context, read_template

TARGET_RATIO = 1.5
RUN = b"#!/bin/sh\nls -l /app\n"
BUILD = b"#!/bin/sh\nset -e\nchmod +x run.sh\nwc -c data.bin\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_template(name: str, size_mib: int) -> bytes:
    """A tar.gz image template with `size_mib` MiB of random data beside its scripts."""
    conf = {"name": name, "installsource": ".", "installdestination": "/app/",
            "workingdir": "/app", "buildfile": "build.sh", "runfile": "run.sh"}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for member, content, mode in (
                ("config.json", json.dumps(conf).encode(), 0o644),
                ("build.sh", BUILD, 0o755), ("run.sh", RUN, 0o644),
                ("data.bin", os.urandom(size_mib * 1024 * 1024), 0o644)):
            entry = tarfile.TarInfo(member)
            entry.size, entry.mode = len(content), mode
            archive.addfile(entry, io.BytesIO(content))
    return gzip.compress(out.getvalue(), compresslevel=1)


def _docker(*args: str, stdin: bytes | None = None) -> None:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.decode()[-500:]}")


def _baseline(archive: bytes, name: str, registry: str) -> float:
    """`docker build` of berth's context for `archive`, tag and push: seconds."""
    context = build_context(read_template(archive))
    started = time.perf_counter()
    _docker("build", "-q", "-t", name, "-", stdin=context)
    _docker("tag", name, f"{registry}/{name}")
    _docker("push", "-q", f"{registry}/{name}")
    return time.perf_counter() - started


async def _berth(http: aiohttp.ClientSession, url: str, archive: bytes, name: str) -> float:
    form = aiohttp.FormData()
    form.add_field("contentType", "images")
    form.add_field("files[]", archive, filename="t.tar.gz", content_type="application/gzip")
    started = time.perf_counter()
    async with http.post(f"{url}/upload", data=form) as resp:
        if resp.status != 200:
            raise RuntimeError(f"upload answered {resp.status}: {await resp.text()}")
    while True:
        async with http.get(f"{url}/v1/images") as resp:
            images = {i["name"]: i for i in (await resp.json())["images"]}
        state = images[name]["state"]
        if state == "ready":
            return time.perf_counter() - started
        if state == "failed":
            raise RuntimeError(f"{name} failed: {images[name]['reason']}")
        await asyncio.sleep(0.02)


def _cleanup(*refs: str) -> None:
    for ref in refs:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True)


async def _run(rounds: int, size_mib: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="berth-bench-images-") as tmp:
        registry = RegistryServer(Path(tmp) / "registry", port=_free_port())
        await registry.start()
        fw = await start_framework(None, "127.0.0.1", 0,
                                   db_url=f"sqlite:///{Path(tmp) / 'berth.db'}",
                                   registry=registry.address)
        berth, plain = [], []
        try:
            async with aiohttp.ClientSession() as http:
                for i in range(rounds):
                    tag = uuid.uuid4().hex[:8]
                    ours, theirs = f"bench-berth:{tag}", f"bench-plain:{tag}"
                    archive = make_template(ours, size_mib)
                    other = make_template(theirs, size_mib)
                    sides = [("berth", lambda a=archive, n=ours: _berth(http, fw.url, a, n)),
                             ("plain", lambda a=other, n=theirs: asyncio.to_thread(
                                 _baseline, a, n, registry.address))]
                    for side, run in sides if i % 2 == 0 else reversed(sides):
                        (berth if side == "berth" else plain).append(await run())
                    _cleanup(ours, theirs, f"{registry.address}/{ours}",
                             f"{registry.address}/{theirs}")
        finally:
            await fw.stop()
            await registry.stop()
    ratio = statistics.median(berth) / statistics.median(plain)
    return {"benchmark": "images", "template_mib": size_mib, "rounds": rounds,
            "berth_upload_to_ready_s": [round(s, 3) for s in berth],
            "plain_build_push_s": [round(s, 3) for s in plain],
            "berth_median_s": round(statistics.median(berth), 3),
            "plain_median_s": round(statistics.median(plain), 3),
            "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO,
            "within_target": ratio <= TARGET_RATIO}


def run(rounds: int = 5, size_mib: int = 10) -> dict[str, Any]:
    return asyncio.run(_run(rounds, size_mib))
