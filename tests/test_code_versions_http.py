"""Code versions over real HTTP with a real SQLite store and no master (nothing runs):
the rules of upload, list, download, enable and delete, the refusals naming the field,
and versions kept across a restart of the framework."""

from __future__ import annotations

import io
import tarfile

import aiohttp
import pytest

from api.framework_server import start_framework
from offers.script_exec import MAX_ARCHIVE_BYTES

TASK = {"dockerimage": "berth/busybox", "cpus": 0.1, "mem": 16}


def _tar_gz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


ARCHIVE = _tar_gz({"run.sh": b"echo hi\n", "init.sh": b"true\n"})


@pytest.fixture
async def framework(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    fw = await start_framework(None, "127.0.0.1", 0, db_url=url)
    holder = {"fw": fw, "url": url}
    yield holder
    await holder["fw"].stop()


async def _submit(session, base: str, name: str, kind: str = "service") -> None:
    body = {"name": name, "type": kind, "task": TASK}
    body["count" if kind == "service" else "completions"] = 1
    async with session.post(f"{base}/v1/jobs", json=body) as resp:
        assert resp.status == 201, await resp.text()


async def _upload(session, base: str, job: str, data: bytes, filename="code.tar.gz"):
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/gzip")
    form.add_field("description", "first one")
    async with session.post(f"{base}/v1/jobs/{job}/code", data=form) as resp:
        return resp.status, await resp.json()


async def test_code_version_rules(framework):
    base = framework["fw"].url
    async with aiohttp.ClientSession() as session:
        await _submit(session, base, "gen")
        await _submit(session, base, "once", "batch")

        status, v1 = await _upload(session, base, "gen", ARCHIVE, "test-code.tar.gz")
        assert status == 201 and v1["id"].startswith("code-") and len(v1["id"]) == 11
        assert (v1["filename"], v1["description"], v1["current"]) == (
            "test-code.tar.gz", "first one", False)
        assert sorted(v1["files"]) == ["init.sh", "run.sh"]
        async with session.post(f"{base}/v1/jobs/gen/code?filename=raw.tar.gz", data=ARCHIVE,
                                headers={"Content-Type": "application/octet-stream"}) as resp:
            assert resp.status == 201
            v2 = await resp.json()
        assert v2["filename"] == "raw.tar.gz"

        # refusals, each naming what is wrong; nothing stored
        assert (await _upload(session, base, "nope", ARCHIVE))[0] == 404
        status, body = await _upload(session, base, "once", ARCHIVE)
        assert status == 409 and "service jobs" in body["message"]
        status, body = await _upload(session, base, "gen", b"plain text, not an archive")
        assert status == 400 and body["errors"][0]["field"] == "file"
        form = aiohttp.FormData()
        form.add_field("archive", ARCHIVE, filename="x.tar.gz")
        async with session.post(f"{base}/v1/jobs/gen/code", data=form) as resp:
            assert resp.status == 400 and (await resp.json())["errors"][0]["field"] == \
                "archive"
        async with session.post(f"{base}/v1/jobs/gen/code", data=b"x" * (
                MAX_ARCHIVE_BYTES + 1), headers={"Content-Type": "application/zip"}) as resp:
            assert resp.status == 413
        async with session.post(f"{base}/v1/jobs/gen/code", data=ARCHIVE,
                                headers={"Content-Type": "text/plain"}) as resp:
            assert resp.status == 415

        async with session.get(f"{base}/v1/jobs/gen/code") as resp:
            listed = (await resp.json())["codeVersions"]
        assert [v["id"] for v in listed] == [v2["id"], v1["id"]]  # newest first

        async with session.get(f"{base}/v1/jobs/gen/code/{v1['id']}") as resp:
            assert resp.status == 200 and await resp.read() == ARCHIVE
            assert 'filename="test-code.tar.gz"' in resp.headers["Content-Disposition"]
        async with session.get(f"{base}/v1/jobs/gen/code/code-XXXXXX") as resp:
            assert resp.status == 404

        async with session.put(f"{base}/v1/jobs/gen/code/{v1['id']}/active",
                               json={}) as resp:
            assert resp.status == 200 and (await resp.json())["current"] is True
        async with session.delete(f"{base}/v1/jobs/gen/code/{v1['id']}") as resp:
            assert resp.status == 409 and "active" in (await resp.json())["message"]
        async with session.delete(f"{base}/v1/jobs/gen/code/{v2['id']}") as resp:
            assert resp.status == 200
        async with session.post(f"{base}/v1/jobs/gen/scripts/run",
                                json={"parameters": "not a list"}) as resp:
            # a string is split like ConPaaS's form field; no instance runs here
            assert resp.status == 409 and "no running instance" in (
                await resp.json())["message"]
        async with session.post(f"{base}/v1/jobs/gen/scripts/run",
                                json={"parameters": [1, 2]}) as resp:
            assert resp.status == 400
            assert (await resp.json())["errors"][0]["field"] == "parameters"
        async with session.post(f"{base}/v1/jobs/gen/scripts/start", json={}) as resp:
            assert resp.status == 404

    # a restart keeps the versions and which one is active
    await framework["fw"].stop()
    framework["fw"] = await start_framework(None, "127.0.0.1", 0, db_url=framework["url"])
    async with aiohttp.ClientSession() as session, session.get(
            f"{framework['fw'].url}/v1/jobs/gen/code") as resp:
        listed = (await resp.json())["codeVersions"]
    assert [(v["id"], v["current"]) for v in listed] == [(v1["id"], True)]
